"""StreamPipeline configurations: on-demand, provisioned, enhanced fan-out, Firehose to S3."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_

from refarch import secure
from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline

CONSUMER_CODE = Path(__file__).resolve().parents[2] / "refarch" / "runtime" / "stream_consumer"
#: A fixed replay start, so the template (and its snapshot) does not change with the clock.
REPLAY_FROM = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)


def _code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(CONSUMER_CODE))


def on_demand(app: cdk.App) -> cdk.Stack:
    """Nothing declared: an on-demand stream, 24 h retention, alarms only."""
    stack = cdk.Stack(app, "StreamingOnDemand")
    pipeline = StreamPipeline(stack, "Events")
    cdk.CfnOutput(stack, "StreamName", value=pipeline.stream.stream_name)
    return stack


def provisioned(app: cdk.App) -> cdk.Stack:
    """Declared workload, one shared-throughput consumer starting at a timestamp."""
    stack = cdk.Stack(app, "StreamingProvisioned")
    alarms = secure.AlarmTopic(stack, "Alarms")
    StreamPipeline(
        stack,
        "Telemetry",
        write_mb_per_s=1.5,
        records_per_s=4200,
        retention=cdk.Duration.days(30),
        max_acceptable_latency=cdk.Duration.minutes(10),
        consumers=[
            LambdaConsumer(
                name="aggregator",
                code=_code(),
                handler="app.handler",
                starting_position=lambda_.StartingPosition.AT_TIMESTAMP,
                starting_timestamp=REPLAY_FROM,
                retry_attempts=10,
                max_record_age=cdk.Duration.hours(6),
                bisect_batch_on_error=False,
            )
        ],
        alarm_topic=alarms.topic,
    )
    return stack


def enhanced_fan_out(app: cdk.App) -> cdk.Stack:
    """Three consumers on a forced-provisioned stream: two through enhanced fan-out
    (one on request, one by default), one opted out to shared throughput."""
    stack = cdk.Stack(app, "StreamingEnhancedFanOut")
    key = secure.encryption_key(stack, "SharedKey", description="shared by several patterns")
    StreamPipeline(
        stack,
        "Orders",
        capacity_mode=kinesis.StreamMode.PROVISIONED,
        write_mb_per_s=2,
        encryption_key=key,
        consumers=[
            LambdaConsumer(name="search-index", code=_code(), handler="app.handler"),
            LambdaConsumer(name="audit", code=_code(), handler="app.handler", enhanced_fan_out=True),
            LambdaConsumer(name="metrics", code=_code(), handler="app.handler", enhanced_fan_out=False),
        ],
    )
    return stack


def many_consumers(app: cdk.App) -> cdk.Stack:
    """Seven enhanced fan-out consumers: registered 5 then 2, the second group after the first is ACTIVE."""
    stack = cdk.Stack(app, "StreamingManyConsumers")
    StreamPipeline(
        stack,
        "Events",
        consumers=[LambdaConsumer(name=f"reader-{i}", code=_code(), handler="app.handler") for i in range(1, 8)],
    )
    return stack


def firehose_to_s3(app: cdk.App) -> cdk.Stack:
    """On-demand stream archived to S3 with custom prefixes, buffering and lifecycle."""
    stack = cdk.Stack(app, "StreamingFirehose")
    StreamPipeline(
        stack,
        "Logs",
        capacity_mode=kinesis.StreamMode.ON_DEMAND,
        delivery=S3Delivery(
            prefix="logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/",
            error_prefix="failed/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/",
            buffering_interval=cdk.Duration.seconds(60),
            buffering_size_mib=16,
            archive_after=cdk.Duration.days(30),
            expire_after=cdk.Duration.days(400),
        ),
    )
    return stack


CASES = {
    "StreamingOnDemand": on_demand,
    "StreamingProvisioned": provisioned,
    "StreamingEnhancedFanOut": enhanced_fan_out,
    "StreamingManyConsumers": many_consumers,
    "StreamingFirehose": firehose_to_s3,
}
