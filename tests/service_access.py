"""Where an AWS service acts on a resource, derived from a synthesized
template, and whether the template's policies let it (issue 10, "Service
access, for every template the suite builds").

Three parts:

- ``SymbolicResolver`` resolves a template's intrinsic functions to symbolic
  but well-formed values: a resource's physical name is its logical ID (or
  the name its properties set), its ARN is built as AWS builds that type's
  ARN, the pseudo parameters are the stack's environment. A cross-stack
  reference resolves to an ``<external:...>`` marker.
- ``SERVICE_CONTEXT`` and ``TRUST_CONTEXT``: the request context each service
  is *documented* to set when it acts (URL per entry). A policy condition on
  a key that is not listed here is a condition on a key the service may not
  set, and fails, as it would in an account.
- ``derive(template)``: every ``Access`` (principal, action, resource,
  context, which policy decides) the template implies, from the resources
  themselves: alarm actions, SNS subscriptions and their dead-letter queues,
  encrypted topics, queues, log groups and streams, event source mappings and
  their failure destinations, Firehose sources and destinations, S3 access
  logging, ALB access and connection logs, CloudFront origin access control, RDS Proxy secrets, and every service role's
  trust policy. Nothing here lists a
  pattern's resources by name, so a new pattern is covered without edits.

``check(template, accesses)`` evaluates each access with tests/iam_eval.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.iam_eval import Decision, Principal, Request, evaluate
from tests.moto_cfn import TemplateResolver

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT = "123456789012"
EXTERNAL = "<external:"


def is_external(value: Any) -> bool:
    return EXTERNAL in str(value)


# --- symbolic resolution ---------------------------------------------------------

#: resource type -> (property that names it, how Ref resolves, {attribute: value}), each a
#: function of (resolver, name) -> str.
_Builder = Callable[["SymbolicResolver", str], str]


def _arn(service: str, resource: str, *, region: bool = True, account: bool = True) -> _Builder:
    def build(r: SymbolicResolver, name: str) -> str:
        where = f"{r.region if region else ''}:{r.account if account else ''}"
        return f"arn:{r.partition}:{service}:{where}:{resource.format(name=name)}"

    return build


def _name(r: SymbolicResolver, name: str) -> str:
    return name


_TYPES: dict[str, tuple[str | None, _Builder, dict[str, _Builder]]] = {
    "AWS::SNS::Topic": ("TopicName", _arn("sns", "{name}"), {"TopicArn": _arn("sns", "{name}"), "TopicName": _name}),
    "AWS::SQS::Queue": (
        "QueueName",
        lambda r, n: f"https://sqs.{r.region}.amazonaws.com/{r.account}/{n}",
        {
            "Arn": _arn("sqs", "{name}"),
            "QueueName": _name,
            "QueueUrl": lambda r, n: f"https://sqs.{r.region}.amazonaws.com/{r.account}/{n}",
        },
    ),
    "AWS::KMS::Key": (None, _name, {"Arn": _arn("kms", "key/{name}"), "KeyId": _name}),
    "AWS::IAM::Role": ("RoleName", _name, {"Arn": _arn("iam", "role/{name}", region=False), "RoleId": _name}),
    "AWS::Logs::LogGroup": ("LogGroupName", _name, {"Arn": _arn("logs", "log-group:{name}:*")}),
    "AWS::Logs::LogStream": ("LogStreamName", _name, {}),
    "AWS::Kinesis::Stream": ("Name", _name, {"Arn": _arn("kinesis", "stream/{name}")}),
    "AWS::Lambda::Function": ("FunctionName", _name, {"Arn": _arn("lambda", "function:{name}")}),
    "AWS::S3::Bucket": (
        "BucketName",
        _name,
        {
            "Arn": _arn("s3", "{name}", region=False, account=False),
            "DomainName": lambda r, n: f"{n}.s3.amazonaws.com",
            "RegionalDomainName": lambda r, n: f"{n}.s3.{r.region}.amazonaws.com",
        },
    ),
    "AWS::KinesisFirehose::DeliveryStream": (
        "DeliveryStreamName",
        _name,
        {"Arn": _arn("firehose", "deliverystream/{name}")},
    ),
    "AWS::CloudWatch::Alarm": ("AlarmName", _name, {"Arn": _arn("cloudwatch", "alarm:{name}")}),
    "AWS::SecretsManager::Secret": ("Name", _arn("secretsmanager", "secret:{name}-AbCdEf"), {}),
    "AWS::AmazonMQ::Broker": ("BrokerName", _name, {"Arn": _arn("mq", "broker:{name}:b-0123abcd")}),
    "AWS::CloudFront::Distribution": (None, _name, {"DomainName": lambda r, n: f"{n.lower()}.cloudfront.net"}),
    "AWS::Logs::DeliverySource": ("Name", _name, {"Arn": _arn("logs", "delivery-source:{name}")}),
    "AWS::Logs::DeliveryDestination": ("Name", _name, {"Arn": _arn("logs", "delivery-destination:{name}")}),
}


class SymbolicResolver(TemplateResolver):
    """Resolves a template's intrinsic functions to symbolic values (see the module docstring)."""

    def __init__(self, template: Mapping[str, Any], *, region: str | None = None, account: str | None = None,
                 stack_name: str = "Stack") -> None:
        self.template = dict(template)
        self.skipped = {}
        self.region = region or DEFAULT_REGION
        self.account = account or DEFAULT_ACCOUNT
        self.partition = "aws"
        self.stack_name = stack_name

    @property
    def resources(self) -> dict[str, dict]:
        return self.template["Resources"]

    def _physical_ids(self) -> Mapping[str, str]:
        return {lid: self._ref(lid) for lid in self.resources}

    def _stack_name(self) -> str:
        return self.stack_name

    def name_of(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        name_property = _TYPES.get(resource["Type"], (None,))[0]
        name = resource.get("Properties", {}).get(name_property) if name_property else None
        if name is not None:
            resolved = self.resolve(name)
            if isinstance(resolved, str):
                return resolved
        return logical_id if resource["Type"] != "AWS::S3::Bucket" else logical_id.lower()

    def resolve(self, value: Any) -> Any:
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            if fn == "Fn::Sub":
                text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                return re.sub(r"\$\{([^}!][^}]*)\}", lambda m: str(self._sub_var(m.group(1), variables)), text)
            if fn == "Fn::Split":
                sep, text = arg
                resolved = self.resolve(text)
                return resolved.split(sep) if isinstance(resolved, str) else [resolved]
            if fn == "Fn::GetAZs":
                return [f"{self.region}{z}" for z in "abc"]
            if fn == "Fn::If":
                return {"Fn::If": arg}  # conditions are not evaluated; policies here do not use them
        return super().resolve(value)

    def _sub_var(self, name: str, variables: Mapping[str, Any]) -> Any:
        if name in variables:
            return self.resolve(variables[name])
        if "." in name:
            return self._get_att(*name.split(".", 1))
        return self._ref(name)

    def _ref(self, name: str) -> str:
        pseudo = {"AWS::Region": self.region, "AWS::AccountId": self.account, "AWS::Partition": self.partition,
                  "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": self.stack_name,
                  "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/id",
                  "AWS::NoValue": ""}
        if name in pseudo:
            return pseudo[name]
        if name in self.template.get("Parameters", {}):
            return f"<parameter:{name}>"
        resource = self.resources[name]
        if resource["Type"] == "AWS::SecretsManager::SecretTargetAttachment":
            return self.resolve(resource["Properties"]["SecretId"])  # Ref: the attached secret's ARN
        builder = _TYPES.get(resource["Type"], (None, _name, {}))[1]
        return builder(self, self.name_of(name))

    def _get_att(self, logical_id: str, attribute: str) -> Any:
        resource = self.resources[logical_id]
        rtype = resource["Type"]
        if rtype == "AWS::Kinesis::StreamConsumer" and attribute == "ConsumerARN":
            props = resource["Properties"]
            return f"{self.resolve(props['StreamARN'])}/consumer/{self.resolve(props['ConsumerName'])}:1700000000"
        builders = _TYPES.get(rtype, (None, _name, {}))[2]
        if attribute in builders:
            return builders[attribute](self, self.name_of(logical_id))
        if attribute == "Arn":
            service = rtype.split("::")[1].lower()
            return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{logical_id}"
        return f"<{logical_id}.{attribute}>"

    def _cross_stack(self, arg: Any) -> Any:
        return f"{EXTERNAL}{arg}>"

    def target(self, value: Any, *types: str) -> str | None:
        """The logical ID ``value`` (a Ref or GetAtt, possibly in a Join) points to, if of one of ``types``."""
        if isinstance(value, dict) and len(value) == 1:
            ((fn, arg),) = value.items()
            lid = arg if fn == "Ref" else arg[0] if fn == "Fn::GetAtt" else None
            if isinstance(lid, str) and lid in self.resources and self.resources[lid]["Type"] in types:
                return lid
        return None

    def path(self, logical_id: str) -> str:
        """The construct path below the stack (stable, readable), else the logical ID."""
        path = self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path", logical_id)
        path = path.split("/", 1)[1] if "/" in path else path
        return path.removesuffix("/Resource")


# --- what each service is documented to set --------------------------------------------------


@dataclass(frozen=True)
class ServiceContext:
    """The request context a service sets when it acts on a resource.

    ``keys`` maps each condition key to how its value is built from
    (resolver, source ARN, target ARN); ``doc`` is the page that documents
    them."""

    keys: Mapping[str, Callable[[SymbolicResolver, str, str], str]]
    doc: str

    def context(self, r: SymbolicResolver, source: str, target: str) -> dict[str, str]:
        return {key: build(r, source, target) for key, build in self.keys.items()}


def _source(r: SymbolicResolver, source: str, target: str) -> str:
    return source


def _target(r: SymbolicResolver, source: str, target: str) -> str:
    return target


def _account(r: SymbolicResolver, source: str, target: str) -> str:
    return r.account


def _via(service: str) -> Callable[[SymbolicResolver, str, str], str]:
    return lambda r, s, t: f"{service}.{r.region}.amazonaws.com"


def _true(r: SymbolicResolver, source: str, target: str) -> str:
    return "true"


#: (acting service, what it does) -> what it sets. Only keys the page documents.
SERVICE_CONTEXT: dict[str, ServiceContext] = {
    # CloudWatch publishing an alarm state change to a topic: the topic policy
    # example conditions on aws:SourceArn (the alarm) and aws:SourceAccount.
    "cloudwatch->sns": ServiceContext(
        {"aws:SourceArn": _source, "aws:SourceAccount": _account},
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html",
    ),
    # ... and to an encrypted topic: the key policy for an AWS service
    # publisher conditions on aws:SourceArn (the alarm) and the SNS encryption
    # context kms:EncryptionContext:aws:sns:topicArn.
    "cloudwatch->sns-key": ServiceContext(
        {"aws:SourceArn": _source, "aws:SourceAccount": _account, "kms:EncryptionContext:aws:sns:topicArn": _target},
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services",
    ),
    # SNS delivering to a subscribed queue (and to a subscription's
    # dead-letter queue): the queue policy conditions on aws:SourceArn = topic.
    "sns->sqs": ServiceContext(
        {"aws:SourceArn": _source},
        "https://docs.aws.amazon.com/sns/latest/dg/subscribe-sqs-queue-to-sns-topic.html",
    ),
    # ... to an encrypted queue: the key policy admits sns.amazonaws.com with
    # aws:SourceArn = topic; SQS's encryption context is aws:sqs:arn = queue.
    "sns->sqs-key": ServiceContext(
        {"aws:SourceArn": _source, "kms:EncryptionContext:aws:sqs:arn": _target},
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",
    ),
    # CloudWatch Logs encrypting a log group: logs.<region>.amazonaws.com with
    # the encryption context kms:EncryptionContext:aws:logs:arn = log group ARN.
    "logs->key": ServiceContext(
        {"kms:EncryptionContext:aws:logs:arn": _target},
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/logs/encrypt-log-data-kms.html",
    ),
    # A role (Lambda's execution role, Firehose's role) calling SQS/Kinesis/S3
    # over TLS; KMS calls made on its behalf carry kms:ViaService,
    # kms:CallerAccount and the service's encryption context.
    "role->sqs": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-configure.html#events-sqs-permissions",
    ),
    "role->sqs-key": ServiceContext(
        {"kms:ViaService": _via("sqs"), "kms:CallerAccount": _account, "kms:EncryptionContext:aws:sqs:arn": _target},
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html",
    ),
    "role->sns": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html",
    ),
    "role->sns-key": ServiceContext(
        {"kms:ViaService": _via("sns"), "kms:CallerAccount": _account,
         "kms:EncryptionContext:aws:sns:topicArn": _target},
        "https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html",
    ),
    "role->kinesis": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html",
    ),
    "role->kinesis-key": ServiceContext(
        {"kms:ViaService": _via("kinesis"), "kms:CallerAccount": _account,
         "kms:EncryptionContext:aws:kinesis:arn": _target},
        "https://docs.aws.amazon.com/streams/latest/dev/permissions-user-key-KMS.html",
    ),
    "role->s3": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3",
    ),
    "role->s3-key": ServiceContext(
        {"kms:ViaService": _via("s3"), "kms:CallerAccount": _account, "kms:EncryptionContext:aws:s3:arn": _target},
        "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3",
    ),
    "role->logs": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3",
    ),
    # CloudFront reading an S3 origin through origin access control: the bucket
    # policy (and the bucket key's policy) condition on aws:SourceArn = the distribution.
    "cloudfront->s3": ServiceContext(
        {"aws:SourceArn": _source},
        "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html",
    ),
    "cloudfront->s3-key": ServiceContext(
        {"aws:SourceArn": _source},
        "https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/private-content-restricting-access-to-s3.html",
    ),
    # RDS Proxy's role reading the database secrets it authenticates with;
    # Secrets Manager's KMS calls carry kms:ViaService and the SecretARN context.
    "role->secretsmanager": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-secrets-arns.html",
    ),
    # Lambda's Amazon MQ event source, with the function's role: DescribeBroker
    # on the broker, GetSecretValue on the BASIC_AUTH secret (and its key).
    "role->mq": ServiceContext(
        {"aws:SecureTransport": _true},
        "https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html#events-mq-permissions",
    ),
    "role->secretsmanager-key": ServiceContext(
        {"kms:ViaService": _via("secretsmanager"), "kms:CallerAccount": _account,
         "kms:EncryptionContext:SecretARN": _target},
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/security-encryption.html",
    ),
    # ALB access and connection logs: in a Region available before August 2022 the bucket policy
    # admits the Region's Elastic Load Balancing account (no condition keys documented for it).
    "elb-logs->s3": ServiceContext(
        {},
        "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html",
    ),
    # S3 server access logging: the target bucket policy admits
    # logging.s3.amazonaws.com with aws:SourceArn = source bucket, aws:SourceAccount.
    "s3-logging->s3": ServiceContext(
        {"aws:SourceArn": _source, "aws:SourceAccount": _account},
        "https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-server-access-logging.html#grant-log-delivery-permissions-general",
    ),
}


#: Region -> the Elastic Load Balancing account that delivers ALB logs there (the ALB guide's table,
#: https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html),
#: for the Regions the suite deploys to. A Region missing here is reported, not guessed.
ELB_LOG_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "ap-southeast-2": "783225319266",
}


@dataclass(frozen=True)
class TrustContext:
    """What a service sets when it assumes a service role (sts:AssumeRole)."""

    keys: Mapping[str, Callable[[SymbolicResolver], str]]
    doc: str


#: service principal -> the keys its documentation names for a service role's trust policy.
TRUST_CONTEXT: dict[str, TrustContext] = {
    # No condition keys are documented for an execution role's trust policy.
    "lambda.amazonaws.com": TrustContext(
        {}, "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html"
    ),
    "ec2.amazonaws.com": TrustContext(
        {}, "https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/iam-roles-for-amazon-ec2.html"
    ),
    # The role an AWS Backup plan's selection names: the service assumes it with no documented condition keys.
    "backup.amazonaws.com": TrustContext(
        {}, "https://docs.aws.amazon.com/aws-backup/latest/devguide/iam-service-roles.html"
    ),
    # The task role's trust may condition on aws:SourceAccount and aws:SourceArn (arn:...:ecs:region:account:*).
    "ecs-tasks.amazonaws.com": TrustContext(
        {"aws:SourceAccount": lambda r: r.account,
         "aws:SourceArn": lambda r: f"arn:{r.partition}:ecs:{r.region}:{r.account}:task/cluster/0123456789abcdef"},
        "https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html",
    ),
    # Firehose: sts:ExternalId = the account ID.
    "firehose.amazonaws.com": TrustContext(
        {"sts:ExternalId": lambda r: r.account},
        "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3",
    ),
    # Flow logs: aws:SourceAccount and aws:SourceArn = the flow log.
    "vpc-flow-logs.amazonaws.com": TrustContext(
        {"aws:SourceAccount": lambda r: r.account,
         "aws:SourceArn": lambda r: f"arn:{r.partition}:ec2:{r.region}:{r.account}:vpc-flow-log/fl-0123456789abcdef0"},
        "https://docs.aws.amazon.com/vpc/latest/userguide/flow-logs-iam-role.html",
    ),
    # RDS Enhanced Monitoring: aws:SourceAccount and aws:SourceArn = the DB instance.
    "monitoring.rds.amazonaws.com": TrustContext(
        {"aws:SourceAccount": lambda r: r.account,
         "aws:SourceArn": lambda r: f"arn:{r.partition}:rds:{r.region}:{r.account}:db:instance-1"},
        "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_Monitoring.OS.Enabling.html",
    ),
    # RDS Proxy's role for reading its secrets: no condition keys documented.
    "rds.amazonaws.com": TrustContext(
        {}, "https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html"
    ),
    # SNS delivery-status logging role: the page documents no condition keys.
    "sns.amazonaws.com": TrustContext(
        {}, "https://docs.aws.amazon.com/sns/latest/dg/topics-attrib-prerequisites.html"
    ),
}


# --- accesses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    """One place where a principal acts on a resource, and the policy that decides it."""

    kind: str  # e.g. "alarm->topic"
    source: str  # construct path of what acts (alarm, topic, role, log group...)
    target: str  # construct path of what is acted on
    policy: str  # "topic policy", "queue policy", "key policy", "trust policy", "identity policy"
    request: Request
    doc: str
    resource_policy: Mapping[str, Any] | None = None
    identity_policies: tuple[Mapping[str, Any], ...] = ()
    key_policy: bool = False

    @property
    def name(self) -> str:
        who = f"{self.request.principal} {self.request.action}"
        return f"{self.kind}: {self.source} -> {self.target} ({self.policy}, {who})"

    def decide(self) -> Decision:
        return evaluate(self.request, resource_policy=self.resource_policy,
                        identity_policies=self.identity_policies, key_policy=self.key_policy)


@dataclass
class Derivation:
    accesses: list[Access] = field(default_factory=list)
    external: list[str] = field(default_factory=list)  # pairs whose target is outside the template
    problems: list[str] = field(default_factory=list)  # pairs that cannot be checked (no policy, unknown service)


class _Deriver:
    def __init__(self, r: SymbolicResolver) -> None:
        self.r = r
        self.out = Derivation()

    # -- policy lookups --

    def of_type(self, *types: str) -> Iterator[tuple[str, dict]]:
        for lid, res in self.r.resources.items():
            if res["Type"] in types:
                yield lid, res.get("Properties", {})

    def attached_policy(self, policy_type: str, list_property: str, target: str, *,
                        document: str = "PolicyDocument") -> dict | None:
        """The resolved policy document of a TopicPolicy/QueuePolicy/BucketPolicy naming ``target``."""
        ref = self.r._ref(target)
        docs = []
        for _, props in self.of_type(policy_type):
            names = props.get(list_property)
            names = names if isinstance(names, list) else [names]
            if any(self.r.resolve(n) == ref for n in names):
                docs.append(self.r.resolve(props[document]))
        if not docs:
            return None
        return {"Statement": [s for d in docs for s in d["Statement"]]}

    def bucket_policy(self, bucket: str) -> dict | None:
        ref = self.r._ref(bucket)
        docs = [self.r.resolve(p["PolicyDocument"]) for _, p in self.of_type("AWS::S3::BucketPolicy")
                if self.r.resolve(p["Bucket"]) == ref]
        return {"Statement": [s for d in docs for s in d["Statement"]]} if docs else None

    def key_policy(self, key: str) -> dict:
        return self.r.resolve(self.r.resources[key]["Properties"]["KeyPolicy"])

    def identity_policies(self, role: str) -> tuple[dict, ...]:
        ref = self.r._ref(role)
        docs = [self.r.resolve(p["PolicyDocument"]) for p in self.r.resources[role]["Properties"].get("Policies", [])]
        for _, props in self.of_type("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            if any(self.r.resolve(x) == ref for x in props.get("Roles", [])):
                docs.append(self.r.resolve(props["PolicyDocument"]))
        return tuple(docs)

    # -- recording --

    def add(self, kind: str, source: str, target: str, policy: str, principal: Principal, actions: list[str],
            resource: str, ctx: ServiceContext | TrustContext, context: Mapping[str, str], *,
            resource_policy: Mapping[str, Any] | None, identity: tuple = (), key: bool = False) -> None:
        for action in actions:
            self.out.accesses.append(Access(
                kind, self.r.path(source), self.r.path(target), policy,
                Request(principal, action, resource, dict(context)), ctx.doc,
                resource_policy, identity, key))

    def external(self, kind: str, source: str, value: Any) -> None:
        self.out.external.append(f"{kind}: {self.r.path(source)} -> {self.r.resolve(value)}")

    def key_of(self, kind: str, source: str, value: Any) -> str | None:
        """The template's key a KmsKeyId-like property points to; None (and counted) when outside."""
        if value is None:
            return None
        key = self.r.target(value, "AWS::KMS::Key")
        if key is None:
            resolved = str(self.r.resolve(value))
            if not resolved.startswith("alias/aws/"):  # AWS managed keys admit their service
                self.external(kind, source, value)
        return key

    # -- rules --

    def alarms(self) -> None:
        for alarm, props in self.of_type("AWS::CloudWatch::Alarm"):
            alarm_arn = self.r._get_att(alarm, "Arn")
            actions = {str(a): a for k in ("AlarmActions", "OKActions", "InsufficientDataActions")
                       for a in props.get(k, [])}
            for action in actions.values():
                topic = self.r.target(action, "AWS::SNS::Topic")
                if topic is None:
                    if self.r.target(action, *{r["Type"] for r in self.r.resources.values()}) is not None:
                        continue  # a scaling policy or another action in the template, not a topic
                    resolved = str(self.r.resolve(action))
                    if resolved.startswith("arn:") and ":sns:" not in resolved:
                        continue  # an EC2 or auto scaling action ARN, not a topic
                    self.external("alarm->topic", alarm, action)
                    continue
                self.publish_to_topic("alarm->topic", alarm, alarm_arn, topic,
                                      Principal.of_service("cloudwatch.amazonaws.com"), "cloudwatch->sns")

    def publish_to_topic(self, kind: str, source: str, source_arn: str, topic: str, principal: Principal,
                         ctx_name: str) -> None:
        topic_arn = self.r._ref(topic)
        policy = self.attached_policy("AWS::SNS::TopicPolicy", "Topics", topic)
        ctx = SERVICE_CONTEXT[ctx_name]
        if policy is None:
            self.out.problems.append(
                f"{kind}: {self.r.path(topic)} has no topic policy (SNS's default is not modelled)"
            )
        else:
            self.add(kind, source, topic, "topic policy", principal, ["sns:Publish"], topic_arn, ctx,
                     ctx.context(self.r, source_arn, topic_arn), resource_policy=policy)
        key = self.key_of(kind, source, self.r.resources[topic].get("Properties", {}).get("KmsMasterKeyId"))
        if key is not None:
            kctx = SERVICE_CONTEXT[f"{ctx_name}-key"]
            self.add(kind, source, key, "key policy", principal, ["kms:GenerateDataKey", "kms:Decrypt"],
                     self.r._get_att(key, "Arn"), kctx, kctx.context(self.r, source_arn, topic_arn),
                     resource_policy=self.key_policy(key), key=True)

    def send_to_queue(self, kind: str, source: str, source_arn: str, queue: str, principal: Principal,
                      ctx_name: str, identity: tuple = ()) -> None:
        queue_arn = self.r._get_att(queue, "Arn")
        ctx = SERVICE_CONTEXT[ctx_name]
        policy = self.attached_policy("AWS::SQS::QueuePolicy", "Queues", queue)
        self.add(kind, source, queue, "queue policy", principal, ["sqs:SendMessage"], queue_arn, ctx,
                 ctx.context(self.r, source_arn, queue_arn), resource_policy=policy, identity=identity)
        key = self.key_of(kind, source, self.r.resources[queue].get("Properties", {}).get("KmsMasterKeyId"))
        if key is not None:
            kctx = SERVICE_CONTEXT[f"{ctx_name}-key"]
            self.add(kind, source, key, "key policy", principal, ["kms:GenerateDataKey", "kms:Decrypt"],
                     self.r._get_att(key, "Arn"), kctx, kctx.context(self.r, source_arn, queue_arn),
                     resource_policy=self.key_policy(key), identity=identity, key=True)

    def subscriptions(self) -> None:
        sns = Principal.of_service("sns.amazonaws.com")
        for sub, props in self.of_type("AWS::SNS::Subscription"):
            topic = self.r.target(props["TopicArn"], "AWS::SNS::Topic")
            topic_arn = self.r._ref(topic) if topic else str(self.r.resolve(props["TopicArn"]))
            targets = []
            if props.get("Protocol") == "sqs":
                targets.append(("topic->queue", props["Endpoint"]))
            dlq = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
            if dlq is not None:
                targets.append(("topic->delivery-dlq", dlq))
            for kind, endpoint in targets:
                queue = self.r.target(endpoint, "AWS::SQS::Queue")
                if queue is None:
                    self.external(kind, sub, endpoint)
                    continue
                self.send_to_queue(kind, sub, topic_arn, queue, sns, "sns->sqs")

    def log_groups(self) -> None:
        for group, props in self.of_type("AWS::Logs::LogGroup"):
            key = self.key_of("logs->key", group, props.get("KmsKeyId"))
            if key is None:
                continue
            group_arn = self.r._get_att(group, "Arn").removesuffix(":*")
            ctx = SERVICE_CONTEXT["logs->key"]
            principal = Principal.of_service(f"logs.{self.r.region}.amazonaws.com")
            self.add("logs->key", group, key, "key policy", principal,
                     ["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:GenerateDataKey"],
                     self.r._get_att(key, "Arn"), ctx, ctx.context(self.r, group_arn, group_arn),
                     resource_policy=self.key_policy(key), key=True)

    def role_reads(self, kind: str, source: str, role: str, target: str, actions: list[str], service: str,
                   resource: str | None = None, policy_kind: str | None = None) -> None:
        """``role`` calls ``service`` ``actions`` on ``target`` (and decrypts with its key)."""
        principal = Principal.of_arn(self.r._get_att(role, "Arn"))
        identity = self.identity_policies(role)
        ttype = self.r.resources[target]["Type"]
        attribute = "ConsumerARN" if ttype == "AWS::Kinesis::StreamConsumer" else "Arn"
        target_arn = resource or self.r._get_att(target, attribute)
        ctx = SERVICE_CONTEXT[f"role->{service}"]
        resource_policy = {
            "AWS::SQS::Queue": lambda: self.attached_policy("AWS::SQS::QueuePolicy", "Queues", target),
            "AWS::S3::Bucket": lambda: self.bucket_policy(target),
            "AWS::SecretsManager::Secret": lambda: self.attached_policy(
                "AWS::SecretsManager::ResourcePolicy", "SecretId", target, document="ResourcePolicy"),
        }.get(ttype, lambda: None)()
        self.add(kind, source, target, policy_kind or "identity policy", principal, actions, target_arn, ctx,
                 ctx.context(self.r, "", target_arn), resource_policy=resource_policy, identity=identity)

    def role_uses_key(self, kind: str, source: str, role: str, key_value: Any, service: str, actions: list[str],
                      context_arn: str) -> None:
        key = self.key_of(kind, source, key_value)
        if key is None:
            return
        principal = Principal.of_arn(self.r._get_att(role, "Arn"))
        ctx = SERVICE_CONTEXT[f"role->{service}-key"]
        self.add(kind, source, key, "key policy", principal, actions, self.r._get_att(key, "Arn"), ctx,
                 ctx.context(self.r, "", context_arn), resource_policy=self.key_policy(key),
                 identity=self.identity_policies(role), key=True)

    def function_role(self, function_value: Any) -> str | None:
        function = self.r.target(function_value, "AWS::Lambda::Function")
        if function is None:
            return None
        return self.r.target(self.r.resources[function]["Properties"].get("Role"), "AWS::IAM::Role")

    def event_sources(self) -> None:
        kind = "event-source->function"
        for esm, props in self.of_type("AWS::Lambda::EventSourceMapping"):
            role = self.function_role(props["FunctionName"])
            if role is None:
                self.external(kind, esm, props["FunctionName"])
                continue
            source = self.r.target(props.get("EventSourceArn"), "AWS::SQS::Queue", "AWS::Kinesis::Stream",
                                   "AWS::Kinesis::StreamConsumer", "AWS::AmazonMQ::Broker")
            if source is None:
                self.external(kind, esm, props.get("EventSourceArn"))
                continue
            stype = self.r.resources[source]["Type"]
            if stype == "AWS::AmazonMQ::Broker":
                self.read_broker(kind, esm, role, source, props)
            elif stype == "AWS::SQS::Queue":
                self.role_reads(kind, esm, role, source,
                                ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], "sqs")
                self.role_uses_key(kind, esm, role, self.r.resources[source]["Properties"].get("KmsMasterKeyId"),
                                   "sqs", ["kms:Decrypt"], self.r._get_att(source, "Arn"))
            else:
                stream = source
                if stype == "AWS::Kinesis::StreamConsumer":
                    self.role_reads(kind, esm, role, source,
                                    ["kinesis:SubscribeToShard", "kinesis:DescribeStreamConsumer"], "kinesis")
                    stream = self.r.target(self.r.resources[source]["Properties"]["StreamARN"], "AWS::Kinesis::Stream")
                    if stream is None:
                        self.external(kind, esm, self.r.resources[source]["Properties"]["StreamARN"])
                        continue
                self.read_stream(kind, esm, role, stream)
            on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
            if on_failure is not None:
                self.role_sends(f"{kind}-on-failure", esm, role, on_failure)

    def read_broker(self, kind: str, source: str, role: str, broker: str, props: dict) -> None:
        """An Amazon MQ event source: the role describes the broker and reads
        the BASIC_AUTH secret (decrypting through Secrets Manager)."""
        self.role_reads(kind, source, role, broker, ["mq:DescribeBroker"], "mq")
        for access in props.get("SourceAccessConfigurations", []):
            if access.get("Type") != "BASIC_AUTH":
                continue
            secret = self.r.target(access["URI"], "AWS::SecretsManager::Secret")
            if secret is None:
                self.external(kind, source, access["URI"])
                continue
            secret_arn = self.r._ref(secret)
            self.role_reads(kind, source, role, secret, ["secretsmanager:GetSecretValue"], "secretsmanager",
                            resource=secret_arn)
            self.role_uses_key(kind, source, role, self.r.resources[secret]["Properties"].get("KmsKeyId"),
                               "secretsmanager", ["kms:Decrypt"], secret_arn)

    def read_stream(self, kind: str, source: str, role: str, stream: str) -> None:
        self.role_reads(kind, source, role, stream,
                        ["kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords",
                         "kinesis:GetShardIterator", "kinesis:ListShards"], "kinesis")
        encryption = self.r.resources[stream]["Properties"].get("StreamEncryption") or {}
        if encryption.get("EncryptionType") == "KMS":
            self.role_uses_key(kind, source, role, encryption.get("KeyId"), "kinesis", ["kms:Decrypt"],
                               self.r._get_att(stream, "Arn"))

    def role_sends(self, kind: str, source: str, role: str, destination: Any) -> None:
        queue = self.r.target(destination, "AWS::SQS::Queue")
        topic = self.r.target(destination, "AWS::SNS::Topic")
        if queue is not None:
            self.role_reads(kind, source, role, queue, ["sqs:SendMessage"], "sqs")
            self.role_uses_key(kind, source, role, self.r.resources[queue]["Properties"].get("KmsMasterKeyId"),
                               "sqs", ["kms:GenerateDataKey", "kms:Decrypt"], self.r._get_att(queue, "Arn"))
        elif topic is not None:
            principal = Principal.of_arn(self.r._get_att(role, "Arn"))
            topic_arn = self.r._ref(topic)
            ctx = SERVICE_CONTEXT["role->sns"]
            self.add(kind, source, topic, "topic policy", principal, ["sns:Publish"], topic_arn, ctx,
                     ctx.context(self.r, "", topic_arn),
                     resource_policy=self.attached_policy("AWS::SNS::TopicPolicy", "Topics", topic),
                     identity=self.identity_policies(role))
            self.role_uses_key(kind, source, role, self.r.resources[topic]["Properties"].get("KmsMasterKeyId"),
                               "sns", ["kms:GenerateDataKey", "kms:Decrypt"], topic_arn)
        else:
            self.external(kind, source, destination)

    def firehose(self) -> None:
        for stream, props in self.of_type("AWS::KinesisFirehose::DeliveryStream"):
            source = props.get("KinesisStreamSourceConfiguration")
            if source:
                role = self.r.target(source["RoleARN"], "AWS::IAM::Role")
                kinesis = self.r.target(source["KinesisStreamARN"], "AWS::Kinesis::Stream")
                if role is None or kinesis is None:
                    self.external("firehose->source", stream, source)
                else:
                    self.read_stream("firehose->source", stream, role, kinesis)
            dest = props.get("ExtendedS3DestinationConfiguration") or props.get("S3DestinationConfiguration")
            if not dest:
                continue
            kind = "firehose->s3"
            role = self.r.target(dest["RoleARN"], "AWS::IAM::Role")
            bucket = self.r.target(dest["BucketARN"], "AWS::S3::Bucket")
            if role is None or bucket is None:
                self.external(kind, stream, dest["BucketARN"])
                continue
            bucket_arn = self.r._get_att(bucket, "Arn")
            prefix = re.sub(r"!\{[^}]*\}", "x", dest.get("Prefix", ""))
            error_prefix = re.sub(r"!\{[^}]*\}", "x", dest.get("ErrorOutputPrefix", ""))
            self.role_reads(kind, stream, role, bucket, ["s3:GetBucketLocation", "s3:ListBucket"], "s3",
                            resource=bucket_arn)
            for key_prefix in {prefix, error_prefix}:
                obj = f"{bucket_arn}/{key_prefix}object.gz"
                self.role_reads(kind, stream, role, bucket, ["s3:PutObject", "s3:AbortMultipartUpload"], "s3",
                                resource=obj)
            kms = ((dest.get("EncryptionConfiguration") or {}).get("KMSEncryptionConfig") or {}).get("AWSKMSKeyARN")
            if kms is not None:
                self.role_uses_key(kind, stream, role, kms, "s3", ["kms:GenerateDataKey", "kms:Decrypt"],
                                   f"{bucket_arn}/{prefix}object.gz")
            logging = dest.get("CloudWatchLoggingOptions") or {}
            group = self.r.target(logging.get("LogGroupName"), "AWS::Logs::LogGroup")
            group = group if logging.get("Enabled") else None
            if group is not None:
                stream_name = self.r.resolve(logging.get("LogStreamName", "stream"))
                group_arn = self.r._get_att(group, "Arn").removesuffix(":*")
                self.role_reads("firehose->logs", stream, role, group, ["logs:PutLogEvents"], "logs",
                                resource=f"{group_arn}:log-stream:{stream_name}")

    def bucket_logging(self) -> None:
        kind = "bucket->access-logs"
        principal = Principal.of_service("logging.s3.amazonaws.com")
        ctx = SERVICE_CONTEXT["s3-logging->s3"]
        for bucket, props in self.of_type("AWS::S3::Bucket"):
            logging = props.get("LoggingConfiguration")
            if not logging or "DestinationBucketName" not in logging:
                continue
            target = self.r.target(logging["DestinationBucketName"], "AWS::S3::Bucket")
            if target is None:
                self.external(kind, bucket, logging["DestinationBucketName"])
                continue
            prefix = self.r.resolve(logging.get("LogFilePrefix", ""))
            obj = f"{self.r._get_att(target, 'Arn')}/{prefix}2024-01-01-00-00-00-0123456789ABCDEF"
            self.add(kind, bucket, target, "bucket policy", principal, ["s3:PutObject"], obj, ctx,
                     ctx.context(self.r, self.r._get_att(bucket, "Arn"), obj),
                     resource_policy=self.bucket_policy(target))

    def load_balancer_logs(self) -> None:
        """ALB access and connection logs: the Region's ELB account puts objects under
        ``<prefix>/AWSLogs/<account>/`` in the bucket the attributes name."""
        kind = "load-balancer->logs"
        ctx = SERVICE_CONTEXT["elb-logs->s3"]
        for alb, props in self.of_type("AWS::ElasticLoadBalancingV2::LoadBalancer"):
            attributes = {a["Key"]: a["Value"] for a in props.get("LoadBalancerAttributes", [])}
            for log in ("access_logs", "connection_logs"):
                if str(self.r.resolve(attributes.get(f"{log}.s3.enabled"))).lower() != "true":
                    continue
                target = self.r.target(attributes[f"{log}.s3.bucket"], "AWS::S3::Bucket")
                if target is None:
                    self.external(kind, alb, attributes[f"{log}.s3.bucket"])
                    continue
                account = ELB_LOG_ACCOUNTS.get(self.r.region)
                if account is None:
                    self.out.problems.append(f"{kind}: {self.r.path(alb)} logs in {self.r.region}, which has no "
                                             "entry in ELB_LOG_ACCOUNTS")
                    continue
                prefix = str(self.r.resolve(attributes.get(f"{log}.s3.prefix", ""))).strip("/")
                obj = (f"{self.r._get_att(target, 'Arn')}/{prefix + '/' if prefix else ''}AWSLogs/{self.r.account}/"
                       f"elasticloadbalancing/{self.r.region}/2024/01/01/{log}.log.gz")
                self.add(kind, alb, target, "bucket policy", Principal.of_arn(f"arn:{self.r.partition}:iam::{account}:root"),
                         ["s3:PutObject"], obj, ctx, {}, resource_policy=self.bucket_policy(target))

    def cloudfront_origins(self) -> None:
        kind = "distribution->s3-origin"
        principal = Principal.of_service("cloudfront.amazonaws.com")
        ctx, kctx = SERVICE_CONTEXT["cloudfront->s3"], SERVICE_CONTEXT["cloudfront->s3-key"]
        for distribution, props in self.of_type("AWS::CloudFront::Distribution"):
            distribution_id = self.r._ref(distribution)
            distribution_arn = f"arn:{self.r.partition}:cloudfront::{self.r.account}:distribution/{distribution_id}"
            for origin in props["DistributionConfig"].get("Origins", []):
                if not origin.get("OriginAccessControlId"):
                    continue
                bucket = self.r.target(origin["DomainName"], "AWS::S3::Bucket")
                if bucket is None:
                    self.external(kind, distribution, origin["DomainName"])
                    continue
                path = self.r.resolve(origin.get("OriginPath", "")).strip("/")
                obj = f"{self.r._get_att(bucket, 'Arn')}/{path + '/' if path else ''}index.html"
                self.add(kind, distribution, bucket, "bucket policy", principal, ["s3:GetObject"], obj, ctx,
                         ctx.context(self.r, distribution_arn, obj), resource_policy=self.bucket_policy(bucket))
                encryption = self.r.resources[bucket]["Properties"].get("BucketEncryption") or {}
                for rule in encryption.get("ServerSideEncryptionConfiguration", []):
                    default = rule.get("ServerSideEncryptionByDefault") or {}
                    if default.get("SSEAlgorithm", "").startswith("aws:kms"):
                        key = self.key_of(kind, distribution, default.get("KMSMasterKeyID"))
                        if key is not None:
                            self.add(kind, distribution, key, "key policy", principal, ["kms:Decrypt"],
                                     self.r._get_att(key, "Arn"), kctx, kctx.context(self.r, distribution_arn, obj),
                                     resource_policy=self.key_policy(key), key=True)

    def proxies(self) -> None:
        kind = "proxy->secret"
        for proxy, props in self.of_type("AWS::RDS::DBProxy"):
            role = self.r.target(props["RoleArn"], "AWS::IAM::Role")
            for auth in props.get("Auth", []):
                if "SecretArn" not in auth:
                    continue
                secret = self.r.target(auth["SecretArn"], "AWS::SecretsManager::Secret",
                                       "AWS::SecretsManager::SecretTargetAttachment")
                if secret is not None and self.r.resources[secret]["Type"].endswith("SecretTargetAttachment"):
                    secret = self.r.target(self.r.resources[secret]["Properties"]["SecretId"],
                                           "AWS::SecretsManager::Secret")
                if role is None or secret is None:
                    self.external(kind, proxy, auth["SecretArn"])
                    continue
                secret_arn = self.r._ref(secret)
                self.role_reads(kind, proxy, role, secret, ["secretsmanager:GetSecretValue"], "secretsmanager",
                                resource=secret_arn)
                self.role_uses_key(kind, proxy, role, self.r.resources[secret]["Properties"].get("KmsKeyId"),
                                   "secretsmanager", ["kms:Decrypt"], secret_arn)

    def trust(self) -> None:
        for role, props in self.of_type("AWS::IAM::Role"):
            trust = self.r.resolve(props["AssumeRolePolicyDocument"])
            services = set()
            for statement in trust["Statement"]:
                if statement.get("Effect") != "Allow":
                    continue
                principal = statement.get("Principal", {})
                if isinstance(principal, dict):
                    value = principal.get("Service", [])
                    services.update(value if isinstance(value, list) else [value])
            for service in sorted(services):
                doc = TRUST_CONTEXT.get(service)
                if doc is None:
                    self.out.problems.append(
                        f"role trust: {self.r.path(role)} trusts {service}, which has no entry in TRUST_CONTEXT"
                    )
                    continue
                self.add("role-trust", role, role, "trust policy", Principal.of_service(service),
                         ["sts:AssumeRole"], self.r._get_att(role, "Arn"), doc,
                         {k: build(self.r) for k, build in doc.keys.items()}, resource_policy=trust)


def derive(template: Mapping[str, Any], *, region: str | None = None, account: str | None = None,
           stack_name: str = "Stack") -> Derivation:
    deriver = _Deriver(SymbolicResolver(template, region=region, account=account, stack_name=stack_name))
    deriver.alarms()
    deriver.subscriptions()
    deriver.log_groups()
    deriver.event_sources()
    deriver.firehose()
    deriver.bucket_logging()
    deriver.load_balancer_logs()
    deriver.cloudfront_origins()
    deriver.proxies()
    deriver.trust()
    return deriver.out


def failures(derivation: Derivation) -> dict[str, Decision]:
    """Access name -> decision, for every access the policies do not allow."""
    out = {}
    for access in derivation.accesses:
        decision = access.decide()
        if decision is not Decision.ALLOW:
            out[access.name] = decision
    return out
