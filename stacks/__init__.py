"""Deployable stacks, one per pattern, and the app-wide checks.

``build`` is what ``app.py`` calls; tests call it too, so the stacks under test
are the stacks ``cdk synth`` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, ServerlessChecks

from stacks.fanout_stack import FanOutStack
from stacks.mobile_push_stack import PushStack
from stacks.streaming_stack import StreamingStack
from stacks.worker_fleet_stack import WorkerFleetStack


#: The stacks ``build`` creates, in order.
STACK_IDS = ("FanOutStack", "WorkerFleetStack", "StreamingStack", "PushStack")


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
    stacks["WorkerFleetStack"] = WorkerFleetStack(
        app,
        "WorkerFleetStack",
        alarm_email=config.alarm_email,
        description="refarch: SQS-fed Fargate worker fleet scaled on backlog per worker (thumbnail jobs)",
        termination_protection=True,
    )
    stacks["StreamingStack"] = StreamingStack(
        app,
        "StreamingStack",
        alarm_email=config.alarm_email,
        description="refarch: Kinesis pipeline (clickstream to consumers and an S3 archive)",
        termination_protection=True,
    )
    stacks["PushStack"] = PushStack(
        app,
        "PushStack",
        alarm_email=config.alarm_email,
        description="refarch: mobile push with SNS (APNs and FCM platform applications, device registration)",
        termination_protection=True,
    )
    return stacks
