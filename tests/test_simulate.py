"""refarch.tools.simulate: AWS's worked example, the ideal as a lower bound, scale-in to the minimum, determinism.

What a simulation cannot prove: that AWS behaves as the model says. The model's
rules come from AWS's documentation (cited in the module); its undocumented
parameters (task start latency, metric publication delay) are listed in
docs/worker-fleet.md ("How it scales") as what to measure in a real account.
"""

from __future__ import annotations

import doctest
import io
import json
from contextlib import redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refarch import sizing
from refarch.tools import simulate as sim


def test_doctests() -> None:
    assert doctest.testmod(sim).failed == 0


def test_aws_worked_example_target_and_capacity() -> None:
    """1,500 messages, 10 s acceptable latency, 0.1 s per message: target 100; 5 tasks -> 15."""
    w = sim.Workload(avg_processing_time_s=0.1, max_acceptable_latency_s=10, min_workers=1, max_workers=50,
                     initial_workers=5)
    assert w.target == 100
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=600, peak_rate=0)
    # Three one-minute datapoints above the target, as the scale-out alarm needs them.
    fleet.dp_visible = [1500.0] * 3
    fleet.dp_running = [5.0] * 3
    fleet.dp_sent = [0] * 3  # AWS's example counts the backlog only: no arrivals meanwhile
    fleet._scale(3 * 60 + w.metric_delay_s)
    assert fleet.desired == 15


def test_two_datapoints_are_not_enough_to_scale_out() -> None:
    w = sim.Workload(avg_processing_time_s=0.1, max_acceptable_latency_s=10, initial_workers=5, max_workers=50)
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=600, peak_rate=0)
    fleet.dp_visible, fleet.dp_running, fleet.dp_sent = [0.0, 1500.0, 1500.0], [5.0] * 3, [0] * 3
    fleet._scale(3 * 60 + w.metric_delay_s)
    assert fleet.desired == 5


def test_scale_out_cooldown_counts_the_capacity_already_added() -> None:
    """In the scale-out cooldown a new scale-out starts from the capacity before the last one, so the
    tasks still starting (not yet in RunningTaskCount) do not compound the step."""
    w = sim.Workload(avg_processing_time_s=0.1, max_acceptable_latency_s=10, initial_workers=5, max_workers=100)
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=600, peak_rate=0)
    fleet.dp_visible, fleet.dp_running, fleet.dp_sent = [1500.0] * 3, [5.0] * 3, [0] * 3
    fleet._scale(240)
    assert fleet.desired == 15
    fleet.dp_visible.append(1500.0)
    fleet.dp_running.append(5.0)  # the 10 new tasks are still pending
    fleet.dp_sent.append(0)
    fleet._scale(270)
    assert fleet.desired == 15  # not ceil(15 x 300 / 100) = 45


def test_queue_processing_defaults_are_the_cdk_ones() -> None:
    assert sim.QPFS_STEPS == ((None, 0, -1), (100, 500, 1), (500, None, 5))
    assert sim.QPFS_CPU_TARGET == 50
    assert sim.QPFS_STEP_PERIOD_S == 300


@pytest.mark.parametrize("minimum", [0, 2])
def test_zero_arrivals_every_scaling_policy_reaches_its_minimum(minimum: int) -> None:
    w = sim.Workload(min_workers=minimum, max_workers=12, initial_workers=10, tail_s=0, start_median_s=5)
    quiet = sim.Scenario("quiet", rates=(0.0,) * 3600)
    for r in sim.simulate(quiet, w, ("refarch", "queue-processing-fargate-service", "visible-messages-target")):
        assert r.series["billed"][-1] == minimum, r.policy
        assert r.messages == 0 and r.over_budget_share == 0


def test_deterministic_for_a_seed() -> None:
    w = sim.Workload(seed=7, tail_s=600)
    scenario = sim.Scenario("short", rates=(0.4,) * 600 + (4.0,) * 600)
    first = [r.row() for r in sim.simulate(scenario, w)]
    again = [r.row() for r in sim.simulate(scenario, w)]
    other = [r.row() for r in sim.simulate(scenario, sim.Workload(seed=8, tail_s=600))]
    assert first == again
    assert first != other


def test_ideal_is_the_work_when_the_floor_is_zero_and_deadlines_are_loose() -> None:
    msgs = sim.Messages(arrival=[0.5, 1.2, 3.0], work=[2.0, 1.0, 0.5])
    assert sim.ideal_task_seconds(msgs, budget_s=100, floor=0, horizon_s=200) == pytest.approx(3.5)
    # A floor of one task over 200 s absorbs all of it.
    assert sim.ideal_task_seconds(msgs, budget_s=100, floor=1, horizon_s=200) == pytest.approx(200)


def test_ideal_adds_capacity_only_when_a_deadline_forces_it() -> None:
    # 10 s of work arrives at once with a 5 s budget: one task cannot do it, so 5 s need extra work.
    msgs = sim.Messages(arrival=[0.0] * 10, work=[1.0] * 10)
    assert sim.ideal_task_seconds(msgs, budget_s=5, floor=1, horizon_s=20) == pytest.approx(20 + 5)


def test_ideal_refuses_a_horizon_that_misses_a_deadline() -> None:
    with pytest.raises(ValueError, match="horizon_s"):
        sim.ideal_task_seconds(sim.Messages([10.0], [1.0]), budget_s=30, floor=0, horizon_s=20)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    counts=st.lists(st.integers(0, 6), min_size=60, max_size=300),
    processing=st.sampled_from(["fixed", "exponential", "lognormal"]),
    avg=st.sampled_from([0.5, 1.0, 2.0]),
    budget=st.integers(10, 120),
    minimum=st.integers(0, 2),
    extra=st.integers(0, 6),
    protection=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_ideal_is_never_beaten(counts, processing, avg, budget, minimum, extra, protection, seed) -> None:
    """No run that keeps every message within the budget uses fewer task-seconds than the ideal; and no
    run at all uses fewer than the work it completed or the minimum fleet over the horizon."""
    w = sim.Workload(avg_processing_time_s=avg, max_acceptable_latency_s=max(budget, avg + 1), min_workers=minimum,
                     max_workers=minimum + extra + 1, processing=processing, scale_in_protection=protection,
                     start_median_s=20, tail_s=0, seed=seed)
    scenario = sim.Scenario("trace", counts=tuple(counts))
    results = sim.simulate(scenario, w)
    ideal = next(r for r in results if r.policy == "ideal")
    for r in results:
        if r.policy == "ideal":
            continue
        horizon = len(r.series["billed"])
        assert r.task_seconds >= r.work_done_s - 1e-6
        assert r.task_seconds >= minimum * horizon
        if r.over_budget_share == 0:
            assert r.task_seconds >= ideal.task_seconds - 1e-6, r.policy


def test_cli_json_has_the_issue_keys(tmp_path) -> None:
    trace = tmp_path / "trace.csv"
    trace.write_text("second,arrivals\n" + "".join(f"{i},{1 if i % 2 else 0}\n" for i in range(600)))
    out = io.StringIO()
    with redirect_stdout(out):
        assert sim.main(["--json", "--scenario", f"csv:{trace}", "--max-acceptable-latency", "60"]) == 0
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["policy"] for r in rows] == list(sim.POLICIES)
    for r in rows:
        assert {"scenario", "policy", "over_budget_share", "p99_latency_s", "task_hours", "ideal_ratio"} <= r.keys()
        assert r["scenario"] == "csv:trace.csv"


def test_cli_writes_a_png(tmp_path) -> None:
    pytest.importorskip("matplotlib")
    trace = tmp_path / "t.csv"
    trace.write_text("\n".join(["1"] * 300))
    png = tmp_path / "out.png"
    with redirect_stdout(io.StringIO()):
        assert sim.main(["--scenario", f"csv:{trace}", "--png", str(png), "--max-acceptable-latency", "60"]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_refarch_target_comes_from_sizing() -> None:
    w = sim.Workload()
    assert w.target == sizing.backlog_per_worker(300, 2) == 150
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=60, peak_rate=0)
    assert fleet.tt[0][1].target == 150


def test_a_fleet_that_keeps_up_is_not_cut_to_its_minimum() -> None:
    """refarch's metric counts one budget of arrivals: 8 workers keeping up with 4 messages/s (2 s each)
    see no backlog, yet hold (0 + 240 x 5) / 8 = 150 per worker, the target. On backlog alone (before
    issue 16) 15 minutes of an empty queue would cut them to the minimum while the load goes on."""
    w = sim.Workload(initial_workers=8)
    for policy, expected in (("refarch", 8), (sim.BACKLOG_ONLY, 1)):
        fleet = sim.Fleet(policy, sim.Messages([], []), w, horizon_s=3600, peak_rate=0)
        fleet.dp_visible, fleet.dp_sent, fleet.dp_running = [0.0] * 15, [240] * 15, [8.0] * 15
        fleet._scale(15 * 60 + w.metric_delay_s)
        assert fleet.desired == expected, policy


def test_refarch_steps_in_after_five_datapoints_below_ninety_percent() -> None:
    """The construct's ScaleIn step: 8 workers whose metric sits at 0.1 x the target for 5 minutes lose
    75 % (rounded toward zero); target tracking alone would wait 15 datapoints."""
    w = sim.Workload(initial_workers=8)
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=3600, peak_rate=0)
    low = 0.1 * w.target * 8 / 5  # sent per minute giving e1 = 0.1 x target with 8 workers
    fleet.dp_visible, fleet.dp_sent, fleet.dp_running = [0.0] * 5, [low] * 5, [8.0] * 5
    fleet._scale(5 * 60 + w.metric_delay_s)
    assert fleet.desired == 2
    slow = sim.Fleet("refarch", sim.Messages([], []), sim.Workload(initial_workers=8, fast_scale_in=False),
                     horizon_s=3600, peak_rate=0)
    slow.dp_visible, slow.dp_sent, slow.dp_running = [0.0] * 5, [low] * 5, [8.0] * 5
    slow._scale(5 * 60 + w.metric_delay_s)
    assert slow.desired == 8


def test_simulated_refarch_policy_is_the_deployed_one() -> None:
    """The cooldowns and the scale-in steps the simulator runs are the construct's."""
    from refarch import worker_fleet

    w = sim.Workload()
    assert w.scale_out_cooldown_s == worker_fleet.SCALE_OUT_COOLDOWN.to_seconds()
    fleet = sim.Fleet("refarch", sim.Messages([], []), w, horizon_s=60, peak_rate=0)
    assert fleet.tt[0][1].in_cooldown == worker_fleet.SCALE_IN_COOLDOWN.to_seconds()
    assert fleet.fast_in.cooldown == worker_fleet.SCALE_IN_COOLDOWN.to_seconds()
    assert fleet.wake.cooldown == worker_fleet.WAKE_UP_COOLDOWN.to_seconds()
    assert (sim.FAST_IN_DATAPOINTS, sim.FAST_IN_STEPS) == (sizing.SCALE_IN_DATAPOINTS, sizing.SCALE_IN_STEPS)
