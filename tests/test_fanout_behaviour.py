"""Behaviour: the synthesized FanOutStack, deployed into moto, fans out as designed.

What moto proves here: the queues, keys and topics the template creates; the
subscriptions as the template declares them (filter policy, raw delivery,
redrive); SNS -> SQS delivery with filtering; SQS redrive to the DLQ after
max_receive_count. What it cannot: queue/topic policies and KMS key policies
are not enforced by moto, and alarms are not created by its CloudFormation;
those are proven by the template assertions and gates, and by a real deployment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.conftest import Assembly
from tests.moto_cfn import REGION, DeployedStack, apply_subscriptions, deploy

ALLOWED_SKIPS = {
    "AWS::SNS::Subscription": "applied by apply_subscriptions from the template's own properties",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies; the TLS-only statement is asserted on the template",
    "AWS::SQS::QueuePolicy": "moto does not enforce resource policies; SNS-only and TLS-only statements are asserted on the template",
    "AWS::CloudWatch::Alarm": "moto cannot evaluate SQS metrics; alarm metrics, dimensions and thresholds are asserted on the template",
    "AWS::CloudWatch::Dashboard": "moto does not create dashboards; tests/test_dashboards.py asserts each body on the template",
    "AWS::CDK::Metadata": "version reporting only; no runtime effect",
}


@pytest.fixture(scope="module")
def deployed(assembly: Assembly) -> Iterator[DeployedStack]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws():
        stack = deploy(assembly.template("FanOutStack"), "FanOutStack", allowed_skips=ALLOWED_SKIPS)
        apply_subscriptions(stack)
        yield stack


@pytest.fixture
def clients(deployed: DeployedStack):
    sns = boto3.client("sns", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    yield sns, sqs
    for key, url in deployed.outputs.items():  # each test leaves its queues empty
        if key.endswith("QueueUrl"):
            _drain(sqs, url)


def _drain(sqs, url: str) -> list[dict]:
    messages = []
    # WaitTimeSeconds=0: the queues long-poll 20 s by default.
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        messages.extend(batch)
        for m in batch:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return messages


def _publish(sns, topic_arn: str, body: dict, event_type: str) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Message=json.dumps(body),
        MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}},
    )


def test_harness_refuses_unlisted_skips(assembly: Assembly) -> None:
    from tests.moto_cfn import SkippedResourceError

    with mock_aws(), pytest.raises(SkippedResourceError, match="AWS::SNS::Subscription"):
        deploy(assembly.template("FanOutStack"), "Strict", allowed_skips={
            k: v for k, v in ALLOWED_SKIPS.items() if k != "AWS::SNS::Subscription"})


def test_subscriptions_are_applied_as_synthesized(deployed: DeployedStack) -> None:
    sns = boto3.client("sns", region_name=REGION)
    subs = sns.list_subscriptions_by_topic(TopicArn=deployed.outputs["TopicArn"])["Subscriptions"]
    assert len(subs) == 3 and all(s["Protocol"] == "sqs" for s in subs)
    attributes = {s["Endpoint"].rsplit(":", 1)[1]: sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"] for s in subs}
    by_name = {name: next(a for q, a in attributes.items() if f"Orders{name}Queue" in q) for name in ("Billing", "Shipping", "Audit")}
    assert json.loads(by_name["Shipping"]["FilterPolicy"]) == {"event_type": ["order_placed", "order_cancelled"]}
    assert by_name["Audit"]["RawMessageDelivery"] == "true"
    assert all("deadLetterTargetArn" in json.loads(a["RedrivePolicy"]) for a in by_name.values())


def test_each_queue_gets_what_its_filter_allows(deployed: DeployedStack, clients) -> None:
    sns, sqs = clients
    events = ["order_placed", "order_paid", "order_cancelled", "order_shipped"]
    for i, event in enumerate(events):
        _publish(sns, deployed.outputs["TopicArn"], {"order": i, "event": event}, event)

    def received(name: str) -> list[str]:
        bodies = [json.loads(m["Body"]) for m in _drain(sqs, deployed.outputs[f"{name}QueueUrl"])]
        payloads = [json.loads(b["Message"]) if "TopicArn" in b else b for b in bodies]
        return sorted(p["event"] for p in payloads)

    assert received("Billing") == sorted(events)
    assert received("Shipping") == ["order_cancelled", "order_placed"]
    assert received("Audit") == sorted(events)


def test_raw_delivery_is_honoured(deployed: DeployedStack, clients) -> None:
    sns, sqs = clients
    _publish(sns, deployed.outputs["TopicArn"], {"order": 7}, "order_placed")
    [audit] = _drain(sqs, deployed.outputs["AuditQueueUrl"])
    [billing] = _drain(sqs, deployed.outputs["BillingQueueUrl"])
    assert json.loads(audit["Body"]) == {"order": 7}  # the published body, as-is
    envelope = json.loads(billing["Body"])  # the SNS envelope, with attributes and topic
    assert envelope["Type"] == "Notification" and envelope["TopicArn"] == deployed.outputs["TopicArn"]
    assert json.loads(envelope["Message"]) == {"order": 7}
    assert envelope["MessageAttributes"]["event_type"]["Value"] == "order_placed"


def test_message_failed_max_receive_count_times_lands_in_dlq(deployed: DeployedStack, clients) -> None:
    sns, sqs = clients
    queue_url = deployed.outputs["BillingQueueUrl"]
    dlq_url = deployed.outputs["BillingDeadLetterQueueUrl"]
    redrive = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["RedrivePolicy"])
                         ["Attributes"]["RedrivePolicy"])
    max_receive_count = int(redrive["maxReceiveCount"])
    assert max_receive_count == 5
    _publish(sns, deployed.outputs["TopicArn"], {"order": "poison"}, "order_placed")

    for attempt in range(max_receive_count):  # a consumer that fails: receive, never delete
        got = sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0, WaitTimeSeconds=0,
                                  AttributeNames=["ApproximateReceiveCount"])
        [message] = got["Messages"]
        assert message["Attributes"]["ApproximateReceiveCount"] == str(attempt + 1)
    assert sqs.receive_message(QueueUrl=queue_url, VisibilityTimeout=0, WaitTimeSeconds=0).get("Messages", []) == []
    [dead] = _drain(sqs, dlq_url)
    assert json.loads(json.loads(dead["Body"])["Message"]) == {"order": "poison"}


def test_fifo_fan_out_keeps_order_filters_on_the_body_and_feeds_a_standard_queue(assembly: Assembly) -> None:
    with mock_aws():
        stack = deploy(assembly.template("FanOutFifo"), "FanOutFifo", allowed_skips=ALLOWED_SKIPS)
        apply_subscriptions(stack)
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        [topic_id] = stack.logical_ids("AWS::SNS::Topic")
        topic_arn = stack.physical_ids[topic_id]
        kinds = ["debit", "refund", "credit", "debit", "fee"]
        for i, kind in enumerate(kinds):
            # An explicit deduplication ID: AWS passes the topic's content-based one on to
            # the queues, moto does not (a moto gap, not a template property).
            sns.publish(TopicArn=topic_arn, Message=json.dumps({"seq": i, "entry": {"kind": kind}}),
                        MessageGroupId="acct-1", MessageDeduplicationId=f"entry-{i}")

        def queue_url(name: str) -> str:
            return stack.physical_ids[next(
                k for k in stack.logical_ids("AWS::SQS::Queue") if k.startswith(f"Ledger{name}Queue"))]

        accounts = [json.loads(json.loads(m["Body"])["Message"])["seq"] for m in _drain(sqs, queue_url("Accounts"))]
        reporting = [json.loads(m["Body"]) for m in _drain(sqs, queue_url("Reporting"))]
        assert accounts == [0, 1, 2, 3, 4]  # every message, in group order
        assert [r["seq"] for r in reporting] == [0, 2, 3]  # only debit/credit, raw bodies
        # The standard queue on the FIFO topic gets every message, without the group ID.
        analytics = _drain(sqs, queue_url("Analytics"))
        assert sorted(json.loads(json.loads(m["Body"])["Message"])["seq"] for m in analytics) == [0, 1, 2, 3, 4]
