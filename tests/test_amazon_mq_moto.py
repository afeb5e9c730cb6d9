"""The synthesized broker properties, sent to moto's Amazon MQ API.

moto's CloudFormation does not implement ``AWS::AmazonMQ::Broker``, so the
broker is created through the MQ API from the template's own properties (the
CloudFormation property names are the CreateBroker parameter names), with the
references a deployment would resolve replaced by moto-created subnets, a
security group, a key and literal credentials. botocore validates the shapes,
moto stores the broker; ``describe_broker`` must return what the template asked
for, and the alarms' ``Broker`` dimension must be the name the broker got.
What moto cannot prove: that Amazon MQ accepts these values (instance type,
engine line, subnets per deployment mode); see docs/amazon-mq.md.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from tests.conftest import Assembly

REGION = "us-east-1"


def _create(template: dict, broker_id: str) -> tuple[dict, str]:
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    props = dict(template["Resources"][broker_id]["Properties"])
    props["SubnetIds"] = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24")["Subnet"]["SubnetId"]
                          for i in range(len(props["SubnetIds"]))]
    props["SecurityGroups"] = [ec2.create_security_group(GroupName="broker", Description="b", VpcId=vpc)["GroupId"]]
    props["Users"] = [{**{k: v for k, v in u.items() if k not in ("Username", "Password")},
                       "Username": "broker-admin", "Password": "a-generated-password-0123456789"}
                      for u in props["Users"]]
    if "EncryptionOptions" in props:
        key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
        props["EncryptionOptions"] = {**props["EncryptionOptions"], "KmsKeyId": key}
    mq = boto3.client("mq", region_name=REGION)
    created = mq.create_broker(**props)
    return mq.describe_broker(BrokerId=created["BrokerId"]), props["BrokerName"]


@pytest.mark.parametrize("stack", ["BrokerStack", "BrokerActiveMq", "BrokerRabbitMqDev"])
def test_broker_properties_are_a_valid_create_broker_request(assembly: Assembly, stack: str) -> None:
    template = assembly.template(stack)
    broker_id = assembly.resource_id(stack, "Broker/Resource")
    expected = template["Resources"][broker_id]["Properties"]
    with mock_aws():
        described, name = _create(template, broker_id)
    assert described["BrokerName"] == name
    assert described["EngineType"] == expected["EngineType"]
    assert described["EngineVersion"] == expected["EngineVersion"]
    assert described["DeploymentMode"] == expected["DeploymentMode"]
    assert described["PubliclyAccessible"] is False
    assert described["AutoMinorVersionUpgrade"] is True
    assert described["MaintenanceWindowStartTime"] == expected["MaintenanceWindowStartTime"]
    assert described["Logs"]["General"] is True
    assert described["Logs"].get("Audit", False) is (expected["EngineType"] == "ACTIVEMQ")
    assert len(described["SubnetIds"]) == len(expected["SubnetIds"])
    if expected["EngineType"] == "ACTIVEMQ":
        assert described["EncryptionOptions"]["UseAwsOwnedKey"] is False
    # The alarms watch the broker by the name it was created with.
    dimensions = {d["Value"] for r in template["Resources"].values() if r["Type"] == "AWS::CloudWatch::Alarm"
                  for m in r["Properties"].get("Metrics", [{"MetricStat": {"Metric": r["Properties"]}}])
                  if "MetricStat" in m for d in m["MetricStat"]["Metric"].get("Dimensions", [])
                  if d["Name"] == "Broker"}
    assert dimensions and {d.removesuffix("-1").removesuffix("-2") for d in dimensions} == {name}
