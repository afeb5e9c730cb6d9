"""Deployable stacks, one per pattern, and the app-wide checks.

``build`` is what ``app.py`` calls; tests call it too, so the stacks under test
are the stacks ``cdk synth`` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.database_stack import DatabaseStack
from stacks.fanout_stack import FanOutStack
from stacks.network_stack import NetworkStack


#: The stacks ``build`` creates, in order.
STACK_IDS = ("FanOutStack", "NetworkStack", "DatabaseStack")


@dataclass(frozen=True)
class AppConfig:
    """Everything the app takes from context or the environment (read in app.py only).

    :param alarm_email: subscribed to each stack's alarm topic. Default: none.
    """

    alarm_email: str | None = None


def add_compliance_checks(app: cdk.App) -> None:
    """cdk-nag AwsSolutions and Serverless as blocking validation plugins.

    Every acknowledgment is also written into the template metadata.
    """
    cdk.Validations.of(app).add_plugins(
        AwsSolutionsChecks(app, write_suppressions_to_cloud_formation=True),
        ServerlessChecks(app, write_suppressions_to_cloud_formation=True),
    )


def build(app: cdk.App, config: AppConfig) -> dict[str, cdk.Stack]:
    """Add every pattern's stack to ``app``; environment-agnostic, so synth is offline."""
    stacks: dict[str, cdk.Stack] = {}
    stacks["FanOutStack"] = FanOutStack(
        app,
        "FanOutStack",
        alarm_email=config.alarm_email,
        description="refarch: SNS -> SQS fan-out (orders to billing, shipping, audit)",
        termination_protection=True,
    )
    network = NetworkStack(app, "NetworkStack", description="refarch: shared VPC (three tiers, flow logs, endpoints)")
    stacks["NetworkStack"] = network
    stacks["DatabaseStack"] = DatabaseStack(
        app,
        "DatabaseStack",
        network=network.network,
        alarm_email=config.alarm_email,
        description="refarch: Aurora PostgreSQL with read replicas, reader auto scaling and RDS Proxy",
        termination_protection=True,
    )
    return stacks
