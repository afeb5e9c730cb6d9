"""Fine-grained assertions: every AuroraCluster, RdsWithReadReplicas and SessionManagerHost default,
on the synthesized DatabaseStack and the database test cases."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_rds as rds
from aws_cdk.assertions import Match, Template

from refarch import sizing
from refarch.database import AuroraCluster, RdsWithReadReplicas
from tests.conftest import ALL_STACKS, Assembly, new_app

STACK = "DatabaseStack"
GIB = 1024**3


def _isolated_vpc() -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(new_app(), "S")
    return stack, ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])


@pytest.fixture(scope="module")
def db(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template(STACK))


# --- stateful resources: logical IDs are public API ---------------------------


PINNED = {
    STACK: {
        "Database/Key/Resource": "DatabaseKey5E5D9547",
        "Database/Cluster/Resource": "DatabaseCluster5B53A178",
        "Database/Cluster/Writer/Resource": "DatabaseClusterWriterD43085C6",
        "Database/Cluster/Reader1/Resource": "DatabaseClusterReader1D8B76102",
        "Database/Cluster/Reader2/Resource": "DatabaseClusterReader26C65DE14",
        "Database/Cluster/Subnets/Default": "DatabaseClusterSubnets5540150D",
        "Database/Cluster/Secret/Resource":
            "DatabaseStackDatabaseClusterSecret0FBBE9BD3fdaad7efa858a3daf9490cf0a702aeb",
        "Database/Cluster/Secret/Attachment/Resource": "DatabaseClusterSecretAttachmentDC8466C0",
        "Database/Parameters/Resource": "DatabaseParametersB8AC9B07",
        "Database/PostgresqlLogs/Resource": "DatabasePostgresqlLogs0EEFD61B",
        "Database/SecurityGroup/Resource": "DatabaseSecurityGroup5C91FDCB",
        "Database/Proxy/Resource": "DatabaseProxyE01FC4E6",
        "Alarms/Key/Resource": "AlarmsKey3C2381B3",
    },
    "NetworkStack": {
        "Network/Key/Resource": "NetworkKey1D162FA0",
        "Network/FlowLogs/Resource": "NetworkFlowLogs2BEC3212",
    },
    "DatabaseMysql": {
        "Database/AuditLogs/Resource": "DatabaseAuditLogsDE187308",
        "Database/ErrorLogs/Resource": "DatabaseErrorLogs89E52477",
        "Database/SlowqueryLogs/Resource": "DatabaseSlowqueryLogs434FBADF",
    },
    "DatabaseRds": {
        "Database/Parameters/Resource": "DatabaseParametersB8AC9B07",
        "Database/Key/Resource": "DatabaseKey5E5D9547",
        "Database/Primary/Resource": "DatabasePrimaryEDE0B3D0",
        "Database/Primary/SubnetGroup/Default": "DatabasePrimarySubnetGroup6A34E9A0",
        "Database/Primary/Secret/Resource": "DatabaseRdsDatabasePrimarySecret56ED6BBE3fdaad7efa858a3daf9490cf0a702aeb",
        "Database/Replica1/Resource": "DatabaseReplica1ED560A1F",
        "Database/Replica2/Resource": "DatabaseReplica2035311FF",
    },
}


@pytest.mark.parametrize("stack,path", [(s, p) for s, paths in PINNED.items() for p in paths])
def test_stateful_logical_ids_are_pinned(assembly: Assembly, stack: str, path: str) -> None:
    assert assembly.resource_id(stack, path) == PINNED[stack][path]


def test_database_stack_has_termination_protection(assembly: Assembly) -> None:
    assert assembly.stacks[STACK].termination_protection is True


def test_database_stack_takes_the_vpc_from_the_network_stack(assembly: Assembly) -> None:
    subnets = assembly.properties(STACK, "Database/Cluster/Subnets/Default")["SubnetIds"]
    assert len(subnets) == 2
    for subnet in subnets:  # a cross-stack reference to NetworkStack's isolated tier
        ref = subnet.get("Fn::GetStackOutput") or subnet.get("Fn::ImportValue")
        assert ref is not None and "IsolatedSubnet" in str(ref)
    assert assembly.stacks[STACK].dependencies == [assembly.stacks["NetworkStack"]]


# --- cluster ------------------------------------------------------------------


def test_cluster_defaults(assembly: Assembly) -> None:
    cluster = assembly.resource(STACK, "Database/Cluster/Resource")
    props = cluster["Properties"]
    key = {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert props["Engine"] == "aurora-postgresql" and props["EngineVersion"].startswith("17.")
    assert props["StorageEncrypted"] is True and props["KmsKeyId"] == key
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["Port"] == 15432
    assert props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert props["CopyTagsToSnapshot"] is True
    assert props["DatabaseName"] == "app"
    assert props["MasterUsername"] == "dbadmin"
    assert props["EnableCloudwatchLogsExports"] == ["postgresql"]
    assert props["DBClusterParameterGroupName"] == {"Ref": "DatabaseParametersB8AC9B07"}
    assert props["PreferredBackupWindow"] == "03:00-04:00"
    assert props["PreferredMaintenanceWindow"] == "sun:04:30-sun:05:30"
    assert cluster["DeletionPolicy"] == cluster["UpdateReplacePolicy"] == "Snapshot"
    assert assembly.properties(STACK, "Database/Parameters/Resource")["Parameters"]["log_min_duration_statement"] == "1000"


def test_every_exported_mysql_slow_query_log_is_written(assembly: Assembly) -> None:
    """Over every template: a cluster or instance exporting ``slowquery`` has a parameter group that turns
    the slow query log on and writes it to a file (a log the engine never writes is never exported)."""
    checked = 0
    for stack_id in ALL_STACKS:
        template = assembly.template(stack_id)["Resources"]
        for logical_id, resource in template.items():
            props = resource.get("Properties", {})
            if resource["Type"] not in ("AWS::RDS::DBCluster", "AWS::RDS::DBInstance") or \
                    "slowquery" not in props.get("EnableCloudwatchLogsExports", []):
                continue
            group = props.get("DBClusterParameterGroupName") or props.get("DBParameterGroupName")
            assert isinstance(group, dict) and "Ref" in group, f"{stack_id}/{logical_id}: no parameter group"
            parameters = template[group["Ref"]]["Properties"]["Parameters"]
            assert parameters.get("slow_query_log") == "1", f"{stack_id}/{logical_id}"
            assert parameters.get("log_output") == "FILE", f"{stack_id}/{logical_id}"
            assert float(parameters.get("long_query_time", "10")) <= 1, f"{stack_id}/{logical_id}"
            checked += 1
    assert checked > 0


def test_tls_is_enforced_by_the_parameter_group(assembly: Assembly) -> None:
    assert assembly.properties(STACK, "Database/Parameters/Resource")["Parameters"]["rds.force_ssl"] == "1"
    mysql = assembly.properties("DatabaseMysql", "Database/Parameters/Resource")
    assert mysql["Family"].startswith("aurora-mysql")
    assert mysql["Parameters"]["require_secure_transport"] == "ON"
    assert mysql["Parameters"]["server_audit_logging"] == "1"  # the audit log is exported


def test_aurora_mysql_instances_write_the_slow_query_log_too(assembly: Assembly) -> None:
    # Instance-level in Aurora MySQL: each instance's own parameter group sets it as well.
    template = assembly.template("DatabaseMysql")["Resources"]
    instances = assembly.of_type("DatabaseMysql", "AWS::RDS::DBInstance")
    assert len(instances) == 3
    for instance in instances.values():
        group = template[instance["Properties"]["DBParameterGroupName"]["Ref"]]
        assert group["Type"] == "AWS::RDS::DBParameterGroup"
        assert group["Properties"]["Family"].startswith("aurora-mysql")
        assert group["Properties"]["Parameters"] == {"slow_query_log": "1", "long_query_time": "1",
                                                     "log_output": "FILE"}
    # PostgreSQL instances keep the engine's default instance parameter group.
    assert assembly.of_type(STACK, "AWS::RDS::DBParameterGroup") == {}
    assert assembly.properties("DatabaseMysql", "Database/Cluster/Resource")["EnableCloudwatchLogsExports"] == [
        "audit", "error", "slowquery"]
    assert assembly.properties("DatabaseMysql", "Database/Cluster/Resource")["Port"] == 13306


def test_cluster_lives_in_the_isolated_subnets(assembly: Assembly) -> None:
    description = assembly.properties(STACK, "Database/Cluster/Subnets/Default")
    assert all("IsolatedSubnet" in str(s) for s in description["SubnetIds"])


def test_writer_and_readers_spread_over_two_zones_with_failover_tiers(assembly: Assembly) -> None:
    writer = assembly.properties(STACK, "Database/Cluster/Writer/Resource")
    readers = [assembly.properties(STACK, f"Database/Cluster/Reader{i}/Resource") for i in (1, 2)]
    assert writer["PromotionTier"] == 0 and [r["PromotionTier"] for r in readers] == [1, 1]
    assert writer["AvailabilityZone"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    assert readers[0]["AvailabilityZone"] == {"Fn::Select": [1, {"Fn::GetAZs": ""}]}
    assert readers[1]["AvailabilityZone"] == {"Fn::Select": [0, {"Fn::GetAZs": ""}]}
    for instance in (writer, *readers):
        assert instance["DBInstanceClass"] == "db.r7g.large"
        assert instance["PubliclyAccessible"] is False
        assert instance["AutoMinorVersionUpgrade"] is True


@pytest.mark.parametrize("name", ["Writer", "Reader1", "Reader2"])
def test_instances_have_performance_insights_with_our_key_and_enhanced_monitoring(
    assembly: Assembly, name: str
) -> None:
    instance = assembly.properties(STACK, f"Database/Cluster/{name}/Resource")
    assert instance["EnablePerformanceInsights"] is True
    assert instance["PerformanceInsightsKMSKeyId"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert instance["PerformanceInsightsRetentionPeriod"] == 7
    assert instance["MonitoringInterval"] == 60
    role = assembly.resource_id(STACK, "Database/MonitoringRole/Resource")
    assert instance["MonitoringRoleArn"] == {"Fn::GetAtt": [role, "Arn"]}


def test_monitoring_role_is_ours_without_managed_policies(assembly: Assembly) -> None:
    role = assembly.properties(STACK, "Database/MonitoringRole/Resource")
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "monitoring.rds.amazonaws.com"}
    [policy] = role["Policies"]
    actions = sorted(a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"])
    assert actions == sorted(["logs:CreateLogGroup", "logs:PutRetentionPolicy", "logs:CreateLogStream",
                              "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"])
    assert "RDSOSMetrics:log-stream:*" in str(policy)


def test_serverless_readers_scale_with_the_writer(assembly: Assembly) -> None:
    cluster = assembly.properties("DatabaseServerlessReaders", "Database/Cluster/Resource")
    assert cluster["ServerlessV2ScalingConfiguration"] == {"MinCapacity": 1, "MaxCapacity": 32}
    reader = assembly.properties("DatabaseServerlessReaders", "Database/Cluster/Reader1/Resource")
    assert reader["DBInstanceClass"] == "db.serverless"
    assert reader["PromotionTier"] == 1  # tiers 0-1 follow the writer's capacity
    writer = assembly.properties("DatabaseServerlessReaders", "Database/Cluster/Writer/Resource")
    assert writer["DBInstanceClass"] == "db.r7g.large"


# --- logs -----------------------------------------------------------------------


def test_exported_logs_land_in_encrypted_groups_created_before_the_instances(assembly: Assembly) -> None:
    group_id = assembly.resource_id(STACK, "Database/PostgresqlLogs/Resource")
    group = assembly.template(STACK)["Resources"][group_id]
    assert group["Properties"]["LogGroupName"] == {
        "Fn::Join": ["", ["/aws/rds/cluster/", {"Ref": "DatabaseCluster5B53A178"}, "/postgresql"]]}
    assert group["Properties"]["RetentionInDays"] == 365
    assert group["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert group["DeletionPolicy"] == "Retain"
    for name in ("Writer", "Reader1", "Reader2"):
        assert group_id in assembly.resource(STACK, f"Database/Cluster/{name}/Resource")["DependsOn"]


def test_key_admits_cloudwatch_logs_and_is_retained(assembly: Assembly) -> None:
    key = assembly.resource(STACK, "Database/Key/Resource")
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    principals = [s.get("Principal") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert any("logs." in str(p) for p in principals)


def test_mysql_exports_three_log_groups(assembly: Assembly) -> None:
    names = [r["Properties"]["LogGroupName"]["Fn::Join"][1][2]
             for r in assembly.of_type("DatabaseMysql", "AWS::Logs::LogGroup").values()
             if "LogGroupName" in r["Properties"]]
    assert sorted(names) == ["/audit", "/error", "/slowquery"]


# --- credentials ------------------------------------------------------------------


def test_secret_is_generated_encrypted_retained_and_excludes_awkward_characters(assembly: Assembly) -> None:
    secret = assembly.resource(STACK, "Database/Cluster/Secret/Resource")
    generate = secret["Properties"]["GenerateSecretString"]
    assert generate["SecretStringTemplate"] == '{"username":"dbadmin"}'
    assert generate["GenerateStringKey"] == "password" and generate["PasswordLength"] == 30
    assert set("@/\"' \\") <= set(generate["ExcludeCharacters"])
    assert secret["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert secret["DeletionPolicy"] == "Retain"


def test_secret_rotates_every_30_days_in_the_vpc(assembly: Assembly) -> None:
    [schedule] = assembly.of_type(STACK, "AWS::SecretsManager::RotationSchedule").values()
    props = schedule["Properties"]
    assert props["RotationRules"] == {"ScheduleExpression": "rate(30 days)"}
    hosted = props["HostedRotationLambda"]
    assert hosted["RotationType"] == "PostgreSQLSingleUser"
    assert hosted["KmsKeyArn"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    rotation_group = assembly.resource_id(STACK, "Database/RotationSecurityGroup/Resource")
    assert hosted["VpcSecurityGroupIds"] == {"Fn::GetAtt": [rotation_group, "GroupId"]}
    assert "IsolatedSubnet" in str(hosted["VpcSubnetIds"])
    mysql = next(iter(assembly.of_type("DatabaseMysql", "AWS::SecretsManager::RotationSchedule").values()))
    assert mysql["Properties"]["HostedRotationLambda"]["RotationType"] == "MySQLSingleUser"


def test_hosted_rotation_subnets_are_one_comma_separated_string(assembly: Assembly) -> None:
    """HostedRotationLambda.VpcSubnetIds is documented as a String, "a comma-separated list of VPC subnet
    IDs", which the transform hands to its nested stack's CommaDelimitedList parameter. Over every template:
    the value is one Fn::Join of single subnet IDs and "," separators, never a list. Whether the transform
    also passes a cross-stack reference inside that join through (DatabaseStack's Fn::GetStackOutput) only
    a real deployment proves: see docs/database.md."""
    checked = 0
    for stack_id in ALL_STACKS:
        for schedule in assembly.of_type(stack_id, "AWS::SecretsManager::RotationSchedule").values():
            hosted = schedule["Properties"].get("HostedRotationLambda")
            if hosted is None or "VpcSubnetIds" not in hosted:
                continue
            delimiter, parts = hosted["VpcSubnetIds"]["Fn::Join"]
            assert delimiter == "" and len(parts) >= 3 and len(parts) % 2 == 1, stack_id
            assert all(p == "," for p in parts[1::2]), stack_id
            assert all(isinstance(p, dict) and len(p) == 1 for p in parts[0::2]), stack_id  # one subnet ID each
            checked += 1
    assert checked > 0
    [schedule] = assembly.of_type(STACK, "AWS::SecretsManager::RotationSchedule").values()
    subnets = schedule["Properties"]["HostedRotationLambda"]["VpcSubnetIds"]["Fn::Join"][1][0::2]
    assert all(set(s) <= {"Fn::GetStackOutput", "Fn::ImportValue"} for s in subnets)  # the unproven form


def test_rotation_function_reaches_only_the_database_and_https_in_the_vpc(assembly: Assembly) -> None:
    rotation_group = assembly.resource_id(STACK, "Database/RotationSecurityGroup/Resource")
    group = assembly.properties(STACK, "Database/RotationSecurityGroup/Resource")
    assert "SecurityGroupIngress" not in group
    [https] = group["SecurityGroupEgress"]
    assert (https["FromPort"], https["ToPort"]) == (443, 443) and "CidrBlock" in str(https["CidrIp"])
    egress = [r["Properties"] for r in assembly.of_type(STACK, "AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"]["Fn::GetAtt"][0] == rotation_group]
    assert [e["DestinationSecurityGroupId"] for e in egress] == [
        {"Fn::GetAtt": ["DatabaseSecurityGroup5C91FDCB", "GroupId"]}]


# --- network access ---------------------------------------------------------------


def test_database_security_group_admits_only_named_groups_and_sends_nothing(assembly: Assembly) -> None:
    group = assembly.properties(STACK, "Database/SecurityGroup/Resource")
    assert group["SecurityGroupEgress"][0]["Description"] == "Disallow all traffic"
    assert "SecurityGroupIngress" not in group
    ingress = [r["Properties"] for r in assembly.of_type(STACK, "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["GroupId"] == {"Fn::GetAtt": ["DatabaseSecurityGroup5C91FDCB", "GroupId"]}]
    sources = sorted(i["SourceSecurityGroupId"]["Fn::GetAtt"][0] for i in ingress)
    assert sources == sorted(assembly.resource_id(STACK, p) for p in (
        "Database/RotationSecurityGroup/Resource", "Database/ProxySecurityGroup/Resource",
        "AdminHost/SecurityGroup/Resource"))
    assert all("CidrIp" not in i for i in ingress)
    # The literal port (15432), not the Endpoint.Port attribute: reviewers and the strict packs read the range.
    assert all(i["FromPort"] == i["ToPort"] == 15432 for i in ingress)


def test_proxy_requires_tls_and_end_to_end_iam_auth(assembly: Assembly) -> None:
    for stack, family in ((STACK, "POSTGRESQL"), ("DatabaseMysql", "MYSQL")):
        proxy = assembly.properties(stack, "Database/Proxy/Resource")
        assert proxy["RequireTLS"] is True
        # End-to-end IAM: the proxy logs in to the database with IAM as the client's user. With a stored
        # secret (AuthScheme SECRETS) it could log in only as the secret's user, the administrator.
        assert proxy["DefaultAuthScheme"] == "IAM_AUTH"
        assert "Auth" not in proxy
        assert proxy["EngineFamily"] == family and proxy["DebugLogging"] is False
        assert "IsolatedSubnet" in str(proxy["VpcSubnetIds"])
        # End-to-end IAM needs IAM authentication on the database itself.
        cluster = assembly.properties(stack, "Database/Cluster/Resource")
        assert cluster["EnableIAMDatabaseAuthentication"] is True


def _proxy_role_statements(assembly: Assembly, stack: str) -> list[dict]:
    role = assembly.resource_id(stack, "Database/Proxy/IAMRole/Resource")
    return [s for r in assembly.of_type(stack, "AWS::IAM::Policy").values()
            if {"Ref": role} in r["Properties"]["Roles"] for s in r["Properties"]["PolicyDocument"]["Statement"]]


def test_proxy_role_reads_no_secret_and_connects_only_as_granted_users(assembly: Assembly) -> None:
    role = assembly.properties(STACK, "Database/Proxy/IAMRole/Resource")
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "rds.amazonaws.com"}
    assert _proxy_role_statements(assembly, STACK) == []  # no user granted in DatabaseStack: nothing
    [connect] = _proxy_role_statements(assembly, "DatabaseMysql")  # "app" granted: that user only
    assert connect["Action"] == "rds-db:connect" and connect["Effect"] == "Allow"
    parts = connect["Resource"]["Fn::Join"][1]
    assert parts[-2:] == [{"Fn::GetAtt": ["DatabaseCluster5B53A178", "DBClusterResourceId"]}, "/app"]
    assert ":rds-db:" in parts[2] and parts[-3].endswith(":dbuser:")


def test_no_proxy_unless_asked(assembly: Assembly) -> None:
    assert assembly.of_type("DatabaseServerlessReaders", "AWS::RDS::DBProxy") == {}


# --- reader auto scaling -------------------------------------------------------------


def test_reader_auto_scaling_targets_the_replica_count(assembly: Assembly) -> None:
    target = assembly.resource(STACK, "Database/ReaderScaling/Resource")
    assert target["Properties"] == {
        "ServiceNamespace": "rds",
        "ScalableDimension": "rds:cluster:ReadReplicaCount",
        "ResourceId": {"Fn::Join": ["", ["cluster:", {"Ref": "DatabaseCluster5B53A178"}]]},
        "MinCapacity": 2,  # the two readers the stack creates
        "MaxCapacity": 5,
    }  # no RoleARN: Application Auto Scaling uses its RDS service-linked role
    assert set(target["DependsOn"]) == {"DatabaseClusterWriterD43085C6", "DatabaseClusterReader1D8B76102",
                                        "DatabaseClusterReader26C65DE14"}
    assert not assembly.of_type(STACK, "AWS::IAM::Role").keys() & {"DatabaseReaderScalingRole66166625"}


def test_reader_scaling_policy_tracks_average_reader_cpu(assembly: Assembly) -> None:
    policy = assembly.properties(STACK, "Database/ReaderScaling/Target/Resource")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["TargetTrackingScalingPolicyConfiguration"] == {
        "PredefinedMetricSpecification": {"PredefinedMetricType": "RDSReaderAverageCPUUtilization"},
        "TargetValue": 60, "ScaleInCooldown": 600, "ScaleOutCooldown": 300}


def test_reader_scaling_on_connections(assembly: Assembly) -> None:
    target = assembly.properties("DatabaseServerlessReaders", "Database/ReaderScaling/Resource")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 15)
    policy = assembly.properties("DatabaseServerlessReaders", "Database/ReaderScaling/Target/Resource")
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"] == {"PredefinedMetricType": "RDSReaderAverageDatabaseConnections"}
    assert config["TargetValue"] == 500


def test_no_reader_scaling_unless_asked(assembly: Assembly) -> None:
    assert assembly.of_type("DatabaseMysql", "AWS::ApplicationAutoScaling::ScalableTarget") == {}


# --- alarms ------------------------------------------------------------------------


def _alarm(assembly: Assembly, stack: str, name: str) -> dict:
    return assembly.properties(stack, f"Database/{name}/Resource")


def _dims(alarm: dict) -> dict:
    return {d["Name"]: d["Value"] for d in alarm["Dimensions"]}


def test_replica_lag_alarm_covers_every_reader_by_role(assembly: Assembly) -> None:
    alarm = _alarm(assembly, STACK, "ReplicaLagAlarm")
    assert alarm["MetricName"] == "AuroraReplicaLag" and alarm["Namespace"] == "AWS/RDS"
    assert _dims(alarm) == {"DBClusterIdentifier": {"Ref": "DatabaseCluster5B53A178"}, "Role": "READER"}
    assert alarm["Statistic"] == "Maximum" and alarm["Threshold"] == 1000
    assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": assembly.resource_id(STACK, "Alarms/Topic/Resource")}]


# Thresholds derived from the instance memory (r7g.large: 16 GiB) with refarch.sizing.
WRITER = sizing.database_alarm_thresholds("postgresql", 16)


@pytest.mark.parametrize(
    "name,metric,statistic,threshold,operator",
    [
        ("CpuAlarm", "CPUUtilization", "Average", 80, "GreaterThanThreshold"),
        ("MemoryAlarm", "FreeableMemory", "Minimum", WRITER.freeable_memory_bytes, "LessThanThreshold"),
        ("ConnectionsAlarm", "DatabaseConnections", "Maximum", WRITER.connections, "GreaterThanThreshold"),
        ("LocalStorageAlarm", "FreeLocalStorage", "Minimum", WRITER.free_local_storage_bytes, "LessThanThreshold"),
    ],
)
@pytest.mark.parametrize("role", ["Writer", "Reader"])
def test_instance_alarms_with_cluster_and_role_dimensions(
    assembly: Assembly, role: str, name: str, metric: str, statistic: str, threshold: float, operator: str
) -> None:
    alarm = _alarm(assembly, STACK, f"{role}{name}")
    assert alarm["MetricName"] == metric and alarm["Statistic"] == statistic
    assert _dims(alarm) == {"DBClusterIdentifier": {"Ref": "DatabaseCluster5B53A178"}, "Role": role.upper()}
    assert alarm["Threshold"] == threshold and alarm["ComparisonOperator"] == operator
    assert (alarm["Period"], alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (60, 5, 5)


def test_thresholds_are_the_sizing_numbers() -> None:
    assert WRITER.max_connections == 1802 and WRITER.connections == 1441
    assert WRITER.freeable_memory_bytes == int(1.6 * GIB)


def test_serverless_readers_with_auto_scaling_alarm_at_the_smaller_class(assembly: Assembly) -> None:
    # Auto scaling adds r7g.large readers (the writer's class, 16 GiB) beside the 32-ACU (64 GiB)
    # Serverless reader; the READER alarms aggregate both, so they use the smaller limits.
    expected = sizing.database_alarm_thresholds("postgresql", 16)
    assert expected != sizing.database_alarm_thresholds("postgresql", 32 * 2)
    for name, threshold in (("ReaderConnectionsAlarm", expected.connections),
                            ("ReaderMemoryAlarm", expected.freeable_memory_bytes),
                            ("ReaderLocalStorageAlarm", expected.free_local_storage_bytes)):
        assert _alarm(assembly, "DatabaseServerlessReaders", name)["Threshold"] == threshold


def test_serverless_readers_without_auto_scaling_alarm_at_max_acu() -> None:
    # Built, not synthesized: only the construct's threshold choice is read.
    stack, vpc = _isolated_vpc()
    db = AuroraCluster(stack, "Db", vpc=vpc, serverless_readers=True, serverless_capacity=(1, 32))
    expected = sizing.database_alarm_thresholds("postgresql", 32 * 2)  # 32 ACU x 2 GiB
    assert db.thresholds["readers"] == expected and expected.connections == 4000  # 5000 cap x 80 %
    reader_connections = next(a for a in db.alarms if a.node.id == "ReaderConnectionsAlarm")
    assert reader_connections.node.default_child.threshold == 4000


def test_mysql_thresholds(assembly: Assembly) -> None:
    mysql = sizing.database_alarm_thresholds("mysql", 16)
    assert _alarm(assembly, "DatabaseMysql", "WriterConnectionsAlarm")["Threshold"] == mysql.connections


def test_nine_alarms_per_cluster(assembly: Assembly) -> None:
    assert len(assembly.of_type(STACK, "AWS::CloudWatch::Alarm")) == 9


# --- Parameter Store -----------------------------------------------------------------


def test_non_secret_settings_in_parameter_store_hierarchy(assembly: Assembly) -> None:
    parameters = {r["Properties"]["Name"]: r["Properties"]
                  for r in assembly.of_type(STACK, "AWS::SSM::Parameter").values()}
    assert sorted(parameters) == [f"/refarch/dev/database/{n}" for n in sorted(
        ["writer-endpoint", "reader-endpoint", "port", "database-name", "secret-arn", "proxy-endpoint"])]
    assert all(p["Type"] == "String" and p["Tier"] == "Standard" for p in parameters.values())
    assert parameters["/refarch/dev/database/writer-endpoint"]["Value"] == {
        "Fn::GetAtt": ["DatabaseCluster5B53A178", "Endpoint.Address"]}
    assert parameters["/refarch/dev/database/reader-endpoint"]["Value"] == {
        "Fn::GetAtt": ["DatabaseCluster5B53A178", "ReadEndpoint.Address"]}
    assert parameters["/refarch/dev/database/port"]["Value"] == "15432"
    assert parameters["/refarch/dev/database/secret-arn"]["Value"] == {"Ref": "DatabaseClusterSecretAttachmentDC8466C0"}
    assert "password" not in str(parameters).lower()


def test_no_parameters_unless_a_path_is_given(assembly: Assembly) -> None:
    assert assembly.of_type("DatabaseServerlessReaders", "AWS::SSM::Parameter") == {}


# --- outputs --------------------------------------------------------------------------


def test_stack_outputs(assembly: Assembly) -> None:
    outputs = assembly.template(STACK)["Outputs"]
    assert outputs["WriterEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster5B53A178", "Endpoint.Address"]}
    assert outputs["ReaderEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseCluster5B53A178", "ReadEndpoint.Address"]}
    assert outputs["ProxyEndpoint"]["Value"] == {"Fn::GetAtt": ["DatabaseProxyE01FC4E6", "Endpoint"]}
    assert outputs["Port"]["Value"] == "15432"
    assert outputs["ParameterPath"]["Value"] == "/refarch/dev/database"
    command = outputs["PortForwardCommand"]["Value"]["Fn::Join"][1]
    assert "AWS-StartPortForwardingSessionToRemoteHost" in command[2]
    assert command[1] == {"Ref": assembly.resource_id(STACK, "AdminHost/Instance/Resource")}
    assert '"portNumber":["15432"]' in command[4]


# --- Session Manager host -------------------------------------------------------------


def test_session_manager_host_is_locked_down(assembly: Assembly) -> None:
    instance = assembly.resource(STACK, "AdminHost/Instance/Resource")["Properties"]
    assert "KeyName" not in instance
    [volume] = instance["BlockDeviceMappings"]
    assert volume["Ebs"]["Encrypted"] is True
    assert volume["Ebs"]["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert instance["NetworkInterfaces"][0]["AssociatePublicIpAddress"] is False
    assert "PrivateSubnet" in str(instance["NetworkInterfaces"][0]["SubnetId"])
    template = assembly.properties(STACK, "AdminHost/Instance/LaunchTemplate")
    assert template["LaunchTemplateData"]["MetadataOptions"] == {"HttpTokens": "required"}


def test_session_manager_host_has_no_inbound_rule_and_no_port_22(assembly: Assembly) -> None:
    group_id = assembly.resource_id(STACK, "AdminHost/SecurityGroup/Resource")
    group = assembly.properties(STACK, "AdminHost/SecurityGroup/Resource")
    assert "SecurityGroupIngress" not in group
    # Outbound: HTTPS to the VPC's own range (the SSM endpoints), nothing to the internet.
    [https] = group["SecurityGroupEgress"]
    assert (https["IpProtocol"], https["FromPort"], https["ToPort"]) == ("tcp", 443, 443)
    assert "CidrBlock" in str(https["CidrIp"]) and "0.0.0.0/0" not in str(group)
    ingress_to_host = [r for r in assembly.of_type(STACK, "AWS::EC2::SecurityGroupIngress").values()
                       if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}]
    assert ingress_to_host == []
    for stack in (STACK, "DatabaseMysql", "DatabaseRds"):
        assert '"FromPort": 22' not in str(assembly.template(stack)).replace("'", '"')
    egress = [r["Properties"] for r in assembly.of_type(STACK, "AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}]
    assert sorted(str(e["DestinationSecurityGroupId"]["Fn::GetAtt"][0]) for e in egress) == sorted(
        assembly.resource_id(STACK, p) for p in ("Database/SecurityGroup/Resource", "Database/ProxySecurityGroup/Resource"))


def test_session_manager_host_role_is_the_agent_only(assembly: Assembly) -> None:
    role = assembly.properties(STACK, "AdminHost/Role/Resource")
    assert "ManagedPolicyArns" not in role
    policy = assembly.properties(STACK, "AdminHost/AgentPolicy/Resource")
    statements = policy["PolicyDocument"]["Statement"]
    actions = {a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])}
    assert {a.split(":")[0] for a in actions} == {"ssm", "ssmmessages", "ec2messages"}
    assert not any(a.startswith(("rds", "secretsmanager", "s3", "ssm:Get")) for a in actions)
    update = next(s for s in statements if s["Action"] == "ssm:UpdateInstanceInformation")
    assert {"Ref": assembly.resource_id(STACK, "AdminHost/Instance/Resource")} in update["Resource"]["Fn::Join"][1]


# --- RdsWithReadReplicas ---------------------------------------------------------------


def test_rds_primary_defaults(assembly: Assembly) -> None:
    primary = assembly.resource("DatabaseRds", "Database/Primary/Resource")
    props = primary["Properties"]
    assert props["MultiAZ"] is True
    assert props["AllocatedStorage"] == "100" and props["MaxAllocatedStorage"] == 1000
    assert props["StorageType"] == "gp3" and props["StorageEncrypted"] is True
    assert props["EnableIAMDatabaseAuthentication"] is True
    assert props["Port"] == "15432" and props["DeletionProtection"] is True
    assert props["BackupRetentionPeriod"] == 7
    assert props["EnablePerformanceInsights"] is True
    assert props["EnableCloudwatchLogsExports"] == ["postgresql", "upgrade"]
    assert props["PubliclyAccessible"] is False
    assert primary["DeletionPolicy"] == "Snapshot"
    parameters = assembly.properties("DatabaseRds", "Database/Parameters/Resource")
    assert parameters["Parameters"] == {"rds.force_ssl": "1"}


def test_rds_replicas_follow_the_primary_in_other_zones(assembly: Assembly) -> None:
    for i, az in ((1, 1), (2, 0)):
        replica = assembly.resource("DatabaseRds", f"Database/Replica{i}/Resource")
        props = replica["Properties"]
        assert "DatabasePrimaryEDE0B3D0" in str(props["SourceDBInstanceIdentifier"])
        assert props["AvailabilityZone"] == {"Fn::Select": [az, {"Fn::GetAZs": ""}]}
        assert props["MaxAllocatedStorage"] == 1000
        assert props["Port"] == "15432"
        assert props["KmsKeyId"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
        assert "StorageEncrypted" not in props  # CloudFormation rejects it on a replica; it is inherited
        assert props["EnableIAMDatabaseAuthentication"] is True and props["DeletionProtection"] is True
        assert replica["DeletionPolicy"] == "Delete"  # no data of its own


def test_rds_replicas_take_the_primary_storage_type(assembly: Assembly) -> None:
    # aws-cdk-lib gives a replica gp2 unless told: 300 baseline IOPS at 100 GiB against gp3's 3,000.
    primary = assembly.properties("DatabaseRds", "Database/Primary/Resource")
    assert primary["StorageType"] == "gp3"
    for i in (1, 2):
        replica = assembly.properties("DatabaseRds", f"Database/Replica{i}/Resource")
        for key in ("StorageType", "Iops", "StorageThroughput"):
            assert replica.get(key) == primary.get(key), key


def test_rds_logs_have_retention(assembly: Assembly) -> None:
    retention = [r["Properties"] for r in assembly.of_type("DatabaseRds", "Custom::LogRetention").values()]
    assert len(retention) == 6 and all(r["RetentionInDays"] == 365 for r in retention)


def test_rds_alarms_carry_the_instance_dimension(assembly: Assembly) -> None:
    alarms = assembly.of_type("DatabaseRds", "AWS::CloudWatch::Alarm")
    assert len(alarms) == 3 * 4 + 2  # CPU, memory, connections, storage per instance; lag per replica
    for alarm in alarms.values():
        [dim] = alarm["Properties"]["Dimensions"]
        assert dim["Name"] == "DBInstanceIdentifier"
    lag = _alarm(assembly, "DatabaseRds", "Replica1LagAlarm")
    assert lag["MetricName"] == "ReplicaLag" and lag["Threshold"] == 30
    assert lag["Dimensions"] == [{"Name": "DBInstanceIdentifier", "Value": {"Ref": "DatabaseReplica1ED560A1F"}}]
    for name in ("Primary", "Replica1", "Replica2"):
        storage = _alarm(assembly, "DatabaseRds", f"{name}StorageAlarm")
        # 5 % of the initial 100 GiB: below anything autoscaling leaves free while it works
        assert storage["MetricName"] == "FreeStorageSpace" and storage["Statistic"] == "Minimum"
        assert storage["Threshold"] == sizing.rds_free_storage_alarm_bytes(100) == 5 * GIB
        assert storage["ComparisonOperator"] == "LessThanThreshold"
    rds_limits = sizing.database_alarm_thresholds("postgresql", 16, aurora=False)
    assert _alarm(assembly, "DatabaseRds", "PrimaryConnectionsAlarm")["Threshold"] == rds_limits.connections


def test_rds_for_mysql_requires_tls_and_writes_the_slow_query_log_it_exports() -> None:
    # RDS for MySQL's require_secure_transport takes 1 (Aurora MySQL's takes ON). Built, not synthesized.
    stack, vpc = _isolated_vpc()
    db = RdsWithReadReplicas(stack, "Db", vpc=vpc, engine=rds.DatabaseInstanceEngine.mysql(
        version=rds.MysqlEngineVersion.VER_8_4_7))
    cfn = db.instance.node.default_child
    group = next(c for c in stack.node.find_all() if isinstance(c, rds.CfnDBParameterGroup))
    assert stack.resolve(group.family) == "mysql8.4"
    # slowquery is exported, so the engine must write it, to a file (RDS for MySQL's default is a table).
    assert stack.resolve(group.parameters) == {"require_secure_transport": "1", "slow_query_log": "1",
                                               "long_query_time": "1", "log_output": "FILE"}
    assert stack.resolve(cfn.port) == "13306"
    assert cfn.enable_cloudwatch_logs_exports == ["error", "slowquery"]
    for replica in db.replicas:  # the replicas share the parameter group
        assert stack.resolve(replica.node.default_child.db_parameter_group_name) == stack.resolve(group.ref)


def test_rds_parameters(assembly: Assembly) -> None:
    names = sorted(r["Properties"]["Name"] for r in assembly.of_type("DatabaseRds", "AWS::SSM::Parameter").values())
    assert names == [f"/refarch/test/rds/{n}" for n in
                     sorted(["writer-endpoint", "reader-endpoints", "port", "database-name", "secret-arn"])]


def test_rds_secret_rotates_and_is_retained(assembly: Assembly) -> None:
    secret = assembly.resource("DatabaseRds", "Database/Primary/Secret/Resource")
    assert secret["DeletionPolicy"] == "Retain"
    [schedule] = assembly.of_type("DatabaseRds", "AWS::SecretsManager::RotationSchedule").values()
    assert schedule["Properties"]["HostedRotationLambda"]["RotationType"] == "PostgreSQLSingleUser"


# --- acknowledgments are narrow --------------------------------------------------------


def test_database_acknowledgments_are_the_known_few(assembly: Assembly) -> None:
    suppressed = {(v["ruleName"], c["constructPath"].split("/", 1)[1])
                  for p in assembly.report["pluginReports"] for v in p.get("suppressedViolations", [])
                  for c in v["violatingConstructs"] if c["constructPath"].startswith(STACK + "/")
                  and p["pluginName"] in ("AwsSolutions", "Serverless")}
    strict = {(v["ruleName"].split("-", 1)[1], c["constructPath"].split("/", 1)[1])
              for p in assembly.report["pluginReports"] for v in p.get("suppressedViolations", [])
              for c in v["violatingConstructs"] if c["constructPath"].startswith(STACK + "/")
              and p["pluginName"] not in ("AwsSolutions", "Serverless")}
    # The strict packs: every role's own policy, the host's interface, Aurora instances under the cluster's plan.
    assert strict == {
        *(("IAMNoInlinePolicy", p) for p in ("AdminHost/AgentPolicy/Resource", "Database/MonitoringRole/Resource")),
        ("EC2InstancesInVPC", "AdminHost/Instance/Resource"),
        *(("RDSInBackupPlan", f"Database/Cluster/{i}/Resource") for i in ("Writer", "Reader1", "Reader2")),
    }
    logs = "arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:log-group:"
    assert suppressed == {
        ("AwsSolutions-EC29", "AdminHost/Instance/Resource"),
        ("AwsSolutions-IAM5[Resource::*]", "AdminHost/AgentPolicy/Resource"),
        (f"AwsSolutions-IAM5[Resource::{logs}RDS*]", "Database/MonitoringRole/Resource"),
        (f"AwsSolutions-IAM5[Resource::{logs}RDSOSMetrics:log-stream:*]", "Database/MonitoringRole/Resource"),
        ("AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
         "AWSBackupServiceRolePolicyForBackup]", "Database/Backup/Plan/Database/Role/Resource"),
    }


# --- what an application is granted ----------------------------------------------------


def _app_statements(assembly: Assembly, stack: str) -> list[dict]:
    [policy] = [r for k, r in assembly.template(stack)["Resources"].items() if k.startswith("AppRoleDefaultPolicy")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_application_connects_with_iam_to_cluster_and_proxy(assembly: Assembly) -> None:
    [connect] = [s for s in _app_statements(assembly, "DatabaseMysql") if s["Action"] == "rds-db:connect"]
    resources = [r["Fn::Join"][1] for r in connect["Resource"]]
    cluster, proxy = sorted(resources, key=lambda parts: "Proxy" in str(parts))
    assert cluster[-2:] == [{"Fn::GetAtt": ["DatabaseCluster5B53A178", "DBClusterResourceId"]}, "/app"]
    # Through the proxy: arn:<partition>:rds-db:<region>:<account>:dbuser:<proxy resource id>/app, the
    # proxy's id (prx-...) being the last field of its ARN.
    assert proxy[0] == "arn:" and proxy[1] == {"Ref": "AWS::Partition"} and proxy[2] == ":rds-db:"
    assert proxy[-3] == ":dbuser:" and proxy[-1] == "/app"
    assert proxy[-2] == {"Fn::Select": [6, {"Fn::Split": [":", {"Fn::GetAtt": ["DatabaseProxyE01FC4E6",
                                                                                   "DBProxyArn"]}]}]}


def test_application_reads_its_settings_by_path_and_decrypts_only_through_secrets_manager(assembly: Assembly) -> None:
    statements = _app_statements(assembly, "DatabaseMysql")
    [by_path] = [s for s in statements if s["Action"] == "ssm:GetParametersByPath"]
    assert by_path["Resource"]["Fn::Join"][1][-1] == ":parameter/refarch/test/orders-db"
    [secret] = [s for s in statements if "secretsmanager:GetSecretValue" in s["Action"]]
    assert secret["Resource"] == {"Ref": "DatabaseClusterSecretAttachmentDC8466C0"}
    [decrypt] = [s for s in statements if s["Action"] == "kms:Decrypt"]
    assert decrypt["Resource"] == {"Fn::GetAtt": ["DatabaseKey5E5D9547", "Arn"]}
    assert "secretsmanager." in str(decrypt["Condition"]["StringEquals"]["kms:ViaService"])
    assert not any(s["Action"] in ("kms:*", "ssm:*", "secretsmanager:*") for s in statements)


def test_application_is_admitted_to_database_and_proxy(assembly: Assembly) -> None:
    app = {"Fn::GetAtt": [assembly.resource_id("DatabaseMysql", "AppSecurityGroup/Resource"), "GroupId"]}
    ingress = [r["Properties"] for r in assembly.of_type("DatabaseMysql", "AWS::EC2::SecurityGroupIngress").values()
               if r["Properties"]["SourceSecurityGroupId"] == app]
    ports = sorted(str(i["FromPort"]) for i in ingress)
    assert ports == ["13306", "3306"]  # cluster, proxy


def test_rds_application_connects_to_primary_and_every_replica(assembly: Assembly) -> None:
    [connect] = [s for s in _app_statements(assembly, "DatabaseRds") if s["Action"] == "rds-db:connect"]
    targets = [r["Fn::Join"][1][-2]["Fn::GetAtt"][0] for r in connect["Resource"]]
    assert targets == ["DatabasePrimaryEDE0B3D0", "DatabaseReplica1ED560A1F", "DatabaseReplica2035311FF"]
