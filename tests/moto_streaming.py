"""What moto's CloudFormation leaves out for the streaming pattern, applied from the template.

moto creates an ``AWS::Kinesis::Stream`` from ``ShardCount`` and
``RetentionPeriodHours`` only: it ignores ``StreamEncryption`` and
``StreamModeDetails``. ``apply_stream_settings`` passes those two properties,
as synthesized, to the Kinesis API, so the behaviour tests read the stream the
template describes. ``upload_assets`` puts each Lambda asset where the
template says it is (the CDK bootstrap bucket), so moto can create the
functions and their event source mappings.

Kept beside ``tests/moto_cfn.py`` rather than in it (that file is shared).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import boto3

from tests.moto_cfn import ACCOUNT, REGION, DeployedStack

ASSETS_BUCKET = f"cdk-hnb659fds-assets-{ACCOUNT}-{REGION}"


def upload_assets(template: dict, outdir: Path) -> list[str]:
    """Zip each Lambda function's asset directory from the cloud assembly into
    the bootstrap bucket, under the key the template names. Returns the keys."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=ASSETS_BUCKET)
    keys = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Lambda::Function":
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


def key_arn(stack: DeployedStack, value: object) -> object:
    """Resolve ``Fn::GetAtt [<key>, Arn]`` without moto's DescribeKey, which fails
    on keys its CloudFormation created (it re-validates the stored policy, a
    dict, as a JSON string). The ARN is built from the key ID as AWS builds it."""
    if isinstance(value, dict) and list(value) == ["Fn::GetAtt"] and value["Fn::GetAtt"][1] == "Arn":
        logical_id = value["Fn::GetAtt"][0]
        if stack.template["Resources"][logical_id]["Type"] == "AWS::KMS::Key":
            return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{stack.physical_ids[logical_id]}"
    return value


def apply_stream_settings(stack: DeployedStack) -> dict[str, str]:
    """Apply each stream's ``StreamEncryption`` and ``StreamModeDetails`` through
    the Kinesis API; returns logical id -> stream name. A property this helper
    does not know fails loudly instead of being ignored."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    known = {"ShardCount", "RetentionPeriodHours", "StreamEncryption", "StreamModeDetails", "Tags"}
    names = {}
    for logical_id in stack.logical_ids("AWS::Kinesis::Stream"):
        props = dict(stack.template["Resources"][logical_id].get("Properties", {}))
        if "StreamEncryption" in props:
            encryption = props["StreamEncryption"]
            props["StreamEncryption"] = {**encryption, "KeyId": key_arn(stack, encryption["KeyId"])}
        props = stack.resolve(props)
        unknown = set(props) - known
        if unknown:
            raise NotImplementedError(f"{logical_id}: stream properties {sorted(unknown)} are not applied")
        name = stack.physical_ids[logical_id]
        arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
        if "StreamEncryption" in props:
            encryption = props["StreamEncryption"]
            kinesis.start_stream_encryption(
                StreamName=name, EncryptionType=encryption["EncryptionType"], KeyId=encryption["KeyId"]
            )
        if "StreamModeDetails" in props:
            kinesis.update_stream_mode(StreamARN=arn, StreamModeDetails=props["StreamModeDetails"])
        names[logical_id] = name
    return names
