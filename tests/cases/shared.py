"""Shared building blocks used on their own, so the gates check them in isolation."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from refarch import secure


def network_and_buckets(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "SharedBuildingBlocks")
    secure.Network(
        stack,
        "Network",
        nat_gateways=1,
        interface_endpoints=[*secure.WORKER_ENDPOINTS, *secure.SESSION_MANAGER_ENDPOINTS,
                             ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER],
    )
    key = secure.encryption_key(stack, "Key", description="buckets")
    logs = secure.access_logs_bucket(stack, "AccessLogs")
    secure.encrypted_bucket(stack, "Data", key=key, access_logs=logs)
    return stack


def isolated_network(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "SharedIsolatedNetwork")
    secure.Network(stack, "Network", interface_endpoints=secure.WORKER_ENDPOINTS)
    return stack


CASES = {"SharedBuildingBlocks": network_and_buckets, "SharedIsolatedNetwork": isolated_network}
