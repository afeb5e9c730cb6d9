"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import ALL_STACKS, Assembly


def resources(assembly: Assembly, resource_type: str) -> Iterator[tuple[str, str, dict]]:
    """(stack ID, logical ID, template entry) of every resource of ``resource_type`` in every template."""
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.of_type(stack_id, resource_type).items():
            yield stack_id, logical_id, resource


# --- fanout-push ---


def _same_template_target(reference: object) -> str | None:
    """The logical ID a ``Ref`` or ``Fn::GetAtt [id, Arn]`` names, or None for anything else."""
    if isinstance(reference, dict):
        if "Ref" in reference:
            return reference["Ref"]
        if "Fn::GetAtt" in reference and reference["Fn::GetAtt"][1] == "Arn":
            return reference["Fn::GetAtt"][0]
    return None


def test_sqs_subscription_queue_and_delivery_dlq_types_match_the_topic(assembly: Assembly) -> None:
    """A standard topic delivers only to standard queues; a FIFO topic to FIFO and standard queues
    (https://docs.aws.amazon.com/sns/latest/dg/fifo-topic-code-examples.html). A subscription's
    dead-letter queue is of the topic's type: "FIFO topic subscriptions use FIFO queues, and standard
    topic subscriptions use standard queues" (https://docs.aws.amazon.com/sns/latest/dg/sns-dead-letter-queues.html)."""
    checked = 0
    for stack_id, logical_id, subscription in resources(assembly, "AWS::SNS::Subscription"):
        props = subscription["Properties"]
        if props.get("Protocol") != "sqs":
            continue
        template = assembly.template(stack_id)["Resources"]
        topic_id = _same_template_target(props["TopicArn"])
        if topic_id not in template:
            continue
        topic_fifo = template[topic_id]["Properties"].get("FifoTopic") is True
        queue = template.get(_same_template_target(props["Endpoint"]) or "")
        if queue is not None:
            queue_fifo = queue["Properties"].get("FifoQueue") is True
            assert topic_fifo or not queue_fifo, f"{stack_id}/{logical_id}: a standard topic cannot deliver to a FIFO queue"
        redrive = props.get("RedrivePolicy")
        if redrive:
            dlq = template[_same_template_target(redrive["deadLetterTargetArn"])]
            assert (dlq["Properties"].get("FifoQueue") is True) == topic_fifo, (
                f"{stack_id}/{logical_id}: the subscription's dead-letter queue must be "
                f"{'FIFO' if topic_fifo else 'standard'} like its topic")
        checked += 1
    assert checked >= 5


def test_sqs_redrive_target_is_of_the_queues_own_type(assembly: Assembly) -> None:
    """SQS: "the queue type must match the source queue type—a FIFO queue can only use a FIFO DLQ, and a
    standard queue can only use a standard DLQ"
    (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-configure-dead-letter-queue.html)."""
    checked = 0
    for stack_id, logical_id, queue in resources(assembly, "AWS::SQS::Queue"):
        redrive = queue.get("Properties", {}).get("RedrivePolicy")
        target = _same_template_target(redrive["deadLetterTargetArn"]) if redrive else None
        if target is None:
            continue
        dlq = assembly.template(stack_id)["Resources"][target]
        assert (dlq["Properties"].get("FifoQueue") is True) == (queue["Properties"].get("FifoQueue") is True), (
            f"{stack_id}/{logical_id}: its dead-letter queue {target} is of the other type")
        checked += 1
    assert checked >= 5
