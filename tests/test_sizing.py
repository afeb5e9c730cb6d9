"""refarch.sizing: unit and property tests of the workload math."""

from __future__ import annotations

import doctest
import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refarch import sizing

timeouts = st.floats(min_value=0.001, max_value=900, allow_nan=False)
windows = st.floats(min_value=0, max_value=300, allow_nan=False)


def test_doctests() -> None:
    result = doctest.testmod(sizing)
    assert result.attempted > 0 and result.failed == 0


@given(timeouts, windows)
def test_visibility_timeout_covers_six_invocations_and_the_window(timeout: float, window: float) -> None:
    v = sizing.lambda_visibility_timeout(timeout, window)
    assert isinstance(v, int)
    assert v >= 6 * timeout + window
    assert v < 6 * timeout + window + 1  # rounded up, never more than a second


@given(timeouts, windows, st.floats(min_value=0.001, max_value=100))
def test_visibility_timeout_grows_with_the_timeout(timeout: float, window: float, extra: float) -> None:
    assert sizing.lambda_visibility_timeout(timeout + extra, window) >= sizing.lambda_visibility_timeout(timeout, window)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), float("inf"), True, "30"])
def test_visibility_timeout_rejects_bad_timeouts(bad) -> None:
    with pytest.raises(ValueError, match="function_timeout_s must be a positive number"):
        sizing.lambda_visibility_timeout(bad)


def test_visibility_timeout_rejects_negative_window() -> None:
    with pytest.raises(ValueError, match=r"batching_window_s must not be negative \(got -1\)"):
        sizing.lambda_visibility_timeout(30, -1)


def test_visibility_timeout_beyond_sqs_maximum() -> None:
    with pytest.raises(ValueError, match="exceeds the SQS visibility timeout maximum of 43200 s"):
        sizing.lambda_visibility_timeout(7201)


@given(st.floats(min_value=0.001, max_value=14 * 24 * 3600, allow_nan=False))
def test_age_alarm_fires_past_the_latency_budget(latency: float) -> None:
    a = sizing.oldest_message_alarm(latency)
    assert a.threshold_s == math.ceil(latency) and a.threshold_s >= latency
    assert a.period_s == 60  # SQS metric resolution
    assert 1 <= a.datapoints_to_alarm <= a.evaluation_periods


@pytest.mark.parametrize("bad", [0, -5, float("nan")])
def test_age_alarm_rejects_non_positive_latency(bad) -> None:
    with pytest.raises(ValueError, match="max_acceptable_latency_s must be a positive number"):
        sizing.oldest_message_alarm(bad)


value_lists = st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=6)
flat_policies = st.dictionaries(st.text(min_size=1, max_size=8), value_lists, min_size=1, max_size=8)


@given(flat_policies)
def test_filter_complexity_of_flat_policies(policy: dict) -> None:
    c = sizing.filter_policy_complexity(policy)
    assert c.keys == len(policy)
    assert c.combinations == math.prod(len(v) for v in policy.values())


@given(flat_policies, flat_policies)
def test_nesting_counts_leaf_keys_and_multiplies(outer: dict, inner: dict) -> None:
    nested = {**{f"o{k}": v for k, v in outer.items()}, "nested": {f"i{k}": v for k, v in inner.items()}}
    c = sizing.filter_policy_complexity(nested)
    assert c.keys == len(outer) + len(inner)
    assert c.combinations == math.prod(len(v) for v in [*outer.values(), *inner.values()])


@pytest.mark.parametrize(
    "policy, message",
    [
        ({}, "policy must be a non-empty mapping"),
        ({"k": []}, "policy key 'k' has an empty value list"),
        ({"k": {}}, "policy key 'k' has an empty nested policy"),
        ({"k": "v"}, "policy key 'k' must map to a list or a nested policy (got 'v')"),
    ],
)
def test_filter_complexity_rejects_malformed_policies(policy, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sizing.filter_policy_complexity(policy)
