"""refarch.sizing, Kinesis section: shard math, capacity mode, enhanced fan-out, Firehose freshness."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refarch import sizing

mb = st.floats(min_value=0.001, max_value=500, allow_nan=False)
records = st.floats(min_value=0.001, max_value=500_000, allow_nan=False)
readers = st.integers(min_value=0, max_value=sizing.KINESIS_SHARD_READ_TPS)


@given(mb, records, st.floats(min_value=0, max_value=2000, allow_nan=False))
def test_shards_cover_every_limit_and_no_more(write: float, rps: float, shared_read: float) -> None:
    shards = sizing.kinesis_shards(write, rps, shared_read)
    assert shards >= 1
    assert shards * sizing.KINESIS_SHARD_WRITE_MB_S >= write
    assert shards * sizing.KINESIS_SHARD_WRITE_RECORDS_S >= rps
    assert shards * sizing.KINESIS_SHARD_READ_MB_S >= shared_read
    # One shard fewer would break at least one limit: the count is the minimum.
    fewer = shards - 1
    assert fewer == 0 or (
        fewer * sizing.KINESIS_SHARD_WRITE_MB_S < write
        or fewer * sizing.KINESIS_SHARD_WRITE_RECORDS_S < rps
        or fewer * sizing.KINESIS_SHARD_READ_MB_S < shared_read
    )


@given(mb, records, mb, records)
def test_shards_grow_with_the_workload(write: float, rps: float, more_write: float, more_rps: float) -> None:
    assert sizing.kinesis_shards(write + more_write, rps + more_rps) >= sizing.kinesis_shards(write, rps)


def test_worked_example_from_the_docs() -> None:
    # 3 MB/s, 2,500 records/s, Firehose the only shared reader: max(3, 3, 2) = 3.
    assert sizing.stream_capacity(write_mb_per_s=3, records_per_s=2500, shared_consumers=1).shards == 3
    # Three Lambda consumers without enhanced fan-out read 3 x 3 MB/s: ⌈9 ÷ 2⌉ = 5 shards.
    assert sizing.stream_capacity(write_mb_per_s=3, records_per_s=2500, shared_consumers=3).shards == 5


@given(mb, records, readers)
def test_declared_workload_is_provisioned_and_sized_by_kinesis_shards(write: float, rps: float, n: int) -> None:
    capacity = sizing.stream_capacity(write_mb_per_s=write, records_per_s=rps, shared_consumers=n, shard_quota=10**6)
    assert capacity.mode == sizing.PROVISIONED
    assert capacity.shards == sizing.kinesis_shards(write, rps, write * n)


@given(mb, records, st.floats(min_value=0.001, max_value=100), readers)
def test_read_rate_per_consumer_replaces_the_write_rate(write: float, rps: float, read: float, n: int) -> None:
    capacity = sizing.stream_capacity(write_mb_per_s=write, records_per_s=rps, read_mb_per_s=read,
                                      shared_consumers=n, shard_quota=10**6)
    assert capacity.shards == sizing.kinesis_shards(write, rps, read * n)


@given(readers)
def test_undeclared_workload_is_on_demand(n: int) -> None:
    capacity = sizing.stream_capacity(shared_consumers=n)
    assert (capacity.mode, capacity.shards) == (sizing.ON_DEMAND, None)


@given(st.floats(min_value=0.001, max_value=sizing.KINESIS_ON_DEMAND_MAX_WRITE_MB_S))
def test_forced_on_demand_within_its_quota(write: float) -> None:
    capacity = sizing.stream_capacity(write_mb_per_s=write, capacity_mode=sizing.ON_DEMAND)
    assert (capacity.mode, capacity.shards, capacity.reason) == (sizing.ON_DEMAND, None, "on-demand requested")


@given(mb, records, st.integers(min_value=1, max_value=50))
def test_quota_is_never_exceeded(write: float, rps: float, quota: int) -> None:
    try:
        capacity = sizing.stream_capacity(write_mb_per_s=write, records_per_s=rps, shard_quota=quota)
    except ValueError as err:
        assert f"exceed the account shard quota of {quota}" in str(err)
        assert sizing.kinesis_shards(write, rps) > quota
    else:
        assert capacity.shards <= quota


def test_records_only_sizes_by_records() -> None:
    assert sizing.stream_capacity(records_per_s=4500).shards == 5


@given(st.integers(min_value=0, max_value=100), st.sampled_from([None, True, False]))
def test_enhanced_fan_out_from_two_consumers_unless_told(consumers: int, requested: bool | None) -> None:
    expected = consumers >= 2 if requested is None else requested
    assert sizing.use_enhanced_fan_out(consumers, requested) is expected


@given(st.integers(min_value=0, max_value=900))
def test_freshness_threshold_allows_a_full_buffer_and_a_margin(interval: int) -> None:
    threshold = sizing.firehose_freshness_threshold_s(interval)
    assert threshold == interval + 900 and threshold > interval


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(write_mb_per_s=0), "write_mb_per_s must be a positive number (got 0)"),
        (dict(records_per_s=-5), "records_per_s must be a positive number (got -5)"),
        (dict(write_mb_per_s=float("nan")), "write_mb_per_s must be a positive number (got nan)"),
        (dict(write_mb_per_s=1, read_mb_per_s=0), "read_mb_per_s must be a positive number (got 0)"),
        (dict(read_mb_per_s=2), "read_mb_per_s needs write_mb_per_s or records_per_s to size against (got 2)"),
        (dict(shared_consumers=6), "shared_consumers must be 0 to 5"),
        (dict(shared_consumers=-1), "(got -1)"),
        (dict(shard_quota=0), "shard_quota must be a whole number of at least 1 (got 0)"),
        (dict(capacity_mode="FAST"), "capacity_mode must be 'ON_DEMAND', 'PROVISIONED' or None (got 'FAST')"),
        (dict(capacity_mode=sizing.PROVISIONED), "capacity_mode 'PROVISIONED' needs write_mb_per_s or records_per_s"),
        (dict(write_mb_per_s=201, capacity_mode=sizing.ON_DEMAND),
         "write_mb_per_s exceeds the default on-demand stream quota of 200 (got 201)"),
        (dict(records_per_s=200_001, capacity_mode=sizing.ON_DEMAND),
         "records_per_s exceeds the default on-demand stream quota of 200000 (got 200001)"),
        (dict(write_mb_per_s=201), "shards needed (201) exceed the account shard quota of 200"),
    ],
)
def test_stream_capacity_rejects(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sizing.stream_capacity(**kwargs)


@pytest.mark.parametrize(
    "args, message",
    [
        ((-1, 0), "write_mb_per_s must not be negative (got -1)"),
        ((1, -1), "records_per_s must not be negative (got -1)"),
        ((1, 1, math.inf), "shared_read_mb_per_s must not be negative (got inf)"),
        ((True, 1), "write_mb_per_s must not be negative (got True)"),
    ],
)
def test_kinesis_shards_rejects(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        sizing.kinesis_shards(*args)


def test_other_helpers_reject() -> None:
    with pytest.raises(ValueError, match=re.escape("consumers must be a whole number of at least 0 (got -1)")):
        sizing.use_enhanced_fan_out(-1)
    with pytest.raises(ValueError, match=re.escape("buffering_interval_s must be 0 to 900 s (got 901)")):
        sizing.firehose_freshness_threshold_s(901)
