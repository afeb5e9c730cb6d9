"""WorkerFleetStack: the queue worker fleet as a deployable example.

A thumbnail service: producers enqueue one job per uploaded image; Fargate
workers in a NAT-less VPC drain the queue, reaching SQS, ECR, CloudWatch
Logs, KMS and ECS (scale-in protection) through interface endpoints and S3
(image layers) through the gateway endpoint. A worker needs about 2 s per image and a job may wait 5
minutes, so each worker is given a backlog of 300 / 2 = 150 messages.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from refarch import observe, secure
from refarch.worker_fleet import FARGATE_WORKER_ENDPOINTS, QueueWorkerFleet


class WorkerFleetStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, *, alarm_email: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        network = secure.Network(self, "Network", nat_gateways=0, interface_endpoints=FARGATE_WORKER_ENDPOINTS)
        self.fleet = QueueWorkerFleet(
            self,
            "Thumbnails",
            vpc=network.vpc,
            subnets=network.workload_subnets,
            avg_processing_time=cdk.Duration.seconds(2),
            max_acceptable_latency=cdk.Duration.minutes(5),
            min_workers=1,
            max_workers=20,
            alarm_topic=alarms.topic,
        )

        cdk.CfnOutput(self, "QueueUrl", value=self.fleet.queue.queue_url, description="Enqueue thumbnail jobs here")
        cdk.CfnOutput(self, "DeadLetterQueueUrl", value=self.fleet.dead_letter_queue.queue_url,
                      description="Jobs the workers failed max_receive_count times")
        cdk.CfnOutput(self, "ClusterName", value=self.fleet.cluster.cluster_name)
        cdk.CfnOutput(self, "ServiceName", value=self.fleet.service.service_name)
        cdk.CfnOutput(self, "LogGroupName", value=self.fleet.log_group.log_group_name, description="Worker logs (JSON)")
        cdk.CfnOutput(self, "TargetBacklogPerWorker", value=str(self.fleet.target_backlog_per_worker),
                      description="max_acceptable_latency / avg_processing_time")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.fleet.dashboard),
                      description="The pattern's CloudWatch dashboard")
