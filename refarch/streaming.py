"""Kinesis pipeline: one sized, encrypted stream, Lambda consumers, S3 delivery.

Producers write once; every consumer reads the same ordered records at its
own pace, and any of them can re-read the retention window later (replay).
What can fail has somewhere to go:

* a consumer fails a batch -> it is split and retried (bisect on error), and
  after ``retry_attempts`` or ``max_record_age`` the batch's shard and
  sequence range goes to the consumer's dead-letter queue (re-read it with
  ``python -m refarch.tools.kinesis_replay``);
* Firehose cannot write to S3 -> it keeps retrying while the stream still
  holds the records (its freshness alarm fires) and logs the failure to an
  encrypted log group; records it fails to process (a transformation or
  format conversion you add) land under the error-output prefix.

Capacity comes from the declared workload (see ``sizing.stream_capacity``);
the alarms carry the dimensions that make them fire: StreamName,
FunctionName, DeliveryStreamName. Stream, queues, bucket and logs share one
customer-managed KMS key.

More than 5 enhanced fan-out consumers are registered in groups of at most
5, each group after the previous one is ACTIVE (Kinesis lets only 5 be
CREATING at once); a small function, ``refarch/runtime/stream_consumers_active``,
waits for that.

Copy this file with ``secure.py``, ``observe.py`` and ``sizing.py`` (and, for more than 5
enhanced fan-out consumers, ``runtime/stream_consumers_active``) to use it
elsewhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_kinesisfirehose as firehose
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from refarch import observe, secure, sizing

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_NAME_MAX = 40
#: Firehose names the failure kind in an error prefix with this expression.
ERROR_OUTPUT_TYPE = "!{firehose:error-output-type}"
#: The function that waits for a group of registered consumers to be ACTIVE.
CONSUMERS_ACTIVE_RUNTIME = Path(__file__).resolve().parent / "runtime" / "stream_consumers_active"
#: The custom resource type of that wait (tests/test_deploy_rules.py knows it by this name).
CONSUMERS_ACTIVE_TYPE = "Custom::KinesisConsumersActive"


@dataclass(frozen=True)
class LambdaConsumer:
    """A Lambda function that reads the stream.

    The function gets its own role (read this stream, send to its own
    dead-letter queue), an encrypted log group, X-Ray tracing, and a Kinesis
    event source that splits failing batches and reports partial failures.

    :param name: lower-case words joined by hyphens (``"sessionizer"``);
        becomes the construct ID (``Sessionizer``) and, with enhanced fan-out,
        the registered consumer's name (unique within the stream only).
    :param code: the function's code, e.g. ``lambda_.Code.from_asset("src")``.
    :param handler: e.g. ``"app.handler"``. Return
        ``{"batchItemFailures": [{"itemIdentifier": sequenceNumber}]}`` for the
        first record that failed; Lambda retries from there.
    :param runtime: default: the newest Python runtime.
    :param timeout: default: 60 seconds.
    :param memory_size: MiB. Default: 256.
    :param environment: environment variables, encrypted with the pattern's key.
        Default: none.
    :param reserved_concurrency: default: none (``parallelization_factor``
        times the shard count bounds it).
    :param batch_size: records per invocation, 1-10,000. Default: 100.
    :param max_batching_window: how long to gather a batch, 0-300 s.
        Default: none (invoke as soon as records arrive).
    :param starting_position: where a new event source starts reading:
        ``TRIM_HORIZON`` (the oldest retained record), ``LATEST`` (only new
        records) or ``AT_TIMESTAMP`` (with ``starting_timestamp``).
        Default: TRIM_HORIZON, so nothing written before the consumer existed
        is skipped.
    :param starting_timestamp: a timezone-aware time; required with, and only
        with, ``AT_TIMESTAMP``. Default: none.
    :param bisect_batch_on_error: split a failing batch in two and retry each
        half, isolating the bad record. Default: True.
    :param retry_attempts: retries of a failing batch before it goes to the
        dead-letter queue, 0-10,000. Default: 3.
    :param max_record_age: records older than this skip the retries and go to
        the dead-letter queue, 60 s to 7 days and shorter than the stream's
        retention. Default: 1 hour.
    :param parallelization_factor: concurrent batches per shard (order is
        kept per partition key), 1-10. Default: 1.
    :param enhanced_fan_out: read through a registered consumer with 2 MB/s
        per shard of its own. Default: the pipeline's choice (on with two or
        more consumers).

    Changing ``name``, ``starting_position``, ``starting_timestamp`` or the
    enhanced fan-out choice replaces the event source mapping, which then
    starts reading again at its starting position.
    """

    name: str
    code: lambda_.Code
    handler: str
    runtime: lambda_.Runtime = secure.LATEST_PYTHON
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(60))
    memory_size: int = 256
    environment: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None
    batch_size: int = 100
    max_batching_window: cdk.Duration | None = None
    starting_position: lambda_.StartingPosition = lambda_.StartingPosition.TRIM_HORIZON
    starting_timestamp: dt.datetime | None = None
    bisect_batch_on_error: bool = True
    retry_attempts: int = 3
    max_record_age: cdk.Duration = field(default_factory=lambda: cdk.Duration.hours(1))
    parallelization_factor: int = 1
    enhanced_fan_out: bool | None = None

    @property
    def construct_id(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))


@dataclass(frozen=True)
class S3Delivery:
    """Firehose reads the stream and writes GZIP objects to an encrypted bucket.

    :param prefix: object key prefix. Default: ``data/`` partitioned by UTC
        arrival hour (``data/!{timestamp:yyyy}/!{timestamp:MM}/...``), so
        Athena or Glue can prune by time.
    :param error_prefix: where Firehose writes records it fails to process
        (with a transformation or format conversion); must contain
        ``!{firehose:error-output-type}``. Default: ``errors/<type>/yyyy/MM/dd/``.
    :param buffering_interval: deliver at least this often, 0-900 s.
        Default: 300 s.
    :param buffering_size_mib: or when this much has arrived, 1-128 MiB.
        Default: 64 MiB (fewer, larger objects; cheaper to query).
    :param archive_after: move objects to Glacier Instant Retrieval after this.
        Default: 90 days. ``None`` keeps them in Standard.
    :param expire_after: delete objects after this. Default: never.
    """

    prefix: str = "data/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/"
    error_prefix: str = f"errors/{ERROR_OUTPUT_TYPE}/!{{timestamp:yyyy}}/!{{timestamp:MM}}/!{{timestamp:dd}}/"
    buffering_interval: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(300))
    buffering_size_mib: int = 64
    archive_after: cdk.Duration | None = field(default_factory=lambda: cdk.Duration.days(90))
    expire_after: cdk.Duration | None = None


class ConsumerResources(Construct):
    """The resources of one Lambda consumer (created by :class:`StreamPipeline`)."""

    function: lambda_.Function
    dead_letter_queue: sqs.Queue
    """Metadata (shard, sequence range) of batches the consumer gave up on."""
    stream_consumer: kinesis.StreamConsumer | None
    """The registered enhanced fan-out consumer, when the consumer uses one."""
    alarms: list[cloudwatch.Alarm]


class DeliveryResources(Construct):
    """Firehose delivery to S3 (created by :class:`StreamPipeline`)."""

    bucket: s3.Bucket
    access_logs: s3.Bucket
    delivery_stream: firehose.CfnDeliveryStream
    """The delivery stream (L1: the L2's grants add wildcards this role does without)."""
    log_group: logs.LogGroup
    """Firehose's delivery errors."""
    role: iam.Role
    alarms: list[cloudwatch.Alarm]


class StreamPipeline(Construct):
    """An encrypted Kinesis data stream, sized from the workload, with Lambda
    consumers, optional Firehose delivery to S3, and alarms that fire.

    Simplest use (on-demand, no consumers yet)::

        pipeline = StreamPipeline(self, "Clicks")
        pipeline.grant_write(producer_role)

    :param write_mb_per_s: peak write throughput. Default: not declared.
    :param records_per_s: peak records written per second. Default: not declared.
        With neither declared the stream is on-demand; with either, provisioned
        with ``max(⌈MB/s ÷ 1⌉, ⌈records/s ÷ 1000⌉, ⌈shared reads MB/s ÷ 2⌉)`` shards.
    :param read_mb_per_s: what each shared-throughput reader reads.
        Default: ``write_mb_per_s`` (each reads the whole stream).
    :param capacity_mode: force ``StreamMode.ON_DEMAND`` or ``PROVISIONED``.
        Default: chosen from the workload as above.
    :param shard_quota: the account's shard quota the shards must fit.
        Default: 200 (the smallest regional default).
    :param other_shared_readers: GetRecords readers outside this construct
        (a KCL application, another Firehose) to size for. Default: 0.
    :param retention: how long records stay re-readable, 24 h to 365 days.
        Default: 24 hours (no extended-retention charge).
    :param consumers: Lambda consumers. Default: none.
    :param enhanced_fan_out: give every Lambda consumer a registered consumer
        of its own. Default: on when there are two or more Lambda consumers;
        a consumer's own setting wins. At most 20 per stream.
    :param delivery: Firehose delivery to S3. Default: none.
    :param encryption_key: for stream, queues, bucket and logs. Default: a new
        customer-managed key with rotation. A key passed in gets the CloudWatch
        Logs statement added when it belongs to this app.
    :param max_acceptable_latency: how far behind a reader may fall; the
        iterator-age alarms fire past it. 1 minute and shorter than
        ``retention``. Default: 5 minutes.
    :param alarm_topic: where alarms and their recovery are sent.
        Default: nowhere (alarms are still created and visible).
    :param removal_policy: for stream, key, queues, bucket and log groups.
        Default: RETAIN, so deleting the stack loses no data.
    :param log_retention: for the log groups. Default: one year.
    :param dashboard: create a CloudWatch dashboard: writes (bytes and
        records per second) against the stream's write capacity, throttles,
        iterator age per consumer, consumer errors and skipped batches,
        Firehose freshness and failures, and every alarm. Default: True.
    """

    stream: kinesis.Stream
    encryption_key: kms.IKey
    capacity: sizing.StreamCapacity
    consumers: Mapping[str, ConsumerResources]
    consumer_groups_active: list[cdk.CustomResource]
    """With more than 5 enhanced fan-out consumers: one wait per group but the last, done when the
    group's consumers are ACTIVE; the next group is registered after it. Otherwise empty."""
    delivery: DeliveryResources | None
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        write_mb_per_s: float | None = None,
        records_per_s: float | None = None,
        read_mb_per_s: float | None = None,
        capacity_mode: kinesis.StreamMode | None = None,
        shard_quota: int = sizing.KINESIS_DEFAULT_SHARD_QUOTA,
        other_shared_readers: int = 0,
        retention: cdk.Duration = cdk.Duration.hours(24),
        consumers: Sequence[LambdaConsumer] = (),
        enhanced_fan_out: bool | None = None,
        delivery: S3Delivery | None = None,
        encryption_key: kms.IKey | None = None,
        max_acceptable_latency: cdk.Duration = cdk.Duration.minutes(5),
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        efo = _validate(
            consumers=consumers,
            enhanced_fan_out=enhanced_fan_out,
            retention=retention,
            max_acceptable_latency=max_acceptable_latency,
            other_shared_readers=other_shared_readers,
            delivery=delivery,
        )
        # Readers that poll GetRecords share a shard's 2 MB/s and 5 calls a second; Firehose is one.
        shared = sum(1 for c in consumers if not efo[c.name]) + (1 if delivery else 0) + other_shared_readers
        secure.require(
            shared <= sizing.KINESIS_SHARD_READ_TPS,
            "consumers",
            f"{shared} shared-throughput readers",
            f"with delivery and other_shared_readers must leave at most {sizing.KINESIS_SHARD_READ_TPS} readers "
            "polling each shard (it serves 5 GetRecords calls a second); give consumers enhanced fan-out",
        )
        secure.require(
            capacity_mode is None or isinstance(capacity_mode, kinesis.StreamMode),
            "capacity_mode",
            capacity_mode,
            "must be a kinesis.StreamMode or None",
        )
        # The sizing arguments are named as these props, so its errors name them too.
        self.capacity = sizing.stream_capacity(
            write_mb_per_s=write_mb_per_s,
            records_per_s=records_per_s,
            read_mb_per_s=read_mb_per_s,
            shared_consumers=shared,
            capacity_mode=capacity_mode.value if capacity_mode else None,
            shard_quota=shard_quota,
        )

        self.encryption_key = encryption_key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: stream, queues, bucket and logs", removal_policy=removal_policy
        )
        if consumers or delivery:
            secure.allow_logs_to_use_key(self.encryption_key)
        provisioned = self.capacity.mode == sizing.PROVISIONED
        self.stream = kinesis.Stream(
            self,
            "Stream",
            encryption=kinesis.StreamEncryption.KMS,
            encryption_key=self.encryption_key,
            retention_period=retention,
            stream_mode=kinesis.StreamMode.PROVISIONED if provisioned else kinesis.StreamMode.ON_DEMAND,
            shard_count=self.capacity.shards,
            removal_policy=removal_policy,
        )
        secure.acknowledge(
            self.stream.node.default_child,
            "AwsSolutions::AwsSolutions-KDS3",
            "A customer-managed key is the refarch default: its policy, not the account-wide aws/kinesis key, "
            "decides who reads the records, and CloudTrail shows each use. Pass encryption_key to share one.",
        )

        latency_s = int(max_acceptable_latency.to_seconds())
        self._stream_alarm_list = self._stream_alarms(latency_s)
        self.alarms = list(self._stream_alarm_list)
        self.consumers = {}
        for spec in consumers:
            resources = self._consumer(spec, efo=efo[spec.name], latency_s=latency_s,
                                       removal_policy=removal_policy, log_retention=log_retention)
            self.consumers[spec.name] = resources
            self.alarms.extend(resources.alarms)
        self.consumer_groups_active = self._register_in_groups(removal_policy=removal_policy,
                                                               log_retention=log_retention)
        self.delivery = None
        if delivery is not None:
            self.delivery = self._delivery(delivery, removal_policy=removal_policy, log_retention=log_retention)
            self.alarms.extend(self.delivery.alarms)
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    # -- dashboard ------------------------------------------------------------

    def _dashboard(self) -> cloudwatch.Dashboard:
        minute = cdk.Duration.minutes(1)
        by_id = {a.node.id: a for a in self._stream_alarm_list}
        shards = self.capacity.shards

        def per_second(metric: cloudwatch.IMetric, label: str) -> cloudwatch.MathExpression:
            return cloudwatch.MathExpression(expression="m1 / PERIOD(m1)", label=label, using_metrics={"m1": metric},
                                             period=minute)

        mib = 1024 * 1024
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text(f"## Stream: writes against capacity ({self.capacity.reason})"),
            observe.graph("Incoming bytes/s", [per_second(self.stream.metric_incoming_bytes(period=minute, statistic="Sum"),
                                                          "bytes/s")],
                          limits=[(shards * sizing.KINESIS_SHARD_WRITE_MB_S * mib, f"write capacity, {shards} shards")]
                          if shards else [], width=6),
            observe.graph("Incoming records/s", [per_second(self.stream.metric_incoming_records(period=minute,
                                                                                                  statistic="Sum"),
                                                            "records/s")],
                          limits=[(shards * sizing.KINESIS_SHARD_WRITE_RECORDS_S, f"write capacity, {shards} shards")]
                          if shards else [], width=6),
            observe.graph("Write throttles", [self.stream.metric_write_provisioned_throughput_exceeded(
                period=minute, statistic="Sum")], alarms=[by_id["WriteThrottleAlarm"]], width=6),
            observe.graph("Read throttles", [self.stream.metric_read_provisioned_throughput_exceeded(
                period=minute, statistic="Sum")], alarms=[by_id["ReadThrottleAlarm"]], width=6),
            observe.graph("GetRecords iterator age (ms, shared-throughput readers)", [
                self.stream.metric_get_records_iterator_age_milliseconds(period=minute, statistic="Maximum")],
                alarms=[by_id["IteratorAgeAlarm"]], width=24, height=5),
        ]]
        for name, res in self.consumers.items():
            errors, age, dead = res.alarms
            rows.append([
                observe.text(f"## Consumer {name}" + (" (enhanced fan-out)" if res.stream_consumer else "")),
                observe.graph("Iterator age (ms)", [res.function.metric("IteratorAge", period=minute,
                                                                        statistic="Maximum")],
                              alarms=[age], width=6),
                observe.graph("Invocations and errors", [
                    res.function.metric_invocations(period=minute, statistic="Sum"),
                    res.function.metric_errors(period=minute, statistic="Sum"),
                ], alarms=[errors], width=6),
                observe.graph("Duration (ms)", [res.function.metric_duration(statistic=cloudwatch.Stats.p(99))],
                              width=6),
                observe.graph("Skipped batches (dead-letter queue)", [
                    res.dead_letter_queue.metric_approximate_number_of_messages_visible(statistic="Maximum")],
                    alarms=[dead], width=6),
            ])
        if self.delivery is not None:
            name = self.delivery.delivery_stream.ref

            def firehose(metric_name: str, statistic: str) -> cloudwatch.Metric:
                return cloudwatch.Metric(namespace="AWS/Firehose", metric_name=metric_name,
                                         dimensions_map={"DeliveryStreamName": name},
                                         period=cdk.Duration.minutes(5), statistic=statistic)

            rows.append([
                observe.text("## Delivery to S3 (Firehose)"),
                observe.graph("Freshness: age of the oldest record not yet in S3 (s)",
                              [firehose("DeliveryToS3.DataFreshness", "Maximum")],
                              alarms=self.delivery.alarms, width=8),
                observe.graph("Read from the stream: records", [firehose("DataReadFromKinesisStream.Records", "Sum")],
                              width=8),
                observe.graph("Delivery success (1 = every put succeeded)", [
                    firehose("DeliveryToS3.Success", "Average"),
                ], right=[firehose("ThrottledGetRecords", "Sum")], width=8),
            ])
        return observe.pattern_dashboard(self, "Dashboard", title=f"Streaming {self.node.path}", rows=rows,
                                         alarms=self.alarms)

    # -- grants ---------------------------------------------------------------

    def grant_write(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` put records (PutRecord/PutRecords) and make data keys to encrypt them.

        Written out rather than ``Stream.grant_write``, which adds the
        ``kms:GenerateDataKey*`` and ``kms:ReEncrypt*`` wildcards a producer does not need.
        """
        grant = iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
            resource_arns=[self.stream.stream_arn],
        )
        self.encryption_key.grant(grantee, "kms:GenerateDataKey")
        return grant

    def grant_read(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` read records (shard iterators, GetRecords) and decrypt them."""
        return self.stream.grant_read(grantee)

    # -- stream alarms --------------------------------------------------------

    def _stream_alarms(self, latency_s: int) -> list[cloudwatch.Alarm]:
        what = self.node.path
        minute = cdk.Duration.minutes(1)
        # Each metric carries the StreamName dimension: without it an alarm has no data and never fires.
        iterator_age = cloudwatch.Alarm(
            self,
            "IteratorAgeAlarm",
            alarm_description=f"{what}: a GetRecords reader is more than {latency_s} s behind",
            metric=self.stream.metric_get_records_iterator_age_milliseconds(period=minute, statistic="Maximum"),
            threshold=latency_s * 1000,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=3,
            datapoints_to_alarm=2,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        throttles = [
            cloudwatch.Alarm(
                self,
                f"{kind}ThrottleAlarm",
                alarm_description=f"{what}: {kind.lower()}s throttled in 3 of 5 minutes: {remedy}",
                metric=metric(period=minute, statistic="Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for kind, metric, remedy in (
                ("Write", self.stream.metric_write_provisioned_throughput_exceeded,
                 "add shards, or spread a hot partition key"),
                ("Read", self.stream.metric_read_provisioned_throughput_exceeded,
                 "add shards, or move readers to enhanced fan-out"),
            )
        ]
        return [iterator_age, *throttles]

    # -- registering more than 5 enhanced fan-out consumers -------------------

    def _register_in_groups(
        self, *, removal_policy: cdk.RemovalPolicy, log_retention: logs.RetentionDays
    ) -> list[cdk.CustomResource]:
        """Chain the registered consumers in groups of at most 5, each group after the previous one is ACTIVE.

        RegisterStreamConsumer allows at most 5 consumers of a stream in CREATING at once
        (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_RegisterStreamConsumer.html), and
        CloudFormation creates every AWS::Kinesis::StreamConsumer in parallel. A DependsOn on a consumer
        is not enough: the resource reports CREATE_COMPLETE while the consumer is still CREATING
        (aws/aws-cdk#37108), so each group waits for a custom resource that sees the previous group ACTIVE.
        """
        registered = [c.stream_consumer for c in self.consumers.values() if c.stream_consumer is not None]
        size = sizing.KINESIS_MAX_CONSUMERS_CREATING
        if len(registered) <= size:
            return []
        groups = [registered[i:i + size] for i in range(0, len(registered), size)]
        function = secure.python_function(
            self,
            "ConsumersActiveFunction",
            code=lambda_.Code.from_asset(str(CONSUMERS_ACTIVE_RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="app.handler",
            key=self.encryption_key,
            timeout=cdk.Duration.minutes(5),
            description=f"Waits until the enhanced fan-out consumers of {self.node.path} are ACTIVE",
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        # The consumers' ARNs end in their creation time, known only once registered: every consumer of this
        # stream, read-only. Naming each ARN would make the function wait for all consumers, and the first
        # group's wait for the later groups: a dependency cycle.
        function.add_to_role_policy(
            iam.PolicyStatement(actions=["kinesis:DescribeStreamConsumer"],
                                resources=[f"{self.stream.stream_arn}/consumer/*"])
        )
        stream_id = cdk.Stack.of(self).resolve(self.stream.node.default_child.logical_id)
        secure.acknowledge(
            function.role.node.find_child("DefaultPolicy").node.default_child,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{stream_id}.Arn>/consumer/*]",
            "DescribeStreamConsumer (read-only) on this stream's consumers: their ARNs end in a creation time "
            "known only after registration, and naming them would make the waits depend on each other.",
        )
        cfn_function = function.node.default_child
        secure.acknowledge(
            cfn_function,
            "Serverless::Serverless-LambdaDLQ",
            "Invoked only by CloudFormation as a custom resource and always answers it (SUCCESS or FAILED); "
            "a failed wait rolls the stack back, so there is no event for a dead-letter queue to keep.",
        )
        secure.checkov_skip(
            cfn_function,
            "CKV_AWS_116",
            "Invoked only by CloudFormation as a custom resource, which it always answers; a failed wait rolls "
            "the stack back, so a dead-letter queue would stay empty.",
        )
        waits = []
        for number, group in enumerate(groups[:-1], start=1):
            wait = cdk.CustomResource(
                self,
                f"ConsumerGroup{number}Active",
                service_token=function.function_arn,
                resource_type=CONSUMERS_ACTIVE_TYPE,
                properties={"ConsumerARNs": [c.stream_consumer_arn for c in group]},
                service_timeout=cdk.Duration.minutes(10),
            )
            for consumer in groups[number]:
                consumer.node.add_dependency(wait)
            waits.append(wait)
        return waits

    # -- one consumer ---------------------------------------------------------

    def _consumer(
        self,
        spec: LambdaConsumer,
        *,
        efo: bool,
        latency_s: int,
        removal_policy: cdk.RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> ConsumerResources:
        res = ConsumerResources(self, spec.construct_id)
        key = self.encryption_key
        res.dead_letter_queue = secure.dead_letter_queue(res, "DeadLetterQueue", key=key, removal_policy=removal_policy)
        secure.acknowledge(
            res.dead_letter_queue.node.default_child,
            "AwsSolutions::AwsSolutions-SQS3",
            "This queue is the on-failure destination of the consumer's Kinesis event source, a dead-letter queue "
            "the rule does not recognise (it knows only SQS redrive policies).",
        )
        res.function = secure.python_function(
            res,
            "Function",
            code=spec.code,
            handler=spec.handler,
            runtime=spec.runtime,
            timeout=spec.timeout,
            memory_size=spec.memory_size,
            environment=spec.environment,
            key=key,
            description=f"Consumer {spec.name} of {self.node.path}",
            reserved_concurrency=spec.reserved_concurrency,
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        options = dict(
            starting_position=spec.starting_position,
            starting_position_timestamp=spec.starting_timestamp.timestamp() if spec.starting_timestamp else None,
            batch_size=spec.batch_size,
            max_batching_window=spec.max_batching_window,
            bisect_batch_on_error=spec.bisect_batch_on_error,
            retry_attempts=spec.retry_attempts,
            max_record_age=spec.max_record_age,
            parallelization_factor=spec.parallelization_factor,
            report_batch_item_failures=True,
            on_failure=_QueueOnFailure(res.dead_letter_queue, key),
        )
        res.stream_consumer = None
        if efo:
            res.stream_consumer = kinesis.StreamConsumer(
                res, "StreamConsumer", stream=self.stream, stream_consumer_name=spec.name
            )
            source = sources.KinesisConsumerEventSource(res.stream_consumer, **options)
        else:
            source = sources.KinesisEventSource(self.stream, **options)
        res.function.add_event_source(source)

        cfn_function = res.function.node.default_child
        secure.acknowledge(
            cfn_function,
            "Serverless::Serverless-LambdaDLQ",
            "Invoked only synchronously by its Kinesis event source, whose on-failure destination (an SQS "
            "dead-letter queue) receives every batch it gives up on. An asynchronous DLQ would stay empty.",
        )
        secure.checkov_skip(
            cfn_function,
            "CKV_AWS_116",
            "Invoked only synchronously by its Kinesis event source; failed batches go to the event source "
            "mapping's on-failure destination, an SQS dead-letter queue.",
        )

        what = f"{self.node.path} {spec.name}"
        minute = cdk.Duration.minutes(1)
        res.alarms = [
            # Function errors only: records reported in batchItemFailures are retried without counting here,
            # and show up as IteratorAge and, once given up on, in the dead-letter queue.
            cloudwatch.Alarm(  # FunctionName dimension
                res,
                "ErrorsAlarm",
                alarm_description=f"{what}: the function raised, timed out or ran out of memory; the batch is "
                "being retried",
                metric=res.function.metric_errors(period=minute, statistic="Sum"),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(  # Lambda's own iterator age covers enhanced fan-out readers too
                res,
                "IteratorAgeAlarm",
                alarm_description=f"{what}: the consumer is more than {latency_s} s behind the stream",
                metric=res.function.metric("IteratorAge", period=minute, statistic="Maximum"),
                threshold=latency_s * 1000,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            secure.queue_not_empty_alarm(
                res, "DeadLetterAlarm", queue=res.dead_letter_queue, what=f"{what}: batches were skipped"
            ),
        ]
        return res

    # -- delivery to S3 -------------------------------------------------------

    def _delivery(
        self, spec: S3Delivery, *, removal_policy: cdk.RemovalPolicy, log_retention: logs.RetentionDays
    ) -> DeliveryResources:
        res = DeliveryResources(self, "Delivery")
        key = self.encryption_key
        res.access_logs = secure.access_logs_bucket(res, "AccessLogs", removal_policy=removal_policy)
        transitions = (
            [s3.Transition(storage_class=s3.StorageClass.GLACIER_INSTANT_RETRIEVAL,
                           transition_after=spec.archive_after)]
            if spec.archive_after
            else None
        )
        res.bucket = secure.encrypted_bucket(
            res,
            "Bucket",
            key=key,
            access_logs=res.access_logs,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    transitions=transitions,
                    expiration=spec.expire_after,
                    noncurrent_version_expiration=cdk.Duration.days(90),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
        )
        res.log_group = logs.LogGroup(
            res, "Logs", retention=log_retention, encryption_key=key, removal_policy=removal_policy
        )
        log_stream = logs.LogStream(res, "LogStream", log_group=res.log_group, removal_policy=removal_policy)
        stack = cdk.Stack.of(self)
        # Firehose's documented trust: sts:ExternalId is this account's ID; it names no other condition key
        # (https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html).
        res.role = iam.Role(
            res,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "firehose.amazonaws.com", conditions={"StringEquals": {"sts:ExternalId": stack.account}}
            ),
            description=f"Firehose delivery of {self.node.path} to S3",
        )
        # Written out, not granted through the L2s: each action Firehose's documentation lists, no wildcards
        # except the objects under the two prefixes.
        bucket_arn = res.bucket.bucket_arn
        prefixes = [p.split("!{")[0] for p in (spec.prefix, spec.error_prefix)]
        policy = iam.Policy(
            res,
            "RolePolicy",
            roles=[res.role],
            statements=[
                iam.PolicyStatement(
                    sid="ReadStream",
                    actions=["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator",
                             "kinesis:GetRecords", "kinesis:ListShards"],
                    resources=[self.stream.stream_arn],
                ),
                iam.PolicyStatement(
                    sid="DecryptStream",
                    actions=["kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"kinesis.{stack.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="ListBucket",
                    actions=["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                    resources=[bucket_arn],
                ),
                iam.PolicyStatement(
                    sid="WriteObjects",
                    actions=["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                    resources=[f"{bucket_arn}/{prefix}*" for prefix in prefixes],
                ),
                iam.PolicyStatement(
                    sid="EncryptObjects",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{stack.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="LogDeliveryErrors",
                    actions=["logs:PutLogEvents"],
                    resources=[
                        stack.format_arn(
                            service="logs",
                            resource="log-group",
                            resource_name=f"{res.log_group.log_group_name}:log-stream:{log_stream.log_stream_name}",
                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                        )
                    ],
                ),
            ],
        )
        bucket_id = stack.resolve(res.bucket.node.default_child.logical_id)
        secure.acknowledge(
            policy.node.default_child,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefixes[0]}*]",
            "Firehose writes objects whose keys it generates (time partition, random suffix); the wildcard is "
            "limited to the data prefix of this one bucket.",
        )
        secure.acknowledge(
            policy.node.default_child,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{prefixes[1]}*]",
            "Firehose writes records it could not process under keys it generates; the wildcard is limited to "
            "the error-output prefix of this one bucket.",
        )
        cfn = firehose.CfnDeliveryStream(
            res,
            "DeliveryStream",
            delivery_stream_type="KinesisStreamAsSource",
            kinesis_stream_source_configuration=firehose.CfnDeliveryStream.KinesisStreamSourceConfigurationProperty(
                kinesis_stream_arn=self.stream.stream_arn, role_arn=res.role.role_arn
            ),
            extended_s3_destination_configuration=firehose.CfnDeliveryStream.ExtendedS3DestinationConfigurationProperty(
                bucket_arn=bucket_arn,
                role_arn=res.role.role_arn,
                prefix=spec.prefix,
                error_output_prefix=spec.error_prefix,
                compression_format="GZIP",
                buffering_hints=firehose.CfnDeliveryStream.BufferingHintsProperty(
                    interval_in_seconds=int(spec.buffering_interval.to_seconds()),
                    size_in_m_bs=spec.buffering_size_mib,
                ),
                encryption_configuration=firehose.CfnDeliveryStream.EncryptionConfigurationProperty(
                    kms_encryption_config=firehose.CfnDeliveryStream.KMSEncryptionConfigProperty(
                        awskms_key_arn=key.key_arn
                    )
                ),
                cloud_watch_logging_options=firehose.CfnDeliveryStream.CloudWatchLoggingOptionsProperty(
                    enabled=True,
                    log_group_name=res.log_group.log_group_name,
                    log_stream_name=log_stream.log_stream_name,
                ),
            ),
        )
        # Firehose checks at creation that the role can read the stream.
        cfn.node.add_dependency(policy)
        secure.acknowledge(
            cfn,
            "AwsSolutions::AwsSolutions-KDF1",
            "Firehose accepts server-side encryption only for Direct PUT sources. Records stay KMS-encrypted in the "
            "source stream and are written to S3 with the same customer-managed key.",
        )
        res.delivery_stream = cfn
        interval_s = int(spec.buffering_interval.to_seconds())
        threshold_s = sizing.firehose_freshness_threshold_s(interval_s)
        res.alarms = [
            cloudwatch.Alarm(  # DeliveryStreamName dimension
                res,
                "FreshnessAlarm",
                alarm_description=f"{self.node.path}: records older than {threshold_s} s are not yet in S3",
                metric=cloudwatch.Metric(
                    namespace="AWS/Firehose",
                    metric_name="DeliveryToS3.DataFreshness",
                    dimensions_map={"DeliveryStreamName": cfn.ref},
                    period=cdk.Duration.minutes(5),
                    statistic="Maximum",
                ),
                threshold=threshold_s,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        ]
        return res


class _QueueOnFailure(sources.SqsDlq):
    """An SQS on-failure destination granting only what Lambda uses to send to
    an encrypted queue (``SqsDlq`` grants ``kms:*`` wildcards)."""

    def __init__(self, queue: sqs.IQueue, key: kms.IKey) -> None:
        super().__init__(queue)
        self._queue = queue
        self._key = key

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        iam.Grant.add_to_principal(
            grantee=target_handler, actions=["sqs:SendMessage"], resource_arns=[self._queue.queue_arn]
        )
        self._key.grant(target_handler, "kms:GenerateDataKey", "kms:Decrypt")
        return lambda_.DlqDestinationConfig(destination=self._queue.queue_arn)


def _validate(
    *,
    consumers: Sequence[LambdaConsumer],
    enhanced_fan_out: bool | None,
    retention: cdk.Duration,
    max_acceptable_latency: cdk.Duration,
    other_shared_readers: int,
    delivery: S3Delivery | None,
) -> dict[str, bool]:
    """Check every prop except the workload (``sizing.stream_capacity`` checks
    those); return, per consumer name, whether it uses enhanced fan-out."""
    require = secure.require
    hours = retention.to_hours(integral=False)
    require(
        hours == int(hours) and sizing.KINESIS_MIN_RETENTION_H <= hours <= sizing.KINESIS_MAX_RETENTION_H,
        "retention",
        f"{hours} h",
        f"must be whole hours from {sizing.KINESIS_MIN_RETENTION_H} to {sizing.KINESIS_MAX_RETENTION_H} (365 days)",
    )
    retention_s = retention.to_seconds()
    latency_s = max_acceptable_latency.to_seconds()
    require(
        60 <= latency_s < retention_s,
        "max_acceptable_latency",
        f"{latency_s} s",
        f"must be at least 60 s (the metrics' resolution) and shorter than retention ({retention_s} s)",
    )
    require(
        isinstance(other_shared_readers, int)
        and not isinstance(other_shared_readers, bool)
        and other_shared_readers >= 0,
        "other_shared_readers",
        other_shared_readers,
        "must be a whole number of at least 0",
    )

    default_efo = sizing.use_enhanced_fan_out(len(consumers), enhanced_fan_out)
    efo: dict[str, bool] = {}
    ids: set[str] = set()
    for spec in consumers:
        require(
            isinstance(spec.name, str) and bool(_NAME.match(spec.name)) and len(spec.name) <= _NAME_MAX,
            "consumers[].name",
            spec.name,
            f"must be lower-case letters and digits in words joined by single hyphens, starting with a letter, "
            f"at most {_NAME_MAX} characters",
        )
        require(spec.name not in efo, "consumers[].name", spec.name, "must be unique")
        require(spec.construct_id not in ids, "consumers[].name", spec.name,
                f"must not collide with another consumer's construct ID {spec.construct_id!r}")
        ids.add(spec.construct_id)
        _validate_consumer(f"consumers[{spec.name}]", spec, retention_s=retention_s)
        efo[spec.name] = default_efo if spec.enhanced_fan_out is None else spec.enhanced_fan_out
    registered = sum(efo.values())
    require(
        registered <= sizing.KINESIS_MAX_EFO_CONSUMERS,
        "consumers",
        f"{registered} enhanced fan-out consumers",
        f"must have at most {sizing.KINESIS_MAX_EFO_CONSUMERS} enhanced fan-out consumers (the per-stream limit)",
    )
    if delivery is not None:
        _validate_delivery(delivery)
    return efo


def _validate_consumer(where: str, c: LambdaConsumer, *, retention_s: float) -> None:
    require = secure.require
    t = c.timeout.to_seconds()
    require(0 < t <= sizing.LAMBDA_MAX_TIMEOUT_S, f"{where}.timeout", f"{t} s", "must be 1 s to 15 minutes")
    require(128 <= c.memory_size <= 10240, f"{where}.memory_size", c.memory_size, "must be 128 to 10240 MiB")
    require(bool(c.handler), f"{where}.handler", c.handler, "must name the handler, e.g. 'app.handler'")
    require(
        c.reserved_concurrency is None or c.reserved_concurrency >= 1,
        f"{where}.reserved_concurrency",
        c.reserved_concurrency,
        "must be at least 1 (0 would stop the consumer while its records age out of the stream)",
    )
    require(
        1 <= c.batch_size <= sizing.LAMBDA_KINESIS_MAX_BATCH,
        f"{where}.batch_size",
        c.batch_size,
        f"must be 1 to {sizing.LAMBDA_KINESIS_MAX_BATCH}",
    )
    window = c.max_batching_window.to_seconds() if c.max_batching_window else 0
    require(0 <= window <= sizing.LAMBDA_MAX_BATCHING_WINDOW_S, f"{where}.max_batching_window", f"{window} s",
            "must be 0 to 300 s")
    require(
        0 <= c.retry_attempts <= sizing.LAMBDA_KINESIS_MAX_RETRY_ATTEMPTS,
        f"{where}.retry_attempts",
        c.retry_attempts,
        f"must be 0 to {sizing.LAMBDA_KINESIS_MAX_RETRY_ATTEMPTS} (retrying forever would block the shard)",
    )
    age = c.max_record_age.to_seconds()
    require(
        sizing.LAMBDA_KINESIS_MIN_RECORD_AGE_S <= age <= sizing.LAMBDA_KINESIS_MAX_RECORD_AGE_S,
        f"{where}.max_record_age",
        f"{age} s",
        "must be 60 s to 7 days",
    )
    require(
        age < retention_s,
        f"{where}.max_record_age",
        f"{age} s",
        f"must be shorter than the stream's retention ({retention_s} s), or records expire before they are retried",
    )
    require(
        1 <= c.parallelization_factor <= sizing.LAMBDA_KINESIS_MAX_PARALLELIZATION,
        f"{where}.parallelization_factor",
        c.parallelization_factor,
        f"must be 1 to {sizing.LAMBDA_KINESIS_MAX_PARALLELIZATION}",
    )
    at_timestamp = c.starting_position == lambda_.StartingPosition.AT_TIMESTAMP
    require(
        at_timestamp == (c.starting_timestamp is not None),
        f"{where}.starting_timestamp",
        c.starting_timestamp,
        "is required with, and only with, starting_position AT_TIMESTAMP",
    )
    require(
        c.starting_timestamp is None or c.starting_timestamp.tzinfo is not None,
        f"{where}.starting_timestamp",
        c.starting_timestamp,
        "must be timezone-aware (e.g. datetime(..., tzinfo=timezone.utc))",
    )


def _validate_delivery(d: S3Delivery) -> None:
    require = secure.require
    interval = d.buffering_interval.to_seconds()
    require(
        sizing.FIREHOSE_MIN_BUFFER_S <= interval <= sizing.FIREHOSE_MAX_BUFFER_S,
        "delivery.buffering_interval",
        f"{interval} s",
        f"must be {sizing.FIREHOSE_MIN_BUFFER_S} to {sizing.FIREHOSE_MAX_BUFFER_S} s",
    )
    require(
        isinstance(d.buffering_size_mib, int)
        and sizing.FIREHOSE_MIN_BUFFER_MIB <= d.buffering_size_mib <= sizing.FIREHOSE_MAX_BUFFER_MIB,
        "delivery.buffering_size_mib",
        d.buffering_size_mib,
        f"must be {sizing.FIREHOSE_MIN_BUFFER_MIB} to {sizing.FIREHOSE_MAX_BUFFER_MIB} MiB",
    )
    require(bool(d.prefix) and d.prefix.endswith("/"), "delivery.prefix", d.prefix,
            "must be a non-empty key prefix ending in '/'")
    require(
        ERROR_OUTPUT_TYPE in d.error_prefix and d.error_prefix.endswith("/"),
        "delivery.error_prefix",
        d.error_prefix,
        f"must contain {ERROR_OUTPUT_TYPE} (Firehose requires it when prefixes use expressions) and end in '/'",
    )
    # The fixed part of each prefix, before the first Firehose expression.
    data_base, error_base = d.prefix.split("!{")[0], d.error_prefix.split("!{")[0]
    require(
        not data_base.startswith(error_base) and not error_base.startswith(data_base),
        "delivery.error_prefix",
        d.error_prefix,
        f"must not overlap the data prefix {d.prefix!r}, or failed records would be read as data",
    )
    for prop, value in (("archive_after", d.archive_after), ("expire_after", d.expire_after)):
        if value is not None:
            days = value.to_days(integral=False)
            require(days == int(days) and days >= 1, f"delivery.{prop}", f"{days} days",
                    "must be whole days, at least 1")
    if d.archive_after is not None and d.expire_after is not None:
        require(
            d.expire_after.to_days() > d.archive_after.to_days(),
            "delivery.expire_after",
            f"{d.expire_after.to_days()} days",
            f"must be later than archive_after ({d.archive_after.to_days()} days)",
        )
