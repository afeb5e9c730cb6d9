"""Integration app: queue worker fleet (docs/worker-fleet.md) in a real account.

Two stacks:

* ``IntegWorkerFleet``: WorkerFleetStack as app.py builds it (Fargate workers
  in a NAT-less VPC, through its endpoints). Jobs sent -> the queue drains
  (nothing visible, nothing in flight) and the worker logged the job's
  message ID exactly once (``handlers:log_message``);
* ``IntegWorkerFleetLambda``: the Lambda variant with ``handlers:require_json``,
  short timeouts and ``max_receive_count`` 2 so the failure path is quick: a
  JSON job is processed (the queue drains), a poison (non-JSON) message lands
  in the dead-letter queue, and SetAlarmState on that DLQ's alarm reaches a
  probe queue subscribed to the alarm topic (likewise for the Fargate stack).
"""

import aws_cdk as cdk
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import alarm_reaches_topic, bounded, disposable, has_message, in_order, integ, kms_use, new_app, receive

from refarch import secure
from refarch.worker_fleet import LambdaWorkers, QueueWorkerFleet
from stacks.worker_fleet_stack import WorkerFleetStack

app = new_app()
fargate = WorkerFleetStack(app, "IntegWorkerFleet", description="refarch integ: worker fleet (Fargate)")
on_lambda = cdk.Stack(app, "IntegWorkerFleetLambda", description="refarch integ: worker fleet (Lambda)")
lambda_alarms = secure.AlarmTopic(on_lambda, "Alarms")
lambda_fleet = QueueWorkerFleet(
    on_lambda, "Jobs",
    avg_processing_time=cdk.Duration.millis(200),
    max_acceptable_latency=cdk.Duration.minutes(1),
    compute=LambdaWorkers(handler="handlers:require_json", timeout=cdk.Duration.seconds(5), batch_size=1),
    max_workers=2,
    max_receive_count=2,
    alarm_topic=lambda_alarms.topic,
)
disposable(fargate, on_lambda)
test = integ(app, "WorkerFleet", [fargate, on_lambda])


def send(fleet: QueueWorkerFleet, body: str):
    call = test.assertions.aws_api_call("SQS", "sendMessage", {"QueueUrl": fleet.queue.queue_url, "MessageBody": body})
    kms_use(call, fleet.encryption_key.key_arn)
    return call


def drained(fleet: QueueWorkerFleet):
    call = test.assertions.aws_api_call("SQS", "getQueueAttributes", {
        "QueueUrl": fleet.queue.queue_url,
        "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]})
    call.expect(ExpectedResult.object_like({"Attributes": {
        "ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}}))
    return bounded(call, cdk.Duration.minutes(10))  # a Fargate worker may have to start first


# Fargate: three jobs; the queue drains; one job's ID was logged once.
jobs = [send(fargate.fleet, f'{{"job": "integ-{i}"}}') for i in range(3)]
logged = test.assertions.aws_api_call("CloudWatchLogs", "filterLogEvents", {
    "logGroupName": fargate.fleet.log_group.log_group_name,
    "filterPattern": f'"{jobs[0].get_att_string("MessageId")}"'})
logged.expect(ExpectedResult.object_like({"events": [Match.object_like({"message": Match.string_like_regexp("handled")})]}))
fargate_steps = [*jobs, drained(fargate.fleet), bounded(logged, cdk.Duration.minutes(3)),
                 alarm_reaches_topic(test, fargate, next(a for a in fargate.fleet.alarms if "DeadLetter" in a.node.id))]

# Lambda: a good job and a poison one; the queue drains, the poison is in the DLQ.
dlq_got = receive(test, lambda_fleet.dead_letter_queue.queue_url)
dlq_got.expect(has_message("^not json: integ-poison$"))
kms_use(dlq_got, lambda_fleet.encryption_key.key_arn, decrypt_only=True)
lambda_steps = [send(lambda_fleet, '{"job": "integ-good"}'), send(lambda_fleet, "not json: integ-poison"),
                bounded(dlq_got), drained(lambda_fleet),
                alarm_reaches_topic(test, on_lambda, next(a for a in lambda_fleet.alarms if "DeadLetter" in a.node.id),
                                    lambda_alarms.topic)]
in_order(*fargate_steps, *lambda_steps)

app.synth()
