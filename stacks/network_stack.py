"""NetworkStack: the shared, stateless network foundation other stacks build on.

A VPC over two availability zones with public, private and isolated tiers,
flow logs, a closed default security group, S3 and DynamoDB gateway endpoints
and the interface endpoints the patterns call, so workloads in the private
tier and the database's rotation function reach AWS without a NAT gateway.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from refarch import secure

#: What the patterns call from inside the VPC: queues and topics, streams,
#: secrets, keys, images, logs, and Session Manager.
ENDPOINTS = (
    *secure.WORKER_ENDPOINTS,
    ec2.InterfaceVpcEndpointAwsService.SNS,
    ec2.InterfaceVpcEndpointAwsService.KINESIS_STREAMS,
    ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
    *secure.SESSION_MANAGER_ENDPOINTS,
)


class NetworkStack(cdk.Stack):
    """:param nat_gateways: 0 (default: workloads reach AWS through endpoints only) to 2;
        each costs an hourly charge plus data processing.
    :param interface_endpoints: default: ``ENDPOINTS``. Each also costs per hour and AZ."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        nat_gateways: int = 0,
        interface_endpoints: tuple[ec2.InterfaceVpcEndpointAwsService, ...] = ENDPOINTS,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.network = secure.Network(
            self, "Network", nat_gateways=nat_gateways, interface_endpoints=interface_endpoints
        )
        cdk.CfnOutput(self, "VpcId", value=self.network.vpc.vpc_id, description="The shared VPC")
