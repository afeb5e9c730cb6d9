"""Example consumer of a Kinesis stream (event source with partial batch responses).

Records of one shard arrive in order. On the first record that fails, the
handler stops and reports its sequence number in ``batchItemFailures``:
Lambda then retries from that record on (everything before it is done), and
with bisect-on-error narrows a poison record down until, after the retry
attempts or the maximum record age, its batch's position goes to the
dead-letter queue. Replace ``process`` with your own logic; keep it idempotent,
because a retried or replayed batch delivers records again.
"""

import base64
import json
import logging
import os

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))


def process(payload: dict, *, partition_key: str, sequence_number: str) -> None:
    """Business logic for one record; raise to have it retried."""
    logger.info("processed", extra={"partition_key": partition_key, "sequence_number": sequence_number})


def decode(record: dict) -> dict:
    """The record's data: base64 in the event, JSON in this example."""
    return json.loads(base64.b64decode(record["kinesis"]["data"]))


def handler(event: dict, _context: object) -> dict:
    for record in event.get("Records", []):
        sequence_number = record["kinesis"]["sequenceNumber"]
        try:
            process(decode(record), partition_key=record["kinesis"]["partitionKey"], sequence_number=sequence_number)
        except Exception:  # stop at the first failure: later records of the shard must not overtake it
            logger.exception("failed", extra={"sequence_number": sequence_number})
            return {"batchItemFailures": [{"itemIdentifier": sequence_number}]}
    return {"batchItemFailures": []}
