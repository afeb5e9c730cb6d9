"""The example fan-out consumer honours the partial-batch-response contract."""

from __future__ import annotations

import json

import pytest

from refarch.runtime.fanout_consumer import app


def _record(message_id: str, body: object) -> dict:
    return {"messageId": message_id, "body": json.dumps(body)}


def _envelope(message: dict) -> dict:
    return {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(message)}


def test_successful_batch_reports_no_failures() -> None:
    event = {"Records": [_record("m1", _envelope({"a": 1})), _record("m2", {"raw": True})]}
    assert app.handler(event, None) == {"batchItemFailures": []}


def test_only_failed_messages_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def process(message: dict) -> None:
        seen.append(message)
        if json.loads(message["Message"]).get("poison"):
            raise RuntimeError("cannot process")

    monkeypatch.setattr(app, "process", process)
    event = {"Records": [_record("ok-1", _envelope({"n": 1})), _record("bad", _envelope({"poison": True})),
                         _record("ok-2", _envelope({"n": 2}))]}
    assert app.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert len(seen) == 3  # one failure does not stop the rest of the batch


def test_malformed_body_is_a_failure_not_a_crash() -> None:
    event = {"Records": [{"messageId": "m1", "body": "not json"}]}
    assert app.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_unwrap_keeps_envelope_and_wraps_raw_bodies() -> None:
    assert app.unwrap(json.dumps(_envelope({"x": 1})))["Type"] == "Notification"
    assert app.unwrap(json.dumps({"x": 1})) == {"Message": {"x": 1}}
