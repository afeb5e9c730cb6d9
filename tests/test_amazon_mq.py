"""Fine-grained assertions: every Broker and BrokerBridge default, on the
synthesized BrokerStack (RabbitMQ cluster) and the Amazon MQ test cases
(ActiveMQ active/standby, development RabbitMQ)."""

from __future__ import annotations

import copy

import pytest

from refarch.amazon_mq import ENGINE_VERSIONS, PASSWORD_EXCLUDED, TLS_PORTS, rabbitmq_dead_letter_policy
from tests.conftest import Assembly
from tests.service_access import derive, failures

STACK = "BrokerStack"
ACTIVE = "BrokerActiveMq"
DEV = "BrokerRabbitMqDev"


def _broker(assembly: Assembly, stack: str = STACK) -> dict:
    return assembly.properties(stack, "Broker/Resource")


def _one(assembly: Assembly, stack: str, rtype: str) -> tuple[str, dict]:
    [(lid, resource)] = assembly.of_type(stack, rtype).items()
    return lid, resource


# --- stateful resources: logical IDs are public API ---------------------------


@pytest.mark.parametrize(("stack", "path", "logical_id"), [
    (STACK, "Broker/Resource", "BrokerE1355FD6"),
    (STACK, "Broker/Credentials/Resource", "BrokerCredentialsF40440BA"),
    (STACK, "Broker/Key/Resource", "BrokerKey91C64100"),
])
def test_stateful_logical_ids_are_pinned(assembly: Assembly, stack: str, path: str, logical_id: str) -> None:
    assert assembly.resource_id(stack, path) == logical_id


@pytest.mark.parametrize("stack", [STACK, ACTIVE])
def test_broker_secret_and_key_are_retained(assembly: Assembly, stack: str) -> None:
    for path in ("Broker/Resource", "Broker/Credentials/Resource", "Broker/Key/Resource"):
        resource = assembly.resource(stack, path)
        assert resource["DeletionPolicy"] == "Retain", path
        assert resource["UpdateReplacePolicy"] == "Retain", path


def test_removal_policy_destroy_reaches_the_broker(assembly: Assembly) -> None:
    assert assembly.resource(DEV, "Broker/Resource")["DeletionPolicy"] == "Delete"


# --- the broker ---------------------------------------------------------------


def test_rabbitmq_cluster_across_azs_by_default(assembly: Assembly) -> None:
    props = _broker(assembly)
    assert props["EngineType"] == "RABBITMQ"
    assert props["DeploymentMode"] == "CLUSTER_MULTI_AZ"
    assert props["HostInstanceType"] == "mq.m5.large"
    assert len(props["SubnetIds"]) >= 1


def test_development_rabbitmq_is_a_single_instance_in_one_subnet(assembly: Assembly) -> None:
    props = _broker(assembly, DEV)
    assert props["DeploymentMode"] == "SINGLE_INSTANCE"
    assert props["HostInstanceType"] == "mq.t3.micro"
    assert len(props["SubnetIds"]) == 1


def test_activemq_active_standby_in_two_subnets(assembly: Assembly) -> None:
    props = _broker(assembly, ACTIVE)
    assert props["EngineType"] == "ACTIVEMQ"
    assert props["DeploymentMode"] == "ACTIVE_STANDBY_MULTI_AZ"
    assert len(props["SubnetIds"]) == 2
    assert props["StorageType"] == "EFS"


@pytest.mark.parametrize("stack", [STACK, ACTIVE, DEV])
def test_never_publicly_accessible_and_in_private_subnets(assembly: Assembly, stack: str) -> None:
    props = _broker(assembly, stack)
    assert props["PubliclyAccessible"] is False
    template = assembly.template(stack)
    for ref in props["SubnetIds"]:
        subnet = template["Resources"][ref["Ref"]]
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
        tags = {t["Key"]: t["Value"] for t in subnet["Properties"]["Tags"]}
        assert tags["aws-cdk:subnet-name"] == "Private"


@pytest.mark.parametrize(("stack", "engine"), [(STACK, "RABBITMQ"), (ACTIVE, "ACTIVEMQ")])
def test_engine_version_pinned_with_automatic_minor_upgrades(assembly: Assembly, stack: str, engine: str) -> None:
    props = _broker(assembly, stack)
    assert props["EngineVersion"] == ENGINE_VERSIONS[engine]
    assert props["AutoMinorVersionUpgrade"] is True


def test_maintenance_window_default_and_custom(assembly: Assembly) -> None:
    assert _broker(assembly)["MaintenanceWindowStartTime"] == {
        "DayOfWeek": "SUNDAY", "TimeOfDay": "03:00", "TimeZone": "UTC"}
    assert _broker(assembly, DEV)["MaintenanceWindowStartTime"] == {
        "DayOfWeek": "SATURDAY", "TimeOfDay": "22:30", "TimeZone": "Europe/Berlin"}


@pytest.mark.parametrize("stack", [STACK, ACTIVE])
def test_credentials_come_from_secrets_manager_by_dynamic_reference(assembly: Assembly, stack: str) -> None:
    [user] = _broker(assembly, stack)["Users"]
    secret = assembly.resource_id(stack, "Broker/Credentials/Resource")
    for field in ("Username", "Password"):
        text = str(user[field])
        assert "{{resolve:secretsmanager:" in text and secret in text and f"SecretString:{field.lower()}" in text
    generated = assembly.properties(stack, "Broker/Credentials/Resource")["GenerateSecretString"]
    assert generated["GenerateStringKey"] == "password"
    assert set(",:=") <= set(generated["ExcludeCharacters"]) == set(PASSWORD_EXCLUDED)
    assert assembly.properties(stack, "Broker/Credentials/Resource")["KmsKeyId"] == {
        "Fn::GetAtt": [assembly.resource_id(stack, "Broker/Key/Resource"), "Arn"]}


def test_activemq_storage_uses_the_customer_managed_key(assembly: Assembly) -> None:
    assert _broker(assembly, ACTIVE)["EncryptionOptions"] == {
        "UseAwsOwnedKey": False,
        "KmsKeyId": {"Fn::GetAtt": [assembly.resource_id(ACTIVE, "Broker/Key/Resource"), "Arn"]},
    }


def test_rabbitmq_takes_no_encryption_options(assembly: Assembly) -> None:
    """RabbitMQ storage is always encrypted with an AWS owned key; the property does not apply."""
    assert "EncryptionOptions" not in _broker(assembly)


def test_logs_general_for_rabbitmq_general_and_audit_for_activemq(assembly: Assembly) -> None:
    assert _broker(assembly)["Logs"] == {"General": True}
    assert _broker(assembly, ACTIVE)["Logs"] == {"General": True, "Audit": True}


@pytest.mark.parametrize(("stack", "groups"), [(STACK, {"general"}), (ACTIVE, {"general", "audit"})])
def test_broker_log_groups_get_retention(assembly: Assembly, stack: str, groups: set[str]) -> None:
    broker = assembly.resource_id(stack, "Broker/Resource")
    found = {}
    for props in (r["Properties"] for r in assembly.of_type(stack, "Custom::LogRetention").values()):
        parts = props["LogGroupName"]["Fn::Join"][1]
        assert parts[0] == "/aws/amazonmq/broker/" and parts[1] == {"Fn::GetAtt": [broker, "Id"]}
        found[parts[2].lstrip("/")] = props["RetentionInDays"]
    assert found == {g: 365 for g in groups}


def test_activemq_logs_resource_policy_admits_amazon_mq(assembly: Assembly) -> None:
    _, policy = _one(assembly, ACTIVE, "AWS::Logs::ResourcePolicy")
    text = str(policy["Properties"]["PolicyDocument"])
    assert "mq.amazonaws.com" in text and "logs:CreateLogStream" in text and "logs:PutLogEvents" in text
    assert "/aws/amazonmq/*" in text
    broker = assembly.resource(ACTIVE, "Broker/Resource")
    assert assembly.resource_id(ACTIVE, "Broker/LogsPolicy/ResourcePolicy") in broker["DependsOn"]
    assert not assembly.of_type(STACK, "AWS::Logs::ResourcePolicy"), "RabbitMQ publishes via its service role"


@pytest.mark.parametrize(("stack", "engine"), [(STACK, "RABBITMQ"), (ACTIVE, "ACTIVEMQ")])
def test_security_group_admits_tls_ports_only(assembly: Assembly, stack: str, engine: str) -> None:
    group = assembly.properties(stack, "Broker/SecurityGroup/Resource")
    ports = {rule["FromPort"] for rule in group.get("SecurityGroupIngress", [])}
    ingress = [r["Properties"] for r in assembly.of_type(stack, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Fn::GetAtt": [assembly.resource_id(
                   stack, "Broker/SecurityGroup/Resource"), "GroupId"]}]
    ports |= {rule["FromPort"] for rule in ingress}
    assert ports <= set(TLS_PORTS[engine].values())
    assert 5671 in ports or 61617 in ports
    for rule in group.get("SecurityGroupIngress", []) + ingress:
        assert rule["FromPort"] == rule["ToPort"] and rule.get("CidrIp") != "0.0.0.0/0"
    assert {r["IpProtocol"] for r in group["SecurityGroupEgress"]} == {"tcp"}


def test_clients_are_admitted_on_every_tls_port(assembly: Assembly) -> None:
    group = assembly.properties(ACTIVE, "Broker/SecurityGroup/Resource")
    admitted = {r["FromPort"] for r in group["SecurityGroupIngress"] if r.get("CidrIp") == "10.20.0.0/16"}
    assert admitted == set(TLS_PORTS["ACTIVEMQ"].values())


def test_default_admits_nobody_but_the_event_source(assembly: Assembly) -> None:
    group = assembly.properties(STACK, "Broker/SecurityGroup/Resource")
    assert not group.get("SecurityGroupIngress")
    [rule] = [r["Properties"] for r in assembly.of_type(STACK, "AWS::EC2::SecurityGroupIngress").values()]
    assert rule["FromPort"] == 5671 and "SourceSecurityGroupId" in rule


# --- alarms -------------------------------------------------------------------


def _alarm(assembly: Assembly, stack: str, name: str) -> dict:
    return assembly.properties(stack, f"Broker/{name}/Resource")


def _metrics(alarm: dict) -> dict[str, dict]:
    return {m["Id"]: m["MetricStat"]["Metric"] for m in alarm["Metrics"] if "MetricStat" in m}


def test_rabbitmq_memory_alarm_is_used_over_limit_per_broker(assembly: Assembly) -> None:
    alarm = _alarm(assembly, STACK, "MemoryAlarm")
    [expr] = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert expr == "100 * used / limit" and alarm["Threshold"] == 80
    metrics = _metrics(alarm)
    assert {m["MetricName"] for m in metrics.values()} == {"RabbitMQMemUsed", "RabbitMQMemLimit"}
    name = _broker(assembly)["BrokerName"]
    for m in metrics.values():
        assert m["Namespace"] == "AWS/AmazonMQ" and m["Dimensions"] == [{"Name": "Broker", "Value": name}]


def test_rabbitmq_disk_alarm_is_free_over_limit(assembly: Assembly) -> None:
    alarm = _alarm(assembly, STACK, "DiskAlarm")
    assert alarm["ComparisonOperator"] == "LessThanThreshold" and alarm["Threshold"] == 2
    assert {m["MetricName"] for m in _metrics(alarm).values()} == {"RabbitMQDiskFree", "RabbitMQDiskFreeLimit"}


@pytest.mark.parametrize(("stack", "name", "metric", "threshold"), [
    (STACK, "BacklogAlarm", "MessageCount", 10_000),
    (STACK, "ConnectionsAlarm", "ConnectionCount", 1_000),
])
def test_rabbitmq_backlog_and_connection_alarms(assembly: Assembly, stack, name, metric, threshold) -> None:
    alarm = _alarm(assembly, stack, name)
    assert alarm["MetricName"] == metric and alarm["Threshold"] == threshold
    assert alarm["Dimensions"] == [{"Name": "Broker", "Value": _broker(assembly, stack)["BrokerName"]}]


@pytest.mark.parametrize(("name", "metric"), [
    ("StoreAlarm", "StorePercentUsage"), ("HeapAlarm", "HeapUsage"),
    ("BacklogAlarm", "TotalMessageCount"), ("ConnectionsAlarm", "CurrentConnectionsCount"),
])
def test_activemq_alarms_take_the_active_of_both_instances(assembly: Assembly, name: str, metric: str) -> None:
    alarm = _alarm(assembly, ACTIVE, name)
    [expr] = [m["Expression"] for m in alarm["Metrics"] if "Expression" in m]
    assert expr == "MAX([m1, m2])"
    broker = _broker(assembly, ACTIVE)["BrokerName"]
    dims = sorted(m["Dimensions"][0]["Value"] for m in _metrics(alarm).values())
    assert dims == [f"{broker}-1", f"{broker}-2"]
    assert {m["MetricName"] for m in _metrics(alarm).values()} == {metric}


@pytest.mark.parametrize("stack", [STACK, ACTIVE])
def test_broker_alarms_notify_the_alarm_topic(assembly: Assembly, stack: str) -> None:
    topic = assembly.resource_id(stack, "Alarms/Topic/Resource")
    names = ["BacklogAlarm", "ConnectionsAlarm"] + (["MemoryAlarm", "DiskAlarm"] if stack == STACK
                                                     else ["StoreAlarm", "HeapAlarm"])
    for name in names:
        assert _alarm(assembly, stack, name)["AlarmActions"] == [{"Ref": topic}], name


# --- the bridge ---------------------------------------------------------------


def test_event_source_reads_the_queue_with_the_broker_secret(assembly: Assembly) -> None:
    props = assembly.properties(STACK, "Bridge/EventSource")
    assert props["EventSourceArn"] == {"Fn::GetAtt": [assembly.resource_id(STACK, "Broker/Resource"), "Arn"]}
    assert props["Queues"] == ["orders"]
    assert props["BatchSize"] == 10 and props["MaximumBatchingWindowInSeconds"] == 1
    secret = assembly.resource_id(STACK, "Broker/Credentials/Resource")
    assert props["SourceAccessConfigurations"] == [
        {"Type": "BASIC_AUTH", "URI": {"Ref": secret}}, {"Type": "VIRTUAL_HOST", "URI": "/"}]
    assert "DestinationConfig" not in props, "Lambda has no on-failure destination for MQ sources"


def test_activemq_event_source_has_no_virtual_host(assembly: Assembly) -> None:
    props = assembly.properties(ACTIVE, "Bridge/EventSource")
    assert [c["Type"] for c in props["SourceAccessConfigurations"]] == ["BASIC_AUTH"]


def test_event_source_waits_for_the_role_policies(assembly: Assembly) -> None:
    depends = assembly.resource(STACK, "Bridge/EventSource")["DependsOn"]
    assert assembly.resource_id(STACK, "Bridge/EventSourcePolicy/Resource") in depends
    assert assembly.resource_id(STACK, "Bridge/FunctionRole/DefaultPolicy/Resource") in depends


def test_event_source_policy_lists_the_documented_permissions(assembly: Assembly) -> None:
    statements = assembly.properties(STACK, "Bridge/EventSourcePolicy/Resource")["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["ReadBroker"]["Action"] == "mq:DescribeBroker"
    assert by_sid["ReadBroker"]["Resource"] == {"Fn::GetAtt": [assembly.resource_id(STACK, "Broker/Resource"), "Arn"]}
    assert set(by_sid["BrokerNetworkInterfaces"]["Action"]) == {
        "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets", "ec2:DescribeVpcs"}


def test_function_publishes_only_to_its_topic(assembly: Assembly) -> None:
    statements = assembly.properties(STACK, "Bridge/FunctionRole/DefaultPolicy/Resource")["PolicyDocument"]
    [forward] = [s for s in statements["Statement"] if s.get("Sid") == "Forward"]
    assert forward["Action"] == "sns:Publish"
    assert forward["Resource"] == {"Ref": assembly.resource_id(STACK, "Orders/Topic/Resource")}
    env = assembly.properties(STACK, "Bridge/Function/Resource")["Environment"]["Variables"]
    assert env["TOPIC_ARN"] == {"Ref": assembly.resource_id(STACK, "Orders/Topic/Resource")}


def test_function_errors_alarm(assembly: Assembly) -> None:
    alarm = assembly.properties(STACK, "Bridge/ErrorsAlarm/Resource")
    assert alarm["MetricName"] == "Errors" and alarm["Threshold"] == 0
    assert alarm["AlarmActions"] == [{"Ref": assembly.resource_id(STACK, "Alarms/Topic/Resource")}]


@pytest.mark.parametrize("stack", [STACK, ACTIVE])
def test_service_access_checks_the_event_source_and_it_is_allowed(assembly: Assembly, stack: str) -> None:
    derivation = derive(assembly.template(stack), region="us-east-1", account="123456789012")
    mq = [a for a in derivation.accesses if a.kind == "event-source->function"]
    actions = {a.request.action for a in mq}
    assert {"mq:DescribeBroker", "secretsmanager:GetSecretValue", "kms:Decrypt"} <= actions
    assert not failures(derivation)


def test_service_access_fails_without_the_secret_grant(assembly: Assembly) -> None:
    template = copy.deepcopy(assembly.template(STACK))
    policy = template["Resources"][assembly.resource_id(STACK, "Bridge/FunctionRole/DefaultPolicy/Resource")]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if "secretsmanager:GetSecretValue" not in str(s.get("Action"))]
    failed = failures(derive(template, region="us-east-1", account="123456789012"))
    assert any("GetSecretValue" in name for name in failed), failed


def test_dead_letter_policy_for_the_bridge_queue() -> None:
    assert rabbitmq_dead_letter_policy("orders") == {
        "pattern": "^orders$", "apply-to": "queues",
        "definition": {"dead-letter-exchange": "bridge.dlx", "delivery-limit": 6},
    }
