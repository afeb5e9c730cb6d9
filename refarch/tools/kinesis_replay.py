"""Re-read a time window of a Kinesis data stream; print it or re-put it.

    # the records that arrived between 08:00 and 09:00 UTC, as JSON lines
    python -m refarch.tools.kinesis_replay --stream STREAM \\
        --start 2026-11-21T08:00:00Z --end 2026-11-21T09:00:00Z > window.jsonl

    # the same window, written again into a stream (the same one, or a scratch one)
    python -m refarch.tools.kinesis_replay --stream STREAM \\
        --start 2026-11-21T08:00:00Z --end 2026-11-21T09:00:00Z --to-stream TARGET

Every shard that the window may touch is read, parents before children (so a
resharded stream replays in order), from an ``AT_TIMESTAMP`` shard iterator at
``--start``; a shard stops at its first record that arrived at or after
``--end``, when it is closed, or when it has caught up with the tip.
``GetRecords`` calls are paced to ``--reads-per-second`` per shard (default
1): a shard serves 5 calls a second shared by every polling reader, Firehose
included, so a replay must not take them all. A shard iterator expires 5
minutes after it was issued (e.g. while re-putting backs off); the tool then
asks for a new one just after the last record it read (``AFTER_SEQUENCE_NUMBER``),
or at ``--start`` again if it has read none, so nothing is lost or read twice. Each
JSON line carries the shard, sequence number, partition key, arrival time and
the data (base64). Re-putting keeps each record's partition key, sends
``PutRecords`` batches of at most 500 records and 5 MiB, and retries only the
entries that failed, with exponential backoff; what still fails after
``--max-attempts`` (or a batch whose ``PutRecords`` call fails outright) is
reported and the tool exits 1, so nothing is dropped silently. Re-putting into
the source stream needs an ``--end`` in the past (a name and an ARN of the
same stream count as the same). Replayed records are new records to
consumers: make them idempotent.

Credentials, region and endpoint come from the usual boto3 sources
(``AWS_PROFILE``, ``AWS_REGION``, ...) or ``--region`` / ``--endpoint-url``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

#: PutRecords limits: 500 records and 5 MiB (data plus partition keys) per request.
MAX_BATCH_RECORDS = 500
MAX_BATCH_BYTES = 5 * 1024 * 1024
#: GetRecords returns at most 10,000 records a call.
READ_LIMIT = 10_000
#: A shard serves 5 GetRecords calls a second, shared by every reader that polls it (Firehose, KCL, Lambda
#: without enhanced fan-out): https://docs.aws.amazon.com/kinesis/latest/APIReference/API_GetRecords.html
SHARD_READS_PER_S = 5
#: What a replay takes of them by default, leaving the other 4 to the stream's own readers.
DEFAULT_READS_PER_S = 1.0
#: Renewing an iterator that expires again at once means something else is wrong (the clock, the stream).
MAX_CONSECUTIVE_RENEWALS = 3


@dataclass(frozen=True)
class Record:
    """One record read back from the stream, as the replay writes it out."""

    shard_id: str
    """The shard it was read from."""
    sequence_number: str
    """Its sequence number in that shard."""
    partition_key: str
    """The partition key it was written with."""
    arrival: dt.datetime
    """When Kinesis received it (``ApproximateArrivalTimestamp``)."""
    data: bytes
    """The payload."""

    def to_json(self) -> dict[str, str]:
        return {
            "shard_id": self.shard_id,
            "sequence_number": self.sequence_number,
            "partition_key": self.partition_key,
            "approximate_arrival_timestamp": self.arrival.isoformat(),
            "data": base64.b64encode(self.data).decode("ascii"),
        }


class ReplayError(RuntimeError):
    """Records could not be re-put; ``unsent`` holds them."""

    def __init__(self, message: str, unsent: Sequence[Record]) -> None:
        super().__init__(message)
        self.unsent = list(unsent)


def _stream(stream: str) -> dict[str, str]:
    """The API parameter naming the stream: an ARN or a name."""
    return {"StreamARN": stream} if stream.startswith("arn:") else {"StreamName": stream}


def shards_in_order(kinesis: Any, stream: str) -> list[dict]:
    """Every shard of ``stream`` (open and closed, within retention), parents first."""
    shards: list[dict] = []
    kwargs: dict[str, Any] = _stream(stream)
    while True:
        page = kinesis.list_shards(**kwargs)
        shards.extend(page["Shards"])
        if not page.get("NextToken"):
            break
        kwargs = {"NextToken": page["NextToken"]}  # ListShards takes the token alone
    by_id = {s["ShardId"]: s for s in shards}
    ordered: list[dict] = []
    done: set[str] = set()

    def visit(shard: dict) -> None:
        if shard["ShardId"] in done:
            return
        done.add(shard["ShardId"])
        for parent in (shard.get("ParentShardId"), shard.get("AdjacentParentShardId")):
            if parent in by_id:
                visit(by_id[parent])
        ordered.append(shard)

    for shard in shards:
        visit(shard)
    return ordered


def _expired(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") == "ExpiredIteratorException"


def read_window(
    kinesis: Any,
    stream: str,
    start: dt.datetime,
    end: dt.datetime,
    *,
    reads_per_second: float = DEFAULT_READS_PER_S,
    limit: int = READ_LIMIT,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Record]:
    """Yield the records that arrived in ``[start, end)``, shard by shard, in order.

    At most ``reads_per_second`` ``GetRecords`` calls a second go to a shard
    (``sleep`` waits out the rest of the interval, measured with ``clock``).
    An expired iterator is renewed after the last record read from the shard,
    or at ``start`` if none was, so each record is yielded exactly once.
    """
    if start.tzinfo is None or end.tzinfo is None:
        raise ValueError(f"start and end must be timezone-aware (got {start!r}, {end!r})")
    if end <= start:
        raise ValueError(f"end must be after start (got start {start.isoformat()}, end {end.isoformat()})")
    if not 0 < reads_per_second <= SHARD_READS_PER_S:
        raise ValueError(f"reads_per_second must be above 0 and at most {SHARD_READS_PER_S} (got {reads_per_second!r})")
    interval_s = 1 / reads_per_second
    for shard in shards_in_order(kinesis, stream):
        shard_id = shard["ShardId"]

        def new_iterator(after: str | None, shard_id: str = shard_id) -> str:
            position: dict[str, Any] = (
                {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": after}
                if after is not None
                else {"ShardIteratorType": "AT_TIMESTAMP", "Timestamp": start}
            )
            return kinesis.get_shard_iterator(**_stream(stream), ShardId=shard_id, **position)["ShardIterator"]

        last_sequence: str | None = None  # of the last record read from this shard, in the window or not
        iterator = new_iterator(None)
        last_call: float | None = None
        renewals = 0
        while iterator:
            if last_call is not None:
                wait = interval_s - (clock() - last_call)
                if wait > 0:
                    sleep(wait)
            last_call = clock()
            try:
                page = kinesis.get_records(ShardIterator=iterator, Limit=limit)
            except ClientError as error:
                if not _expired(error) or renewals >= MAX_CONSECUTIVE_RENEWALS:
                    raise
                renewals += 1
                iterator = new_iterator(last_sequence)
                continue
            renewals = 0
            past_end = False
            for r in page["Records"]:
                arrival = r["ApproximateArrivalTimestamp"]
                if arrival >= end:
                    past_end = True
                    break
                last_sequence = r["SequenceNumber"]
                if arrival >= start:
                    yield Record(shard_id, r["SequenceNumber"], r["PartitionKey"], arrival, r["Data"])
            caught_up = not page["Records"] and page.get("MillisBehindLatest", 0) == 0
            if past_end or caught_up:
                break
            iterator = page.get("NextShardIterator")  # None once a closed shard is read to its end


def _batches(records: Iterable[Record]) -> Iterator[list[Record]]:
    batch: list[Record] = []
    size = 0
    for record in records:
        record_size = len(record.data) + len(record.partition_key.encode())
        if batch and (len(batch) == MAX_BATCH_RECORDS or size + record_size > MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += record_size
    if batch:
        yield batch


def put_window(
    kinesis: Any,
    stream: str,
    records: Iterable[Record],
    *,
    max_attempts: int = 5,
    base_delay_s: float = 0.2,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Re-put ``records`` into ``stream`` with their partition keys; return how many were sent.

    Entries a ``PutRecords`` call rejects (throttled, internal failure) are
    retried alone after ``base_delay_s * 2**attempt``; raises
    :class:`ReplayError` with the ones still failing after ``max_attempts``,
    or with the batch in flight when a call fails outright.
    """
    if max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1 (got {max_attempts!r})")
    sent = 0
    for batch in _batches(records):
        pending = batch
        for attempt in range(max_attempts):
            if attempt:
                sleep(base_delay_s * 2 ** (attempt - 1))
            try:
                response = kinesis.put_records(
                    **_stream(stream),
                    Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in pending],
                )
            except (BotoCoreError, ClientError) as error:  # the client's own retries are spent
                raise ReplayError(
                    f"PutRecords failed ({error}); {sent} were sent, the rest of the window was not read", pending
                ) from error
            failed = [r for r, result in zip(pending, response["Records"], strict=True) if result.get("ErrorCode")]
            sent += len(pending) - len(failed)
            pending = failed
            if not pending:
                break
        if pending:
            raise ReplayError(
                f"{len(pending)} record(s) still failed after {max_attempts} attempts; {sent} were sent", pending
            )
    return sent


def _stream_name(stream: str) -> str:
    """The name part of a stream ARN (``arn:aws:kinesis:<region>:<account>:stream/<name>``), or the name."""
    return stream.rsplit(":stream/", 1)[-1] if stream.startswith("arn:") else stream


def _attempts(value: str) -> int:
    try:
        attempts = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {value!r}") from None
    if attempts < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {attempts})")
    return attempts


def _reads_per_second(value: str) -> float:
    try:
        rate = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not 0 < rate <= SHARD_READS_PER_S:
        raise argparse.ArgumentTypeError(
            f"must be above 0 and at most {SHARD_READS_PER_S}, a shard's GetRecords limit (got {value})"
        )
    return rate


def _timestamp(value: str) -> dt.datetime:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {value!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"needs a time zone, e.g. {value}Z or {value}+00:00")
    return parsed


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m refarch.tools.kinesis_replay",
        description="Re-read a time window of a Kinesis stream; write JSON lines to stdout or re-put the records.",
    )
    parser.add_argument("--stream", required=True, help="source stream name or ARN")
    parser.add_argument("--start", required=True, type=_timestamp, help="window start (inclusive), ISO 8601 with zone")
    parser.add_argument("--end", required=True, type=_timestamp, help="window end (exclusive), ISO 8601 with zone")
    parser.add_argument("--to-stream", help="re-put the records into this stream (name or ARN) instead of printing")
    parser.add_argument("--max-attempts", type=_attempts, default=5, help="PutRecords attempts per batch (default 5)")
    parser.add_argument(
        "--reads-per-second",
        type=_reads_per_second,
        default=DEFAULT_READS_PER_S,
        help=f"GetRecords calls per second per shard, of the {SHARD_READS_PER_S} it serves to all its readers "
        f"(default {DEFAULT_READS_PER_S:g})",
    )
    parser.add_argument("--region", help="AWS region (default: from the environment)")
    parser.add_argument("--endpoint-url", help="a Kinesis endpoint other than AWS's (e.g. a local emulator)")
    return parser


def main(
    argv: Sequence[str] | None = None,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The command line (``python -m refarch.tools.kinesis_replay --help``); returns the exit status."""
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    if args.end <= args.start:
        print(f"error: --end ({args.end.isoformat()}) must be after --start ({args.start.isoformat()})", file=err)
        return 2
    # A name and an ARN can name the same stream.
    same_stream = args.to_stream is not None and _stream_name(args.to_stream) == _stream_name(args.stream)
    if same_stream and args.end > dt.datetime.now(dt.timezone.utc):
        print("error: --end must not be in the future when re-putting into the source stream, "
              "or the replay would read its own records", file=err)
        return 2
    kinesis = boto3.client(
        "kinesis",
        region_name=args.region,
        endpoint_url=args.endpoint_url,
        config=Config(retries={"mode": "standard", "max_attempts": 10}),  # GetRecords throttles at 5 calls/s/shard
    )
    records = read_window(kinesis, args.stream, args.start, args.end, reads_per_second=args.reads_per_second,
                          sleep=sleep)
    if not args.to_stream:
        count = 0
        for record in records:
            out.write(json.dumps(record.to_json()) + "\n")
            count += 1
        print(f"{count} record(s) from {args.stream}", file=err)
        return 0
    try:
        sent = put_window(kinesis, args.to_stream, records, max_attempts=args.max_attempts, sleep=sleep)
    except ReplayError as failure:
        print(f"error: {failure}", file=err)
        for record in failure.unsent:
            print(json.dumps(record.to_json()), file=err)
        return 1
    print(f"{sent} record(s) from {args.stream} put into {args.to_stream}", file=err)
    return 0


if __name__ == "__main__":
    sys.exit(main())
