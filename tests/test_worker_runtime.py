"""Behaviour of the shipped queue worker (refarch/runtime/worker) against moto.

moto runs as a server on 127.0.0.1 (``ThreadedMotoServer``), so the worker
talks HTTP to it exactly as it talks to SQS, in a thread here and as a real
process receiving a real SIGTERM in ``test_sigterm_mid_batch_loses_nothing``.
Timeouts are shrunk (1 s visibility, 1 s long polls) to keep the tests fast.

What moto proves: exactly-once processing on the happy path (each message
handled once, deleted after success); redrive to the dead-letter queue after
maxReceiveCount; heartbeats that keep a slow message hidden; shutdown that
finishes the message in hand and hands the rest back at once; FIFO group
hold-back. Scale-in protection is tested against a stand-in ECS agent (an HTTP
server on 127.0.0.1 given as ``ECS_AGENT_URI``) that records each request:
set before the handler runs, renewed during a long job, cleared after; no agent
or a failing agent leaves processing untouched. What it cannot: KMS
decryption, IAM, ECS's own SIGTERM / stop-timeout / SIGKILL sequence (proven by
the task definition's StopTimeout assertion and a real deployment), and ECS
honouring the protection (the real agent's API is documented at
https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html).
"""

from __future__ import annotations

import http.server
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from refarch.runtime.worker import worker as runtime
from refarch.runtime.worker.worker import ScaleInProtection, Settings, Worker

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "refarch" / "runtime" / "worker"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def sqs(endpoint: str):
    return boto3.client("sqs", endpoint_url=endpoint, **CREDENTIALS)


def _queue(sqs, *, max_receive_count: int = 3, fifo: bool = False) -> tuple[str, str]:
    suffix = ".fifo" if fifo else ""
    name = f"q{uuid.uuid4().hex[:12]}"
    extra = {"FifoQueue": "true"} if fifo else {}
    dlq = sqs.create_queue(QueueName=f"{name}-dlq{suffix}", Attributes=extra)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
    url = sqs.create_queue(QueueName=f"{name}{suffix}", Attributes={"RedrivePolicy": redrive, **extra})["QueueUrl"]
    return url, dlq


def _settings(url: str, **overrides) -> Settings:
    return Settings(**{"queue_url": url, "wait_time_s": 1, "visibility_timeout_s": 1, "shutdown_grace_s": 5,
                       **overrides})


def _until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _start(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _counts(sqs, url: str) -> tuple[int, int]:
    attrs = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def _receive_all(sqs, url: str) -> list[str]:
    bodies = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", []):
        bodies += [m["Body"] for m in batch]
    return bodies


def _send(sqs, url: str, bodies: list[str], **kwargs) -> None:
    for start in range(0, len(bodies), 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": body, **kwargs} for i, body in enumerate(bodies[start:start + 10])])


# --- the three promises ---------------------------------------------------------


def test_each_message_is_processed_exactly_once(sqs) -> None:
    url, dlq = _queue(sqs)
    sent = [f"job-{i}" for i in range(25)]
    _send(sqs, url, sent)
    seen: list[str] = []
    lock = threading.Lock()

    def handler(message: dict) -> None:
        with lock:
            seen.append(message["body"])

    worker = Worker(_settings(url, visibility_timeout_s=30, wait_time_s=0), sqs=sqs, handler=handler)
    thread = _start(worker)
    _until(lambda: len(seen) >= len(sent))
    worker.request_stop()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert sorted(seen) == sorted(sent)  # every message once, none twice
    assert _counts(sqs, url) == (0, 0)  # all deleted after success
    assert _counts(sqs, dlq) == (0, 0)


def test_always_failing_message_moves_to_the_dlq_after_max_receive_count(sqs) -> None:
    url, dlq = _queue(sqs, max_receive_count=2)
    _send(sqs, url, ["poison"])
    attempts: list[int] = []

    def handler(message: dict) -> None:
        attempts.append(int(message["attributes"]["ApproximateReceiveCount"]))
        raise RuntimeError("cannot process")

    # Short polls (0 s): moto re-checks a long poll only once a second.
    worker = Worker(_settings(url, wait_time_s=0), sqs=sqs, handler=handler)
    thread = _start(worker)
    _until(lambda: _counts(sqs, dlq)[0] == 1)
    worker.request_stop()
    thread.join(timeout=5)
    assert attempts == [1, 2]  # never deleted, never retried by the worker itself: SQS redrove it
    assert _receive_all(sqs, dlq) == ["poison"]
    assert _counts(sqs, url) == (0, 0)


def test_sigterm_mid_batch_loses_nothing(endpoint: str, sqs, tmp_path: Path) -> None:
    url, _ = _queue(sqs)
    sent = [f"job-{i}" for i in range(10)]
    _send(sqs, url, sent)
    record = tmp_path / "processed.txt"
    record.touch()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "WORKER_QUEUE_URL": url,
        "WORKER_HANDLER": "tests.worker_handlers:record_slowly",
        "WORKER_WAIT_TIME_SECONDS": "1",
        "WORKER_VISIBILITY_TIMEOUT_SECONDS": "30",  # anything not handed back would stay hidden for 30 s
        "WORKER_SHUTDOWN_GRACE_SECONDS": "5",
        "TEST_RECORD_FILE": str(record),
        "TEST_DELAY_S": "0.3",
    }
    process = subprocess.Popen([sys.executable, "worker.py"], cwd=RUNTIME, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _until(lambda: record.read_text().count("\n") >= 1)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    logs = [json.loads(line) for line in stdout.splitlines()]  # structured: every line is JSON
    events = [entry["message"] for entry in logs]
    assert {"started", "stopping", "released", "stopped"} <= set(events)
    assert next(e for e in logs if e["message"] == "stopping")["signal"] == signal.SIGTERM
    processed = record.read_text().split()
    returned = _receive_all(sqs, url)  # handed back: visible at once, not after 30 s
    assert 1 <= len(processed) < len(sent)
    assert sorted(processed + returned) == sorted(sent)  # processed, or back in the queue; never both


# --- heartbeat and shutdown in detail -----------------------------------------------


def test_heartbeat_keeps_a_slow_message_hidden_from_other_workers(sqs) -> None:
    url, _ = _queue(sqs)
    _send(sqs, url, ["slow"])
    started, finish = threading.Event(), threading.Event()
    calls: list[str] = []

    def handler(message: dict) -> None:
        calls.append(message["body"])
        started.set()
        finish.wait(10)

    worker = Worker(_settings(url, visibility_timeout_s=1, wait_time_s=0), sqs=sqs, handler=handler)
    thread = _start(worker)
    assert started.wait(5)
    time.sleep(1.5)  # past the 1 s visibility timeout: only heartbeats keep it hidden
    assert sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0).get("Messages", []) == []
    finish.set()
    _until(lambda: _counts(sqs, url) == (0, 0))
    worker.request_stop()
    thread.join(timeout=5)
    assert calls == ["slow"]


def test_stop_finishes_the_message_in_hand_and_releases_the_rest(sqs) -> None:
    url, _ = _queue(sqs)
    sent = [f"job-{i}" for i in range(10)]
    _send(sqs, url, sent)
    in_hand, finish = threading.Event(), threading.Event()
    done: list[str] = []

    def handler(message: dict) -> None:
        in_hand.set()
        finish.wait(10)
        done.append(message["body"])

    worker = Worker(_settings(url, visibility_timeout_s=30), sqs=sqs, handler=handler)
    thread = _start(worker)
    assert in_hand.wait(5)
    worker.request_stop()
    finish.set()
    thread.join(timeout=5)
    assert not thread.is_alive()
    assert len(done) == 1  # the message in hand was finished, nothing new was started
    assert sorted(done + _receive_all(sqs, url)) == sorted(sent)


def test_stop_past_the_grace_releases_the_message_in_hand_too(sqs) -> None:
    url, _ = _queue(sqs)
    sent = [f"job-{i}" for i in range(4)]
    _send(sqs, url, sent)
    in_hand, never = threading.Event(), threading.Event()

    def stuck(message: dict) -> None:
        in_hand.set()
        never.wait(30)

    worker = Worker(_settings(url, visibility_timeout_s=30, shutdown_grace_s=0.2), sqs=sqs, handler=stuck)
    thread = _start(worker)
    assert in_hand.wait(5)
    worker.request_stop()
    thread.join(timeout=3)
    never.set()
    assert not thread.is_alive()  # the stuck handler did not hold the worker past its grace
    assert sorted(_receive_all(sqs, url)) == sorted(sent)  # all four back for another worker


def test_fifo_failure_holds_back_the_rest_of_its_group(sqs) -> None:
    url, _ = _queue(sqs, fifo=True)
    for i, (group, body) in enumerate([("a", "a1"), ("a", "a2"), ("b", "b1")]):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=str(i))
    calls: list[str] = []

    def handler(message: dict) -> None:
        calls.append(message["body"])
        if message["body"] == "a1":
            raise RuntimeError("first of group a fails")

    worker = Worker(_settings(url, visibility_timeout_s=30), sqs=sqs, handler=handler)
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30,
                                   MessageSystemAttributeNames=["All"])["Messages"]
    worker.process_batch(messages)
    assert calls == ["a1", "b1"]  # a2 must not overtake a1
    # a1 waits out its visibility (then redrive); a2 was handed back; b1 is deleted.
    assert _counts(sqs, url) == (1, 1)


def test_default_client_timeouts_fit_the_heartbeat_and_the_shutdown_margin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    config = Worker(Settings(queue_url="https://q"), handler=lambda m: None).sqs.meta.config
    # A stalled connection fails in 5 s, not botocore's 60 s; a read outlasts the 20 s long poll.
    assert (config.connect_timeout, config.read_timeout) == (5, 30)
    assert config.retries["mode"] == "standard"


def test_receive_errors_back_off_and_stop_wakes_the_wait() -> None:
    class Broken:
        calls = 0

        def receive_message(self, **_):
            Broken.calls += 1
            raise ConnectionError("endpoint unreachable")

    worker = Worker(_settings("https://sqs.example/q"), sqs=Broken(), handler=lambda m: None)
    thread = _start(worker)
    _until(lambda: Broken.calls >= 1)
    worker.request_stop()
    thread.join(timeout=2)  # the 1 s back-off is cut short
    assert not thread.is_alive() and Broken.calls == 1


# --- scale-in protection (stand-in ECS agent) ------------------------------------------


class Agent:
    """A stand-in for the ECS agent's task-protection endpoint: records every request, answers as told."""

    def __init__(self) -> None:
        self.requests: list[tuple[float, str, str, dict]] = []  # (monotonic time, method, path, body)
        self.status = 200
        self.answer: dict = {}
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                agent.requests.append((time.monotonic(), self.command, self.path, body))
                answer = agent.answer or {"protection": {"ProtectionEnabled": body["ProtectionEnabled"],
                                                         "TaskArn": "arn:aws:ecs:us-east-1:111122223333:task/c/t"}}
                data = json.dumps(answer).encode()
                self.send_response(agent.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_args) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/api/task-id"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [body for *_, body in self.requests]


@pytest.fixture
def agent() -> Iterator[Agent]:
    stand_in = Agent()
    yield stand_in
    stand_in.server.shutdown()
    stand_in.server.server_close()


def _run_one(sqs, url: str, worker: Worker, done: Callable[[], bool]) -> None:
    thread = _start(worker)
    _until(done)
    worker.request_stop()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_protection_is_set_before_processing_renewed_for_a_long_job_and_cleared_after(sqs, agent: Agent) -> None:
    url, _ = _queue(sqs)
    _send(sqs, url, ["long job"])
    handled: list[tuple[float, float, int]] = []  # (start, end, requests seen at start)

    def long_job(message: dict) -> None:
        start = time.monotonic()
        seen = len(agent.requests)
        time.sleep(1.2)  # four renewal intervals of 0.3 s
        handled.append((start, time.monotonic(), seen))

    settings = _settings(url, wait_time_s=0, visibility_timeout_s=30, scale_in_protection_minutes=5,
                         agent_uri=agent.uri)
    protection = ScaleInProtection(settings.agent_uri, 5, renew_every_s=0.3)
    worker = Worker(settings, sqs=sqs, handler=long_job, protection=protection)
    _run_one(sqs, url, worker, lambda: _counts(sqs, url) == (0, 0) and handled
             and agent.bodies()[-1:] == [{"ProtectionEnabled": False}])

    (start, end, seen_at_start), = handled
    assert {(method, path) for _, method, path, _ in agent.requests} == {("PUT", "/api/task-id/task-protection/v1/state")}
    sets = [t for t, *_, body in agent.requests if body == {"ProtectionEnabled": True, "ExpiresInMinutes": 5}]
    clears = [t for t, *_, body in agent.requests if body == {"ProtectionEnabled": False}]
    assert len(sets) + len(clears) == len(agent.requests)  # nothing else was sent
    assert seen_at_start == 1 and sets[0] < start  # protected before the handler ran
    assert sum(start < t < end for t in sets) >= 2  # renewed while the long job ran
    assert len(clears) == 1 and clears[0] >= end  # cleared once the worker held nothing
    assert not protection.protected


def test_protection_is_not_renewed_past_the_sqs_hold_cap(sqs, agent: Agent) -> None:
    # A handler stuck for longer than SQS can hide its message (12 hours, here shrunk to 0.4 s) must not
    # pin the task, and every deployment, for ever: renewal stops and the protection expires.
    url, _ = _queue(sqs)
    _send(sqs, url, ["stuck"])
    done = threading.Event()

    def stuck(message: dict) -> None:
        time.sleep(1.5)
        done.set()

    protection = ScaleInProtection(agent.uri, 5, renew_every_s=0.1, max_hold_s=0.4)
    worker = Worker(_settings(url, wait_time_s=0, visibility_timeout_s=30), sqs=sqs, handler=stuck,
                    protection=protection)
    _run_one(sqs, url, worker, lambda: done.is_set() and agent.bodies()[-1:] == [{"ProtectionEnabled": False}])
    first = agent.requests[0][0]
    sets = [t for t, *_, body in agent.requests if body["ProtectionEnabled"]]
    assert 2 <= len(sets) <= 6 and all(t - first < 0.4 + 0.2 for t in sets)  # none after the cap (plus slack)


def test_protection_spans_the_batch_and_is_cleared_once_per_batch(sqs, agent: Agent) -> None:
    url, _ = _queue(sqs)
    _send(sqs, url, ["a", "b", "c"])
    seen: list[str] = []
    settings = _settings(url, wait_time_s=0, visibility_timeout_s=30, scale_in_protection_minutes=1,
                         agent_uri=agent.uri)
    worker = Worker(settings, sqs=sqs, handler=lambda m: seen.append(m["body"]))
    _run_one(sqs, url, worker, lambda: len(seen) == 3 and agent.bodies()[-1:] == [{"ProtectionEnabled": False}])
    assert worker.protection.renew_every_s == 30  # half of the one-minute expiry
    # Idle polls between batches send nothing: one set and one clear per batch that held messages.
    bodies = agent.bodies()
    assert bodies[0] == {"ProtectionEnabled": True, "ExpiresInMinutes": 1}
    assert bodies.count({"ProtectionEnabled": False}) == bodies.count({"ProtectionEnabled": True, "ExpiresInMinutes": 1})


def test_without_an_agent_the_worker_runs_unprotected(sqs, caplog: pytest.LogCaptureFixture) -> None:
    url, _ = _queue(sqs)
    _send(sqs, url, ["job"])
    seen: list[str] = []
    settings = _settings(url, wait_time_s=0, visibility_timeout_s=30, scale_in_protection_minutes=5)  # no agent_uri
    worker = Worker(settings, sqs=sqs, handler=lambda m: seen.append(m["body"]))
    assert not worker.protection.enabled
    with caplog.at_level(logging.WARNING, logger="worker"):
        _run_one(sqs, url, worker, lambda: _counts(sqs, url) == (0, 0))
    assert seen == ["job"]
    assert "scale-in protection requested but ECS_AGENT_URI is not set: running without it" in caplog.messages


def test_protection_off_sends_nothing_to_the_agent(sqs, agent: Agent) -> None:
    url, _ = _queue(sqs)
    _send(sqs, url, ["job"])
    settings = _settings(url, wait_time_s=0, visibility_timeout_s=30, agent_uri=agent.uri)  # minutes 0: off
    worker = Worker(settings, sqs=sqs, handler=lambda m: None)
    _run_one(sqs, url, worker, lambda: _counts(sqs, url) == (0, 0))
    assert agent.requests == []


@pytest.mark.parametrize(
    "status, answer",
    [
        (200, {"failure": {"Arn": "arn:aws:ecs:us-east-1:111122223333:task/c/t", "Reason": "TASK_NOT_VALID"}}),
        (400, {"error": {"Code": "AccessDeniedException", "Message": "not authorized to perform "
                                                                        "ecs:UpdateTaskProtection"}}),
        (500, {"error": {"Code": "ServerException", "Message": "internal"}}),
        (None, None),  # nothing listens: the agent is unreachable
    ],
)
def test_agent_errors_are_logged_and_processing_continues(
    sqs, agent: Agent, caplog: pytest.LogCaptureFixture, status: int | None, answer: dict | None
) -> None:
    url, dlq = _queue(sqs)
    _send(sqs, url, ["a", "b"])
    seen: list[str] = []
    uri = agent.uri
    if status is None:
        agent.server.shutdown()
        agent.server.server_close()
    else:
        agent.status, agent.answer = status, answer
    settings = _settings(url, wait_time_s=0, visibility_timeout_s=30, scale_in_protection_minutes=5, agent_uri=uri)
    worker = Worker(settings, sqs=sqs, handler=lambda m: seen.append(m["body"]),
                    protection=ScaleInProtection(uri, 5, timeout_s=1))
    with caplog.at_level(logging.WARNING, logger="worker"):
        _run_one(sqs, url, worker, lambda: _counts(sqs, url) == (0, 0) and len(seen) == 2)
    assert sorted(seen) == ["a", "b"] and _counts(sqs, dlq) == (0, 0)  # processed and deleted all the same
    failures = [r for r in caplog.records if r.getMessage() == "scale-in protection failed"]
    assert failures and all(r.request == {"ProtectionEnabled": True, "ExpiresInMinutes": 5} for r in failures)
    assert not worker.protection.protected
    if status is not None:  # a refused set is never "cleared"
        assert {"ProtectionEnabled": False} not in agent.bodies()


# --- settings, handler loading, logs, Lambda -------------------------------------------


def test_settings_defaults_match_the_pattern() -> None:
    s = Settings.from_env({"WORKER_QUEUE_URL": "https://q"})
    assert (s.handler, s.batch_size, s.wait_time_s, s.visibility_timeout_s, s.shutdown_grace_s) == (
        "handlers:log_message", 10, 20, 60, 25.0)
    assert s.heartbeat_interval_s == 20
    assert (s.scale_in_protection_minutes, s.agent_uri) == (0, "")  # off unless the fleet turns it on


def test_settings_read_scale_in_protection_and_the_agent_from_the_environment() -> None:
    s = Settings.from_env({"WORKER_QUEUE_URL": "https://q", "WORKER_SCALE_IN_PROTECTION_MINUTES": "10",
                           "ECS_AGENT_URI": "http://169.254.170.2/api/abc"})
    assert (s.scale_in_protection_minutes, s.agent_uri) == (10, "http://169.254.170.2/api/abc")
    protection = Worker(s, sqs=object(), handler=lambda m: None).protection
    assert protection.url == "http://169.254.170.2/api/abc/task-protection/v1/state"
    assert (protection.expires_minutes, protection.renew_every_s) == (10, 300)


@pytest.mark.parametrize(
    "env, message",
    [
        ({}, "WORKER_QUEUE_URL is required (got '')"),
        ({"WORKER_BATCH_SIZE": "11"}, "WORKER_BATCH_SIZE must be 1 to 10 (got 11)"),
        ({"WORKER_WAIT_TIME_SECONDS": "21"}, "WORKER_WAIT_TIME_SECONDS must be 0 to 20 (got 21)"),
        ({"WORKER_VISIBILITY_TIMEOUT_SECONDS": "0"}, "WORKER_VISIBILITY_TIMEOUT_SECONDS must be 1 to 43200 (got 0)"),
        ({"WORKER_SHUTDOWN_GRACE_SECONDS": "-1"}, "WORKER_SHUTDOWN_GRACE_SECONDS must be >= 0 (got -1.0)"),
        ({"WORKER_BATCH_SIZE": "ten"}, "WORKER_BATCH_SIZE must be a number (got 'ten')"),
        ({"WORKER_SCALE_IN_PROTECTION_MINUTES": "2881"},
         "WORKER_SCALE_IN_PROTECTION_MINUTES must be 0 (off) to 2880 (got 2881)"),
        ({"WORKER_HANDLER": "handlers.log_message"}, "WORKER_HANDLER must be module:function"),
    ],
)
def test_settings_reject_bad_environment(env: dict, message: str) -> None:
    base = {} if "WORKER_QUEUE_URL is required" in message else {"WORKER_QUEUE_URL": "https://q"}
    with pytest.raises(ValueError, match=re.escape(message)):
        Settings.from_env({**base, **env})


def test_load_handler() -> None:
    assert runtime.load_handler("tests.worker_handlers:record_slowly").__name__ == "record_slowly"
    with pytest.raises(ValueError, match="WORKER_HANDLER must name a function"):
        runtime.load_handler("tests.worker_handlers:NOT_A_FUNCTION")
    with pytest.raises(ModuleNotFoundError):
        runtime.load_handler("no_such_module:handler")


def test_logs_are_json_with_extra_fields() -> None:
    import logging

    record = logging.LogRecord("worker", logging.INFO, __file__, 1, "processed", (), None)
    record.message_id = "m-1"
    record.duration_ms = 12
    line = json.loads(runtime.JsonFormatter().format(record))
    assert line["message"] == "processed" and line["level"] == "INFO"
    assert line["message_id"] == "m-1" and line["duration_ms"] == 12 and line["time"].endswith("+00:00")


def test_to_record_matches_the_lambda_record_shape() -> None:
    record = runtime.to_record({"MessageId": "m", "ReceiptHandle": "r", "Body": "b", "MD5OfBody": "x",
                                "Attributes": {"ApproximateReceiveCount": "1"},
                                "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}})
    assert record["messageId"] == "m" and record["body"] == "b" and record["receiptHandle"] == "r"
    assert record["messageAttributes"]["k"] == {"dataType": "String", "stringValue": "v", "binaryValue": None}


def _lambda_event(*records: tuple[str, str, str | None]) -> dict:
    return {"Records": [{"messageId": mid, "body": body,
                         "attributes": {"MessageGroupId": group} if group else {}} for mid, body, group in records]}


def test_lambda_adapter_reports_only_failed_records(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_HANDLER", "handlers:require_json")
    monkeypatch.syspath_prepend(str(RUNTIME))
    monkeypatch.setattr(runtime, "_lambda_handler", None)
    event = _lambda_event(("ok-1", "{}", None), ("bad", "not json", None), ("ok-2", "[]", None))
    assert runtime.lambda_handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_lambda_adapter_on_fifo_reports_everything_after_the_first_failure(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def handler(record: dict) -> None:
        calls.append(record["messageId"])
        if record["messageId"] == "2":
            raise RuntimeError("fails")

    monkeypatch.setattr(runtime, "_lambda_handler", handler)
    event = _lambda_event(("1", "{}", "g"), ("2", "{}", "g"), ("3", "{}", "h"))
    assert runtime.lambda_handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "3"}]}
    assert calls == ["1", "2"]
