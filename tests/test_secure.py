"""The shared building blocks: assertions on their defaults and their validation."""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template

from refarch import secure
from tests.conftest import Assembly, new_app


@pytest.fixture(scope="module")
def shared(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("SharedBuildingBlocks"))


@pytest.fixture(scope="module")
def isolated(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("SharedIsolatedNetwork"))


def test_network_has_three_tiers_in_each_az(shared: Template, isolated: Template) -> None:
    shared.resource_count_is("AWS::EC2::Subnet", 6)
    isolated.resource_count_is("AWS::EC2::Subnet", 6)
    shared.resource_count_is("AWS::EC2::NatGateway", 1)
    isolated.resource_count_is("AWS::EC2::NatGateway", 0)
    for tier in ("Public", "Private", "Isolated"):
        shared.has_resource_properties("AWS::EC2::Subnet", {"Tags": Match.array_with([{"Key": "aws-cdk:subnet-name", "Value": tier}])})


def test_private_tier_routes_through_nat_only_when_there_is_one(assembly: Assembly) -> None:
    def routes(stack: str) -> list[dict]:
        return [r["Properties"] for r in assembly.template(stack)["Resources"].values() if r["Type"] == "AWS::EC2::Route"]
    assert any("NatGatewayId" in r for r in routes("SharedBuildingBlocks"))
    assert not any("NatGatewayId" in r for r in routes("SharedIsolatedNetwork"))


def test_flow_logs_all_traffic_to_encrypted_log_group(shared: Template) -> None:
    shared.has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    shared.has_resource_properties("AWS::Logs::LogGroup", {"KmsKeyId": Match.any_value(), "RetentionInDays": 365})


def test_default_security_group_is_closed(shared: Template) -> None:
    shared.resource_count_is("Custom::VpcRestrictDefaultSG", 1)


def test_gateway_and_interface_endpoints(shared: Template) -> None:
    gateway = shared.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Gateway"}})
    interface = shared.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    assert len(gateway) == 2  # S3 and DynamoDB, always (free)
    assert len(interface) == len(secure.WORKER_ENDPOINTS) + len(secure.SESSION_MANAGER_ENDPOINTS) + 1
    assert all(e["Properties"]["PrivateDnsEnabled"] is True for e in interface.values())


def test_endpoint_security_group_admits_https_from_the_vpc_only(shared: Template) -> None:
    groups = shared.find_resources("AWS::EC2::SecurityGroup")
    [endpoint_group] = [g for g in groups.values() if "Interface endpoints" in g["Properties"]["GroupDescription"]]
    ingress = endpoint_group["Properties"]["SecurityGroupIngress"]
    assert ingress == [{"CidrIp": "10.0.0.0/16", "Description": "HTTPS from the VPC", "FromPort": 443,
                        "IpProtocol": "tcp", "ToPort": 443}]


def test_encrypted_bucket_defaults(assembly: Assembly) -> None:
    resources = assembly.template("SharedBuildingBlocks")["Resources"]
    data = next(r for k, r in resources.items() if k.startswith("Data") and r["Type"] == "AWS::S3::Bucket")
    props = data["Properties"]
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms" and rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True, "BlockPublicPolicy": True, "IgnorePublicAcls": True, "RestrictPublicBuckets": True}
    assert props["LoggingConfiguration"]["LogFilePrefix"] == "Data/"
    assert data["DeletionPolicy"] == "Retain"
    policy = next(r for k, r in resources.items() if k.startswith("DataPolicy"))
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in policy["Properties"]["PolicyDocument"]["Statement"])


def test_access_logs_bucket_uses_sse_s3_and_expires(assembly: Assembly) -> None:
    resources = assembly.template("SharedBuildingBlocks")["Resources"]
    logs = next(r for k, r in resources.items() if k.startswith("AccessLogs") and r["Type"] == "AWS::S3::Bucket")
    [rule] = logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert logs["Properties"]["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


@pytest.mark.parametrize("flags", [True, False], ids=["recommended-flags", "no-flags"])
def test_access_logs_reach_their_bucket_by_policy_whatever_the_flags(flags: bool) -> None:
    # Without @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy, aws-cdk-lib would grant log delivery with
    # the LogDeliveryWrite ACL, which the access-logs bucket's enforced ownership rejects at synth.
    app = new_app() if flags else cdk.App(context={})
    stack = cdk.Stack(app, "Logged")
    logs = secure.access_logs_bucket(stack, "AccessLogs")
    bucket = secure.encrypted_bucket(stack, "Data", key=secure.encryption_key(stack, "Key", description="d"),
                                     access_logs=logs)
    template = Template.from_stack(stack)
    resources = template.to_json()["Resources"]
    logs_id = stack.get_logical_id(logs.node.default_child)
    data_id = stack.get_logical_id(bucket.node.default_child)
    assert "AccessControl" not in resources[logs_id]["Properties"]
    assert resources[logs_id]["Properties"]["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}
    assert resources[data_id]["Properties"]["LoggingConfiguration"] == {
        "DestinationBucketName": {"Ref": logs_id}, "LogFilePrefix": "Data/"}
    [policy] = [r for r in resources.values()
                if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": logs_id}]
    [grant] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"} and grant["Action"] == "s3:PutObject"
    assert grant["Condition"] == {"ArnLike": {"aws:SourceArn": {"Fn::GetAtt": [data_id, "Arn"]}},
                                  "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert "Data/*" in json.dumps(grant["Resource"])


def test_access_logs_from_another_stack_are_scoped_to_the_account() -> None:
    # A condition on the source bucket's ARN would make the two stacks reference each other.
    app = new_app()
    logs = secure.access_logs_bucket(cdk.Stack(app, "Logs"), "AccessLogs")
    other = cdk.Stack(app, "Data")
    secure.encrypted_bucket(other, "Data", key=secure.encryption_key(other, "Key", description="d"), access_logs=logs)
    statements = Template.from_stack(logs.stack).to_json()["Resources"]
    [policy] = [r for r in statements.values() if r["Type"] == "AWS::S3::BucketPolicy"]
    [grant] = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_azs=1), "max_azs must be 2 to 6 (got 1)"),
        (dict(max_azs=7), "max_azs must be 2 to 6 (got 7)"),
        (dict(max_azs=3), "max_azs above 2 needs a stack with an explicit env"),
        (dict(nat_gateways=3), "nat_gateways must be 0 to max_azs (2) (got 3)"),
        (dict(nat_gateways=-1), "nat_gateways must be 0 to max_azs (2) (got -1)"),
        (dict(interface_endpoints=[secure.WORKER_ENDPOINTS[0]] * 2), "interface_endpoints must not name a service twice"),
    ],
)
def test_network_rejects_bad_input(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        secure.Network(cdk.Stack(new_app(), "Bad"), "Network", **kwargs)


def test_require_and_acknowledge_demand_reasons() -> None:
    stack = cdk.Stack(new_app(), "S")
    with pytest.raises(ValueError, match="reason must say why"):
        secure.acknowledge(stack, "AwsSolutions::AwsSolutions-SQS3", " ")
    with pytest.raises(ValueError, match="reason must say why"):
        secure.checkov_skip(cdk.CfnResource(stack, "R", type="AWS::SQS::Queue"), "CKV_AWS_27", "")
    with pytest.raises(ValueError, match="provider_id must name a provider"):
        secure.tolerate_cdk_provider(stack, "Custom::Nope", "does nothing")


def test_network_uses_three_azs_with_an_explicit_env() -> None:
    app = new_app()
    app.node.set_context(  # what a committed cdk.context.json provides, so synth stays offline
        "availability-zones:account=111111111111:region=eu-west-1", ["eu-west-1a", "eu-west-1b", "eu-west-1c"]
    )
    stack = cdk.Stack(app, "Env", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    secure.Network(stack, "Network", max_azs=3)
    Template.from_stack(stack).resource_count_is("AWS::EC2::Subnet", 9)


def test_every_alarm_topic_admits_cloudwatch_alarms_of_this_account() -> None:
    # enforce_ssl writes a topic policy that replaces SNS's default one: without this Allow,
    # CloudWatch's alarm actions are refused ("not authorized to perform: SNS:Publish").
    stack = cdk.Stack(new_app(), "Alarms")
    topic = secure.AlarmTopic(stack, "Alarms")
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::SNS::TopicPolicy", {
        "Topics": [{"Ref": stack.get_logical_id(topic.topic.node.default_child)}],
        "PolicyDocument": {"Statement": Match.array_with([{
            "Sid": "AllowCloudWatchAlarmsToPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": {"Ref": stack.get_logical_id(topic.topic.node.default_child)},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {"aws:SourceArn": {"Fn::Join": ["", [
                    "arn:", {"Ref": "AWS::Partition"}, ":cloudwatch:", {"Ref": "AWS::Region"}, ":",
                    {"Ref": "AWS::AccountId"}, ":alarm:*"]]}},
            },
        }])},
    })


# --- the strict packs' acknowledgments ----------------------------------------------


def _nag_app(tmp_path, *, flags: bool) -> cdk.App:
    from stacks import add_compliance_checks

    app = new_app(outdir=str(tmp_path)) if flags else cdk.App(outdir=str(tmp_path))
    add_compliance_checks(app)
    return app


def _synth_report(app: cdk.App, tmp_path) -> dict:
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
    path = tmp_path / "validation-report.json"
    return json.loads(path.read_text()) if path.exists() else {"pluginReports": []}


@pytest.mark.parametrize("flags", [True, False], ids=["project-flags", "no-feature-flags"])
def test_inline_policies_are_acknowledged_in_scope_grants_after_included_and_written(tmp_path, flags: bool) -> None:
    from aws_cdk import aws_iam as iam
    from aws_cdk import aws_sqs as sqs
    from constructs import Construct

    app = _nag_app(tmp_path, flags=flags)
    stack = cdk.Stack(app, "Grants")
    pattern = Construct(stack, "Pattern")
    secure.acknowledge_inline_policies(pattern)
    inside = iam.Role(pattern, "Inside", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    outside = iam.Role(stack, "Outside", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    queue = sqs.Queue(stack, "Queue", enforce_ssl=True)
    queue.grant_send_messages(inside)  # after the call above: the aspect still sees it
    queue.grant_send_messages(outside)
    report = _synth_report(app, tmp_path)
    strict = [f"{p}::{p}-IAMNoInlinePolicy" for p in secure.STRICT_PACKS]
    open_findings = {(v["ruleName"], c["constructPath"]) for p in report["pluginReports"]
                     for v in p.get("violations", []) for c in v["violatingConstructs"]}
    assert {f for f in open_findings if "IAMNoInlinePolicy" in f[0]} == {
        (f"{p}-IAMNoInlinePolicy", "Grants/Outside/DefaultPolicy/Resource") for p in secure.STRICT_PACKS}
    template = json.loads((tmp_path / "Grants.template.json").read_text())
    [policy] = [r for k, r in template["Resources"].items() if k.startswith("PatternInsideDefaultPolicy")]
    written = {r["id"]: r["reason"] for r in policy["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert set(written) == set(strict) and all("one role" in reason for reason in written.values())


def _pack_rules() -> dict[str, set[str]]:
    """Each strict pack's rule names, read from cdk-nag's own pack sources in its jsii bundle."""
    import tarfile
    from pathlib import Path

    import cdk_nag

    bundle = next((Path(cdk_nag.__file__).parent / "_jsii").glob("cdk-nag@*.jsii.tgz"))
    files = {"NIST.800.53.R5": "nist-800-53-r5.js", "HIPAA.Security": "hipaa-security.js",
             "PCI.DSS.321": "pci-dss-321.js"}
    with tarfile.open(bundle) as tar:
        return {pack: set(re.findall(r"rule: \w+\.(\w+)", tar.extractfile(f"package/lib/packs/{name}").read().decode()))
                for pack, name in files.items()}


def test_strict_rule_packs_name_exactly_the_packs_that_carry_each_rule() -> None:
    rules = _pack_rules()
    assert all(len(r) > 50 for r in rules.values()), "expected each pack's rules"
    for rule, packs in secure.STRICT_RULE_PACKS.items():
        assert set(packs) == {p for p, names in rules.items() if rule in names}, rule
    for source, equivalents in secure._STRICT_PACK_EQUIVALENTS.items():
        for qualified in equivalents:
            pack, rule = qualified.split("::")
            assert rule.removeprefix(f"{pack}-") in rules[pack], f"{source} -> {qualified}: no such rule"


def test_acknowledge_strict_refuses_a_rule_it_does_not_know() -> None:
    with pytest.raises(ValueError, match="rule must be one of"):
        secure.acknowledge_strict(cdk.Stack(), "NoSuchRule", "a reason long enough to be a reason for sure")
