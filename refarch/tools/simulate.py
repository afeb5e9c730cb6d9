"""How well a worker fleet scales: a discrete-time simulation of an SQS queue and its fleet.

``python -m refarch.tools.simulate [--json] [--scenario step ...] [--png PATH]``

One-second steps. Producers send messages by a load profile (step, ramp,
spike, diurnal, or a CSV trace of arrivals per second); each message takes a
processing time drawn from a distribution (fixed, exponential, lognormal).
Every policy sees the *same* messages, generated once per scenario from a
seeded RNG, so the policies differ only by how many workers they run when.

What the model follows, each rule from AWS's documentation (page in the comment
where the rule is applied):

* SQS publishes ``ApproximateNumberOfMessagesVisible`` once a minute (one sample
  per minute), and a datapoint reaches CloudWatch ``metric_delay_s`` after its
  minute ends. Messages a worker has received are in flight, not visible.
* Container Insights' ``RunningTaskCount`` counts RUNNING tasks (not PENDING
  ones), averaged over the minute.
* Target tracking: the alarms Application Auto Scaling creates scale out after
  3 consecutive one-minute datapoints above the target and in after 15 below
  90 % of it; the new capacity is proportional, ``ceil(capacity x metric /
  target)``; scale-out and scale-in cooldowns; no scale-in while a scale-out
  cooldown runs; a missing datapoint (``m1 / m2`` with no task running) breaks
  the run of datapoints.
* Step scaling: the alarm's statistic over its period, the step intervals, the
  policy's cooldown; an alarm that stays in ALARM invokes its policy again
  each minute once the cooldown has passed (an assumption to check, listed
  in docs/worker-fleet.md).
* The scalable target's min and max; several policies: the largest capacity wins.
* A new task is billed from launch and runs after a start latency (image pull
  and start), drawn from a distribution; nothing documents its value, so it is
  a parameter to measure (see docs/worker-fleet.md).
* Scale-in: ECS stops idle tasks first. With task scale-in protection (the
  refarch worker's default) a busy task is spared until its batch is done;
  without it, SIGTERM gives the worker ``stop_timeout - 5 s`` to finish the
  message in hand, the rest of its batch goes back to the queue at once, and
  a message unfinished at SIGKILL goes back too (its work is lost).

The policies:

* ``refarch``: what ``QueueWorkerFleet`` deploys: target tracking on
  ``(visible + sent per minute x budget / 60) / RunningTaskCount`` with the
  target from ``refarch.sizing`` and the construct's cooldowns, the step
  scale-in after 5 datapoints, plus the wake-up step when ``min_workers == 0``.
  ``refarch-backlog-only`` is the policy before issue 16 (``visible /
  RunningTaskCount``, 60 s scale-out cooldown, no step scale-in), for the
  benchmark's before and after.
* ``queue-processing-fargate-service``: aws-cdk-lib's ``QueueProcessingFargateService``
  defaults: step scaling on ``ApproximateNumberOfMessagesVisible`` (Maximum over
  5 minutes, one evaluation period: -1 at 0, +1 from 100, +5 from 500, the
  Application Auto Scaling default cooldown) and target tracking on CPU at 50 %.
* ``visible-messages-target``: target tracking on ``ApproximateNumberOfMessagesVisible``
  alone, target 5, as common samples use.
* ``fixed``: a fleet sized for the peak rate (Little's law), never scaled.
* ``ideal``: the lower bound of :func:`ideal_task_seconds`.
"""

from __future__ import annotations

import argparse
import csv
import heapq
import json
import math
import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from refarch import sizing

# --- documented constants ---------------------------------------------------

#: SQS sends its metrics to CloudWatch once a minute:
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-monitoring-using-cloudwatch.html
METRIC_PERIOD_S = sizing.SQS_METRIC_PERIOD_S
#: Target tracking's alarms: scale out after 3 datapoints above the target, in after 15 below 90 % of it
#: (the alarms Application Auto Scaling creates and manages for the policy):
#: https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html
TT_OUT_DATAPOINTS = 3
TT_IN_DATAPOINTS = 15
TT_IN_FRACTION = 0.9
#: A step policy without a cooldown gets Application Auto Scaling's default, 300 s; so does target
#: tracking without cooldowns (ECS):
#: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_StepScalingPolicyConfiguration.html
#: https://docs.aws.amazon.com/autoscaling/application/APIReference/API_TargetTrackingScalingPolicyConfiguration.html
AAS_DEFAULT_COOLDOWN_S = 300
#: QueueProcessingFargateService (aws-cdk-lib 2.275.0, aws-ecs-patterns/lib/base/queue-processing-service-base):
#: scalingSteps [{upper: 0, change: -1}, {lower: 100, change: +1}, {lower: 500, change: +5}] on
#: queue.metricApproximateNumberOfMessagesVisible() (Maximum, 5 minutes), evaluationPeriods 1,
#: no cooldown given; cpuTargetUtilizationPercent 50; min 1, max 2 x desired unless set.
QPFS_STEPS = ((None, 0, -1), (100, 500, 1), (500, None, 5))
QPFS_STEP_PERIOD_S = 300
QPFS_CPU_TARGET = 50.0
#: refarch's step scale-in: 5 one-minute datapoints below 90 % of the target; remove this percentage
#: of the capacity for a metric below this fraction of the target (as QueueWorkerFleet deploys it).
FAST_IN_DATAPOINTS = sizing.SCALE_IN_DATAPOINTS
FAST_IN_STEPS = sizing.SCALE_IN_STEPS
#: Common samples' target for target tracking on visible messages alone.
VISIBLE_TARGET = 5.0

POLICIES = ("refarch", "queue-processing-fargate-service", "visible-messages-target", "fixed", "ideal")
#: refarch's policy before issue 16: backlog per worker without the arrivals term (the benchmark's "before").
BACKLOG_ONLY = "refarch-backlog-only"
SCENARIOS = ("step", "ramp", "spike", "diurnal")


# --- the workload -------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What is being simulated. Defaults: ``WorkerFleetStack`` (2 s per message, 5 minute budget, 1-20
    workers, the worker's defaults) under a base load that one worker handles at 80 %.

    :param avg_processing_time_s: mean processing time of one message, seconds.
        Default: 2.
    :param max_acceptable_latency_s: the latency budget, seconds from arrival
        to done: a message done later is over budget; with
        ``avg_processing_time_s`` it sets refarch's :attr:`target`. Default: 300.
    :param min_workers: the scalable target's minimum tasks. Default: 1.
    :param max_workers: the scalable target's maximum tasks. Default: 20.
    :param base_rate_per_s: the base load, messages per second; the load
        profiles are multiples of it. Default: 0.4.
    :param processing: the processing time's distribution: ``"fixed"``,
        ``"exponential"`` or ``"lognormal"``, each with mean
        ``avg_processing_time_s``. Default: ``"lognormal"``.
    :param processing_sigma: the lognormal's shape (sigma of its logarithm).
        Default: 0.5.
    :param batch_size: most messages a worker receives per poll. Default: 10
        (SQS's maximum).
    :param stop_timeout_s: the task's stop timeout, seconds from SIGTERM to
        SIGKILL (without scale-in protection a stopping worker gets
        ``stop_timeout_s - 5`` to finish the message in hand). Default: 30.
    :param scale_in_protection: busy tasks protect themselves from scale-in
        until their batch is done, as the refarch worker does. Default: true.
    :param start_median_s: median task start latency (image pull and start),
        seconds, lognormal. Not documented by AWS: measure it. Default: 45.
    :param start_sigma: the start latency's lognormal shape. Default: 0.3.
    :param metric_delay_s: how long after its minute ends a datapoint reaches
        CloudWatch, seconds. Not documented by AWS: measure it. Default: 60.
    :param tail_s: seconds simulated after the load ends, so the fleets drain
        and scale in (at least twice the budget). Default: 3600.
    :param seed: seeds the RNG of the messages and of the start latencies.
        Default: 1.
    :param fast_scale_in: the ``refarch`` policy includes the step scale-in
        beside target tracking (``QueueWorkerFleet``'s ``ScaleIn``). Default: true.
    :param scale_out_cooldown_s: the ``refarch`` policy's scale-out cooldown,
        seconds (``worker_fleet.SCALE_OUT_COOLDOWN``). Default: 180.
    :param initial_workers: tasks running at the start (the ``fixed`` policy
        runs its own size). Default: ``min_workers``.
    """

    avg_processing_time_s: float = 2.0
    max_acceptable_latency_s: float = 300.0
    min_workers: int = 1
    max_workers: int = 20
    base_rate_per_s: float = 0.4
    processing: str = "lognormal"
    processing_sigma: float = 0.5
    batch_size: int = sizing.SQS_MAX_RECEIVE_BATCH
    stop_timeout_s: int = 30
    scale_in_protection: bool = True
    start_median_s: float = 45.0
    start_sigma: float = 0.3
    metric_delay_s: int = 60
    tail_s: int = 3600
    seed: int = 1
    fast_scale_in: bool = True
    scale_out_cooldown_s: int = 180
    initial_workers: int | None = None

    @property
    def target(self) -> int:
        """refarch's target tracking target, messages per worker: :func:`refarch.sizing.backlog_per_worker`
        of the budget and the processing time."""
        return sizing.backlog_per_worker(self.max_acceptable_latency_s, self.avg_processing_time_s)


@dataclass(frozen=True)
class Scenario:
    """A load over time: expected arrivals per second (drawn as Poisson counts), or a trace of exact counts.

    :param name: the scenario's name in results, e.g. ``"step"`` or ``"csv:trace.csv"``.
    :param rates: expected arrivals per second, one value per second. Default:
        none.
    :param counts: a trace: exact arrivals in each second; used instead of
        ``rates`` when given. Default: none.
    """

    name: str
    rates: tuple[float, ...] = ()
    counts: tuple[int, ...] | None = None


def profile(name: str, w: Workload) -> Scenario:
    """The standard load profiles, in multiples of the workload's base rate."""
    b = w.base_rate_per_s
    if name == "step":  # 30 min base, 30 min at 10x, then base again
        rates = [b] * 1800 + [10 * b] * 1800 + [b] * 1800
    elif name == "ramp":  # 20 min base, a 60-minute ramp to 10x, 20 min there, back down in 30
        up = [b + 9 * b * i / 3600 for i in range(3600)]
        down = [10 * b - 9 * b * i / 1800 for i in range(1800)]
        rates = [b] * 1200 + up + [10 * b] * 1200 + down + [b] * 1200
    elif name == "spike":  # 2 minutes at 20x
        rates = [b] * 1800 + [20 * b] * 120 + [b] * 1800
    elif name == "diurnal":  # a 24-hour cycle compressed into 4 hours, 0.2x to 5x
        period = 4 * 3600
        rates = [b * (2.6 - 2.4 * math.cos(2 * math.pi * i / period)) for i in range(period)]
    else:
        raise ValueError(f"scenario must be one of {SCENARIOS} or csv:PATH (got {name!r})")
    return Scenario(name, tuple(rates))


def trace(path: str | Path) -> Scenario:
    """A CSV trace: one row per second, the last column the number of arrivals (a header is skipped)."""
    counts = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row:
                continue
            try:
                counts.append(int(float(row[-1])))
            except ValueError:
                if counts:
                    raise ValueError(f"trace {path}: not a number of arrivals: {row!r}") from None
    if not counts or min(counts) < 0:
        raise ValueError(f"trace {path} must hold at least one non-negative count per second")
    return Scenario(f"csv:{Path(path).name}", counts=tuple(counts))


@dataclass
class Messages:
    """A scenario's messages, in arrival order; message ``i`` is ``arrival[i]`` and ``work[i]``.

    :param arrival: arrival times, seconds from the start.
    :param work: processing times, seconds.
    """

    arrival: list[float]
    work: list[float]


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation, plenty for load profiles
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def generate(scenario: Scenario, w: Workload) -> Messages:
    """Arrival times (uniform within their second) and processing times, from the workload's seed."""
    rng = random.Random(w.seed)
    p = w.avg_processing_time_s
    mu = math.log(p) - w.processing_sigma**2 / 2  # lognormal with mean p
    draw: Callable[[], float] = {
        "fixed": lambda: p,
        "exponential": lambda: rng.expovariate(1 / p),
        "lognormal": lambda: rng.lognormvariate(mu, w.processing_sigma),
    }[w.processing]
    counts = scenario.counts or [_poisson(rng, r) for r in scenario.rates]
    arrival: list[float] = []
    work: list[float] = []
    for second, n in enumerate(counts):
        for t in sorted(second + rng.random() for _ in range(n)):
            arrival.append(t)
            work.append(max(1e-3, draw()))
    return Messages(arrival, work)


# --- the ideal ------------------------------------------------------------------


def ideal_task_seconds(msgs: Messages, *, budget_s: float, floor: int, horizon_s: int) -> float:
    """The least task-seconds that keep every message within the budget, as a lower bound.

    **Definition.** Let ``x_t >= 0`` be the processing work (seconds) done in second ``[t, t+1)``,
    ``X_tau = sum_{t < tau} x_t``, ``A_tau`` the work of messages that arrived before ``tau`` and
    ``D_tau`` the work of messages whose deadline (arrival + budget) is at or before ``tau``. The
    ideal is the minimum over all ``x`` with ``D_tau <= X_tau <= A_tau`` for every whole ``tau``
    of ``sum_t max(floor, x_t)`` over ``horizon_s`` seconds: perfect foresight, instant starts and
    stops, work divisible between tasks at will, no ``max_workers``.

    **It is a lower bound.** Take any run of any policy over the same messages and horizon that
    keeps every message within the budget, with ``n_t`` tasks billed in second ``t`` (tasks start
    and stop on whole seconds) and ``x_t`` the work its tasks did in that second on the attempt of
    each message that completed. A task does at most one second of work per second, so
    ``n_t >= x_t``; the scalable target's minimum gives ``n_t >= floor``; a message is worked on
    only after it arrived, so ``X_tau <= A_tau``; each is done by its deadline, so ``X_tau >= D_tau``.
    That ``x`` is feasible, so its task-seconds ``sum n_t >= sum max(floor, x_t) >= ideal``.

    **The greedy below attains the minimum.** It runs the floor on whatever work has arrived
    (``u_t = min(floor, A_{t+1} - G_t)``) and adds work above the floor only when a deadline forces
    it (up to ``D_{t+1}``). Its cost is ``floor x T + E`` with ``E`` its total extra work, and any
    feasible ``x`` costs at least ``floor x T + E_x``. Take greedy's last second with extra work,
    ``tau``, and the last second ``s < tau`` in which greedy's floor was not full (``s = -1`` if none):
    then greedy had done all arrived work, ``G_{s+1} = A_{s+1}``, ran the full floor in every second
    of ``(s, tau]``, and ``G_{tau+1} = D_{tau+1}``. Any feasible ``x`` does at least
    ``X_{tau+1} - X_{s+1} >= D_{tau+1} - A_{s+1} = G_{tau+1} - G_{s+1}`` work in those seconds, at
    most ``floor`` of it per second within the floor, so its extra work there is at least greedy's.
    Repeat on the seconds before ``s`` (greedy does no extra in a second whose floor is not full);
    the windows are disjoint and hold all of greedy's extra work, so ``E_x >= E``.
    """
    arrived = [0.0] * (horizon_s + 1)  # arrived[tau]: work of messages with tau - 1 <= arrival < tau
    due = [0.0] * (horizon_s + 1)  # due[tau]: work of messages whose deadline is in (tau - 1, tau]
    for a, p in zip(msgs.arrival, msgs.work):
        deadline = math.ceil(a + budget_s)
        if deadline > horizon_s:
            raise ValueError(f"horizon_s ({horizon_s}) must cover every deadline (got one at {deadline})")
        arrived[math.floor(a) + 1] += p
        due[deadline] += p
    total = done = cum_a = cum_d = 0.0
    for t in range(horizon_s):
        cum_a += arrived[t + 1]
        cum_d += due[t + 1]
        x = max(min(floor, cum_a - done), cum_d - done, 0.0)
        done += x
        total += max(floor, x)
    return total


def tracking_capacity(capacity: int, metric: float, target: float) -> int:
    """Target tracking's new capacity: proportional to how far the metric is from the target.

    AWS's example (https://docs.aws.amazon.com/autoscaling/ec2/userguide/as-using-sqs-queue.html):
    1,500 messages, 10 s acceptable latency, 0.1 s per message: target 100; with 5 tasks the
    backlog per task is 300, so the fleet goes to 15.

    >>> tracking_capacity(5, 1500 / 5, sizing.backlog_per_worker(10, 0.1))
    15
    """
    return math.ceil(round(capacity * metric / target, 9))


# --- the fleet ---------------------------------------------------------------------


@dataclass
class _Task:
    launched: int
    ready_at: int
    free_at: float = 0.0
    held: deque = field(default_factory=deque)  # message ids received, not started
    current: int | None = None  # message id in progress (ends at free_at)
    current_start: float = 0.0
    stopping: bool = False
    sigterm_at: int | None = None
    stop_at: int | None = None


@dataclass
class _TrackingPolicy:
    """A target tracking policy's state (cooldowns and the capacity before the last scale-out)."""

    target: float
    out_cooldown: int
    in_cooldown: int
    last_out: int = -10**9
    last_in: int = -10**9
    base: int = 0


@dataclass
class _StepPolicy:
    cooldown: int
    last: int = -10**9


@dataclass
class Result:
    """One policy's run over a scenario. The ``ideal`` policy's row has its task-hours only: no latencies.

    :param scenario: the scenario's name.
    :param policy: the policy's name (see :data:`POLICIES`).
    :param over_budget_share: share of the messages, 0 to 1, done later than
        the budget or not done within the horizon.
    :param p50_latency_s: median latency of the messages done within the
        horizon, seconds (rounded to 0.1); none when none were done.
    :param p99_latency_s: their 99th percentile latency, seconds; none when none.
    :param max_latency_s: their largest latency, seconds; none when none.
    :param task_hours: billed task-hours (from launch to stop), rounded to 0.001.
    :param ideal_ratio: ``task_hours`` over the ideal's; none when the ideal is 0.
    :param messages: messages in the scenario.
    :param unfinished: messages not done within the horizon.
    :param task_seconds: billed task-seconds. Default: 0.
    :param work_done_s: processing time of the messages done within the
        horizon, seconds. Default: 0.
    :param series: per-second samples for :func:`plot`: ``"arrivals"``,
        ``"visible"``, ``"running"``, ``"billed"`` (lists, one value per second)
        and ``"latency"`` (``(arrival, latency)`` per message done). Default:
        empty; :func:`simulate` fills it (the ideal's row: arrivals only).
    """

    scenario: str
    policy: str
    over_budget_share: float
    p50_latency_s: float | None
    p99_latency_s: float | None
    max_latency_s: float | None
    task_hours: float
    ideal_ratio: float | None
    messages: int
    unfinished: int
    task_seconds: float = 0.0
    work_done_s: float = 0.0
    series: dict = field(default_factory=dict, repr=False)

    def row(self) -> dict:
        """The fields but ``series``, as a dict (one JSON line of ``--json``)."""
        out = asdict(self)
        out.pop("series")
        return out


def _pct(sorted_values: Sequence[float], q: float) -> float | None:
    if not sorted_values:
        return None
    k = max(0, math.ceil(q * len(sorted_values)) - 1)
    return sorted_values[k]


class Fleet:
    """One policy's run over a scenario's messages: :meth:`run`, then :meth:`result`.

    :param policy: one of :data:`POLICIES` but ``ideal``, or :data:`BACKLOG_ONLY`.
    :param msgs: the scenario's messages.
    :param w: the workload.
    :param horizon_s: seconds to simulate: the load and the tail.
    :param peak_rate: the scenario's highest arrivals per second; sizes the
        ``fixed`` policy's fleet.
    """

    def __init__(self, policy: str, msgs: Messages, w: Workload, *, horizon_s: int, peak_rate: float) -> None:
        self.policy, self.msgs, self.w, self.horizon = policy, msgs, w, horizon_s
        self.rng = random.Random(w.seed * 7919 + (POLICIES + (BACKLOG_ONLY,)).index(policy))
        self.min, self.max = w.min_workers, w.max_workers
        if policy == "fixed":
            need = sizing.workers_for_rate(peak_rate, w.avg_processing_time_s) if peak_rate > 0 else 1
            self.min = self.max = min(w.max_workers, max(w.min_workers, need))
        self.desired = self.min if policy == "fixed" or w.initial_workers is None else w.initial_workers
        self.tasks: list[_Task] = [_Task(launched=-3600, ready_at=0) for _ in range(self.desired)]
        self.queue: deque[int] = deque()
        self.next_msg = 0
        self.done_at: list[float | None] = [None] * len(msgs.arrival)
        # per-second samples and per-minute datapoints
        self.visible: list[int] = []
        self.running: list[int] = []
        self.billed: list[int] = []
        self.busy: list[float] = []
        self.dp_visible: list[float] = []
        self.dp_running: list[float] = []
        self.dp_cpu: list[float | None] = []
        self.dp_sent: list[int] = []
        if policy in ("refarch", BACKLOG_ONLY):
            metric = "load" if policy == "refarch" else "backlog"
            out_cooldown = 60 if policy == BACKLOG_ONLY else w.scale_out_cooldown_s
            self.tt = [(metric, _TrackingPolicy(w.target, out_cooldown, 300))]  # the construct's cooldowns
            self.wake = _StepPolicy(60)
            self.fast_in = _StepPolicy(AAS_DEFAULT_COOLDOWN_S)
        elif policy == "queue-processing-fargate-service":
            self.tt = [("cpu", _TrackingPolicy(QPFS_CPU_TARGET, AAS_DEFAULT_COOLDOWN_S, AAS_DEFAULT_COOLDOWN_S))]
            self.upper, self.lower = _StepPolicy(AAS_DEFAULT_COOLDOWN_S), _StepPolicy(AAS_DEFAULT_COOLDOWN_S)
        elif policy == "visible-messages-target":
            self.tt = [("visible", _TrackingPolicy(VISIBLE_TARGET, AAS_DEFAULT_COOLDOWN_S, AAS_DEFAULT_COOLDOWN_S))]
        else:
            self.tt = []

    # -- ECS ------------------------------------------------------------------------

    def _start_latency(self) -> int:
        return max(1, math.ceil(self.rng.lognormvariate(math.log(self.w.start_median_s), self.w.start_sigma)))

    def _reconcile(self, t: int) -> None:
        """ECS moves the service toward the desired count: launch, or stop idle tasks first."""
        alive = [k for k in self.tasks if not k.stopping]
        for _ in range(self.desired - len(alive)):
            self.tasks.append(_Task(launched=t, ready_at=t + self._start_latency()))
        excess = len(alive) - self.desired
        if excess <= 0:
            return
        # Pending first, then idle, then busy ones (ECS spares tasks with scale-in protection):
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection.html
        def busy(k: _Task) -> bool:
            return k.current is not None or bool(k.held)

        order = sorted(alive, key=lambda k: (k.ready_at <= t, busy(k)))
        for k in order[:excess]:
            if busy(k) and k.ready_at <= t and self.w.scale_in_protection:
                continue  # protected; ECS tries again once it is idle
            k.stopping = True
            if k.ready_at > t or not busy(k):
                k.stop_at = t + 1
            else:
                self._sigterm(k, t)

    def _sigterm(self, k: _Task, t: int) -> None:
        """SIGTERM: finish the message in hand within stop_timeout - 5 s, hand back the rest; SIGKILL at
        stop_timeout. https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task_definition_parameters.html
        """
        grace = sizing.worker_shutdown_grace(self.w.stop_timeout_s)
        while k.held:
            self.queue.appendleft(k.held.pop())
        k.sigterm_at = t
        if k.current is not None and k.free_at > t + grace:
            self.queue.appendleft(k.current)  # released unfinished: its work is lost
            self.done_at[k.current] = None
            k.current, k.free_at = None, t
            k.stop_at = t + grace  # it works on until the grace ends, then hands the message back
            return
        k.stop_at = max(t + 1, math.ceil(k.free_at)) if k.current is not None else t + 1

    # -- the workers ----------------------------------------------------------------------

    def _work(self, t: int) -> float:
        """Advance every running task through [t, t+1); return the work done in it."""
        arrival, work = self.msgs.arrival, self.msgs.work
        while self.next_msg < len(arrival) and arrival[self.next_msg] < t + 1:
            self.queue.append(self.next_msg)
            self.next_msg += 1
        busy = 0.0
        heap = []
        for i, k in enumerate(self.tasks):
            if k.ready_at <= t and (k.stop_at is None or k.stop_at > t):
                k.free_at = max(k.free_at, t)
                if k.current is not None and k.free_at > t:
                    busy += min(k.free_at, t + 1) - max(k.current_start, t)
                    if k.free_at >= t + 1:
                        continue
                    k.current = None
                elif k.current is not None:
                    k.current = None
                heapq.heappush(heap, (k.free_at, i))
        while heap:
            now, i = heapq.heappop(heap)
            k = self.tasks[i]
            if k.stop_at is not None and not k.held and k.sigterm_at is not None:
                continue  # stopping: takes no new work
            if not k.held:
                if k.stopping or not self.queue:
                    continue
                head = self.queue[0]
                now = max(now, arrival[head])
                if now >= t + 1:
                    continue
                # A long poll returns what is there, up to the batch size:
                # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-short-and-long-polling.html
                while self.queue and len(k.held) < self.w.batch_size and arrival[self.queue[0]] <= now:
                    k.held.append(self.queue.popleft())
            m = k.held.popleft()
            k.current, k.current_start = m, now
            k.free_at = now + work[m]
            self.done_at[m] = k.free_at
            busy += min(k.free_at, t + 1) - now
            if k.free_at < t + 1:
                k.current = None
                heapq.heappush(heap, (k.free_at, i))
        # protected stopping tasks stop when their batch is done
        for k in self.tasks:
            if k.stopping and k.stop_at is None and k.current is None and not k.held:
                k.stop_at = t + 1
        return busy

    # -- Application Auto Scaling -------------------------------------------------------------

    def _datapoints(self, name: str, upto: int) -> list[float | None]:
        if name == "backlog":
            return [v / r if r > 0 else None for v, r in zip(self.dp_visible[:upto], self.dp_running[:upto])]
        if name == "load":  # (visible + sent per minute x budget / 60) / running: see QueueWorkerFleet
            extra = round(self.w.max_acceptable_latency_s / METRIC_PERIOD_S, 6)  # as sizing writes it
            return [(v + n * extra) / r if r > 0 else None
                    for v, n, r in zip(self.dp_visible[:upto], self.dp_sent[:upto], self.dp_running[:upto])]
        if name == "visible":
            return self.dp_visible[:upto]
        return self.dp_cpu[:upto]

    def _scale(self, t: int) -> None:
        """Once a minute, with the datapoints CloudWatch has by now."""
        have = max(0, (t - self.w.metric_delay_s) // METRIC_PERIOD_S)
        have = min(have, len(self.dp_visible))
        proposals: list[tuple[int, str]] = []
        for name, p in self.tt:
            # https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html
            dps = self._datapoints(name, have)
            high = dps[-TT_OUT_DATAPOINTS:]
            low = dps[-TT_IN_DATAPOINTS:]
            if len(high) == TT_OUT_DATAPOINTS and all(v is not None and v > p.target for v in high):
                in_cooldown = t - p.last_out < p.out_cooldown
                base = p.base if in_cooldown else self.desired
                new = tracking_capacity(base, high[-1], p.target)
                if new > self.desired:
                    proposals.append((new, "out:" + name))
            elif (len(low) == TT_IN_DATAPOINTS and all(v is not None and v < TT_IN_FRACTION * p.target for v in low)
                  and t - p.last_in >= p.in_cooldown and t - p.last_out >= p.out_cooldown):
                new = tracking_capacity(self.desired, low[-1], p.target)
                if new < self.desired:
                    proposals.append((new, "in:" + name))
        if self.policy == "queue-processing-fargate-service" and have:
            # Step scaling: Maximum over the alarm's 5-minute period, one evaluation period:
            # https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-step-scaling-policies.html
            window = self.dp_visible[max(0, have - QPFS_STEP_PERIOD_S // METRIC_PERIOD_S):have]
            peak = max(window)
            if peak >= 100 and t - self.upper.last >= self.upper.cooldown:
                change = next(c for lo, hi, c in QPFS_STEPS if lo is not None and peak >= lo and (hi is None or peak < hi))
                proposals.append((self.desired + change, "upper"))
            elif peak <= 0 and t - self.lower.last >= self.lower.cooldown:
                proposals.append((self.desired - 1, "lower"))
        if self.policy == "refarch" and self.w.fast_scale_in and have >= FAST_IN_DATAPOINTS:
            # refarch's step scale-in beside target tracking: e1 below 90 % of the target on 5 datapoints,
            # a percentage of the capacity by how far below (never more than proportional).
            dps = self._datapoints("load", have)[-FAST_IN_DATAPOINTS:]
            target = self.tt[0][1].target
            if all(v is not None and v < TT_IN_FRACTION * target for v in dps) and \
                    t - self.fast_in.last >= self.fast_in.cooldown:
                ratio = dps[-1] / target
                percent = next(pc for upper, pc in FAST_IN_STEPS if ratio < upper)
                change = max(1, math.floor(self.desired * percent / 100))  # MinAdjustmentMagnitude 1
                proposals.append((self.desired - change, "fast-in"))
        if self.policy in ("refarch", BACKLOG_ONLY) and self.w.min_workers == 0 and have:
            # The wake-up alarm: IF(FILL(m2, 0) == 0, m1, 0) > 0 on one minute, ExactCapacity 1.
            if self.dp_running[have - 1] == 0 and self.dp_visible[have - 1] > 0 and t - self.wake.last >= 60:
                proposals.append((max(1, self.desired), "wake"))
        if not proposals:
            return
        # Several policies: the one giving the largest capacity wins:
        # https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-target-tracking.html
        new, why = max(proposals)
        new = max(self.min, min(self.max, new))
        if new == self.desired and why != "wake":
            return
        for name, p in self.tt:
            if why == "out:" + name:
                if t - p.last_out >= p.out_cooldown:
                    p.base = self.desired
                p.last_out = t
            elif why == "in:" + name:
                p.last_in = t
        if why == "upper":
            self.upper.last = t
        elif why == "lower":
            self.lower.last = t
        elif why == "wake":
            self.wake.last = t
        elif why == "fast-in":
            self.fast_in.last = t
        self.desired = new

    # -- the run ---------------------------------------------------------------------------

    def run(self) -> None:
        """Simulate the horizon second by second: scaling once a minute, ECS, the workers, the metrics."""
        minute_visible = 0
        minute_running: list[int] = []
        minute_busy = 0.0
        sent_before = 0
        for t in range(self.horizon):
            if t and t % METRIC_PERIOD_S == 0 and self.policy != "fixed":
                self._scale(t)
            self._reconcile(t)
            busy = self._work(t)
            running = [k for k in self.tasks if k.ready_at <= t and (k.stop_at is None or k.stop_at > t)]
            billed = sum(1 for k in self.tasks if k.launched <= t and (k.stop_at is None or k.stop_at > t))
            self.tasks = [k for k in self.tasks if k.stop_at is None or k.stop_at > t + 1]
            self.visible.append(len(self.queue))
            self.running.append(len(running))
            self.billed.append(billed)
            self.busy.append(busy)
            minute_running.append(len(running))
            minute_busy += busy
            if (t + 1) % METRIC_PERIOD_S == 0:
                # One SQS sample per minute; RunningTaskCount averaged over the minute:
                # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html
                minute_visible = len(self.queue)
                running_avg = sum(minute_running) / len(minute_running)
                self.dp_visible.append(minute_visible)
                self.dp_running.append(running_avg)
                task_s = sum(minute_running)
                self.dp_cpu.append(100 * minute_busy / task_s if task_s else None)
                self.dp_sent.append(self.next_msg - sent_before)  # NumberOfMessagesSent, Sum over the minute
                sent_before = self.next_msg
                minute_running, minute_busy = [], 0.0

    def result(self, scenario: str, ideal_s: float) -> Result:
        """The run's :class:`Result` for ``scenario``, compared with the ideal's ``ideal_s`` task-seconds."""
        lat = sorted(
            (d - a) for d, a in zip(self.done_at, self.msgs.arrival) if d is not None and d <= self.horizon
        )
        n = len(self.msgs.arrival)
        unfinished = n - len(lat)
        over = sum(1 for v in lat if v > self.w.max_acceptable_latency_s) + unfinished
        hours = sum(self.billed) / 3600
        return Result(
            scenario=scenario,
            policy=self.policy,
            over_budget_share=over / n if n else 0.0,
            p50_latency_s=_round(_pct(lat, 0.50)),
            p99_latency_s=_round(_pct(lat, 0.99)),
            max_latency_s=_round(lat[-1] if lat else None),
            task_hours=round(hours, 3),
            ideal_ratio=round(hours / (ideal_s / 3600), 3) if ideal_s > 0 else None,
            messages=n,
            unfinished=unfinished,
            task_seconds=float(sum(self.billed)),
            work_done_s=sum(p for d, p in zip(self.done_at, self.msgs.work) if d is not None and d <= self.horizon),
            series={"visible": self.visible, "running": self.running, "billed": self.billed,
                    "latency": [(a, d - a) for a, d in zip(self.msgs.arrival, self.done_at) if d is not None]},
        )


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def simulate(scenario: Scenario, w: Workload, policies: Sequence[str] = POLICIES) -> list[Result]:
    """Run every policy over the same messages; the ideal's row carries its task-hours only."""
    msgs = generate(scenario, w)
    duration = len(scenario.counts) if scenario.counts is not None else len(scenario.rates)
    horizon = duration + max(w.tail_s, math.ceil(2 * w.max_acceptable_latency_s))
    peak = max(scenario.counts) if scenario.counts is not None else max(scenario.rates, default=0)
    ideal_s = ideal_task_seconds(msgs, budget_s=w.max_acceptable_latency_s, floor=w.min_workers, horizon_s=horizon)
    results = []
    for policy in policies:
        if policy == "ideal":
            results.append(Result(scenario.name, "ideal", 0.0, None, None, None, round(ideal_s / 3600, 3),
                                  1.0 if ideal_s > 0 else None, len(msgs.arrival), 0, ideal_s, sum(msgs.work)))
            continue
        fleet = Fleet(policy, msgs, w, horizon_s=horizon, peak_rate=peak)
        fleet.run()
        results.append(fleet.result(scenario.name, ideal_s))
    for r in results:
        r.series.setdefault("arrivals", _per_second(msgs.arrival, horizon))
    return results


def _per_second(arrival: Sequence[float], horizon: int) -> list[int]:
    out = [0] * horizon
    for a in arrival:
        if a < horizon:
            out[int(a)] += 1
    return out


# --- output -----------------------------------------------------------------------------------


def table(results: Sequence[Result]) -> str:
    """A plain-text table, one row per result: share over budget, p50, p99 and max latency, task-hours, and
    the ratio to the ideal."""
    head = f"{'scenario':<10}{'policy':<34}{'over budget':>12}{'p50 s':>8}{'p99 s':>8}{'max s':>8}" \
           f"{'task-h':>9}{'x ideal':>9}"
    lines = [head, "-" * len(head)]

    def f(v: float | None) -> str:
        return "-" if v is None else f"{v:.0f}"

    for r in results:
        ratio = "-" if r.ideal_ratio is None else f"{r.ideal_ratio:.2f}"
        lines.append(f"{r.scenario:<10}{r.policy:<34}{100 * r.over_budget_share:>11.2f}%{f(r.p50_latency_s):>8}"
                     f"{f(r.p99_latency_s):>8}{f(r.max_latency_s):>8}{r.task_hours:>9.2f}{ratio:>9}")
    return "\n".join(lines)


def plot(results: Sequence[Result], path: str | Path, budget_s: float) -> None:
    """Arrivals, backlog, tasks and latency over time, one panel per policy (matplotlib)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in results if r.policy != "ideal"]
    fig, axes = plt.subplots(len(runs), 1, figsize=(10, 2.6 * len(runs)), sharex=True, squeeze=False)
    for ax, r in zip(axes[:, 0], runs):
        s = r.series
        minutes = [i / 60 for i in range(len(s["visible"]))]
        per_min = [sum(s["arrivals"][i:i + 60]) / 60 for i in range(0, len(s["arrivals"]), 60)]
        ax.plot([i for i in range(len(per_min))], per_min, color="0.6", lw=1, label="arrivals/s (1-min mean)")
        ax.plot(minutes, [v / 100 for v in s["visible"]], color="tab:orange", lw=1, label="visible / 100")
        ax.plot(minutes, s["billed"], color="tab:blue", lw=1.2, label="tasks (billed)")
        ax.set_ylabel("count")
        ax2 = ax.twinx()
        lat = s["latency"]
        ax2.scatter([a / 60 for a, _ in lat[::7]], [v for _, v in lat[::7]], s=1, color="tab:red", alpha=0.3)
        ax2.axhline(budget_s, color="tab:red", ls="--", lw=0.8)
        ax2.set_ylabel("latency s", color="tab:red")
        ax.set_title(f"{r.scenario} · {r.policy}: {100 * r.over_budget_share:.1f}% over budget, "
                     f"{r.task_hours:.1f} task-h ({r.ideal_ratio:.2f}x ideal)", fontsize=9)
    axes[0, 0].legend(loc="upper right", fontsize=7)
    axes[-1, 0].set_xlabel("minutes")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line (``argv``, default: ``sys.argv[1:]``): simulate the scenarios under the policies and
    print a table (or ``--json`` lines), optionally plotting the first scenario. Returns 0."""
    parser = argparse.ArgumentParser(prog="python -m refarch.tools.simulate", description=__doc__.split("\n")[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario and policy, one a line")
    parser.add_argument("--scenario", action="append", help=f"{', '.join(SCENARIOS)} or csv:PATH (repeatable); "
                        "default: step, ramp, spike")
    parser.add_argument("--policy", action="append", choices=(*POLICIES, BACKLOG_ONLY), help="default: all but the last")
    parser.add_argument("--png", help="plot the first scenario to this PNG")
    d = Workload()
    parser.add_argument("--avg-processing-time", type=float, default=d.avg_processing_time_s, metavar="S")
    parser.add_argument("--max-acceptable-latency", type=float, default=d.max_acceptable_latency_s, metavar="S")
    parser.add_argument("--min-workers", type=int, default=d.min_workers)
    parser.add_argument("--max-workers", type=int, default=d.max_workers)
    parser.add_argument("--base-rate", type=float, default=d.base_rate_per_s, metavar="PER_S")
    parser.add_argument("--processing", choices=("fixed", "exponential", "lognormal"), default=d.processing)
    parser.add_argument("--start-median", type=float, default=d.start_median_s, metavar="S",
                        help="median task start latency (lognormal)")
    parser.add_argument("--metric-delay", type=int, default=d.metric_delay_s, metavar="S")
    parser.add_argument("--no-scale-in-protection", action="store_true")
    parser.add_argument("--seed", type=int, default=d.seed)
    args = parser.parse_args(argv)
    w = Workload(avg_processing_time_s=args.avg_processing_time, max_acceptable_latency_s=args.max_acceptable_latency,
                 min_workers=args.min_workers, max_workers=args.max_workers, base_rate_per_s=args.base_rate,
                 processing=args.processing, start_median_s=args.start_median, metric_delay_s=args.metric_delay,
                 scale_in_protection=not args.no_scale_in_protection, seed=args.seed)
    names = args.scenario or ["step", "ramp", "spike"]
    everything: list[Result] = []
    for name in names:
        scenario = trace(name[4:]) if name.startswith("csv:") else profile(name, w)
        results = simulate(scenario, w, args.policy or POLICIES)
        everything += results
        if args.png and name == names[0]:
            plot(results, args.png, w.max_acceptable_latency_s)
    if args.json:
        for r in everything:
            print(json.dumps(r.row()))
    else:
        print(f"workload: {w.avg_processing_time_s} s per message ({w.processing}), budget "
              f"{w.max_acceptable_latency_s:.0f} s, target {w.target} per worker, {w.min_workers}-{w.max_workers} "
              f"workers, base {w.base_rate_per_s}/s, seed {w.seed}")
        print(table(everything))
    return 0


if __name__ == "__main__":
    sys.exit(main())
