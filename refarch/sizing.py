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
    period_s: int
    evaluation_periods: int
    datapoints_to_alarm: int


def oldest_message_alarm(max_acceptable_latency_s: float) -> AgeAlarm:
    """Derive the age-of-oldest-message alarm from a declared latency budget.

    The alarm fires when the oldest message has waited longer than the budget,
    seen on 2 of 3 one-minute datapoints (SQS publishes once a minute; one
    late datapoint is not an incident, two of three is).

    >>> oldest_message_alarm(300)
    AgeAlarm(threshold_s=300, period_s=60, evaluation_periods=3, datapoints_to_alarm=2)
    """
    _positive("max_acceptable_latency_s", max_acceptable_latency_s)
    if max_acceptable_latency_s < SQS_METRIC_PERIOD_S:
        raise ValueError(
            f"max_acceptable_latency_s must be at least {SQS_METRIC_PERIOD_S} s, the resolution "
            f"of SQS metrics (got {max_acceptable_latency_s!r})"
        )
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
    keys: int
    combinations: int


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
