"""StreamingStack: the Kinesis pipeline as a deployable example.

A clickstream: web servers write about 3 MB/s in 2,500 records/s;

* ``sessionizer`` and ``fraud-check`` read every record, each through an
  enhanced fan-out consumer of its own (two consumers: used automatically);
* Firehose archives every record to S3, GZIP-compressed, partitioned by hour;
* records stay re-readable for 7 days (replay with ``refarch.tools.kinesis_replay``).

The shards: Firehose is the one shared-throughput reader, so
max(⌈3 ÷ 1⌉, ⌈2500 ÷ 1000⌉, ⌈3 × 1 ÷ 2⌉) = 3.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from refarch import observe, secure
from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline

CONSUMER_CODE = Path(__file__).resolve().parents[1] / "refarch" / "runtime" / "stream_consumer"


class StreamingStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, alarm_email: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        code = lambda_.Code.from_asset(str(CONSUMER_CODE))
        self.pipeline = StreamPipeline(
            self,
            "Clicks",
            write_mb_per_s=3,
            records_per_s=2500,
            retention=cdk.Duration.days(7),
            consumers=[
                LambdaConsumer(name="sessionizer", code=code, handler="app.handler", batch_size=500,
                               max_batching_window=cdk.Duration.seconds(1), parallelization_factor=2),
                LambdaConsumer(name="fraud-check", code=code, handler="app.handler",
                               starting_position=lambda_.StartingPosition.LATEST),
            ],
            delivery=S3Delivery(),
            alarm_topic=alarms.topic,
        )
        # Producers assume this role (web servers, an ingestion API) to write clicks.
        producer = iam.Role(
            self, "ProducerRole", assumed_by=iam.AccountRootPrincipal(), description="Writes clicks to the stream"
        )
        self.pipeline.grant_write(producer)
        secure.acknowledge_inline_policies(producer)

        pipeline = self.pipeline
        cdk.CfnOutput(self, "StreamName", value=pipeline.stream.stream_name, description="Write clicks here")
        cdk.CfnOutput(self, "StreamArn", value=pipeline.stream.stream_arn)
        cdk.CfnOutput(self, "ProducerRoleArn", value=producer.role_arn, description="Assume to write to the stream")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.pipeline.dashboard),
                      description="The pattern's CloudWatch dashboard")
        if pipeline.delivery:
            cdk.CfnOutput(self, "ArchiveBucketName", value=pipeline.delivery.bucket.bucket_name)
            cdk.CfnOutput(self, "DeliveryStreamName", value=pipeline.delivery.delivery_stream.ref)
        for name, consumer in pipeline.consumers.items():
            cdk.CfnOutput(
                self, f"{consumer.node.id}DeadLetterQueueUrl", value=consumer.dead_letter_queue.queue_url,
                description=f"Batches the {name} consumer gave up on (re-read them with kinesis_replay)",
            )
