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
