"""BrokerStack: an existing RabbitMQ system moved to Amazon MQ, bridged to SNS.

A three-node RabbitMQ cluster in the private tier of its own VPC (endpoints
for Lambda, STS and Secrets Manager, which the bridge's event source uses from
inside the VPC), and the migration bridge: the ``orders`` queue forwarded to
an ``orders`` fan-out topic with ``billing`` and ``audit`` subscribers, so new
consumers read from SQS while the old ones keep reading the broker.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from constructs import Construct

from refarch import observe, secure
from refarch.amazon_mq import Broker, BrokerBridge
from refarch.fanout import FanOut, Subscriber

#: What the bridge's event source calls from inside the broker's VPC.
ENDPOINTS = (
    ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
    ec2.InterfaceVpcEndpointAwsService.STS,
    ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
)


class BrokerStack(cdk.Stack):
    """:param alarm_email: subscribed to the alarm topic. Default: none."""

    def __init__(self, scope: Construct, construct_id: str, *, alarm_email: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        network = secure.Network(self, "Network", interface_endpoints=ENDPOINTS)
        self.broker = Broker(self, "Broker", vpc=network.vpc, alarm_topic=alarms.topic)
        self.fanout = FanOut(
            self, "Orders",
            subscribers=[Subscriber(name="billing"), Subscriber(name="audit", raw_message_delivery=True)],
            alarm_topic=alarms.topic,
        )
        self.bridge = BrokerBridge(self, "Bridge", broker=self.broker, queue="orders", topic=self.fanout.topic,
                                   alarm_topic=alarms.topic)

        cdk.CfnOutput(self, "BrokerArn", value=self.broker.broker_arn, description="The RabbitMQ cluster")
        cdk.CfnOutput(self, "BrokerName", value=self.broker.broker_name, description="CloudWatch dimension Broker")
        cdk.CfnOutput(self, "CredentialsSecretArn", value=self.broker.secret.secret_arn,
                      description="The broker user (username, password)")
        cdk.CfnOutput(self, "TopicArn", value=self.fanout.topic.topic_arn,
                      description="Where the bridge forwards the orders queue")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.broker.dashboard),
                      description="The broker's dashboard (with the bridge's row)")
        cdk.CfnOutput(self, "OrdersDashboardUrl", value=observe.console_url(self.fanout.dashboard),
                      description="The orders fan-out's dashboard")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
