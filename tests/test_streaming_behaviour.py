"""Behaviour: synthesized streaming templates, deployed into moto, keep and replay records.

What moto proves here: the provisioned stream has the computed shard count and
retention; the consumer function and its Kinesis event source mapping exist as
synthesized (starting position, bisect, retries, record age, on-failure
dead-letter queue); the on-demand stream takes its mode; records put into the
stream read back from TRIM_HORIZON and from a timestamp (AT_TIMESTAMP), in
order per partition key; the replay tool re-reads a time window across all
shards to JSON lines and re-puts it into another stream with the partition
keys kept.

What it cannot: moto's CloudFormation ignores ``StreamEncryption`` and
``StreamModeDetails`` (``tests/moto_streaming.apply_stream_settings`` applies
them through the API, and moto then reports them without encrypting
anything); it does not create ``AWS::Kinesis::StreamConsumer`` or Firehose
delivery streams, does not invoke Lambda from a stream, and enforces no IAM,
key or queue policy and evaluates no alarm. Enhanced fan-out, Firehose
delivery to S3, the on-failure destination receiving a failed batch, and the
alarms firing are asserted on the template and need a real deployment to be
seen working (see docs/streaming.md).
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from refarch.tools import kinesis_replay
from tests.conftest import Assembly
from tests.moto_cfn import ACCOUNT, REGION, DeployedStack, deploy, upload_assets
from tests.moto_streaming import apply_stream_settings

ALLOWED_SKIPS = {
    "AWS::CloudWatch::Alarm": "moto cannot evaluate Kinesis or Lambda metrics; alarm metrics and dimensions are asserted on the template",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies; the TLS-only statement is asserted on the template",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies; the TLS-only statement is asserted on the template",
    "AWS::CloudWatch::Dashboard": "moto does not create dashboards; tests/test_dashboards.py asserts each body on the template",
    "AWS::CDK::Metadata": "version reporting only; no runtime effect",
}
T0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)
RECORDS = 10


class Clock:
    """Stands in for moto's clock, so records arrive a minute apart without sleeping."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now.astimezone(dt.timezone.utc).replace(tzinfo=None)


@pytest.fixture(scope="module")
def deployed(assembly: Assembly) -> Iterator[dict[str, DeployedStack]]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws(), pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_REGION", REGION)
        provisioned = assembly.template("StreamingProvisioned")
        upload_assets(provisioned, assembly.outdir)
        stacks = {
            "provisioned": deploy(provisioned, "StreamingProvisioned", allowed_skips=ALLOWED_SKIPS),
            "on_demand": deploy(assembly.template("StreamingOnDemand"), "StreamingOnDemand", allowed_skips=ALLOWED_SKIPS),
        }
        for stack in stacks.values():
            apply_stream_settings(stack)

        clock = Clock()
        patch.setattr("moto.kinesis.models.utcnow", clock)
        kinesis = boto3.client("kinesis", region_name=REGION)
        for i in range(RECORDS):
            clock.now = T0 + dt.timedelta(minutes=i)
            kinesis.put_record(StreamName=_stream(stacks["provisioned"]), PartitionKey=f"user-{i % 3}",
                               Data=json.dumps({"seq": i}).encode())
        clock.now = T0 + dt.timedelta(hours=1)  # what the replay re-puts arrives later
        yield stacks


def _stream(stack: DeployedStack) -> str:
    [stream] = stack.logical_ids("AWS::Kinesis::Stream")
    return stack.physical_ids[stream]


def _read(stream: str, **position) -> list[tuple[str, int]]:
    """Every record from ``position`` on, across all shards, as (partition key, seq), by arrival."""
    kinesis = boto3.client("kinesis", region_name=REGION)
    found = []
    for shard in kinesis.list_shards(StreamName=stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(StreamName=stream, ShardId=shard["ShardId"], **position)["ShardIterator"]
        records = kinesis.get_records(ShardIterator=iterator)["Records"]
        found += [(r["ApproximateArrivalTimestamp"], r["PartitionKey"], json.loads(r["Data"])["seq"]) for r in records]
    return [(key, seq) for _, key, seq in sorted(found)]


def test_provisioned_stream_is_created_as_synthesized(deployed) -> None:
    stack = deployed["provisioned"]
    [stream_id] = stack.logical_ids("AWS::Kinesis::Stream")
    [key_id] = [k for k in stack.logical_ids("AWS::KMS::Key") if k.startswith("Telemetry")]
    summary = boto3.client("kinesis", region_name=REGION).describe_stream_summary(
        StreamName=_stream(stack))["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == stack.template["Resources"][stream_id]["Properties"]["ShardCount"] == 5
    assert summary["RetentionPeriodHours"] == 30 * 24
    assert summary["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert (summary["EncryptionType"], summary["KeyId"]) == ("KMS", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{stack.physical_ids[key_id]}")


def test_on_demand_stream_takes_its_mode(deployed) -> None:
    summary = boto3.client("kinesis", region_name=REGION).describe_stream_summary(
        StreamName=deployed["on_demand"].outputs["StreamName"])["StreamDescriptionSummary"]
    assert summary["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"}
    assert summary["RetentionPeriodHours"] == 24 and summary["EncryptionType"] == "KMS"


def test_consumer_event_source_is_created_as_synthesized(deployed) -> None:
    stack = deployed["provisioned"]
    lam = boto3.client("lambda", region_name=REGION)
    [function_id] = stack.logical_ids("AWS::Lambda::Function")
    [dlq_id] = stack.logical_ids("AWS::SQS::Queue")
    function = lam.get_function(FunctionName=stack.physical_ids[function_id])["Configuration"]
    assert (function["Handler"], function["Runtime"], function["Timeout"]) == ("app.handler", "python3.14", 60)
    [esm] = lam.list_event_source_mappings(FunctionName=stack.physical_ids[function_id])["EventSourceMappings"]
    stream_arn = boto3.client("kinesis", region_name=REGION).describe_stream_summary(
        StreamName=_stream(stack))["StreamDescriptionSummary"]["StreamARN"]
    dlq_arn = boto3.client("sqs", region_name=REGION).get_queue_attributes(
        QueueUrl=stack.physical_ids[dlq_id], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    assert esm["EventSourceArn"] == stream_arn
    assert esm["StartingPosition"] == "AT_TIMESTAMP"
    assert esm["DestinationConfig"] == {"OnFailure": {"Destination": dlq_arn}}
    assert (esm["BisectBatchOnFunctionError"], esm["MaximumRetryAttempts"], esm["MaximumRecordAgeInSeconds"]) == (False, 10, 21600)
    assert (esm["BatchSize"], esm["ParallelizationFactor"], esm["FunctionResponseTypes"]) == (100, 1, ["ReportBatchItemFailures"])


def test_records_read_back_from_trim_horizon_in_order_per_key(deployed) -> None:
    records = _read(_stream(deployed["provisioned"]), ShardIteratorType="TRIM_HORIZON")
    assert [seq for _, seq in records] == list(range(RECORDS))
    for key in ("user-0", "user-1", "user-2"):
        seqs = [seq for k, seq in records if k == key]
        assert seqs == sorted(seqs) and seqs  # one key, one shard, one order


def test_records_read_back_from_a_timestamp(deployed) -> None:
    records = _read(_stream(deployed["provisioned"]), ShardIteratorType="AT_TIMESTAMP",
                    Timestamp=T0 + dt.timedelta(minutes=5))
    assert [seq for _, seq in records] == [5, 6, 7, 8, 9]


def _replay(*args: str) -> tuple[int, list[dict], str]:
    out, err = io.StringIO(), io.StringIO()
    # The pacing between GetRecords calls is tested in tests/test_streaming_replay.py; here it would only wait.
    code = kinesis_replay.main(list(args), out=out, err=err, sleep=lambda _s: None)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_replay_writes_a_time_window_as_json_lines(deployed) -> None:
    stream = _stream(deployed["provisioned"])
    code, lines, err = _replay("--stream", stream, "--start", (T0 + dt.timedelta(minutes=2)).isoformat(),
                               "--end", (T0 + dt.timedelta(minutes=6)).isoformat())
    assert code == 0 and "4 record(s)" in err
    assert sorted(json.loads(base64.b64decode(line["data"]))["seq"] for line in lines) == [2, 3, 4, 5]
    assert {line["partition_key"] for line in lines} == {"user-0", "user-1", "user-2"}
    shards = {s["ShardId"] for s in boto3.client("kinesis", region_name=REGION).list_shards(StreamName=stream)["Shards"]}
    assert {line["shard_id"] for line in lines} <= shards
    assert all(T0 + dt.timedelta(minutes=2) <= dt.datetime.fromisoformat(line["approximate_arrival_timestamp"])
               < T0 + dt.timedelta(minutes=6) for line in lines)


def test_replay_window_after_the_last_record_is_empty(deployed) -> None:
    code, lines, err = _replay("--stream", _stream(deployed["provisioned"]),
                               "--start", (T0 + dt.timedelta(minutes=30)).isoformat(),
                               "--end", (T0 + dt.timedelta(minutes=40)).isoformat())
    assert (code, lines) == (0, []) and "0 record(s)" in err


def test_replay_re_puts_the_window_into_another_stream_keeping_partition_keys(deployed) -> None:
    source = _stream(deployed["provisioned"])
    target = deployed["on_demand"].outputs["StreamName"]
    code, _, err = _replay("--stream", source, "--start", T0.isoformat(),
                           "--end", (T0 + dt.timedelta(minutes=3)).isoformat(), "--to-stream", target)
    assert code == 0 and f"3 record(s) from {source} put into {target}" in err
    assert sorted(_read(target, ShardIteratorType="TRIM_HORIZON"), key=lambda r: r[1]) == [
        ("user-0", 0), ("user-1", 1), ("user-2", 2)]
