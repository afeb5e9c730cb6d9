"""refarch.tools.kinesis_replay against a scripted Kinesis client and against moto.

moto never rejects a PutRecords entry, pages ListShards, reshards with
records left in a closed parent or expires a shard iterator, so retries of
failed entries, batch limits, pagination, lineage order and stop conditions
are driven here by a fake client, and an expired iterator is injected into a
moto stream by a wrapper around its client (the renewal itself,
AFTER_SEQUENCE_NUMBER, runs in moto). GetRecords pacing is measured with an
injected clock and sleep. The end-to-end window read and re-put run against
moto in tests/test_streaming_behaviour.py.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from refarch.tools import kinesis_replay as replay

T0 = dt.datetime(2026, 11, 21, 8, 0, tzinfo=dt.timezone.utc)


def _rec(i: int, key: str = "k", size: int = 10, shard: str = "shardId-0") -> replay.Record:
    return replay.Record(shard, str(i), key, T0 + dt.timedelta(seconds=i), bytes([i % 256]) * size)


class FakePut:
    """PutRecords that fails the entries named in ``fail`` for the first ``times`` calls they appear in."""

    def __init__(self, fail: set[bytes] = frozenset(), times: int = 1) -> None:
        self.calls: list[list[dict]] = []
        self.fail = fail
        self.times = times
        self.failed: dict[bytes, int] = {}

    def put_records(self, *, Records: list[dict], **stream) -> dict:
        assert stream == {"StreamName": "target"}
        self.calls.append(Records)
        results = []
        for entry in Records:
            if entry["Data"] in self.fail and self.failed.get(entry["Data"], 0) < self.times:
                self.failed[entry["Data"]] = self.failed.get(entry["Data"], 0) + 1
                results.append({"ErrorCode": "ProvisionedThroughputExceededException", "ErrorMessage": "slow down"})
            else:
                results.append({"SequenceNumber": "1", "ShardId": "shardId-0"})
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def test_only_failed_entries_are_retried_with_backoff_and_keys_kept() -> None:
    records = [_rec(i, key=f"user-{i}") for i in range(5)]
    client = FakePut(fail={records[1].data, records[3].data})
    sleeps: list[float] = []
    sent = replay.put_window(client, "target", records, sleep=sleeps.append, base_delay_s=0.5)
    assert sent == 5
    assert [[e["PartitionKey"] for e in call] for call in client.calls] == [
        ["user-0", "user-1", "user-2", "user-3", "user-4"], ["user-1", "user-3"]]
    assert sleeps == [0.5]


def test_backoff_doubles_until_max_attempts_then_reports_what_was_not_sent() -> None:
    records = [_rec(i) for i in range(3)]
    client = FakePut(fail={records[2].data}, times=99)
    sleeps: list[float] = []
    with pytest.raises(replay.ReplayError, match=re.escape("1 record(s) still failed after 4 attempts; 2 were sent")) as err:
        replay.put_window(client, "target", records, max_attempts=4, sleep=sleeps.append, base_delay_s=0.1)
    assert sleeps == [0.1, 0.2, 0.4]
    assert err.value.unsent == [records[2]]


def test_batches_respect_500_records_and_5_mib() -> None:
    client = FakePut()
    replay.put_window(client, "target", [_rec(i) for i in range(1201)], sleep=lambda s: None)
    assert [len(c) for c in client.calls] == [500, 500, 201]
    big = FakePut()
    # 3 records of 2 MiB: two would exceed 5 MiB with the third, so 2 + 1.
    replay.put_window(big, "target", [_rec(i, size=2 * 1024 * 1024) for i in range(3)], sleep=lambda s: None)
    assert [len(c) for c in big.calls] == [2, 1]
    assert all(sum(len(e["Data"]) + len(e["PartitionKey"]) for e in c) <= replay.MAX_BATCH_BYTES for c in big.calls)


def test_put_window_rejects_zero_attempts() -> None:
    with pytest.raises(ValueError, match=re.escape("max_attempts must be at least 1 (got 0)")):
        replay.put_window(FakePut(), "target", [_rec(1)], max_attempts=0)


class FakeRead:
    """A stream with a parent shard split into two children, paged ListShards and scripted GetRecords."""

    def __init__(self, pages: dict[str, list[dict]]) -> None:
        self.pages = pages
        self.iterators: list[dict] = []
        self.list_calls: list[dict] = []

    def list_shards(self, **kwargs) -> dict:
        self.list_calls.append(kwargs)
        if "NextToken" not in kwargs:
            return {"Shards": [{"ShardId": "child-a", "ParentShardId": "parent"}], "NextToken": "t1"}
        return {"Shards": [{"ShardId": "child-b", "ParentShardId": "parent"}, {"ShardId": "parent"}]}

    def get_shard_iterator(self, **kwargs) -> dict:
        self.iterators.append(kwargs)
        return {"ShardIterator": f"{kwargs['ShardId']}#0"}

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict:
        shard, page = ShardIterator.split("#")
        return self.pages[shard][int(page)]


def _r(minute: int, key: str = "k") -> dict:
    return {"SequenceNumber": str(minute), "PartitionKey": key, "Data": b"x",
            "ApproximateArrivalTimestamp": T0 + dt.timedelta(minutes=minute)}


def _page(shard: str, n: int, records: list[dict], *, behind: int = 0, last: bool = False) -> dict:
    return {"Records": records, "MillisBehindLatest": behind, "NextShardIterator": None if last else f"{shard}#{n + 1}"}


def test_read_window_pages_shards_reads_parents_first_and_stops_at_each_end() -> None:
    client = FakeRead({
        # closed parent: read until NextShardIterator is None
        "parent": [_page("parent", 0, [_r(1), _r(2)]), _page("parent", 1, [_r(3)], last=True)],
        # an empty page while still behind is not the end; a record at the window end is
        "child-a": [_page("child-a", 0, [], behind=5000), _page("child-a", 1, [_r(4), _r(10), _r(11)])],
        # caught up (no records, nothing behind): stop
        "child-b": [_page("child-b", 0, [_r(5)]), _page("child-b", 1, [])],
    })
    records = list(replay.read_window(client, "arn:aws:kinesis:us-east-1:1:stream/s", T0, T0 + dt.timedelta(minutes=10),
                                      sleep=lambda _s: None))
    assert [(r.shard_id, r.sequence_number) for r in records] == [
        ("parent", "1"), ("parent", "2"), ("parent", "3"), ("child-a", "4"), ("child-b", "5")]
    assert client.list_calls == [{"StreamARN": "arn:aws:kinesis:us-east-1:1:stream/s"}, {"NextToken": "t1"}]
    assert all(i["ShardIteratorType"] == "AT_TIMESTAMP" and i["Timestamp"] == T0 for i in client.iterators)


def test_read_window_rejects_naive_and_inverted_windows() -> None:
    with pytest.raises(ValueError, match="must be timezone-aware"):
        list(replay.read_window(FakeRead({}), "s", T0.replace(tzinfo=None), T0))
    with pytest.raises(ValueError, match=re.escape("end must be after start")):
        list(replay.read_window(FakeRead({}), "s", T0, T0))


def test_record_json_line() -> None:
    assert _rec(1, key="user-1", size=3).to_json() == {
        "shard_id": "shardId-0", "sequence_number": "1", "partition_key": "user-1",
        "approximate_arrival_timestamp": "2026-11-21T08:00:01+00:00", "data": "AQEB"}


@pytest.mark.parametrize(
    "args, message",
    [
        (["--start", "2026-11-21T08:00:00", "--end", "2026-11-21T09:00:00Z"], "needs a time zone"),
        (["--start", "yesterday", "--end", "2026-11-21T09:00:00Z"], "not an ISO 8601 time: 'yesterday'"),
    ],
)
def test_cli_rejects_bad_times(args: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        replay.main(["--stream", "s", *args])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_cli_rejects_inverted_window_and_self_replay_into_the_future() -> None:
    err = io.StringIO()
    assert replay.main(["--stream", "s", "--start", "2026-11-21T09:00:00Z", "--end", "2026-11-21T08:00:00Z"],
                       err=err) == 2
    assert "must be after --start" in err.getvalue()
    err = io.StringIO()
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    assert replay.main(["--stream", "s", "--start", "2026-11-21T08:00:00Z", "--end", future, "--to-stream", "s"],
                       err=err) == 2
    assert "would read its own records" in err.getvalue()


def test_cli_reports_unsent_records_and_exits_1(monkeypatch: pytest.MonkeyPatch) -> None:
    unsent = [_rec(7, key="user-7")]

    def failing_put(*args, **kwargs):
        raise replay.ReplayError("1 record(s) still failed after 5 attempts; 0 were sent", unsent)

    monkeypatch.setattr(replay, "read_window", lambda *a, **k: iter(unsent))
    monkeypatch.setattr(replay, "put_window", failing_put)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    err = io.StringIO()
    code = replay.main(["--stream", "s", "--start", "2026-11-21T08:00:00Z", "--end", "2026-11-21T09:00:00Z",
                        "--to-stream", "t"], err=err)
    assert code == 1
    assert "still failed" in err.getvalue() and '"partition_key": "user-7"' in err.getvalue()


class FailingPut:
    """PutRecords that fails outright, as boto3 does once its own retries are spent."""

    def put_records(self, **_kwargs) -> dict:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": "ResourceNotFoundException", "Message": "no such stream"}}, "PutRecords")


def test_a_put_call_that_fails_outright_reports_the_batch_in_flight() -> None:
    records = [_rec(i) for i in range(3)]
    with pytest.raises(replay.ReplayError, match=re.escape("0 were sent, the rest of the window was not read")) as err:
        replay.put_window(FailingPut(), "target", records, sleep=lambda s: None)
    assert err.value.unsent == records


@pytest.mark.parametrize("value, message", [("0", "must be at least 1 (got 0)"), ("two", "not a whole number: 'two'")])
def test_cli_rejects_max_attempts_below_one(value: str, message: str, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        replay.main(["--stream", "s", "--start", "2026-11-21T08:00:00Z", "--end", "2026-11-21T09:00:00Z",
                     "--to-stream", "t", "--max-attempts", value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_cli_sees_a_name_and_an_arn_of_the_same_stream_as_one() -> None:
    future = (dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()
    for source, target in (("clicks", "arn:aws:kinesis:us-east-1:123456789012:stream/clicks"),
                           ("arn:aws:kinesis:us-east-1:123456789012:stream/clicks", "clicks")):
        err = io.StringIO()
        assert replay.main(["--stream", source, "--start", "2026-11-21T08:00:00Z", "--end", future,
                            "--to-stream", target], err=err) == 2
        assert "would read its own records" in err.getvalue()


# --- expired iterators and pacing, against moto -------------------------------------

REGION = "us-east-1"


class FakeClock:
    """time.monotonic and time.sleep for read_window: sleeping advances the clock, and so does each call."""

    def __init__(self, call_cost_s: float = 0.0) -> None:
        self.now = 100.0
        self.call_cost_s = call_cost_s
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class Wrapped:
    """A moto Kinesis client whose GetRecords fails with ExpiredIteratorException on the calls numbered in
    ``expire`` (counting from 1), and records when each call was made. (moto's iterators are deterministic:
    a renewed one can equal the expired one, so expiry is by call, not by iterator.)"""

    def __init__(self, client, *, expire: set[int] = frozenset(), clock: FakeClock | None = None) -> None:
        self.client = client
        self.expire = set(expire)
        self.clock = clock
        self.calls: list[tuple[str, float | None]] = []  # (iterator's shard, clock at the call)
        self.iterator_requests: list[dict] = []
        self.shard_of: dict[str, str] = {}

    def __getattr__(self, name):
        return getattr(self.client, name)

    def get_shard_iterator(self, **kwargs) -> dict:
        self.iterator_requests.append(kwargs)
        response = self.client.get_shard_iterator(**kwargs)
        self.shard_of[response["ShardIterator"]] = kwargs["ShardId"]
        return response

    def get_records(self, *, ShardIterator: str, Limit: int) -> dict:
        self.calls.append((self.shard_of.get(ShardIterator, "?"), self.clock() if self.clock else None))
        if self.clock:
            self.clock.now += self.clock.call_cost_s
        if len(self.calls) in self.expire:
            raise ClientError({"Error": {"Code": "ExpiredIteratorException",
                                         "Message": "Iterator expired. The iterator was created at time ..."}},
                              "GetRecords")
        page = self.client.get_records(ShardIterator=ShardIterator, Limit=Limit)
        if page.get("NextShardIterator"):
            self.shard_of[page["NextShardIterator"]] = self.shard_of.get(ShardIterator, "?")
        return page


@pytest.fixture
def moto_stream(monkeypatch: pytest.MonkeyPatch):
    """A one-shard moto stream holding 25 records, and the sequence numbers in the order they were put."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        client = boto3.client("kinesis", region_name=REGION)
        client.create_stream(StreamName="clicks", ShardCount=1)
        sequences = [client.put_record(StreamName="clicks", Data=f"r{i}".encode(), PartitionKey=f"k{i}")["SequenceNumber"]
                     for i in range(25)]
        yield client, sequences


def _window() -> tuple[dt.datetime, dt.datetime]:
    now = dt.datetime.now(dt.timezone.utc)
    return now - dt.timedelta(hours=1), now + dt.timedelta(hours=1)


@pytest.mark.parametrize("expire", [{2}, {2, 4}, {4}])
def test_an_expired_iterator_is_renewed_after_the_last_record_read_nothing_lost_or_repeated(moto_stream, expire) -> None:
    client, sequences = moto_stream
    wrapped = Wrapped(client, expire=expire)
    start, end = _window()
    records = list(replay.read_window(wrapped, "clicks", start, end, limit=10, sleep=lambda _s: None))
    assert [r.sequence_number for r in records] == sequences
    assert [r.data for r in records] == [f"r{i}".encode() for i in range(25)]
    renewals = wrapped.iterator_requests[1:]
    assert len(renewals) == len(expire)
    # Each renewal starts just after the last record read before its iterator expired (pages of 10; {4}
    # expires the call at the tip, after all 25).
    reads_before = [min(25, 10 * sum(1 for c in range(1, n) if c not in expire)) for n in sorted(expire)]
    assert renewals == [{"StreamName": "clicks", "ShardId": "shardId-000000000000",
                         "ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "StartingSequenceNumber": sequences[n - 1]}
                        for n in reads_before]


def test_an_iterator_that_expires_before_any_record_is_read_restarts_at_the_window_start(moto_stream) -> None:
    client, sequences = moto_stream
    wrapped = Wrapped(client, expire={1})
    start, end = _window()
    records = list(replay.read_window(wrapped, "clicks", start, end, limit=10, sleep=lambda _s: None))
    assert [r.sequence_number for r in records] == sequences
    assert [(r["ShardIteratorType"], r.get("Timestamp")) for r in wrapped.iterator_requests] == [
        ("AT_TIMESTAMP", start), ("AT_TIMESTAMP", start)]


def test_an_iterator_that_keeps_expiring_is_an_error_not_a_loop(moto_stream) -> None:
    client, _ = moto_stream
    wrapped = Wrapped(client, expire=set(range(1, 100)))
    start, end = _window()
    with pytest.raises(ClientError, match="ExpiredIteratorException"):
        list(replay.read_window(wrapped, "clicks", start, end, limit=10, sleep=lambda _s: None))
    assert len(wrapped.calls) == 1 + replay.MAX_CONSECUTIVE_RENEWALS


def test_other_errors_are_not_taken_for_expiry() -> None:
    class Throttled(FakeRead):
        def get_records(self, **_kwargs) -> dict:
            raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}},
                              "GetRecords")

    with pytest.raises(ClientError, match="ProvisionedThroughputExceeded"):
        list(replay.read_window(Throttled({}), "s", T0, T0 + dt.timedelta(minutes=1), sleep=lambda _s: None))


@pytest.mark.parametrize("rate, cost, expected_sleep", [(1.0, 0.0, 1.0), (1.0, 0.25, 0.75), (2.0, 0.0, 0.5)])
def test_get_records_calls_to_a_shard_are_paced(moto_stream, rate: float, cost: float, expected_sleep: float) -> None:
    client, sequences = moto_stream
    clock = FakeClock(call_cost_s=cost)
    wrapped = Wrapped(client, clock=clock)
    start, end = _window()
    records = list(replay.read_window(wrapped, "clicks", start, end, limit=10, reads_per_second=rate,
                                      sleep=clock.sleep, clock=clock))
    assert [r.sequence_number for r in records] == sequences
    # 25 records in pages of 10, then an empty page at the tip: 4 calls, a wait before each but the first.
    assert len(wrapped.calls) == 4
    assert clock.sleeps == pytest.approx([expected_sleep] * 3)
    times = [t for _, t in wrapped.calls]
    assert all(b - a >= 1 / rate - 1e-9 for a, b in zip(times, times[1:]))


def test_a_slow_caller_is_not_made_to_wait_again() -> None:
    clock = FakeClock(call_cost_s=1.5)  # each call takes longer than the interval
    client = FakeRead({"parent": [_page("parent", 0, [_r(1)]), _page("parent", 1, [_r(2)], last=True)],
                       "child-a": [_page("child-a", 0, [], last=True)], "child-b": [_page("child-b", 0, [], last=True)]})
    original = client.get_records

    def timed(**kwargs):
        clock.now += clock.call_cost_s
        return original(**kwargs)

    client.get_records = timed
    list(replay.read_window(client, "s", T0, T0 + dt.timedelta(minutes=10), sleep=clock.sleep, clock=clock))
    assert clock.sleeps == []


def test_the_first_call_to_each_shard_is_not_delayed() -> None:
    clock = FakeClock()
    client = FakeRead({"parent": [_page("parent", 0, [_r(1)], last=True)],
                       "child-a": [_page("child-a", 0, [_r(4)], last=True)],
                       "child-b": [_page("child-b", 0, [_r(5)], last=True)]})
    records = list(replay.read_window(client, "s", T0, T0 + dt.timedelta(minutes=10), sleep=clock.sleep, clock=clock))
    assert len(records) == 3 and clock.sleeps == []


@pytest.mark.parametrize("rate", [0, -1, 5.5])
def test_read_window_rejects_a_rate_outside_the_shard_limit(rate: float) -> None:
    with pytest.raises(ValueError, match=re.escape(f"reads_per_second must be above 0 and at most 5 (got {rate!r})")):
        list(replay.read_window(FakeRead({}), "s", T0, T0 + dt.timedelta(minutes=1), reads_per_second=rate))


@pytest.mark.parametrize("value, message", [("0", "must be above 0 and at most 5"), ("6", "must be above 0 and at most 5"),
                                            ("fast", "not a number: 'fast'")])
def test_cli_rejects_reads_per_second_outside_the_shard_limit(value: str, message: str,
                                                              capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        replay.main(["--stream", "s", "--start", "2026-11-21T08:00:00Z", "--end", "2026-11-21T09:00:00Z",
                     "--reads-per-second", value])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_cli_passes_the_rate_and_the_sleep_to_the_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_read(*_args, **kwargs):
        seen.update(kwargs)
        return iter(())

    monkeypatch.setattr(replay, "read_window", fake_read)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    sleep = lambda _s: None  # noqa: E731
    assert replay.main(["--stream", "s", "--start", "2026-11-21T08:00:00Z", "--end", "2026-11-21T09:00:00Z",
                        "--reads-per-second", "0.5"], out=io.StringIO(), err=io.StringIO(), sleep=sleep) == 0
    assert seen == {"reads_per_second": 0.5, "sleep": sleep}
