"""Fine-grained assertions: every StreamPipeline default, on the synthesized templates."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kinesis as kinesis
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template

from refarch import sizing
from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline
from stacks.streaming_stack import StreamingStack
from tests.cases.streaming import CASES, REPLAY_FROM
from tests.conftest import Assembly, new_app

MAIN = "StreamingStack"
CODE = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")


def _arn(assembly: Assembly, stack: str, path: str, attribute: str = "Arn") -> dict:
    return {"Fn::GetAtt": [assembly.resource_id(stack, path), attribute]}


def _ref(assembly: Assembly, stack: str, path: str) -> dict:
    return {"Ref": assembly.resource_id(stack, path)}


# --- the stream ------------------------------------------------------------------


def test_stream_is_encrypted_with_the_pattern_key_and_retained(assembly: Assembly) -> None:
    for stack, name in [(MAIN, "Clicks"), ("StreamingOnDemand", "Events"), ("StreamingProvisioned", "Telemetry")]:
        stream = assembly.resource(stack, f"{name}/Stream/Resource")
        assert stream["Properties"]["StreamEncryption"] == {
            "EncryptionType": "KMS", "KeyId": _arn(assembly, stack, f"{name}/Key/Resource")}
        assert stream["DeletionPolicy"] == stream["UpdateReplacePolicy"] == "Retain"


def test_shared_key_is_used_not_replaced(assembly: Assembly) -> None:
    stream = assembly.properties("StreamingEnhancedFanOut", "Orders/Stream/Resource")
    assert stream["StreamEncryption"]["KeyId"] == _arn(assembly, "StreamingEnhancedFanOut", "SharedKey/Resource")
    assert len(assembly.of_type("StreamingEnhancedFanOut", "AWS::KMS::Key")) == 1


def test_key_is_rotated_and_admits_logs_only_when_there_are_log_groups(assembly: Assembly) -> None:
    for stack, name, has_logs in [(MAIN, "Clicks", True), ("StreamingOnDemand", "Events", False)]:
        key = assembly.resource(stack, f"{name}/Key/Resource")
        assert key["Properties"]["EnableKeyRotation"] is True and key["Properties"]["PendingWindowInDays"] == 30
        assert key["DeletionPolicy"] == "Retain"
        sids = {s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]}
        assert ("AllowCloudWatchLogsToUseKey" in sids) is has_logs


def test_retention_defaults_to_24_hours(assembly: Assembly) -> None:
    assert assembly.properties("StreamingOnDemand", "Events/Stream/Resource")["RetentionPeriodHours"] == 24
    assert assembly.properties(MAIN, "Clicks/Stream/Resource")["RetentionPeriodHours"] == 7 * 24
    assert assembly.properties("StreamingProvisioned", "Telemetry/Stream/Resource")["RetentionPeriodHours"] == 30 * 24


def test_undeclared_workload_is_on_demand_without_shard_count(assembly: Assembly) -> None:
    stream = assembly.properties("StreamingOnDemand", "Events/Stream/Resource")
    assert stream["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and "ShardCount" not in stream
    forced = assembly.properties("StreamingFirehose", "Logs/Stream/Resource")
    assert forced["StreamModeDetails"] == {"StreamMode": "ON_DEMAND"} and "ShardCount" not in forced


@pytest.mark.parametrize(
    "stack, name, workload, shared_readers",
    [
        # sessionizer and fraud-check use enhanced fan-out; Firehose is the one shared reader.
        (MAIN, "Clicks", dict(write_mb_per_s=3, records_per_s=2500), 1),
        # one Lambda consumer, no enhanced fan-out: max(⌈1.5⌉, ⌈4200 ÷ 1000⌉, ⌈1.5 ÷ 2⌉) = 5.
        ("StreamingProvisioned", "Telemetry", dict(write_mb_per_s=1.5, records_per_s=4200), 1),
        # 'metrics' opted out of enhanced fan-out.
        ("StreamingEnhancedFanOut", "Orders", dict(write_mb_per_s=2), 1),
    ],
)
def test_provisioned_shards_are_the_computed_numbers(assembly: Assembly, stack, name, workload, shared_readers) -> None:
    expected = sizing.stream_capacity(**workload, shared_consumers=shared_readers).shards
    stream = assembly.properties(stack, f"{name}/Stream/Resource")
    assert stream["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert stream["ShardCount"] == expected
    assert (stack, expected) in {(MAIN, 3), ("StreamingProvisioned", 5), ("StreamingEnhancedFanOut", 2)}


# --- consumers ---------------------------------------------------------------------


def test_consumer_event_source_defaults(assembly: Assembly) -> None:
    stack = "StreamingEnhancedFanOut"
    esm = next(r["Properties"] for r in assembly.of_type(stack, "AWS::Lambda::EventSourceMapping").values()
               if r["Properties"]["FunctionName"] == _ref(assembly, stack, "Orders/SearchIndex/Function/Resource"))
    assert esm == {
        "BatchSize": 100,
        "BisectBatchOnFunctionError": True,
        "DestinationConfig": {"OnFailure": {"Destination": _arn(assembly, stack, "Orders/SearchIndex/DeadLetterQueue/Resource")}},
        "EventSourceArn": _arn(assembly, stack, "Orders/SearchIndex/StreamConsumer/Resource", "ConsumerARN"),
        "FunctionName": _ref(assembly, stack, "Orders/SearchIndex/Function/Resource"),
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumRecordAgeInSeconds": 3600,
        "MaximumRetryAttempts": 3,
        "ParallelizationFactor": 1,
        "StartingPosition": "TRIM_HORIZON",
    }


def test_consumer_options_are_passed_through(assembly: Assembly) -> None:
    sessionizer, fraud = (
        next(r["Properties"] for r in assembly.of_type(MAIN, "AWS::Lambda::EventSourceMapping").values()
             if r["Properties"]["FunctionName"] == _ref(assembly, MAIN, f"Clicks/{name}/Function/Resource"))
        for name in ("Sessionizer", "FraudCheck")
    )
    assert (sessionizer["BatchSize"], sessionizer["MaximumBatchingWindowInSeconds"], sessionizer["ParallelizationFactor"]) == (500, 1, 2)
    assert fraud["StartingPosition"] == "LATEST" and "MaximumBatchingWindowInSeconds" not in fraud
    aggregator = next(iter(assembly.of_type("StreamingProvisioned", "AWS::Lambda::EventSourceMapping").values()))["Properties"]
    assert aggregator["StartingPosition"] == "AT_TIMESTAMP"
    assert aggregator["StartingPositionTimestamp"] == REPLAY_FROM.timestamp()
    assert (aggregator["MaximumRetryAttempts"], aggregator["MaximumRecordAgeInSeconds"]) == (10, 6 * 3600)
    assert aggregator["BisectBatchOnFunctionError"] is False


def test_enhanced_fan_out_two_consumers_by_default_one_on_request_one_opted_out(assembly: Assembly) -> None:
    stack = "StreamingEnhancedFanOut"
    consumers = assembly.of_type(stack, "AWS::Kinesis::StreamConsumer")
    assert sorted(c["Properties"]["ConsumerName"] for c in consumers.values()) == ["audit", "search-index"]
    assert all(c["Properties"]["StreamARN"] == _arn(assembly, stack, "Orders/Stream/Resource") for c in consumers.values())
    sources = {r["Properties"]["FunctionName"]["Ref"]: r["Properties"]["EventSourceArn"]
               for r in assembly.of_type(stack, "AWS::Lambda::EventSourceMapping").values()}
    assert sources[assembly.resource_id(stack, "Orders/Audit/Function/Resource")] == _arn(
        assembly, stack, "Orders/Audit/StreamConsumer/Resource", "ConsumerARN")
    assert sources[assembly.resource_id(stack, "Orders/Metrics/Function/Resource")] == _arn(assembly, stack, "Orders/Stream/Resource")
    # One consumer alone reads with shared throughput.
    assert assembly.of_type("StreamingProvisioned", "AWS::Kinesis::StreamConsumer") == {}
    assert len(assembly.of_type(MAIN, "AWS::Kinesis::StreamConsumer")) == 2


def test_more_than_five_consumers_register_five_then_the_rest_after_the_first_five_are_active(assembly: Assembly) -> None:
    stack = "StreamingManyConsumers"
    consumer = {i: assembly.resource(stack, f"Events/Reader{i}/StreamConsumer/Resource") for i in range(1, 8)}
    [(wait_id, wait)] = assembly.of_type(stack, "Custom::KinesisConsumersActive").items()
    assert wait_id == assembly.resource_id(stack, "Events/ConsumerGroup1Active/Default")
    # The wait names the first five; the last two are registered only after it.
    assert wait["Properties"]["ConsumerARNs"] == [
        _arn(assembly, stack, f"Events/Reader{i}/StreamConsumer/Resource", "ConsumerARN") for i in range(1, 6)]
    assert all("DependsOn" not in consumer[i] for i in range(1, 6))
    assert all(consumer[i]["DependsOn"] == [wait_id] for i in (6, 7))
    function = _arn(assembly, stack, "Events/ConsumersActiveFunction/Resource")
    assert wait["Properties"]["ServiceToken"] == function and wait["Properties"]["ServiceTimeout"] == "600"
    fn = assembly.properties(stack, "Events/ConsumersActiveFunction/Resource")
    assert (fn["Handler"], fn["Timeout"]) == ("app.handler", 300)
    statements = assembly.properties(stack, "Events/ConsumersActiveFunctionRole/DefaultPolicy/Resource")[
        "PolicyDocument"]["Statement"]
    [describe] = [s for s in statements if s["Action"] == "kinesis:DescribeStreamConsumer"]
    assert describe["Resource"] == {"Fn::Join": ["", [_arn(assembly, stack, "Events/Stream/Resource"), "/consumer/*"]]}
    assert not [s for s in statements if s is not describe and "kinesis" in str(s["Action"])]


def test_five_or_fewer_registered_consumers_need_no_wait(assembly: Assembly) -> None:
    for stack in ("StreamingStack", "StreamingEnhancedFanOut"):
        assert assembly.of_type(stack, "Custom::KinesisConsumersActive") == {}
        assert len(assembly.of_type(stack, "AWS::Lambda::Function")) == len(assembly.of_type(stack, "AWS::Lambda::EventSourceMapping"))
    _, five = _pipeline(consumers=[LambdaConsumer(name=f"c{i}", code=CODE, handler="index.handler") for i in range(5)])
    assert five.consumer_groups_active == []


def test_eleven_consumers_register_in_groups_of_five_five_one() -> None:
    consumers = [LambdaConsumer(name=f"c{i}", code=CODE, handler="index.handler") for i in range(11)]
    # A consumer without enhanced fan-out is not registered and waits for nothing.
    stack, p = _pipeline(consumers=[*consumers, LambdaConsumer(name="shared", code=CODE, handler="index.handler",
                                                                enhanced_fan_out=False)])
    assert [w.node.id for w in p.consumer_groups_active] == ["ConsumerGroup1Active", "ConsumerGroup2Active"]
    resources = Template.from_stack(stack).to_json()["Resources"]
    waits = {k: r for k, r in resources.items() if r["Type"] == "Custom::KinesisConsumersActive"}
    by_name = {r["Properties"]["ConsumerName"]: (k, r) for k, r in resources.items()
               if r["Type"] == "AWS::Kinesis::StreamConsumer"}
    first, second = sorted(waits, key=lambda k: "Group2" in k)
    assert [a["Fn::GetAtt"][0] for a in waits[first]["Properties"]["ConsumerARNs"]] == [
        by_name[f"c{i}"][0] for i in range(5)]
    assert [a["Fn::GetAtt"][0] for a in waits[second]["Properties"]["ConsumerARNs"]] == [
        by_name[f"c{i}"][0] for i in range(5, 10)]
    assert [by_name[f"c{i}"][1].get("DependsOn") for i in range(11)] == [None] * 5 + [[first]] * 5 + [[second]]
    assert "shared" not in by_name


def test_consumer_dead_letter_queue_is_encrypted_kept_14_days_and_tls_only(assembly: Assembly) -> None:
    queue = assembly.resource(MAIN, "Clicks/Sessionizer/DeadLetterQueue/Resource")
    assert queue["Properties"] == {"KmsMasterKeyId": _arn(assembly, MAIN, "Clicks/Key/Resource"), "MessageRetentionPeriod": 1209600}
    assert queue["DeletionPolicy"] == "Retain"
    policy = assembly.properties(MAIN, "Clicks/Sessionizer/DeadLetterQueue/Policy/Resource")["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)


def test_consumer_function_defaults(assembly: Assembly) -> None:
    fn = assembly.properties(MAIN, "Clicks/Sessionizer/Function/Resource")
    assert fn["Runtime"] == "python3.14" and fn["Handler"] == "app.handler"
    assert (fn["Timeout"], fn["MemorySize"]) == (60, 256)
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": _ref(assembly, MAIN, "Clicks/Sessionizer/FunctionLogs/Resource")}
    logs = assembly.resource(MAIN, "Clicks/Sessionizer/FunctionLogs/Resource")
    assert logs["Properties"] == {"KmsKeyId": _arn(assembly, MAIN, "Clicks/Key/Resource"), "RetentionInDays": 365}


def test_consumer_role_is_least_privilege(assembly: Assembly) -> None:
    role = assembly.properties(MAIN, "Clicks/Sessionizer/FunctionRole/Resource")
    assert "ManagedPolicyArns" not in role
    statements = assembly.properties(MAIN, "Clicks/Sessionizer/FunctionRole/DefaultPolicy/Resource")["PolicyDocument"]["Statement"]
    by_resource = {str(s["Resource"]): s["Action"] for s in statements}
    key = str(_arn(assembly, MAIN, "Clicks/Key/Resource"))
    dlq = str(_arn(assembly, MAIN, "Clicks/Sessionizer/DeadLetterQueue/Resource"))
    consumer = str(_arn(assembly, MAIN, "Clicks/Sessionizer/StreamConsumer/Resource", "ConsumerARN"))
    # The on-failure destination: exact actions, no kms:GenerateDataKey*/ReEncrypt* wildcards.
    assert by_resource[dlq] == "sqs:SendMessage"
    assert by_resource[key] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert by_resource[consumer] == ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"]
    assert "kinesis:PutRecord" not in str(statements)
    star = [s for s in statements if s["Resource"] == "*"]
    assert len(star) == 1 and set(star[0]["Action"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}


# --- delivery to S3 ------------------------------------------------------------------


def test_firehose_reads_the_stream_and_writes_gzip_time_partitioned(assembly: Assembly) -> None:
    d = assembly.resource(MAIN, "Clicks/Delivery/DeliveryStream")
    role = _arn(assembly, MAIN, "Clicks/Delivery/Role/Resource")
    assert d["Properties"]["DeliveryStreamType"] == "KinesisStreamAsSource"
    assert d["Properties"]["KinesisStreamSourceConfiguration"] == {
        "KinesisStreamARN": _arn(assembly, MAIN, "Clicks/Stream/Resource"), "RoleARN": role}
    assert d["Properties"]["ExtendedS3DestinationConfiguration"] == {
        "BucketARN": _arn(assembly, MAIN, "Clicks/Delivery/Bucket/Resource"),
        "RoleARN": role,
        "Prefix": "data/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/!{timestamp:HH}/",
        "ErrorOutputPrefix": "errors/!{firehose:error-output-type}/!{timestamp:yyyy}/!{timestamp:MM}/!{timestamp:dd}/",
        "CompressionFormat": "GZIP",
        "BufferingHints": {"IntervalInSeconds": 300, "SizeInMBs": 64},
        "EncryptionConfiguration": {"KMSEncryptionConfig": {"AWSKMSKeyARN": _arn(assembly, MAIN, "Clicks/Key/Resource")}},
        "CloudWatchLoggingOptions": {
            "Enabled": True,
            "LogGroupName": _ref(assembly, MAIN, "Clicks/Delivery/Logs/Resource"),
            "LogStreamName": _ref(assembly, MAIN, "Clicks/Delivery/LogStream/Resource"),
        },
    }
    # Created only once its role may read the stream.
    assert assembly.resource_id(MAIN, "Clicks/Delivery/RolePolicy/Resource") in d["DependsOn"]


def test_custom_prefixes_and_buffering(assembly: Assembly) -> None:
    s3 = assembly.properties("StreamingFirehose", "Logs/Delivery/DeliveryStream")["ExtendedS3DestinationConfiguration"]
    assert s3["Prefix"] == "logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
    assert s3["ErrorOutputPrefix"] == "failed/!{firehose:error-output-type}/!{timestamp:yyyy-MM-dd}/"
    assert s3["BufferingHints"] == {"IntervalInSeconds": 60, "SizeInMBs": 16}


def test_firehose_role_is_least_privilege(assembly: Assembly) -> None:
    trust = assembly.properties(MAIN, "Clicks/Delivery/Role/Resource")["AssumeRolePolicyDocument"]["Statement"]
    # The condition Firehose documents for its role's trust, and only it:
    # https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html
    assert trust == [{"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "firehose.amazonaws.com"},
                      "Condition": {"StringEquals": {"sts:ExternalId": {"Ref": "AWS::AccountId"}}}}]
    statements = {s["Sid"]: s for s in
                  assembly.properties(MAIN, "Clicks/Delivery/RolePolicy/Resource")["PolicyDocument"]["Statement"]}
    bucket = _arn(assembly, MAIN, "Clicks/Delivery/Bucket/Resource")
    key = _arn(assembly, MAIN, "Clicks/Key/Resource")
    assert statements["ReadStream"]["Resource"] == _arn(assembly, MAIN, "Clicks/Stream/Resource")
    assert statements["ReadStream"]["Action"] == ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary",
                                                  "kinesis:GetRecords", "kinesis:GetShardIterator", "kinesis:ListShards"]
    assert statements["ListBucket"]["Resource"] == bucket
    assert statements["WriteObjects"]["Resource"] == [
        {"Fn::Join": ["", [bucket, "/data/*"]]}, {"Fn::Join": ["", [bucket, "/errors/*"]]}]
    assert statements["WriteObjects"]["Action"] == ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"]
    for sid, service in (("DecryptStream", "kinesis"), ("EncryptObjects", "s3")):
        assert statements[sid]["Resource"] == key
        via = statements[sid]["Condition"]["StringEquals"]["kms:ViaService"]
        assert via == {"Fn::Join": ["", [f"{service}.", {"Ref": "AWS::Region"}, ".amazonaws.com"]]}
    assert statements["LogDeliveryErrors"]["Action"] == "logs:PutLogEvents"
    assert set(statements) == {"ReadStream", "DecryptStream", "ListBucket", "WriteObjects", "EncryptObjects",
                               "LogDeliveryErrors"}
    assert "*" not in [s["Resource"] for s in statements.values()]


def test_archive_bucket_is_encrypted_versioned_logged_tls_only_with_lifecycle(assembly: Assembly) -> None:
    bucket = assembly.resource(MAIN, "Clicks/Delivery/Bucket/Resource")
    props = bucket["Properties"]
    assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"] == [{
        "BucketKeyEnabled": True,
        "ServerSideEncryptionByDefault": {"KMSMasterKeyID": _arn(assembly, MAIN, "Clicks/Key/Resource"), "SSEAlgorithm": "aws:kms"},
    }]
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    assert props["LoggingConfiguration"]["DestinationBucketName"] == _ref(assembly, MAIN, "Clicks/Delivery/AccessLogs/Resource")
    assert props["LifecycleConfiguration"]["Rules"] == [{
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 90},
        "Status": "Enabled",
        "Transitions": [{"StorageClass": "GLACIER_IR", "TransitionInDays": 90}],
    }]
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert bucket["DeletionPolicy"] == "Retain"
    policy = assembly.properties(MAIN, "Clicks/Delivery/Bucket/Policy/Resource")["PolicyDocument"]["Statement"]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in policy)
    custom = assembly.properties("StreamingFirehose", "Logs/Delivery/Bucket/Resource")["LifecycleConfiguration"]["Rules"][0]
    assert custom["ExpirationInDays"] == 400 and custom["Transitions"] == [{"StorageClass": "GLACIER_IR", "TransitionInDays": 30}]


def test_delivery_errors_are_logged_encrypted(assembly: Assembly) -> None:
    logs = assembly.resource(MAIN, "Clicks/Delivery/Logs/Resource")
    assert logs["Properties"] == {"KmsKeyId": _arn(assembly, MAIN, "Clicks/Key/Resource"), "RetentionInDays": 365}
    assert logs["DeletionPolicy"] == "Retain"
    assert assembly.properties(MAIN, "Clicks/Delivery/LogStream/Resource") == {
        "LogGroupName": _ref(assembly, MAIN, "Clicks/Delivery/Logs/Resource")}


# --- alarms ----------------------------------------------------------------------------


def _alarm(assembly: Assembly, stack: str, path: str) -> dict:
    return assembly.properties(stack, f"{path}/Resource")


def test_stream_alarms_carry_the_stream_name(assembly: Assembly) -> None:
    dims = [{"Name": "StreamName", "Value": _ref(assembly, MAIN, "Clicks/Stream/Resource")}]
    age = _alarm(assembly, MAIN, "Clicks/IteratorAgeAlarm")
    assert (age["Namespace"], age["MetricName"], age["Dimensions"]) == ("AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", dims)
    assert (age["Threshold"], age["Statistic"], age["Period"], age["EvaluationPeriods"], age["DatapointsToAlarm"]) == (
        300_000, "Maximum", 60, 3, 2)
    for kind, metric in (("Write", "WriteProvisionedThroughputExceeded"), ("Read", "ReadProvisionedThroughputExceeded")):
        a = _alarm(assembly, MAIN, f"Clicks/{kind}ThrottleAlarm")
        assert (a["Namespace"], a["MetricName"], a["Dimensions"]) == ("AWS/Kinesis", metric, dims)
        assert (a["Threshold"], a["Statistic"], a["EvaluationPeriods"], a["DatapointsToAlarm"]) == (0, "Sum", 5, 3)


def test_iterator_age_threshold_follows_max_acceptable_latency(assembly: Assembly) -> None:
    assert _alarm(assembly, "StreamingProvisioned", "Telemetry/IteratorAgeAlarm")["Threshold"] == 600_000
    assert _alarm(assembly, "StreamingProvisioned", "Telemetry/Aggregator/IteratorAgeAlarm")["Threshold"] == 600_000


@pytest.mark.parametrize("name", ["Sessionizer", "FraudCheck"])
def test_consumer_alarms_carry_the_function_name(assembly: Assembly, name: str) -> None:
    dims = [{"Name": "FunctionName", "Value": _ref(assembly, MAIN, f"Clicks/{name}/Function/Resource")}]
    errors = _alarm(assembly, MAIN, f"Clicks/{name}/ErrorsAlarm")
    assert (errors["Namespace"], errors["MetricName"], errors["Dimensions"]) == ("AWS/Lambda", "Errors", dims)
    assert (errors["Threshold"], errors["Statistic"], errors["ComparisonOperator"]) == (0, "Sum", "GreaterThanThreshold")
    age = _alarm(assembly, MAIN, f"Clicks/{name}/IteratorAgeAlarm")
    assert (age["MetricName"], age["Dimensions"], age["Threshold"]) == ("IteratorAge", dims, 300_000)
    dlq = _alarm(assembly, MAIN, f"Clicks/{name}/DeadLetterAlarm")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": _arn(
        assembly, MAIN, f"Clicks/{name}/DeadLetterQueue/Resource", "QueueName")}]


def test_firehose_freshness_alarm_carries_the_delivery_stream_name(assembly: Assembly) -> None:
    a = _alarm(assembly, MAIN, "Clicks/Delivery/FreshnessAlarm")
    assert (a["Namespace"], a["MetricName"]) == ("AWS/Firehose", "DeliveryToS3.DataFreshness")
    assert a["Dimensions"] == [{"Name": "DeliveryStreamName", "Value": {"Ref": assembly.resource_id(MAIN, "Clicks/Delivery/DeliveryStream")}}]
    assert a["Threshold"] == sizing.firehose_freshness_threshold_s(300) == 1200
    assert _alarm(assembly, "StreamingFirehose", "Logs/Delivery/FreshnessAlarm")["Threshold"] == 60 + 900


#: The dimension each namespace's alarms need to have data at all.
DIMENSION = {"AWS/Kinesis": "StreamName", "AWS/Lambda": "FunctionName", "AWS/SQS": "QueueName",
             "AWS/Firehose": "DeliveryStreamName"}


@pytest.mark.parametrize("stack, count", [(MAIN, 10), ("StreamingOnDemand", 3), ("StreamingProvisioned", 6),
                                          ("StreamingEnhancedFanOut", 12), ("StreamingFirehose", 4)])
def test_every_alarm_in_every_configuration_carries_its_dimension(assembly: Assembly, stack: str, count: int) -> None:
    alarms = assembly.of_type(stack, "AWS::CloudWatch::Alarm")
    assert len(alarms) == count
    for logical_id, alarm in alarms.items():
        props = alarm["Properties"]
        names = [d["Name"] for d in props.get("Dimensions", [])]
        assert names == [DIMENSION[props["Namespace"]]], (logical_id, names)
        assert all(d["Value"] for d in props["Dimensions"]), logical_id


def test_every_alarm_has_dimensions_and_notifies(assembly: Assembly) -> None:
    topic = _ref(assembly, MAIN, "Alarms/Topic/Resource")
    alarms = assembly.of_type(MAIN, "AWS::CloudWatch::Alarm")
    assert len(alarms) == 3 + 2 * 3 + 1  # stream, two consumers, delivery
    for alarm in alarms.values():
        props = alarm["Properties"]
        assert props["Dimensions"] and all(d["Value"] for d in props["Dimensions"])
        assert props["AlarmActions"] == props["OKActions"] == [topic]
        assert props["TreatMissingData"] == "notBreaching"
    # Without a topic the alarms exist and notify nobody.
    bare = assembly.of_type("StreamingOnDemand", "AWS::CloudWatch::Alarm")
    assert len(bare) == 3 and not any("AlarmActions" in a["Properties"] for a in bare.values())


# --- the stack -------------------------------------------------------------------------------


def test_stack_outputs_and_termination_protection(assembly: Assembly) -> None:
    outputs = assembly.template(MAIN)["Outputs"]
    assert set(outputs) == {"StreamName", "StreamArn", "ProducerRoleArn", "AlarmTopicArn", "ArchiveBucketName",
                            "DeliveryStreamName", "SessionizerDeadLetterQueueUrl", "FraudCheckDeadLetterQueueUrl",
                            "DashboardUrl"}
    assert outputs["StreamName"]["Value"] == _ref(assembly, MAIN, "Clicks/Stream/Resource")
    assert assembly.stacks[MAIN].termination_protection is True


def test_producer_role_may_only_write(assembly: Assembly) -> None:
    statements = assembly.properties(MAIN, "ProducerRole/DefaultPolicy/Resource")["PolicyDocument"]["Statement"]
    assert statements == [
        {"Action": ["kinesis:DescribeStreamSummary", "kinesis:ListShards", "kinesis:PutRecord", "kinesis:PutRecords"],
         "Effect": "Allow", "Resource": _arn(assembly, MAIN, "Clicks/Stream/Resource")},
        {"Action": "kms:GenerateDataKey", "Effect": "Allow", "Resource": _arn(assembly, MAIN, "Clicks/Key/Resource")},
    ]


def test_stateful_logical_ids_are_pinned(assembly: Assembly) -> None:
    # Renaming a construct changes these IDs: CloudFormation would replace the stream (losing its
    # records), the consumers (restarting from their starting position) and orphan the retained rest.
    stateful = {"AWS::Kinesis::Stream", "AWS::Kinesis::StreamConsumer", "AWS::KMS::Key", "AWS::SQS::Queue",
                "AWS::S3::Bucket", "AWS::Logs::LogGroup", "AWS::KinesisFirehose::DeliveryStream", "AWS::SNS::Topic"}
    resources = assembly.template(MAIN)["Resources"]
    assert sorted(k for k, r in resources.items() if r["Type"] in stateful) == [
        "AlarmsKey3C2381B3",
        "AlarmsTopic3A2DFEBA",
        "ClicksDeliveryAccessLogs6411FD25",
        "ClicksDeliveryBucketC0821855",
        "ClicksDeliveryDeliveryStream480775CC",
        "ClicksDeliveryLogsF3A3C1F6",
        "ClicksFraudCheckDeadLetterQueue41D44A23",
        "ClicksFraudCheckFunctionLogs557C1C42",
        "ClicksFraudCheckStreamConsumerBB174FE9",
        "ClicksKeyCE4F6D76",
        "ClicksSessionizerDeadLetterQueue7755A810",
        "ClicksSessionizerFunctionLogs77F85174",
        "ClicksSessionizerStreamConsumer932CBC4D",
        "ClicksStream351DBF42",
    ]


# --- construct API (no synthesis) ----------------------------------------------------------------


def _pipeline(**kwargs) -> tuple[cdk.Stack, StreamPipeline]:
    stack = cdk.Stack(new_app(), "Api")
    return stack, StreamPipeline(stack, "P", **kwargs)


def test_exposes_typed_attributes() -> None:
    _, p = _pipeline(write_mb_per_s=2, consumers=[LambdaConsumer(name="a", code=CODE, handler="index.handler")])
    assert isinstance(p.stream, kinesis.Stream) and p.delivery is None
    assert p.capacity == sizing.StreamCapacity(mode="PROVISIONED", shards=2,
                                               reason="workload declared: 2 shard(s) for writes and shared-throughput reads")
    a = p.consumers["a"]
    assert isinstance(a.function, lambda_.Function) and a.stream_consumer is None and len(a.alarms) == 3
    assert len(p.alarms) == 6


def test_pipeline_can_opt_every_consumer_out_of_enhanced_fan_out() -> None:
    consumers = [LambdaConsumer(name=n, code=CODE, handler="index.handler") for n in ("a", "b", "c")]
    _, shared = _pipeline(write_mb_per_s=2, consumers=consumers, enhanced_fan_out=False)
    _, efo = _pipeline(write_mb_per_s=2, consumers=consumers)
    # Three readers share each shard's 2 MB/s: ⌈3 x 2 ÷ 2⌉ = 3 shards; with enhanced fan-out, ⌈2 ÷ 1⌉ = 2.
    assert shared.capacity.shards == 3 and all(c.stream_consumer is None for c in shared.consumers.values())
    assert efo.capacity.shards == 2 and all(c.stream_consumer for c in efo.consumers.values())


def test_other_shared_readers_add_read_shards() -> None:
    _, p = _pipeline(write_mb_per_s=2, other_shared_readers=3)
    assert p.capacity.shards == 3


def test_grant_write_and_grant_read() -> None:
    stack, p = _pipeline()
    writer = iam.Role(stack, "Writer", assumed_by=iam.AccountRootPrincipal())
    reader = iam.Role(stack, "Reader", assumed_by=iam.AccountRootPrincipal())
    p.grant_write(writer)
    p.grant_read(reader)
    template = Template.from_stack(stack).to_json()
    policies = {k: r["Properties"]["PolicyDocument"]["Statement"] for k, r in template["Resources"].items()
                if r["Type"] == "AWS::IAM::Policy"}
    write = next(v for k, v in policies.items() if k.startswith("WriterDefaultPolicy"))
    read = next(v for k, v in policies.items() if k.startswith("ReaderDefaultPolicy"))
    write_actions = {a for s in write for a in _list(s["Action"])}
    read_actions = {a for s in read for a in _list(s["Action"])}
    assert {"kinesis:PutRecord", "kinesis:PutRecords", "kms:GenerateDataKey"} <= write_actions
    assert not any(a.startswith("kinesis:Get") for a in write_actions) and "kms:Decrypt" not in write_actions
    assert {"kinesis:GetRecords", "kinesis:GetShardIterator", "kms:Decrypt"} <= read_actions
    assert not any("Put" in a or "GenerateDataKey" in a for a in read_actions)


def test_every_option_reaches_the_template() -> None:
    """Non-default values of the props the cases leave at their defaults."""
    consumer = LambdaConsumer(name="a", code=CODE, handler="index.handler", runtime=lambda_.Runtime.PYTHON_3_12,
                              timeout=cdk.Duration.seconds(30), memory_size=512, environment={"TABLE": "t"},
                              reserved_concurrency=4)
    stack, p = _pipeline(write_mb_per_s=1, read_mb_per_s=3, consumers=[consumer], enhanced_fan_out=True,
                         delivery=S3Delivery(archive_after=None), removal_policy=cdk.RemovalPolicy.DESTROY,
                         log_retention=logs.RetentionDays.ONE_MONTH)
    # One consumer, enhanced fan-out on request; Firehose alone reads 3 MB/s shared: ⌈3 ÷ 2⌉ = 2 shards.
    assert p.consumers["a"].stream_consumer is not None and p.capacity.shards == 2
    resources = Template.from_stack(stack).to_json()["Resources"]
    [fn] = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Lambda::Function"]
    assert (fn["Runtime"], fn["Timeout"], fn["MemorySize"], fn["ReservedConcurrentExecutions"]) == ("python3.12", 30, 512, 4)
    assert fn["Environment"] == {"Variables": {"TABLE": "t"}} and "KmsKeyArn" in fn
    logs_ = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert len(logs_) == 2 and all(r["Properties"]["RetentionInDays"] == 30 for r in logs_)
    stateful = [r for r in resources.values() if r["Type"] in {"AWS::Kinesis::Stream", "AWS::KMS::Key", "AWS::SQS::Queue",
                                                              "AWS::Logs::LogGroup"}]
    assert stateful and all(r["DeletionPolicy"] == "Delete" for r in stateful)
    [bucket] = [r for r in resources.values() if r["Type"] == "AWS::S3::Bucket"
                and "LifecycleConfiguration" in r["Properties"] and "LoggingConfiguration" in r["Properties"]]
    assert "Transitions" not in bucket["Properties"]["LifecycleConfiguration"]["Rules"][0]
    assert bucket["DeletionPolicy"] == "Delete"


@pytest.mark.parametrize("stack_id", ["StreamingStack", *CASES])
def test_synthesizes_without_feature_flags(stack_id: str) -> None:
    """A user's older app has none of the project's feature flags (empty context): the pattern sets what it
    relies on itself (the archive's access logging failed here with "objectOwnership must be set to
    ObjectWriter when accessControl is LogDeliveryWrite")."""
    app = cdk.App()
    stack = StreamingStack(app, stack_id) if stack_id == "StreamingStack" else CASES[stack_id](app)
    resources = Template.from_stack(stack).to_json()["Resources"]
    assert any(r["Type"] == "AWS::Kinesis::Stream" for r in resources.values())
    assert not any("AccessControl" in r.get("Properties", {}) for r in resources.values())


def _list(value):
    return value if isinstance(value, list) else [value]
