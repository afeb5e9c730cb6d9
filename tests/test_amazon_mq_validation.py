"""Every bad Broker / BrokerBridge input fails at synth time, naming the prop and the value."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sns as sns

from refarch.amazon_mq import ACTIVEMQ, Broker, BrokerBridge, rabbitmq_dead_letter_policy
from tests.conftest import new_app


def _vpc() -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(new_app(), "S")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED),
        ec2.SubnetConfiguration(name="Public", subnet_type=ec2.SubnetType.PUBLIC)])
    return stack, vpc


BROKER = {
    "unknown engine": (dict(engine="KAFKA"), "engine must be one of ['ACTIVEMQ', 'RABBITMQ'] (got 'KAFKA')"),
    "cluster for ActiveMQ": (dict(engine=ACTIVEMQ, deployment_mode="CLUSTER_MULTI_AZ"),
                             "deployment_mode must be one of ['ACTIVE_STANDBY_MULTI_AZ', 'SINGLE_INSTANCE'] for "
                             "ACTIVEMQ (got 'CLUSTER_MULTI_AZ')"),
    "active/standby for RabbitMQ": (dict(deployment_mode="ACTIVE_STANDBY_MULTI_AZ"),
                                    "deployment_mode must be one of ['CLUSTER_MULTI_AZ', 'SINGLE_INSTANCE'] for "
                                    "RABBITMQ (got 'ACTIVE_STANDBY_MULTI_AZ')"),
    "not an MQ instance type": (dict(instance_type="m5.large"),
                                "instance_type must be an Amazon MQ instance type (mq.*.*) (got 'm5.large')"),
    "micro cluster": (dict(instance_type="mq.t3.micro"),
                      "instance_type mq.t3.micro runs only a SINGLE_INSTANCE broker (got 'mq.t3.micro')"),
    "bad engine version": (dict(engine_version="latest"),
                           "engine_version must be a version such as 3.13 (got 'latest')"),
    "guest user": (dict(username="guest"),
                   "username must be 2-100 letters, digits, '-', '_', '.', '~' and not 'guest' (got 'guest')"),
    "username with a colon": (dict(username="a:b"),
                              "username must be 2-100 letters, digits, '-', '_', '.', '~' and not 'guest' "
                              "(got 'a:b')"),
    "bad maintenance day": (dict(maintenance_window=("SUN", "03:00", "UTC")),
                            "maintenance_window must be (DAY, 'HH:MM', time zone) (got ('SUN', '03:00', 'UTC'))"),
    "bad maintenance time": (dict(maintenance_window=("SUNDAY", "25:00", "UTC")),
                             "maintenance_window must be (DAY, 'HH:MM', time zone) "
                             "(got ('SUNDAY', '25:00', 'UTC'))"),
    "no time zone": (dict(maintenance_window=("SUNDAY", "03:00", "")),
                     "maintenance_window must be (DAY, 'HH:MM', time zone) (got ('SUNDAY', '03:00', ''))"),
    "zero queue depth": (dict(queue_depth_threshold=0), "queue_depth_threshold must be a positive integer (got 0)"),
    "negative connections": (dict(connection_threshold=-1),
                             "connection_threshold must be a positive integer (got -1)"),
    "public subnets": (dict(subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC)),
                       "subnets must be private: a broker is never public"),
    "one subnet for active/standby": (
        dict(engine=ACTIVEMQ, subnets=ec2.SubnetSelection(subnet_group_name="Private", availability_zones=["dummy1a"])),
        "subnets must select at least 2 subnet(s) for ACTIVE_STANDBY_MULTI_AZ"),
    "dashboard not a bool": (dict(dashboard="yes"), "dashboard must be True or False (got 'yes')"),
    "dashboard checked first": (dict(dashboard=1, engine="KAFKA"), "dashboard must be True or False (got 1)"),
}


@pytest.mark.parametrize("case", BROKER.keys())
def test_broker_rejects(case: str) -> None:
    props, message = BROKER[case]
    stack, vpc = _vpc()
    with pytest.raises(ValueError) as error:
        Broker(stack, "Broker", vpc=vpc, **props)
    assert message in str(error.value)


def _bridge(**props) -> None:
    stack, vpc = _vpc()
    broker = Broker(stack, "Broker", vpc=vpc, engine=props.pop("engine", "RABBITMQ"))
    BrokerBridge(stack, "Bridge", broker=broker, topic=sns.Topic(stack, "T"), **{"queue": "orders", **props})


BRIDGE = {
    "empty queue": (dict(queue=""), "queue must be a queue name of 1 to 1000 characters without surrounding "
                    "spaces (got '')"),
    "queue with spaces": (dict(queue=" orders"), "(got ' orders')"),
    "empty virtual host": (dict(virtual_host=""), "virtual_host must be 1 to 200 characters (got '')"),
    "virtual host on ActiveMQ": (dict(engine=ACTIVEMQ, virtual_host="shop"),
                                 "virtual_host applies to RabbitMQ brokers only (got 'shop')"),
    "batch too large": (dict(batch_size=10_001), "batch_size must be 1 to 10000 (got 10001)"),
    "batch zero": (dict(batch_size=0), "batch_size must be 1 to 10000 (got 0)"),
    "window too long": (dict(max_batching_window=cdk.Duration.seconds(301)),
                        "max_batching_window must be 0 to 300 seconds (got '301s')"),
}


@pytest.mark.parametrize("case", BRIDGE.keys())
def test_bridge_rejects(case: str) -> None:
    props, message = BRIDGE[case]
    with pytest.raises(ValueError) as error:
        _bridge(**props)
    assert message in str(error.value)


def test_dead_letter_policy_rejects_a_zero_limit() -> None:
    with pytest.raises(ValueError, match=r"delivery_limit must be a positive integer \(got 0\)"):
        rabbitmq_dead_letter_policy("orders", delivery_limit=0)
