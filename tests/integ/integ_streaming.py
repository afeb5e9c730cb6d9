"""Integration app: streaming pipeline (docs/streaming.md) in a real account.

A small StreamPipeline (one shard's worth of traffic, 24 h retention, Firehose
buffering 60 s) with the example consumer (refarch/runtime/stream_consumer),
and proves:

1. the consumer processes a record put to the stream: its log holds the
   record's sequence number (its side effect, ``processed``);
2. Firehose writes an object under the archive prefix ``data/`` within its
   buffering interval (bounded wait);
3. the replay tool's core (``read_window`` + ``put_window``, run by a probe
   function) re-puts the window's records, and the consumer processes them again;
4. SetAlarmState on the consumer's dead-letter alarm reaches a probe queue
   subscribed to the alarm topic.
"""

import shutil
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import (PROBES, ROOT, alarm_reaches_topic, bounded, disposable, in_order, integ, invoked_by_assertion,
                     new_app)

from refarch import secure
from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline
from stacks.streaming_stack import CONSUMER_CODE

app = new_app()
stack = cdk.Stack(app, "IntegStreaming", description="refarch integ: streaming")
alarms = secure.AlarmTopic(stack, "Alarms")
pipeline = StreamPipeline(
    stack, "Clicks",
    write_mb_per_s=0.1, records_per_s=10,
    consumers=[LambdaConsumer(name="sessionizer", code=lambda_.Code.from_asset(str(CONSUMER_CODE)),
                              handler="app.handler", batch_size=10)],
    delivery=S3Delivery(buffering_interval=cdk.Duration.seconds(60), buffering_size_mib=1),
    alarm_topic=alarms.topic,
)

# The replay probe: the tool's module next to a small handler (content-hashed, so the asset is stable).
staging = Path(tempfile.mkdtemp(prefix="integ-replay-"))
shutil.copy(PROBES / "replay" / "index.py", staging / "index.py")
shutil.copy(ROOT / "refarch" / "tools" / "kinesis_replay.py", staging / "kinesis_replay.py")
replay = secure.python_function(
    stack, "IntegReplayProbe", code=lambda_.Code.from_asset(str(staging)), handler="index.handler",
    key=pipeline.encryption_key, timeout=cdk.Duration.minutes(2),
    environment={"STREAM_NAME": pipeline.stream.stream_name},
    description="integration probe: the replay tool's core re-puts a window",
)
pipeline.stream.grant(replay, "kinesis:ListShards", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator",
                      "kinesis:GetRecords", "kinesis:PutRecords")
pipeline.encryption_key.grant(replay, "kms:Decrypt", "kms:GenerateDataKey")
invoked_by_assertion(replay)
secure.acknowledge(replay, "AwsSolutions-L1", "integration-test probe: runtime is secure.LATEST_PYTHON, the newest")
disposable(stack)
test = integ(app, "Streaming", [stack])

consumer = pipeline.consumers["sessionizer"]
put = test.assertions.aws_api_call("Kinesis", "putRecord", {
    "StreamName": pipeline.stream.stream_name, "PartitionKey": "integ-click",
    "Data": '{"page": "/integ", "user": "integ"}'})
put.provider.add_to_role_policy({"Effect": "Allow", "Action": ["kms:GenerateDataKey*"],
                                 "Resource": [pipeline.encryption_key.key_arn]})
processed = test.assertions.aws_api_call("CloudWatchLogs", "filterLogEvents", {
    "logGroupName": consumer.function.log_group.log_group_name,
    "filterPattern": f'"{put.get_att_string("SequenceNumber")}"'})
processed.expect(ExpectedResult.object_like({"events": Match.array_with([
    Match.object_like({"message": Match.string_like_regexp("processed")})])}))

archived = test.assertions.aws_api_call("S3", "listObjectsV2", {
    "Bucket": pipeline.delivery.bucket.bucket_name, "Prefix": "data/"})
archived.expect(ExpectedResult.object_like({"KeyCount": Match.string_like_regexp("^[1-9]")}))

replayed = test.assertions.invoke_function(function_name=replay.function_name,
                                           payload='{"minutes": 30, "partition_key_prefix": "integ-"}')
replayed.expect(ExpectedResult.object_like({"Payload": Match.string_like_regexp('"replayed": ?[1-9]')}))
processed_again = test.assertions.aws_api_call("CloudWatchLogs", "filterLogEvents", {
    "logGroupName": consumer.function.log_group.log_group_name, "filterPattern": '"integ-click"'})
processed_again.expect(ExpectedResult.object_like({"events": Match.array_with([
    Match.object_like({"message": Match.string_like_regexp("processed")}),
    Match.object_like({"message": Match.string_like_regexp("processed")})])}))

in_order(put, bounded(processed), bounded(archived, cdk.Duration.minutes(8)), replayed,
         bounded(processed_again), alarm_reaches_topic(test, stack, consumer.alarms[0], alarms.topic))

app.synth()
