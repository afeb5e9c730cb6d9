"""FanOut configurations: FIFO (with one standard queue), Lambda consumers, body filtering, existing topic and key."""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns

from refarch import secure
from refarch.fanout import FanOut, LambdaConsumer, Subscriber

CONSUMER_CODE = Path(__file__).resolve().parents[2] / "refarch" / "runtime" / "fanout_consumer"


def fifo(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "FanOutFifo")
    FanOut(
        stack,
        "Ledger",
        fifo=True,
        content_based_deduplication=True,
        subscribers=[
            Subscriber(name="accounts"),
            Subscriber(
                name="reporting",
                filter_policy_with_message_body={
                    "entry": sns.FilterOrPolicy.policy(
                        {"kind": sns.FilterOrPolicy.filter(sns.SubscriptionFilter.string_filter(allowlist=["debit", "credit"]))}
                    )
                },
                raw_message_delivery=True,
            ),
            # Needs no order: a standard queue on the FIFO topic (its delivery DLQ stays FIFO).
            Subscriber(name="analytics", ordered=False),
        ],
    )
    return stack


def with_consumers(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "FanOutWithConsumers")
    alarms = secure.AlarmTopic(stack, "Alarms")
    FanOut(
        stack,
        "Orders",
        alarm_topic=alarms.topic,
        subscribers=[
            Subscriber(
                name="billing",
                consumer=LambdaConsumer(
                    code=lambda_.Code.from_asset(str(CONSUMER_CODE)),
                    handler="app.handler",
                    timeout=cdk.Duration.seconds(20),
                    max_batching_window=cdk.Duration.seconds(5),
                    batch_size=50,
                    max_concurrency=10,
                ),
            ),
            Subscriber(
                name="email",
                filter_policy={"event_type": sns.SubscriptionFilter.string_filter(allowlist=["order_placed"])},
                consumer=LambdaConsumer(code=lambda_.Code.from_asset(str(CONSUMER_CODE)), handler="app.handler"),
            ),
        ],
    )
    return stack


def existing_topic_and_key(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "FanOutExistingTopic")
    key = secure.encryption_key(stack, "SharedKey", description="shared by several patterns")
    topic = sns.Topic(stack, "Events", master_key=key, enforce_ssl=True, signature_version="2")
    FanOut(stack, "Fanout", topic=topic, encryption_key=key, subscribers=[Subscriber(name="search-index")])
    return stack


CASES = {
    "FanOutFifo": fifo,
    "FanOutWithConsumers": with_consumers,
    "FanOutExistingTopic": existing_topic_and_key,
}
