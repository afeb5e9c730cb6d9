"""Secure building blocks shared by every refarch pattern.

Each helper creates one resource with the defaults a production account wants
(customer-managed keys with rotation, TLS-only policies, dead-letter queues,
log retention, alarms with their dimensions) so that a pattern module reads as
wiring, not as a checklist. Only aws_cdk and constructs are imported: copy this
file beside a pattern module and it works in your own app.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

#: SQS keeps a message at most 14 days; a dead-letter queue keeps it that long.
DLQ_RETENTION = cdk.Duration.days(14)
#: Default retention of the log groups the patterns create.
LOG_RETENTION = logs.RetentionDays.ONE_YEAR
#: The newest Python runtime Lambda offers in aws-cdk-lib 2.275.
LATEST_PYTHON = lambda_.Runtime.PYTHON_3_14


# --- validation and checker plumbing ----------------------------------------


def require(ok: bool, prop: str, value: Any, rule: str) -> None:
    """Raise ``ValueError("<prop> <rule> (got <value>)")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{prop} {rule} (got {value!r})")


def acknowledge(construct: Construct, rule: str, reason: str) -> None:
    """Acknowledge one cdk-nag finding on ``construct`` (and its children).

    ``rule`` is the pack-qualified id, e.g. ``AwsSolutions::AwsSolutions-IAM5``.
    Call it on the smallest construct that carries the finding; the reason is
    written into the template metadata.
    """
    require(bool(reason.strip()), "reason", reason, "must say why the finding is acceptable")
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule, reason=reason))


def checkov_skip(resource: cdk.CfnResource, check: str, reason: str) -> None:
    """Skip one checkov check on one resource, with the reason beside it."""
    require(bool(reason.strip()), "reason", reason, "must say why the check does not apply")
    metadata = resource.get_metadata("checkov") or {}
    skips = list(metadata.get("skip", []))
    skips.append({"id": check, "comment": reason})
    resource.add_metadata("checkov", {"skip": skips})


def cfn_lint_ignore(resource: cdk.CfnResource, check: str, reason: str) -> None:
    """Ignore one cfn-lint check on one resource, with the reason beside it."""
    require(bool(reason.strip()), "reason", reason, "must say why the check does not apply")
    metadata = resource.get_metadata("cfn-lint") or {}
    ignored = [*metadata.get("config", {}).get("ignore_checks", []), check]
    reasons = {**metadata.get("reasons", {}), check: reason}
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": ignored}, "reasons": reasons})


# --- keys ---------------------------------------------------------------------


def encryption_key(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
) -> kms.Key:
    """A customer-managed KMS key with yearly rotation and a 30-day deletion window."""
    return kms.Key(
        scope,
        construct_id,
        description=description,
        enable_key_rotation=True,
        pending_window=cdk.Duration.days(30),
        removal_policy=removal_policy,
    )


def allow_service_to_use_key(key: kms.IKey, service: str, *, source_arns: Sequence[str]) -> None:
    """Let an AWS service principal encrypt with ``key`` on behalf of the given sources only.

    SNS delivering into an encrypted queue, and CloudWatch alarms publishing to
    an encrypted topic, need ``kms:GenerateDataKey*`` and ``kms:Decrypt``; the
    ``aws:SourceArn`` condition stops any other topic or alarm from using it.
    """
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid=f"Allow{service.split('.')[0].capitalize()}ToUseKey",
            principals=[iam.ServicePrincipal(service)],
            actions=["kms:Decrypt", "kms:GenerateDataKey*"],
            resources=["*"],
            conditions={"ArnLike": {"aws:SourceArn": list(source_arns)}},
        )
    )


def allow_logs_to_use_key(key: kms.IKey) -> None:
    """Let CloudWatch Logs in this account and region encrypt log groups with ``key``."""
    stack = cdk.Stack.of(key)
    key.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowCloudWatchLogsToUseKey",
            principals=[iam.ServicePrincipal(f"logs.{stack.region}.amazonaws.com")],
            actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            resources=["*"],
            conditions={
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": stack.format_arn(
                        service="logs",
                        resource="log-group",
                        resource_name="*",
                        arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME,
                    )
                }
            },
        )
    )


# --- queues -------------------------------------------------------------------


def dead_letter_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    fifo: bool = False,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
) -> sqs.Queue:
    """A KMS-encrypted, TLS-only queue that keeps failed messages for 14 days."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        fifo=fifo or None,
        retention_period=DLQ_RETENTION,
        removal_policy=removal_policy,
    )
    acknowledge(
        queue.node.default_child,
        "Serverless::Serverless-SQSRedrivePolicy",
        "This queue is a dead-letter queue: the end of the line, where failed messages wait 14 days for "
        "inspection and redrive. A dead-letter queue of its own would only move them again.",
    )
    return queue


def work_queue(
    scope: Construct,
    construct_id: str,
    *,
    key: kms.IKey,
    dead_letter_queue: sqs.IQueue,
    max_receive_count: int,
    fifo: bool = False,
    visibility_timeout: cdk.Duration | None = None,
    retention_period: cdk.Duration | None = None,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
) -> sqs.Queue:
    """A KMS-encrypted, TLS-only queue with long polling and a redrive policy."""
    return sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.KMS,
        encryption_master_key=key,
        enforce_ssl=True,
        fifo=fifo or None,
        dead_letter_queue=sqs.DeadLetterQueue(queue=dead_letter_queue, max_receive_count=max_receive_count),
        receive_message_wait_time=cdk.Duration.seconds(20),
        visibility_timeout=visibility_timeout,
        retention_period=retention_period,
        removal_policy=removal_policy,
    )


def allow_topic_to_send(queue: sqs.IQueue, topic: sns.ITopic) -> None:
    """Queue policy: SNS may send to ``queue`` only on behalf of ``topic``."""
    queue.add_to_resource_policy(
        iam.PolicyStatement(
            sid="AllowTopicToSend",
            principals=[iam.ServicePrincipal("sns.amazonaws.com")],
            actions=["sqs:SendMessage"],
            resources=[queue.queue_arn],
            conditions={"ArnEquals": {"aws:SourceArn": topic.topic_arn}},
        )
    )


# --- alarms -------------------------------------------------------------------


def queue_not_empty_alarm(scope: Construct, construct_id: str, *, queue: sqs.IQueue, what: str) -> cloudwatch.Alarm:
    """Alarm as soon as a dead-letter queue holds a message (QueueName dimension)."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"{what}: messages are waiting in the dead-letter queue",
        metric=queue.metric_approximate_number_of_messages_visible(
            period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
        ),
        threshold=0,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=1,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def oldest_message_alarm(
    scope: Construct,
    construct_id: str,
    *,
    queue: sqs.IQueue,
    what: str,
    threshold_s: int,
    period_s: int,
    evaluation_periods: int,
    datapoints_to_alarm: int,
) -> cloudwatch.Alarm:
    """Alarm when the oldest message has waited longer than the latency budget."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_description=f"{what}: the oldest message has waited more than {threshold_s} s",
        metric=queue.metric_approximate_age_of_oldest_message(
            period=cdk.Duration.seconds(period_s), statistic=cloudwatch.Stats.MAXIMUM
        ),
        threshold=threshold_s,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def notify(alarms: Sequence[cloudwatch.Alarm], topic: sns.ITopic | None) -> None:
    """Send alarm and OK transitions to ``topic`` (no-op without a topic)."""
    if topic is None:
        return
    action = cw_actions.SnsAction(topic)
    for alarm in alarms:
        alarm.add_alarm_action(action)
        alarm.add_ok_action(action)


class AlarmTopic(Construct):
    """An encrypted, TLS-only SNS topic for alarm notifications.

    CloudWatch may use its key only for alarms in this account.

    :param email: optional address subscribed to the topic. Default: none.
    :param removal_policy: what happens to the key when removed. Default: RETAIN.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        email: str | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        require(email is None or ("@" in email and " " not in email), "email", email, "must be an e-mail address")
        stack = cdk.Stack.of(self)
        self.key = encryption_key(self, "Key", description="Alarm notifications", removal_policy=removal_policy)
        self.topic = sns.Topic(self, "Topic", master_key=self.key, enforce_ssl=True, signature_version="2")
        allow_service_to_use_key(
            self.key,
            "cloudwatch.amazonaws.com",
            source_arns=[stack.format_arn(service="cloudwatch", resource="alarm", resource_name="*",
                                          arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)],
        )
        if email:
            self.topic.add_subscription(subs.EmailSubscription(email))


# --- functions ----------------------------------------------------------------


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    code: lambda_.Code,
    handler: str,
    key: kms.IKey,
    runtime: lambda_.Runtime = LATEST_PYTHON,
    timeout: cdk.Duration = cdk.Duration.seconds(30),
    memory_size: int = 256,
    environment: Mapping[str, str] | None = None,
    reserved_concurrency: int | None = None,
    description: str | None = None,
    log_retention: logs.RetentionDays = LOG_RETENTION,
    removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
) -> lambda_.Function:
    """A Lambda function with its own least-privilege role, an encrypted log
    group with retention, X-Ray tracing and KMS-encrypted environment.

    The role starts empty apart from writing its own logs and traces; callers
    grant what the function needs. ``key`` must allow CloudWatch Logs
    (see :func:`allow_logs_to_use_key`). ``reserved_concurrency``: default none.
    """
    log_group = logs.LogGroup(
        scope,
        f"{construct_id}Logs",
        retention=log_retention,
        encryption_key=key,
        removal_policy=removal_policy,
    )
    role = iam.Role(
        scope,
        f"{construct_id}Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=f"Execution role of {cdk.Names.unique_id(scope)}/{construct_id}",
    )
    log_group.grant_write(role)
    function = lambda_.Function(
        scope,
        construct_id,
        code=code,
        handler=handler,
        runtime=runtime,
        timeout=timeout,
        memory_size=memory_size,
        environment=dict(environment or {}),
        environment_encryption=key,
        description=description,
        role=role,
        log_group=log_group,
        tracing=lambda_.Tracing.ACTIVE,
        logging_format=lambda_.LoggingFormat.JSON,
        reserved_concurrent_executions=reserved_concurrency,
    )
    cfn_function = function.node.default_child
    # Functions here run outside a VPC unless a pattern places them in one: they
    # reach only AWS APIs, over TLS, with IAM; a VPC would add NAT or endpoints.
    checkov_skip(
        cfn_function,
        "CKV_AWS_117",
        "The function calls only AWS service APIs (TLS, IAM-authorised) and no private resource; a VPC would add "
        "NAT or interface endpoints without narrowing what it can reach.",
    )
    cfn_lint_ignore(
        cfn_function,
        "W3005",
        "aws-cdk-lib makes a function DependsOn its role and the role's default policy, so the policy exists "
        "before the first invocation; the role half repeats the Fn::GetAtt and is harmless.",
    )
    if reserved_concurrency is None:
        checkov_skip(
            cfn_function,
            "CKV_AWS_115",
            "Concurrency is bounded where it is triggered (the event source's maximum concurrency); reserving "
            "concurrency by default fails in accounts at the 10-execution minimum. Set reserved_concurrency to add it.",
        )
    acknowledge(
        role.node.find_child("DefaultPolicy").node.default_child,
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "Only X-Ray PutTraceSegments/PutTelemetryRecords use Resource '*': X-Ray supports no resource-level "
        "permissions for them. Every other statement is scoped to one log group, queue or key.",
    )
    return function
