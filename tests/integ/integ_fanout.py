"""Integration app: fan-out (docs/fanout.md) in a real account.

Deploys FanOutStack as app.py builds it (billing: everything; shipping: only
``event_type`` order_placed / order_cancelled; audit: raw delivery), and
proves:

1. filters: two messages published with attributes, one the shipping filter
   admits and one it drops; billing and audit hold both, shipping only the
   admitted one (queue depth, then the message's body);
2. raw delivery: audit's message body is the published body, no SNS envelope;
   billing's is the envelope;
3. consumer DLQ: receiving billing's messages more than ``max_receive_count``
   (5) times moves them to billing's dead-letter queue;
4. alarms notify: SetAlarmState on billing's DLQ alarm reaches a probe queue
   subscribed to the alarm topic.
"""

from support import (alarm_reaches_topic, bounded, count, disposable, dumps, has_message, in_order, integ, kms_use,
                     new_app, receive)

from stacks.fanout_stack import FanOutStack

app = new_app()
stack = FanOutStack(app, "IntegFanOut", description="refarch integ: fan-out")
disposable(stack)
test = integ(app, "FanOut", [stack])
fanout = stack.fanout
topic = fanout.topic
billing, shipping, audit = (fanout.subscribers[n] for n in ("billing", "shipping", "audit"))

ADMITTED = {"order": "integ-a", "event": "placed"}
DROPPED = {"order": "integ-b", "event": "refunded"}


def publish(body: dict, event_type: str):
    call = test.assertions.aws_api_call("SNS", "publish", {
        "TopicArn": topic.topic_arn, "Message": dumps(body),
        "MessageAttributes": {"event_type": {"DataType": "String", "StringValue": event_type}}})
    kms_use(call, fanout.encryption_key.key_arn)
    return call


# The dropped one first: once billing and audit hold both, SNS has handled both for shipping too.
first = publish(DROPPED, "order_refunded")
steps = [
    publish(ADMITTED, "order_placed"),
    count(test, billing.queue.queue_url, 2),
    count(test, audit.queue.queue_url, 2),
    count(test, shipping.queue.queue_url, 1),
]
shipping_got = receive(test, shipping.queue.queue_url)
shipping_got.expect(has_message('"order":"integ-a"'))
audit_got = receive(test, audit.queue.queue_url)
audit_got.expect(has_message(r'^\{"event":"(placed|refunded)","order":"integ-[ab]"\}$'))  # the raw body, exactly
billing_got = receive(test, billing.queue.queue_url)
billing_got.expect(has_message('"Type" ?: ?"Notification"'))  # the SNS envelope
for call in (shipping_got, audit_got, billing_got):
    kms_use(call, fanout.encryption_key.key_arn, decrypt_only=True)
    steps.append(bounded(call))

# Each receive below counts against billing's redrive policy (max_receive_count 5); the 6th moves a
# message. A receive may return a subset of a small queue, hence more than 6; one moved message suffices.
for _ in range(10):
    call = receive(test, billing.queue.queue_url)
    kms_use(call, fanout.encryption_key.key_arn, decrypt_only=True)
    steps.append(call)
dlq_got = receive(test, billing.dead_letter_queue.queue_url)
dlq_got.expect(has_message("integ-[ab]"))
kms_use(dlq_got, fanout.encryption_key.key_arn, decrypt_only=True)
steps.append(bounded(dlq_got))

dlq_alarm = next(a for a in billing.alarms if a.node.id == "DeadLetterAlarm")
in_order(first, *steps, alarm_reaches_topic(test, stack, dlq_alarm))

app.synth()
