"""Behaviour: the synthesized DatabaseStack, applied to moto, configures an application as designed.

moto's CloudFormation cannot create ``AWS::RDS::DBCluster`` (HTTP 500), so
``tests/moto_database.apply_database`` creates each database resource through
moto's service APIs from the template's own properties (see its docstring).

What moto proves here:

* the Parameter Store hierarchy ``/refarch/dev/database`` holds exactly the
  non-secret settings, as plain ``String`` parameters, and they resolve to the
  cluster's real writer and reader endpoints, port and database name;
* the ``secret-arn`` parameter leads to the Secrets Manager secret, encrypted
  with the stack's key, whose password is the cluster's administrator
  password (the ``{{resolve:secretsmanager:...}}`` reference) and avoids the
  excluded characters; an application needs nothing else to connect;
* the cluster accepts the template's engine, port, IAM authentication,
  encryption, backup and deletion-protection settings, refuses deletion, and
  its instances land in two availability zones with the failover tiers set;
* Application Auto Scaling accepts the reader target on
  ``rds:cluster:ReadReplicaCount`` and the target-tracking policy;
* the proxy is created requiring TLS and holding no secret (end-to-end IAM
  authentication; moto drops ``DefaultAuthScheme``, asserted on the template).

What only a real deployment proves: that TLS is refused without
``rds.force_ssl``; that IAM tokens and the proxy authenticate; that hosted
rotation rotates (the transform's Lambda is not created here); that Aurora
adds and removes readers under load; that the log groups created before the
instances receive the exports; that the alarms fire; and that security groups
and the isolated subnets allow only what the template says.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.conftest import Assembly
from tests.moto_cfn import REGION
from tests.moto_database import AppliedDatabase, apply_database

PATH = "/refarch/dev/database"

NOT_APPLIED = {
    "AWS::CDK::Metadata": "version reporting only",
    "AWS::CloudWatch::Dashboard": "moto does not create dashboards; tests/test_dashboards.py asserts each body on the template",


    "AWS::Backup::BackupVault": "moto's CloudFormation has no AWS Backup; the vault, plan and selection are asserted "
                                "on the template (tests/test_hardening.py)",
    "AWS::Backup::BackupPlan": "moto's CloudFormation has no AWS Backup; asserted on the template",
    "AWS::Backup::BackupSelection": "moto's CloudFormation has no AWS Backup; asserted on the template",
    "AWS::CloudWatch::Alarm": "moto cannot evaluate RDS metrics; metrics, dimensions and thresholds are asserted "
                              "on the template",
    "AWS::SNS::Topic": "alarm notifications; asserted on the template",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies",
    "AWS::EC2::SecurityGroup": "moto does not filter traffic; rules are asserted on the template",
    "AWS::EC2::SecurityGroupIngress": "moto does not filter traffic; rules are asserted on the template",
    "AWS::EC2::SecurityGroupEgress": "moto does not filter traffic; rules are asserted on the template",
    "AWS::RDS::DBSubnetGroup": "the network is NetworkStack's; the subnet group is asserted on the template",
    "AWS::RDS::DBProxyTargetGroup": "moto's proxy does not route; the target is asserted on the template",
    "AWS::IAM::Role": "moto does not evaluate IAM; roles and policies are asserted on the template",
    "AWS::IAM::Policy": "moto does not evaluate IAM; roles and policies are asserted on the template",
    "AWS::IAM::InstanceProfile": "the admin host is not run here",
    "AWS::EC2::Instance": "Session Manager cannot be exercised in moto",
    "AWS::EC2::LaunchTemplate": "the admin host is not run here; IMDSv2 is asserted on the template",
    "AWS::Logs::LogGroup": "moto's RDS exports no logs; name, key and retention are asserted on the template",
    "AWS::SecretsManager::ResourcePolicy": "moto does not enforce resource policies",
    "AWS::SecretsManager::RotationSchedule": "hosted rotation needs the Secrets Manager transform's Lambda; "
                                             "asserted on the template",
}


@pytest.fixture(scope="module")
def applied(assembly: Assembly) -> Iterator[AppliedDatabase]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws():
        yield apply_database(assembly.template("DatabaseStack"), not_applied=NOT_APPLIED)


@pytest.fixture
def cluster(applied: AppliedDatabase) -> dict:
    [logical_id] = applied.logical_ids("AWS::RDS::DBCluster")
    return boto3.client("rds", region_name=REGION).describe_db_clusters(
        DBClusterIdentifier=applied.physical[logical_id])["DBClusters"][0]


def _configuration(path: str = PATH) -> dict[str, str]:
    """What an application does at start-up: read its settings by path."""
    ssm = boto3.client("ssm", region_name=REGION)
    parameters = ssm.get_parameters_by_path(Path=path, Recursive=True)["Parameters"]
    return {p["Name"].removeprefix(path + "/"): p for p in parameters}


def test_harness_refuses_unlisted_resource_types(assembly: Assembly) -> None:
    with mock_aws(), pytest.raises(AssertionError, match="AWS::EC2::Instance"):
        apply_database(assembly.template("DatabaseStack"),
                       not_applied={k: v for k, v in NOT_APPLIED.items() if k != "AWS::EC2::Instance"})


def test_parameter_store_holds_exactly_the_non_secret_settings(applied: AppliedDatabase) -> None:
    config = _configuration()
    assert sorted(config) == sorted(["writer-endpoint", "reader-endpoint", "proxy-endpoint", "port",
                                     "database-name", "secret-arn"])
    assert {p["Type"] for p in config.values()} == {"String"}  # nothing here needs SecureString


def test_settings_resolve_to_the_cluster(applied: AppliedDatabase, cluster: dict) -> None:
    config = {k: p["Value"] for k, p in _configuration().items()}
    assert config["writer-endpoint"] == cluster["Endpoint"]
    assert config["reader-endpoint"] == cluster["ReaderEndpoint"] != cluster["Endpoint"]
    assert config["port"] == str(cluster["Port"]) == "15432"
    assert config["database-name"] == cluster["DatabaseName"] == "app"
    proxy = boto3.client("rds", region_name=REGION).describe_db_proxies()["DBProxies"][0]
    assert config["proxy-endpoint"] == proxy["Endpoint"]


def test_secret_arn_leads_to_the_credentials_the_cluster_was_created_with(
    applied: AppliedDatabase, cluster: dict
) -> None:
    config = {k: p["Value"] for k, p in _configuration().items()}
    sm = boto3.client("secretsmanager", region_name=REGION)
    secret = json.loads(sm.get_secret_value(SecretId=config["secret-arn"])["SecretString"])
    assert secret["username"] == cluster["MasterUsername"] == "dbadmin"
    assert secret["host"] == cluster["Endpoint"] and secret["port"] == 15432 and secret["dbname"] == "app"
    [secret_id] = applied.logical_ids("AWS::SecretsManager::Secret")
    template = applied.template["Resources"][secret_id]["Properties"]["GenerateSecretString"]
    assert len(secret["password"]) == template["PasswordLength"]
    assert not set(secret["password"]) & set(template["ExcludeCharacters"])
    # The cluster's MasterUserPassword is a dynamic reference into this secret, resolved like CloudFormation.
    [cluster_id] = applied.logical_ids("AWS::RDS::DBCluster")
    reference = json.dumps(applied.template["Resources"][cluster_id]["Properties"]["MasterUserPassword"])
    assert "{{resolve:secretsmanager:" in reference and ":SecretString:password::}}" in reference
    password = applied.template["Resources"][cluster_id]["Properties"]["MasterUserPassword"]
    assert applied.resolve(password) == secret["password"]


def test_secret_is_encrypted_with_the_stack_key(applied: AppliedDatabase) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    [secret_id] = applied.logical_ids("AWS::SecretsManager::Secret")
    kms_key = sm.describe_secret(SecretId=applied.physical[secret_id])["KmsKeyId"]
    key_id = applied.physical[applied.template["Resources"][secret_id]["Properties"]["KmsKeyId"]["Fn::GetAtt"][0]]
    assert kms_key.endswith(key_id)
    assert boto3.client("kms", region_name=REGION).get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True


def test_no_parameter_holds_the_password(applied: AppliedDatabase) -> None:
    sm = boto3.client("secretsmanager", region_name=REGION)
    secret = sm.get_secret_value(SecretId=_configuration()["secret-arn"]["Value"])
    password = json.loads(secret["SecretString"])["password"]
    ssm = boto3.client("ssm", region_name=REGION)
    everything = ssm.get_parameters_by_path(Path="/", Recursive=True)["Parameters"]
    assert everything and not any(password in p["Value"] for p in everything)


def test_another_stage_sees_nothing(applied: AppliedDatabase) -> None:
    assert _configuration("/refarch/prod/database") == {}


def test_cluster_settings_as_created(cluster: dict) -> None:
    assert cluster["Engine"] == "aurora-postgresql" and cluster["Port"] == 15432
    assert cluster["IAMDatabaseAuthenticationEnabled"] is True
    assert cluster["StorageEncrypted"] is True and cluster["KmsKeyId"].startswith("arn:aws:kms:")
    assert cluster["BackupRetentionPeriod"] == 7 and cluster["DeletionProtection"] is True
    assert cluster["EnabledCloudwatchLogsExports"] == ["postgresql"]
    group = boto3.client("rds", region_name=REGION).describe_db_cluster_parameters(
        DBClusterParameterGroupName=cluster["DBClusterParameterGroup"])["Parameters"]
    assert {"ParameterName": "rds.force_ssl", "ParameterValue": "1"}.items() <= {
        k: v for p in group if p["ParameterName"] == "rds.force_ssl" for k, v in p.items()}.items()


def test_deletion_protection_refuses_deletion(cluster: dict) -> None:
    with pytest.raises(ClientError, match="protect"):
        boto3.client("rds", region_name=REGION).delete_db_cluster(
            DBClusterIdentifier=cluster["DBClusterIdentifier"], SkipFinalSnapshot=True)


def test_writer_and_readers_in_two_zones_with_tiers(applied: AppliedDatabase, cluster: dict) -> None:
    instances = boto3.client("rds", region_name=REGION).describe_db_instances(Filters=[
        {"Name": "db-cluster-id", "Values": [cluster["DBClusterIdentifier"]]}])["DBInstances"]
    assert len(instances) == 3
    zones = {i["AvailabilityZone"] for i in instances}
    assert zones == {f"{REGION}a", f"{REGION}b"}
    tiers = sorted(i["PromotionTier"] for i in instances)
    assert tiers == [0, 1, 1]
    writer = next(i for i in instances if i["PromotionTier"] == 0)
    assert writer["AvailabilityZone"] == f"{REGION}a"


def test_reader_auto_scaling_is_accepted(applied: AppliedDatabase, cluster: dict) -> None:
    aas = boto3.client("application-autoscaling", region_name=REGION)
    [target] = aas.describe_scalable_targets(ServiceNamespace="rds")["ScalableTargets"]
    assert target["ResourceId"] == f"cluster:{cluster['DBClusterIdentifier']}"
    assert target["ScalableDimension"] == "rds:cluster:ReadReplicaCount"
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 5)
    [policy] = aas.describe_scaling_policies(ServiceNamespace="rds")["ScalingPolicies"]
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    assert config["PredefinedMetricSpecification"]["PredefinedMetricType"] == "RDSReaderAverageCPUUtilization"
    assert config["TargetValue"] == 60


def test_proxy_requires_tls_and_holds_no_secret(applied: AppliedDatabase) -> None:
    [proxy] = boto3.client("rds", region_name=REGION).describe_db_proxies()["DBProxies"]
    assert proxy["RequireTLS"] is True
    # End-to-end IAM authentication: no stored secret to log in with (DefaultAuthScheme IAM_AUTH, which
    # moto drops, is asserted on the template in test_database.py).
    assert proxy["Auth"] == []
