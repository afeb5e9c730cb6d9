"""`make bench`: synth time of the whole app beside an empty app's, the test-suite time, and how
well the worker fleet scales (refarch.tools.simulate: refarch's policy before and after issue 16
beside its peers and the ideal, on a step, a ramp and a spike).

All three are measured in this one run, on this machine, with the CDK CLI as
`make synth` runs it (template validator on). The ratio says what the patterns
cost over the fixed price of starting node, jsii and the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As `make synth` runs it: offline, no notices fetch, no telemetry.
CDK = ["node", str(ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"), "--no-notices"]
EMPTY_APP = "import aws_cdk as cdk; app = cdk.App(); cdk.Stack(app, 'Empty'); app.synth()"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", **(env or {})}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def scaling() -> int:
    """The simulator's table for the example stack's workload, and the goal on the step and the ramp:
    within 1.3x the ideal's task-hours with at least 99 % of messages inside the budget."""
    sys.path.insert(0, str(ROOT))
    from refarch.tools import simulate as sim

    w = sim.Workload()
    policies = (sim.BACKLOG_ONLY, *sim.POLICIES)
    results = []
    start = time.perf_counter()
    for name in ("step", "ramp", "spike"):
        results += sim.simulate(sim.profile(name, w), w, policies)
    elapsed = time.perf_counter() - start
    print(f"\nworker fleet scaling ({elapsed:.1f} s): {w.avg_processing_time_s} s per message ({w.processing}), "
          f"budget {w.max_acceptable_latency_s:.0f} s, {w.min_workers}-{w.max_workers} workers, base "
          f"{w.base_rate_per_s}/s, task start median {w.start_median_s:.0f} s, metric delay {w.metric_delay_s} s")
    print(f"({sim.BACKLOG_ONLY} is refarch's policy before issue 16: backlog only, 60 s scale-out cooldown)")
    print(sim.table(results))
    # One seed is one draw of arrivals, processing and start times: the spread over five.
    print("\nover seeds 1-5 (messages late %, min-max; task-hours x ideal, min-max):")
    spread: dict[tuple[str, str], list] = {}
    for seed in range(1, 6):
        ws = sim.Workload(seed=seed)
        for name in ("step", "ramp", "spike"):
            for r in sim.simulate(sim.profile(name, ws), ws, policies[:-1]):
                spread.setdefault((name, r.policy), []).append(r)
    for (name, policy), rs in spread.items():
        late = [100 * r.over_budget_share for r in rs]
        ratio = [r.ideal_ratio for r in rs]
        print(f"{name:<10}{policy:<34}{min(late):>6.1f}-{max(late):<6.1f}%{min(ratio):>8.2f}-{max(ratio):.2f}x")
    failed = 0
    for r in results:
        if r.policy == "refarch" and r.scenario in ("step", "ramp"):
            ok = r.ideal_ratio <= 1.3 and r.over_budget_share <= 0.01
            failed += not ok
            print(f"goal on {r.scenario}: {r.ideal_ratio:.2f}x ideal (<= 1.3), "
                  f"{100 * (1 - r.over_budget_share):.2f} % in budget (>= 99): {'met' if ok else 'NOT met'}")
    return failed


def main() -> int:
    if "--scaling-only" in sys.argv:
        scaling()
        return 0
    with tempfile.TemporaryDirectory() as out:
        empty_app = Path(out, "empty_app.py")
        empty_app.write_text(EMPTY_APP)
        empty = timed([*CDK, "synth", "--quiet", "--app", f"{sys.executable} {empty_app}", "--output", f"{out}/empty"])
        whole = timed([*CDK, "synth", "--quiet", "--output", f"{out}/app"])
    tests = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env={"CDK_VALIDATION": "false"})
    print(f"{'synth, empty app':<28}{empty:7.1f} s")
    print(f"{'synth, whole app':<28}{whole:7.1f} s   ({whole / empty:.1f}x the empty app)")
    print(f"{'test suite (make test)':<28}{tests:7.1f} s")
    scaling()  # reported, not enforced: the doc says where the goal is not met and why
    return 0


if __name__ == "__main__":
    sys.exit(main())
