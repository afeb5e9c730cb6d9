"""What the edge behaviour tests add to ``tests/moto_cfn``.

moto's CloudFormation knows neither ACM certificates nor S3 bucket policies,
and cannot run aws-cdk-lib's own custom-resource Lambda. These helpers apply
the first two through the service APIs, from the synthesized template's own
properties, and take out the third (``secure.Network``'s default-security-group
lockdown, which is the Network's behaviour, not the edge pattern's).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3

from tests import moto_cfn

_CDK_PROVIDER_TYPES = {"Custom::VpcRestrictDefaultSG"}
_CDK_PROVIDER_PREFIX = "CustomVpcRestrictDefaultSGCustomResourceProvider"


def without_cdk_providers(template: dict) -> dict:
    """The template without aws-cdk-lib's default-SG custom resource and its provider function and role."""
    patched = json.loads(json.dumps(template))
    for logical_id in [k for k, r in patched["Resources"].items()
                       if r["Type"] in _CDK_PROVIDER_TYPES or k.startswith(_CDK_PROVIDER_PREFIX)]:
        del patched["Resources"][logical_id]
    return patched


def with_hosted_zone(template: dict, template_zone_id: str, zone_id: str) -> dict:
    """Point the records at the hosted zone moto created (its ID is generated)."""
    return json.loads(json.dumps(template).replace(template_zone_id, zone_id))


def apply_certificates(template: dict) -> tuple[dict, dict[str, str]]:
    """Request every ACM certificate of the template through the ACM API, with
    its own domain names and validation method, and put the ARN where the
    template refers to it. Returns the template and logical id -> ARN."""
    acm = boto3.client("acm", region_name=moto_cfn.REGION)
    patched = json.loads(json.dumps(template))
    arns = {}
    for logical_id, resource in list(patched["Resources"].items()):
        if resource["Type"] != "AWS::CertificateManager::Certificate":
            continue
        props = resource["Properties"]
        unknown = set(props) - {"DomainName", "SubjectAlternativeNames", "ValidationMethod",
                                "DomainValidationOptions", "Tags"}
        if unknown:
            raise NotImplementedError(f"{logical_id}: certificate properties {sorted(unknown)} are not applied")
        arns[logical_id] = acm.request_certificate(
            DomainName=props["DomainName"],
            SubjectAlternativeNames=props.get("SubjectAlternativeNames", []),
            ValidationMethod=props["ValidationMethod"],
            DomainValidationOptions=[
                {"DomainName": o["DomainName"], "ValidationDomain": props["DomainName"]}
                for o in props.get("DomainValidationOptions", [])
            ],
        )["CertificateArn"]
        del patched["Resources"][logical_id]
        patched = json.loads(json.dumps(patched).replace(json.dumps({"Ref": logical_id}), json.dumps(arns[logical_id])))
    return patched, arns


class EdgeStack(moto_cfn.DeployedStack):
    """A deployed stack that also resolves the S3 attributes bucket policies use."""

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        if (self.template["Resources"][logical_id]["Type"], attribute) == ("AWS::S3::Bucket", "Arn"):
            return f"arn:aws:s3:::{self._ref(logical_id)}"
        return super()._get_att(logical_id, attribute)


def apply_bucket_policies(stack: moto_cfn.DeployedStack) -> dict[str, dict]:
    """Put every AWS::S3::BucketPolicy of the template through the S3 API.

    Returns bucket name -> the policy S3 now holds."""
    edge = EdgeStack(**{k: getattr(stack, k) for k in ("name", "template", "physical_ids", "outputs", "skipped")})
    s3 = boto3.client("s3", region_name=moto_cfn.REGION)
    applied = {}
    for logical_id in edge.logical_ids("AWS::S3::BucketPolicy"):
        props = edge.resolve(edge.template["Resources"][logical_id]["Properties"])
        s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(props["PolicyDocument"]))
        applied[props["Bucket"]] = json.loads(s3.get_bucket_policy(Bucket=props["Bucket"])["Policy"])
    return applied


_RESOLVE = "{{resolve:secretsmanager:"


def apply_secrets(template: dict) -> tuple[dict, dict[str, str]]:
    """Create every AWS::Secrets Manager secret of the template through the Secrets
    Manager API (its generated string as the template specifies it), then replace
    each ``{{resolve:secretsmanager:<arn>:SecretString:<key>::}}`` dynamic reference
    with the value read back through GetSecretValue, as CloudFormation does when it
    resolves a stack. Returns the template and logical id -> ARN.

    Not applied, asserted on the template instead: ``KmsKeyId`` (moto does not
    encrypt) and ``ReplicaRegions`` (one region here); the replicas' ARN outputs,
    which only other regions' stacks read, are dropped."""
    sm = boto3.client("secretsmanager", region_name=moto_cfn.REGION)
    patched = json.loads(json.dumps(template))
    arns = {}
    for logical_id, resource in list(patched["Resources"].items()):
        if resource["Type"] != "AWS::SecretsManager::Secret":
            continue
        props = resource["Properties"]
        unknown = set(props) - {"Description", "GenerateSecretString", "KmsKeyId", "ReplicaRegions"}
        if unknown:
            raise NotImplementedError(f"{logical_id}: secret properties {sorted(unknown)} are not applied")
        spec = props["GenerateSecretString"]
        value = sm.get_random_password(
            PasswordLength=spec["PasswordLength"], ExcludePunctuation=spec.get("ExcludePunctuation", False),
            IncludeSpace=spec.get("IncludeSpace", True))["RandomPassword"]
        string = json.dumps({**json.loads(spec["SecretStringTemplate"]), spec["GenerateStringKey"]: value})
        arns[logical_id] = sm.create_secret(Name=f"{logical_id}-{uuid.uuid4().hex[:8]}", Description=props.get("Description", ""),
                                            SecretString=string)["ARN"]
        del patched["Resources"][logical_id]
    patched["Outputs"] = {k: v for k, v in patched.get("Outputs", {}).items()
                          if not any(json.dumps({"Ref": i}) in json.dumps(v) for i in arns)}

    def resolve(node: Any) -> Any:
        if isinstance(node, dict) and set(node) == {"Fn::Join"} and node["Fn::Join"][0] == "":
            parts = node["Fn::Join"][1]
            if len(parts) == 3 and parts[0] == _RESOLVE and parts[1] in [{"Ref": i} for i in arns]:
                arn = arns[parts[1]["Ref"]]
                _, _, key, stage, version = parts[2].removesuffix("}}").split(":")
                kwargs = {"VersionId": version} if version else {"VersionStage": stage} if stage else {}
                return json.loads(sm.get_secret_value(SecretId=arn, **kwargs)["SecretString"])[key]
        if isinstance(node, dict):
            return {k: resolve(v) for k, v in node.items()}
        if isinstance(node, list):
            return [resolve(v) for v in node]
        return node

    patched = resolve(patched)
    unresolved = [i for i in arns if json.dumps({"Ref": i}) in json.dumps(patched)]
    if unresolved:
        raise NotImplementedError(f"references to {unresolved} other than dynamic references are not applied")
    return patched, arns
