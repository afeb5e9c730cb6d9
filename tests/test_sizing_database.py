"""refarch.sizing, relational databases: instance memory, max_connections and alarm thresholds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from refarch import sizing

GIB = 1024**3
families = st.sampled_from(["r", "m", "x"])
sizes = st.sampled_from(["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge"])
memories = st.floats(min_value=0.5, max_value=4096, allow_nan=False)
engines = st.sampled_from(["postgresql", "mysql"])


@pytest.mark.parametrize(
    "instance_class,gib",
    [("db.r7g.large", 16), ("r6g.xlarge", 32), ("r6i.2xlarge", 64), ("db.r8g.16xlarge", 512), ("m7g.large", 8),
     ("m6i.4xlarge", 64), ("x2g.large", 32), ("t4g.medium", 4), ("db.t3.large", 8), ("t4g.micro", 1)],
)
def test_instance_memory_of_known_classes(instance_class: str, gib: int) -> None:
    # Nominal memory as published for these classes.
    assert sizing.instance_memory_gib(instance_class) == gib


@pytest.mark.parametrize(
    "bad", ["r7g", "db.c7g.large", "r7g.medium", "t4g.4xlarge", "db.r7g.metal", "", None, "serverless"])
def test_instance_memory_rejects_unknown_classes(bad) -> None:
    with pytest.raises(ValueError, match=r"instance_class .*\(got "):
        sizing.instance_memory_gib(bad)


@given(families, st.integers(min_value=4, max_value=9), sizes, sizes)
def test_memory_grows_with_size(family: str, generation: int, a: str, b: str) -> None:
    def vcpus(size: str) -> int:
        return 2 if size == "large" else 4 * int(size[:-6] or 1)
    ma = sizing.instance_memory_gib(f"{family}{generation}g.{a}")
    mb = sizing.instance_memory_gib(f"{family}{generation}g.{b}")
    assert (ma < mb) == (vcpus(a) < vcpus(b))
    assert ma == vcpus(a) * {"r": 8, "m": 4, "x": 16}[family]


def test_max_connections_match_the_published_formulas() -> None:
    assert sizing.max_connections("postgresql", 16) == math.floor(16 * GIB / 9531392) == 1802
    assert sizing.max_connections("postgresql", 512) == 5000  # capped
    assert sizing.max_connections("mysql", 16) == 1069  # AWS publishes 1000 for r6g.large (less usable memory)
    assert sizing.max_connections("mysql", 16, aurora=False) == math.floor(16 * GIB / 12582880)


@given(engines, memories, st.floats(min_value=0, max_value=4096, allow_nan=False), st.booleans())
def test_max_connections_is_monotonic_and_bounded(engine: str, memory: float, extra: float, aurora: bool) -> None:
    low = sizing.max_connections(engine, memory, aurora=aurora)
    high = sizing.max_connections(engine, memory + extra, aurora=aurora)
    assert 1 <= low <= high
    cap = 5000 if engine == "postgresql" else (16000 if aurora else 100000)
    assert high <= cap


@given(engines, memories, st.booleans())
def test_thresholds_sit_below_the_limits(engine: str, memory: float, aurora: bool) -> None:
    t = sizing.database_alarm_thresholds(engine, memory, aurora=aurora)
    assert 1 <= t.connections <= t.max_connections
    assert t.connections >= math.floor(0.8 * t.max_connections)
    assert t.freeable_memory_bytes == math.floor(memory * GIB * 0.1)
    assert t.free_local_storage_bytes == math.floor(memory * GIB * 0.2)


@pytest.mark.parametrize("bad", [0, -1, float("nan"), True])
def test_max_connections_rejects_bad_memory(bad) -> None:
    with pytest.raises(ValueError, match="memory_gib must be a positive number"):
        sizing.max_connections("postgresql", bad)


def test_max_connections_rejects_unknown_engine() -> None:
    with pytest.raises(ValueError, match="engine must be 'postgresql' or 'mysql' \\(got 'oracle'\\)"):
        sizing.max_connections("oracle", 16)


@given(st.floats(min_value=0.5, max_value=256, allow_nan=False))
def test_serverless_memory_is_two_gib_per_acu(acu: float) -> None:
    assert sizing.serverless_v2_memory_gib(acu) == acu * 2


def test_rds_free_storage_alarm_is_half_the_autoscaling_trigger_on_the_initial_allocation() -> None:
    assert sizing.rds_free_storage_alarm_bytes(100) == 5 * GIB
    assert sizing.rds_free_storage_alarm_bytes(20) == GIB


@given(st.integers(min_value=20, max_value=65536))
def test_rds_free_storage_alarm_sits_below_what_autoscaling_leaves_free(allocated_gib: int) -> None:
    threshold = sizing.rds_free_storage_alarm_bytes(allocated_gib)
    # Autoscaling acts at 10 % free of an allocation that never shrinks below the initial one.
    assert 0 < threshold < allocated_gib * GIB * sizing.RDS_AUTOSCALING_FREE_FRACTION


@pytest.mark.parametrize("bad", [0, -5, True])
def test_rds_free_storage_alarm_rejects_bad_allocation(bad) -> None:
    with pytest.raises(ValueError, match="allocated_storage_gib must be a positive number"):
        sizing.rds_free_storage_alarm_bytes(bad)
