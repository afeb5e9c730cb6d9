"""Every bad StreamPipeline input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import datetime as dt
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_

from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline
from tests.conftest import new_app

CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")


def _c(name: str = "a", **kwargs) -> LambdaConsumer:
    return LambdaConsumer(name=name, code=CODE, handler="index.handler", **kwargs)


def _d(**kwargs) -> S3Delivery:
    return S3Delivery(**kwargs)


H = cdk.Duration.hours
S = cdk.Duration.seconds

CASES = {
    # retention and latency
    "retention below 24 h": (dict(retention=H(23)), "retention must be whole hours from 24 to 8760 (365 days) (got '23 h')"),
    "retention above 365 days": (dict(retention=cdk.Duration.days(366)), "(got '8784 h')"),
    "retention in part hours": (dict(retention=cdk.Duration.minutes(24 * 60 + 30)), "(got '24.5 h')"),
    "latency below a minute": (dict(max_acceptable_latency=S(30)),
                               "max_acceptable_latency must be at least 60 s (the metrics' resolution) and shorter "
                               "than retention (86400 s) (got '30 s')"),
    "latency beyond retention": (dict(max_acceptable_latency=H(24)), "max_acceptable_latency must be at least 60 s"),
    # workload
    "zero write throughput": (dict(write_mb_per_s=0), "write_mb_per_s must be a positive number (got 0)"),
    "negative write throughput": (dict(write_mb_per_s=-1), "write_mb_per_s must be a positive number (got -1)"),
    "zero records": (dict(records_per_s=0), "records_per_s must be a positive number (got 0)"),
    "negative read throughput": (dict(write_mb_per_s=1, read_mb_per_s=-2), "read_mb_per_s must be a positive number (got -2)"),
    "read rate without a workload": (dict(read_mb_per_s=1), "read_mb_per_s needs write_mb_per_s or records_per_s"),
    "provisioned without a workload": (dict(capacity_mode=kinesis.StreamMode.PROVISIONED),
                                       "capacity_mode 'PROVISIONED' needs write_mb_per_s or records_per_s to size the shards"),
    "on-demand above its quota": (dict(capacity_mode=kinesis.StreamMode.ON_DEMAND, write_mb_per_s=250),
                                  "write_mb_per_s exceeds the default on-demand stream quota of 200 (got 250)"),
    "shards above the quota": (dict(write_mb_per_s=30, shard_quota=20),
                               "shards needed (30) exceed the account shard quota of 20; request an increase and pass "
                               "shard_quota (got 20)"),
    "shard quota zero": (dict(shard_quota=0), "shard_quota must be a whole number of at least 1 (got 0)"),
    "negative other readers": (dict(other_shared_readers=-1), "other_shared_readers must be a whole number of at least 0 (got -1)"),
    "too many shared readers": (dict(other_shared_readers=6),
                                "consumers with delivery and other_shared_readers must leave at most 5 readers polling "
                                "each shard (it serves 5 GetRecords calls a second); give consumers enhanced fan-out "
                                "(got '6 shared-throughput readers')"),
    "shared consumers beyond GetRecords rate": (
        dict(enhanced_fan_out=False, delivery=_d(), consumers=[_c(n) for n in "abcde"]),
        "(got '6 shared-throughput readers')"),
    "capacity mode as a string": (dict(capacity_mode="PROVISIONED"),
                                  "capacity_mode must be a kinesis.StreamMode or None (got 'PROVISIONED')"),
    # consumers
    "more than 20 enhanced fan-out consumers": (
        dict(consumers=[_c(f"c{i}") for i in range(21)]),
        "consumers must have at most 20 enhanced fan-out consumers (the per-stream limit) (got '21 enhanced fan-out consumers')"),
    "name with upper case": (dict(consumers=[_c("Billing")]), "consumers[].name must be lower-case letters"),
    "name too long": (dict(consumers=[_c("a" * 41)]), "at most 40 characters"),
    "duplicate names": (dict(consumers=[_c("a"), _c("a")]), "consumers[].name must be unique (got 'a')"),
    "colliding construct IDs": (dict(consumers=[_c("a-1b"), _c("a1b")]),
                                "must not collide with another consumer's construct ID 'A1b' (got 'a1b')"),
    "timeout above 15 minutes": (dict(consumers=[_c(timeout=cdk.Duration.minutes(16))]),
                                 "consumers[a].timeout must be 1 s to 15 minutes (got '960 s')"),
    "memory too small": (dict(consumers=[_c(memory_size=64)]), "consumers[a].memory_size must be 128 to 10240 MiB (got 64)"),
    "no handler": (dict(consumers=[LambdaConsumer(name="a", code=CODE, handler="")]), "consumers[a].handler must name the handler"),
    "reserved concurrency zero": (dict(consumers=[_c(reserved_concurrency=0)]),
                                  "consumers[a].reserved_concurrency must be at least 1 (0 would stop the consumer"),
    "batch size zero": (dict(consumers=[_c(batch_size=0)]), "consumers[a].batch_size must be 1 to 10000 (got 0)"),
    "batch size above 10,000": (dict(consumers=[_c(batch_size=10_001)]), "(got 10001)"),
    "batching window above 300 s": (dict(consumers=[_c(max_batching_window=S(301))]),
                                    "consumers[a].max_batching_window must be 0 to 300 s (got '301 s')"),
    "retries forever": (dict(consumers=[_c(retry_attempts=-1)]),
                        "consumers[a].retry_attempts must be 0 to 10000 (retrying forever would block the shard) (got -1)"),
    "retries above 10,000": (dict(consumers=[_c(retry_attempts=10_001)]), "(got 10001)"),
    "record age below a minute": (dict(consumers=[_c(max_record_age=S(59))]),
                                  "consumers[a].max_record_age must be 60 s to 7 days (got '59 s')"),
    "record age above 7 days": (dict(retention=cdk.Duration.days(30), consumers=[_c(max_record_age=cdk.Duration.days(8))]),
                                "consumers[a].max_record_age must be 60 s to 7 days (got '691200 s')"),
    "record age beyond retention": (dict(consumers=[_c(max_record_age=H(24))]),
                                    "consumers[a].max_record_age must be shorter than the stream's retention (86400 s)"),
    "parallelization zero": (dict(consumers=[_c(parallelization_factor=0)]),
                             "consumers[a].parallelization_factor must be 1 to 10 (got 0)"),
    "parallelization above 10": (dict(consumers=[_c(parallelization_factor=11)]), "(got 11)"),
    "AT_TIMESTAMP without a time": (dict(consumers=[_c(starting_position=lambda_.StartingPosition.AT_TIMESTAMP)]),
                                    "consumers[a].starting_timestamp is required with, and only with, starting_position "
                                    "AT_TIMESTAMP (got None)"),
    "a time without AT_TIMESTAMP": (dict(consumers=[_c(starting_timestamp=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))]),
                                    "consumers[a].starting_timestamp is required with, and only with"),
    "naive starting time": (dict(consumers=[_c(starting_position=lambda_.StartingPosition.AT_TIMESTAMP,
                                               starting_timestamp=dt.datetime(2026, 1, 1))]),
                            "consumers[a].starting_timestamp must be timezone-aware"),
    # delivery
    "buffering interval above 900 s": (dict(delivery=_d(buffering_interval=S(901))),
                                       "delivery.buffering_interval must be 0 to 900 s (got '901 s')"),
    "buffer size zero": (dict(delivery=_d(buffering_size_mib=0)), "delivery.buffering_size_mib must be 1 to 128 MiB (got 0)"),
    "buffer size above 128": (dict(delivery=_d(buffering_size_mib=129)), "(got 129)"),
    "empty prefix": (dict(delivery=_d(prefix="")), "delivery.prefix must be a non-empty key prefix ending in '/' (got '')"),
    "prefix without slash": (dict(delivery=_d(prefix="data")), "(got 'data')"),
    "error prefix without error type": (dict(delivery=_d(error_prefix="errors/")),
                                        "delivery.error_prefix must contain !{firehose:error-output-type}"),
    "error prefix inside the data prefix": (
        dict(delivery=_d(prefix="data/", error_prefix="data/errors/!{firehose:error-output-type}/")),
        "delivery.error_prefix must not overlap the data prefix 'data/'"),
    "archive after part of a day": (dict(delivery=_d(archive_after=H(12))),
                                    "delivery.archive_after must be whole days, at least 1 (got '0.5 days')"),
    "expiry before archive": (dict(delivery=_d(archive_after=cdk.Duration.days(90), expire_after=cdk.Duration.days(30))),
                              "delivery.expire_after must be later than archive_after (90 days) (got '30 days')"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_with_its_prop_and_value(case: str) -> None:
    kwargs, message = CASES[case]
    stack = cdk.Stack(new_app(), "Bad")
    with pytest.raises(ValueError, match=re.escape(message)):
        StreamPipeline(stack, "P", **kwargs)
    assert stack.node.try_find_child("P") is None or not stack.node.find_child("P").node.children, (
        "validation must run before anything is created")


def test_twenty_enhanced_fan_out_consumers_are_allowed() -> None:
    stack = cdk.Stack(new_app(), "Ok")
    p = StreamPipeline(stack, "P", consumers=[_c(f"c{i}") for i in range(20)])
    assert sum(1 for c in p.consumers.values() if c.stream_consumer) == 20


def test_opted_out_consumers_do_not_count_towards_the_20() -> None:
    stack = cdk.Stack(new_app(), "Ok")
    consumers = [_c(f"c{i}") for i in range(20)] + [_c("shared", enhanced_fan_out=False)]
    p = StreamPipeline(stack, "P", consumers=consumers)
    assert p.consumers["shared"].stream_consumer is None and p.capacity.mode == "ON_DEMAND"
