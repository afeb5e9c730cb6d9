"""Message handlers the worker-runtime tests load by import path (``WORKER_HANDLER``)."""

from __future__ import annotations

import os
import time


def record_slowly(message: dict) -> None:
    """Append the message's body to ``TEST_RECORD_FILE`` after ``TEST_DELAY_S`` of "work"."""
    time.sleep(float(os.environ.get("TEST_DELAY_S", "0")))
    with open(os.environ["TEST_RECORD_FILE"], "a", encoding="utf-8") as out:
        out.write(message["body"] + "\n")


NOT_A_FUNCTION = 42
