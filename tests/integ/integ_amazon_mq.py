"""Integration app: Amazon MQ bridged to SNS (docs/amazon-mq.md) in a real account.

BrokerStack's composition (VPC with the Lambda, STS and Secrets Manager
endpoints; a RabbitMQ broker; the ``orders`` fan-out with ``billing`` and
``audit``, raw delivery; the bridge from the broker's ``orders`` queue to the
topic) with test-friendly settings: a ``SINGLE_INSTANCE`` ``mq.t3.micro``
broker instead of the three-node ``mq.m5.large`` cluster (about 20 minutes
and a tenth of the price; the cluster's deployment is not proven here), and
removal policies that delete. Proves:

1. a probe function in the VPC connects to the broker over AMQPS (5671) as
   the broker user from Secrets Manager, declares the ``orders`` quorum queue
   and publishes one message with a message id (the broker confirms it);
2. the bridge's event source reads it and the function forwards it: the
   message arrives on the ``orders`` topic's subscribers, raw on ``audit``
   (the published body exactly) and in the SNS envelope on ``billing``, each
   with the ``mq-message-id`` attribute the producer set;
3. SetAlarmState on a broker alarm and on the bridge's errors alarm reaches a
   probe queue subscribed to the alarm topic.

The probe bundles pika (pure Python) at deploy time with pip on the deploying
machine; the offline snapshot skips bundling.
"""

import aws_cdk as cdk
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import (alarm_reaches_topic, bounded, disposable, dumps, in_order, in_vpc, integ, invoked_by_assertion,
                     kms_use, new_app, pip_bundled, receive)

from refarch import secure
from refarch.amazon_mq import SINGLE_INSTANCE, Broker, BrokerBridge
from refarch.fanout import FanOut, Subscriber
from stacks.broker_stack import ENDPOINTS

PIKA = "pika==1.4.4"  # requirements-dev.txt's pin
QUEUE = "orders"
MESSAGE_ID = "integ-mq-1"
BODY = dumps({"order": "integ-mq", "event": "placed"})

app = new_app()
stack = cdk.Stack(app, "IntegAmazonMq", description="refarch integ: Amazon MQ bridged to SNS")
alarms = secure.AlarmTopic(stack, "Alarms")
network = secure.Network(stack, "Network", interface_endpoints=ENDPOINTS)
broker = Broker(stack, "Broker", vpc=network.vpc, deployment_mode=SINGLE_INSTANCE, instance_type="mq.t3.micro",
                alarm_topic=alarms.topic, removal_policy=cdk.RemovalPolicy.DESTROY)
fanout = FanOut(stack, "Orders", subscribers=[Subscriber(name="billing"),
                                              Subscriber(name="audit", raw_message_delivery=True)],
                alarm_topic=alarms.topic)
bridge = BrokerBridge(stack, "Bridge", broker=broker, queue=QUEUE, topic=fanout.topic, alarm_topic=alarms.topic)

# The producer: a function in the broker's private subnets, admitted on the broker's TLS ports.
probe = secure.python_function(
    stack, "IntegPublishProbe", code=pip_bundled("amazon_mq", PIKA), handler="index.handler", key=broker.key,
    timeout=cdk.Duration.minutes(1), description="integration probe: publishes to the broker over AMQPS",
    environment={"SECRET_ARN": broker.secret.secret_arn, "QUEUE": QUEUE,
                 "AMQP_ENDPOINT": cdk.Fn.select(0, broker.broker.attr_amqp_endpoints)})
probe_sg = in_vpc(stack, probe, network.vpc, network.workload_subnets.subnet_group_name)
broker.allow_clients(probe_sg)
broker.secret.grant_read(probe)
invoked_by_assertion(probe)
disposable(stack)
test = integ(app, "AmazonMq", [stack])

publish = test.assertions.invoke_function(function_name=probe.function_name,
                                          payload=dumps({"message_id": MESSAGE_ID, "body": BODY}))
publish.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
    "published": True, "message_id": MESSAGE_ID}))}))
ID_ATTRIBUTE = {"mq-message-id": Match.object_like({"StringValue": MESSAGE_ID})}
audit_got = receive(test, fanout.subscribers["audit"].queue.queue_url)
audit_got.expect(ExpectedResult.object_like({"Messages": Match.array_with([Match.object_like({
    "Body": BODY, "MessageAttributes": Match.object_like(ID_ATTRIBUTE)})])}))
billing_got = receive(test, fanout.subscribers["billing"].queue.queue_url)
billing_got.expect(ExpectedResult.object_like({"Messages": Match.array_with([Match.object_like({
    "Body": Match.serialized_json(Match.object_like({
        "Type": "Notification", "TopicArn": fanout.topic.topic_arn, "Message": BODY,
        "MessageAttributes": Match.object_like({"mq-message-id": Match.object_like({"Value": MESSAGE_ID})})}))})])}))
for call in (audit_got, billing_got):
    kms_use(call, fanout.encryption_key.key_arn, decrypt_only=True)
# The event source polls a queue that appears only when the probe declares it: allow it minutes to pick it up.
in_order(bounded(publish), bounded(audit_got, cdk.Duration.minutes(10)), bounded(billing_got),
         alarm_reaches_topic(test, stack, broker.alarms[0], alarms.topic),
         alarm_reaches_topic(test, stack, bridge.alarms[0], alarms.topic, probe_id="IntegBridgeAlarmProbe"))

app.synth()
