"""Fine-grained assertions: every FanOut default, on the synthesized templates."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk.assertions import Match, Template

from refarch.fanout import FanOut, Subscriber
from tests.conftest import Assembly, new_app

TLS_ONLY = Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


@pytest.fixture(scope="module")
def example(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("FanOutStack"))


@pytest.fixture(scope="module")
def fifo(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("FanOutFifo"))


@pytest.fixture(scope="module")
def consumers(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("FanOutWithConsumers"))


# --- resources and encryption ------------------------------------------------


def test_example_creates_topic_queues_and_alarms(example: Template) -> None:
    example.resource_count_is("AWS::SNS::Topic", 2)  # orders + alarms
    example.resource_count_is("AWS::SNS::Subscription", 3)
    example.resource_count_is("AWS::SQS::Queue", 9)  # 3 subscribers x (queue, DLQ, delivery DLQ)
    example.resource_count_is("AWS::CloudWatch::Alarm", 10)  # 3 per subscriber + DeliveryLostAlarm
    example.resource_count_is("AWS::KMS::Key", 2)
    example.resource_count_is("AWS::Lambda::Function", 0)


def test_key_is_customer_managed_rotated_and_retained(assembly: Assembly) -> None:
    key = assembly.resource("FanOutStack", "Orders/Key/Resource")
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["Properties"]["PendingWindowInDays"] == 30
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"


def test_key_policy_lets_sns_encrypt_only_for_this_accounts_topics(assembly: Assembly) -> None:
    statements = assembly.resource("FanOutStack", "Orders/Key/Resource")["Properties"]["KeyPolicy"]["Statement"]
    sns_statement = next(s for s in statements if s.get("Principal") == {"Service": "sns.amazonaws.com"})
    assert sns_statement["Action"] == ["kms:Decrypt", "kms:GenerateDataKey*"]
    arn = sns_statement["Condition"]["ArnLike"]["aws:SourceArn"][0]["Fn::Join"][1]
    assert arn == ["arn:", {"Ref": "AWS::Partition"}, ":sns:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"}, ":*"]
    # No consumers, so CloudWatch Logs is not admitted.
    assert not [s for s in statements if "logs." in str(s.get("Principal"))]


def test_topic_is_encrypted_signed_with_sha256_and_tls_only(assembly: Assembly, example: Template) -> None:
    key_id = assembly.resource_id("FanOutStack", "Orders/Key/Resource")
    topic_id = assembly.resource_id("FanOutStack", "Orders/Topic/Resource")
    topic = assembly.template("FanOutStack")["Resources"][topic_id]["Properties"]
    assert topic == {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}, "SignatureVersion": "2"}
    example.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"Topics": [{"Ref": topic_id}], "PolicyDocument": {"Statement": Match.array_with([TLS_ONLY])}},
    )


@pytest.mark.parametrize("name", ["Billing", "Shipping", "Audit"])
def test_queue_defaults(assembly: Assembly, name: str) -> None:
    key_id = assembly.resource_id("FanOutStack", "Orders/Key/Resource")
    queue = assembly.resource("FanOutStack", f"Orders/{name}/Queue/Resource")
    dlq_id = assembly.resource_id("FanOutStack", f"Orders/{name}/DeadLetterQueue/Resource")
    assert queue["Properties"] == {
        "KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]},
        "MessageRetentionPeriod": 4 * 24 * 3600,
        "ReceiveMessageWaitTimeSeconds": 20,
        "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 5},
    }
    assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("name", ["Billing", "Shipping", "Audit"])
@pytest.mark.parametrize("dlq", ["DeadLetterQueue", "DeliveryDeadLetterQueue"])
def test_dead_letter_queues_keep_14_days_encrypted(assembly: Assembly, name: str, dlq: str) -> None:
    key_id = assembly.resource_id("FanOutStack", "Orders/Key/Resource")
    queue = assembly.resource("FanOutStack", f"Orders/{name}/{dlq}/Resource")
    assert queue["Properties"] == {"KmsMasterKeyId": {"Fn::GetAtt": [key_id, "Arn"]}, "MessageRetentionPeriod": 1209600}
    assert queue["DeletionPolicy"] == "Retain"


def test_every_queue_is_tls_only(assembly: Assembly, example: Template) -> None:
    queues = [k for k, r in assembly.template("FanOutStack")["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]
    policies = example.find_resources("AWS::SQS::QueuePolicy")
    covered = {
        p["Properties"]["Queues"][0]["Ref"]
        for p in policies.values()
        if any(s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
               for s in p["Properties"]["PolicyDocument"]["Statement"])
    }
    assert covered == set(queues)


def test_queue_policy_admits_only_this_topic(assembly: Assembly) -> None:
    topic_id = assembly.resource_id("FanOutStack", "Orders/Topic/Resource")
    policy = assembly.resource("FanOutStack", "Orders/Billing/Queue/Policy/Resource")["Properties"]["PolicyDocument"]
    allow = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    assert allow == [
        {
            "Sid": "AllowTopicToSend",
            "Effect": "Allow",
            "Principal": {"Service": "sns.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": {"Fn::GetAtt": [assembly.resource_id("FanOutStack", "Orders/Billing/Queue/Resource"), "Arn"]},
            "Condition": {"ArnEquals": {"aws:SourceArn": {"Ref": topic_id}}},
        }
    ]


def test_delivery_dead_letter_queue_admits_only_this_topic(assembly: Assembly) -> None:
    topic_id = assembly.resource_id("FanOutStack", "Orders/Topic/Resource")
    policy = assembly.resource("FanOutStack", "Orders/Billing/DeliveryDeadLetterQueue/Policy/Resource")
    allow = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "sns.amazonaws.com"}
    assert allow[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Ref": topic_id}}}


# --- subscriptions -----------------------------------------------------------


def test_subscriptions_have_delivery_dlq_and_wait_for_queue_policies(assembly: Assembly) -> None:
    for name in ("Billing", "Shipping", "Audit"):
        sub = assembly.resource("FanOutStack", f"Orders/{name}/Subscription/Resource")
        delivery_dlq = assembly.resource_id("FanOutStack", f"Orders/{name}/DeliveryDeadLetterQueue/Resource")
        assert sub["Properties"]["Protocol"] == "sqs"
        assert sub["Properties"]["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [delivery_dlq, "Arn"]}}
        assert set(sub["DependsOn"]) >= {
            assembly.resource_id("FanOutStack", f"Orders/{name}/Queue/Policy/Resource"),
            assembly.resource_id("FanOutStack", f"Orders/{name}/DeliveryDeadLetterQueue/Policy/Resource"),
        }


def test_filter_policy_and_raw_delivery_only_where_asked(assembly: Assembly) -> None:
    billing = assembly.resource("FanOutStack", "Orders/Billing/Subscription/Resource")["Properties"]
    shipping = assembly.resource("FanOutStack", "Orders/Shipping/Subscription/Resource")["Properties"]
    audit = assembly.resource("FanOutStack", "Orders/Audit/Subscription/Resource")["Properties"]
    assert "FilterPolicy" not in billing and "RawMessageDelivery" not in billing
    assert shipping["FilterPolicy"] == {"event_type": ["order_placed", "order_cancelled"]}
    assert shipping.get("FilterPolicyScope", "MessageAttributes") == "MessageAttributes"
    assert audit["RawMessageDelivery"] is True and "FilterPolicy" not in audit


# --- alarms ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Billing", "Shipping", "Audit"])
def test_alarms_watch_the_right_queues_and_notify(assembly: Assembly, name: str) -> None:
    alarm_topic = assembly.resource_id("FanOutStack", "Alarms/Topic/Resource")

    def alarm(child: str) -> dict:
        return assembly.resource("FanOutStack", f"Orders/{name}/{child}/Resource")["Properties"]

    def dimension(queue: str) -> list:
        return [{"Name": "QueueName", "Value": {"Fn::GetAtt": [assembly.resource_id("FanOutStack", f"Orders/{name}/{queue}/Resource"), "QueueName"]}}]

    dlq, delivery, age = alarm("DeadLetterAlarm"), alarm("DeliveryFailureAlarm"), alarm("OldestMessageAlarm")
    for a in (dlq, delivery):
        assert (a["MetricName"], a["Threshold"], a["ComparisonOperator"]) == (
            "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
        assert (a["Period"], a["EvaluationPeriods"], a["Statistic"]) == (60, 1, "Maximum")
    assert dlq["Dimensions"] == dimension("DeadLetterQueue")
    assert delivery["Dimensions"] == dimension("DeliveryDeadLetterQueue")
    # Derived from max_acceptable_latency (default 5 minutes) by sizing.oldest_message_alarm.
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage" and age["Dimensions"] == dimension("Queue")
    assert (age["Threshold"], age["Period"], age["EvaluationPeriods"], age["DatapointsToAlarm"]) == (300, 60, 3, 2)
    for a in (dlq, delivery, age):
        assert a["AlarmActions"] == a["OKActions"] == [{"Ref": alarm_topic}]
        assert a["TreatMissingData"] == "notBreaching"


def test_age_threshold_follows_max_acceptable_latency_and_alarms_stay_quiet_without_a_topic() -> None:
    stack = cdk.Stack(new_app(), "Latency")
    FanOut(stack, "F", subscribers=[Subscriber(name="a")], max_acceptable_latency=cdk.Duration.millis(90_500))
    alarms = Template.from_stack(stack).find_resources("AWS::CloudWatch::Alarm")
    age = next(a["Properties"] for k, a in alarms.items() if k.startswith("FAOldestMessageAlarm"))
    assert (age["Threshold"], age["Period"], age["EvaluationPeriods"], age["DatapointsToAlarm"]) == (91, 60, 3, 2)
    # No alarm_topic: the alarms exist and notify nobody.
    assert len(alarms) == 4
    assert all("AlarmActions" not in a["Properties"] and "OKActions" not in a["Properties"] for a in alarms.values())


@pytest.mark.parametrize(("stack_id", "topic_path"), [("FanOutStack", "Orders/Topic/Resource"),
                                                      ("FanOutExistingTopic", "Events/Resource")])
def test_delivery_lost_alarm_watches_the_topic(assembly: Assembly, stack_id: str, topic_path: str) -> None:
    # A message SNS could neither deliver nor redrive (e.g. the key policy shuts SNS out of the
    # queue and its delivery DLQ alike) is gone; only this topic metric shows it.
    prefix = "Orders" if stack_id == "FanOutStack" else "Fanout"
    alarm = assembly.properties(stack_id, f"{prefix}/DeliveryLostAlarm/Resource")
    topic = assembly.resource_id(stack_id, topic_path)
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/SNS", "NumberOfNotificationsFailedToRedriveToDlq")
    assert alarm["Dimensions"] == [{"Name": "TopicName", "Value": {"Fn::GetAtt": [topic, "TopicName"]}}]
    assert (alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]) == ("Sum", 60, 1)
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0, "GreaterThanThreshold", "notBreaching")
    if stack_id == "FanOutStack":
        alarm_topic = assembly.resource_id("FanOutStack", "Alarms/Topic/Resource")
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": alarm_topic}]


def test_alarm_topic_key_admits_only_cloudwatch_alarms(assembly: Assembly) -> None:
    statements = assembly.resource("FanOutStack", "Alarms/Key/Resource")["Properties"]["KeyPolicy"]["Statement"]
    cw = next(s for s in statements if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"})
    assert ":cloudwatch:" in str(cw["Condition"]["ArnLike"]["aws:SourceArn"]) and "alarm:*" in str(cw["Condition"])


# --- the stack ---------------------------------------------------------------


def test_stack_outputs_topic_and_queue_urls(example: Template) -> None:
    outputs = example.find_outputs("*")
    assert {"TopicArn", "AlarmTopicArn"} <= set(outputs)
    for name in ("Billing", "Shipping", "Audit"):
        assert {f"{name}QueueUrl", f"{name}DeadLetterQueueUrl", f"{name}DeliveryDeadLetterQueueUrl"} <= set(outputs)


def test_stack_has_termination_protection(assembly: Assembly) -> None:
    assert assembly.stacks["FanOutStack"].termination_protection is True


def test_stateful_logical_ids_are_pinned(assembly: Assembly) -> None:
    # Renaming a construct changes these IDs, and CloudFormation would replace
    # (and, with RETAIN, orphan) the queues and their messages. Change on purpose only.
    resources = assembly.template("FanOutStack")["Resources"]
    stateful = sorted(k for k, r in resources.items() if r["Type"] in {"AWS::SQS::Queue", "AWS::KMS::Key", "AWS::SNS::Topic"})
    assert stateful == [
        "AlarmsKey3C2381B3",
        "AlarmsTopic3A2DFEBA",
        "OrdersAuditDeadLetterQueueEACA195B",
        "OrdersAuditDeliveryDeadLetterQueue555DBCA7",
        "OrdersAuditQueue6A0318DB",
        "OrdersBillingDeadLetterQueue924D16D9",
        "OrdersBillingDeliveryDeadLetterQueue96D82CEB",
        "OrdersBillingQueueB1F8AABE",
        "OrdersKey6C690DD2",
        "OrdersShippingDeadLetterQueueC892A77D",
        "OrdersShippingDeliveryDeadLetterQueueEA336905",
        "OrdersShippingQueueEBF0FCD5",
        "OrdersTopic8A68B7A2",
    ]


# --- FIFO ----------------------------------------------------------------------


def test_fifo_topic_fans_out_to_fifo_queues(fifo: Template, assembly: Assembly) -> None:
    fifo.has_resource_properties("AWS::SNS::Topic", {"FifoTopic": True, "ContentBasedDeduplication": True})
    for name in ("Accounts", "Reporting"):
        for queue in ("Queue", "DeadLetterQueue", "DeliveryDeadLetterQueue"):
            assert assembly.properties("FanOutFifo", f"Ledger/{name}/{queue}/Resource")["FifoQueue"] is True


def test_fifo_topic_feeds_a_standard_queue_for_a_subscriber_that_needs_no_order(assembly: Assembly) -> None:
    """SNS FIFO topics deliver to standard queues too; the subscription's DLQ follows the topic."""
    queue = assembly.properties("FanOutFifo", "Ledger/Analytics/Queue/Resource")
    dlq = assembly.properties("FanOutFifo", "Ledger/Analytics/DeadLetterQueue/Resource")
    delivery_dlq = assembly.properties("FanOutFifo", "Ledger/Analytics/DeliveryDeadLetterQueue/Resource")
    assert "FifoQueue" not in queue and "FifoQueue" not in dlq  # standard queue, standard processing DLQ
    assert delivery_dlq["FifoQueue"] is True  # "FIFO topic subscriptions use FIFO queues" as their DLQ
    subscription = assembly.properties("FanOutFifo", "Ledger/Analytics/Subscription/Resource")
    assert subscription["Endpoint"] == {"Fn::GetAtt": [assembly.resource_id("FanOutFifo", "Ledger/Analytics/Queue/Resource"), "Arn"]}
    assert subscription["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": [assembly.resource_id("FanOutFifo", "Ledger/Analytics/DeliveryDeadLetterQueue/Resource"), "Arn"]}


def test_ordered_false_on_a_fifo_topic_allows_standard_queue_consumer_settings() -> None:
    from tests.test_fanout_validation import _consumer

    stack = cdk.Stack(new_app(), "Ok")
    fanout = FanOut(stack, "F", fifo=True, subscribers=[
        Subscriber(name="a"),
        Subscriber(name="b", ordered=False,
                   consumer=_consumer(batch_size=100, max_batching_window=cdk.Duration.seconds(5))),
    ])
    assert fanout.subscribers["a"].queue.fifo is True and fanout.subscribers["b"].queue.fifo is False
    assert fanout.subscribers["b"].delivery_dead_letter_queue.fifo is True
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::Lambda::EventSourceMapping",
                                     {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 5})


def test_message_body_filter(fifo: Template) -> None:
    fifo.has_resource_properties(
        "AWS::SNS::Subscription",
        {"FilterPolicyScope": "MessageBody", "FilterPolicy": {"entry": {"kind": ["debit", "credit"]}},
         "RawMessageDelivery": True},
    )


# --- Lambda consumers ------------------------------------------------------------


def test_consumer_visibility_timeout_is_six_times_timeout_plus_window(assembly: Assembly) -> None:
    billing = assembly.resource("FanOutWithConsumers", "Orders/Billing/Queue/Resource")["Properties"]
    email = assembly.resource("FanOutWithConsumers", "Orders/Email/Queue/Resource")["Properties"]
    assert billing["VisibilityTimeout"] == 6 * 20 + 5
    assert email["VisibilityTimeout"] == 6 * 30


def test_consumer_event_source_reports_batch_failures(assembly: Assembly, consumers: Template) -> None:
    queue = assembly.resource_id("FanOutWithConsumers", "Orders/Billing/Queue/Resource")
    consumers.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": {"Fn::GetAtt": [queue, "Arn"]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BatchSize": 50,
            "MaximumBatchingWindowInSeconds": 5,
            "ScalingConfig": {"MaximumConcurrency": 10},
        },
    )
    consumers.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"FunctionResponseTypes": ["ReportBatchItemFailures"], "BatchSize": 10, "ScalingConfig": {"MaximumConcurrency": 5}},
    )


def test_consumer_function_defaults(assembly: Assembly) -> None:
    key = assembly.resource_id("FanOutWithConsumers", "Orders/Key/Resource")
    logs = assembly.resource_id("FanOutWithConsumers", "Orders/Billing/ConsumerLogs/Resource")
    fn = assembly.resource("FanOutWithConsumers", "Orders/Billing/Consumer/Resource")["Properties"]
    assert fn["Runtime"] == "python3.14"
    assert fn["TracingConfig"] == {"Mode": "Active"}
    assert fn["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}
    assert fn["MemorySize"] == 256 and fn["Timeout"] == 20
    assert fn["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": logs}}
    log_group = assembly.resource("FanOutWithConsumers", "Orders/Billing/ConsumerLogs/Resource")
    assert log_group["Properties"] == {"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 365}
    assert log_group["DeletionPolicy"] == "Retain"


def test_consumer_key_admits_cloudwatch_logs_of_this_account(assembly: Assembly) -> None:
    statements = assembly.resource("FanOutWithConsumers", "Orders/Key/Resource")["Properties"]["KeyPolicy"]["Statement"]
    logs = next(s for s in statements if s.get("Sid") == "AllowCloudWatchLogsToUseKey")
    assert "kms:EncryptionContext:aws:logs:arn" in logs["Condition"]["ArnLike"]


def test_consumer_role_is_least_privilege(assembly: Assembly) -> None:
    role = assembly.resource("FanOutWithConsumers", "Orders/Billing/ConsumerRole/Resource")["Properties"]
    assert "ManagedPolicyArns" not in role
    policy = assembly.resource("FanOutWithConsumers", "Orders/Billing/ConsumerRole/DefaultPolicy/Resource")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    queue = assembly.resource_id("FanOutWithConsumers", "Orders/Billing/Queue/Resource")
    by_resource = {str(s["Resource"]): s for s in statements}
    sqs_statement = by_resource[str({"Fn::GetAtt": [queue, "Arn"]})]
    assert set(sqs_statement["Action"]) == {
        "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueUrl", "sqs:DeleteMessage", "sqs:GetQueueAttributes"
    }
    star = [s for s in statements if s["Resource"] == "*"]
    assert len(star) == 1 and set(star[0]["Action"]) == {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
    # The X-Ray wildcard is acknowledged on this policy alone, with its reason in the template.
    rules = policy["Metadata"]["cdk_nag"]["rules_to_suppress"]
    # ... and the strict packs' IAMNoInlinePolicy on every role's own policy (secure.acknowledge_inline_policies).
    assert [r["id"] for r in rules] == ["AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                                        *[f"{p}::{p}-IAMNoInlinePolicy" for p in ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")]]


# --- grants --------------------------------------------------------------------


def _grant_stack() -> tuple[cdk.Stack, FanOut, iam.Role, iam.Role]:
    stack = cdk.Stack(new_app(), "Grants")
    fanout = FanOut(stack, "F", subscribers=[Subscriber(name="a"), Subscriber(name="b")])
    producer = iam.Role(stack, "Producer", assumed_by=iam.AccountRootPrincipal())
    consumer = iam.Role(stack, "Consumer", assumed_by=iam.AccountRootPrincipal())
    fanout.grant_publish(producer)
    fanout.grant_consume("a", consumer)
    return stack, fanout, producer, consumer


def test_grant_publish_and_grant_consume() -> None:
    stack, _, _, _ = _grant_stack()
    template = Template.from_stack(stack).to_json()
    policies = {k: r for k, r in template["Resources"].items() if r["Type"] == "AWS::IAM::Policy"}
    producer = next(p for k, p in policies.items() if k.startswith("ProducerDefaultPolicy"))
    consumer = next(p for k, p in policies.items() if k.startswith("ConsumerDefaultPolicy"))
    producer_actions = {a for s in producer["Properties"]["PolicyDocument"]["Statement"] for a in _list(s["Action"])}
    consumer_statements = consumer["Properties"]["PolicyDocument"]["Statement"]
    assert "sns:Publish" in producer_actions and "kms:GenerateDataKey*" in producer_actions
    queue_a = next(k for k in template["Resources"] if k.startswith("FAQueue"))
    sqs_resources = [s["Resource"] for s in consumer_statements if "sqs:ReceiveMessage" in _list(s["Action"])]
    assert sqs_resources == [{"Fn::GetAtt": [queue_a, "Arn"]}]
    assert any("kms:Decrypt" in _list(s["Action"]) for s in consumer_statements)


def test_grant_consume_rejects_unknown_subscriber() -> None:
    stack, fanout, _, consumer = _grant_stack()
    with pytest.raises(ValueError, match=r"name must be one of \['a', 'b'\] \(got 'c'\)"):
        fanout.grant_consume("c", consumer)


def test_existing_topic_is_used_not_replaced(assembly: Assembly) -> None:
    template = Template.from_json(assembly.template("FanOutExistingTopic"))
    template.resource_count_is("AWS::SNS::Topic", 1)
    template.resource_count_is("AWS::KMS::Key", 1)
    topic = assembly.resource_id("FanOutExistingTopic", "Events/Resource")
    template.has_resource_properties("AWS::SNS::Subscription", {"TopicArn": {"Ref": topic}})


def test_exposes_typed_attributes() -> None:
    _, fanout, _, _ = _grant_stack()
    assert isinstance(fanout.topic, sns.Topic)
    assert set(fanout.subscribers) == {"a", "b"}
    sub = fanout.subscribers["a"]
    assert sub.function is None and len(sub.alarms) == 3 and len(fanout.alarms) == 7
    assert fanout.alarms[-1] is fanout.delivery_lost_alarm
    assert sub.queue.fifo is False and sub.dead_letter_queue is not sub.delivery_dead_letter_queue


def _list(value):
    return value if isinstance(value, list) else [value]


def test_imported_key_warns_that_its_policy_must_already_admit_sns() -> None:
    from aws_cdk import aws_kms as kms
    from aws_cdk.assertions import Annotations

    stack = cdk.Stack(new_app(), "Imported")
    key = kms.Key.from_key_arn(stack, "Key", "arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    FanOut(stack, "F", encryption_key=key, subscribers=[Subscriber(name="a")])
    Annotations.from_stack(stack).has_warning(
        "/Imported/Key", Match.string_like_regexp("cannot be amended here.*sns.amazonaws.com")
    )


def test_reserved_concurrency_is_passed_to_the_consumer() -> None:
    from aws_cdk import aws_lambda as lambda_

    from refarch.fanout import LambdaConsumer

    stack = cdk.Stack(new_app(), "Reserved")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")
    consumer = LambdaConsumer(code=code, handler="index.handler", max_concurrency=5, reserved_concurrency=10)
    FanOut(stack, "F", subscribers=[Subscriber(name="a", consumer=consumer)])
    [fn] = Template.from_stack(stack).find_resources("AWS::Lambda::Function").values()
    assert fn["Properties"]["ReservedConcurrentExecutions"] == 10
    # Reserved concurrency set: checkov's CKV_AWS_115 is met, not skipped.
    assert "CKV_AWS_115" not in [s["id"] for s in fn["Metadata"]["checkov"]["skip"]]


def test_overrides_reach_the_template() -> None:
    # Each non-default prop lands where it should; none is silently ignored.
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_logs as logs

    from refarch.fanout import LambdaConsumer

    stack = cdk.Stack(new_app(), "Overrides")
    code = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")
    FanOut(
        stack, "F",
        max_receive_count=7,
        retention_period=cdk.Duration.days(2),
        removal_policy=cdk.RemovalPolicy.DESTROY,
        log_retention=logs.RetentionDays.ONE_MONTH,
        subscribers=[
            Subscriber(name="a", max_receive_count=3, visibility_timeout=cdk.Duration.minutes(2)),
            Subscriber(name="b", consumer=LambdaConsumer(code=code, handler="index.handler", memory_size=512,
                                                         environment={"LOG_LEVEL": "DEBUG"})),
        ],
    )
    resources = Template.from_stack(stack).to_json()["Resources"]

    def one(prefix: str) -> dict:
        [found] = [r for k, r in resources.items() if k.startswith(prefix) and "Policy" not in k[len(prefix):]]
        return found

    a, b = one("FAQueue"), one("FBQueue")
    assert a["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 3  # the subscriber's own
    assert b["Properties"]["RedrivePolicy"]["maxReceiveCount"] == 7  # the FanOut's
    assert a["Properties"]["VisibilityTimeout"] == 120 and "VisibilityTimeout" not in one("FADeadLetterQueue")["Properties"]
    assert a["Properties"]["MessageRetentionPeriod"] == b["Properties"]["MessageRetentionPeriod"] == 2 * 24 * 3600
    for r in (a, b, one("FADeadLetterQueue"), one("FADeliveryDeadLetterQueue"), one("FKey"), one("FBConsumerLogs")):
        assert r["DeletionPolicy"] == "Delete", r["Type"]
    assert one("FBConsumerLogs")["Properties"]["RetentionInDays"] == 30
    fn = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Function")["Properties"]
    assert fn["MemorySize"] == 512 and fn["Environment"] == {"Variables": {"LOG_LEVEL": "DEBUG"}}
