"""The constructs do not depend on the app's feature flags.

A user's older app, or one that copies a pattern module into it, runs with
every feature flag at its legacy default (no ``@aws-cdk/...`` context). Every
app stack and every test case is synthesized once more here, in an app whose
context holds only the committed lookups (``cdk.context.json``), and compared
with the session's synthesis under the recommended flags (``cdk.json``):

* both synthesize;
* the security defaults hold in both (bucket encryption and public-access
  block, TLS-only resource policies, key rotation, log-group retention and
  key, closed default security groups, IMDSv2);
* apart from the flag effects listed in ``_EQUIVALENT`` (same behaviour,
  different spelling), every resource is the same in both: same properties,
  same policy statements. A flag that changes what a construct deploys makes
  this fail; set the relied-upon behaviour explicitly in the construct.

Flags that did change behaviour, now set explicitly (see the constructs):
``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`` (``secure.encrypted_bucket``:
legacy switched the access-logs bucket to the LogDeliveryWrite ACL, which
enforced bucket ownership rejects), ``@aws-cdk/aws-rds:databaseProxyUniqueResourceName``
and ``@aws-cdk/aws-ec2:uniqueImdsv2TemplateName`` (legacy gave the proxy and the
admin host's launch template fixed physical names, so a second stack in the
account and region failed), ``@aws-cdk/aws-rds:setCorrectValueForDatabaseInstanceReadReplicaInstanceResourceId``
(legacy granted ``rds-db:connect`` on the replica's ARN instead of its resource
ID, a grant that names no database user).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import aws_cdk as cdk
import pytest

from stacks import AppConfig, build
from tests.conftest import ALL_STACKS, CASES, CLI_CONTEXT, ROOT, Assembly

#: Only the lookups the explicit environments need; no feature flag at all.
LOOKUPS = json.loads((ROOT / "cdk.context.json").read_text())

_CROSS_STACK = "<cross-stack reference>"
_POLICY_KEYS = {"PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument", "ResourcePolicy"}


@pytest.fixture(scope="module")
def legacy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Stack ID -> template, synthesized with every feature flag at its legacy default."""
    assert not any(key.startswith("@aws-cdk") for key in LOOKUPS), "cdk.context.json must hold lookups only"
    outdir = tmp_path_factory.mktemp("cdk.out.legacy")
    app = cdk.App(context={**LOOKUPS, **CLI_CONTEXT}, outdir=str(outdir))
    stacks = dict(build(app, AppConfig()))
    for name, factory in CASES.items():
        stacks[name] = factory(app)
    app.synth()
    return {name: json.loads((outdir / stack.template_file).read_text()) for name, stack in stacks.items()}


@pytest.fixture(scope="module")
def recommended(assembly: Assembly) -> dict[str, dict]:
    """The session's synthesis: the cdk.json flags, as ``cdk synth`` runs the app."""
    return {name: assembly.template(name) for name in ALL_STACKS}


def test_the_legacy_app_has_no_feature_flags(legacy: dict[str, dict]) -> None:
    recommended_flags = json.loads((ROOT / "cdk.json").read_text())["context"]
    assert len(recommended_flags) > 50 and all(k.startswith("@aws-cdk") for k in recommended_flags)
    assert sorted(legacy) == sorted(ALL_STACKS)


# --- the security defaults, in both contexts ------------------------------------------


def _resources(template: dict, resource_type: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def _statements(document: dict) -> list[dict]:
    statements = document.get("Statement", [])
    return statements if isinstance(statements, list) else [statements]


def _denies_insecure_transport(document: dict) -> bool:
    return any(s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
               for s in _statements(document))


def _security_defaults(templates: dict[str, dict]) -> tuple[list[str], dict[str, int]]:
    """Every breach of a security default, and how many resources of each kind were looked at."""
    breaches: list[str] = []
    seen = dict.fromkeys(["bucket", "key", "log group", "queue", "topic", "vpc", "instance"], 0)
    for stack_id, template in templates.items():
        policies = _resources(template, "AWS::S3::BucketPolicy")
        for logical_id, bucket in _resources(template, "AWS::S3::Bucket").items():
            seen["bucket"] += 1
            props = bucket["Properties"]
            block = props.get("PublicAccessBlockConfiguration", {})
            if not props.get("BucketEncryption"):
                breaches.append(f"{stack_id}/{logical_id}: bucket without default encryption")
            if sorted(block) != ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"] \
                    or not all(block.values()):
                breaches.append(f"{stack_id}/{logical_id}: bucket without the full public access block")
            if "AccessControl" in props:
                breaches.append(f"{stack_id}/{logical_id}: bucket with a canned ACL {props['AccessControl']}")
            if props.get("OwnershipControls", {}).get("Rules") != [{"ObjectOwnership": "BucketOwnerEnforced"}]:
                breaches.append(f"{stack_id}/{logical_id}: bucket without enforced ownership (ACLs disabled)")
            own = [p for p in policies.values() if p["Properties"]["Bucket"] == {"Ref": logical_id}]
            if not any(_denies_insecure_transport(p["Properties"]["PolicyDocument"]) for p in own):
                breaches.append(f"{stack_id}/{logical_id}: bucket policy does not deny plain HTTP")
        for logical_id, key in _resources(template, "AWS::KMS::Key").items():
            seen["key"] += 1
            if key["Properties"].get("EnableKeyRotation") is not True:
                breaches.append(f"{stack_id}/{logical_id}: key without rotation")
        for logical_id, group in _resources(template, "AWS::Logs::LogGroup").items():
            seen["log group"] += 1
            if "RetentionInDays" not in group["Properties"] or "KmsKeyId" not in group["Properties"]:
                breaches.append(f"{stack_id}/{logical_id}: log group without retention or key")
        queue_policies = _resources(template, "AWS::SQS::QueuePolicy").values()
        for logical_id, queue in _resources(template, "AWS::SQS::Queue").items():
            seen["queue"] += 1
            if "KmsMasterKeyId" not in queue["Properties"]:
                breaches.append(f"{stack_id}/{logical_id}: queue without a KMS key")
            if not any({"Ref": logical_id} in p["Properties"]["Queues"]
                       and _denies_insecure_transport(p["Properties"]["PolicyDocument"]) for p in queue_policies):
                breaches.append(f"{stack_id}/{logical_id}: queue policy does not deny plain HTTP")
        for logical_id, topic in _resources(template, "AWS::SNS::Topic").items():
            seen["topic"] += 1
            if "KmsMasterKeyId" not in topic["Properties"]:
                breaches.append(f"{stack_id}/{logical_id}: topic without a KMS key")
        restricted = {json.dumps(r["Properties"].get("DefaultSecurityGroupId"))
                      for r in _resources(template, "Custom::VpcRestrictDefaultSG").values()}
        for logical_id in _resources(template, "AWS::EC2::VPC"):
            seen["vpc"] += 1
            if json.dumps({"Fn::GetAtt": [logical_id, "DefaultSecurityGroup"]}) not in restricted:
                breaches.append(f"{stack_id}/{logical_id}: VPC whose default security group keeps its rules")
        templates_ = _resources(template, "AWS::EC2::LaunchTemplate")
        for logical_id, instance in _resources(template, "AWS::EC2::Instance").items():
            seen["instance"] += 1
            version = instance["Properties"].get("LaunchTemplate", {}).get("Version", {}).get("Fn::GetAtt", [None])[0]
            options = templates_.get(version, {}).get("Properties", {}).get("LaunchTemplateData", {})
            if options.get("MetadataOptions", {}).get("HttpTokens") != "required":
                breaches.append(f"{stack_id}/{logical_id}: instance without IMDSv2 required")
    return breaches, seen


@pytest.mark.parametrize("context", ["recommended", "legacy"])
def test_security_defaults_hold_whatever_the_flags(context: str, request: pytest.FixtureRequest) -> None:
    breaches, seen = _security_defaults(request.getfixturevalue(context))
    assert breaches == [], "\n".join(breaches)
    assert all(seen.values()), f"expected every kind of resource to be checked: {seen}"


# --- the same templates, apart from equivalent spellings --------------------------------


def _list(x):
    return x if isinstance(x, list) else [x]


def _resolve(x):
    """Spell partitions, string joins and cross-stack references one way
    (``@aws-cdk/core:enablePartitionLiterals`` writes ``arn:aws:`` literals;
    ``@aws-cdk/core:defaultCrossStackReferences`` = weak uses Fn::GetStackOutput
    where legacy uses exports, or a custom resource across regions)."""
    if isinstance(x, dict):
        if x == {"Ref": "AWS::Partition"}:
            return "aws"
        if set(x) <= {"Fn::ImportValue", "Fn::GetStackOutput"} and x:
            return _CROSS_STACK
        if set(x) == {"Fn::GetAtt"} and str(x["Fn::GetAtt"][0]).startswith("ExportsReader"):
            return _CROSS_STACK
        if set(x) == {"Fn::Join"} and x["Fn::Join"][0] == "":
            parts: list = []
            for part in (_resolve(p) for p in x["Fn::Join"][1]):
                if isinstance(part, str) and parts and isinstance(parts[-1], str):
                    parts[-1] += part
                else:
                    parts.append(part)
            return parts[0] if len(parts) == 1 and isinstance(parts[0], str) else {"Fn::Join": ["", parts]}
        return {k: _resolve(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_resolve(i) for i in x]
    return x


def _atoms(document: dict) -> list[str]:
    """A policy as its set of (effect, principal, action, resource, condition) grants:
    ``@aws-cdk/aws-iam:minimizePolicies`` merges and sorts statements without changing them."""
    out = set()
    for st in _statements(document):
        principal = st.get("Principal", "*")
        principals = [("*", "*")] if principal == "*" else [
            (kind, json.dumps(v, sort_keys=True)) for kind, values in principal.items() for v in _list(values)]
        for p, a, r in itertools.product(principals, _list(st.get("Action", st.get("NotAction"))),
                                         _list(st.get("Resource", st.get("NotResource")))):
            out.add(json.dumps([st["Effect"], p, a, r, st.get("Condition")], sort_keys=True))
    return sorted(out)


def _policies(x):
    if isinstance(x, dict):
        return {k: _atoms(v) if k in _POLICY_KEYS and isinstance(v, dict) else _policies(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_policies(i) for i in x]
    return x


def _ecs_service(props: dict) -> dict:
    """``@aws-cdk/aws-ecs:disableExplicitDeploymentControllerForCircuitBreaker``,
    ``removeDefaultDeploymentAlarm`` and ``removeEmptyLoadBalancers``: legacy writes
    the defaults out (ECS controller, alarms off, no load balancers)."""
    props = dict(props)
    if props.get("DeploymentController") == {"Type": "ECS"}:
        del props["DeploymentController"]
    config = dict(props.get("DeploymentConfiguration", {}))
    if config.get("Alarms") == {"AlarmNames": [], "Enable": False, "Rollback": False}:
        del config["Alarms"]
        props["DeploymentConfiguration"] = config
    if props.get("LoadBalancers") == []:
        del props["LoadBalancers"]
    return props


#: How one flag's two spellings are made one. Each entry: resource type -> normaliser.
_EQUIVALENT = {"AWS::ECS::Service": _ecs_service}


def _view(template: dict) -> dict[str, dict]:
    view = {}
    for logical_id, resource in template["Resources"].items():
        kind = resource["Type"]
        # The legacy cross-region references' own machinery (the flagged app uses Fn::GetStackOutput).
        if kind in ("AWS::CDK::Metadata", "Custom::CrossRegionExportWriter", "Custom::CrossRegionExportReader") \
                or logical_id.startswith(("CustomCrossRegionExportWriter", "CustomCrossRegionExportReader")):
            continue
        entry = _policies(_resolve({k: v for k, v in resource.items() if k != "Metadata"}))
        entry["Properties"] = _EQUIVALENT.get(kind, lambda p: p)(entry.get("Properties", {}))
        if kind == "AWS::SecretsManager::ResourcePolicy":
            # @aws-cdk/aws-secretsmanager:useAttachedSecretResourcePolicyForSecretTargetAttachments: the same
            # policy on the secret or on its target attachment, whose Ref is the secret's ARN; the logical ID
            # follows. Compare the policies by content.
            entry["Properties"]["SecretId"] = "<the secret>"
            logical_id = f"<secret policy {json.dumps(entry, sort_keys=True)}>"
        view[logical_id] = entry
    return view


@pytest.mark.parametrize("stack_id", ALL_STACKS)
def test_flags_change_no_resource(stack_id: str, legacy: dict[str, dict], recommended: dict[str, dict]) -> None:
    new, old = _view(recommended[stack_id]), _view(legacy[stack_id])
    differences = [f"{k}: only with the recommended flags" for k in sorted(set(new) - set(old))]
    differences += [f"{k}: only with legacy defaults" for k in sorted(set(old) - set(new))]
    for logical_id in sorted(set(new) & set(old)):
        a, b = new[logical_id], old[logical_id]
        for field in sorted(set(a) | set(b)):
            if field == "Properties":
                for prop in sorted(set(a[field]) | set(b[field])):
                    if a[field].get(prop) != b[field].get(prop):
                        differences.append(f"{logical_id}.{prop}:\n  recommended {json.dumps(a[field].get(prop))}"
                                           f"\n  legacy      {json.dumps(b[field].get(prop))}")
            elif a.get(field) != b.get(field):
                differences.append(f"{logical_id}.{field}: {a.get(field)} != {b.get(field)}")
    assert differences == [], (
        f"{stack_id} depends on feature flags; set the behaviour explicitly in the construct:\n"
        + "\n".join(d[:600] for d in differences)
    )
    assert new, f"{stack_id}: nothing compared"


def test_the_comparison_sees_a_flag_dependent_construct(tmp_path: Path) -> None:
    # A construct that leaves a flagged behaviour implicit differs between the contexts: how a bucket
    # admits server access logs follows @aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy (a bucket
    # policy, or the LogDeliveryWrite ACL).
    from aws_cdk import aws_s3 as s3

    def synth(context: dict) -> dict:
        app = cdk.App(context={**context, **CLI_CONTEXT}, outdir=str(tmp_path / str(len(context))))
        stack = cdk.Stack(app, "Implicit")
        s3.Bucket(stack, "Bucket", server_access_logs_bucket=s3.Bucket(stack, "Logs"))
        return app.synth().get_stack_by_name("Implicit").template

    flags = json.loads((ROOT / "cdk.json").read_text())["context"]
    new, old = _view(synth(flags)), _view(synth({}))
    assert new != old
    assert _security_defaults({"Implicit": synth({})})[0], "the legacy bucket should breach a default"
