"""refarch.tools.sqs_redrive against moto's SQS: move, bound, failure, FIFO, retry after a crash, dry run.

What moto cannot show: SQS's real long-polling and in-flight limits, and
KMS-encrypted queues (moto does not check the caller's key permissions); the
tool's calls are the same for encrypted queues.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from refarch.tools import sqs_redrive as redrive

REGION = "eu-west-1"


@pytest.fixture
def sqs() -> Iterator[object]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws():
        yield boto3.client("sqs", region_name=REGION)


def _queue(sqs, name: str) -> str:
    attributes = {"FifoQueue": "true"} if name.endswith(".fifo") else {}
    return sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]


def _fill(sqs, url: str, count: int, **extra) -> list[str]:
    bodies = [f'{{"order": {i}}}' for i in range(count)]
    for i, body in enumerate(bodies):
        kwargs = dict(extra)
        if url.endswith(".fifo"):
            kwargs.update(MessageGroupId=f"group-{i % 3}", MessageDeduplicationId=f"dedup-{i}")
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageAttributes={
                "kind": {"DataType": "String", "StringValue": f"kind-{i}"},
                "amount": {"DataType": "Number", "StringValue": str(i)},
                "blob": {"DataType": "Binary", "BinaryValue": bytes([i])},
            },
            **kwargs,
        )
    return bodies


def _drain(sqs, url: str) -> list[dict]:
    """Every message in ``url`` (received and deleted), in receive order."""
    out: list[dict] = []
    while True:
        page = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                   MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not page:
            return out
        out.extend(page)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(page)])


def _count(sqs, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _visible(sqs, url: str) -> int:
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])[
        "Attributes"]["ApproximateNumberOfMessages"])


def test_moves_every_message_with_body_and_attributes_and_empties_the_source(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    bodies = _fill(sqs, source, 25)
    outcome = redrive.redrive(sqs, source, target, wait_time_s=0)
    assert len(outcome.moved) == 25 and not outcome.failed and not outcome.not_deleted
    assert _count(sqs, source) == 0
    moved = _drain(sqs, target)
    assert sorted(m["Body"] for m in moved) == sorted(bodies)
    for m in moved:
        i = int(m["MessageAttributes"]["amount"]["StringValue"])
        assert m["Body"] == bodies[i]
        assert m["MessageAttributes"]["kind"] == {"DataType": "String", "StringValue": f"kind-{i}"}
        assert m["MessageAttributes"]["blob"]["BinaryValue"] == bytes([i])


def test_honours_max(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    _fill(sqs, source, 25)
    outcome = redrive.redrive(sqs, source, target, max_messages=12, wait_time_s=0)
    assert len(outcome.moved) == 12
    assert _count(sqs, target) == 12 and _count(sqs, source) == 13


def test_an_empty_source_moves_nothing(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    assert redrive.redrive(sqs, source, target, wait_time_s=0).moved == []


def test_send_failure_leaves_the_source_intact_and_visible(sqs) -> None:
    source = _queue(sqs, "delivery-dlq")
    missing = source.rsplit("/", 1)[0] + "/deleted-queue"
    _fill(sqs, source, 5)
    outcome = redrive.redrive(sqs, source, missing, wait_time_s=0)
    assert outcome.moved == [] and len(outcome.failed) == 5
    assert all("SendMessageBatch failed" in why for why in outcome.failed.values())
    assert _visible(sqs, source) == 5  # released at once, not after the visibility timeout


class RefuseOne:
    """An SQS client whose SendMessageBatch refuses the entry with ``Id`` "1" (as SQS reports per entry)."""

    def __init__(self, sqs) -> None:
        self._sqs = sqs

    def __getattr__(self, name: str):
        return getattr(self._sqs, name)

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict]) -> dict:
        kept = [e for e in Entries if e["Id"] != "1"]
        response = self._sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept)
        return {"Successful": response.get("Successful", []),
                "Failed": [{"Id": "1", "Code": "InternalError", "SenderFault": False, "Message": "try again"}]}


def test_a_refused_message_stays_in_the_source_and_the_run_stops(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    _fill(sqs, source, 25)
    outcome = redrive.redrive(RefuseOne(sqs), source, target, wait_time_s=0)
    assert len(outcome.moved) == 9 and list(outcome.failed.values()) == ["InternalError: try again"]
    assert _count(sqs, target) == 9 and _count(sqs, source) == 16
    assert _visible(sqs, source) == 16


def test_fifo_to_fifo_keeps_groups_order_and_a_deterministic_deduplication_id(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq.fifo"), _queue(sqs, "queue.fifo")
    _fill(sqs, source, 12)
    outcome = redrive.redrive(sqs, source, target, wait_time_s=0)
    assert len(outcome.moved) == 12 and _count(sqs, source) == 0
    moved = _drain(sqs, target)
    by_group: dict[str, list[int]] = {}
    for m in moved:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(int(m["MessageAttributes"]["amount"]["StringValue"]))
    assert by_group == {f"group-{g}": [i for i in range(12) if i % 3 == g] for g in range(3)}
    ids = {m["Attributes"]["MessageDeduplicationId"] for m in moved}
    assert ids == {redrive.deduplication_id(source, message_id) for message_id in outcome.moved}


def test_standard_source_to_fifo_target_uses_the_group_id(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue.fifo")
    _fill(sqs, source, 3)
    redrive.redrive(sqs, source, target, wait_time_s=0, group_id="replayed")
    assert {m["Attributes"]["MessageGroupId"] for m in _drain(sqs, target)} == {"replayed"}


class CrashBeforeDelete:
    """An SQS client that 'crashes' (the delete never happens) once, after the first send."""

    def __init__(self, sqs) -> None:
        self._sqs = sqs
        self.crashed = False

    def __getattr__(self, name: str):
        return getattr(self._sqs, name)

    def delete_message_batch(self, **kwargs) -> dict:
        if not self.crashed:
            self.crashed = True
            raise KeyboardInterrupt("killed between send and delete")
        return self._sqs.delete_message_batch(**kwargs)


def test_retry_after_a_crash_between_send_and_delete(sqs) -> None:
    """FIFO target: the same deduplication ID drops the re-sent copy. Standard target: one duplicate batch."""
    for suffix in (".fifo", ""):
        source, target = _queue(sqs, f"dlq{suffix or '-std'}"), _queue(sqs, f"queue{suffix or '-std'}")
        _fill(sqs, source, 5)
        with pytest.raises(KeyboardInterrupt):
            redrive.redrive(CrashBeforeDelete(sqs), source, target, wait_time_s=0, visibility_timeout_s=1)
        assert _count(sqs, target) == 5 and _count(sqs, source) == 5  # sent, not deleted
        time.sleep(1.1)  # the crashed run's visibility timeout passes
        redrive.redrive(sqs, source, target, wait_time_s=0, visibility_timeout_s=0)
        assert _count(sqs, source) == 0
        assert _count(sqs, target) == (5 if suffix else 10)


def test_dry_run_sends_and_deletes_nothing_and_releases_the_messages(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    _fill(sqs, source, 25)
    outcome = redrive.redrive(sqs, source, target, dry_run=True, wait_time_s=0)
    assert outcome.dry_run and len(set(outcome.moved)) == 25
    assert _count(sqs, target) == 0 and _visible(sqs, source) == 25
    assert len(redrive.redrive(sqs, source, target, dry_run=True, max_messages=7, wait_time_s=0).moved) == 7


def test_bad_arguments_are_rejected(sqs) -> None:
    source = _queue(sqs, "delivery-dlq")
    with pytest.raises(ValueError, match="max_messages must be at least 1"):
        redrive.redrive(sqs, source, source + "-x", max_messages=0)
    with pytest.raises(ValueError, match="source and target must be different queues"):
        redrive.redrive(sqs, source, source)


def test_cli_moves_and_reports(sqs) -> None:
    source, target = _queue(sqs, "delivery-dlq"), _queue(sqs, "queue")
    _fill(sqs, source, 4)
    err = io.StringIO()
    assert redrive.main(["--source", source, "--target", target, "--dry-run"], err=err, sqs=sqs) == 0
    assert f"would move 4 message(s) from {source} to {target}" in err.getvalue()
    err = io.StringIO()
    assert redrive.main(["--source", source, "--target", target, "--max", "3", "--region", REGION], err=err) == 0
    assert f"moved 3 message(s) from {source} to {target}" in err.getvalue()
    assert _count(sqs, target) == 3


def test_cli_exits_1_when_a_message_is_not_moved_and_2_on_bad_arguments(sqs) -> None:
    source = _queue(sqs, "delivery-dlq")
    _fill(sqs, source, 1)
    err = io.StringIO()
    assert redrive.main(["--source", source, "--target", source + "-gone"], err=err, sqs=sqs) == 1
    assert "was not moved and stays in the source" in err.getvalue()
    assert redrive.main(["--source", source, "--target", source], err=io.StringIO(), sqs=sqs) == 2
    with pytest.raises(SystemExit):
        redrive.main(["--source", source, "--target", source + "-x", "--max", "0"], err=io.StringIO())
