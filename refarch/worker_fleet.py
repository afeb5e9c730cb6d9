"""A fleet of workers draining an SQS queue, sized by backlog per worker.

Producers enqueue jobs at whatever rate they like; the queue buffers them and
workers drain it. The fleet is sized from two workload numbers instead of raw
thresholds:

    target backlog per worker = max_acceptable_latency / avg_processing_time

(AWS's example: 10 s / 0.1 s = 100 messages). Application Auto Scaling keeps
``(ApproximateNumberOfMessagesVisible + NumberOfMessagesSent per minute x budget
in minutes) / RunningTaskCount`` (the backlog a worker must clear within the
next budget) at that target; a
separate step policy wakes a fleet scaled to zero, where backlog per worker is
undefined. Workers are ECS Fargate tasks running the worker shipped in
``refarch/runtime/worker`` (default) or a Lambda function fed by an SQS event
source. What can fail has somewhere to go: a message the workers fail
``max_receive_count`` times moves to the dead-letter queue, which is alarmed,
as are a message older than the latency budget and a fleet stuck at its
maximum. A Fargate worker protects its task from scale-in and deployments
while it holds messages (ECS task scale-in protection), so ECS stops only idle
workers and long jobs are not abandoned.

Copy this file with ``secure.py``, ``observe.py``, ``sizing.py`` and ``runtime/worker`` to use
it elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from refarch import observe, secure, sizing

#: The worker shipped with the pattern: a Dockerfile and the Lambda adapter.
WORKER_RUNTIME = Path(__file__).resolve().parent / "runtime" / "worker"
_ASSET_EXCLUDE = ["__pycache__", "*.pyc"]

#: Scale out again on the scale-out's own evidence only after three minutes: a new task shows in
#: RunningTaskCount once it runs (about a minute for image pull and start), the minute it ran has been
#: averaged, and the datapoint published. Within the cooldown Application Auto Scaling counts the
#: capacity already added, so a growing backlog still scales out at once; after a shorter cooldown the
#: stale RunningTaskCount multiplies the step (issue 16's simulator: 1 -> 12 -> 20 workers for 8 needed).
#: Remove workers only after five quiet minutes, so a lull does not drop workers the next burst needs.
SCALE_OUT_COOLDOWN = cdk.Duration.seconds(180)
#: The wake-up step's cooldown: one minute, the SQS metric's period.
WAKE_UP_COOLDOWN = cdk.Duration.seconds(60)
SCALE_IN_COOLDOWN = cdk.Duration.seconds(300)
#: "At max capacity" means pinned there for three five-minute periods.
_AT_MAX_PERIOD = cdk.Duration.minutes(5)
_AT_MAX_PERIODS = 3

# Fargate's CPU units -> (smallest, largest, step) memory in MiB.
_FARGATE_MEMORY = {
    256: (512, 2048, None),
    512: (1024, 4096, 1024),
    1024: (2048, 8192, 1024),
    2048: (4096, 16384, 1024),
    4096: (8192, 30720, 1024),
    8192: (16384, 61440, 4096),
    16384: (32768, 122880, 8192),
}
_RESERVED_ENV = ("WORKER_", "AWS_")
#: Minutes each scale-in protection request protects a task for; the worker renews it every half of
#: this while it still works, so a worker that can no longer renew is unprotected within this time.
SCALE_IN_PROTECTION_MINUTES = 10
#: Interface endpoints Fargate workers need in a VPC without NAT: ``secure.WORKER_ENDPOINTS`` (SQS, ECR,
#: ECR Docker, CloudWatch Logs, KMS) plus ECS, which the ECS agent calls for scale-in protection
#: (UpdateTaskProtection). With ``scale_in_protection=False``, ``secure.WORKER_ENDPOINTS`` is enough.
FARGATE_WORKER_ENDPOINTS = (*secure.WORKER_ENDPOINTS, ec2.InterfaceVpcEndpointAwsService.ECS)
_Cfn = appscaling.CfnScalingPolicy


@dataclass(frozen=True)
class FargateWorkers:
    """Workers as ECS Fargate tasks in the VPC's private subnets (the default).

    :param image: the container image. Default: the worker in
        ``refarch/runtime/worker``, built by ``cdk deploy`` for
        ``cpu_architecture``. Build your own ``FROM`` it with your handler module.
    :param handler: the message handler as ``module:function`` (env
        ``WORKER_HANDLER``). Default: ``handlers:log_message``, which only logs.
    :param cpu: Fargate CPU units. Default: 256 (a quarter vCPU).
    :param memory_limit_mib: Default: 512.
    :param cpu_architecture: Default: ARM64 (Graviton: cheaper per vCPU).
    :param environment: extra environment variables (not ``WORKER_*``/``AWS_*``).
        Default: none.
    :param stop_timeout: SIGTERM to SIGKILL, 25-120 s. The worker gets this minus
        5 s to finish the message in hand, then hands back what it holds.
        Without ``scale_in_protection`` that grace must cover
        ``avg_processing_time``. Default: 30 s (ECS's default).
    :param scale_in_protection: while a worker holds messages it sets ECS task
        scale-in protection through the ECS agent, so neither a scale-in nor a
        deployment stops it mid-batch; it clears it when the batch is done. The
        task role may update the protection of this cluster's tasks; in a VPC
        without NAT the workers need the ECS endpoint
        (``FARGATE_WORKER_ENDPOINTS``). Default: True. ``False`` only when the
        SIGTERM grace covers ``avg_processing_time`` (refused otherwise).
    :param batch_size: messages per receive, 1-10; the worker works through
        them one at a time, so the last waits for the others, and all of them
        must be done within SQS's 12 hours. Default: 10.
    :param visibility_timeout: how long a received message stays hidden; the
        worker extends it every third of it while it still holds the message,
        so it only bounds how soon a crashed worker's messages come back.
        Default: 60 s.
    :param read_only_root_filesystem: Default: True, with a writable ``/tmp`` on
        the task's ephemeral storage for handlers' scratch files (a custom
        image that runs as non-root should declare ``VOLUME /tmp`` too).
    :param enable_execute_command: ECS Exec into running tasks, logged to the
        fleet's encrypted log group. Default: False. Needs the SSM Messages
        endpoint (or NAT) in the VPC, and ``read_only_root_filesystem=False``
        (ECS Exec's agent writes to the container's root filesystem).
    :param user: the container's user (``uid`` or ``uid:gid``), declared in the
        task definition so ECS and AWS Control Tower (CT.ECS.PR.3) see that it
        is not root. Default: ``65534`` (nobody), the user the bundled image
        runs as; a custom image that runs as another non-root user names it.
    """

    image: ecs.ContainerImage | None = None
    handler: str = "handlers:log_message"
    cpu: int = 256
    memory_limit_mib: int = 512
    cpu_architecture: ecs.CpuArchitecture = ecs.CpuArchitecture.ARM64
    environment: Mapping[str, str] = field(default_factory=dict)
    stop_timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(30))
    visibility_timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(60))
    read_only_root_filesystem: bool = True
    enable_execute_command: bool = False
    scale_in_protection: bool = True
    batch_size: int = sizing.SQS_MAX_RECEIVE_BATCH
    user: str = "65534"


@dataclass(frozen=True)
class LambdaWorkers:
    """Workers as a Lambda function fed by an SQS event source.

    Lambda scales the pollers itself, up to ``max_workers`` concurrent
    invocations; failed records are reported one by one
    (ReportBatchItemFailures), so one bad message does not retry its batch.

    :param code: Default: the worker in ``refarch/runtime/worker`` (its
        ``worker.lambda_handler`` calls ``handler`` for each record).
    :param handler: the message handler as ``module:function``, the same
        contract as on Fargate. Default: ``handlers:log_message``.
    :param runtime: Default: the newest Python runtime.
    :param timeout: Default: 30 s. Must cover a batch at ``avg_processing_time``;
        a new queue's visibility timeout becomes 6 x this plus the batching window.
    :param memory_size: MiB. Default: 256.
    :param batch_size: records per invocation. Default: 10 (the FIFO maximum).
    :param max_batching_window: how long to gather a batch. Default: none.
    :param environment: extra environment variables (not ``WORKER_*``/``AWS_*``).
        Default: none.
    :param reserved_concurrency: at least ``max_workers`` when set. Default:
        none (``max_workers`` bounds the event source; reserving fails in
        accounts at the 10-execution minimum).
    """

    code: lambda_.Code | None = None
    handler: str = "handlers:log_message"
    runtime: lambda_.Runtime = secure.LATEST_PYTHON
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(30))
    memory_size: int = 256
    batch_size: int = 10
    max_batching_window: cdk.Duration | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None


class QueueWorkerFleet(Construct):
    """Workers that drain an SQS queue and scale on backlog per worker.

    Simplest use::

        QueueWorkerFleet(self, "Thumbnails", vpc=vpc, avg_processing_time=cdk.Duration.seconds(2))

    :param avg_processing_time: how long a worker takes per message, on average.
    :param max_acceptable_latency: how long a message may wait; sets the
        scaling target and the oldest-message alarm's threshold. At least 1 s
        and more than ``avg_processing_time`` (SQS metrics arrive once a minute,
        so the fleet reacts on that rhythm whatever the budget). Default: 5 minutes.
    :param compute: :class:`FargateWorkers` or :class:`LambdaWorkers`.
        Default: ``FargateWorkers()``.
    :param vpc: where Fargate workers run; required for them, refused for
        Lambda (its functions run outside a VPC). Workers need SQS, ECR,
        CloudWatch Logs, KMS and (for scale-in protection) ECS through
        endpoints or NAT, and S3 for image layers (``secure.Network`` with
        ``FARGATE_WORKER_ENDPOINTS``). Default: none (Lambda workers only).
    :param subnets: Default: the ``Private`` subnet group when the VPC has one
        (as ``secure.Network`` builds it), otherwise the VPC's private subnets.
    :param min_workers: Fargate only. 0 scales to zero when the queue is idle
        and wakes the fleet when messages arrive. Default: 1.
    :param max_workers: Fargate tasks, or the event source's maximum
        concurrency on Lambda (2-1000). Default: 10.
    :param queue: an existing queue to drain, e.g. a FanOut subscriber's.
        Default: a new queue with a dead-letter queue, encrypted with
        ``encryption_key`` and TLS-only.
    :param dead_letter_queue: an existing queue's dead-letter queue, to alarm
        on. Default: the existing queue's own, when it was created in this
        app; none for an imported queue.
    :param fifo: new queue only: FIFO (ordered per message group). Default: False.
    :param max_receive_count: new queue only: receives before a message moves
        to the dead-letter queue, 1-1000. Default: 5.
    :param retention_period: new queue only: 1 minute to 14 days, longer than
        ``max_acceptable_latency``. Default: 4 days (the DLQ keeps 14).
    :param encryption_key: the key of the new queues and of the log group.
        Default: a new customer-managed key with rotation. A key passed in must
        already allow CloudWatch Logs; one created in the same app gets the
        statement added.
    :param alarm_topic: where alarms and their recovery go. Default: nowhere
        (alarms are still created).
    :param removal_policy: for queues, key and log group. Default: RETAIN.
    :param log_retention: Default: one year.
    :param dashboard: create a CloudWatch dashboard: the queue's deliveries,
        backlog and oldest age beside its dead-letter queue, backlog per worker
        against its target, running workers against min/max, processing
        errors, and every alarm. Default: True.
    """

    queue: sqs.IQueue
    dead_letter_queue: sqs.IQueue | None
    encryption_key: kms.IKey
    target_backlog_per_worker: int
    """``max_acceptable_latency / avg_processing_time``, rounded down."""
    log_group: logs.LogGroup | None
    cluster: ecs.Cluster | None
    task_definition: ecs.FargateTaskDefinition | None
    service: ecs.FargateService | None
    security_group: ec2.SecurityGroup | None
    scalable_target: appscaling.ScalableTarget | None
    scaling_policy: appscaling.CfnScalingPolicy | None
    """Target tracking on backlog per worker (Fargate)."""
    wake_up_alarm: cloudwatch.Alarm | None
    scale_in_alarm: cloudwatch.Alarm | None
    """Backlog per worker below 90 % of the target for 5 minutes: the step scale-in (Fargate, min < max)."""
    """Messages waiting while no worker runs (Fargate, ``min_workers=0``)."""
    function: lambda_.Function | None
    alarms: list[cloudwatch.Alarm]
    """Dead-letter queue not empty (when there is one), oldest message too old, fleet at max capacity
    (not for a fixed Fargate fleet, ``min_workers == max_workers``, which is always at its maximum)."""
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        avg_processing_time: cdk.Duration,
        max_acceptable_latency: cdk.Duration = cdk.Duration.minutes(5),
        compute: FargateWorkers | LambdaWorkers | None = None,
        vpc: ec2.IVpc | None = None,
        subnets: ec2.SubnetSelection | None = None,
        min_workers: int | None = None,
        max_workers: int = 10,
        queue: sqs.IQueue | None = None,
        dead_letter_queue: sqs.IQueue | None = None,
        fifo: bool | None = None,
        max_receive_count: int | None = None,
        retention_period: cdk.Duration | None = None,
        encryption_key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        compute = compute or FargateWorkers()
        _validate(
            avg_processing_time=avg_processing_time,
            max_acceptable_latency=max_acceptable_latency,
            compute=compute,
            vpc=vpc,
            subnets=subnets,
            min_workers=min_workers,
            max_workers=max_workers,
            queue=queue,
            dead_letter_queue=dead_letter_queue,
            fifo=fifo,
            max_receive_count=max_receive_count,
            retention_period=retention_period,
        )
        if isinstance(compute, LambdaWorkers) and queue is not None and not isinstance(queue, sqs.Queue):
            window = compute.max_batching_window.to_seconds(integral=False) if compute.max_batching_window else 0
            needed = sizing.lambda_visibility_timeout(compute.timeout.to_seconds(integral=False), window)
            cdk.Annotations.of(self).add_warning_v2(
                "refarch:worker-fleet-imported-queue-visibility",
                f"The imported queue's visibility timeout cannot be checked here: it must be at least "
                f"6 x compute.timeout + batching window = {needed} s, or Lambda's retries see a message again "
                "while it is still being processed.",
            )
        latency_s = max_acceptable_latency.to_seconds(integral=False)
        processing_s = avg_processing_time.to_seconds(integral=False)
        self._latency_s = latency_s
        self.target_backlog_per_worker = sizing.backlog_per_worker(latency_s, processing_s)
        age = sizing.oldest_message_alarm(latency_s)

        self.encryption_key = encryption_key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: queues and logs", removal_policy=removal_policy
        )
        secure.allow_logs_to_use_key(self.encryption_key)
        if queue is None:
            self._new_queue(
                compute,
                fifo=bool(fifo),
                max_receive_count=max_receive_count or 5,
                retention_period=retention_period or cdk.Duration.days(4),
                removal_policy=removal_policy,
            )
        else:
            self.queue = queue
            own = queue.dead_letter_queue.queue if isinstance(queue, sqs.Queue) and queue.dead_letter_queue else None
            self.dead_letter_queue = dead_letter_queue or own

        self.log_group = self.cluster = self.task_definition = self.service = self.security_group = None
        self.scalable_target = self.scaling_policy = self.wake_up_alarm = self.scale_in_alarm = self.function = None
        if isinstance(compute, FargateWorkers):
            at_max = self._fargate(
                compute,
                vpc=vpc,
                subnets=subnets,
                min_workers=1 if min_workers is None else min_workers,
                max_workers=max_workers,
                removal_policy=removal_policy,
                log_retention=log_retention,
            )
        else:
            at_max = self._lambda(compute, max_workers=max_workers, removal_policy=removal_policy,
                                  log_retention=log_retention)

        what = self.node.path
        self.alarms = []
        if self.dead_letter_queue is not None:
            self.alarms.append(secure.queue_not_empty_alarm(
                self, "DeadLetterAlarm", queue=self.dead_letter_queue, what=f"{what}: processing failed"))
        self.alarms.append(secure.oldest_message_alarm(
            self,
            "OldestMessageAlarm",
            queue=self.queue,
            what=what,
            threshold_s=age.threshold_s,
            period_s=age.period_s,
            evaluation_periods=age.evaluation_periods,
            datapoints_to_alarm=age.datapoints_to_alarm,
        ))
        # A fixed fleet (min_workers == max_workers) is always at its maximum: that alarm would never clear,
        # and the oldest-message alarm already says when such a fleet cannot keep up.
        fixed = isinstance(compute, FargateWorkers) and (1 if min_workers is None else min_workers) == max_workers
        if not fixed:
            self.alarms.append(cloudwatch.Alarm(
                self,
                "AtMaxCapacityAlarm",
                alarm_description=f"{what}: the fleet has run at its maximum of {max_workers} workers for "
                f"{_AT_MAX_PERIODS * _AT_MAX_PERIOD.to_minutes()} minutes; raise max_workers or speed up the handler",
                metric=at_max,
                threshold=max_workers,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=_AT_MAX_PERIODS,
                datapoints_to_alarm=_AT_MAX_PERIODS,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ))
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard(
            min_workers=(1 if min_workers is None else min_workers) if self.service is not None else None,
            max_workers=max_workers, at_max=at_max,
        ) if dashboard else None

    def _dashboard(self, *, min_workers: int | None, max_workers: int, at_max: cloudwatch.IMetric) -> cloudwatch.Dashboard:
        minute = {"period": cdk.Duration.minutes(1), "statistic": cloudwatch.Stats.SUM}
        peak = {"period": cdk.Duration.minutes(1), "statistic": cloudwatch.Stats.MAXIMUM}
        by_id = {a.node.id: a for a in self.alarms}
        queue_row: list[cloudwatch.IWidget] = [
            observe.text("## Queue: arrivals, backlog, dead letters"),
            observe.graph("Sent, received, deleted", [
                self.queue.metric_number_of_messages_sent(**minute),
                self.queue.metric_number_of_messages_received(**minute),
                self.queue.metric_number_of_messages_deleted(**minute),
            ], width=6),
            observe.graph("Visible and in-flight messages", [
                self.queue.metric_approximate_number_of_messages_visible(**peak),
                self.queue.metric_approximate_number_of_messages_not_visible(**peak),
            ], width=6),
            observe.graph("Oldest message age (s)", [self.queue.metric_approximate_age_of_oldest_message(**peak)],
                          alarms=[by_id["OldestMessageAlarm"]], width=6),
        ]
        if self.dead_letter_queue is not None:
            queue_row.append(observe.graph(
                "Dead-letter queue: processing failed",
                [self.dead_letter_queue.metric_approximate_number_of_messages_visible(**peak)],
                alarms=[by_id["DeadLetterAlarm"]], width=6,
            ))
        at_max_alarm = [by_id["AtMaxCapacityAlarm"]] if "AtMaxCapacityAlarm" in by_id else []
        if self.service is not None:
            workers = self._running_tasks(cloudwatch.Stats.AVERAGE, cdk.Duration.minutes(1))
            worker_row: list[cloudwatch.IWidget] = [
                observe.text("## Workers (Fargate): backlog per worker against its target, running tasks, load"),
                observe.graph("Backlog per worker (scaling metric)", [cloudwatch.MathExpression(
                    expression="m1 / m2",
                    label="Backlog per worker",
                    using_metrics={
                        "m1": self.queue.metric_approximate_number_of_messages_visible(**minute),
                        "m2": workers,
                    },
                    period=cdk.Duration.minutes(1),
                )], limits=[(self.target_backlog_per_worker, "target")]),
                observe.graph("Running tasks", [workers], alarms=at_max_alarm,
                              limits=[(min_workers, "min_workers"), (max_workers, "max_workers")]),
                observe.graph("CPU and memory (%)", [
                    self.service.metric_cpu_utilization(period=cdk.Duration.minutes(1)),
                    self.service.metric_memory_utilization(period=cdk.Duration.minutes(1)),
                ]),
            ]
        else:
            worker_row = [
                observe.text("## Workers (Lambda): concurrency against max_workers, processing errors"),
                observe.graph("Concurrent executions", [at_max], alarms=at_max_alarm,
                              limits=[(max_workers, "max_workers")]),
                observe.graph("Invocations, errors, throttles", [
                    self.function.metric_invocations(**minute),
                    self.function.metric_errors(**minute),
                    self.function.metric_throttles(**minute),
                ]),
                observe.graph("Duration (ms)", [
                    self.function.metric_duration(statistic=cloudwatch.Stats.AVERAGE),
                    self.function.metric_duration(statistic=cloudwatch.Stats.p(99)),
                ]),
            ]
        return observe.pattern_dashboard(self, "Dashboard", title=f"Queue worker fleet {self.node.path}",
                                         rows=[queue_row, worker_row], alarms=self.alarms)

    # -- grants ---------------------------------------------------------------

    def grant_send(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` enqueue jobs (and use the queue's key)."""
        return self.queue.grant_send_messages(grantee)

    # -- the queue --------------------------------------------------------------

    def _new_queue(
        self,
        compute: FargateWorkers | LambdaWorkers,
        *,
        fifo: bool,
        max_receive_count: int,
        retention_period: cdk.Duration,
        removal_policy: cdk.RemovalPolicy,
    ) -> None:
        if isinstance(compute, FargateWorkers):
            visibility = compute.visibility_timeout  # the worker asks for the same on every receive
        else:
            window = compute.max_batching_window.to_seconds(integral=False) if compute.max_batching_window else 0
            timeout_s = compute.timeout.to_seconds(integral=False)
            visibility = cdk.Duration.seconds(sizing.lambda_visibility_timeout(timeout_s, window))
        self.dead_letter_queue = secure.dead_letter_queue(
            self, "DeadLetterQueue", key=self.encryption_key, fifo=fifo, removal_policy=removal_policy
        )
        self.queue = secure.work_queue(
            self,
            "Queue",
            key=self.encryption_key,
            dead_letter_queue=self.dead_letter_queue,
            max_receive_count=max_receive_count,
            fifo=fifo,
            visibility_timeout=visibility,
            retention_period=retention_period,
            removal_policy=removal_policy,
        )

    # -- Fargate ----------------------------------------------------------------

    def _fargate(
        self,
        compute: FargateWorkers,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection | None,
        min_workers: int,
        max_workers: int,
        removal_policy: cdk.RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> cloudwatch.IMetric:
        stack = cdk.Stack.of(self)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=log_retention, encryption_key=self.encryption_key, removal_policy=removal_policy
        )
        exec_config = None
        if compute.enable_execute_command:
            exec_config = ecs.ExecuteCommandConfiguration(
                kms_key=self.encryption_key,
                logging=ecs.ExecuteCommandLogging.OVERRIDE,
                log_configuration=ecs.ExecuteCommandLogConfiguration(
                    cloud_watch_log_group=self.log_group, cloud_watch_encryption_enabled=True
                ),
            )
        self.cluster = ecs.Cluster(
            self,
            "Cluster",
            vpc=vpc,
            container_insights_v2=ecs.ContainerInsights.ENABLED,  # RunningTaskCount, which scaling divides by
            execute_command_configuration=exec_config,
        )

        self.task_definition = ecs.FargateTaskDefinition(
            self,
            "TaskDefinition",
            cpu=compute.cpu,
            memory_limit_mib=compute.memory_limit_mib,
            runtime_platform=ecs.RuntimePlatform(
                cpu_architecture=compute.cpu_architecture,
                operating_system_family=ecs.OperatingSystemFamily.LINUX,
            ),
        )
        platform = (
            ecr_assets.Platform.LINUX_ARM64
            if compute.cpu_architecture == ecs.CpuArchitecture.ARM64
            else ecr_assets.Platform.LINUX_AMD64
        )
        image = compute.image or ecs.ContainerImage.from_asset(
            str(WORKER_RUNTIME), platform=platform, exclude=_ASSET_EXCLUDE
        )
        stop_s = int(compute.stop_timeout.to_seconds(integral=False))
        protection = (
            {"WORKER_SCALE_IN_PROTECTION_MINUTES": str(SCALE_IN_PROTECTION_MINUTES)} if compute.scale_in_protection
            else {}
        )
        container = self.task_definition.add_container(
            "Worker",
            image=image,
            essential=True,
            environment={
                **compute.environment,
                "WORKER_QUEUE_URL": self.queue.queue_url,
                "WORKER_HANDLER": compute.handler,
                "WORKER_BATCH_SIZE": str(compute.batch_size),
                "WORKER_WAIT_TIME_SECONDS": str(sizing.SQS_MAX_WAIT_TIME_S),
                "WORKER_VISIBILITY_TIMEOUT_SECONDS": str(int(compute.visibility_timeout.to_seconds(integral=False))),
                "WORKER_SHUTDOWN_GRACE_SECONDS": str(sizing.worker_shutdown_grace(stop_s)),
                **protection,
            },
            stop_timeout=cdk.Duration.seconds(stop_s),
            readonly_root_filesystem=compute.read_only_root_filesystem,
            user=compute.user,
            # The task's memory as the container's hard limit too (AWS Control Tower CT.ECS.PR.7).
            memory_limit_mib=compute.memory_limit_mib,
            linux_parameters=ecs.LinuxParameters(self, "LinuxParameters", init_process_enabled=True),
            logging=ecs.LogDrivers.aws_logs(
                stream_prefix="worker",
                log_group=self.log_group,
                # Logs must not stall the worker (and its heartbeats); the buffer absorbs bursts.
                mode=ecs.AwsLogDriverMode.NON_BLOCKING,
                max_buffer_size=cdk.Size.mebibytes(25),
            ),
        )
        if compute.read_only_root_filesystem:
            # Handlers (image and video work) need scratch space: /tmp on the task's ephemeral storage. The
            # shipped image declares VOLUME /tmp, so the mount keeps the image's world-writable, sticky /tmp.
            self.task_definition.add_volume(name="Scratch")
            container.add_mount_points(ecs.MountPoint(container_path="/tmp", source_volume="Scratch", read_only=False))
        # Least privilege: receive, extend, release and delete on this queue, decrypt with its key.
        self.queue.grant_consume_messages(self.task_definition.task_role)
        secure.acknowledge(
            self.task_definition.node.find_child("Resource"),
            "AwsSolutions::AwsSolutions-ECS2",
            "The environment holds only non-secret settings (queue URL, handler path, timeouts) that the template "
            "derives; secrets belong in Secrets Manager, referenced through the container's secrets.",
        )
        if compute.scale_in_protection:
            self._grant_task_protection(stack)
        self.task_definition.obtain_execution_role()
        secure.acknowledge(
            self.task_definition.execution_role.node.find_child("DefaultPolicy").node.default_child,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "ecr:GetAuthorizationToken has no resource-level permissions, so it takes Resource '*'; pulling layers "
            "is scoped to the image's repository and writing logs to the fleet's log group.",
        )

        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="Queue workers: HTTPS out only (AWS APIs through endpoints or NAT); nothing in",
            allow_all_outbound=False,
        )
        self.security_group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "HTTPS to AWS APIs and S3")
        self.service = ecs.FargateService(
            self,
            "Service",
            cluster=self.cluster,
            task_definition=self.task_definition,
            vpc_subnets=subnets or _private_subnets(vpc),
            security_groups=[self.security_group],
            assign_public_ip=False,
            platform_version=ecs.FargatePlatformVersion.LATEST,
            min_healthy_percent=100,  # a deployment adds new workers before stopping old ones
            max_healthy_percent=200,
            circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=True),
            enable_execute_command=compute.enable_execute_command,
            enable_ecs_managed_tags=True,
            propagate_tags=ecs.PropagatedTagSource.SERVICE,
        )
        if compute.enable_execute_command:
            task_policy = self.task_definition.task_role.node.find_child("DefaultPolicy").node.default_child
            secure.acknowledge(
                task_policy,
                "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                "ECS Exec needs ssmmessages:Create/OpenControlChannel and DataChannel, which have no resource-level "
                "permissions; it was turned on explicitly (enable_execute_command).",
            )
            log_group_id = stack.resolve(stack.get_logical_id(self.log_group.node.default_child))
            secure.acknowledge(
                task_policy,
                "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>"
                f":log-group:<{log_group_id}>:*]",
                "ECS Exec sessions are logged as streams of the fleet's own log group; the ':*' names its log "
                "streams, which do not exist before the sessions that create them.",
            )

        self._scaling(stack, min_workers=min_workers, max_workers=max_workers)
        return self._running_tasks(cloudwatch.Stats.MINIMUM, _AT_MAX_PERIOD)

    def _grant_task_protection(self, stack: cdk.Stack) -> None:
        """The worker's own task may set its scale-in protection (through the ECS agent).

        The agent's endpoint calls UpdateTaskProtection (PUT) and GetTaskProtection (GET) with the task role:
        https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html
        """
        tasks = stack.format_arn(
            service="ecs",
            resource="task",
            resource_name=f"{self.cluster.cluster_name}/*",
            arn_format=cdk.ArnFormat.SLASH_RESOURCE_NAME,
        )
        self.task_definition.add_to_task_role_policy(iam.PolicyStatement(
            actions=["ecs:UpdateTaskProtection", "ecs:GetTaskProtection"], resources=[tasks]
        ))
        cluster_id = stack.resolve(stack.get_logical_id(self.cluster.node.default_child))
        secure.acknowledge(
            self.task_definition.task_role.node.find_child("DefaultPolicy").node.default_child,
            "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>"
            f":task/<{cluster_id}>/*]",
            "Task scale-in protection for the fleet's own cluster only: task IDs do not exist before ECS starts "
            "the tasks, so the ARN ends in the cluster's task wildcard.",
        )

    def _running_tasks(self, statistic: str, period: cdk.Duration) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name="RunningTaskCount",
            dimensions_map={"ClusterName": self.cluster.cluster_name, "ServiceName": self.service.service_name},
            statistic=statistic,
            period=period,
        )

    def _scaling(self, stack: cdk.Stack, *, min_workers: int, max_workers: int) -> None:
        self.scalable_target = appscaling.ScalableTarget(
            self,
            "ScalableTarget",
            service_namespace=appscaling.ServiceNamespace.ECS,
            resource_id=f"service/{self.cluster.cluster_name}/{self.service.service_name}",
            scalable_dimension="ecs:service:DesiredCount",
            min_capacity=min_workers,
            max_capacity=max_workers,
            # The service-linked role Application Auto Scaling uses for ECS: no role of ours to scope.
            role=iam.Role.from_role_arn(
                self,
                "ScalingRole",
                stack.format_arn(
                    service="iam",
                    region="",
                    resource="role/aws-service-role/ecs.application-autoscaling.amazonaws.com",
                    resource_name="AWSServiceRoleForApplicationAutoScaling_ECSService",
                ),
            ),
        )
        # CDK's target tracking takes one metric, not math (aws/aws-cdk#20659): use the L1.
        queue_name = self.queue.queue_name
        self.scaling_policy = appscaling.CfnScalingPolicy(
            self,
            "BacklogPerWorkerScaling",
            policy_name=f"{cdk.Names.unique_id(self)}-BacklogPerWorker",
            policy_type="TargetTrackingScaling",
            scaling_target_id=self.scalable_target.scalable_target_id,
            target_tracking_scaling_policy_configuration=_Cfn.TargetTrackingScalingPolicyConfigurationProperty(
                target_value=self.target_backlog_per_worker,
                scale_out_cooldown=int(SCALE_OUT_COOLDOWN.to_seconds(integral=False)),
                scale_in_cooldown=int(SCALE_IN_COOLDOWN.to_seconds(integral=False)),
                customized_metric_specification=_Cfn.CustomizedMetricSpecificationProperty(
                    metrics=[
                        _metric_query("m1", "Messages waiting", "AWS/SQS", "ApproximateNumberOfMessagesVisible",
                                      {"QueueName": queue_name}, "Sum"),
                        _metric_query("m2", "Running workers", "ECS/ContainerInsights", "RunningTaskCount",
                                      {"ClusterName": self.cluster.cluster_name,
                                       "ServiceName": self.service.service_name}, "Average"),
                        _metric_query("m3", "Messages sent per minute", "AWS/SQS", "NumberOfMessagesSent",
                                      {"QueueName": queue_name}, "Sum"),
                        _Cfn.TargetTrackingMetricDataQueryProperty(
                            id="e1", label="Backlog per worker, with one budget of arrivals",
                            expression=sizing.backlog_per_worker_expression(self._latency_s), return_data=True
                        ),
                    ]
                ),
            ),
        )
        if min_workers < max_workers:
            self._step_scale_in(latency_s=self._latency_s)
        if min_workers > 0:
            return
        # At zero workers e1 has no value and target tracking does nothing, so a
        # step policy sets one worker when messages wait and none runs; target
        # tracking takes over from there. Guarding on "none runs" keeps the step
        # from cutting a running fleet back to one.
        wake_up = appscaling.StepScalingAction(
            self,
            "WakeUp",
            scaling_target=self.scalable_target,
            adjustment_type=appscaling.AdjustmentType.EXACT_CAPACITY,
            cooldown=WAKE_UP_COOLDOWN,
            metric_aggregation_type=appscaling.MetricAggregationType.MAXIMUM,
        )
        wake_up.add_adjustment(adjustment=1, lower_bound=0)
        self.wake_up_alarm = cloudwatch.Alarm(
            self,
            "WakeUpAlarm",
            alarm_description=f"{self.node.path}: messages are waiting and no worker runs; start one",
            metric=cloudwatch.MathExpression(
                expression="IF(FILL(m2, 0) == 0, m1, 0)",
                label="Messages waiting with no worker running",
                using_metrics={
                    "m1": self.queue.metric_approximate_number_of_messages_visible(
                        statistic=cloudwatch.Stats.MAXIMUM, period=cdk.Duration.minutes(1)
                    ),
                    "m2": self._running_tasks(cloudwatch.Stats.MAXIMUM, cdk.Duration.minutes(1)),
                },
                period=cdk.Duration.minutes(1),
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.wake_up_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(wake_up))

    def _backlog_metric_math(self, latency_s: float) -> cloudwatch.MathExpression:
        minute = cdk.Duration.minutes(1)
        return cloudwatch.MathExpression(
            expression=sizing.backlog_per_worker_expression(latency_s),
            label="Backlog per worker, with one budget of arrivals",
            using_metrics={
                "m1": self.queue.metric_approximate_number_of_messages_visible(statistic="Sum", period=minute),
                "m2": self._running_tasks(cloudwatch.Stats.AVERAGE, minute),
                "m3": self.queue.metric_number_of_messages_sent(statistic="Sum", period=minute),
            },
            period=minute,
        )

    def _step_scale_in(self, *, latency_s: float) -> None:
        """Scale in after 5 minutes below 90 % of the target instead of target tracking's 15.

        Target tracking keeps its own (slower) scale-in and all of the scale-out. This step policy
        removes a percentage of the capacity by how far the same metric is below the target
        (``sizing.SCALE_IN_STEPS``), never more than the proportional step would, at least one task,
        with the scale-in cooldown. Issue 16's simulator: on a 30-minute step to 10x, 1.54x -> 1.25x
        the ideal's task-hours with every message still in budget.
        """
        target = self.target_backlog_per_worker
        threshold = 0.9 * target
        scale_in = appscaling.StepScalingAction(
            self,
            "ScaleIn",
            scaling_target=self.scalable_target,
            adjustment_type=appscaling.AdjustmentType.PERCENT_CHANGE_IN_CAPACITY,
            min_adjustment_magnitude=1,
            cooldown=SCALE_IN_COOLDOWN,
            metric_aggregation_type=appscaling.MetricAggregationType.AVERAGE,
        )
        lower = None
        for fraction, percent in sizing.SCALE_IN_STEPS:
            # Bounds are relative to the alarm's threshold (0.9 x target), so they are all at most 0.
            scale_in.add_adjustment(
                adjustment=-percent,
                lower_bound=None if lower is None else round(lower * target - threshold, 6),
                upper_bound=round(fraction * target - threshold, 6),
            )
            lower = fraction
        self.scale_in_alarm = cloudwatch.Alarm(
            self,
            "ScaleInAlarm",
            alarm_description=f"{self.node.path}: backlog per worker below 90 % of the target for "
            f"{sizing.SCALE_IN_DATAPOINTS} minutes; remove workers",
            metric=self._backlog_metric_math(latency_s),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=sizing.SCALE_IN_DATAPOINTS,
            datapoints_to_alarm=sizing.SCALE_IN_DATAPOINTS,
            # No worker running: e1 has no value; nothing to scale in.
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.scale_in_alarm.add_alarm_action(cw_actions.ApplicationScalingAction(scale_in))

    # -- Lambda -----------------------------------------------------------------

    def _lambda(
        self,
        compute: LambdaWorkers,
        *,
        max_workers: int,
        removal_policy: cdk.RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> cloudwatch.IMetric:
        code = compute.code or lambda_.Code.from_asset(str(WORKER_RUNTIME), exclude=[*_ASSET_EXCLUDE, "Dockerfile"])
        self.function = secure.python_function(
            self,
            "Function",
            code=code,
            handler="worker.lambda_handler",
            key=self.encryption_key,
            runtime=compute.runtime,
            timeout=compute.timeout,
            memory_size=compute.memory_size,
            environment={**compute.environment, "WORKER_HANDLER": compute.handler},
            reserved_concurrency=compute.reserved_concurrency,
            description=f"Queue worker of {self.node.path}",
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        event_source = sources.SqsEventSource(
            self.queue,
            batch_size=compute.batch_size,
            max_batching_window=compute.max_batching_window,
            max_concurrency=max_workers,
            report_batch_item_failures=True,
        )
        self.function.add_event_source(event_source)
        cfn_function = self.function.node.default_child
        secure.acknowledge(
            cfn_function,
            "Serverless::Serverless-LambdaDLQ",
            "Invoked only synchronously by its SQS event source: a message it fails returns to the queue and, "
            "after max_receive_count receives, moves to the queue's dead-letter queue. An async DLQ stays empty.",
        )
        secure.checkov_skip(
            cfn_function,
            "CKV_AWS_116",
            "Invoked only synchronously by its SQS event source; failed messages go to the queue's "
            "dead-letter queue through the SQS redrive policy.",
        )
        esm = self.function.node.find_child(f"SqsEventSource:{cdk.Names.node_unique_id(self.queue.node)}")
        secure.acknowledge(
            esm.node.default_child,
            "Serverless::Serverless-LambdaEventSourceMappingDestination",
            "Event source mappings for SQS take no on-failure destination (only stream and Kafka sources do); "
            "the queue's redrive policy sends failed messages to its dead-letter queue.",
        )
        secure.cfn_lint_ignore(
            esm.node.default_child, "ES1001",
            "Event source mappings for SQS take no on-failure destination (only stream and Kafka sources do); "
            "the queue's redrive policy sends failed messages to its dead-letter queue.",
        )
        # Lambda's concurrency is bursty between polls: "at max" is the peak of each period.
        return self.function.metric(
            "ConcurrentExecutions", statistic=cloudwatch.Stats.MAXIMUM, period=_AT_MAX_PERIOD
        )


def _metric_query(
    query_id: str, label: str, namespace: str, name: str, dimensions: Mapping[str, str], stat: str
) -> _Cfn.TargetTrackingMetricDataQueryProperty:
    return _Cfn.TargetTrackingMetricDataQueryProperty(
        id=query_id,
        label=label,
        return_data=False,
        metric_stat=_Cfn.TargetTrackingMetricStatProperty(
            stat=stat,
            metric=_Cfn.TargetTrackingMetricProperty(
                namespace=namespace,
                metric_name=name,
                dimensions=[
                    _Cfn.TargetTrackingMetricDimensionProperty(name=k, value=v)
                    for k, v in dimensions.items()
                ],
            ),
        ),
    )


def _private_subnets(vpc: ec2.IVpc) -> ec2.SubnetSelection:
    """The ``Private`` group of a ``secure.Network``; else the VPC's private subnets."""
    try:
        vpc.select_subnets(subnet_group_name="Private")
    except RuntimeError:
        return ec2.SubnetSelection(
            subnet_type=ec2.SubnetType.PRIVATE_WITH_EGRESS if vpc.private_subnets else ec2.SubnetType.PRIVATE_ISOLATED
        )
    return ec2.SubnetSelection(subnet_group_name="Private")


def _validate(
    *,
    avg_processing_time: cdk.Duration,
    max_acceptable_latency: cdk.Duration,
    compute: FargateWorkers | LambdaWorkers,
    vpc: ec2.IVpc | None,
    subnets: ec2.SubnetSelection | None,
    min_workers: int | None,
    max_workers: int,
    queue: sqs.IQueue | None,
    dead_letter_queue: sqs.IQueue | None,
    fifo: bool | None,
    max_receive_count: int | None,
    retention_period: cdk.Duration | None,
) -> None:
    require = secure.require
    require(isinstance(compute, (FargateWorkers, LambdaWorkers)), "compute", compute,
            "must be FargateWorkers or LambdaWorkers")
    processing_s = avg_processing_time.to_seconds(integral=False)
    latency_s = max_acceptable_latency.to_seconds(integral=False)
    require(processing_s > 0, "avg_processing_time", f"{processing_s} s", "must be positive")
    require(latency_s >= 1, "max_acceptable_latency", f"{latency_s} s", "must be at least 1 s")
    require(latency_s > processing_s, "max_acceptable_latency", f"{latency_s} s",
            f"must be greater than avg_processing_time ({processing_s} s): a message cannot wait less than "
            "it takes to process")

    fargate = isinstance(compute, FargateWorkers)
    require(_whole(max_workers) and max_workers >= 1, "max_workers", max_workers, "must be a whole number, at least 1")
    if min_workers is not None:
        require(fargate, "min_workers", min_workers,
                "applies to Fargate workers only: Lambda scales its pollers from zero itself")
        require(_whole(min_workers) and min_workers >= 0, "min_workers", min_workers,
                "must be a whole number, at least 0 (0 scales to zero)")
        require(min_workers <= max_workers, "min_workers", min_workers,
                f"must not be greater than max_workers ({max_workers})")

    if queue is None:
        require(dead_letter_queue is None, "dead_letter_queue", dead_letter_queue,
                "is only for an existing queue; a new queue gets its own")
        if max_receive_count is not None:
            require(_whole(max_receive_count) and 1 <= max_receive_count <= sizing.SQS_MAX_RECEIVE_COUNT,
                    "max_receive_count", max_receive_count,
                    f"must be a whole number from 1 to {sizing.SQS_MAX_RECEIVE_COUNT}")
        if retention_period is not None:
            retention_s = retention_period.to_seconds(integral=False)
            require(sizing.SQS_MIN_RETENTION_S <= retention_s <= sizing.SQS_MAX_RETENTION_S, "retention_period",
                    f"{retention_s} s", "must be between 60 s and 14 days")
            require(retention_s > latency_s, "retention_period", f"{retention_s} s",
                    f"must be longer than max_acceptable_latency ({latency_s} s), "
                    "or messages expire before they are late")
        is_fifo = bool(fifo)
    else:
        for prop, value in (("fifo", fifo), ("max_receive_count", max_receive_count),
                            ("retention_period", retention_period)):
            require(value is None, prop, value, "is a setting of the existing queue; set it there")
        if isinstance(queue, sqs.Queue):
            require(queue.dead_letter_queue is not None, "queue", queue.node.path,
                    "must have a dead-letter queue: a message the workers keep failing would otherwise return forever")
        is_fifo = bool(queue.fifo)

    if fargate:
        _validate_fargate(compute, vpc=vpc, processing_s=processing_s)
    else:
        require(vpc is None, "vpc", vpc, "applies to Fargate workers only: Lambda workers run outside a VPC")
        require(subnets is None, "subnets", subnets,
                "applies to Fargate workers only: Lambda workers run outside a VPC")
        _validate_lambda(compute, fifo=is_fifo, max_workers=max_workers, processing_s=processing_s, queue=queue)


def _validate_fargate(c: FargateWorkers, *, vpc: ec2.IVpc | None, processing_s: float) -> None:
    require = secure.require
    require(vpc is not None, "vpc", vpc, "is required for Fargate workers (they run in its private subnets)")
    memory = _FARGATE_MEMORY.get(c.cpu)
    require(memory is not None, "compute.cpu", c.cpu, f"must be one of Fargate's {sorted(_FARGATE_MEMORY)}")
    low, high, step = memory
    require(
        low <= c.memory_limit_mib <= high and (step is None or c.memory_limit_mib % step == 0)
        and (step is not None or c.memory_limit_mib in (512, 1024, 2048)),
        "compute.memory_limit_mib",
        c.memory_limit_mib,
        f"must be a memory size Fargate offers with {c.cpu} CPU units ({low}-{high} MiB"
        + (f" in steps of {step})" if step else ": 512, 1024 or 2048)"),
    )
    stop_s = c.stop_timeout.to_seconds(integral=False)
    low_stop = sizing.SQS_MAX_WAIT_TIME_S + sizing.WORKER_RELEASE_MARGIN_S
    require(low_stop <= stop_s <= sizing.FARGATE_MAX_STOP_TIMEOUT_S and float(stop_s).is_integer(),
            "compute.stop_timeout", f"{stop_s} s",
            f"must be whole seconds from {low_stop} (a 20 s long poll plus 5 s to hand messages back) "
            f"to {sizing.FARGATE_MAX_STOP_TIMEOUT_S} (Fargate's maximum)")
    grace_s = sizing.worker_shutdown_grace(stop_s)
    require(c.scale_in_protection or grace_s >= processing_s, "compute.stop_timeout", f"{stop_s} s",
            f"leaves the worker {grace_s} s after SIGTERM, less than avg_processing_time ({processing_s} s): "
            "without scale_in_protection every scale-in and deployment would abandon the job in hand; "
            "keep scale_in_protection=True or raise stop_timeout")
    require(isinstance(c.user, str) and c.user.split(":")[0] not in ("", "0", "root"), "compute.user", c.user,
            "must name a non-root user (uid, uid:gid or a name other than root)")
    require(_whole(c.batch_size) and 1 <= c.batch_size <= sizing.SQS_MAX_RECEIVE_BATCH, "compute.batch_size",
            c.batch_size, f"must be a whole number from 1 to {sizing.SQS_MAX_RECEIVE_BATCH}")
    # SQS keeps a received message hidden for at most 12 hours, however often the worker extends it:
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
    cap_s = sizing.SQS_MAX_VISIBILITY_TIMEOUT_S
    require(processing_s < cap_s, "avg_processing_time", f"{processing_s} s",
            "must be under 12 hours: SQS hides a received message for at most 12 hours in total, so a longer "
            "job is handed to a second worker while the first still runs (use AWS Batch or Step Functions)")
    require(c.batch_size * processing_s <= cap_s, "compute.batch_size", c.batch_size,
            f"x avg_processing_time ({processing_s} s) must fit in SQS's 12-hour cap on a received message's "
            "total visibility: the worker works through a batch one message at a time, so the last would "
            "reappear before its turn; lower batch_size")
    visibility_s = c.visibility_timeout.to_seconds(integral=False)
    require(3 <= visibility_s <= sizing.SQS_MAX_VISIBILITY_TIMEOUT_S and float(visibility_s).is_integer(),
            "compute.visibility_timeout", f"{visibility_s} s",
            "must be whole seconds from 3 s (the worker extends it every third) to 12 hours")
    require(not (c.enable_execute_command and c.read_only_root_filesystem), "compute.enable_execute_command",
            c.enable_execute_command, "needs read_only_root_filesystem=False: ECS Exec's SSM agent writes to the "
            "container's root filesystem and does not start on a read-only one")
    _validate_common(c.handler, c.environment)


def _validate_lambda(
    c: LambdaWorkers, *, fifo: bool, max_workers: int, processing_s: float, queue: sqs.IQueue | None
) -> None:
    require = secure.require
    t = c.timeout.to_seconds(integral=False)
    require(1 <= t <= sizing.LAMBDA_MAX_TIMEOUT_S and float(t).is_integer(), "compute.timeout", f"{t} s",
            "must be whole seconds from 1 s to 15 minutes")
    require(128 <= c.memory_size <= 10240, "compute.memory_size", c.memory_size, "must be 128 to 10240 MiB")
    max_batch = sizing.SQS_FIFO_MAX_BATCH if fifo else sizing.SQS_STANDARD_MAX_BATCH
    require(1 <= c.batch_size <= max_batch, "compute.batch_size", c.batch_size,
            f"must be 1 to {max_batch} for a {'FIFO' if fifo else 'standard'} queue")
    window = c.max_batching_window.to_seconds(integral=False) if c.max_batching_window else 0
    require(0 <= window <= sizing.LAMBDA_MAX_BATCHING_WINDOW_S, "compute.max_batching_window", f"{window} s",
            "must be 0 to 300 s")
    require(not fifo or window == 0, "compute.max_batching_window", f"{window} s", "is not supported for FIFO queues")
    require(c.batch_size <= 10 or window >= 1, "compute.batch_size", c.batch_size,
            "above 10 needs a max_batching_window of at least 1 s")
    require(t >= c.batch_size * processing_s, "compute.timeout", f"{t} s",
            f"must cover a full batch: batch_size {c.batch_size} x avg_processing_time {processing_s} s")
    require(sizing.LAMBDA_SQS_MIN_CONCURRENCY <= max_workers <= sizing.LAMBDA_SQS_MAX_CONCURRENCY, "max_workers",
            max_workers, "must be 2 to 1000 for Lambda workers (the SQS event source's maximum concurrency)")
    if c.reserved_concurrency is not None:
        # Below the event source's maximum concurrency, Lambda throttles its own pollers: messages are
        # received, returned, and dead-lettered after max_receive_count, and the at-max alarm never fires.
        require(_whole(c.reserved_concurrency) and c.reserved_concurrency >= max_workers,
                "compute.reserved_concurrency", c.reserved_concurrency,
                f"must be a whole number of at least max_workers ({max_workers}), or None")
    if isinstance(queue, sqs.Queue):
        # An existing queue keeps its visibility timeout; it must outlast Lambda's retries.
        needed = sizing.lambda_visibility_timeout(t, window)
        visibility = queue.node.default_child.visibility_timeout
        visibility_s = 30 if visibility is None else visibility  # SQS's default
        require(visibility_s >= needed, "queue", f"visibility timeout {visibility_s} s",
                f"must be at least 6 x compute.timeout + batching window = {needed} s for Lambda workers")
    _validate_common(c.handler, c.environment)


def _validate_common(handler: str, environment: Mapping[str, str]) -> None:
    module, _, function = handler.partition(":")
    secure.require(bool(module and function), "compute.handler", handler,
                   "must be module:function, e.g. 'handlers:log_message'")
    reserved = sorted(k for k in environment if k.startswith(_RESERVED_ENV))
    secure.require(not reserved, "compute.environment", reserved,
                   "must not set WORKER_* or AWS_* variables: the fleet sets them")


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
