"""Example consumer of a fan-out queue (SQS event source, partial batch responses).

Each record is the SNS envelope (or, with raw delivery, the published body).
A record that raises is reported in ``batchItemFailures`` so that only it is
retried; after ``max_receive_count`` attempts SQS moves it to the dead-letter
queue. Replace ``process`` with your own logic.
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
    """Return the SNS envelope as a dict, or wrap a raw-delivered body."""
    data = json.loads(body)
    if isinstance(data, dict) and data.get("Type") == "Notification":
        return data
    return {"Message": data}


def handler(event: dict, _context: object) -> dict:
    failures = []
    for record in event.get("Records", []):
        try:
            process(unwrap(record["body"]))
        except Exception:  # any failure of one message must not fail the batch
            logger.exception("failed", extra={"message_id": record.get("messageId")})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
