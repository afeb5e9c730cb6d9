"""Deploy a synthesized template into moto's CloudFormation, honestly.

moto's CloudFormation creates what it knows and *silently skips* other types.
``deploy`` compares what was created with the template and fails on any
skipped type unless the caller lists it with a reason, and it can apply some
skipped types itself through the service APIs (``apply_subscriptions``), from
the template's own properties, so behaviour tests exercise what was
synthesized rather than a hand-written copy.
"""

from __future__ import annotations

import abc
import io
import json
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"
ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


class SkippedResourceError(AssertionError):
    pass


class TemplateResolver(abc.ABC):
    """Resolves the intrinsic functions a CDK template uses, as CloudFormation
    would, against what a harness created. Subclasses say where the physical
    IDs are (``_physical_ids``), the stack's name and the attributes they know
    (``_get_att``); what they cannot resolve fails loudly."""

    template: dict
    skipped: dict[str, str]

    @abc.abstractmethod
    def _physical_ids(self) -> Mapping[str, str]: ...

    @abc.abstractmethod
    def _stack_name(self) -> str: ...

    def logical_ids(self, resource_type: str) -> list[str]:
        return [k for k, r in self.template["Resources"].items() if r["Type"] == resource_type]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if isinstance(value, str):
            return self._resolve_string(value)
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (fn, arg), = value.items()
            if fn == "Ref":
                return self._ref(arg)
            if fn == "Fn::GetAtt":
                return self._get_att(*arg)
            if fn == "Fn::Join":
                sep, parts = arg
                return self._resolve_string(sep.join(str(self.resolve(p)) for p in parts))
            if fn == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if fn == "Fn::GetAZs":
                zones = boto3.client("ec2", region_name=REGION).describe_availability_zones()["AvailabilityZones"]
                return [z["ZoneName"] for z in zones]
            if fn in ("Fn::GetStackOutput", "Fn::ImportValue"):
                return self._cross_stack(arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _resolve_string(self, value: str) -> str:
        return value

    def _ref(self, name: str) -> str:
        pseudo = {"AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::Partition": "aws",
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": self._stack_name()}
        if name in pseudo:
            return pseudo[name]
        physical = self._physical_ids()
        if name not in physical:
            raise KeyError(f"Ref {name}: not created in moto (skipped: {self.skipped.get(name)})")
        return physical[name]

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.template["Resources"][logical_id]["Type"]
        if (resource_type, attribute) == ("AWS::KMS::Key", "Arn"):
            # Built as AWS builds it: moto's DescribeKey fails on keys its CloudFormation
            # created (it re-parses the stored policy, a dict, as a JSON string).
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{self._ref(logical_id)}"
        raise NotImplementedError(f"Fn::GetAtt {resource_type}.{attribute} is not resolved by this harness")

    def _cross_stack(self, arg: Any) -> Any:
        raise NotImplementedError(f"cross-stack reference {arg} is not resolved by this harness")


@dataclass
class DeployedStack(TemplateResolver):
    name: str
    template: dict
    physical_ids: dict[str, str]
    outputs: dict[str, str]
    skipped: dict[str, str] = field(default_factory=dict)  # logical id -> type

    def _physical_ids(self) -> Mapping[str, str]:
        return self.physical_ids

    def _stack_name(self) -> str:
        return self.name

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource_type = self.template["Resources"][logical_id]["Type"]
        if (resource_type, attribute) == ("AWS::SQS::Queue", "Arn"):
            attrs = boto3.client("sqs", region_name=REGION).get_queue_attributes(
                QueueUrl=self._ref(logical_id), AttributeNames=["QueueArn"]
            )
            return attrs["Attributes"]["QueueArn"]
        if (resource_type, attribute) == ("AWS::SNS::Topic", "TopicArn"):
            return self._ref(logical_id)
        return super()._get_att(logical_id, attribute)


def deploy(template: Mapping, stack_name: str, *, allowed_skips: Mapping[str, str]) -> DeployedStack:
    """Create ``template`` as a moto CloudFormation stack; call inside ``mock_aws``.

    ``allowed_skips`` maps each resource type moto may skip to the reason the
    test can live with it. Any other skipped type fails the deployment.
    """
    for resource_type, reason in allowed_skips.items():
        if not reason.strip():
            raise ValueError(f"allowed_skips[{resource_type!r}] needs a reason")
    if "BootstrapVersion" in template.get("Parameters", {}):
        boto3.client("ssm", region_name=REGION).put_parameter(
            Name=BOOTSTRAP_VERSION_PARAMETER, Value="30", Type="String", Overwrite=True
        )
    cfn = boto3.client("cloudformation", region_name=REGION)
    body = json.dumps(_without_dashboards(_name_fifo_resources(template), allowed_skips))
    cfn.create_stack(StackName=stack_name, TemplateBody=body, Capabilities=["CAPABILITY_IAM"])
    stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise AssertionError(f"{stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason')}")

    summaries = cfn.list_stack_resources(StackName=stack_name)["StackResourceSummaries"]
    created = {s["LogicalResourceId"]: s for s in summaries if s.get("ResourceType")}
    physical = {k: s["PhysicalResourceId"] for k, s in created.items()}
    skipped = {k: r["Type"] for k, r in template["Resources"].items() if k not in created}
    unexpected = sorted({t for t in skipped.values() if t not in allowed_skips})
    if unexpected:
        raise SkippedResourceError(
            f"moto's CloudFormation skipped {unexpected}; apply them in the harness or list them "
            "in allowed_skips with the reason the test still proves what it claims"
        )
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(name=stack_name, template=dict(template), physical_ids=physical, outputs=outputs, skipped=skipped)


def upload_assets(template: Mapping, outdir: Path) -> list[str]:
    """Zip each Lambda function's asset directory from the cloud assembly into
    the bootstrap bucket, under the key the template names, so moto can create
    the functions (and their event source mappings). Returns the keys."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ASSETS_BUCKET)
    keys = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function" or "S3Key" not in resource["Properties"].get("Code", {}):
            continue
        key = resource["Properties"]["Code"]["S3Key"]
        source = outdir / f"asset.{key.removesuffix('.zip')}"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for path in sorted(source.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(source).as_posix())
        s3.put_object(Bucket=ASSETS_BUCKET, Key=key, Body=buffer.getvalue())
        keys.append(key)
    return keys


def _without_dashboards(template: dict, allowed_skips: Mapping[str, str]) -> dict:
    """moto does not create dashboards, and its CloudFormation rejects a template whose dashboard body
    reads an alarm's ``Arn`` (it does not model that attribute). When the caller allows skipping
    dashboards, leave them, and the outputs naming them, out of what moto sees; they are reported as
    skipped like any other."""
    if "AWS::CloudWatch::Dashboard" not in allowed_skips:
        return template
    dropped = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Dashboard"}
    resources = {k: r for k, r in template["Resources"].items() if k not in dropped}
    outputs = {k: o for k, o in template.get("Outputs", {}).items()
               if not any(f'"{d}"' in json.dumps(o) for d in dropped)}
    return {**template, "Resources": resources, **({"Outputs": outputs} if "Outputs" in template else {})}


def _name_fifo_resources(template: Mapping) -> dict:
    """moto's one deviation we paper over: CloudFormation names an unnamed FIFO
    queue or topic with the required ``.fifo`` suffix; moto rejects it. Give
    such resources a name; nothing else in the template changes."""
    patched = json.loads(json.dumps(template))
    fifo_flags = {"AWS::SQS::Queue": ("FifoQueue", "QueueName"), "AWS::SNS::Topic": ("FifoTopic", "TopicName")}
    for logical_id, resource in patched["Resources"].items():
        flag_name = fifo_flags.get(resource["Type"])
        props = resource.get("Properties", {})
        if flag_name and props.get(flag_name[0]) is True and flag_name[1] not in props:
            props[flag_name[1]] = f"{logical_id}.fifo"
    return patched


def apply_subscriptions(stack: DeployedStack) -> dict[str, str]:
    """Create every AWS::SNS::Subscription of the template through the SNS API.

    Returns logical id -> subscription ARN. Every property the template sets
    is passed on; a property this harness does not know fails loudly.
    """
    sns = boto3.client("sns", region_name=REGION)
    attribute_props = {"RawMessageDelivery", "FilterPolicy", "FilterPolicyScope", "RedrivePolicy", "DeliveryPolicy"}
    arns = {}
    for logical_id in stack.logical_ids("AWS::SNS::Subscription"):
        props = stack.resolve(stack.template["Resources"][logical_id]["Properties"])
        unknown = set(props) - attribute_props - {"TopicArn", "Protocol", "Endpoint"}
        if unknown:
            raise NotImplementedError(f"{logical_id}: subscription properties {sorted(unknown)} are not applied")
        attributes = {name: _attribute(props[name]) for name in attribute_props & set(props)}
        response = sns.subscribe(
            TopicArn=props["TopicArn"], Protocol=props["Protocol"], Endpoint=props["Endpoint"],
            Attributes=attributes, ReturnSubscriptionArn=True,
        )
        arns[logical_id] = response["SubscriptionArn"]
    return arns


def _attribute(value: Any) -> str:
    """SNS takes every subscription attribute as a string."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)
