"""SNS -> SQS fan-out: one topic, one encrypted queue per subscriber.

A producer publishes once; SNS copies the message into every subscriber's
queue whose filter policy matches, and each subscriber drains its own queue at
its own pace. What can fail has somewhere to go:

* SNS cannot deliver (queue deleted, key policy wrong) -> the subscription's
  delivery dead-letter queue (SNS redrive policy);
* the consumer fails a message ``max_receive_count`` times -> the queue's
  dead-letter queue (SQS redrive policy).

Both dead-letter queues and the age of each queue's oldest message are
alarmed. Topic, queues and logs share one customer-managed KMS key.

Copy this file with ``secure.py``, ``observe.py`` and ``sizing.py`` to use it elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from refarch import observe, secure, sizing

_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_NAME_MAX = 40
#: Construct IDs of the FanOut's own children, which a subscriber's cannot reuse.
_RESERVED_IDS = ("Key", "Topic", "DeliveryLostAlarm", "Dashboard")


@dataclass(frozen=True)
class LambdaConsumer:
    """A Lambda function that drains one subscriber queue.

    The function gets its own role (consume from this queue only), an
    encrypted log group, X-Ray tracing, and an SQS event source that reports
    partial batch failures, so one bad message does not retry the whole batch.

    :param code: the function's code, e.g. ``lambda_.Code.from_asset("src")``.
    :param handler: the handler, e.g. ``"app.handler"``. Return
        ``{"batchItemFailures": [{"itemIdentifier": messageId}, ...]}`` for
        the messages that failed.
    :param runtime: default: the newest Python runtime.
    :param timeout: default: 30 seconds. The queue's visibility timeout
        becomes at least 6 x this plus the batching window.
    :param memory_size: MiB. Default: 256.
    :param batch_size: messages per invocation. Default: 10 (the FIFO maximum).
    :param max_batching_window: how long to gather a batch. Default: none.
    :param max_concurrency: concurrent invocations the event source may use,
        2-1000. Default: 5.
    :param environment: environment variables, encrypted with the pattern's key.
        Default: none.
    :param reserved_concurrency: reserve this many executions for the function,
        at least ``max_concurrency``. Default: none (``max_concurrency`` bounds
        it; reserving fails in new accounts at the 10-execution minimum).
    """

    code: lambda_.Code
    handler: str
    runtime: lambda_.Runtime = secure.LATEST_PYTHON
    timeout: cdk.Duration = field(default_factory=lambda: cdk.Duration.seconds(30))
    memory_size: int = 256
    batch_size: int = 10
    max_batching_window: cdk.Duration | None = None
    max_concurrency: int = 5
    environment: Mapping[str, str] = field(default_factory=dict)
    reserved_concurrency: int | None = None


@dataclass(frozen=True)
class Subscriber:
    """One subscriber of the topic, with its own queue.

    :param name: lower-case words joined by hyphens (``"billing"``,
        ``"shipping-eu"``); becomes the PascalCase construct ID of the
        subscriber's resources (``Billing``, ``ShippingEu``). ``key``,
        ``topic``, ``delivery-lost-alarm`` and ``dashboard`` are taken by the FanOut's own
        children.
    :param filter_policy: deliver only messages whose *attributes* match.
        Default: every message.
    :param filter_policy_with_message_body: deliver only messages whose JSON
        *body* matches. Mutually exclusive with ``filter_policy``. Default:
        none (every message).
    :param raw_message_delivery: deliver the published body as-is instead of
        the SNS JSON envelope. Default: False (the envelope keeps the
        message attributes and the topic ARN).
    :param consumer: a Lambda function to drain the queue. Default: none (the
        queue is drained by whatever the subscriber runs; see ``grant_consume``).
    :param max_receive_count: receives before a message moves to the
        dead-letter queue. Default: the FanOut's ``max_receive_count``.
    :param visibility_timeout: default: 30 s, or 6 x the consumer's timeout
        plus its batching window when there is a consumer.
    :param ordered: whether this subscriber relies on order and exactly-once
        delivery per message group, which only a FIFO queue keeps. Default:
        as the topic (a FIFO topic gets FIFO queues). ``False`` on a FIFO topic
        gives this subscriber a standard queue (SNS FIFO topics deliver to
        standard queues too, without the message group ID, so without order
        and at least once; the queue takes batches above 10 and a batching
        window). ``True`` needs a FIFO topic: a standard topic delivers only
        to standard queues.
    """

    name: str
    filter_policy: Mapping[str, sns.SubscriptionFilter] | None = None
    filter_policy_with_message_body: Mapping[str, sns.FilterOrPolicy] | None = None
    raw_message_delivery: bool = False
    consumer: LambdaConsumer | None = None
    max_receive_count: int | None = None
    visibility_timeout: cdk.Duration | None = None
    ordered: bool | None = None

    @property
    def construct_id(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("-"))


class SubscriberQueue(Construct):
    """The resources of one subscriber (created by :class:`FanOut`)."""

    queue: sqs.Queue
    """Where the subscriber's messages arrive."""
    dead_letter_queue: sqs.Queue
    """Messages the consumer failed ``max_receive_count`` times."""
    delivery_dead_letter_queue: sqs.Queue
    """Messages SNS could not deliver to ``queue``."""
    subscription: sns.Subscription
    function: lambda_.Function | None
    """The Lambda consumer, when one was given."""
    alarms: list[cloudwatch.Alarm]


class FanOut(Construct):
    """An SNS topic fanned out to encrypted SQS queues, one per subscriber.

    Simplest use::

        FanOut(self, "Orders", subscribers=[Subscriber(name="billing"), Subscriber(name="audit")])

    :param subscribers: at least one; names unique.
    :param topic: an existing topic to fan out. Default: a new topic,
        encrypted with ``encryption_key`` and TLS-only. An existing topic keeps
        its own encryption and policy; its FIFO-ness decides the queues' (and
        each ``Subscriber.ordered``).
    :param fifo: create a FIFO topic and FIFO queues (ordered, exactly-once
        per message group). Default: False. With an existing topic it must
        match the topic or be left unset. A subscriber that does not need the
        order can still have a standard queue (``Subscriber(ordered=False)``).
    :param content_based_deduplication: FIFO only; deduplicate on a SHA-256 of
        the body instead of a publisher-supplied deduplication ID.
        Default: False.
    :param encryption_key: the key for topic, queues and logs. Default: a new
        customer-managed key with rotation. A key passed in must already allow
        ``sns.amazonaws.com`` to use it (``kms:GenerateDataKey*``,
        ``kms:Decrypt``) and, with Lambda consumers, CloudWatch Logs; a key
        created in the same app gets those statements added.
    :param max_receive_count: receives before a message moves to its
        dead-letter queue, 1-1000. Default: 5.
    :param max_acceptable_latency: how long a message may wait before it is
        late, at least 1 s; the oldest-message alarm fires past it.
        Default: 5 minutes.
    :param retention_period: how long the queues keep an unprocessed message,
        from 1 minute to less than 14 days (the dead-letter queues' retention,
        which counts from the original enqueue time) and longer than
        ``max_acceptable_latency``.
        Default: 4 days (the dead-letter queues keep 14 days).
    :param alarm_topic: where alarms and their recovery are sent.
        Default: nowhere (alarms are still created and visible).
    :param removal_policy: for queues, key and log groups. Default: RETAIN, so
        deleting the stack does not lose messages.
    :param log_retention: for consumer log groups. Default: one year.
    :param dashboard: create a CloudWatch dashboard following the messages:
        publishes, each queue's deliveries, backlog and oldest age beside its
        dead-letter queues, consumers, dropped deliveries, and every alarm.
        Default: True (a dashboard costs about 3 USD a month past the free three).
    """

    topic: sns.ITopic
    encryption_key: kms.IKey
    subscribers: Mapping[str, SubscriberQueue]
    delivery_lost_alarm: cloudwatch.Alarm
    """Messages SNS dropped: neither delivered nor moved to a delivery dead-letter queue."""
    alarms: list[cloudwatch.Alarm]
    """Every alarm: each subscriber's three, then ``delivery_lost_alarm``."""
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        subscribers: Sequence[Subscriber],
        topic: sns.ITopic | None = None,
        fifo: bool | None = None,
        content_based_deduplication: bool = False,
        encryption_key: kms.IKey | None = None,
        max_receive_count: int = 5,
        max_acceptable_latency: cdk.Duration = cdk.Duration.minutes(5),
        retention_period: cdk.Duration = cdk.Duration.days(4),
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        is_fifo = _validate(
            subscribers=subscribers,
            topic=topic,
            fifo=fifo,
            content_based_deduplication=content_based_deduplication,
            max_receive_count=max_receive_count,
            max_acceptable_latency=max_acceptable_latency,
            retention_period=retention_period,
        )
        age = sizing.oldest_message_alarm(max_acceptable_latency.to_seconds(integral=False))

        self.encryption_key = encryption_key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: topic, queues and logs", removal_policy=removal_policy
        )
        # SNS encrypts into the queues with the key. A key policy cannot name a
        # topic that itself uses the key (a dependency cycle), so it admits SNS
        # acting for this account's topics in this region; each queue policy
        # names the one topic.
        if topic is None:
            topic = sns.Topic(
                self,
                "Topic",
                fifo=is_fifo or None,
                content_based_deduplication=content_based_deduplication or None,
                master_key=self.encryption_key,
                enforce_ssl=True,
                signature_version="2",
            )
        self.topic = topic
        secure.allow_service_to_use_key(
            self.encryption_key,
            "sns.amazonaws.com",
            source_arns=[cdk.Stack.of(self).format_arn(service="sns", resource="*", arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)],
        )
        if any(s.consumer for s in subscribers):
            secure.allow_logs_to_use_key(self.encryption_key)

        self.subscribers = {}
        self.alarms = []
        for spec in subscribers:
            sub = self._subscriber(
                spec,
                fifo_topic=is_fifo,
                max_receive_count=max_receive_count if spec.max_receive_count is None else spec.max_receive_count,
                retention_period=retention_period,
                age=age,
                removal_policy=removal_policy,
                log_retention=log_retention,
            )
            self.subscribers[spec.name] = sub
            self.alarms.extend(sub.alarms)
        # The delivery dead-letter queues share the key with the queues: when SNS
        # cannot use the key (or a DLQ is gone), the redrive fails too and the
        # message is dropped. Only the topic's metric shows that loss.
        self.delivery_lost_alarm = cloudwatch.Alarm(
            self,
            "DeliveryLostAlarm",
            alarm_description=f"{self.node.path}: SNS dropped messages it could neither deliver nor move to a "
            "delivery dead-letter queue (check the key policy and the queue policies)",
            metric=self.topic.metric(
                "NumberOfNotificationsFailedToRedriveToDlq",
                period=cdk.Duration.minutes(1),
                statistic=cloudwatch.Stats.SUM,
            ),
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.alarms.append(self.delivery_lost_alarm)
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        minute = {"period": cdk.Duration.minutes(1), "statistic": cloudwatch.Stats.SUM}
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text("## Topic: publishes and what SNS did with them"),
            observe.graph("Published", [self.topic.metric_number_of_messages_published(**minute)]),
            observe.graph("Delivered and failed deliveries (all subscriptions)", [
                self.topic.metric_number_of_notifications_delivered(**minute),
                self.topic.metric_number_of_notifications_failed(**minute),
            ]),
            observe.graph(
                "Dropped: neither delivered nor redriven",
                [self.topic.metric("NumberOfNotificationsFailedToRedriveToDlq", **minute)],
                alarms=[self.delivery_lost_alarm],
            ),
        ]]
        for name, sub in self.subscribers.items():
            dead, undeliverable, oldest = sub.alarms
            row: list[cloudwatch.IWidget] = [
                observe.text(f"## Subscriber {name}: deliveries, backlog, dead letters"),
                observe.graph("Delivered into the queue, deleted by the consumer", [
                    sub.queue.metric_number_of_messages_sent(**minute),
                    sub.queue.metric_number_of_messages_deleted(**minute),
                ], width=6),
                observe.graph("Visible messages", [
                    sub.queue.metric_approximate_number_of_messages_visible(statistic=cloudwatch.Stats.MAXIMUM),
                    sub.queue.metric_approximate_number_of_messages_not_visible(statistic=cloudwatch.Stats.MAXIMUM),
                ], width=6),
                observe.graph(
                    "Oldest message age (s)",
                    [sub.queue.metric_approximate_age_of_oldest_message(statistic=cloudwatch.Stats.MAXIMUM)],
                    alarms=[oldest], width=6,
                ),
                observe.graph("Dead-letter queues: consumer failed, SNS could not deliver", [
                    sub.dead_letter_queue.metric_approximate_number_of_messages_visible(
                        statistic=cloudwatch.Stats.MAXIMUM, label="consumer failed"),
                    sub.delivery_dead_letter_queue.metric_approximate_number_of_messages_visible(
                        statistic=cloudwatch.Stats.MAXIMUM, label="SNS could not deliver"),
                ], alarms=[dead, undeliverable], width=6),
            ]
            if sub.function is not None:
                row.append(observe.graph("Consumer: invocations, errors, throttles", [
                    sub.function.metric_invocations(**minute),
                    sub.function.metric_errors(**minute),
                    sub.function.metric_throttles(**minute),
                ], right=[sub.function.metric_duration(statistic=cloudwatch.Stats.p(99))], width=24))
            rows.append(row)
        return observe.pattern_dashboard(self, "Dashboard", title=f"Fan-out {self.node.path}", rows=rows, alarms=self.alarms)

    # -- grants ---------------------------------------------------------------

    def grant_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish to the topic (and use its key)."""
        return self.topic.grant_publish(grantee)

    def grant_consume(self, name: str, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` receive and delete messages of subscriber ``name``."""
        secure.require(name in self.subscribers, "name", name, f"must be one of {sorted(self.subscribers)}")
        return self.subscribers[name].queue.grant_consume_messages(grantee)

    # -- one subscriber -------------------------------------------------------

    def _subscriber(
        self,
        spec: Subscriber,
        *,
        fifo_topic: bool,
        max_receive_count: int,
        retention_period: cdk.Duration,
        age: sizing.AgeAlarm,
        removal_policy: cdk.RemovalPolicy,
        log_retention: logs.RetentionDays,
    ) -> SubscriberQueue:
        sub = SubscriberQueue(self, spec.construct_id)
        key = self.encryption_key
        fifo = _queue_is_fifo(spec, fifo_topic)
        consumer = spec.consumer

        visibility = spec.visibility_timeout
        if consumer is not None:
            window = consumer.max_batching_window.to_seconds(integral=False) if consumer.max_batching_window else 0
            needed = sizing.lambda_visibility_timeout(consumer.timeout.to_seconds(integral=False), window)
            if visibility is None:
                visibility = cdk.Duration.seconds(needed)
            secure.require(
                visibility.to_seconds(integral=False) >= needed,
                f"subscribers[{spec.name}].visibility_timeout",
                f"{visibility.to_seconds(integral=False)} s",
                f"must be at least 6 x the consumer timeout + batching window = {needed} s",
            )

        sub.dead_letter_queue = secure.dead_letter_queue(
            sub, "DeadLetterQueue", key=key, fifo=fifo, removal_policy=removal_policy
        )
        # The delivery DLQ follows the topic, the queue's own DLQ the queue: "FIFO
        # topic subscriptions use FIFO queues, and standard topic subscriptions use
        # standard queues" (https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html),
        # and SQS requires a queue's dead-letter queue to be of its own type
        # (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue.html).
        sub.delivery_dead_letter_queue = secure.dead_letter_queue(
            sub, "DeliveryDeadLetterQueue", key=key, fifo=fifo_topic, removal_policy=removal_policy
        )
        sub.queue = secure.work_queue(
            sub,
            "Queue",
            key=key,
            fifo=fifo,
            dead_letter_queue=sub.dead_letter_queue,
            max_receive_count=max_receive_count,
            visibility_timeout=visibility,
            retention_period=retention_period,
            removal_policy=removal_policy,
        )
        secure.acknowledge(
            sub.delivery_dead_letter_queue.node.default_child,
            "AwsSolutions::AwsSolutions-SQS3",
            "This queue is the dead-letter queue of the SNS subscription (its RedrivePolicy), which the rule "
            "does not recognise as a dead-letter queue; it holds messages SNS could not deliver.",
        )
        secure.allow_topic_to_send(sub.queue, self.topic)
        sub.subscription = sns.Subscription(
            sub,
            "Subscription",
            topic=self.topic,
            protocol=sns.SubscriptionProtocol.SQS,
            endpoint=sub.queue.queue_arn,
            raw_message_delivery=spec.raw_message_delivery or None,
            filter_policy=spec.filter_policy,
            filter_policy_with_message_body=spec.filter_policy_with_message_body,
            dead_letter_queue=sub.delivery_dead_letter_queue,
        )
        # Subscribe only once SNS may write to the queue and to the dead-letter
        # queue (whose policy the Subscription construct writes).
        sub.subscription.node.add_dependency(
            sub.queue.node.find_child("Policy"), sub.delivery_dead_letter_queue.node.find_child("Policy")
        )

        sub.function = None
        if consumer is not None:
            sub.function = secure.python_function(
                sub,
                "Consumer",
                code=consumer.code,
                handler=consumer.handler,
                runtime=consumer.runtime,
                timeout=consumer.timeout,
                memory_size=consumer.memory_size,
                environment=consumer.environment,
                key=key,
                description=f"Consumes the {spec.name} queue of {self.node.path}",
                reserved_concurrency=consumer.reserved_concurrency,
                log_retention=log_retention,
                removal_policy=removal_policy,
            )
            event_source = sources.SqsEventSource(
                sub.queue,
                batch_size=consumer.batch_size,
                max_batching_window=consumer.max_batching_window,
                max_concurrency=consumer.max_concurrency,
                report_batch_item_failures=True,
            )
            sub.function.add_event_source(event_source)
            # Failed messages go to the queue's dead-letter queue (SQS redrive); the
            # function is only ever invoked synchronously by the event source.
            secure.acknowledge(
                sub.function.node.default_child,
                "Serverless::Serverless-LambdaDLQ",
                "Invoked only synchronously by its SQS event source: a message it fails returns to the queue and, "
                "after max_receive_count receives, moves to the queue's dead-letter queue. An async DLQ stays empty.",
            )
            secure.checkov_skip(
                sub.function.node.default_child,
                "CKV_AWS_116",
                "Invoked only synchronously by its SQS event source; failed messages go to the queue's "
                "dead-letter queue through the SQS redrive policy.",
            )
            esm = sub.function.node.find_child(f"SqsEventSource:{cdk.Names.node_unique_id(sub.queue.node)}")
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

        what = f"{self.node.path} {spec.name}"
        sub.alarms = [
            secure.queue_not_empty_alarm(sub, "DeadLetterAlarm", queue=sub.dead_letter_queue, what=f"{what}: processing failed"),
            secure.queue_not_empty_alarm(
                sub, "DeliveryFailureAlarm", queue=sub.delivery_dead_letter_queue, what=f"{what}: SNS could not deliver"
            ),
            secure.oldest_message_alarm(
                sub,
                "OldestMessageAlarm",
                queue=sub.queue,
                what=what,
                threshold_s=age.threshold_s,
                period_s=age.period_s,
                evaluation_periods=age.evaluation_periods,
                datapoints_to_alarm=age.datapoints_to_alarm,
            ),
        ]
        return sub


def _validate(
    *,
    subscribers: Sequence[Subscriber],
    topic: sns.ITopic | None,
    fifo: bool | None,
    content_based_deduplication: bool,
    max_receive_count: int,
    max_acceptable_latency: cdk.Duration,
    retention_period: cdk.Duration,
) -> bool:
    """Check every prop; return whether the fan-out is FIFO."""
    require = secure.require
    require(len(subscribers) > 0, "subscribers", list(subscribers), "must name at least one subscriber")

    is_fifo = bool(fifo)
    if topic is not None:
        topic_fifo = bool(topic.fifo)
        require(
            fifo is None or fifo == topic_fifo,
            "fifo",
            fifo,
            f"must match the existing topic, which is {'FIFO' if topic_fifo else 'standard'} (a topic's type is "
            "fixed when it is created); to give one subscriber of a FIFO topic a standard queue, set its ordered=False",
        )
        require(
            not content_based_deduplication,
            "content_based_deduplication",
            content_based_deduplication,
            "is a setting of the topic; set it on the existing topic instead",
        )
        is_fifo = topic_fifo
    require(
        is_fifo or not content_based_deduplication,
        "content_based_deduplication",
        content_based_deduplication,
        "applies only to FIFO topics (set fifo=True)",
    )
    _check_receive_count("max_receive_count", max_receive_count)

    latency_s = max_acceptable_latency.to_seconds(integral=False)
    require(latency_s >= 1, "max_acceptable_latency", f"{latency_s} s", "must be at least 1 s")
    retention_s = retention_period.to_seconds(integral=False)
    require(
        sizing.SQS_MIN_RETENTION_S <= retention_s < secure.DLQ_RETENTION.to_seconds(),
        "retention_period",
        f"{retention_s} s",
        "must be at least 60 s and shorter than the dead-letter queues' 14 days: a message keeps its "
        "enqueue time when it moves to a dead-letter queue, so it would expire there at once",
    )
    require(
        retention_s > latency_s,
        "retention_period",
        f"{retention_s} s",
        f"must be longer than max_acceptable_latency ({latency_s} s), or messages expire before they are late",
    )

    seen: dict[str, str] = {}
    for spec in subscribers:
        where = f"subscribers[{spec.name}]"
        require(
            isinstance(spec.name, str) and bool(_NAME.match(spec.name)) and len(spec.name) <= _NAME_MAX,
            "subscribers[].name",
            spec.name,
            f"must be lower-case letters and digits in words joined by single hyphens, starting with a letter, "
            f"at most {_NAME_MAX} characters",
        )
        require(
            spec.construct_id not in _RESERVED_IDS,
            "subscribers[].name",
            spec.name,
            f"must not become the construct ID {spec.construct_id!r}, which a child of the FanOut itself has "
            f"(reserved: {', '.join(map(repr, _RESERVED_IDS))})",
        )
        require(spec.name not in seen, "subscribers[].name", spec.name, "must be unique")
        require(
            spec.construct_id not in seen.values(),
            "subscribers[].name",
            spec.name,
            f"must not collide with another subscriber's construct ID {spec.construct_id!r}",
        )
        seen[spec.name] = spec.construct_id
        if spec.max_receive_count is not None:
            _check_receive_count(f"{where}.max_receive_count", spec.max_receive_count)
        if spec.visibility_timeout is not None:
            v = spec.visibility_timeout.to_seconds(integral=False)
            require(
                0 <= v <= sizing.SQS_MAX_VISIBILITY_TIMEOUT_S, f"{where}.visibility_timeout", f"{v} s", "must be 0 s to 12 hours"
            )
        require(
            not (spec.filter_policy and spec.filter_policy_with_message_body),
            f"{where}.filter_policy",
            "both scopes",
            "and filter_policy_with_message_body are mutually exclusive: a subscription filters on attributes or on the body",
        )
        for prop, policy in (
            ("filter_policy", _render_attribute_policy(spec.filter_policy)),
            ("filter_policy_with_message_body", _render_body_policy(spec.filter_policy_with_message_body)),
        ):
            if policy is None:
                continue
            try:
                c = sizing.filter_policy_complexity(policy)
            except ValueError as err:
                raise ValueError(f"{where}.{prop} is not a valid SNS filter policy: {err}") from None
            require(
                c.keys <= sizing.SNS_FILTER_MAX_KEYS,
                f"{where}.{prop}",
                f"{c.keys} keys",
                f"must have at most {sizing.SNS_FILTER_MAX_KEYS} keys (SNS limit)",
            )
            require(
                c.combinations <= sizing.SNS_FILTER_MAX_COMBINATIONS,
                f"{where}.{prop}",
                f"{c.combinations} combinations",
                f"must have at most {sizing.SNS_FILTER_MAX_COMBINATIONS} value combinations (SNS limit; "
                "the product of the number of values of each key)",
            )
        require(
            spec.ordered in (None, True, False),
            f"{where}.ordered",
            spec.ordered,
            "must be True, False or None (as the topic)",
        )
        require(
            is_fifo or spec.ordered is not True,
            f"{where}.ordered",
            spec.ordered,
            "needs a FIFO topic (fifo=True): a standard topic delivers only to standard queues, "
            "with neither order nor exactly-once delivery",
        )
        if spec.consumer is not None:
            _validate_consumer(f"{where}.consumer", spec.consumer, fifo=_queue_is_fifo(spec, is_fifo))
    return is_fifo


def _queue_is_fifo(spec: Subscriber, fifo_topic: bool) -> bool:
    """A subscriber's queue is FIFO when it wants order, or by default when the topic is FIFO.

    A FIFO topic also delivers to standard queues, without the message group ID
    (https://docs.aws.amazon.com/sns/latest/dg/fifo-message-grouping.html,
    https://docs.aws.amazon.com/sns/latest/dg/fifo-topic-code-examples.html);
    a standard topic only to standard queues.
    """
    return fifo_topic if spec.ordered is None else spec.ordered


def _validate_consumer(where: str, c: LambdaConsumer, *, fifo: bool) -> None:
    require = secure.require
    t = c.timeout.to_seconds(integral=False)
    require(0 < t <= sizing.LAMBDA_MAX_TIMEOUT_S, f"{where}.timeout", f"{t} s", "must be 1 s to 15 minutes")
    require(128 <= c.memory_size <= 10240, f"{where}.memory_size", c.memory_size, "must be 128 to 10240 MiB")
    require(bool(c.handler), f"{where}.handler", c.handler, "must name the handler, e.g. 'app.handler'")
    max_batch = sizing.SQS_FIFO_MAX_BATCH if fifo else sizing.SQS_STANDARD_MAX_BATCH
    require(
        1 <= c.batch_size <= max_batch,
        f"{where}.batch_size",
        c.batch_size,
        f"must be 1 to {max_batch} for a {'FIFO' if fifo else 'standard'} queue",
    )
    window = c.max_batching_window.to_seconds(integral=False) if c.max_batching_window else 0
    require(
        0 <= window <= sizing.LAMBDA_MAX_BATCHING_WINDOW_S,
        f"{where}.max_batching_window",
        f"{window} s",
        "must be 0 to 300 s",
    )
    require(
        fifo is False or window == 0,
        f"{where}.max_batching_window",
        f"{window} s",
        "is not supported for FIFO queues",
    )
    require(
        c.batch_size <= 10 or window >= 1,
        f"{where}.batch_size",
        c.batch_size,
        "above 10 needs a max_batching_window of at least 1 s",
    )
    require(
        sizing.LAMBDA_SQS_MIN_CONCURRENCY <= c.max_concurrency <= sizing.LAMBDA_SQS_MAX_CONCURRENCY,
        f"{where}.max_concurrency",
        c.max_concurrency,
        "must be 2 to 1000 (the SQS event source's range)",
    )
    rc = c.reserved_concurrency
    require(
        rc is None or (isinstance(rc, int) and not isinstance(rc, bool) and rc >= c.max_concurrency),
        f"{where}.reserved_concurrency",
        rc,
        f"must be at least max_concurrency ({c.max_concurrency}): with fewer reserved executions Lambda throttles "
        "the event source, and throttled messages count receives toward the dead-letter queue",
    )


def _check_receive_count(prop: str, value: int) -> None:
    secure.require(
        isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= sizing.SQS_MAX_RECEIVE_COUNT,
        prop,
        value,
        f"must be a whole number from 1 to {sizing.SQS_MAX_RECEIVE_COUNT}",
    )


def _render_attribute_policy(policy: Mapping[str, sns.SubscriptionFilter] | None) -> dict | None:
    if not policy:
        return None
    return {key: list(f.conditions) for key, f in policy.items()}


def _render_body_policy(policy: Mapping[str, sns.FilterOrPolicy] | None) -> dict | None:
    if not policy:
        return None
    rendered: dict = {}
    for key, value in policy.items():
        if value.type == sns.FilterOrPolicyType.POLICY:
            rendered[key] = _render_body_policy(value.policy_doc) or {}
        else:
            rendered[key] = list(value.filter_doc.conditions)
    return rendered
