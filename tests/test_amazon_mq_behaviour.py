"""The bridge against a real RabbitMQ broker and moto's SNS.

A RabbitMQ node from Debian's package runs on 127.0.0.1 for this module.
``poll`` stands in for Lambda's Amazon MQ event source mapping as AWS
documents it: it takes a batch without acknowledging, builds the ``aws:rmq``
event from the real deliveries (``basicProperties``, base64 ``data``,
``redelivered``), invokes the handler, and acknowledges the batch when the
handler returns or returns the whole batch to the broker when it raises
(https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html). The handler's own
code runs unchanged against moto's SNS, with an SQS queue subscribed to see
what was forwarded.

What this proves: forwarded messages arrive with their ``mq-message-id``; a
failed publish leaves the batch unacknowledged and the broker redelivers it
(marked redelivered), so nothing is lost and duplicates carry the same id; and
the dead-letter policy the construct documents moves a message that keeps
failing to the dead-letter exchange after ``delivery-limit`` redeliveries.
What it cannot prove: the event source's own polling, its batch window, TLS to
Amazon MQ, and Amazon MQ's RabbitMQ version (3.13) rather than Debian's.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from refarch.amazon_mq import rabbitmq_dead_letter_policy
from refarch.runtime.mq_bridge import handler as bridge
from tests import rabbitmq_local

pika = pytest.importorskip("pika")
pytestmark = pytest.mark.skipif(
    not rabbitmq_local.available(),
    reason="rabbitmq-server is not installed (scripts/setup.sh installs Debian's package where apt is available)",
)

BROKER_ARN = "arn:aws:mq:us-east-1:123456789012:broker:refarch:b-0123abcd"


@pytest.fixture(scope="module")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[rabbitmq_local.LocalRabbit]:
    node = rabbitmq_local.start(Path(tmp_path_factory.mktemp("rabbitmq")))
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture
def channel(rabbit):
    connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", rabbit.port))
    ch = connection.channel()
    ch.confirm_delivery()
    yield ch
    connection.close()


@pytest.fixture
def sns_to_sqs(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        sns = boto3.client("sns", region_name="us-east-1")
        sqs = boto3.client("sqs", region_name="us-east-1")
        topic = sns.create_topic(Name="orders")["TopicArn"]
        url = sqs.create_queue(QueueName="billing")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
        yield sns, sqs, topic, url


def _received(sqs, url) -> list[dict]:
    out = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            return out
        for m in batch:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def _queue(channel, name: str, **arguments) -> None:
    channel.queue_delete(name)
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum", **arguments})


def _publish(channel, queue: str, bodies: list[str]) -> None:
    for i, body in enumerate(bodies):
        channel.basic_publish("", queue, body.encode(), pika.BasicProperties(
            message_id=f"{queue}-{i}", content_type="application/json", delivery_mode=2))


def _event(queue: str, deliveries) -> dict:
    """The Lambda event for RabbitMQ, from real deliveries (format: Lambda's with-mq page)."""
    return {
        "eventSource": "aws:rmq",
        "eventSourceArn": BROKER_ARN,
        "rmqMessagesByQueue": {f"{queue}::/": [{
            "basicProperties": {"contentType": props.content_type, "messageId": props.message_id,
                                "deliveryMode": props.delivery_mode, "headers": props.headers,
                                "bodySize": len(body)},
            "redelivered": method.redelivered,
            "data": base64.b64encode(body).decode(),
        } for method, props, body in deliveries]},
    }


def poll(channel, queue: str, invoke, batch_size: int = 10) -> bool | None:
    """One event source poll: None when the queue is empty, True when the batch
    was acknowledged, False when it went back to the broker."""
    deliveries = []
    while len(deliveries) < batch_size:
        method, props, body = channel.basic_get(queue, auto_ack=False)
        if method is None:
            break
        deliveries.append((method, props, body))
    if not deliveries:
        return None
    try:
        invoke(_event(queue, deliveries))
    except bridge.ForwardError:
        for method, _, _ in deliveries:
            channel.basic_nack(method.delivery_tag, requeue=True)
        return False
    for method, _, _ in deliveries:
        channel.basic_ack(method.delivery_tag)
    return True


class FlakySns:
    """moto's SNS, failing the publishes whose 1-based numbers are in ``fail``."""

    def __init__(self, client, fail: set[int]) -> None:
        self.client, self.fail, self.calls = client, fail, 0

    def publish(self, **kwargs):
        self.calls += 1
        if self.calls in self.fail:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "Publish")
        return self.client.publish(**kwargs)


def _depth(channel, queue: str, expect: int | None = None) -> int:
    """Ready messages; a quorum queue applies acks and requeues through Raft, so wait briefly for ``expect``."""
    deadline = time.monotonic() + 5
    while True:
        count = channel.queue_declare(queue, passive=True).method.message_count
        if expect is None or count == expect or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


def test_forwarded_messages_arrive_and_are_acknowledged(channel, sns_to_sqs) -> None:
    sns, sqs, topic, url = sns_to_sqs
    _queue(channel, "orders")
    _publish(channel, "orders", [json.dumps({"order": i}) for i in range(3)])
    assert poll(channel, "orders", lambda e: bridge.forward(e, topic, client=sns)) is True
    assert _depth(channel, "orders", 0) == 0
    got = _received(sqs, url)
    assert [json.loads(m["Message"]) for m in got] == [{"order": 0}, {"order": 1}, {"order": 2}]
    assert [m["MessageAttributes"]["mq-message-id"]["Value"] for m in got] == ["orders-0", "orders-1", "orders-2"]
    assert {m["MessageAttributes"]["mq-queue"]["Value"] for m in got} == {"orders"}
    assert {m["MessageAttributes"]["content-type"]["Value"] for m in got} == {"application/json"}


def test_failed_publish_returns_the_batch_and_the_broker_redelivers_it(channel, sns_to_sqs) -> None:
    sns, sqs, topic, url = sns_to_sqs
    _queue(channel, "orders")
    _publish(channel, "orders", ["a", "b", "c"])
    flaky = FlakySns(sns, fail={2})
    assert poll(channel, "orders", lambda e: bridge.forward(e, topic, client=flaky)) is False
    assert _depth(channel, "orders", 3) == 3, "nothing acknowledged: the whole batch is back on the broker"
    first = _received(sqs, url)
    assert [m["Message"] for m in first] == ["a"], "forwarding stops at the first failure"
    assert flaky.calls == 2

    assert poll(channel, "orders", lambda e: bridge.forward(e, topic, client=flaky)) is True
    assert _depth(channel, "orders", 0) == 0
    second = _received(sqs, url)
    assert [m["Message"] for m in second] == ["a", "b", "c"]
    assert {m["MessageAttributes"]["mq-redelivered"]["Value"] for m in second} == {"true"}
    ids = [m["MessageAttributes"]["mq-message-id"]["Value"] for m in first + second]
    assert ids.count("orders-0") == 2 and len(set(ids)) == 3, "the duplicate carries the same id"


def test_message_without_id_gets_a_stable_digest(channel, sns_to_sqs) -> None:
    sns, sqs, topic, url = sns_to_sqs
    _queue(channel, "legacy")
    channel.basic_publish("", "legacy", b"\xff\x00binary")
    assert poll(channel, "legacy", lambda e: bridge.forward(e, topic, client=FlakySns(sns, {1}))) is False
    assert poll(channel, "legacy", lambda e: bridge.forward(e, topic, client=sns)) is True
    [got] = _received(sqs, url)
    assert got["MessageAttributes"]["mq-message-id"]["Value"].startswith("sha256:")
    assert json.loads(got["Message"]) == {"base64": base64.b64encode(b"\xff\x00binary").decode()}


def test_dead_letter_policy_moves_a_message_that_keeps_failing(rabbit, channel, sns_to_sqs) -> None:
    sns, sqs, topic, url = sns_to_sqs
    policy = rabbitmq_dead_letter_policy("poison", dead_letter_exchange="bridge.dlx", delivery_limit=2)
    rabbit.ctl("set_policy", "--apply-to", policy["apply-to"], "bridge-dlx", policy["pattern"],
               json.dumps(policy["definition"]))
    channel.exchange_declare("bridge.dlx", exchange_type="fanout", durable=True)
    _queue(channel, "poison-dlq")
    channel.queue_bind("poison-dlq", "bridge.dlx")
    _queue(channel, "poison")
    _publish(channel, "poison", ["never forwarded"])
    always_failing = FlakySns(sns, fail=set(range(1, 100)))
    outcomes = []
    while (outcome := poll(channel, "poison", lambda e: bridge.forward(e, topic, client=always_failing))) is not None:
        outcomes.append(outcome)
        assert len(outcomes) < 10, "the delivery limit never took effect"
    assert outcomes == [False] * 3, "first delivery plus delivery-limit (2) redeliveries"
    method, props, body = channel.basic_get("poison-dlq", auto_ack=True)
    assert body == b"never forwarded" and props.message_id == "poison-0"
    assert _received(sqs, url) == []


def test_activemq_event_is_forwarded_too(sns_to_sqs) -> None:
    sns, sqs, topic, url = sns_to_sqs
    event = {"eventSource": "aws:mq", "eventSourceArn": BROKER_ARN, "messages": [
        {"messageID": "ID:b-1-0:1:1:1:1", "messageType": "jms/text-message", "redelivered": False,
         "destination": {"physicalName": "orders"}, "data": base64.b64encode(b"hello").decode()}]}
    assert bridge.forward(event, topic, client=sns) == ["ID:b-1-0:1:1:1:1"]
    [got] = _received(sqs, url)
    assert got["Message"] == "hello" and got["MessageAttributes"]["mq-queue"]["Value"] == "orders"


def test_not_an_mq_event_is_refused() -> None:
    with pytest.raises(bridge.ForwardError, match="not an Amazon MQ event"):
        bridge.forward({"Records": []}, "arn:aws:sns:us-east-1:123456789012:t", client=object())
