"""Every bad FanOut input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from refarch.fanout import FanOut, LambdaConsumer, Subscriber
from tests.conftest import new_app

CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")


def _consumer(**kwargs) -> LambdaConsumer:
    return LambdaConsumer(code=CODE, handler="index.handler", **kwargs)


def _strings(n: int) -> sns.SubscriptionFilter:
    return sns.SubscriptionFilter.string_filter(allowlist=[f"v{i}" for i in range(n)])


OK = [Subscriber(name="a")]

CASES = {
    "no subscribers": (dict(subscribers=[]), "subscribers must name at least one subscriber (got [])"),
    "name with upper case": (dict(subscribers=[Subscriber(name="Billing")]), "subscribers[].name must be lower-case"),
    "name with underscore": (dict(subscribers=[Subscriber(name="bill_ing")]), "(got 'bill_ing')"),
    "name too long": (dict(subscribers=[Subscriber(name="a" * 41)]), "at most 40 characters"),
    "empty name": (dict(subscribers=[Subscriber(name="")]), "(got '')"),
    "duplicate names": (dict(subscribers=[Subscriber(name="a"), Subscriber(name="a")]),
                        "subscribers[].name must be unique (got 'a')"),
    "colliding construct IDs": (dict(subscribers=[Subscriber(name="a-1b"), Subscriber(name="a1b")]),
                                "must not collide with another subscriber's construct ID 'A1b' (got 'a1b')"),
    "name of the FanOut's key": (dict(subscribers=[Subscriber(name="key")]),
                                 "subscribers[].name must not become the construct ID 'Key', which a child of the "
                                 "FanOut itself has (reserved: 'Key', 'Topic', 'DeliveryLostAlarm', 'Dashboard') (got 'key')"),
    "name of the FanOut's topic": (dict(subscribers=[Subscriber(name="topic")]),
                                   "must not become the construct ID 'Topic'"),
    "name of the FanOut's alarm": (dict(subscribers=[Subscriber(name="delivery-lost-alarm")]),
                                   "must not become the construct ID 'DeliveryLostAlarm'"),
    "name of the FanOut's dashboard": (dict(subscribers=[Subscriber(name="dashboard")]),
                                       "must not become the construct ID 'Dashboard'"),
    "max_receive_count zero": (dict(subscribers=OK, max_receive_count=0),
                               "max_receive_count must be a whole number from 1 to 1000 (got 0)"),
    "max_receive_count too high": (dict(subscribers=OK, max_receive_count=1001), "(got 1001)"),
    "subscriber max_receive_count": (dict(subscribers=[Subscriber(name="a", max_receive_count=-1)]),
                                     "subscribers[a].max_receive_count must be a whole number from 1 to 1000 (got -1)"),
    "latency below one second": (dict(subscribers=OK, max_acceptable_latency=cdk.Duration.millis(500)),
                                 "max_acceptable_latency must be at least 1 s (got '0.5 s')"),
    "retention too long": (dict(subscribers=OK, retention_period=cdk.Duration.days(15)),
                           "retention_period must be at least 60 s and shorter than the dead-letter queues' 14 days"),
    "retention as long as the DLQs'": (dict(subscribers=OK, retention_period=cdk.Duration.days(14)),
                                       "so it would expire there at once (got '1209600 s')"),
    "retention below a minute": (dict(subscribers=OK, retention_period=cdk.Duration.seconds(59),
                                      max_acceptable_latency=cdk.Duration.seconds(10)), "(got '59 s')"),
    "retention shorter than latency": (
        dict(subscribers=OK, retention_period=cdk.Duration.minutes(10), max_acceptable_latency=cdk.Duration.hours(1)),
        "retention_period must be longer than max_acceptable_latency (3600 s)"),
    "content dedup without fifo": (dict(subscribers=OK, content_based_deduplication=True),
                                   "content_based_deduplication applies only to FIFO topics"),
    "both filter scopes": (
        dict(subscribers=[Subscriber(name="a", filter_policy={"k": _strings(1)},
                                     filter_policy_with_message_body={"k": sns.FilterOrPolicy.filter(_strings(1))})]),
        "subscribers[a].filter_policy and filter_policy_with_message_body are mutually exclusive"),
    "six filter keys": (dict(subscribers=[Subscriber(name="a", filter_policy={f"k{i}": _strings(1) for i in range(6)})]),
                        "subscribers[a].filter_policy must have at most 5 keys (SNS limit) (got '6 keys')"),
    "too many combinations": (
        dict(subscribers=[Subscriber(name="a", filter_policy={"x": _strings(13), "y": _strings(12)})]),
        "must have at most 150 value combinations (SNS limit; the product of the number of values of each key) "
        "(got '156 combinations')"),
    "too many nested body keys": (
        dict(subscribers=[Subscriber(name="a", filter_policy_with_message_body={
            "o": sns.FilterOrPolicy.policy({f"k{i}": sns.FilterOrPolicy.filter(_strings(1)) for i in range(6)})})]),
        "subscribers[a].filter_policy_with_message_body must have at most 5 keys"),
    "visibility timeout too short for consumer": (
        dict(subscribers=[Subscriber(name="a", consumer=_consumer(), visibility_timeout=cdk.Duration.seconds(60))]),
        "subscribers[a].visibility_timeout must be at least 6 x the consumer timeout + batching window = 180 s (got '60 s')"),
    "visibility timeout above 12 h": (dict(subscribers=[Subscriber(name="a", visibility_timeout=cdk.Duration.hours(13))]),
                                      "subscribers[a].visibility_timeout must be 0 s to 12 hours (got '46800 s')"),
    "consumer timeout above 15 min": (dict(subscribers=[Subscriber(name="a", consumer=_consumer(timeout=cdk.Duration.minutes(16)))]),
                                      "subscribers[a].consumer.timeout must be 1 s to 15 minutes (got '960 s')"),
    "consumer memory too small": (dict(subscribers=[Subscriber(name="a", consumer=_consumer(memory_size=64))]),
                                  "subscribers[a].consumer.memory_size must be 128 to 10240 MiB (got 64)"),
    "consumer without handler": (dict(subscribers=[Subscriber(name="a", consumer=LambdaConsumer(code=CODE, handler=""))]),
                                 "subscribers[a].consumer.handler must name the handler"),
    "consumer concurrency 1": (dict(subscribers=[Subscriber(name="a", consumer=_consumer(max_concurrency=1))]),
                               "subscribers[a].consumer.max_concurrency must be 2 to 1000 (the SQS event source's range) (got 1)"),
    "reserved concurrency below max concurrency": (
        dict(subscribers=[Subscriber(name="a", consumer=_consumer(max_concurrency=5, reserved_concurrency=4))]),
        "subscribers[a].consumer.reserved_concurrency must be at least max_concurrency (5)"),
    "reserved concurrency zero": (dict(subscribers=[Subscriber(name="a", consumer=_consumer(reserved_concurrency=0))]),
                                  "throttled messages count receives toward the dead-letter queue (got 0)"),
    "batch above 10 without window": (dict(subscribers=[Subscriber(name="a", consumer=_consumer(batch_size=11))]),
                                      "subscribers[a].consumer.batch_size above 10 needs a max_batching_window of at least 1 s (got 11)"),
    "batching window above 300 s": (
        dict(subscribers=[Subscriber(name="a", consumer=_consumer(max_batching_window=cdk.Duration.seconds(301)))]),
        "subscribers[a].consumer.max_batching_window must be 0 to 300 s (got '301 s')"),
    "FIFO batch above 10": (dict(fifo=True, subscribers=[Subscriber(name="a", consumer=_consumer(batch_size=11))]),
                            "subscribers[a].consumer.batch_size must be 1 to 10 for a FIFO queue (got 11)"),
    "FIFO batching window": (
        dict(fifo=True, subscribers=[Subscriber(name="a", consumer=_consumer(max_batching_window=cdk.Duration.seconds(5)))]),
        "subscribers[a].consumer.max_batching_window is not supported for FIFO queues (got '5 s')"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_with_its_prop_and_value(case: str) -> None:
    kwargs, message = CASES[case]
    stack = cdk.Stack(new_app(), "Bad")
    with pytest.raises(ValueError, match=re.escape(message)):
        FanOut(stack, "F", **kwargs)


def test_fifo_mismatch_with_existing_standard_topic() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    topic = sns.Topic(stack, "Standard")
    with pytest.raises(ValueError, match=re.escape("fifo must match the existing topic, which is standard")):
        FanOut(stack, "F", topic=topic, fifo=True, subscribers=OK)


def test_standard_mismatch_with_existing_fifo_topic() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    topic = sns.Topic(stack, "Ordered", fifo=True)
    with pytest.raises(ValueError, match=re.escape("fifo must match the existing topic, which is FIFO") + ".*got False"):
        FanOut(stack, "F", topic=topic, fifo=False, subscribers=OK)


def test_content_dedup_on_existing_topic() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    topic = sns.Topic(stack, "Ordered", fifo=True)
    with pytest.raises(ValueError, match="content_based_deduplication is a setting of the topic"):
        FanOut(stack, "F", topic=topic, content_based_deduplication=True, subscribers=OK)


def test_ordered_subscriber_needs_a_fifo_topic() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    with pytest.raises(ValueError, match=re.escape("subscribers[a].ordered needs a FIFO topic (fifo=True)") + ".*got True"):
        FanOut(stack, "F", subscribers=[Subscriber(name="a", ordered=True)])


def test_ordered_subscriber_needs_a_fifo_topic_also_when_the_topic_exists() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    topic = sns.Topic(stack, "Standard")
    with pytest.raises(ValueError, match=re.escape("subscribers[a].ordered needs a FIFO topic")):
        FanOut(stack, "F", topic=topic, subscribers=[Subscriber(name="a", ordered=True)])


def test_ordered_must_be_a_boolean_or_none() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    with pytest.raises(ValueError, match=re.escape("subscribers[a].ordered must be True, False or None") + ".*got 'yes'"):
        FanOut(stack, "F", fifo=True, subscribers=[Subscriber(name="a", ordered="yes")])


def test_ordered_fifo_subscriber_keeps_the_fifo_consumer_limits() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    with pytest.raises(ValueError, match=re.escape("subscribers[a].consumer.batch_size must be 1 to 10 for a FIFO queue")):
        FanOut(stack, "F", fifo=True, subscribers=[Subscriber(name="a", ordered=True, consumer=_consumer(batch_size=11))])


def test_existing_fifo_topic_feeds_a_standard_queue_when_order_is_not_needed() -> None:
    stack = cdk.Stack(new_app(), "Ok")
    fanout = FanOut(stack, "F", topic=sns.Topic(stack, "Ordered", fifo=True),
                    subscribers=[Subscriber(name="a"), Subscriber(name="b", ordered=False)])
    assert fanout.subscribers["a"].queue.fifo is True and fanout.subscribers["b"].queue.fifo is False


def test_existing_fifo_topic_makes_fifo_queues() -> None:
    stack = cdk.Stack(new_app(), "Ok")
    fanout = FanOut(stack, "F", topic=sns.Topic(stack, "Ordered", fifo=True), subscribers=OK)
    assert fanout.subscribers["a"].queue.fifo is True


def test_alarm_topic_email_is_validated() -> None:
    from refarch.secure import AlarmTopic

    with pytest.raises(ValueError, match=re.escape("email must be an e-mail address (got 'ops')")):
        AlarmTopic(cdk.Stack(new_app(), "Bad"), "Alarms", email="ops")
