"""Apply a synthesized database template to moto through the service APIs.

moto's CloudFormation answers HTTP 500 on ``AWS::RDS::DBCluster``, so
``tests/moto_cfn.deploy`` cannot run a database stack. This harness does what
``moto_cfn.apply_subscriptions`` does for subscriptions, for a whole stack:
it creates each resource moto's RDS, Secrets Manager, KMS, Application Auto
Scaling and SSM APIs know, **from the template's own properties**, resolving
``Ref``, ``Fn::GetAtt``, ``Fn::Join``, ``Fn::Select``/``Fn::GetAZs``,
cross-stack outputs and ``{{resolve:secretsmanager:...}}`` references the way
CloudFormation would. Any property it does not pass on must be listed with a
reason, and any resource type it does not create must be listed with a
reason, so a new property or resource cannot slip past the behaviour tests.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3

from tests.moto_cfn import ACCOUNT, REGION, TemplateResolver

#: Resource types created here, in dependency order.
APPLIED = (
    "AWS::KMS::Key",
    "AWS::SecretsManager::Secret",
    "AWS::RDS::DBClusterParameterGroup",
    "AWS::RDS::DBCluster",
    "AWS::SecretsManager::SecretTargetAttachment",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBProxy",
    "AWS::ApplicationAutoScaling::ScalableTarget",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::SSM::Parameter",
)

#: Properties a created resource carries that moto's API does not take, and why that is acceptable.
IGNORED_PROPERTIES = {
    "AWS::KMS::Key": {"KeyPolicy": "moto does not evaluate key policies; asserted on the template",
                      "PendingWindowInDays": "applies on deletion only"},
    "AWS::RDS::DBCluster": {
        "VpcSecurityGroupIds": "the network is not deployed here; security groups are asserted on the template",
        "DBSubnetGroupName": "the network is not deployed here; the subnet group is asserted on the template",
    },
    "AWS::RDS::DBInstance": {
        "PerformanceInsightsKMSKeyId": "moto has no Performance Insights; asserted on the template",
        "PerformanceInsightsRetentionPeriod": "moto has no Performance Insights; asserted on the template",
    },
    "AWS::RDS::DBProxy": {
        "VpcSecurityGroupIds": "the network is not deployed here; asserted on the template",
        "DefaultAuthScheme": "moto 5.2 predates end-to-end IAM authentication and drops it; asserted on the template",
    },
}


@dataclass
class AppliedDatabase(TemplateResolver):
    template: dict
    physical: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type
    subnets: list[str] = field(default_factory=list)

    def _physical_ids(self) -> Mapping[str, str]:
        return self.physical

    def _stack_name(self) -> str:
        return "DatabaseStack"

    def _resolve_string(self, value: str) -> str:
        return _DYNAMIC.sub(lambda m: self._secret_field(m["secret"], m["key"]), value)

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.template["Resources"][logical_id]["Type"]
        if (resource_type, attribute) == ("AWS::IAM::Role", "Arn"):
            return f"arn:aws:iam::{ACCOUNT}:role/{logical_id}"  # roles are not created: moto does not evaluate IAM
        if resource_type == "AWS::EC2::SecurityGroup":
            return f"sg-{logical_id.lower()[:17]}"  # not deployed; only passed through ignored properties
        physical = self._ref(logical_id)
        rds = boto3.client("rds", region_name=REGION)
        if resource_type == "AWS::RDS::DBCluster":
            cluster = rds.describe_db_clusters(DBClusterIdentifier=physical)["DBClusters"][0]
            return {"Endpoint.Address": cluster["Endpoint"], "ReadEndpoint.Address": cluster["ReaderEndpoint"],
                    "Endpoint.Port": str(cluster["Port"])}[attribute]
        if (resource_type, attribute) == ("AWS::RDS::DBProxy", "Endpoint"):
            return rds.describe_db_proxies(DBProxyName=physical)["DBProxies"][0]["Endpoint"]
        return super()._get_att(logical_id, attribute)

    def _cross_stack(self, arg: Any) -> str:
        name = arg["OutputName"] if isinstance(arg, dict) else str(arg)
        match = re.search(r"(Isolated|Private)Subnet(\d)", name)
        if not match:
            raise NotImplementedError(f"cross-stack output {name} is not resolved by this harness")
        return self.subnets[int(match[2]) - 1]

    def _secret_field(self, secret: str, key: str) -> str:
        value = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=self.resolve(secret))
        return json.loads(value["SecretString"])[key]


# {{resolve:secretsmanager:<arn or name>:SecretString:<key>::}}
_DYNAMIC = re.compile(r"\{\{resolve:secretsmanager:(?P<secret>arn:[^{}]+?|[^:{}]+):SecretString:(?P<key>\w+)::\}\}")


def apply_database(template: Mapping, *, not_applied: Mapping[str, str]) -> AppliedDatabase:
    """Create the template's database resources in moto (call inside ``mock_aws``).

    ``not_applied`` maps each other resource type in the template to the reason
    the behaviour tests can live without it; an unlisted type fails.
    """
    for resource_type, reason in not_applied.items():
        if not reason.strip():
            raise ValueError(f"not_applied[{resource_type!r}] needs a reason")
    unknown = sorted({r["Type"] for r in template["Resources"].values()} - set(APPLIED) - set(not_applied))
    if unknown:
        raise AssertionError(f"resource types {unknown} are neither applied nor listed in not_applied with a reason")
    db = AppliedDatabase(template=json.loads(json.dumps(template)))
    db.subnets = _network()
    db.skipped = {k: r["Type"] for k, r in db.template["Resources"].items() if r["Type"] not in APPLIED}
    for resource_type in APPLIED:
        for logical_id in db.logical_ids(resource_type):
            props = db.template["Resources"][logical_id].get("Properties", {})
            ignored = IGNORED_PROPERTIES.get(resource_type, {})
            db.physical[logical_id] = _CREATE[resource_type](db, logical_id, {
                k: db.resolve(v) for k, v in props.items() if k not in ignored})
    return db


def _network() -> list[str]:
    """Two subnets in two zones stand in for NetworkStack's isolated tier."""
    ec2 = boto3.client("ec2", region_name=REGION)
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    return [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{REGION}{zone}")[
            "Subnet"]["SubnetId"]
        for i, zone in enumerate("ab")
    ]


def _only(logical_id: str, props: dict, known: set[str]) -> None:
    extra = set(props) - known
    if extra:
        raise NotImplementedError(f"{logical_id}: properties {sorted(extra)} are not applied by this harness")


def _key(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"Description", "EnableKeyRotation"})
    kms = boto3.client("kms", region_name=REGION)
    key_id = kms.create_key(Description=p.get("Description", ""))["KeyMetadata"]["KeyId"]
    if p.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
    return key_id


def _secret(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"Description", "GenerateSecretString", "KmsKeyId"})
    sm = boto3.client("secretsmanager", region_name=REGION)
    spec = p["GenerateSecretString"]
    password = sm.get_random_password(
        PasswordLength=spec["PasswordLength"], ExcludeCharacters=spec["ExcludeCharacters"])["RandomPassword"]
    value = {**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: password}
    return sm.create_secret(Name=logical_id, Description=p.get("Description", ""), KmsKeyId=p["KmsKeyId"],
                            SecretString=json.dumps(value))["ARN"]


def _cluster_parameters(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"Description", "Family", "Parameters"})
    rds = boto3.client("rds", region_name=REGION)
    name = logical_id.lower()
    rds.create_db_cluster_parameter_group(DBClusterParameterGroupName=name, DBParameterGroupFamily=p["Family"],
                                          Description=p["Description"])
    rds.modify_db_cluster_parameter_group(DBClusterParameterGroupName=name, Parameters=[
        {"ParameterName": k, "ParameterValue": v, "ApplyMethod": "pending-reboot"} for k, v in p["Parameters"].items()])
    return name


_CLUSTER_PROPS = {
    "Engine", "EngineVersion", "Port", "DatabaseName", "MasterUsername", "MasterUserPassword", "StorageEncrypted",
    "KmsKeyId", "EnableIAMDatabaseAuthentication", "BackupRetentionPeriod", "DeletionProtection",
    "EnableCloudwatchLogsExports", "DBClusterParameterGroupName", "CopyTagsToSnapshot", "PreferredBackupWindow",
    "PreferredMaintenanceWindow", "ServerlessV2ScalingConfiguration",
}


def _cluster(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, _CLUSTER_PROPS)
    identifier = logical_id.lower()
    boto3.client("rds", region_name=REGION).create_db_cluster(DBClusterIdentifier=identifier, **p)
    return identifier


def _attachment(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    # What the attachment does: add the connection details to the secret.
    _only(logical_id, p, {"SecretId", "TargetId", "TargetType"})
    sm = boto3.client("secretsmanager", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    cluster = rds.describe_db_clusters(DBClusterIdentifier=p["TargetId"])["DBClusters"][0]
    value = json.loads(sm.get_secret_value(SecretId=p["SecretId"])["SecretString"])
    value.update(host=cluster["Endpoint"], port=cluster["Port"], engine=cluster["Engine"].removeprefix("aurora-"),
                 dbClusterIdentifier=cluster["DBClusterIdentifier"], dbname=cluster["DatabaseName"])
    sm.put_secret_value(SecretId=p["SecretId"], SecretString=json.dumps(value))
    return p["SecretId"]


def _instance(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"AutoMinorVersionUpgrade", "AvailabilityZone", "DBClusterIdentifier", "DBInstanceClass",
                          "EnablePerformanceInsights", "Engine", "MonitoringInterval", "MonitoringRoleArn",
                          "PromotionTier",
                          "PubliclyAccessible"})
    identifier = logical_id.lower()
    boto3.client("rds", region_name=REGION).create_db_instance(DBInstanceIdentifier=identifier, **p)
    return identifier


def _proxy(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"Auth", "DBProxyName", "DebugLogging", "EngineFamily", "RequireTLS", "RoleArn",
                          "VpcSubnetIds"})
    # moto requires Auth, which a proxy with end-to-end IAM authentication leaves out (no stored secret).
    boto3.client("rds", region_name=REGION).create_db_proxy(Auth=p.pop("Auth", []), **p)
    return p["DBProxyName"]


def _scalable_target(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"ServiceNamespace", "ScalableDimension", "ResourceId", "MinCapacity", "MaxCapacity"})
    aas = boto3.client("application-autoscaling", region_name=REGION)
    aas.register_scalable_target(**p)
    return "|".join((p["ResourceId"], p["ScalableDimension"], p["ServiceNamespace"]))


def _scaling_policy(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"PolicyName", "PolicyType", "ScalingTargetId", "TargetTrackingScalingPolicyConfiguration"})
    resource_id, dimension, namespace = p.pop("ScalingTargetId").split("|")
    aas = boto3.client("application-autoscaling", region_name=REGION)
    return aas.put_scaling_policy(ResourceId=resource_id, ScalableDimension=dimension, ServiceNamespace=namespace,
                                  **p)["PolicyARN"]


def _parameter(db: AppliedDatabase, logical_id: str, p: dict) -> str:
    _only(logical_id, p, {"Name", "Type", "Value", "Description", "Tier"})
    boto3.client("ssm", region_name=REGION).put_parameter(**p)
    return p["Name"]


_CREATE = {
    "AWS::KMS::Key": _key,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::RDS::DBClusterParameterGroup": _cluster_parameters,
    "AWS::RDS::DBCluster": _cluster,
    "AWS::SecretsManager::SecretTargetAttachment": _attachment,
    "AWS::RDS::DBInstance": _instance,
    "AWS::RDS::DBProxy": _proxy,
    "AWS::ApplicationAutoScaling::ScalableTarget": _scalable_target,
    "AWS::ApplicationAutoScaling::ScalingPolicy": _scaling_policy,
    "AWS::SSM::Parameter": _parameter,
}
