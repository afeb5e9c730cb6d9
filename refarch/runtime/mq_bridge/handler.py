"""The migration bridge: forward each message of an Amazon MQ batch to an SNS topic.

Lambda's Amazon MQ event source acknowledges a batch on the broker only when
the function returns, and returns the whole batch to the broker when it
raises: there is no partial batch response for MQ (it exists for SQS, Kinesis,
DynamoDB and Kafka only; https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html).
So the handler forwards the messages in order and raises at the first one it
could not forward: nothing after it is published, and the broker redelivers
the whole batch. The messages before it were published and will be published
again: every copy carries the same ``mq-message-id`` attribute (the AMQP
message id, the JMS message id, or a digest of the body when the producer set
none) so that subscribers can drop duplicates. Lambda's event source mappings
are at-least-once anyway.

A message the broker redelivers too often goes to the broker's own
dead-letter exchange (RabbitMQ ``delivery-limit`` + ``dead-letter-exchange``
policy) or DLQ (ActiveMQ redelivery policy); see docs/amazon-mq.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import boto3

_sns = None


class ForwardError(RuntimeError):
    """Raised so that the event source returns the whole batch to the broker."""


def _client():
    global _sns
    if _sns is None:
        _sns = boto3.client("sns")
    return _sns


def messages(event: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Each message of a RabbitMQ (``aws:rmq``) or ActiveMQ (``aws:mq``) event as
    ``{"id", "queue", "body", "redelivered", "attributes"}``."""
    if event.get("eventSource") == "aws:rmq":
        for queue_and_vhost, records in event.get("rmqMessagesByQueue", {}).items():
            queue, _, vhost = queue_and_vhost.partition("::")
            for record in records:
                props = record.get("basicProperties") or {}
                body = base64.b64decode(record.get("data") or "")
                yield {
                    "id": props.get("messageId") or _digest(queue, body),
                    "queue": queue,
                    "virtual_host": vhost or "/",
                    "body": body,
                    "redelivered": bool(record.get("redelivered")),
                    "content_type": props.get("contentType"),
                }
    elif event.get("eventSource") == "aws:mq":
        for record in event.get("messages", []):
            body = base64.b64decode(record.get("data") or "")
            queue = (record.get("destination") or {}).get("physicalName", "")
            yield {
                "id": record.get("messageID") or _digest(queue, body),
                "queue": queue,
                "virtual_host": "",
                "body": body,
                "redelivered": bool(record.get("redelivered")),
                "content_type": None,
            }
    else:
        raise ForwardError(f"not an Amazon MQ event: eventSource={event.get('eventSource')!r}")


def _digest(queue: str, body: bytes) -> str:
    return "sha256:" + hashlib.sha256(queue.encode() + b"\0" + body).hexdigest()


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return json.dumps({"base64": base64.b64encode(body).decode()})


def forward(event: dict[str, Any], topic_arn: str, client=None) -> list[str]:
    """Publish each message to ``topic_arn`` in order; return the ids forwarded.

    Raises :class:`ForwardError` at the first message SNS did not accept."""
    client = client or _client()
    forwarded: list[str] = []
    for message in messages(event):
        attributes = {
            "mq-message-id": {"DataType": "String", "StringValue": message["id"]},
            "mq-queue": {"DataType": "String", "StringValue": message["queue"] or "-"},
            "mq-redelivered": {"DataType": "String", "StringValue": str(message["redelivered"]).lower()},
        }
        if message["content_type"]:
            attributes["content-type"] = {"DataType": "String", "StringValue": message["content_type"]}
        try:
            client.publish(TopicArn=topic_arn, Message=_text(message["body"]), MessageAttributes=attributes)
        except Exception as error:  # noqa: BLE001 - any failure returns the batch to the broker
            raise ForwardError(
                f"forwarded {len(forwarded)} message(s), then {message['id']} failed: {error}; "
                "the event source returns the whole batch to the broker"
            ) from error
        forwarded.append(message["id"])
    return forwarded


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    forwarded = forward(event, os.environ["TOPIC_ARN"])
    print(json.dumps({"forwarded": len(forwarded)}))
    return {"forwarded": len(forwarded)}
