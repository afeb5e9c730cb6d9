"""Example consumer of a fan-out queue (SQS event source, partial batch responses).

Each record is the SNS envelope (or, with raw delivery, the published body,
which may be any text). A record that raises is reported in
``batchItemFailures`` so that only it is retried; after ``max_receive_count``
attempts SQS moves it to the dead-letter queue. On a FIFO queue the first
failure also returns every later record of the batch unprocessed, so a
message group is never processed out of order. Replace ``process`` with your
own logic.
"""

import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def process(message: dict) -> None:
    """Business logic for one message; raise to have it retried."""
    logger.info("processed", extra={"message_id": message.get("MessageId"), "subject": message.get("Subject")})


def unwrap(body: str) -> dict:
    """Return the SNS envelope as a dict, or wrap a raw-delivered body
    (parsed when it is JSON, as published otherwise)."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return {"Message": body}
    if isinstance(data, dict) and data.get("Type") == "Notification":
        return data
    return {"Message": data}


def handler(event: dict, _context: object) -> dict:
    failures = []
    records = event.get("Records", [])
    for index, record in enumerate(records):
        try:
            process(unwrap(record["body"]))
        except Exception:  # any failure of one message must not fail the batch
            logger.exception("failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
            if "MessageGroupId" in record.get("attributes", {}):
                # FIFO: later records may belong to the same group; retry them after this one.
                failures.extend({"itemIdentifier": r["messageId"]} for r in records[index + 1:])
                break
    return {"batchItemFailures": failures}
