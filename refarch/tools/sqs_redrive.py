"""Move messages from one SQS queue to another: receive, send, then delete.

    # what would move (nothing is sent or deleted)
    python -m refarch.tools.sqs_redrive --source SOURCE_URL --target TARGET_URL --dry-run

    # move at most 500 messages
    python -m refarch.tools.sqs_redrive --source SOURCE_URL --target TARGET_URL --max 500

Use it for a queue that is no SQS queue's dead-letter queue, such as an SNS
subscription's delivery dead-letter queue: ``StartMessageMoveTask`` (``aws sqs
start-message-move-task``) only moves messages out of a queue that is the
dead-letter queue of another SQS queue ("Non-SQS queue sources of dead-letter
queues, such as AWS Lambda or Amazon SNS topics, are currently not supported",
https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_StartMessageMoveTask.html).
For a queue's own (processing) dead-letter queue, keep using
``start-message-move-task``.

How it moves a batch (at most 10 messages):

1. receive from the source with long polling, hiding the batch for
   ``--visibility-timeout`` seconds;
2. send the batch to the target, keeping each message's body and message
   attributes; a FIFO target gets the message's group ID (or ``--group-id``
   when the source is a standard queue) and a deduplication ID derived from
   the source queue and the source message ID, the same on every attempt;
3. delete from the source only the messages the target accepted.

It stops after ``--max`` messages, when a receive finds the source empty, or
at the first message the target refuses (which stays in the source and
becomes visible again; the tool exits 1 and names it).

Safe to run again after a failure, with one caveat: a crash between the send
and the delete leaves the message in both queues, so the next run moves it
again, a duplicate (at-least-once delivery, as SNS and SQS standard queues
give anyway: consumers must be idempotent). A FIFO target drops that
duplicate if the run repeats within SQS's 5-minute deduplication interval,
because the deduplication ID is the same.

Credentials, region and endpoint come from the usual boto3 sources
(``AWS_PROFILE``, ``AWS_REGION``, ...) or ``--region`` / ``--endpoint-url``.
The caller needs ``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and
``sqs:ChangeMessageVisibility`` on the source, ``sqs:SendMessage`` on the
target, and ``kms:Decrypt`` / ``kms:GenerateDataKey`` on their keys.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: SQS returns and sends at most 10 messages a call.
BATCH = 10
#: Message group of messages from a standard source sent to a FIFO target, unless --group-id names another.
DEFAULT_GROUP_ID = "redrive"


@dataclass
class Outcome:
    """What a run did: the source message IDs moved (or, in a dry run, that would move) and those that failed."""

    moved: list[str] = field(default_factory=list)
    """Source message IDs moved (in a dry run: that would move)."""
    failed: dict[str, str] = field(default_factory=dict)
    """Source message ID -> why it was not moved (it is still in the source)."""
    not_deleted: dict[str, str] = field(default_factory=dict)
    """Sent to the target but still in the source (the next run sends it again)."""
    dry_run: bool = False
    """True when nothing was sent or deleted."""


def is_fifo(queue_url: str) -> bool:
    """A FIFO queue's name ends in ``.fifo`` (SQS requires it)."""
    return queue_url.rstrip("/").endswith(".fifo")


def deduplication_id(source_url: str, message_id: str) -> str:
    """The same for every attempt to move one source message (SHA-256 hex, within SQS's 128 characters)."""
    return hashlib.sha256(f"{source_url}\n{message_id}".encode()).hexdigest()


def _attributes(message: dict) -> dict:
    """The message attributes as SendMessage takes them (ReceiveMessage may add empty list fields)."""
    kept = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        kept[name] = {k: v for k, v in value.items() if k in ("DataType", "StringValue", "BinaryValue")}
    return kept


def _entry(message: dict, index: int, *, source_url: str, fifo_target: bool, group_id: str) -> dict:
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    attributes = _attributes(message)
    if attributes:
        entry["MessageAttributes"] = attributes
    if fifo_target:
        system = message.get("Attributes") or {}
        entry["MessageGroupId"] = system.get("MessageGroupId") or group_id
        entry["MessageDeduplicationId"] = deduplication_id(source_url, message["MessageId"])
    return entry


def _release(sqs: Any, source_url: str, messages: Sequence[dict]) -> None:
    """Make received messages visible again at once (best effort: they reappear after the timeout anyway)."""
    for start in range(0, len(messages), BATCH):
        try:
            sqs.change_message_visibility_batch(
                QueueUrl=source_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                         for i, m in enumerate(messages[start:start + BATCH])],
            )
        except (BotoCoreError, ClientError):
            pass


def redrive(
    sqs: Any,
    source_url: str,
    target_url: str,
    *,
    max_messages: int | None = None,
    dry_run: bool = False,
    group_id: str = DEFAULT_GROUP_ID,
    wait_time_s: int = 1,
    visibility_timeout_s: int = 60,
) -> Outcome:
    """Move messages from ``source_url`` to ``target_url`` with the SQS client ``sqs``; see the module docstring.

    A dry run receives what would move (up to ``max_messages``), sends and
    deletes nothing, and makes the messages visible again at the end.
    """
    if max_messages is not None and max_messages < 1:
        raise ValueError(f"max_messages must be at least 1 (got {max_messages!r})")
    if source_url.rstrip("/") == target_url.rstrip("/"):
        raise ValueError(f"source and target must be different queues (got {source_url!r} twice)")
    if not 0 <= wait_time_s <= 20:
        raise ValueError(f"wait_time_s must be 0 to 20 (got {wait_time_s!r})")
    fifo_target = is_fifo(target_url)
    outcome = Outcome(dry_run=dry_run)
    held: list[dict] = []  # dry run: received, to be released at the end
    seen: set[str] = set()
    try:
        while max_messages is None or len(outcome.moved) < max_messages:
            wanted = BATCH if max_messages is None else min(BATCH, max_messages - len(outcome.moved))
            messages = sqs.receive_message(
                QueueUrl=source_url,
                MaxNumberOfMessages=wanted,
                WaitTimeSeconds=wait_time_s,  # long polling asks every SQS server, so "empty" means empty
                VisibilityTimeout=visibility_timeout_s,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["MessageGroupId"],
            ).get("Messages", [])
            if dry_run:
                messages = [m for m in messages if m["MessageId"] not in seen]  # hidden ones do not come back
            if not messages:
                break
            if dry_run:
                held.extend(messages)
                seen.update(m["MessageId"] for m in messages)
                outcome.moved.extend(m["MessageId"] for m in messages)
                continue
            entries = [
                _entry(m, i, source_url=source_url, fifo_target=fifo_target, group_id=group_id)
                for i, m in enumerate(messages)
            ]
            try:
                response = sqs.send_message_batch(QueueUrl=target_url, Entries=entries)
            except (BotoCoreError, ClientError) as error:
                for m in messages:
                    outcome.failed[m["MessageId"]] = f"SendMessageBatch failed: {error}"
                _release(sqs, source_url, messages)
                break
            refused = {f["Id"]: f"{f.get('Code', 'error')}: {f.get('Message', '')}".strip()
                       for f in response.get("Failed", [])}
            sent = [m for i, m in enumerate(messages) if str(i) not in refused]
            unsent = [m for i, m in enumerate(messages) if str(i) in refused]
            for i, m in enumerate(messages):
                if str(i) in refused:
                    outcome.failed[m["MessageId"]] = refused[str(i)]
            _delete(sqs, source_url, sent, outcome)
            if unsent:
                _release(sqs, source_url, unsent)
                break
    finally:
        _release(sqs, source_url, held)
    return outcome


def _delete(sqs: Any, source_url: str, sent: Sequence[dict], outcome: Outcome) -> None:
    if not sent:
        return
    try:
        response = sqs.delete_message_batch(
            QueueUrl=source_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(sent)],
        )
        not_deleted = {f["Id"]: f.get("Code", "error") for f in response.get("Failed", [])}
    except (BotoCoreError, ClientError) as error:
        not_deleted = {str(i): f"DeleteMessageBatch failed: {error}" for i in range(len(sent))}
    for i, m in enumerate(sent):
        if str(i) in not_deleted:
            outcome.not_deleted[m["MessageId"]] = not_deleted[str(i)]
        outcome.moved.append(m["MessageId"])


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {number})")
    return number


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refarch.tools.sqs_redrive",
        description="Move messages from one SQS queue to another (receive, send, delete), e.g. out of an SNS "
        "subscription's delivery dead-letter queue, which start-message-move-task cannot move.",
    )
    parser.add_argument("--source", required=True, help="URL of the queue to move messages out of")
    parser.add_argument("--target", required=True, help="URL of the queue to move them into")
    parser.add_argument("--max", type=_positive, help="move at most this many messages (default: until empty)")
    parser.add_argument("--dry-run", action="store_true", help="list what would move; send and delete nothing")
    parser.add_argument("--group-id", default=DEFAULT_GROUP_ID,
                        help=f"message group for a FIFO target when the source is standard (default {DEFAULT_GROUP_ID!r})")
    parser.add_argument("--visibility-timeout", type=_positive, default=60,
                        help="seconds a received batch stays hidden while it moves (default 60)")
    parser.add_argument("--region", help="AWS region (default: from the environment)")
    parser.add_argument("--endpoint-url", help="an SQS endpoint other than AWS's (e.g. a local emulator)")
    return parser


def main(argv: Sequence[str] | None = None, *, err: TextIO | None = None, sqs: Any = None) -> int:
    """The command line (``python -m refarch.tools.sqs_redrive --help``); returns the exit status."""
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    if args.source.rstrip("/") == args.target.rstrip("/"):
        print("error: --source and --target must be different queues", file=err)
        return 2
    sqs = sqs or boto3.client(
        "sqs", region_name=args.region, endpoint_url=args.endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 10}),
    )
    outcome = redrive(sqs, args.source, args.target, max_messages=args.max, dry_run=args.dry_run,
                      group_id=args.group_id, visibility_timeout_s=args.visibility_timeout)
    verb = "would move" if args.dry_run else "moved"
    for message_id in outcome.moved if args.dry_run else ():
        print(message_id, file=err)
    print(f"{verb} {len(outcome.moved)} message(s) from {args.source} to {args.target}", file=err)
    for message_id, why in outcome.not_deleted.items():
        print(f"warning: {message_id} was sent but is still in the source ({why}); the next run sends it again",
              file=err)
    for message_id, why in outcome.failed.items():
        print(f"error: {message_id} was not moved and stays in the source: {why}", file=err)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
