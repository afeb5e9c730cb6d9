"""QueueWorkerFleet configurations: Lambda compute, scale to zero (FIFO, x86, ECS Exec, one long job per
receive), a FanOut subscriber's queue (short jobs, no scale-in protection, so no ECS endpoint)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs

from refarch import secure
from refarch.fanout import FanOut, Subscriber
from refarch.worker_fleet import FARGATE_WORKER_ENDPOINTS, FargateWorkers, LambdaWorkers, QueueWorkerFleet


def lambda_compute(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "WorkerFleetLambda")
    alarms = secure.AlarmTopic(stack, "Alarms")
    QueueWorkerFleet(
        stack,
        "Reports",
        avg_processing_time=cdk.Duration.millis(500),
        max_acceptable_latency=cdk.Duration.minutes(2),
        compute=LambdaWorkers(
            handler="handlers:require_json",
            timeout=cdk.Duration.seconds(60),
            batch_size=50,
            max_batching_window=cdk.Duration.seconds(10),
        ),
        max_workers=25,
        alarm_topic=alarms.topic,
    )
    return stack


def scale_to_zero(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "WorkerFleetScaleToZero")
    network = secure.Network(
        stack,
        "Network",
        interface_endpoints=[*FARGATE_WORKER_ENDPOINTS, ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES],
    )
    QueueWorkerFleet(
        stack,
        "Exports",
        vpc=network.vpc,
        avg_processing_time=cdk.Duration.seconds(30),
        max_acceptable_latency=cdk.Duration.minutes(15),
        min_workers=0,
        max_workers=4,
        fifo=True,
        max_receive_count=3,
        compute=FargateWorkers(
            cpu=1024,
            memory_limit_mib=2048,
            cpu_architecture=ecs.CpuArchitecture.X86_64,
            stop_timeout=cdk.Duration.seconds(120),
            visibility_timeout=cdk.Duration.minutes(2),
            environment={"EXPORT_FORMAT": "parquet"},
            enable_execute_command=True,
            read_only_root_filesystem=False,  # ECS Exec's agent needs a writable root
            batch_size=1,  # a worker takes one export at a time; the others stay in the queue for the fleet
        ),
    )
    return stack


def fanout_subscriber(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "WorkerFleetFanOutSubscriber")
    network = secure.Network(stack, "Network", interface_endpoints=secure.WORKER_ENDPOINTS)
    orders = FanOut(stack, "Orders", subscribers=[Subscriber(name="invoicing"), Subscriber(name="audit")])
    QueueWorkerFleet(
        stack,
        "Invoicing",
        vpc=network.vpc,
        queue=orders.subscribers["invoicing"].queue,
        avg_processing_time=cdk.Duration.millis(600),
        max_acceptable_latency=cdk.Duration.minutes(1),
        # 0.6 s jobs finish well within the 25 s SIGTERM grace: no protection calls, no ECS endpoint needed.
        compute=FargateWorkers(scale_in_protection=False),
    )
    return stack


CASES = {
    "WorkerFleetLambda": lambda_compute,
    "WorkerFleetScaleToZero": scale_to_zero,
    "WorkerFleetFanOutSubscriber": fanout_subscriber,
}
