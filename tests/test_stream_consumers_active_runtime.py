"""refarch/runtime/stream_consumers_active: the custom resource that waits for consumers to be ACTIVE.

moto registers a consumer ACTIVE at once, so the wait itself (CREATING, then
ACTIVE) is driven by a scripted client; the moto test proves the calls and the
answer to CloudFormation against the real API shapes. What only a real
deployment proves: how long Kinesis keeps a consumer CREATING, and that
CloudFormation invokes the function and accepts its answer.
"""

from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from refarch.runtime.stream_consumers_active import app

EVENT = {
    "RequestType": "Create",
    "ResponseURL": "https://cloudformation-custom-resource-response.example/response",
    "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/s/1",
    "RequestId": "req-1",
    "LogicalResourceId": "EventsConsumerGroup1Active",
    "ResourceType": "Custom::KinesisConsumersActive",
    "ResourceProperties": {"ServiceToken": "arn:aws:lambda:...", "ConsumerARNs": []},
}


class Context:
    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


class Answers:
    """Stands in for urllib's urlopen: keeps what the function PUTs to CloudFormation's response URL."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict]] = []

    def __call__(self, request, timeout):
        self.sent.append((request.full_url, request.get_method(), json.loads(request.data)))

        class Response:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return False

            def read(self):
                return b""

        return Response()


class Scripted:
    """DescribeStreamConsumer returning, per ARN, the listed statuses in turn (the last one repeats)."""

    def __init__(self, statuses: dict[str, list[str]]) -> None:
        self.statuses = statuses
        self.calls: list[str] = []

    def describe_stream_consumer(self, *, ConsumerARN: str) -> dict:
        self.calls.append(ConsumerARN)
        script = self.statuses[ConsumerARN]
        status = script.pop(0) if len(script) > 1 else script[0]
        return {"ConsumerDescription": {"ConsumerARN": ConsumerARN, "ConsumerStatus": status}}


@pytest.fixture
def answers(monkeypatch: pytest.MonkeyPatch) -> Answers:
    answers = Answers()
    monkeypatch.setattr(app.urllib.request, "urlopen", answers)
    return answers


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    sleeps: list[float] = []
    monkeypatch.setattr(app, "sleep", sleeps.append)
    return sleeps


def _event(request_type: str = "Create", arns: list[str] = (), **extra) -> dict:
    return {**EVENT, "RequestType": request_type,
            "ResourceProperties": {**EVENT["ResourceProperties"], "ConsumerARNs": list(arns)}, **extra}


def test_waits_while_consumers_are_creating_then_succeeds(monkeypatch, answers: Answers, sleeps: list[float]) -> None:
    client = Scripted({"a": ["CREATING", "CREATING", "ACTIVE"], "b": ["CREATING", "ACTIVE"]})
    monkeypatch.setattr(app, "_kinesis", lambda: client)
    app.handler(_event(arns=["a", "b"]), Context())
    # Poll 1: both CREATING; poll 2: b ACTIVE (no longer asked), a CREATING; poll 3: a ACTIVE.
    assert client.calls == ["a", "b", "a", "b", "a"]
    assert sleeps == [app.POLL_S, app.POLL_S]
    [(url, method, body)] = answers.sent
    assert (url, method) == (EVENT["ResponseURL"], "PUT")
    assert body == {"Status": "SUCCESS", "Reason": "2 consumer(s) ACTIVE",
                    "PhysicalResourceId": "EventsConsumerGroup1Active-consumers-active",
                    "StackId": EVENT["StackId"], "RequestId": "req-1",
                    "LogicalResourceId": "EventsConsumerGroup1Active", "Data": {}}


def test_fails_the_resource_when_time_runs_out(monkeypatch, answers: Answers, sleeps: list[float]) -> None:
    monkeypatch.setattr(app, "_kinesis", lambda: Scripted({"a": ["CREATING"]}))
    app.handler(_event(arns=["a"]), Context(remaining_ms=app.MARGIN_MS + 1000))
    [(_, _, body)] = answers.sent
    assert body["Status"] == "FAILED" and body["Reason"] == "TimeoutError: consumers not ACTIVE in time: a"
    assert sleeps == []


def test_any_error_is_answered_not_raised(monkeypatch, answers: Answers) -> None:
    class Broken:
        def describe_stream_consumer(self, **_kwargs):
            raise RuntimeError("AccessDenied")

    monkeypatch.setattr(app, "_kinesis", lambda: Broken())
    app.handler(_event(arns=["a"]), Context())
    [(_, _, body)] = answers.sent
    assert body["Status"] == "FAILED" and "AccessDenied" in body["Reason"]


def test_update_waits_again_and_keeps_the_physical_id(monkeypatch, answers: Answers) -> None:
    client = Scripted({"c": ["CREATING", "ACTIVE"]})
    monkeypatch.setattr(app, "_kinesis", lambda: client)
    monkeypatch.setattr(app, "sleep", lambda _s: None)
    app.handler(_event("Update", ["c"], PhysicalResourceId="existing-id"), Context())
    [(_, _, body)] = answers.sent
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", "existing-id") and client.calls == ["c", "c"]


def test_delete_does_nothing_and_succeeds(monkeypatch, answers: Answers) -> None:
    monkeypatch.setattr(app, "_kinesis", lambda: pytest.fail("delete must not call Kinesis"))
    app.handler(_event("Delete", ["a"], PhysicalResourceId="existing-id"), Context())
    [(_, _, body)] = answers.sent
    assert (body["Status"], body["PhysicalResourceId"]) == ("SUCCESS", "existing-id")


def test_against_moto_registered_consumers(monkeypatch, answers: Answers, sleeps: list[float]) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        kinesis = boto3.client("kinesis", region_name="us-east-1")
        kinesis.create_stream(StreamName="events", ShardCount=1)
        stream_arn = kinesis.describe_stream_summary(StreamName="events")["StreamDescriptionSummary"]["StreamARN"]
        arns = [kinesis.register_stream_consumer(StreamARN=stream_arn, ConsumerName=f"reader-{i}")["Consumer"]["ConsumerARN"]
                for i in range(5)]
        app.handler(_event(arns=arns), Context())
    [(_, _, body)] = answers.sent
    assert (body["Status"], body["Reason"]) == ("SUCCESS", "5 consumer(s) ACTIVE")
