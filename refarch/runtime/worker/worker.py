"""A queue worker for SQS: long polling, heartbeats, graceful shutdown.

Run as a container (``python worker.py``) it loops until SIGTERM:

1. long-poll the queue (``WORKER_WAIT_TIME_SECONDS``, default 20) for up to
   ``WORKER_BATCH_SIZE`` (default 10) messages, hidden from other workers for
   ``WORKER_VISIBILITY_TIMEOUT_SECONDS`` (default 60);
2. hand them one at a time to the handler named by ``WORKER_HANDLER``
   (``module:function``), while a heartbeat keeps every message still held
   invisible (it extends the visibility every third of the timeout);
3. delete a message only once its handler returned; a message whose handler
   raised is left alone, comes back when its visibility expires and, after the
   queue's ``maxReceiveCount``, moves to the dead-letter queue. On a FIFO
   queue the rest of a failed message's group is handed back, to keep order.

While it holds messages it protects its ECS task from scale-in and
deployments (``WORKER_SCALE_IN_PROTECTION_MINUTES`` > 0, through the ECS agent's
``$ECS_AGENT_URI/task-protection/v1/state``), renews that protection every half
of its expiry while still working, and clears it once the batch is done, so
ECS stops only idle workers. Without the agent (not on ECS), or when the agent
fails, it works on without protection and logs why.

On SIGTERM (ECS stopping the task) it receives nothing more, gives the message
in hand up to ``WORKER_SHUTDOWN_GRACE_SECONDS`` to finish, and makes every
message it still holds visible again at once, before ECS's stop timeout ends
in SIGKILL. A message is therefore processed, or back in the queue for
another worker: never lost. Logs are JSON lines on stdout.

The same handler runs on Lambda through :func:`lambda_handler` (SQS event
source with ReportBatchItemFailures).
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone

Handler = Callable[[dict], None]
logger = logging.getLogger("worker")


# --- settings -----------------------------------------------------------------

#: ECS accepts 1 to 2,880 minutes (48 hours) of protection per request.
#: https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html
PROTECTION_MAX_MINUTES = 2880
#: SQS hides a message for at most 12 hours after it was received, however often the visibility is
#: extended; past that it is back in the queue, so protecting the task longer protects nothing.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
SQS_MAX_HOLD_S = 12 * 3600


@dataclass(frozen=True)
class Settings:
    queue_url: str
    handler: str = "handlers:log_message"
    batch_size: int = 10
    wait_time_s: int = 20
    visibility_timeout_s: int = 60
    shutdown_grace_s: float = 25.0
    #: Minutes of ECS task scale-in protection per renewal; 0 turns it off.
    scale_in_protection_minutes: int = 0
    #: The ECS agent's endpoint, which ECS injects into every container (``ECS_AGENT_URI``).
    agent_uri: str = ""

    def __post_init__(self) -> None:
        _check(bool(self.queue_url), "WORKER_QUEUE_URL", self.queue_url, "is required")
        _check(":" in self.handler, "WORKER_HANDLER", self.handler, "must be module:function")
        _check(1 <= self.batch_size <= 10, "WORKER_BATCH_SIZE", self.batch_size, "must be 1 to 10")
        _check(0 <= self.wait_time_s <= 20, "WORKER_WAIT_TIME_SECONDS", self.wait_time_s, "must be 0 to 20")
        _check(
            1 <= self.visibility_timeout_s <= 43200,
            "WORKER_VISIBILITY_TIMEOUT_SECONDS",
            self.visibility_timeout_s,
            "must be 1 to 43200",
        )
        _check(self.shutdown_grace_s >= 0, "WORKER_SHUTDOWN_GRACE_SECONDS", self.shutdown_grace_s, "must be >= 0")
        _check(
            0 <= self.scale_in_protection_minutes <= PROTECTION_MAX_MINUTES,
            "WORKER_SCALE_IN_PROTECTION_MINUTES",
            self.scale_in_protection_minutes,
            f"must be 0 (off) to {PROTECTION_MAX_MINUTES}",
        )

    @property
    def heartbeat_interval_s(self) -> float:
        """Extend visibility three times per timeout: two heartbeats may fail before a message shows."""
        return self.visibility_timeout_s / 3

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Settings:
        def number(name: str, default: float, kind: type = int):
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return kind(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number (got {raw!r})") from None

        return cls(
            queue_url=env.get("WORKER_QUEUE_URL", ""),
            handler=env.get("WORKER_HANDLER") or cls.handler,
            batch_size=number("WORKER_BATCH_SIZE", cls.batch_size),
            wait_time_s=number("WORKER_WAIT_TIME_SECONDS", cls.wait_time_s),
            visibility_timeout_s=number("WORKER_VISIBILITY_TIMEOUT_SECONDS", cls.visibility_timeout_s),
            shutdown_grace_s=number("WORKER_SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_s, float),
            scale_in_protection_minutes=number("WORKER_SCALE_IN_PROTECTION_MINUTES", cls.scale_in_protection_minutes),
            agent_uri=env.get("ECS_AGENT_URI", ""),
        )


def _check(ok: bool, name: str, value: object, rule: str) -> None:
    if not ok:
        raise ValueError(f"{name} {rule} (got {value!r})")


def load_handler(path: str) -> Handler:
    """Import ``module:function``."""
    module_name, _, function_name = path.partition(":")
    _check(bool(module_name and function_name), "WORKER_HANDLER", path, "must be module:function")
    handler = getattr(importlib.import_module(module_name), function_name, None)
    _check(callable(handler), "WORKER_HANDLER", path, "must name a function")
    return handler


def to_record(message: Mapping) -> dict:
    """An SQS API message in the shape of a Lambda SQS record, so one handler serves both."""
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {
            name: {
                "dataType": value.get("DataType"),
                "stringValue": value.get("StringValue"),
                "binaryValue": value.get("BinaryValue"),
            }
            for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message.get("MD5OfBody"),
    }


# --- scale-in protection ------------------------------------------------------------

class ScaleInProtection:
    """ECS task scale-in protection through the container agent, while the worker holds messages.

    ``start`` when a batch arrives (before any handler runs), ``keep`` while it
    is worked on (renews once half of the expiry has passed), ``clear`` when the
    worker holds nothing. A protected task is not stopped by service scale-in
    or by a deployment until it clears its protection or the protection expires.
    Every failure is logged and ignored: the worker then relies on its SIGTERM
    grace, as without protection. Renewal stops once a batch has been held for
    ``max_hold_s`` (SQS's 12-hour cap), so a stuck handler cannot pin the task
    (and a deployment) for ever.
    """

    PATH = "/task-protection/v1/state"

    def __init__(
        self,
        agent_uri: str | None,
        expires_minutes: int,
        *,
        renew_every_s: float | None = None,
        timeout_s: float = 5.0,
        max_hold_s: float = SQS_MAX_HOLD_S,
    ) -> None:
        self.url = f"{agent_uri.rstrip('/')}{self.PATH}" if agent_uri and expires_minutes > 0 else None
        self.expires_minutes = expires_minutes
        self.renew_every_s = expires_minutes * 60 / 2 if renew_every_s is None else renew_every_s
        self.timeout_s = timeout_s
        self.max_hold_s = max_hold_s
        self.protected = False
        self._since = 0.0
        self._due = float("inf")

    @property
    def enabled(self) -> bool:
        return self.url is not None

    def start(self) -> None:
        """A batch arrived: protect the task before working on it."""
        if not self.enabled:
            return
        self._since = time.monotonic()
        self._renew()

    def keep(self) -> None:
        """Renew once half the expiry has passed (after a failure: retry then)."""
        now = time.monotonic()
        if self.enabled and now >= self._due and now - self._since < self.max_hold_s:
            self._renew()

    def wait_s(self) -> float:
        return max(0.0, self._due - time.monotonic()) if self.enabled else float("inf")

    def clear(self) -> None:
        """The worker holds nothing: let ECS stop the task again."""
        self._due = float("inf")
        if self.enabled and self.protected:
            self.protected = False  # if this fails, the protection still expires by itself
            self._put({"ProtectionEnabled": False})

    def _renew(self) -> None:
        ok = self._put({"ProtectionEnabled": True, "ExpiresInMinutes": self.expires_minutes})
        self.protected = self.protected or ok
        self._due = time.monotonic() + self.renew_every_s

    def _put(self, body: dict) -> bool:
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="PUT", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read().decode(errors="replace")[:500]
            logger.warning("scale-in protection failed", extra={"request": body, "status": err.code, "detail": detail})
            return False
        except (OSError, ValueError) as err:  # agent unreachable, timeout, or not JSON
            logger.warning("scale-in protection failed", extra={"request": body, "error": repr(err)})
            return False
        # The agent answers {"protection": {...}}, or {"failure": {...}} / {"error": {...}} when ECS refused.
        if not isinstance(answer, dict) or "protection" not in answer:
            logger.warning("scale-in protection failed", extra={"request": body, "detail": answer})
            return False
        logger.debug("scale-in protection", extra={"request": body, "protection": answer["protection"]})
        return True


# --- the worker -----------------------------------------------------------------


class _Call:
    """One handler call on a daemon thread, so a stuck handler cannot hold the process past SIGKILL."""

    def __init__(self, handler: Handler, record: dict) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None
        threading.Thread(target=self._run, args=(handler, record), name="handler", daemon=True).start()

    def _run(self, handler: Handler, record: dict) -> None:
        try:
            handler(record)
        except BaseException as err:  # reported to the control loop, which decides
            self.error = err
        finally:
            self.done.set()


class Worker:
    """Drains one queue until :meth:`request_stop` (which SIGTERM calls)."""

    def __init__(
        self,
        settings: Settings,
        *,
        sqs=None,
        handler: Handler | None = None,
        protection: ScaleInProtection | None = None,
    ) -> None:
        self.settings = settings
        if sqs is None:
            import boto3
            from botocore.config import Config

            # botocore's default 60 s connect and read timeouts would let one stalled call outlast a
            # heartbeat interval or the shutdown margin; a long poll needs its wait time plus a little.
            sqs = boto3.client("sqs", config=Config(
                connect_timeout=5,
                read_timeout=settings.wait_time_s + 10,
                retries={"mode": "standard", "max_attempts": 5},
            ))
        self.sqs = sqs
        self.handler = handler or load_handler(settings.handler)
        self.protection = protection or ScaleInProtection(settings.agent_uri, settings.scale_in_protection_minutes)
        self._stop = threading.Event()
        self._deadline = float("inf")

    # -- control ------------------------------------------------------------

    def request_stop(self, signum: int | None = None, _frame: object = None) -> None:
        """Stop receiving; give the message in hand ``shutdown_grace_s`` to finish."""
        if self._stop.is_set():
            return
        self._deadline = time.monotonic() + self.settings.shutdown_grace_s
        self._stop.set()
        logger.info("stopping", extra={"signal": signum, "grace_s": self.settings.shutdown_grace_s})

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self) -> None:
        logger.info("started", extra={"queue_url": self.settings.queue_url, "handler": self.settings.handler,
                                      "scale_in_protection": self.protection.enabled})
        if self.settings.scale_in_protection_minutes and not self.protection.enabled:
            logger.warning("scale-in protection requested but ECS_AGENT_URI is not set: running without it")
        backoff = 1.0
        while not self.stopping:
            try:
                messages = self._receive()
            except Exception:  # throttling or a network fault: wait, but wake at once on SIGTERM
                logger.exception("receive failed", extra={"retry_in_s": backoff})
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 20.0)
                continue
            backoff = 1.0
            if messages:
                self.protection.start()
                try:
                    self.process_batch(messages)
                finally:
                    self.protection.clear()
        logger.info("stopped")

    # -- one batch ------------------------------------------------------------

    def _receive(self) -> list[dict]:
        response = self.sqs.receive_message(
            QueueUrl=self.settings.queue_url,
            MaxNumberOfMessages=self.settings.batch_size,
            WaitTimeSeconds=self.settings.wait_time_s,
            VisibilityTimeout=self.settings.visibility_timeout_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def process_batch(self, messages: list[dict]) -> None:
        held = {m["MessageId"]: m for m in messages}  # received, neither deleted nor released
        failed_groups: set[str] = set()
        heartbeat = _Heartbeat(self, held)
        for message in messages:
            if self.stopping:
                break
            group = message.get("Attributes", {}).get("MessageGroupId")
            if group is not None and group in failed_groups:
                continue  # FIFO: nothing after a failed message of its group; handed back below
            context = {
                "message_id": message["MessageId"],
                "receive_count": int(message.get("Attributes", {}).get("ApproximateReceiveCount", 0)),
            }
            started = time.monotonic()
            self.protection.keep()
            call = _Call(self.handler, to_record(message))
            # Short waits, so SIGTERM's deadline is noticed even between heartbeats.
            while not call.done.wait(timeout=min(heartbeat.wait_s(), self.protection.wait_s(), 0.5)):
                if self.stopping and time.monotonic() >= self._deadline:
                    logger.warning("abandoned at shutdown", extra=context)
                    self._release(held.values())
                    return
                heartbeat.beat_if_due()
                self.protection.keep()
            duration_ms = round((time.monotonic() - started) * 1000)
            if call.error is None:
                self._delete(message, context)
                held.pop(message["MessageId"])
                logger.info("processed", extra={**context, "duration_ms": duration_ms})
            else:
                held.pop(message["MessageId"])  # no more heartbeats: it returns after its visibility timeout
                if group is not None:
                    failed_groups.add(group)
                logger.error(
                    "handler failed",
                    extra={**context, "duration_ms": duration_ms, "error": repr(call.error)},
                    exc_info=(type(call.error), call.error, call.error.__traceback__),
                )
        self._release(held.values())

    def extend(self, messages: Iterable[dict]) -> None:
        self._change_visibility(messages, self.settings.visibility_timeout_s, "extend")

    def _release(self, messages: Iterable[dict]) -> None:
        self._change_visibility(messages, 0, "release")

    def _change_visibility(self, messages: Iterable[dict], timeout_s: int, what: str) -> None:
        messages = list(messages)
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            try:
                response = self.sqs.change_message_visibility_batch(
                    QueueUrl=self.settings.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": timeout_s}
                        for i, m in enumerate(chunk)
                    ],
                )
            except Exception:  # the message comes back when its visibility expires: late, not lost
                logger.exception(f"{what} failed", extra={"messages": len(chunk)})
                continue
            for failure in response.get("Failed", []):
                logger.warning(f"{what} failed", extra={"message_id": chunk[int(failure["Id"])]["MessageId"],
                                                        "code": failure.get("Code")})
        if messages and what == "release":
            logger.info("released", extra={"messages": len(messages)})

    def _delete(self, message: dict, context: dict) -> None:
        try:
            self.sqs.delete_message(QueueUrl=self.settings.queue_url, ReceiptHandle=message["ReceiptHandle"])
        except Exception:  # it will be delivered again: handlers are idempotent
            logger.exception("delete failed", extra=context)


class _Heartbeat:
    """Extends the visibility of every held message once per interval."""

    def __init__(self, worker: Worker, held: Mapping[str, dict]) -> None:
        self.worker = worker
        self.held = held
        self.interval = worker.settings.heartbeat_interval_s
        self.due = time.monotonic() + self.interval

    def wait_s(self) -> float:
        until = self.due
        if self.worker.stopping:
            until = min(until, self.worker._deadline)
        return max(0.0, until - time.monotonic())

    def beat_if_due(self) -> None:
        now = time.monotonic()
        if now >= self.due:
            self.worker.extend(self.held.values())
            self.due = now + self.interval


# --- Lambda -------------------------------------------------------------------

_lambda_handler: Handler | None = None


def lambda_handler(event: dict, _context: object) -> dict:
    """SQS event source entry point: the same handler, with partial batch responses.

    A failed record is reported in ``batchItemFailures`` so only it is retried.
    On a FIFO queue the first failure also reports every record after it, as
    AWS requires to keep each group in order.
    """
    global _lambda_handler
    if _lambda_handler is None:
        _lambda_handler = load_handler(os.environ.get("WORKER_HANDLER") or Settings.handler)
    failures: list[dict] = []
    for record in event.get("Records", []):
        fifo = "MessageGroupId" in record.get("attributes", {})
        if failures and fifo:
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        try:
            _lambda_handler(record)
        except Exception:
            logger.exception("handler failed", extra={"message_id": record["messageId"]})
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


# --- process entry point -----------------------------------------------------

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created, tz=timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        data.update({k: v for k, v in vars(record).items() if k not in _RESERVED and not k.startswith("_")})
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)


def main() -> int:
    configure_logging(os.environ.get("LOG_LEVEL", "INFO"))
    worker = Worker(Settings.from_env())
    signal.signal(signal.SIGTERM, worker.request_stop)
    signal.signal(signal.SIGINT, worker.request_stop)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
