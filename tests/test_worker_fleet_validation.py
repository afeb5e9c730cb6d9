"""Every bad QueueWorkerFleet input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Annotations, Match

from refarch.worker_fleet import FargateWorkers, LambdaWorkers, QueueWorkerFleet
from tests.conftest import new_app

S = cdk.Duration.seconds


def _stack() -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(new_app(), "Bad")
    return stack, ec2.Vpc(stack, "Vpc", max_azs=2)


VPC = object()  # replaced by the test stack's VPC
OK = dict(vpc=VPC, avg_processing_time=S(1))
LAMBDA = dict(avg_processing_time=S(1))

CASES = {
    # workload numbers
    "processing time zero": (dict(OK, avg_processing_time=S(0)), "avg_processing_time must be positive (got '0 s')"),
    "latency below one second": (dict(OK, max_acceptable_latency=cdk.Duration.millis(500)),
                                 "max_acceptable_latency must be at least 1 s (got '0.5 s')"),
    "latency not greater than processing time": (
        dict(OK, avg_processing_time=S(90), max_acceptable_latency=S(90)),
        "max_acceptable_latency must be greater than avg_processing_time (90 s): a message cannot wait less than "
        "it takes to process (got '90 s')"),
    "root user": (dict(OK, compute=FargateWorkers(user="0:0")),
                  "compute.user must name a non-root user (uid, uid:gid or a name other than root) (got '0:0')"),
    # workers
    "max_workers zero": (dict(OK, max_workers=0), "max_workers must be a whole number, at least 1 (got 0)"),
    "max_workers not whole": (dict(OK, max_workers=2.5), "max_workers must be a whole number, at least 1 (got 2.5)"),
    "min_workers negative": (dict(OK, min_workers=-1), "min_workers must be a whole number, at least 0 (0 scales to zero) (got -1)"),
    "min greater than max": (dict(OK, min_workers=5, max_workers=4),
                             "min_workers must not be greater than max_workers (4) (got 5)"),
    # queue
    "max_receive_count zero": (dict(OK, max_receive_count=0),
                               "max_receive_count must be a whole number from 1 to 1000 (got 0)"),
    "retention too long": (dict(OK, retention_period=cdk.Duration.days(15)),
                           "retention_period must be between 60 s and 14 days (got '1296000 s')"),
    "retention not longer than latency": (
        dict(OK, retention_period=cdk.Duration.minutes(5)),
        "retention_period must be longer than max_acceptable_latency (300 s), or messages expire before they are late"),
    # Fargate
    "Fargate without a vpc": (dict(avg_processing_time=S(1)),
                              "vpc is required for Fargate workers (they run in its private subnets) (got None)"),
    "Fargate cpu": (dict(OK, compute=FargateWorkers(cpu=300)),
                    "compute.cpu must be one of Fargate's [256, 512, 1024, 2048, 4096, 8192, 16384] (got 300)"),
    "Fargate memory for cpu": (dict(OK, compute=FargateWorkers(cpu=1024, memory_limit_mib=1024)),
                               "compute.memory_limit_mib must be a memory size Fargate offers with 1024 CPU units "
                               "(2048-8192 MiB in steps of 1024) (got 1024)"),
    "Fargate memory for quarter vCPU": (dict(OK, compute=FargateWorkers(memory_limit_mib=1536)),
                                        "(512-2048 MiB: 512, 1024 or 2048) (got 1536)"),
    "stop timeout below a long poll": (dict(OK, compute=FargateWorkers(stop_timeout=S(20))),
                                       "compute.stop_timeout must be whole seconds from 25 (a 20 s long poll plus 5 s "
                                       "to hand messages back) to 120 (Fargate's maximum) (got '20 s')"),
    "stop timeout above Fargate's": (dict(OK, compute=FargateWorkers(stop_timeout=S(121))), "(got '121 s')"),
    # the SIGTERM grace and SQS's 12-hour cap
    "grace shorter than a job without scale-in protection": (
        dict(OK, avg_processing_time=S(60), compute=FargateWorkers(scale_in_protection=False)),
        "compute.stop_timeout leaves the worker 25 s after SIGTERM, less than avg_processing_time (60 s): without "
        "scale_in_protection every scale-in and deployment would abandon the job in hand; keep "
        "scale_in_protection=True or raise stop_timeout (got '30 s')"),
    "grace shorter than a job at Fargate's longest stop timeout": (
        dict(OK, avg_processing_time=S(116), compute=FargateWorkers(scale_in_protection=False, stop_timeout=S(120))),
        "compute.stop_timeout leaves the worker 115 s after SIGTERM, less than avg_processing_time (116 s)"),
    "batch_size zero": (dict(OK, compute=FargateWorkers(batch_size=0)),
                        "compute.batch_size must be a whole number from 1 to 10 (got 0)"),
    "batch_size above a receive": (dict(OK, compute=FargateWorkers(batch_size=11)),
                                   "compute.batch_size must be a whole number from 1 to 10 (got 11)"),
    "job longer than SQS's 12 hours": (
        dict(OK, avg_processing_time=cdk.Duration.hours(13), max_acceptable_latency=cdk.Duration.days(2),
             compute=FargateWorkers(batch_size=1)),
        "avg_processing_time must be under 12 hours: SQS hides a received message for at most 12 hours in total, "
        "so a longer job is handed to a second worker while the first still runs (use AWS Batch or Step "
        "Functions) (got '46800 s')"),
    "batch of long jobs past SQS's 12 hours": (
        dict(OK, avg_processing_time=cdk.Duration.hours(2), max_acceptable_latency=cdk.Duration.days(1)),
        "compute.batch_size x avg_processing_time (7200 s) must fit in SQS's 12-hour cap on a received message's "
        "total visibility: the worker works through a batch one message at a time, so the last would reappear "
        "before its turn; lower batch_size (got 10)"),
    "visibility below 3 s": (dict(OK, compute=FargateWorkers(visibility_timeout=S(2))),
                             "compute.visibility_timeout must be whole seconds from 3 s (the worker extends it every "
                             "third) to 12 hours (got '2 s')"),
    "handler without function": (dict(OK, compute=FargateWorkers(handler="handlers")),
                                 "compute.handler must be module:function, e.g. 'handlers:log_message' (got 'handlers')"),
    "reserved environment": (dict(OK, compute=FargateWorkers(environment={"WORKER_BATCH_SIZE": "1", "X": "1"})),
                             "compute.environment must not set WORKER_* or AWS_* variables: the fleet sets them "
                             "(got ['WORKER_BATCH_SIZE'])"),
    "ECS Exec on a read-only root": (dict(OK, compute=FargateWorkers(enable_execute_command=True)),
                                     "compute.enable_execute_command needs read_only_root_filesystem=False: ECS "
                                     "Exec's SSM agent writes to the container's root filesystem and does not start "
                                     "on a read-only one (got True)"),
    "compute of another kind": (dict(OK, compute="fargate"), "compute must be FargateWorkers or LambdaWorkers (got 'fargate')"),
    # Lambda
    "Lambda with a vpc": (dict(OK, compute=LambdaWorkers()), "vpc applies to Fargate workers only: Lambda workers run outside a VPC"),
    "Lambda with subnets": (dict(LAMBDA, compute=LambdaWorkers(), subnets=ec2.SubnetSelection(subnet_group_name="Private")),
                            "subnets applies to Fargate workers only: Lambda workers run outside a VPC"),
    "Lambda with min_workers": (dict(LAMBDA, compute=LambdaWorkers(), min_workers=0),
                                "min_workers applies to Fargate workers only: Lambda scales its pollers from zero itself (got 0)"),
    "Lambda max_workers 1": (dict(LAMBDA, compute=LambdaWorkers(), max_workers=1),
                             "max_workers must be 2 to 1000 for Lambda workers (the SQS event source's maximum concurrency) (got 1)"),
    "Lambda max_workers 1001": (dict(LAMBDA, compute=LambdaWorkers(), max_workers=1001), "(got 1001)"),
    "Lambda timeout above 15 min": (dict(LAMBDA, compute=LambdaWorkers(timeout=cdk.Duration.minutes(16))),
                                    "compute.timeout must be whole seconds from 1 s to 15 minutes (got '960 s')"),
    "Lambda timeout not whole seconds": (dict(LAMBDA, compute=LambdaWorkers(timeout=cdk.Duration.millis(1500))),
                                         "compute.timeout must be whole seconds from 1 s to 15 minutes (got '1.5 s')"),
    "Lambda reserved concurrency below max_workers": (
        dict(LAMBDA, compute=LambdaWorkers(reserved_concurrency=5)),
        "compute.reserved_concurrency must be a whole number of at least max_workers (10), or None (got 5)"),
    "Lambda timeout shorter than a batch": (dict(LAMBDA, compute=LambdaWorkers(timeout=S(5))),
                                            "compute.timeout must cover a full batch: batch_size 10 x "
                                            "avg_processing_time 1 s (got '5 s')"),
    "Lambda memory": (dict(LAMBDA, compute=LambdaWorkers(memory_size=64)),
                      "compute.memory_size must be 128 to 10240 MiB (got 64)"),
    "FIFO Lambda batch above 10": (dict(LAMBDA, fifo=True, compute=LambdaWorkers(batch_size=11, timeout=S(60))),
                                   "compute.batch_size must be 1 to 10 for a FIFO queue (got 11)"),
    "FIFO Lambda batching window": (dict(LAMBDA, fifo=True, compute=LambdaWorkers(max_batching_window=S(5))),
                                    "compute.max_batching_window is not supported for FIFO queues (got '5 s')"),
    "Lambda batch above 10 without window": (dict(LAMBDA, compute=LambdaWorkers(batch_size=20, timeout=S(60))),
                                             "compute.batch_size above 10 needs a max_batching_window of at least 1 s (got 20)"),
    "Lambda batching window above 300 s": (dict(LAMBDA, compute=LambdaWorkers(max_batching_window=S(301))),
                                           "compute.max_batching_window must be 0 to 300 s (got '301 s')"),
}


def _resolve(kwargs: dict, vpc: ec2.Vpc) -> dict:
    return {k: (vpc if v is VPC else v) for k, v in kwargs.items()}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_rejected_with_its_prop_and_value(case: str) -> None:
    kwargs, message = CASES[case]
    stack, vpc = _stack()
    with pytest.raises(ValueError, match=re.escape(message)):
        QueueWorkerFleet(stack, "Fleet", **_resolve(kwargs, vpc))


@pytest.mark.parametrize("prop, value", [("fifo", True), ("max_receive_count", 3), ("retention_period", S(600))])
def test_new_queue_settings_with_an_existing_queue(prop: str, value) -> None:
    stack, vpc = _stack()
    queue = sqs.Queue(stack, "Jobs", dead_letter_queue=sqs.DeadLetterQueue(queue=sqs.Queue(stack, "Dlq"),
                                                                            max_receive_count=3))
    with pytest.raises(ValueError, match=re.escape(f"{prop} is a setting of the existing queue; set it there")):
        QueueWorkerFleet(stack, "Fleet", vpc=vpc, queue=queue, avg_processing_time=S(1), **{prop: value})


def test_existing_queue_without_a_dead_letter_queue() -> None:
    stack, vpc = _stack()
    with pytest.raises(ValueError, match=re.escape("queue must have a dead-letter queue") + ".*got 'Bad/Jobs'"):
        QueueWorkerFleet(stack, "Fleet", vpc=vpc, queue=sqs.Queue(stack, "Jobs"), avg_processing_time=S(1))


def test_dead_letter_queue_only_with_an_existing_queue() -> None:
    stack, vpc = _stack()
    with pytest.raises(ValueError, match="dead_letter_queue is only for an existing queue; a new queue gets its own"):
        QueueWorkerFleet(stack, "Fleet", vpc=vpc, dead_letter_queue=sqs.Queue(stack, "Dlq"), avg_processing_time=S(1))


def test_existing_fifo_queue_limits_the_lambda_batch() -> None:
    stack = cdk.Stack(new_app(), "Bad")
    dlq = sqs.Queue(stack, "Dlq", fifo=True)
    queue = sqs.Queue(stack, "Jobs", fifo=True, visibility_timeout=cdk.Duration.minutes(30),
                      dead_letter_queue=sqs.DeadLetterQueue(queue=dlq, max_receive_count=3))
    with pytest.raises(ValueError, match=re.escape("compute.batch_size must be 1 to 10 for a FIFO queue (got 11)")):
        QueueWorkerFleet(stack, "Fleet", queue=queue, avg_processing_time=S(1),
                         compute=LambdaWorkers(batch_size=11, timeout=S(60)))


def test_existing_queue_visibility_too_short_for_lambda() -> None:
    # A FanOut subscriber queue without a Lambda consumer keeps SQS's 30 s default.
    stack = cdk.Stack(new_app(), "Bad")
    queue = sqs.Queue(stack, "Jobs", dead_letter_queue=sqs.DeadLetterQueue(queue=sqs.Queue(stack, "Dlq"),
                                                                            max_receive_count=3))
    with pytest.raises(ValueError, match=re.escape(
            "queue must be at least 6 x compute.timeout + batching window = 180 s for Lambda workers "
            "(got 'visibility timeout 30 s')")):
        QueueWorkerFleet(stack, "Fleet", queue=queue, avg_processing_time=S(1), compute=LambdaWorkers())


def test_long_jobs_are_accepted_with_scale_in_protection_or_a_grace_that_covers_them() -> None:
    stack, vpc = _stack()
    # 5-minute jobs outlast any SIGTERM grace: fine while workers protect themselves (the default).
    QueueWorkerFleet(stack, "Protected", vpc=vpc, avg_processing_time=cdk.Duration.minutes(5),
                     max_acceptable_latency=cdk.Duration.hours(1))
    # Without protection, the grace must cover the job: 115 s after SIGTERM for 115 s jobs.
    QueueWorkerFleet(stack, "Graceful", vpc=vpc, avg_processing_time=S(115),
                     compute=FargateWorkers(scale_in_protection=False, stop_timeout=S(120)))
    # Twelve one-hour jobs... one at a time: a batch of one fits SQS's 12 hours.
    QueueWorkerFleet(stack, "Hourly", vpc=vpc, avg_processing_time=cdk.Duration.hours(1),
                     max_acceptable_latency=cdk.Duration.hours(12), compute=FargateWorkers(batch_size=1))


def test_imported_queue_for_lambda_warns_that_its_visibility_is_unchecked() -> None:
    stack = cdk.Stack(new_app(), "Warn")
    queue = sqs.Queue.from_queue_arn(stack, "Jobs", "arn:aws:sqs:us-east-1:111122223333:jobs")
    QueueWorkerFleet(stack, "Fleet", queue=queue, avg_processing_time=S(1),
                     compute=LambdaWorkers(max_batching_window=S(10)))
    Annotations.from_stack(stack).has_warning(
        "/Warn/Fleet",
        Match.string_like_regexp(re.escape(
            "The imported queue's visibility timeout cannot be checked here: it must be at least 6 x "
            "compute.timeout + batching window = 190 s")),
    )


def test_queue_created_in_the_app_is_checked_not_warned() -> None:
    stack = cdk.Stack(new_app(), "NoWarn")
    queue = sqs.Queue(stack, "Jobs", visibility_timeout=cdk.Duration.minutes(3),
                      dead_letter_queue=sqs.DeadLetterQueue(queue=sqs.Queue(stack, "Dlq"), max_receive_count=3))
    QueueWorkerFleet(stack, "Fleet", queue=queue, avg_processing_time=S(1), compute=LambdaWorkers())
    Annotations.from_stack(stack).has_no_warning("*", Match.string_like_regexp("visibility timeout cannot be checked"))
