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


def test_malformed_record_is_a_failure_not_a_crash() -> None:
    event = {"Records": [{"messageId": "m1"}, _record("m2", {"ok": True})]}  # m1 has no body
    assert app.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "m1"}]}


def test_unwrap_keeps_envelope_and_wraps_raw_bodies() -> None:
    assert app.unwrap(json.dumps(_envelope({"x": 1})))["Type"] == "Notification"
    assert app.unwrap(json.dumps({"x": 1})) == {"Message": {"x": 1}}
    # Raw delivery passes any published text through; it is not an error.
    assert app.unwrap("order 42 placed") == {"Message": "order 42 placed"}


def test_fifo_failure_returns_the_rest_of_the_batch_unprocessed(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def process(message: dict) -> None:
        seen.append(message["Message"]["n"])
        if message["Message"]["n"] == 2:
            raise RuntimeError("cannot process")

    monkeypatch.setattr(app, "process", process)
    group = {"MessageGroupId": "acct-1"}
    event = {"Records": [{**_record(f"m{n}", {"n": n}), "attributes": group} for n in (1, 2, 3, 4)]}
    assert app.handler(event, None) == {
        "batchItemFailures": [{"itemIdentifier": "m2"}, {"itemIdentifier": "m3"}, {"itemIdentifier": "m4"}]
    }
    assert seen == [1, 2]  # m3 and m4 are retried after m2, in order, not processed ahead of it
