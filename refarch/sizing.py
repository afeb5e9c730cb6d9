"""Workload math for the refarch patterns.

Pure Python with no AWS or CDK import, so every number a pattern derives can
be unit- and property-tested on its own and asserted in the synthesized
template. Each function raises ``ValueError`` naming the argument it rejects.
"""

from __future__ import annotations

import math
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
