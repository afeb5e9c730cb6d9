"""Behaviour: the synthesized WorkerFleetStack's queue, drained by the shipped worker configured as the template
configures it.

moto's CloudFormation cannot create the stack's VPC, ECS and Application Auto
Scaling resources, so ``deploy`` gets the template's keys and queues only
(``_queues_only``); the worker then runs in-process with the environment the
task definition gives its container, resolved against that deployment.

What moto proves here: the container's ``WORKER_*`` settings point the worker
at the template's queue and it drains it, each message once; the queue's
redrive policy moves a message to the template's dead-letter queue after
``maxReceiveCount`` receives. What it cannot (asserted on the template, proven
only by a real deployment): Fargate running the image, IAM and KMS policies
being enforced, VPC endpoints and DNS, ECS's SIGTERM/stop timeout, Container
Insights metrics, target tracking on metric math, the wake-up alarm and the
alarms firing.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from refarch.runtime.worker.worker import Settings, Worker
from tests.conftest import Assembly
from tests.moto_cfn import REGION, DeployedStack, deploy

STACK = "WorkerFleetStack"
ALLOWED_SKIPS = {
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies; the TLS-only statements are asserted on the template",
}


def _queues_only(template: dict) -> dict:
    keep = {"AWS::KMS::Key", "AWS::SQS::Queue", "AWS::SQS::QueuePolicy"}
    resources = {k: r for k, r in template["Resources"].items()
                 if r["Type"] in keep and k.startswith("Thumbnails")}
    return {"Resources": resources}


def _container_env(stack: DeployedStack) -> dict[str, str]:
    [task] = [r for r in stack.template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    [container] = task["Properties"]["ContainerDefinitions"]
    return {e["Name"]: stack.resolve(e["Value"]) for e in container["Environment"]}


@pytest.fixture(scope="module")
def deployed(assembly: Assembly) -> Iterator[DeployedStack]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    template = assembly.template(STACK)
    with mock_aws():
        stack = deploy(_queues_only(template), STACK, allowed_skips=ALLOWED_SKIPS)
        stack.template = template  # resolve the container's settings against what was deployed
        yield stack


def test_worker_configured_by_the_template_drains_its_queue(deployed: DeployedStack) -> None:
    env = _container_env(deployed)
    url = env["WORKER_QUEUE_URL"]
    [queue_id] = [k for k in deployed.logical_ids("AWS::SQS::Queue") if "DeadLetter" not in k]
    assert url == deployed.physical_ids[queue_id]  # the container's WORKER_QUEUE_URL is the template's queue
    # Exactly the template's settings, but short polls: moto re-checks a long poll once a second.
    settings = Settings.from_env({**env, "WORKER_WAIT_TIME_SECONDS": "0"})
    assert (settings.batch_size, settings.visibility_timeout_s, settings.shutdown_grace_s) == (10, 60, 25)
    sqs = boto3.client("sqs", region_name=REGION)
    sent = [json.dumps({"image": f"s3://uploads/{i}.jpg"}) for i in range(15)]
    for body in sent:
        sqs.send_message(QueueUrl=url, MessageBody=body)
    seen: list[str] = []
    worker = Worker(settings, sqs=sqs, handler=lambda m: seen.append(m["body"]))
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while len(seen) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.02)
    worker.request_stop()
    thread.join(timeout=5)
    assert sorted(seen) == sorted(sent)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])
    assert attrs["Attributes"] == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}


def test_failed_message_moves_to_the_templates_dlq_after_max_receive_count(deployed: DeployedStack) -> None:
    env = _container_env(deployed)
    url = env["WORKER_QUEUE_URL"]
    sqs = boto3.client("sqs", region_name=REGION)
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    assert redrive["maxReceiveCount"] == 5
    [dlq_id] = [k for k in deployed.logical_ids("AWS::SQS::Queue") if "DeadLetter" in k]
    dlq_url = deployed.physical_ids[dlq_id]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    for attempt in range(5):  # a worker whose handler fails: receives, never deletes
        [message] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=0)["Messages"]
        assert message["Body"] == "poison", attempt
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    [dead] = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=0)["Messages"]
    assert dead["Body"] == "poison"
