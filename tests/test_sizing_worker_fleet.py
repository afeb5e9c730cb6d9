"""refarch.sizing, worker-fleet section: backlog per worker, workers for a rate, shutdown grace."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from refarch import sizing

processing = st.floats(min_value=0.001, max_value=3600, allow_nan=False)
latency = st.floats(min_value=0.002, max_value=14 * 24 * 3600, allow_nan=False)


def test_aws_worked_example() -> None:
    # AWS's guidance: 10 s acceptable latency / 0.1 s per message = 100 messages per worker.
    assert sizing.backlog_per_worker(10, 0.1) == 100


@pytest.mark.parametrize(
    "latency_s, processing_s, expected",
    [(300, 2, 150), (60, 0.6, 100), (0.3, 0.1, 3), (60, 7, 8), (61, 60, 1), (900, 30, 30), (120, 0.5, 240)],
)
def test_backlog_per_worker_examples(latency_s: float, processing_s: float, expected: int) -> None:
    assert sizing.backlog_per_worker(latency_s, processing_s) == expected


@given(latency, processing)
def test_a_worker_clears_its_backlog_within_the_budget(latency_s: float, processing_s: float) -> None:
    assume(latency_s > processing_s * (1 + 1e-6))
    target = sizing.backlog_per_worker(latency_s, processing_s)
    assert isinstance(target, int) and target >= 1
    # The target's messages are done within the budget; one more would not be.
    assert target * processing_s <= latency_s * (1 + 1e-8)
    assert (target + 1) * processing_s > latency_s * (1 - 1e-8)


@given(latency, processing, st.floats(min_value=1.01, max_value=100))
def test_more_latency_or_faster_work_never_lowers_the_target(latency_s: float, processing_s: float, k: float) -> None:
    assume(latency_s > processing_s * (1 + 1e-6))
    target = sizing.backlog_per_worker(latency_s, processing_s)
    assert sizing.backlog_per_worker(latency_s * k, processing_s) >= target
    assert sizing.backlog_per_worker(latency_s, processing_s / k) >= target


@given(processing, st.floats(min_value=0.0, max_value=1.0))
def test_latency_not_above_processing_time_is_rejected(processing_s: float, fraction: float) -> None:
    assume(processing_s * fraction > 0)
    with pytest.raises(ValueError, match="max_acceptable_latency_s must be greater than avg_processing_time_s"):
        sizing.backlog_per_worker(processing_s * fraction, processing_s)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "10"])
def test_backlog_rejects_non_positive_numbers(bad) -> None:
    with pytest.raises(ValueError, match=re.escape(f"max_acceptable_latency_s must be a positive number (got {bad!r})")):
        sizing.backlog_per_worker(bad, 0.1)
    with pytest.raises(ValueError, match=re.escape(f"avg_processing_time_s must be a positive number (got {bad!r})")):
        sizing.backlog_per_worker(10, bad)


@given(st.floats(min_value=0.001, max_value=1e5), processing)
def test_workers_for_rate_keep_up(rate: float, processing_s: float) -> None:
    workers = sizing.workers_for_rate(rate, processing_s)
    assert workers >= 1
    assert workers / processing_s >= rate * (1 - 1e-9)  # throughput covers arrivals
    if workers > 1:
        assert (workers - 1) / processing_s < rate * (1 + 1e-9)  # and not one worker more than needed


def test_workers_for_rate_rejects_zero_rate() -> None:
    with pytest.raises(ValueError, match=r"arrival_rate_per_s must be a positive number \(got 0\)"):
        sizing.workers_for_rate(0, 1)


@given(st.integers(min_value=25, max_value=120))
def test_shutdown_grace_leaves_the_release_margin(stop_s: int) -> None:
    grace = sizing.worker_shutdown_grace(stop_s)
    assert grace == stop_s - sizing.WORKER_RELEASE_MARGIN_S
    assert grace >= sizing.SQS_MAX_WAIT_TIME_S  # a long poll under way at SIGTERM ends within it


@pytest.mark.parametrize("bad", [24, 121, 0])
def test_shutdown_grace_rejects_stop_timeouts_outside_25_to_120(bad: int) -> None:
    message = "must be a positive number" if bad == 0 else "stop_timeout_s must be 25 to 120 s"
    with pytest.raises(ValueError, match=message):
        sizing.worker_shutdown_grace(bad)


def test_backlog_expression_adds_one_budget_of_arrivals() -> None:
    assert sizing.backlog_per_worker_expression(300) == "(m1 + m3 * 5) / m2"
    assert sizing.backlog_per_worker_expression(60) == "(m1 + m3 * 1) / m2"
    with pytest.raises(ValueError, match="max_acceptable_latency_s"):
        sizing.backlog_per_worker_expression(0)
