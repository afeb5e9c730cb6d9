"""FanOutStack: the fan-out pattern as a deployable example.

An ``orders`` topic fanned out to three teams:

* ``billing`` receives every order event;
* ``shipping`` receives only ``order_placed`` and ``order_cancelled`` events
  (a filter on the ``event_type`` message attribute);
* ``audit`` receives every event as the raw published body.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_sns as sns
from constructs import Construct

from refarch import observe, secure
from refarch.fanout import FanOut, Subscriber


class FanOutStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, alarm_email: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        self.fanout = FanOut(
            self,
            "Orders",
            subscribers=[
                Subscriber(name="billing"),
                Subscriber(
                    name="shipping",
                    filter_policy={
                        "event_type": sns.SubscriptionFilter.string_filter(
                            allowlist=["order_placed", "order_cancelled"]
                        )
                    },
                ),
                Subscriber(name="audit", raw_message_delivery=True),
            ],
            alarm_topic=alarms.topic,
        )

        cdk.CfnOutput(self, "TopicArn", value=self.fanout.topic.topic_arn, description="Publish order events here")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.fanout.dashboard),
                      description="The pattern's CloudWatch dashboard")
        for name, sub in self.fanout.subscribers.items():
            cdk.CfnOutput(self, f"{sub.node.id}QueueUrl", value=sub.queue.queue_url, description=f"The {name} queue")
            cdk.CfnOutput(
                self, f"{sub.node.id}DeadLetterQueueUrl", value=sub.dead_letter_queue.queue_url,
                description=f"Messages the {name} consumer failed",
            )
            cdk.CfnOutput(
                self, f"{sub.node.id}DeliveryDeadLetterQueueUrl", value=sub.delivery_dead_letter_queue.queue_url,
                description=f"Messages SNS could not deliver to the {name} queue (move them with refarch.tools.sqs_redrive)",
            )
