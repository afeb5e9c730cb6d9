"""What moto's CloudFormation leaves out for the streaming pattern, applied from the template.

moto creates an ``AWS::Kinesis::Stream`` from ``ShardCount`` and
``RetentionPeriodHours`` only: it ignores ``StreamEncryption`` and
``StreamModeDetails``. ``apply_stream_settings`` passes those two properties,
as synthesized, to the Kinesis API, so the behaviour tests read the stream the
template describes.
"""

from __future__ import annotations

import boto3

from tests.moto_cfn import REGION, DeployedStack


def apply_stream_settings(stack: DeployedStack) -> dict[str, str]:
    """Apply each stream's ``StreamEncryption`` and ``StreamModeDetails`` through
    the Kinesis API; returns logical id -> stream name. A property this helper
    does not know fails loudly instead of being ignored."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    known = {"ShardCount", "RetentionPeriodHours", "StreamEncryption", "StreamModeDetails", "Tags"}
    names = {}
    for logical_id in stack.logical_ids("AWS::Kinesis::Stream"):
        props = stack.resolve(stack.template["Resources"][logical_id].get("Properties", {}))
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
