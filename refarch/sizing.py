"""Workload math for the refarch patterns.

Pure Python with no AWS or CDK import, so every number a pattern derives can
be unit- and property-tested on its own and asserted in the synthesized
template. Each function raises ``ValueError`` naming the argument it rejects.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# --- SQS -------------------------------------------------------------------

SQS_MIN_RETENTION_S = 60
SQS_MAX_RETENTION_S = 14 * 24 * 3600
SQS_MAX_VISIBILITY_TIMEOUT_S = 12 * 3600
SQS_MAX_RECEIVE_COUNT = 1000
#: The largest batch a FIFO queue hands to Lambda.
SQS_FIFO_MAX_BATCH = 10
SQS_STANDARD_MAX_BATCH = 10_000
#: SQS metrics arrive once a minute, so an alarm period below that sees gaps.
SQS_METRIC_PERIOD_S = 60

# AWS's guidance for Lambda consumers of SQS: the queue's visibility timeout is
# at least six times the function timeout, plus the batching window, so that a
# throttled or retried invocation does not make the batch visible again while
# it is still being processed.
LAMBDA_VISIBILITY_FACTOR = 6
LAMBDA_MAX_TIMEOUT_S = 900
#: SQS event sources scale between 2 and 1000 concurrent invocations.
LAMBDA_SQS_MIN_CONCURRENCY = 2
LAMBDA_SQS_MAX_CONCURRENCY = 1000
LAMBDA_MAX_BATCHING_WINDOW_S = 300


def _positive(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number (got {value!r})")


def lambda_visibility_timeout(function_timeout_s: float, batching_window_s: float = 0) -> int:
    """Smallest visibility timeout (seconds) for a queue consumed by Lambda.

    ``6 x function timeout + batching window``, rounded up to whole seconds.

    >>> lambda_visibility_timeout(30)
    180
    >>> lambda_visibility_timeout(30, batching_window_s=5)
    185
    """
    _positive("function_timeout_s", function_timeout_s)
    if batching_window_s < 0:
        raise ValueError(f"batching_window_s must not be negative (got {batching_window_s!r})")
    needed = math.ceil(LAMBDA_VISIBILITY_FACTOR * function_timeout_s + batching_window_s)
    if needed > SQS_MAX_VISIBILITY_TIMEOUT_S:
        raise ValueError(
            f"function_timeout_s: 6 x {function_timeout_s} s + {batching_window_s} s = {needed} s "
            f"exceeds the SQS visibility timeout maximum of {SQS_MAX_VISIBILITY_TIMEOUT_S} s"
        )
    return needed


@dataclass(frozen=True)
class AgeAlarm:
    """Thresholds for an ``ApproximateAgeOfOldestMessage`` alarm."""

    threshold_s: int
    """Alarm when the oldest message is older than this many seconds."""
    period_s: int
    """Seconds per datapoint."""
    evaluation_periods: int
    """Datapoints looked at."""
    datapoints_to_alarm: int
    """Of those, how many must breach."""


def oldest_message_alarm(max_acceptable_latency_s: float) -> AgeAlarm:
    """Derive the age-of-oldest-message alarm from a declared latency budget.

    The alarm fires when the oldest message has waited longer than the budget,
    seen on 2 of 3 one-minute datapoints (SQS publishes once a minute; one
    late datapoint is not an incident, two of three is). The budget itself
    may be shorter than the period: each datapoint is an age in seconds.

    >>> oldest_message_alarm(10).threshold_s
    10

    >>> oldest_message_alarm(300)
    AgeAlarm(threshold_s=300, period_s=60, evaluation_periods=3, datapoints_to_alarm=2)
    """
    _positive("max_acceptable_latency_s", max_acceptable_latency_s)
    return AgeAlarm(
        threshold_s=math.ceil(max_acceptable_latency_s),
        period_s=SQS_METRIC_PERIOD_S,
        evaluation_periods=3,
        datapoints_to_alarm=2,
    )


# --- SNS filter policies ---------------------------------------------------

SNS_FILTER_MAX_KEYS = 5
SNS_FILTER_MAX_COMBINATIONS = 150


@dataclass(frozen=True)
class FilterComplexity:
    """The size of an SNS filter policy, against SNS's limits (5 keys, 150 combinations)."""

    keys: int
    """Keys (for a nested message-body policy, the leaf keys)."""
    combinations: int
    """The product of the sizes of the value arrays."""


def filter_policy_complexity(policy: Mapping[str, Any]) -> FilterComplexity:
    """Count keys and value combinations of an SNS filter policy.

    SNS allows at most 5 keys (for a nested message-body policy, the leaf
    keys) and 150 combinations, the product of the sizes of the value arrays.

    >>> filter_policy_complexity({"type": ["a", "b"], "region": ["eu", "us", "ap"]})
    FilterComplexity(keys=2, combinations=6)
    >>> filter_policy_complexity({"order": {"status": ["paid"], "total": [{"numeric": [">", 100]}]}})
    FilterComplexity(keys=2, combinations=1)
    """
    if not isinstance(policy, Mapping) or not policy:
        raise ValueError(f"policy must be a non-empty mapping (got {policy!r})")
    keys = 0
    combinations = 1
    stack: list[Mapping[str, Any]] = [policy]
    while stack:
        node = stack.pop()
        for key, value in node.items():
            if isinstance(value, Mapping):
                if not value:
                    raise ValueError(f"policy key {key!r} has an empty nested policy")
                stack.append(value)
            elif isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
                if not value:
                    raise ValueError(f"policy key {key!r} has an empty value list")
                keys += 1
                combinations *= len(value)
            else:
                raise ValueError(f"policy key {key!r} must map to a list or a nested policy (got {value!r})")
    return FilterComplexity(keys=keys, combinations=combinations)


# --- SQS worker fleets (backlog per worker) ----------------------------------

#: The longest an SQS ReceiveMessage call long-polls.
SQS_MAX_WAIT_TIME_S = 20
#: The most messages one ReceiveMessage call returns.
SQS_MAX_RECEIVE_BATCH = 10
#: Fargate allows at most 120 s between SIGTERM and SIGKILL.
FARGATE_MAX_STOP_TIMEOUT_S = 120
#: What a stopping worker keeps back from the stop timeout to hand the
#: messages it still holds back to the queue (one ChangeMessageVisibilityBatch).
WORKER_RELEASE_MARGIN_S = 5


def backlog_per_worker(max_acceptable_latency_s: float, avg_processing_time_s: float) -> int:
    """How many visible messages one worker may have waiting for it.

    A worker that takes ``avg_processing_time_s`` per message clears a backlog
    of ``latency / processing time`` messages within the latency budget, so
    that is the target of "backlog per worker" scaling (AWS's example:
    10 s / 0.1 s = 100). Rounded down: rounding up would let the last message
    wait past the budget.

    >>> backlog_per_worker(10, 0.1)
    100
    >>> backlog_per_worker(300, 2)
    150
    >>> backlog_per_worker(60, 7)
    8
    """
    _positive("max_acceptable_latency_s", max_acceptable_latency_s)
    _positive("avg_processing_time_s", avg_processing_time_s)
    if max_acceptable_latency_s <= avg_processing_time_s:
        raise ValueError(
            f"max_acceptable_latency_s must be greater than avg_processing_time_s ({avg_processing_time_s!r}): "
            f"a message cannot wait less than it takes to process (got {max_acceptable_latency_s!r})"
        )
    # Round the quotient to nanoseconds first, so that 0.3 / 0.1 counts as 3, not 2.999...
    return math.floor(round(max_acceptable_latency_s / avg_processing_time_s, 9))


def backlog_per_worker_expression(max_acceptable_latency_s: float) -> str:
    """The metric math the worker fleet's target tracking keeps at :func:`backlog_per_worker`.

    ``m1`` is ApproximateNumberOfMessagesVisible, ``m2`` RunningTaskCount and ``m3``
    NumberOfMessagesSent in the last minute. A worker must finish, within the next budget, the
    messages waiting now *and* those that arrive meanwhile: ``m1 + m3 x budget / 60``. Divided by
    the workers and held at ``budget / processing time``, it sizes the fleet at
    ``backlog x p / budget + arrival rate x p``: Little's law for the arrivals plus what clears the
    backlog within the budget. On ``m1 / m2`` alone a fleet that keeps up sees a backlog of 0
    and is cut to its minimum, and one that lags scales only once the backlog itself is a budget
    long (issue 16's simulator: 2-8 % of messages late on a ramp).

    >>> backlog_per_worker_expression(300)
    '(m1 + m3 * 5) / m2'
    >>> backlog_per_worker_expression(10)
    '(m1 + m3 * 0.166667) / m2'
    """
    _positive("max_acceptable_latency_s", max_acceptable_latency_s)
    return f"(m1 + m3 * {round(max_acceptable_latency_s / SQS_METRIC_PERIOD_S, 6):g}) / m2"


#: The worker fleet's step scale-in beside target tracking: after this many one-minute datapoints of
#: the backlog metric below 90 % of the target (target tracking waits 15), remove a percentage of the
#: capacity by how far below: (below this fraction of the target, this percentage). Each step keeps at
#: least the fraction of the capacity that the metric's fraction calls for, so it never removes more
#: than target tracking's proportional scale-in would.
SCALE_IN_DATAPOINTS = 5
SCALE_IN_STEPS = ((0.25, 75), (0.5, 50), (0.75, 25), (0.9, 10))


def workers_for_rate(arrival_rate_per_s: float, avg_processing_time_s: float) -> int:
    """Workers needed to keep up with a steady arrival rate (Little's law).

    A guide for ``max_workers``: below this the backlog grows without bound.

    >>> workers_for_rate(50, 0.1)
    5
    >>> workers_for_rate(3, 0.5)
    2
    """
    _positive("arrival_rate_per_s", arrival_rate_per_s)
    _positive("avg_processing_time_s", avg_processing_time_s)
    return max(1, math.ceil(round(arrival_rate_per_s * avg_processing_time_s, 9)))


def worker_shutdown_grace(stop_timeout_s: float) -> int:
    """Seconds a worker may spend on the message in hand after SIGTERM.

    ECS sends SIGTERM, waits the container's stop timeout, then SIGKILL. The
    worker finishes (or, past the grace, releases) what it holds and keeps
    ``WORKER_RELEASE_MARGIN_S`` to release the rest. The stop timeout must
    also outlast a long poll that was under way when SIGTERM came, so that
    what it returns can be released.

    >>> worker_shutdown_grace(30)
    25
    """
    _positive("stop_timeout_s", stop_timeout_s)
    low = SQS_MAX_WAIT_TIME_S + WORKER_RELEASE_MARGIN_S
    if not low <= stop_timeout_s <= FARGATE_MAX_STOP_TIMEOUT_S:
        raise ValueError(
            f"stop_timeout_s must be {low} to {FARGATE_MAX_STOP_TIMEOUT_S} s: a {SQS_MAX_WAIT_TIME_S} s long poll "
            f"plus {WORKER_RELEASE_MARGIN_S} s to release held messages, within Fargate's maximum "
            f"(got {stop_timeout_s!r})"
        )
    return math.floor(stop_timeout_s) - WORKER_RELEASE_MARGIN_S


# --- Kinesis Data Streams ----------------------------------------------------

#: What one provisioned shard takes in: 1 MB/s or 1,000 records/s, whichever comes first.
KINESIS_SHARD_WRITE_MB_S = 1
KINESIS_SHARD_WRITE_RECORDS_S = 1000
#: What one shard gives out: 2 MB/s shared by every GetRecords (shared-throughput) reader,
#: and 2 MB/s more to each enhanced fan-out consumer of its own.
KINESIS_SHARD_READ_MB_S = 2
#: GetRecords calls per shard per second, shared by all shared-throughput readers;
#: Lambda and Firehose each poll every shard about once a second.
KINESIS_SHARD_READ_TPS = 5
KINESIS_MAX_EFO_CONSUMERS = 20
#: RegisterStreamConsumer: at most 5 consumers of a stream may be CREATING at once.
KINESIS_MAX_CONSUMERS_CREATING = 5
KINESIS_MIN_RETENTION_H = 24
KINESIS_MAX_RETENTION_H = 8760
#: The smallest default account shard quota (500 in us-east-1, us-west-2 and
#: eu-west-1, 200 in every other region).
KINESIS_DEFAULT_SHARD_QUOTA = 200
#: Default per-stream write quota of an on-demand stream.
KINESIS_ON_DEMAND_MAX_WRITE_MB_S = 200
KINESIS_ON_DEMAND_MAX_RECORDS_S = 200_000
#: Lambda's Kinesis event source limits.
LAMBDA_KINESIS_MAX_BATCH = 10_000
LAMBDA_KINESIS_MAX_PARALLELIZATION = 10
LAMBDA_KINESIS_MAX_RETRY_ATTEMPTS = 10_000
LAMBDA_KINESIS_MIN_RECORD_AGE_S = 60
LAMBDA_KINESIS_MAX_RECORD_AGE_S = 7 * 24 * 3600
#: Firehose buffering limits for an S3 destination.
FIREHOSE_MIN_BUFFER_S, FIREHOSE_MAX_BUFFER_S = 0, 900
FIREHOSE_MIN_BUFFER_MIB, FIREHOSE_MAX_BUFFER_MIB = 1, 128

ON_DEMAND = "ON_DEMAND"
PROVISIONED = "PROVISIONED"


def _not_negative(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must not be negative (got {value!r})")


def kinesis_shards(write_mb_per_s: float, records_per_s: float = 0, shared_read_mb_per_s: float = 0) -> int:
    """Provisioned shards for a workload: the largest of what writes in bytes,
    writes in records and shared-throughput reads each need, at least one.

    ``shared_read_mb_per_s`` is the sum over every GetRecords reader (each
    usually reads the whole stream, so it is the write rate times their
    number); enhanced fan-out consumers have throughput of their own and add
    nothing.

    >>> kinesis_shards(3.5, 2500)
    4
    >>> kinesis_shards(1, 6000)
    6
    >>> kinesis_shards(3, 100, shared_read_mb_per_s=9)
    5
    """
    for name, value in (("write_mb_per_s", write_mb_per_s), ("records_per_s", records_per_s),
                        ("shared_read_mb_per_s", shared_read_mb_per_s)):
        _not_negative(name, value)
    return max(
        math.ceil(write_mb_per_s / KINESIS_SHARD_WRITE_MB_S),
        math.ceil(records_per_s / KINESIS_SHARD_WRITE_RECORDS_S),
        math.ceil(shared_read_mb_per_s / KINESIS_SHARD_READ_MB_S),
        1,
    )


@dataclass(frozen=True)
class StreamCapacity:
    """How a stream is provisioned: ``mode`` is ``ON_DEMAND`` or ``PROVISIONED``;
    ``shards`` is set for provisioned streams only; ``reason`` says why."""

    mode: str
    """``ON_DEMAND`` or ``PROVISIONED``."""
    shards: int | None
    """The shard count of a provisioned stream; None on demand."""
    reason: str
    """Why this mode and count."""


def stream_capacity(
    *,
    write_mb_per_s: float | None = None,
    records_per_s: float | None = None,
    read_mb_per_s: float | None = None,
    shared_consumers: int = 0,
    capacity_mode: str | None = None,
    shard_quota: int = KINESIS_DEFAULT_SHARD_QUOTA,
) -> StreamCapacity:
    """Choose on-demand or provisioned capacity and size it.

    * Workload not declared (no ``write_mb_per_s`` and no ``records_per_s``):
      on-demand, which follows the traffic (up to twice the previous peak
      within 15 minutes) and needs no numbers.
    * Workload declared: provisioned, sized by :func:`kinesis_shards`. A shard
      hour costs a fraction of the same traffic billed per GB on demand, and a
      provisioned stream does not throttle a first burst that on-demand has not
      yet scaled to.
    * ``capacity_mode`` forces a choice; provisioned then needs the workload.

    ``read_mb_per_s`` is what each shared-throughput consumer reads (default:
    the whole stream, ``write_mb_per_s``); ``shared_consumers`` counts them
    (Lambda without enhanced fan-out, Firehose, other GetRecords readers), at
    most 5 because a shard serves 5 GetRecords calls a second. Provisioned
    shards must fit the account's ``shard_quota``; declared rates must fit an
    on-demand stream's default quota when on-demand is forced.

    >>> stream_capacity()
    StreamCapacity(mode='ON_DEMAND', shards=None, reason='workload not declared: on-demand follows the traffic')
    >>> stream_capacity(write_mb_per_s=3, records_per_s=2500, shared_consumers=2).shards
    3
    >>> stream_capacity(write_mb_per_s=3, records_per_s=2500, shared_consumers=3).shards
    5
    """
    mode = capacity_mode
    if mode not in (None, ON_DEMAND, PROVISIONED):
        raise ValueError(f"capacity_mode must be {ON_DEMAND!r}, {PROVISIONED!r} or None (got {mode!r})")
    if isinstance(shared_consumers, bool) or not isinstance(shared_consumers, int) or not (
        0 <= shared_consumers <= KINESIS_SHARD_READ_TPS
    ):
        raise ValueError(
            f"shared_consumers must be 0 to {KINESIS_SHARD_READ_TPS}: a shard serves {KINESIS_SHARD_READ_TPS} "
            f"GetRecords calls a second to all of them together; use enhanced fan-out (got {shared_consumers!r})"
        )
    if isinstance(shard_quota, bool) or not isinstance(shard_quota, int) or shard_quota < 1:
        raise ValueError(f"shard_quota must be a whole number of at least 1 (got {shard_quota!r})")
    for name, value in (("write_mb_per_s", write_mb_per_s), ("records_per_s", records_per_s),
                        ("read_mb_per_s", read_mb_per_s)):
        if value is not None:
            _positive(name, value)
    declared = write_mb_per_s is not None or records_per_s is not None
    if read_mb_per_s is not None and not declared:
        raise ValueError(f"read_mb_per_s needs write_mb_per_s or records_per_s to size against (got {read_mb_per_s!r})")

    if mode == ON_DEMAND or (mode is None and not declared):
        for name, value, limit in (("write_mb_per_s", write_mb_per_s, KINESIS_ON_DEMAND_MAX_WRITE_MB_S),
                                   ("records_per_s", records_per_s, KINESIS_ON_DEMAND_MAX_RECORDS_S)):
            if value is not None and value > limit:
                raise ValueError(
                    f"{name} exceeds the default on-demand stream quota of {limit} (got {value!r}); "
                    "choose provisioned capacity or raise the quota first"
                )
        reason = "on-demand requested" if mode == ON_DEMAND else "workload not declared: on-demand follows the traffic"
        return StreamCapacity(mode=ON_DEMAND, shards=None, reason=reason)

    if not declared:
        raise ValueError("capacity_mode 'PROVISIONED' needs write_mb_per_s or records_per_s to size the shards (got None)")
    per_consumer = read_mb_per_s if read_mb_per_s is not None else (write_mb_per_s or 0)
    shards = kinesis_shards(write_mb_per_s or 0, records_per_s or 0, per_consumer * shared_consumers)
    if shards > shard_quota:
        raise ValueError(
            f"shards needed ({shards}) exceed the account shard quota of {shard_quota}; request an increase "
            f"and pass shard_quota (got {shard_quota!r})"
        )
    return StreamCapacity(mode=PROVISIONED, shards=shards,
                          reason=f"workload declared: {shards} shard(s) for writes and shared-throughput reads")


def use_enhanced_fan_out(consumers: int, requested: bool | None = None) -> bool:
    """Enhanced fan-out gives each consumer 2 MB/s per shard of its own and
    push delivery (about 70 ms instead of about 200 ms with polling). Used
    automatically when two or more consumers would otherwise share a shard's
    read throughput; ``requested`` (True or False) overrides.

    >>> use_enhanced_fan_out(1), use_enhanced_fan_out(2), use_enhanced_fan_out(1, True)
    (False, True, True)
    """
    if isinstance(consumers, bool) or not isinstance(consumers, int) or consumers < 0:
        raise ValueError(f"consumers must be a whole number of at least 0 (got {consumers!r})")
    return consumers >= 2 if requested is None else bool(requested)


def firehose_freshness_threshold_s(buffering_interval_s: float) -> int:
    """Seconds of ``DeliveryToS3.DataFreshness`` past which delivery is late:
    a full buffering interval is normal, so allow it plus 15 minutes.

    >>> firehose_freshness_threshold_s(300)
    1200
    """
    low, high = FIREHOSE_MIN_BUFFER_S, FIREHOSE_MAX_BUFFER_S
    if isinstance(buffering_interval_s, bool) or not (low <= buffering_interval_s <= high):
        raise ValueError(f"buffering_interval_s must be {low} to {high} s (got {buffering_interval_s!r})")
    return math.ceil(buffering_interval_s) + 900


# --- relational databases (Aurora and RDS) ---------------------------------

#: Aurora clusters take at most 15 readers; RDS for MySQL and PostgreSQL at most 15 read replicas.
AURORA_MAX_READERS = 15
RDS_MAX_READ_REPLICAS = 15
#: Automated backups are kept 1 to 35 days; refarch's floor is 7 (a week of point-in-time recovery).
BACKUP_MAX_DAYS = 35
BACKUP_FLOOR_DAYS = 7
#: One Aurora Capacity Unit is about 2 GiB of memory; Serverless v2 runs 0.5 to 256 ACU in 0.5 steps.
ACU_MEMORY_GIB = 2
SERVERLESS_V2_MIN_ACU = 0.5
SERVERLESS_V2_MAX_ACU = 256

_GIB = 1024**3
# Nominal memory per vCPU of the instance families relational databases run on.
_GIB_PER_VCPU = {"r": 8, "m": 4, "x": 16}
# Burstable classes do not follow a per-vCPU rule.
_BURSTABLE_GIB = {"micro": 1, "small": 2, "medium": 4, "large": 8, "xlarge": 16, "2xlarge": 32}
_CLASS = re.compile(r"^(?:db\.)?([a-z]+)(\d+)([a-z-]*)\.([0-9]*x?large|medium|small|micro)$")


def instance_memory_gib(instance_class: str) -> float:
    """Nominal memory of a database instance class, from its family and size.

    Memory-optimised (``r``) classes have 8 GiB per vCPU, general-purpose
    (``m``) 4, ``x`` 16; ``large`` is 2 vCPU, ``xlarge`` 4, ``Nxlarge`` 4N.
    Burstable (``t``) classes follow their own table.

    >>> instance_memory_gib("db.r7g.large")
    16
    >>> instance_memory_gib("r6g.4xlarge")
    128
    >>> instance_memory_gib("t4g.medium")
    4
    """
    match = _CLASS.match(instance_class) if isinstance(instance_class, str) else None
    if not match:
        raise ValueError(f"instance_class must look like 'r7g.large' or 'db.r7g.large' (got {instance_class!r})")
    family, _, _, size = match.groups()
    if family == "t":
        if size not in _BURSTABLE_GIB:
            raise ValueError(f"instance_class has an unknown burstable size (got {instance_class!r})")
        return _BURSTABLE_GIB[size]
    if family not in _GIB_PER_VCPU or not size.endswith("large"):
        raise ValueError(
            f"instance_class must be of the r, m, x or t families with a large or Nxlarge size (got {instance_class!r})"
        )
    multiple = size[: -len("xlarge")] if size.endswith("xlarge") else ""
    vcpus = 2 if size == "large" else 4 * (int(multiple) if multiple else 1)
    return vcpus * _GIB_PER_VCPU[family]


def serverless_v2_memory_gib(max_acu: float) -> float:
    """Memory of a Serverless v2 instance at its maximum capacity (2 GiB per ACU).

    >>> serverless_v2_memory_gib(16)
    32
    """
    _positive("max_acu", max_acu)
    return max_acu * ACU_MEMORY_GIB


def max_connections(engine: str, memory_gib: float, *, aurora: bool = True) -> int:
    """The engine's default ``max_connections`` for an instance with ``memory_gib`` of memory.

    * PostgreSQL (Aurora and RDS): ``LEAST(memory / 9531392, 5000)``;
    * Aurora MySQL: ``GREATEST(log2(memory / 805306368) * 45, log2(memory / 8187281408) * 1000)``,
      at most 16000;
    * RDS for MySQL: ``memory / 12582880``, at most 100000.

    RDS evaluates these on ``DBInstanceClassMemory``, a little less than the
    nominal memory used here, so the result is a slight overestimate.

    >>> max_connections("postgresql", 16)
    1802
    >>> max_connections("mysql", 16)
    1069
    """
    _positive("memory_gib", memory_gib)
    memory = memory_gib * _GIB
    if engine == "postgresql":
        return max(1, min(math.floor(memory / 9531392), 5000))
    if engine == "mysql":
        if aurora:
            value = max(math.log2(memory / 805306368) * 45, math.log2(memory / 8187281408) * 1000)
            return max(1, min(math.floor(value), 16000))
        return max(1, min(math.floor(memory / 12582880), 100000))
    raise ValueError(f"engine must be 'postgresql' or 'mysql' (got {engine!r})")


@dataclass(frozen=True)
class DatabaseAlarmThresholds:
    """Alarm thresholds for one database instance (or one role of a cluster)."""

    max_connections: int
    """The engine's default ``max_connections`` for the instance's memory."""
    connections: int
    """Alarm above this many connections: 80 % of ``max_connections``."""
    freeable_memory_bytes: int
    """Alarm below this much freeable memory: 10 % of the instance memory."""
    free_local_storage_bytes: int
    """Aurora only: alarm below this much local (temporary) storage: a fifth of
    the memory, i.e. 10 % of the local storage of memory-optimised classes,
    which carry about twice their memory."""


def database_alarm_thresholds(engine: str, memory_gib: float, *, aurora: bool = True) -> DatabaseAlarmThresholds:
    """Derive connection, memory and local-storage alarm thresholds from the instance memory.

    >>> t = database_alarm_thresholds("postgresql", 16)
    >>> t.max_connections, t.connections, t.freeable_memory_bytes, t.free_local_storage_bytes
    (1802, 1441, 1717986918, 3435973836)
    """
    limit = max_connections(engine, memory_gib, aurora=aurora)
    memory = memory_gib * _GIB
    return DatabaseAlarmThresholds(
        max_connections=limit,
        connections=max(1, math.floor(limit * 0.8)),
        freeable_memory_bytes=math.floor(memory * 0.1),
        free_local_storage_bytes=math.floor(memory * 0.2),
    )


#: RDS storage autoscaling adds storage once free space stays at or below 10 % of the allocation.
RDS_AUTOSCALING_FREE_FRACTION = 0.10


def rds_free_storage_alarm_bytes(allocated_storage_gib: int) -> int:
    """Free-storage alarm threshold of an RDS instance with storage autoscaling.

    Autoscaling keeps free space above about 10 % of the *current*
    allocation, which only grows; CloudWatch has no metric of that
    allocation. Half of the autoscaling trigger on the *initial* allocation
    is therefore never crossed while autoscaling works, and is crossed when
    it cannot keep up (at most one increase per six hours) or has reached
    ``max_allocated_storage``. (10 % of the maximum instead would sit above
    the whole initial allocation and alarm from the first day.)

    >>> rds_free_storage_alarm_bytes(100) == 5 * 1024**3
    True
    """
    _positive("allocated_storage_gib", allocated_storage_gib)
    return math.floor(allocated_storage_gib * _GIB * RDS_AUTOSCALING_FREE_FRACTION / 2)


def instance_vcpus(instance_class: str) -> int:
    """vCPUs of a database instance class (``large`` is 2, ``xlarge`` 4, ``Nxlarge`` 4N;
    burstable ``micro`` to ``large`` 2), e.g. for RDS Proxy, which is billed per vCPU
    of the instances behind it.

    >>> instance_vcpus("db.r7g.large"), instance_vcpus("r6g.4xlarge"), instance_vcpus("db.t4g.medium")
    (2, 16, 2)
    """
    instance_memory_gib(instance_class)  # validates the class
    size = _CLASS.match(instance_class).group(4)
    if size in ("micro", "small", "medium", "large"):
        return 2
    multiple = size[: -len("xlarge")]
    return 4 * (int(multiple) if multiple else 1)
