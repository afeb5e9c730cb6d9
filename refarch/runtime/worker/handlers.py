"""Example message handlers. Point ``WORKER_HANDLER`` at your own ``module:function``.

A handler receives one message as a dict shaped like a Lambda SQS record
(``messageId``, ``body``, ``attributes``, ``messageAttributes``) and returns
nothing. To fail the message, raise: it is not deleted, comes back after its
visibility timeout, and after ``maxReceiveCount`` attempts moves to the
dead-letter queue. Handlers must be idempotent: SQS delivers at least once.
"""

from __future__ import annotations

import json
import logging

logger = logging.getLogger("worker.handler")


def log_message(message: dict) -> None:
    """Log the message's ID and size; a stand-in for real work."""
    logger.info("handled", extra={"message_id": message["messageId"], "bytes": len(message["body"].encode())})


def require_json(message: dict) -> None:
    """Fail any message whose body is not JSON (shows the failure path)."""
    json.loads(message["body"])
