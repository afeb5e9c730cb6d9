"""The example stream consumer honours Kinesis partial batch responses: it stops at the first failure."""

from __future__ import annotations

import base64
import json

import pytest

from refarch.runtime.stream_consumer import app


def _record(seq: str, payload: object, key: str = "user-1") -> dict:
    data = base64.b64encode(json.dumps(payload).encode()).decode()
    return {"kinesis": {"sequenceNumber": seq, "partitionKey": key, "data": data}}


def test_successful_batch_reports_no_failures() -> None:
    assert app.handler({"Records": [_record("1", {"a": 1}), _record("2", {"a": 2})]}, None) == {"batchItemFailures": []}


def test_first_failure_is_reported_and_later_records_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = []

    def process(payload: dict, *, partition_key: str, sequence_number: str) -> None:
        seen.append(sequence_number)
        if payload.get("poison"):
            raise RuntimeError("cannot process")

    monkeypatch.setattr(app, "process", process)
    event = {"Records": [_record("1", {}), _record("2", {"poison": True}), _record("3", {})]}
    assert app.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "2"}]}
    assert seen == ["1", "2"]  # record 3 is not processed ahead of 2: Lambda retries from 2


def test_undecodable_record_is_a_failure_not_a_crash() -> None:
    event = {"Records": [{"kinesis": {"sequenceNumber": "9", "partitionKey": "k", "data": "bm90IGpzb24="}}]}
    assert app.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "9"}]}
