"""Amazon MQ configurations: ActiveMQ active/standby with its bridge, and a development RabbitMQ."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2

from refarch import secure
from refarch.amazon_mq import ACTIVEMQ, SINGLE_INSTANCE, Broker, BrokerBridge
from refarch.fanout import FanOut, Subscriber
from stacks.broker_stack import ENDPOINTS


def activemq_active_standby(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "BrokerActiveMq")
    network = secure.Network(stack, "Network", interface_endpoints=ENDPOINTS)
    alarms = secure.AlarmTopic(stack, "Alarms")
    broker = Broker(stack, "Broker", vpc=network.vpc, engine=ACTIVEMQ, alarm_topic=alarms.topic)
    broker.allow_clients(ec2.Peer.ipv4("10.20.0.0/16"))  # an on-premises range reached over VPN
    orders = FanOut(stack, "Orders", subscribers=[Subscriber(name="audit")], alarm_topic=alarms.topic)
    BrokerBridge(stack, "Bridge", broker=broker, queue="orders", topic=orders.topic, alarm_topic=alarms.topic)
    return stack


def rabbitmq_development(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "BrokerRabbitMqDev")
    network = secure.Network(stack, "Network")
    Broker(stack, "Broker", vpc=network.vpc, deployment_mode=SINGLE_INSTANCE, instance_type="mq.t3.micro",
           maintenance_window=("SATURDAY", "22:30", "Europe/Berlin"), removal_policy=cdk.RemovalPolicy.DESTROY)
    return stack


CASES = {
    "BrokerActiveMq": activemq_active_standby,
    "BrokerRabbitMqDev": rabbitmq_development,
}
