"""Shared pieces of the integration apps (tests/integ/integ_*.py).

Each integration app deploys one pattern's stack, as ``app.py`` builds it but
with test-friendly settings (no termination protection, removal policies that
delete), and asserts behaviour with ``aws_cdk.integ_tests_alpha``. integ-runner
runs each app as ``python integ_<pattern>.py`` from this directory, so the
repository root is put on ``sys.path`` here.

Offline (``make test``): tests/test_integ.py synthesizes every app with the
cdk-nag packs and runs integ-runner's snapshot check against the committed
``*.snapshot`` directories. In an account (``make integ``): integ-runner
deploys, runs the assertions, and destroys.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402
import jsii  # noqa: E402
from aws_cdk import aws_cloudwatch as cloudwatch  # noqa: E402
from aws_cdk import aws_ec2 as ec2  # noqa: E402
from aws_cdk import aws_iam as iam  # noqa: E402
from aws_cdk import aws_lambda as lambda_  # noqa: E402
from aws_cdk import aws_sns as sns  # noqa: E402
from aws_cdk import aws_sns_subscriptions as subs  # noqa: E402
from aws_cdk import aws_sqs as sqs  # noqa: E402
from aws_cdk.integ_tests_alpha import ExpectedResult, IApiCall, IntegTest, Match  # noqa: E402
from constructs import Construct  # noqa: E402

from refarch import secure  # noqa: E402
from stacks import add_compliance_checks  # noqa: E402

PROBES = Path(__file__).resolve().parent / "probes"
#: Bounds of every wait: an assertion that has not held by then fails the run.
WAIT = cdk.Duration.minutes(5)
INTERVAL = cdk.Duration.seconds(15)
#: Buckets are left out of DESTROY: CloudFormation cannot delete a bucket that
#: holds objects (archives, access logs); they stay behind, retained, and the
#: docs say so (a few KB).
KEEP = ["AWS::S3::Bucket"]


def new_app() -> cdk.App:
    """An app with the same blocking cdk-nag packs as ``app.py``."""
    app = cdk.App()
    add_compliance_checks(app)
    return app


def env(region: str | None = None) -> cdk.Environment | None:
    """The account and region integ-runner gives (placeholders during the
    offline snapshot check), for stacks that need an explicit environment."""
    account = os.environ.get("CDK_INTEG_ACCOUNT") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = region or os.environ.get("CDK_INTEG_REGION") or os.environ.get("CDK_DEFAULT_REGION")
    return cdk.Environment(account=account, region=region) if account and region else None


def disposable(*stacks: cdk.Stack) -> None:
    """Removal policies that delete (apart from buckets, see ``KEEP``)."""
    for stack in stacks:
        cdk.RemovalPolicies.of(stack).destroy(exclude_resource_types=KEEP)


def integ(app: cdk.App, name: str, stacks: list[cdk.Stack], **kwargs) -> IntegTest:
    return IntegTest(app, name, test_cases=stacks, stack_update_workflow=False, **kwargs)


def alarms_in(scope: Construct) -> list[cloudwatch.Alarm]:
    return [c for c in scope.node.find_all() if isinstance(c, cloudwatch.Alarm)]


def alarm_topic(stack: cdk.Stack) -> sns.ITopic:
    """The stack's ``secure.AlarmTopic`` (every stack creates one as ``Alarms``)."""
    return stack.node.find_child("Alarms").topic  # type: ignore[attr-defined]


def probe_queue(scope: Construct, construct_id: str) -> sqs.Queue:
    """A short-lived queue the assertions read; SQS-managed encryption, TLS only."""
    queue = sqs.Queue(
        scope, construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=cdk.Duration.hours(1),
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    reason = "integration-test probe queue: the assertions read it directly, nothing consumes it to fail"
    secure.acknowledge(queue, "AwsSolutions-SQS3", reason)
    secure.acknowledge(queue, "Serverless-SQSRedrivePolicy", reason)
    secure.cfn_lint_ignore(queue.node.default_child, "ES6000", reason)  # cfn-lint-serverless: the same question
    secure.checkov_skip(queue.node.default_child, "CKV_AWS_27",
                        "Encrypted at rest with SQS-managed keys (SqsManagedSseEnabled, SSE-SQS); checkov's check reads "
                        "only KmsMasterKeyId. A customer key would need the alarm topic's publisher in its policy.")
    return queue


def invoked_by_assertion(function: lambda_.IFunction) -> None:
    """A probe the assertion invokes synchronously: it sees the failure, so no dead-letter queue."""
    reason = "integration-test probe invoked synchronously by the assertion, which sees its failure"
    secure.acknowledge(function, "Serverless-LambdaDLQ", reason)
    secure.checkov_skip(function.node.default_child, "CKV_AWS_116", reason)


def in_vpc(scope: Construct, function: lambda_.Function, vpc: ec2.IVpc, subnet_group_name: str) -> ec2.SecurityGroup:
    """Put a probe into the subnet group ``subnet_group_name`` of ``vpc`` with a security group of its own (returned), as an
    application there would be; its role may manage the network interfaces Lambda needs."""
    group = ec2.SecurityGroup(scope, f"{function.node.id}Sg", vpc=vpc, description="integration probe")
    function.node.default_child.vpc_config = lambda_.CfnFunction.VpcConfigProperty(
        security_group_ids=[group.security_group_id], subnet_ids=vpc.select_subnets(subnet_group_name=subnet_group_name).subnet_ids)
    eni = iam.Policy(scope, f"{function.node.id}Eni", roles=[function.role], statements=[iam.PolicyStatement(
        actions=["ec2:CreateNetworkInterface", "ec2:DescribeNetworkInterfaces", "ec2:DeleteNetworkInterface",
                 "ec2:AssignPrivateIpAddresses", "ec2:UnassignPrivateIpAddresses"], resources=["*"])])
    reason = "integration-test probe: Lambda manages its VPC interfaces; EC2 scopes these actions to no resource"
    secure.acknowledge_inline_policies(eni)
    secure.acknowledge(eni, "AwsSolutions::AwsSolutions-IAM5[Resource::*]", reason)
    secure.checkov_skip(eni.node.default_child, "CKV_AWS_111", reason)
    return group


def receive(test: IntegTest, queue_url: str, *, keep_visible: bool = True) -> IApiCall:
    """ReceiveMessage with long polling; by default messages stay visible, so
    a retried assertion sees them again."""
    params = {"QueueUrl": queue_url, "WaitTimeSeconds": 20, "MaxNumberOfMessages": 10,
              "MessageAttributeNames": ["All"], "AttributeNames": ["All"]}
    if keep_visible:
        params["VisibilityTimeout"] = 0
    return test.assertions.aws_api_call("SQS", "receiveMessage", params)


def has_message(body_regexp: str) -> ExpectedResult:
    return ExpectedResult.object_like(
        {"Messages": Match.array_with([Match.object_like({"Body": Match.string_like_regexp(body_regexp)})])})


def bounded(call: IApiCall, timeout: cdk.Duration = WAIT) -> IApiCall:
    call.wait_for_assertions(total_timeout=timeout, interval=INTERVAL, backoff_rate=1)
    return call


def count(test: IntegTest, queue_url: str, expected: int) -> IApiCall:
    """Wait until the queue holds exactly ``expected`` visible messages."""
    call = test.assertions.aws_api_call(
        "SQS", "getQueueAttributes", {"QueueUrl": queue_url, "AttributeNames": ["ApproximateNumberOfMessages"]})
    call.expect(ExpectedResult.object_like({"Attributes": {"ApproximateNumberOfMessages": str(expected)}}))
    return bounded(call)


def kms_use(call: IApiCall, key_arn: str, *, decrypt_only: bool = False) -> None:
    """Let the assertion provider use a pattern's key (publish to an encrypted
    topic or queue, read from one)."""
    actions = ["kms:Decrypt"] if decrypt_only else ["kms:Decrypt", "kms:GenerateDataKey*"]
    call.provider.add_to_role_policy({"Effect": "Allow", "Action": actions, "Resource": [key_arn]})


def alarm_reaches_topic(test: IntegTest, stack: cdk.Stack, alarm: cloudwatch.Alarm,
                        topic: sns.ITopic | None = None, probe_id: str = "IntegAlarmProbe") -> list[IApiCall]:
    """SetAlarmState on ``alarm`` -> a probe queue subscribed to the alarm
    topic receives the notification naming it: proves the alarm action, the
    topic policy for CloudWatch and the topic key's policy together (what
    tests/test_service_access.py checks offline, ``alarm->topic``). ``probe_id``: the probe
    queue's construct ID, one per alarm checked in a stack."""
    topic = topic or alarm_topic(stack)
    queue = probe_queue(stack, probe_id)  # a second alarm of the same stack needs a probe queue of its own
    subscription = topic.add_subscription(subs.SqsSubscription(queue))
    reason = "integration-test probe subscription: a lost delivery fails the assertion that waits for it"
    secure.acknowledge(subscription, "Serverless-SNSRedrivePolicy", reason)
    secure.cfn_lint_ignore(subscription.node.default_child, "ES7000", reason)
    set_state = test.assertions.aws_api_call("CloudWatch", "setAlarmState", {
        "AlarmName": alarm.alarm_name, "StateValue": "ALARM",
        "StateReason": "integ: does this alarm's notification arrive?"})
    got = receive(test, queue.queue_url)
    got.expect(ExpectedResult.object_like({"Messages": Match.array_with([Match.object_like({
        "Body": Match.serialized_json(Match.object_like({
            "Type": "Notification", "TopicArn": topic.topic_arn,
            "Message": Match.serialized_json(Match.object_like({
                "AlarmName": alarm.alarm_name, "NewStateValue": "ALARM"}))}))})])}))
    return [set_state, bounded(got)]


def in_order(*calls: IApiCall | list[IApiCall]) -> None:
    """Run the assertions one after the other (each step after the previous one's result)."""
    flat = [c for item in calls for c in (item if isinstance(item, list) else [item])]
    for before, after in zip(flat, flat[1:]):
        before.next(after)


def dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


@jsii.implements(cdk.ILocalBundling)
class _PipBundling:
    """A probe's files and pure-Python packages from PyPI, without Docker."""

    def __init__(self, probe: Path, requirements: tuple[str, ...]) -> None:
        self.probe, self.requirements = probe, requirements

    def try_bundle(self, output_dir: str, *_args, **_kwargs) -> bool:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", output_dir, *self.requirements], check=True)
        for file in self.probe.glob("*.py"):
            (Path(output_dir) / file.name).write_text(file.read_text())
        return True


def pip_bundled(probe: str, *requirements: str) -> lambda_.Code:
    """The code of ``probes/<probe>`` with ``requirements`` (exact pins of pure-Python
    packages) installed beside it by pip at deploy time; the offline snapshot skips bundling."""
    return lambda_.Code.from_asset(str(PROBES / probe), bundling=cdk.BundlingOptions(
        image=lambda_.Runtime.PYTHON_3_13.bundling_image, local=_PipBundling(PROBES / probe, requirements)))
