"""Integration probe for the Amazon MQ pattern (in the broker's VPC; pika is bundled at deploy time).

Publishes one message to the bridge's queue over AMQPS (port 5671), as an
existing application does: it logs in as the broker user (the secret, through
the VPC's Secrets Manager endpoint), makes sure the queue exists (a durable
quorum queue, the kind ``rabbitmq_dead_letter_policy`` needs; Lambda's event
source does not declare queues), publishes with publisher confirms and the
given ``message_id``, and returns whether the broker confirmed it.
"""

import json
import os
import ssl
from urllib.parse import urlparse

import boto3
import pika


def _connect(endpoint: str, secret: dict) -> pika.BlockingConnection:
    """``amqps://host:5671`` (Amazon MQ's endpoint, its certificate checked for its name); a plain
    ``amqp://`` endpoint only for the offline test against a local broker."""
    url = urlparse(endpoint)
    tls = url.scheme == "amqps"
    return pika.BlockingConnection(pika.ConnectionParameters(
        host=url.hostname, port=url.port or (5671 if tls else 5672), virtual_host="/",
        credentials=pika.PlainCredentials(secret["username"], secret["password"]),
        ssl_options=pika.SSLOptions(ssl.create_default_context(), url.hostname) if tls else None,
        connection_attempts=3, retry_delay=5, socket_timeout=20))


def handler(event, _context):
    secret = json.loads(boto3.client("secretsmanager").get_secret_value(
        SecretId=os.environ["SECRET_ARN"])["SecretString"])
    queue = os.environ["QUEUE"]
    connection = _connect(os.environ["AMQP_ENDPOINT"], secret)
    try:
        channel = connection.channel()
        try:
            channel.queue_declare(queue=queue, passive=True)
            created = False
        except pika.exceptions.ChannelClosedByBroker:  # 404: not there yet (the channel is closed)
            channel = connection.channel()
            channel.queue_declare(queue=queue, durable=True, arguments={"x-queue-type": "quorum"})
            created = True
        channel.confirm_delivery()
        channel.basic_publish(exchange="", routing_key=queue, body=event["body"].encode(), mandatory=True,
                              properties=pika.BasicProperties(message_id=event["message_id"],
                                                              content_type="application/json", delivery_mode=2))
        return {"published": True, "queue_created": created, "message_id": event["message_id"]}
    finally:
        connection.close()
