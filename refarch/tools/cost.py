"""Monthly cost of each synthesized stack, for an idle or a declared workload.

    make synth && make cost
    python -m refarch.tools.cost --stack FanOutStack --messages-per-second 100 --message-kib 2
    python -m refarch.tools.cost --json --records-per-second 2000 --record-kib 1

Reads the templates CloudFormation would deploy (``cdk.out/*.template.json``,
written by ``make synth``; the tool does not synthesize) and prices each
billable resource from the price table in ``prices_us_east_1.json``
(us-east-1, on-demand list prices, the date they were read and each
service's public price page). What the template fixes (keys, alarms, shards,
instances, endpoints, load balancers) is billed by the hour or the month; what
traffic drives (publishes, requests, GB) comes from the workload on the
command line, the same for every stack (each stack uses the numbers its
pattern carries). ``refarch.sizing`` sizes what the workload needs (workers
for a message rate, shards for a record rate, vCPUs behind a proxy).

Not priced (the report lists these per stack): data transfer between AZs and
to the internet except CloudFront's, VPC flow log and access log volume,
Container Insights and X-Ray, DNS queries, free tiers. A month is 730 hours.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from refarch import sizing

PRICES_FILE = Path(__file__).with_name("prices_us_east_1.json")
KIB = 1024
GIB = 1024**3


def load_prices(path: Path = PRICES_FILE) -> dict[str, Any]:
    """The price table (region, date read, hours per month, each service's rates) from ``path``, a JSON
    file. Default: :data:`PRICES_FILE`."""
    return json.loads(path.read_text())


# --- billing units (pure; the worked examples of the price pages test these) ---------


def chunks(size_bytes: float, chunk_bytes: float) -> int:
    """Billing units of one payload: every started ``chunk_bytes`` counts, at least one.

    SQS and SNS bill each 64 KiB chunk as one request ("a 256 KB payload is
    billed as four requests"); Kinesis counts 25 KB PUT payload units.

    >>> chunks(256 * 1024, 64 * 1024), chunks(5 * 1024, 25 * 1024), chunks(45 * 1024, 25 * 1024)
    (4, 1, 2)
    """
    if size_bytes < 0 or chunk_bytes <= 0:
        raise ValueError(f"size_bytes must not be negative and chunk_bytes positive (got {size_bytes!r}, {chunk_bytes!r})")
    return max(1, math.ceil(size_bytes / chunk_bytes))


def rounded_gb(records: float, record_bytes: float, rounding_bytes: float) -> float:
    """GB billed for ``records`` of ``record_bytes``, each rounded up to ``rounding_bytes``
    (Firehose: 5 KB; Kinesis on-demand: 1 KB). 1 GB = 1,048,576 KB, as the price pages count."""
    return records * chunks(record_bytes, rounding_bytes) * rounding_bytes / GIB


def lambda_charges(invocations: float, duration_s: float, memory_mb: float, *, gb_second: float,
                   requests_per_million: float, free_requests: float = 0, free_gb_seconds: float = 0
                   ) -> tuple[float, float]:
    """(compute, requests) in USD for a month of invocations; the free tier only when given."""
    gb_seconds = invocations * duration_s * memory_mb / 1024
    compute = max(0.0, gb_seconds - free_gb_seconds) * gb_second
    requests = max(0.0, invocations - free_requests) / 1e6 * requests_per_million
    return compute, requests


def kinesis_provisioned_charges(shards: int, hours: float, records: float, record_bytes: float, *,
                                shard_hour: float, put_payload_units_per_million: float,
                                unit_bytes: float = 25 * 1024) -> tuple[float, float]:
    """(shard hours, PUT payload units) in USD."""
    units = records * chunks(record_bytes, unit_bytes) if records else 0
    return shards * hours * shard_hour, units / 1e6 * put_payload_units_per_million


# --- workload --------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """What traffic the stacks carry; zero is idle. Each stack reads the numbers its pattern carries:

    fan-out and push: messages; worker fleet: messages and workers; streaming: records;
    database: readers, storage, I/O; edge: requests and data out.

    :param messages_per_s: messages published or sent per second (fan-out,
        push, worker fleet, Amazon MQ bridge). Default: 0.
    :param message_kib: size of one message, KiB (SNS and SQS bill each started
        64 KiB as one request). Default: 1.
    :param records_per_s: records put on the stream per second (streaming).
        Default: 0.
    :param record_kib: size of one record, KiB. Default: 1.
    :param workers: worker tasks running all month, kept within the fleet's
        scaling range. Default: none (sized from ``messages_per_s`` and
        ``processing_s``, or the range's minimum when idle).
    :param processing_s: seconds one worker spends on a message (sizes
        ``workers``). Default: 1.
    :param readers: Aurora readers running all month, kept within the reader
        scaling range. Default: none (the readers in the template).
    :param requests_per_s: HTTP requests per second (edge, HTTP APIs, functions
        behind a load balancer, the push registration API). Default: 0.
    :param data_out_gb: GB a month served to users (edge). Default: 0.
    :param origin_share: share of requests and data, 0 to 1, that reach an
        origin's load balancer or accelerator (the rest CloudFront serves from
        cache). Default: 0.1.
    :param lambda_ms: average duration of one Lambda invocation, ms. Default: 100.
    :param log_kib_per_invocation: KiB of CloudWatch Logs each Lambda
        invocation writes. Default: 1.
    :param db_storage_gb: database storage, GB-months (Aurora; RDS when the
        template allocates none). Default: 0.
    :param db_io_per_s: Aurora I/O requests per second. Default: 0.
    :param nat_gb: GB a month processed by each NAT gateway. Default: 0.
    """

    messages_per_s: float = 0
    message_kib: float = 1
    records_per_s: float = 0
    record_kib: float = 1
    workers: int | None = None
    processing_s: float = 1.0
    readers: int | None = None
    requests_per_s: float = 0
    data_out_gb: float = 0
    origin_share: float = 0.1
    lambda_ms: float = 100
    log_kib_per_invocation: float = 1
    db_storage_gb: float = 0
    db_io_per_s: float = 0
    nat_gb: float = 0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a number of at least 0 (got {value!r})")
        for name in ("message_kib", "record_kib", "processing_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive (got {getattr(self, name)!r})")
        for name in ("workers", "readers"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), int):
                raise ValueError(f"{name} must be a whole number (got {getattr(self, name)!r})")
        if self.origin_share > 1:
            raise ValueError(f"origin_share must be 0 to 1 (got {self.origin_share!r})")


IDLE = Workload()


# --- lines and stacks ------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    """One priced line of a stack's bill.

    :param resource: the resource's construct path within the stack (from
        ``aws:cdk:path``), or ``(stack)`` for a charge of the whole stack.
    :param item: what is billed, e.g. ``"SQS long polls (1 consumer(s), 20 s)"``.
    :param quantity: how many ``unit`` a month, rounded to 4 decimals.
    :param unit: the billing unit, e.g. ``"requests"``, ``"GB-hours"``.
    :param monthly_usd: the line's cost, USD a month (not rounded).
    """

    resource: str
    item: str
    quantity: float
    unit: str
    monthly_usd: float


@dataclass
class StackCost:
    """The estimated monthly bill of one stack.

    :param stack: the stack's name.
    :param lines: the priced lines. Default: none.
    :param not_priced: what the stack may be billed for but the estimate leaves
        out, one sentence each. Default: none.
    """

    stack: str
    lines: list[Line] = field(default_factory=list)
    not_priced: list[str] = field(default_factory=list)

    @property
    def monthly_usd(self) -> float:
        return round(sum(line.monthly_usd for line in self.lines), 2)

    def dominant(self) -> Line | None:
        return max(self.lines, key=lambda line: line.monthly_usd, default=None)

    def to_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "monthly_usd": self.monthly_usd,
            "lines": [{**asdict(line), "monthly_usd": round(line.monthly_usd, 2)} for line in self.lines],
            "not_priced": self.not_priced,
        }


class _Template:
    def __init__(self, stack: str, template: Mapping[str, Any]) -> None:
        self.stack = stack
        self.resources: dict[str, dict] = {k: v for k, v in template.get("Resources", {}).items()}

    def of(self, *types: str) -> list[tuple[str, dict]]:
        return [(k, r) for k, r in self.resources.items() if r["Type"] in types]

    def path(self, logical_id: str) -> str:
        path = self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id)
        path = path.removeprefix(f"{self.stack}/")
        for tail in ("/Resource/Default", "/Resource"):
            path = path.removesuffix(tail)
        return path


_MQ_ENGINES = {"RABBITMQ": "RabbitMQ", "ACTIVEMQ": "ActiveMQ"}


def _ref(value: Any) -> str | None:
    """The logical ID a ``Ref`` or ``Fn::GetAtt`` points at."""
    if isinstance(value, Mapping):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


class _Estimator:
    def __init__(self, stack: str, template: Mapping[str, Any], workload: Workload, prices: Mapping[str, Any]):
        self.t = _Template(stack, template)
        self.w = workload
        self.p = prices["services"]
        self.hours = prices["hours_per_month"]
        self.seconds = self.hours * 3600
        self.cost = StackCost(stack)

    def add(self, logical_id: str | None, item: str, quantity: float, unit: str, usd: float) -> None:
        resource = self.t.path(logical_id) if logical_id else "(stack)"
        self.cost.lines.append(Line(resource, item, round(quantity, 4), unit, usd))

    def note(self, text: str) -> None:
        if text not in self.cost.not_priced:
            self.cost.not_priced.append(text)

    def run(self) -> StackCost:
        for method in (self.kms, self.sns, self.sqs, self.lambdas, self.fargate, self.kinesis, self.firehose,
                       self.cloudwatch, self.network, self.rds, self.aurora, self.secrets, self.ec2, self.alb,
                       self.cloudfront, self.waf, self.accelerator, self.route53, self.http_api,
                       self.amazon_mq):
            method()
        return self.cost

    # --- messaging ---------------------------------------------------------------------

    def _data_topics(self) -> list[tuple[str, dict]]:
        return [(k, r) for k, r in self.t.of("AWS::SNS::Topic") if "/Alarms/" not in f"/{self.t.path(k)}/"]

    def kms(self) -> None:
        price = self.p["kms"]
        for key, _ in self.t.of("AWS::KMS::Key"):
            self.add(key, "KMS key", 1, "key-month", price["key_month"])
        # SNS, SQS and Kinesis reuse a data key for 5 minutes (SQS's KmsDataKeyReusePeriodSeconds default):
        # about one GenerateDataKey for the producer and one Decrypt per consumer per 300 s while traffic flows.
        encrypted = [k for k, r in self.t.of("AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::Kinesis::Stream")
                     if self._carries_traffic(k)]
        if encrypted:
            requests = len(encrypted) * 2 * self.seconds / 300
            self.add(None, "KMS requests (data keys reused 5 min)", requests, "requests",
                     requests / 1e4 * price["requests_per_10k"])

    def _carries_traffic(self, logical_id: str) -> bool:
        resource = self.t.resources[logical_id]
        if resource["Type"] == "AWS::Kinesis::Stream":
            return self.w.records_per_s > 0
        if resource["Type"] == "AWS::SNS::Topic":
            return self.w.messages_per_s > 0 and logical_id in dict(self._data_topics())
        return self.w.messages_per_s > 0 and logical_id in self._work_queues()

    def sns(self) -> None:
        price = self.p["sns"]
        chunk = chunks(self.w.message_kib * KIB, price["chunk_kib"] * KIB)
        platform_apps = self.t.of("Custom::SnsPlatformApplication")
        for topic, _ in self._data_topics():
            subs = [r["Properties"] for _, r in self.t.of("AWS::SNS::Subscription")
                    if _ref(r["Properties"].get("TopicArn")) == topic]
            if not subs and not platform_apps:
                continue
            publishes = self.w.messages_per_s * self.seconds * chunk
            if subs:
                self.add(topic, "SNS publishes (64 KiB chunks)", publishes, "requests",
                         publishes / 1e6 * price["publish_per_million"])
            for sub in subs:
                protocol = sub.get("Protocol", "sqs")
                rate = price.get(f"delivery_{protocol}_per_million", price["delivery_http_per_million"])
                self.add(topic, f"SNS deliveries to {protocol}", publishes, "deliveries", publishes / 1e6 * rate)
        if platform_apps:
            # The push pattern publishes to each device endpoint: one publish and one mobile push delivery each.
            topic = platform_apps[0][0]
            pushes = self.w.messages_per_s * self.seconds
            self.add(topic, "SNS publishes to endpoints", pushes, "requests",
                     pushes / 1e6 * price["publish_per_million"])
            self.add(topic, "SNS mobile push deliveries", pushes, "deliveries",
                     pushes / 1e6 * price["delivery_mobile_push_per_million"])

    def _work_queues(self) -> list[str]:
        """Queues that carry the pattern's messages: not a dead-letter queue of anything."""
        dead = {_ref(r["Properties"]["RedrivePolicy"].get("deadLetterTargetArn"))
                for _, r in self.t.of("AWS::SQS::Queue") if "RedrivePolicy" in r.get("Properties", {})}
        for _, r in self.t.of("AWS::SNS::Subscription"):
            redrive = r["Properties"].get("RedrivePolicy", {})
            dead.add(_ref(redrive.get("deadLetterTargetArn")))
        for _, r in self.t.of("AWS::Lambda::EventSourceMapping"):
            dead.add(_ref(r["Properties"].get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")))
        return [k for k, r in self.t.of("AWS::SQS::Queue")
                if k not in dead and "DeadLetter" not in self.t.path(k)]

    def sqs(self) -> None:
        price = self.p["sqs"]
        chunk = chunks(self.w.message_kib * KIB, price["chunk_kib"] * KIB)
        workers = self._tasks()[0] if self.t.of("AWS::ECS::Service") else 1
        for queue in self._work_queues():
            rate = price["fifo_per_million"] if self.t.resources[queue].get("Properties", {}).get("FifoQueue") \
                else price["standard_per_million"]
            messages = self.w.messages_per_s * self.seconds
            # Send and receive in 64 KiB chunks, one delete per message.
            requests = messages * (2 * chunk + 1)
            if requests:
                self.add(queue, "SQS send/receive/delete (64 KiB chunks)", requests, "requests",
                         requests / 1e6 * rate)
            # Each consumer long-polls (20 s) whether or not messages arrive.
            polls = workers * self.seconds / sizing.SQS_MAX_WAIT_TIME_S
            self.add(queue, f"SQS long polls ({workers} consumer(s), 20 s)", polls, "requests", polls / 1e6 * rate)

    # --- compute -----------------------------------------------------------------------

    def lambdas(self) -> None:
        price = self.p["lambda"]
        mappings = {_ref(r["Properties"].get("FunctionName")): r["Properties"]
                    for _, r in self.t.of("AWS::Lambda::EventSourceMapping")}
        integrations = {self._function_of_integration(r["Properties"]) for _, r in
                        self.t.of("AWS::ApiGatewayV2::Integration")}
        # Functions behind an ALB (TargetType lambda) take every request that reaches the load balancer.
        alb_targets = {_ref(target.get("Id")) for _, r in self.t.of("AWS::ElasticLoadBalancingV2::TargetGroup")
                       if r["Properties"].get("TargetType") == "lambda"
                       for target in r["Properties"].get("Targets", [])}
        shards = self._shards()
        for function, resource in self.t.of("AWS::Lambda::Function"):
            props = resource.get("Properties", {})
            if function in mappings and self._is_kinesis(mappings[function]):
                records = self.w.records_per_s
                batch = mappings[function].get("BatchSize", 100)
                # Lambda reads each shard about once a second; a busier shard fills batches.
                per_s = max(records / batch, min(records, shards)) if records else 0
            elif function in mappings:
                # An SQS event source: one invocation per batch when busy, one per message when quiet.
                messages = self.w.messages_per_s
                batch = mappings[function].get("BatchSize", 10)
                per_s = max(messages / batch, min(messages, 1.0)) if messages else 0
            elif function in integrations or function in alb_targets:
                per_s = self.w.requests_per_s
            else:
                continue  # deploy-time custom resource handlers and rotation: negligible
            invocations = per_s * self.seconds
            arm = "arm64" in props.get("Architectures", [])
            memory = props.get("MemorySize", 128)
            compute, requests = lambda_charges(
                invocations, self.w.lambda_ms / 1000, memory,
                gb_second=price["gb_second_arm" if arm else "gb_second_x86"],
                requests_per_million=price["requests_per_million"])
            self.add(function, "Lambda requests", invocations, "requests", requests)
            self.add(function, f"Lambda compute ({memory} MB, {self.w.lambda_ms:g} ms)",
                     invocations * self.w.lambda_ms / 1000 * memory / 1024, "GB-s", compute)
            logs_gb = invocations * self.w.log_kib_per_invocation * KIB / GIB
            self.add(function, f"CloudWatch Logs ingestion ({self.w.log_kib_per_invocation:g} KiB/invocation)",
                     logs_gb, "GB", logs_gb * self.p["cloudwatch"]["logs_ingest_gb"])
            if props.get("TracingConfig", {}).get("Mode") == "Active":
                self.note("X-Ray traces of the functions with active tracing")

    def _function_of_integration(self, props: Mapping[str, Any]) -> str | None:
        uri = props.get("IntegrationUri")
        return _ref(uri)

    @staticmethod
    def _is_kinesis(mapping: Mapping[str, Any]) -> bool:
        return "StartingPosition" in mapping or "ParallelizationFactor" in mapping or \
            "BisectBatchOnFunctionError" in mapping

    def _tasks(self) -> tuple[int, int, int]:
        """(tasks for the workload, min, max) of the worker fleet's service."""
        targets = [r["Properties"] for _, r in self.t.of("AWS::ApplicationAutoScaling::ScalableTarget")
                   if r["Properties"].get("ScalableDimension") == "ecs:service:DesiredCount"]
        low, high = (targets[0]["MinCapacity"], targets[0]["MaxCapacity"]) if targets else (1, 1)
        if self.w.workers is not None:
            wanted = self.w.workers
        elif self.w.messages_per_s:
            wanted = sizing.workers_for_rate(self.w.messages_per_s, self.w.processing_s)
        else:
            wanted = low
        return min(max(wanted, low), high), low, high

    def fargate(self) -> None:
        price = self.p["fargate"]
        definitions = dict(self.t.of("AWS::ECS::TaskDefinition"))
        for service, resource in self.t.of("AWS::ECS::Service"):
            task_def = definitions[_ref(resource["Properties"]["TaskDefinition"])]["Properties"]
            arm = task_def.get("RuntimePlatform", {}).get("CpuArchitecture") == "ARM64"
            vcpu, memory_gb = int(task_def["Cpu"]) / 1024, int(task_def["Memory"]) / 1024
            tasks, low, high = self._tasks()
            arch = "arm" if arm else "x86"
            task_hours = tasks * self.hours
            self.add(service, f"Fargate vCPU ({tasks} task(s) of {vcpu:g} vCPU; scales {low}-{high})",
                     task_hours * vcpu, "vCPU-hours", task_hours * vcpu * price[f"vcpu_hour_{arch}"])
            self.add(service, f"Fargate memory ({memory_gb:g} GB per task)", task_hours * memory_gb,
                     "GB-hours", task_hours * memory_gb * price[f"gb_hour_{arch}"])
        for _, cluster in self.t.of("AWS::ECS::Cluster"):
            if {"Name": "containerInsights", "Value": "enabled"} in cluster.get("Properties", {}).get(
                    "ClusterSettings", []):
                self.note("ECS Container Insights metrics and performance logs")

    # --- streaming ---------------------------------------------------------------------

    def _shards(self) -> int:
        streams = self.t.of("AWS::Kinesis::Stream")
        if not streams:
            return 0
        props = streams[0][1]["Properties"]
        declared = props.get("ShardCount", 0)
        if not self.w.records_per_s:
            return declared or 1
        needed = sizing.kinesis_shards(self.w.records_per_s * self.w.record_kib * KIB / 1e6, self.w.records_per_s)
        return max(declared, needed)

    def kinesis(self) -> None:
        price = self.p["kinesis"]
        consumers = self.t.of("AWS::Kinesis::StreamConsumer")
        for stream, resource in self.t.of("AWS::Kinesis::Stream"):
            props = resource["Properties"]
            records = self.w.records_per_s * self.seconds
            record_bytes = self.w.record_kib * KIB
            gb = records * record_bytes / GIB
            on_demand = props.get("StreamModeDetails", {}).get("StreamMode") == "ON_DEMAND"
            shards = self._shards()
            if on_demand:
                self.add(stream, "Kinesis on-demand stream hours", self.hours, "stream-hours",
                         self.hours * price["on_demand_stream_hour"])
                gb_in = rounded_gb(records, record_bytes, price["on_demand_record_rounding_kib"] * KIB) if records else 0
                self.add(stream, "Kinesis on-demand data in (1 KiB rounding)", gb_in, "GB", gb_in * price["on_demand_in_gb"])
                shared = len(self.t.of("AWS::KinesisFirehose::DeliveryStream"))
                self.add(stream, f"Kinesis on-demand data out ({shared} shared reader(s))", gb * shared, "GB",
                         gb * shared * price["on_demand_out_gb"])
            else:
                declared = props.get("ShardCount", 1)
                label = f"Kinesis shard hours ({shards} shard(s)" + (
                    f"; the workload needs {shards}, the template has {declared})" if shards > declared else ")")
                hours, puts = kinesis_provisioned_charges(
                    shards, self.hours, records, record_bytes, shard_hour=price["shard_hour"],
                    put_payload_units_per_million=price["put_payload_units_per_million"],
                    unit_bytes=price["put_payload_unit_kib"] * KIB)
                self.add(stream, label, shards * self.hours, "shard-hours", hours)
                units = records * chunks(record_bytes, price["put_payload_unit_kib"] * KIB) if records else 0
                self.add(stream, "Kinesis PUT payload units (25 KB)", units, "units", puts)
                if props.get("RetentionPeriodHours", 24) > 24:
                    self.add(stream, f"Kinesis extended retention ({props['RetentionPeriodHours']} h)",
                             shards * self.hours, "shard-hours", shards * self.hours * price["extended_retention_shard_hour"])
            if on_demand and consumers:
                self.note("enhanced fan-out on an on-demand stream, priced here at the provisioned rates "
                          "for one shard per 1 MB/s or 1,000 records/s of the workload")
            for consumer, _ in consumers:
                self.add(consumer, "Kinesis enhanced fan-out consumer-shard hours", shards * self.hours,
                         "consumer-shard-hours", shards * self.hours * price["efo_consumer_shard_hour"])
                self.add(consumer, "Kinesis enhanced fan-out data retrieval", gb, "GB", gb * price["efo_retrieval_gb"])

    def firehose(self) -> None:
        price = self.p["firehose"]
        for delivery, resource in self.t.of("AWS::KinesisFirehose::DeliveryStream"):
            records = self.w.records_per_s * self.seconds
            record_bytes = self.w.record_kib * KIB
            gb = rounded_gb(records, record_bytes, price["record_rounding_kib"] * KIB) if records else 0
            self.add(delivery, "Firehose ingestion (5 KB rounding)", gb, "GB", gb * price["ingest_gb"])
            s3 = resource["Properties"].get("ExtendedS3DestinationConfiguration", {})
            interval = s3.get("BufferingHints", {}).get("IntervalInSeconds", 300)
            stored_gb = records * record_bytes / GIB
            bucket = _ref(s3.get("BucketARN"))
            objects = self.seconds / interval if records else 0
            self.add(bucket, f"S3 PUTs (one object per {interval} s buffer)", objects, "requests",
                     objects / 1000 * self.p["s3"]["put_per_1000"])
            self.add(bucket, "S3 Standard storage (one month of records)", stored_gb, "GB-month",
                     stored_gb * self.p["s3"]["standard_gb_month"])

    # --- observability -----------------------------------------------------------------

    def cloudwatch(self) -> None:
        price = self.p["cloudwatch"]
        for alarm, resource in self.t.of("AWS::CloudWatch::Alarm"):
            props = resource["Properties"]
            metrics = [m for m in props.get("Metrics", []) if "MetricStat" in m] or [props]
            period = min((m.get("MetricStat", m).get("Period", 60) for m in metrics), default=60)
            rate = price["alarm_high_resolution_metric_month"] if period < 60 else price["alarm_metric_month"]
            self.add(alarm, f"CloudWatch alarm ({len(metrics)} metric(s))", len(metrics), "alarm-metric-months",
                     len(metrics) * rate)
        for alarm, _ in self.t.of("AWS::CloudWatch::CompositeAlarm"):
            self.add(alarm, "CloudWatch composite alarm", 1, "alarm-months", price["composite_alarm_month"])
        for dashboard, _ in self.t.of("AWS::CloudWatch::Dashboard"):
            self.add(dashboard, "CloudWatch dashboard", 1, "dashboard-months", price["dashboard_month"])
        if self.t.of("AWS::EC2::FlowLog"):
            self.note("VPC flow log volume (CloudWatch Logs ingestion and storage)")
        if self.t.of("AWS::Logs::Delivery") or any("LoggingConfiguration" in r.get("Properties", {})
                                                   for _, r in self.t.of("AWS::S3::Bucket")):
            self.note("access log volume (S3 storage and log delivery)")

    # --- network -----------------------------------------------------------------------

    def network(self) -> None:
        for nat, _ in self.t.of("AWS::EC2::NatGateway"):
            price = self.p["vpc"]
            self.add(nat, "NAT gateway hours", self.hours, "hours", self.hours * price["nat_gateway_hour"])
            if self.w.nat_gb:
                self.add(nat, "NAT gateway data processed", self.w.nat_gb, "GB", self.w.nat_gb * price["nat_gateway_gb"])
        price = self.p["privatelink"]
        for endpoint, resource in self.t.of("AWS::EC2::VPCEndpoint"):
            props = resource["Properties"]
            if props.get("VpcEndpointType") != "Interface":
                continue
            azs = len(props.get("SubnetIds", [])) or 1
            self.add(endpoint, f"interface endpoint hours ({azs} AZ)", azs * self.hours, "endpoint-AZ-hours",
                     azs * self.hours * price["interface_endpoint_az_hour"])
        if self.t.of("AWS::EC2::VPC"):
            self.note("data transfer between AZs and endpoint data processing")

    # --- database ----------------------------------------------------------------------

    def rds(self) -> None:
        """RDS (not Aurora) instances: instance-hours and provisioned storage, both doubled by Multi-AZ
        (a standby in a second AZ); a read replica bills as an instance with its own storage."""
        price = self.p["rds"]
        for instance, resource in self.t.of("AWS::RDS::DBInstance"):
            props = resource["Properties"]
            if props.get("DBClusterIdentifier") or str(props.get("Engine", "")).startswith("aurora"):
                continue
            cls = props["DBInstanceClass"]
            copies = price["multi_az_factor"] if props.get("MultiAZ") is True else 1
            hourly = price["instance_hour_single_az"].get(cls)
            if hourly is None:
                self.note(f"RDS instance class {cls}: not in the price table")
            else:
                self.add(instance, f"RDS {cls}{' Multi-AZ' if copies > 1 else ''}", copies * self.hours,
                         "instance-hours", copies * self.hours * hourly)
            storage = float(props.get("AllocatedStorage") or self.w.db_storage_gb or 0)
            if props.get("StorageType", "gp2") in ("gp3", "gp2") and storage:
                self.add(instance, f"RDS {props.get('StorageType', 'gp2')} storage", copies * storage, "GB-months",
                         copies * storage * price["gp3_gb_month_single_az"])
            elif storage:
                self.note(f"RDS storage type {props.get('StorageType')}: not in the price table")
        if self.t.of("AWS::RDS::DBInstance"):
            self.note("RDS storage grown by storage autoscaling beyond the allocated size, and backups")

    def aurora(self) -> None:
        price = self.p["aurora"]
        instances = []
        for instance, resource in self.t.of("AWS::RDS::DBInstance"):
            props = resource["Properties"]
            if not props.get("DBClusterIdentifier") and not str(props.get("Engine", "")).startswith("aurora"):
                continue  # RDS (not Aurora): self.rds
            instances.append((instance, resource))
        if not instances:
            return
        classes = []
        for instance, resource in instances:
            cls = resource["Properties"]["DBInstanceClass"]
            if cls == "db.serverless":
                cluster = self.t.of("AWS::RDS::DBCluster")[0][1]["Properties"]
                acu = cluster["ServerlessV2ScalingConfiguration"]["MinCapacity"]
                self.add(instance, f"Aurora Serverless v2 at its minimum ({acu:g} ACU)", acu * self.hours,
                         "ACU-hours", acu * self.hours * price["serverless_v2_acu_hour"])
                self.note("Aurora Serverless v2 capacity above the minimum ACU")
                if self.t.of("AWS::RDS::DBProxy"):
                    self.note("RDS Proxy's charge for the Serverless v2 capacity behind it")
                continue
            if cls not in price["instance_hour"]:
                raise ValueError(f"instance class {cls} is not in {PRICES_FILE.name}: add its hourly price")
            classes.append(cls)
            self.add(instance, f"Aurora instance {cls}", self.hours, "instance-hours",
                     self.hours * price["instance_hour"][cls])
        targets = [r["Properties"] for _, r in self.t.of("AWS::ApplicationAutoScaling::ScalableTarget")
                   if r["Properties"].get("ScalableDimension") == "rds:cluster:ReadReplicaCount"]
        template_readers = len(instances) - 1
        if targets and self.w.readers is not None:
            low, high = targets[0]["MinCapacity"], targets[0]["MaxCapacity"]
            readers = min(max(self.w.readers, low), high)
            extra = readers - template_readers
            if extra > 0 and classes:
                cls = classes[-1]
                self.add(targets and self._scaling_target(), f"Aurora auto-scaled readers ({extra} x {cls})",
                         extra * self.hours, "instance-hours", extra * self.hours * price["instance_hour"][cls])
                classes += [cls] * extra
        cluster = self.t.of("AWS::RDS::DBCluster")[0][0]
        self.add(cluster, "Aurora storage", self.w.db_storage_gb, "GB-month",
                 self.w.db_storage_gb * price["storage_gb_month"])
        io = self.w.db_io_per_s * self.seconds
        self.add(cluster, "Aurora I/O requests", io, "requests", io / 1e6 * price["io_per_million"])
        for proxy, _ in self.t.of("AWS::RDS::DBProxy") if classes else ():
            vcpus = max(sum(sizing.instance_vcpus(c) for c in classes), self.p["rds_proxy"]["minimum_vcpus"])
            self.add(proxy, f"RDS Proxy ({vcpus} vCPU behind it)", vcpus * self.hours, "vCPU-hours",
                     vcpus * self.hours * self.p["rds_proxy"]["vcpu_hour"])
        self.note("Aurora backup storage beyond the cluster's size, snapshot export")

    def _scaling_target(self) -> str:
        return next(k for k, r in self.t.of("AWS::ApplicationAutoScaling::ScalableTarget")
                    if r["Properties"].get("ScalableDimension") == "rds:cluster:ReadReplicaCount")

    def secrets(self) -> None:
        for secret, resource in self.t.of("AWS::SecretsManager::Secret"):
            copies = 1 + len(resource.get("Properties", {}).get("ReplicaRegions", []))
            self.add(secret, f"Secrets Manager secret ({copies} region(s))", copies, "secret-months",
                     copies * self.p["secretsmanager"]["secret_month"])

    def ec2(self) -> None:
        for instance, resource in self.t.of("AWS::EC2::Instance"):
            kind = resource["Properties"]["InstanceType"]
            self.add(instance, f"EC2 {kind}", self.hours, "instance-hours",
                     self.hours * self.p["ec2"]["instance_hour"][kind])
            self.note("EBS volumes of EC2 instances")

    def amazon_mq(self) -> None:
        price = self.p["amazon_mq"]
        for broker, resource in self.t.of("AWS::AmazonMQ::Broker"):
            props = resource["Properties"]
            engine, kind, mode = props["EngineType"].upper(), props["HostInstanceType"], props["DeploymentMode"]
            # Each broker instance is billed by the hour: a cluster runs three nodes, active/standby two.
            instances = price["instances_per_mode"][mode]
            hours = instances * self.hours
            self.add(broker, f"Amazon MQ for {_MQ_ENGINES[engine]} {kind} x{instances} ({mode})", hours, "instance-hours",
                     hours * price["instance_hour"][engine][kind])
            self.note("Amazon MQ broker storage (per GB-month used) and data transfer")

    # --- edge --------------------------------------------------------------------------

    def alb(self) -> None:
        price = self.p["elb"]
        for alb, _ in self.t.of("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            self.add(alb, "ALB hours", self.hours, "hours", self.hours * price["alb_hour"])
            # Requests that miss the cache reach a region's ALB; each counted as a new connection (an upper bound).
            rps = self.w.requests_per_s * self.w.origin_share
            gb_per_hour = self.w.data_out_gb * self.w.origin_share / self.hours
            lcus = max(rps / price["lcu_new_connections_per_s"], gb_per_hour / price["lcu_processed_gb_per_hour"])
            self.add(alb, f"ALB LCU hours ({self.w.origin_share:.0%} of requests reach the origin)",
                     lcus * self.hours, "LCU-hours", lcus * self.hours * price["lcu_hour"])

    def cloudfront(self) -> None:
        price = self.p["cloudfront"]
        for distribution, _ in self.t.of("AWS::CloudFront::Distribution"):
            requests = self.w.requests_per_s * self.seconds
            self.add(distribution, "CloudFront HTTPS requests", requests, "requests",
                     requests / 1e4 * price["https_requests_per_10k"])
            self.add(distribution, "CloudFront data out (first 10 TB, North America/Europe)", self.w.data_out_gb,
                     "GB", self.w.data_out_gb * price["data_out_gb"])

    def waf(self) -> None:
        price = self.p["waf"]
        for acl, resource in self.t.of("AWS::WAFv2::WebACL"):
            rules = len(resource["Properties"].get("Rules", []))
            self.add(acl, "WAF web ACL", 1, "ACL-months", price["web_acl_month"])
            self.add(acl, f"WAF rules ({rules})", rules, "rule-months", rules * price["rule_month"])
            requests = self.w.requests_per_s * self.seconds
            self.add(acl, "WAF requests", requests, "requests", requests / 1e6 * price["requests_per_million"])

    def accelerator(self) -> None:
        price = self.p["global_accelerator"]
        for accelerator, _ in self.t.of("AWS::GlobalAccelerator::Accelerator"):
            self.add(accelerator, "Global Accelerator fixed fee", self.hours, "hours",
                     self.hours * price["accelerator_hour"])
            gb = self.w.data_out_gb * self.w.origin_share
            self.add(accelerator, "Global Accelerator data transfer premium", gb, "GB", gb * price["dt_premium_gb"])

    def route53(self) -> None:
        price = self.p["route53"]
        for zone, _ in self.t.of("AWS::Route53::HostedZone"):
            self.add(zone, "Route 53 hosted zone", 1, "zone-months", price["hosted_zone_month"])
        for check, resource in self.t.of("AWS::Route53::HealthCheck"):
            config = resource["Properties"].get("HealthCheckConfig", {})
            options = int(config.get("Type", "").startswith("HTTPS")) + int(config.get("RequestInterval", 30) == 10) \
                + int("SearchString" in config) + int(bool(config.get("MeasureLatency")))
            self.add(check, f"Route 53 health check ({options} optional feature(s))", 1, "check-months",
                     price["health_check_aws_month"] + options * price["health_check_option_month"])
        if self.t.of("AWS::Route53::RecordSet", "AWS::Route53::RecordSetGroup"):
            self.note("Route 53 DNS queries (latency records) and the hosted zone the records go in")

    def http_api(self) -> None:
        for api, resource in self.t.of("AWS::ApiGatewayV2::Api"):
            if resource["Properties"].get("ProtocolType") != "HTTP":
                continue
            requests = self.w.requests_per_s * self.seconds
            self.add(api, "API Gateway HTTP API requests", requests, "requests",
                     requests / 1e6 * self.p["apigateway"]["http_requests_per_million"])


def estimate(stack: str, template: Mapping[str, Any], workload: Workload = IDLE,
             prices: Mapping[str, Any] | None = None, region: str | None = None) -> StackCost:
    """The monthly cost lines of one synthesized template under ``workload``.

    ``region``: where the stack deploys, when its environment says; a stack outside the
    price table's region is still priced at that region's rates, and the report says so.
    """
    prices = prices or load_prices()
    cost = _Estimator(stack, template, workload, prices).run()
    if region and region != prices["region"] and "unknown" not in region:
        cost.not_priced.insert(0, f"priced at {prices['region']} rates; the stack deploys to {region}")
    return cost


# --- output ------------------------------------------------------------------------------


def _quantity(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if value else "0"


def table(costs: Iterable[StackCost], *, hide_zero: bool = False) -> str:
    """A plain-text report: per stack its total, one row per line (resource, item, quantity, unit, USD a
    month) and what is not priced. ``hide_zero`` leaves out lines that round to 0.00 USD."""
    rows: list[str] = []
    for cost in costs:
        lines = [line for line in cost.lines if not (hide_zero and round(line.monthly_usd, 2) == 0)]
        width = max([len(line.resource) for line in lines] + [8])
        item_width = max([len(line.item) for line in lines] + [4])
        rows.append(f"{cost.stack}: {cost.monthly_usd:,.2f} USD/month")
        for line in lines:
            rows.append(f"  {line.resource:<{width}}  {line.item:<{item_width}}  "
                        f"{_quantity(line.quantity):>14} {line.unit:<20} {line.monthly_usd:>10,.2f}")
        if cost.not_priced:
            rows.append("  not priced: " + "; ".join(cost.not_priced))
        rows.append("")
    return "\n".join(rows)


def grouped(cost: StackCost) -> list[tuple[str, int, float]]:
    """(item, how many resources, USD) per kind of line, largest first."""
    groups: dict[str, list[float]] = {}
    for line in cost.lines:
        groups.setdefault(line.item, []).append(line.monthly_usd)
    return sorted(((item, len(v), sum(v)) for item, v in groups.items()), key=lambda g: (-g[2], g[0]))


def markdown(cost_idle: StackCost, cost_busy: StackCost, busy: str) -> str:
    """The generated part of a pattern doc's Cost section."""
    def top(cost: StackCost, n: int = 3) -> str:
        return "; ".join(f"{item}{f' x{count}' if count > 1 else ''}: {usd:,.2f}"
                         for item, count, usd in grouped(cost)[:n])
    return "\n".join([
        "| workload | USD/month | largest lines (USD/month) |",
        "|---|---:|---|",
        f"| idle | {cost_idle.monthly_usd:,.2f} | {top(cost_idle)} |",
        f"| {busy} | {cost_busy.monthly_usd:,.2f} | {top(cost_busy)} |",
    ])


#: Which stacks each pattern's doc page shows in its Cost section.
DOC_STACKS: dict[str, tuple[str, ...]] = {
    "fanout.md": ("FanOutStack",),
    "worker-fleet.md": ("WorkerFleetStack",),
    "streaming.md": ("StreamingStack",),
    "mobile-push.md": ("PushStack",),
    "database.md": ("DatabaseStack", "NetworkStack", "RdsDatabaseStack"),
    "edge.md": ("EdgeStack", "EdgeOriginUsEast1", "EdgeOriginEuWest1"),
    "mutual-tls.md": ("MutualTlsStack",),
    "amazon-mq.md": ("BrokerStack",),
    "../README.md": ("StreamingStack",),
}
_SECTION = re.compile(r"<!-- cost:begin (\S+) -->\n.*?<!-- cost:end -->", re.S)


def doc_section(stack: str, template: Mapping[str, Any], region: str | None = None,
                prices: Mapping[str, Any] | None = None) -> str:
    """The generated table of a doc's Cost section: idle and the stack's example load."""
    busy_label, busy = EXAMPLE_LOADS[stack]
    idle = estimate(stack, template, IDLE, prices, region)
    loaded = estimate(stack, template, busy, prices, region)
    dominant = grouped(loaded)[0] if loaded.lines else None
    return "\n".join([
        f"<!-- cost:begin {stack} -->",
        f"`{stack}` (generated by `python -m refarch.tools.cost --docs`):",
        "",
        markdown(idle, loaded, busy_label),
        "",
        f"Largest line at that load: {dominant[0]}"
        f"{f' ({dominant[1]} resources)' if dominant[1] > 1 else ''}, {dominant[2] / loaded.monthly_usd:.0%} of the total."
        if dominant else "No priced lines.",
        "<!-- cost:end -->",
    ])


def update_docs(cdk_out: Path, docs: Path, *, check: bool = False) -> list[str]:
    """Rewrite (or with ``check`` only compare) each doc's generated cost tables; the docs that differ."""
    templates = read_templates(cdk_out)
    prices = load_prices()
    stale = []
    for doc, stacks in DOC_STACKS.items():
        path = docs / doc
        text = path.read_text()
        new = _SECTION.sub(lambda m: doc_section(m.group(1), *templates[m.group(1)], prices), text)
        found = set(_SECTION.findall(text))
        if found != set(stacks):
            raise SystemExit(f"cost: {path} must hold a cost section for {', '.join(stacks)} (has {sorted(found)})")
        if new != text:
            stale.append(doc)
            if not check:
                path.write_text(new)
    return stale


def read_templates(cdk_out: Path, stacks: Iterable[str] | None = None) -> dict[str, tuple[dict, str]]:
    """Stack name -> (template, region) of every stack in a synthesized app, in manifest order."""
    manifest = json.loads((cdk_out / "manifest.json").read_text())
    found = {name: (json.loads((cdk_out / a["properties"]["templateFile"]).read_text()),
                    a.get("environment", "").rsplit("/", 1)[-1])
             for name, a in manifest["artifacts"].items() if a["type"] == "aws:cloudformation:stack"}
    if stacks:
        missing = [s for s in stacks if s not in found]
        if missing:
            raise SystemExit(f"cost: no such stack in {cdk_out}: {', '.join(missing)} (have {', '.join(found)})")
        return {s: found[s] for s in stacks}
    return found


def main(argv: list[str] | None = None) -> int:
    """The command line (``argv``, default: ``sys.argv[1:]``): print the cost of the stacks in
    ``--cdk-out`` (a table, or ``--json``), or with ``--docs`` rewrite the docs' cost tables. Returns the
    exit status: 0, or 2 when the app is not synthesized."""
    parser = argparse.ArgumentParser(prog="python -m refarch.tools.cost", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"), help="synthesized app (make synth)")
    parser.add_argument("--stack", action="append", help="only this stack (repeatable)")
    parser.add_argument("--json", action="store_true", help="one JSON object per stack, in a list")
    parser.add_argument("--docs", action="store_true", help="rewrite the cost tables in docs/<pattern>.md")
    parser.add_argument("--hide-zero", action="store_true", help="leave out lines under half a cent")
    defaults = Workload()
    for name, help_text in (
        ("messages_per_s", "messages per second (fan-out, push, worker fleet)"),
        ("message_kib", "message size, KiB"),
        ("records_per_s", "records per second (streaming)"),
        ("record_kib", "record size, KiB"),
        ("workers", "worker tasks (default: sized from the message rate and --processing-s)"),
        ("processing_s", "seconds one worker spends on a message"),
        ("readers", "Aurora readers (within the scaling range)"),
        ("requests_per_s", "HTTP requests per second (edge, push registration API)"),
        ("data_out_gb", "GB a month served to users (edge)"),
        ("origin_share", "share of requests that reach an origin (edge)"),
        ("lambda_ms", "average Lambda duration, ms"),
        ("log_kib_per_invocation", "KiB of logs per Lambda invocation"),
        ("db_storage_gb", "Aurora storage, GB"),
        ("db_io_per_s", "Aurora I/O requests per second"),
        ("nat_gb", "GB a month through each NAT gateway"),
    ):
        kind = int if name in ("workers", "readers") else float
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, default=getattr(defaults, name),
                            help=f"{help_text} (default: {getattr(defaults, name)})")
    args = parser.parse_args(argv)
    if not (args.cdk_out / "manifest.json").exists():
        print(f"cost: {args.cdk_out}/manifest.json not found; run `make synth` first", file=sys.stderr)
        return 2
    try:
        workload = Workload(**{name: getattr(args, name) for name in asdict(defaults)})
    except ValueError as err:
        parser.error(str(err))
    if args.docs:
        changed = update_docs(args.cdk_out, Path(__file__).resolve().parents[2] / "docs")
        print("cost: updated " + (", ".join(changed) if changed else "nothing (docs are current)"))
        return 0
    prices = load_prices()
    costs = [estimate(name, template, workload, prices, region) for name, (template, region) in
             read_templates(args.cdk_out, args.stack).items()]
    if args.json:
        print(json.dumps([c.to_json() for c in costs], indent=2))
    else:
        print(f"Monthly cost, {prices['region']} {prices['pricing']}; prices read {prices['read_on']} "
              f"({PRICES_FILE.name}).\n")
        print(table(costs, hide_zero=args.hide_zero))
    return 0


#: The busy workload each pattern's doc states, beside idle.
EXAMPLE_LOADS: dict[str, tuple[str, Workload]] = {
    "FanOutStack": ("100 orders/s of 2 KiB", Workload(messages_per_s=100, message_kib=2)),
    "WorkerFleetStack": ("20 jobs/s of 1 KiB, 1 s each (20 workers)", Workload(messages_per_s=20, processing_s=1)),
    "StreamingStack": ("2,000 records/s of 1 KiB", Workload(records_per_s=2000, record_kib=1)),
    "PushStack": ("50 notifications/s, 5 registrations/s", Workload(messages_per_s=50, requests_per_s=5)),
    "NetworkStack": ("(no traffic-priced lines)", Workload()),
    "DatabaseStack": ("5 readers, 100 GB, 500 I/O/s", Workload(readers=5, db_storage_gb=100, db_io_per_s=500)),
    "EdgeOriginUsEast1": ("200 requests/s, 10% to the origin", Workload(requests_per_s=200, data_out_gb=1000)),
    "EdgeOriginEuWest1": ("200 requests/s, 10% to the origin", Workload(requests_per_s=200, data_out_gb=1000)),
    "EdgeStack": ("200 requests/s, 1 TB out", Workload(requests_per_s=200, data_out_gb=1000)),
    "MutualTlsStack": ("50 requests/s", Workload(requests_per_s=50)),
    "RdsDatabaseStack": ("2 replicas, 100 GB", Workload(db_storage_gb=100)),
    "BrokerStack": ("100 bridged messages/s of 2 KiB", Workload(messages_per_s=100, message_kib=2)),
}


if __name__ == "__main__":
    sys.exit(main())
