"""Integration probe: the replay tool's core (refarch/tools/kinesis_replay.py,
copied next to this file at synthesis) re-puts the last minutes of a stream."""

import datetime as dt
import os

import boto3

import kinesis_replay


def handler(event, _context):
    kinesis = boto3.client("kinesis")
    stream = os.environ["STREAM_NAME"]
    end = dt.datetime.now(dt.timezone.utc)
    start = end - dt.timedelta(minutes=int(event.get("minutes", 30)))
    records = list(kinesis_replay.read_window(kinesis, stream, start, end))
    wanted = [r for r in records if r.partition_key.startswith(event.get("partition_key_prefix", ""))]
    sent = kinesis_replay.put_window(kinesis, stream, wanted)
    return {"read": len(records), "replayed": sent}
