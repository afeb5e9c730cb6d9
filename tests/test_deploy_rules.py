"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from tests.conftest import ALL_STACKS, Assembly


def resources(assembly: Assembly, resource_type: str) -> Iterator[tuple[str, str, dict]]:
    """(stack ID, logical ID, template entry) of every resource of ``resource_type`` in every template."""
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.of_type(stack_id, resource_type).items():
            yield stack_id, logical_id, resource


# --- worker fleet ---

#: The variable that tells the shipped worker to set ECS task scale-in protection while it holds messages.
SCALE_IN_ENV = "WORKER_SCALE_IN_PROTECTION_MINUTES"
TASK_PROTECTION = "ecs:UpdateTaskProtection"


def _protected_task_definitions(assembly: Assembly) -> Iterator[tuple[str, dict, str, dict]]:
    """(stack ID, template, logical ID, properties) of every task definition whose worker protects itself."""
    for stack_id, logical_id, resource in resources(assembly, "AWS::ECS::TaskDefinition"):
        env = {e["Name"]: e["Value"] for c in resource["Properties"]["ContainerDefinitions"]
               for e in c.get("Environment", [])}
        if SCALE_IN_ENV in env and env[SCALE_IN_ENV] != "0":
            yield stack_id, assembly.template(stack_id), logical_id, resource["Properties"]


def _role_statements(template: dict, role_arn: dict) -> list[dict]:
    """Every Allow statement of the role ``role_arn`` points to: inline, and policies attached to it."""
    role_id, _ = role_arn["Fn::GetAtt"]  # the role is in the same template
    role = template["Resources"][role_id]
    documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    return [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_a_worker_that_protects_itself_may_update_its_tasks_protection(assembly: Assembly) -> None:
    """ECS refuses the agent's UpdateTaskProtection call unless the task role allows it on the task
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html); the
    worker then runs unprotected and long jobs are abandoned at scale-in, which no offline gate notices."""
    checked = 0
    for stack_id, template, task_id, task in _protected_task_definitions(assembly):
        assert "TaskRoleArn" in task, f"{stack_id}/{task_id}: sets {SCALE_IN_ENV} without a task role"
        statements = [s for s in _role_statements(template, task["TaskRoleArn"])
                      if {TASK_PROTECTION, "ecs:*", "*"} & set(_listed(s["Action"]))]
        assert statements, f"{stack_id}/{task_id}: the task role lacks {TASK_PROTECTION}"
        services = [r["Properties"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::ECS::Service" and r["Properties"].get("TaskDefinition") == {"Ref": task_id}]
        for service in services:  # the permission covers the tasks of the cluster the service runs in
            cluster = service["Cluster"]
            covered = [s for s in statements for r in _listed(s["Resource"])
                       if r == "*" or (isinstance(r, dict) and ":task/" in r["Fn::Join"][1]
                                       and cluster in r["Fn::Join"][1])]
            assert covered, f"{stack_id}/{task_id}: {TASK_PROTECTION} does not cover the tasks of {cluster}"
            checked += 1
    assert checked >= 2, "no worker service with scale-in protection was checked"


def test_a_worker_that_protects_itself_without_nat_reaches_the_ecs_api(assembly: Assembly) -> None:
    """The agent calls the ECS API for the protection; in a VPC without NAT that needs the ECS interface
    endpoint (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html)."""
    checked = 0
    for stack_id, template, task_id, _task in _protected_task_definitions(assembly):
        kinds = {r["Type"] for r in template["Resources"].values()}
        if "AWS::EC2::VPC" not in kinds or "AWS::EC2::NatGateway" in kinds:
            continue  # the VPC is elsewhere, or egress goes through NAT
        endpoints = [r["Properties"]["ServiceName"] for r in template["Resources"].values()
                     if r["Type"] == "AWS::EC2::VPCEndpoint"]
        names = ["".join(p for p in n["Fn::Join"][1] if isinstance(p, str)) if isinstance(n, dict) else n
                 for n in endpoints]
        assert any(n.endswith(".ecs") for n in names), f"{stack_id}/{task_id}: no ECS endpoint in a VPC without NAT"
        checked += 1
    assert checked >= 2, "no NAT-less worker with scale-in protection was checked"


# --- streaming ---

#: RegisterStreamConsumer: "you cannot have more than 5 consumers in a CREATING status at the same time"
#: (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_RegisterStreamConsumer.html).
MAX_CONSUMERS_CREATING = 5
#: The one resource known to finish only once the consumers it names are ACTIVE (refarch.streaming's wait).
#: A DependsOn on an AWS::Kinesis::StreamConsumer orders nothing: it reports CREATE_COMPLETE while the
#: consumer is still CREATING (aws/aws-cdk#37108).
CONSUMERS_ACTIVE_TYPE = "Custom::KinesisConsumersActive"


def _references(value) -> set[str]:
    """Logical IDs a template value refers to (Ref, Fn::GetAtt, and inside Fn::Sub strings)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text))
                if isinstance(inner, list):
                    found.update(_references(inner[1]))
            else:
                found.update(_references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(_references(inner))
    return found


def consumer_creation_levels(template: dict) -> dict[str, list[list[str]]]:
    """Per stream (the StreamARN's logical ID), its StreamConsumers grouped by creation level, and raise
    AssertionError unless at most 5 of them can be CREATING at once.

    Consumer B is created after consumer A is ACTIVE only when B depends, directly or transitively, on a
    ``Custom::KinesisConsumersActive`` resource naming A. Level k+1 holds the consumers created after every
    consumer of level k; every consumer of a stream must be in one level, each level at most 5: then any set
    of consumers that could be CREATING together lies within one level.
    """
    resources = template.get("Resources", {})
    depends: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        on = resource.get("DependsOn", [])
        depends[logical_id] = ({on} if isinstance(on, str) else set(on)) | _references(resource.get("Properties", {}))

    def ancestors(logical_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [logical_id]
        while stack:
            for parent in depends.get(stack.pop(), ()):
                if parent in resources and parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    waits = {k: _references(r.get("Properties", {})) for k, r in resources.items() if r["Type"] == CONSUMERS_ACTIVE_TYPE}
    after: dict[str, set[str]] = {}  # consumer -> consumers known ACTIVE before it is created
    streams: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Kinesis::StreamConsumer":
            continue
        [stream] = _references(resource["Properties"]["StreamARN"]) or {json.dumps(resource["Properties"]["StreamARN"])}
        streams.setdefault(stream, []).append(logical_id)
        up = ancestors(logical_id)
        after[logical_id] = {c for w in up & set(waits) for c in waits[w]}
    levels: dict[str, list[list[str]]] = {}
    for stream, consumers in streams.items():
        remaining, done, stream_levels = set(consumers), set(), []
        while remaining:
            level = sorted(c for c in remaining if not (after[c] & remaining))
            assert level, f"stream {stream}: consumers wait for each other in a cycle: {sorted(remaining)}"
            stream_levels.append(level)
            remaining -= set(level)
            done |= set(level)
        for k, level in enumerate(stream_levels):
            assert len(level) <= MAX_CONSUMERS_CREATING, (
                f"stream {stream}: {len(level)} consumers may be CREATING at once (Kinesis allows "
                f"{MAX_CONSUMERS_CREATING}): {level}")
            if k:
                previous = set(stream_levels[k - 1])
                for consumer in level:
                    assert previous <= after[consumer], (
                        f"stream {stream}: {consumer} may be created while {sorted(previous - after[consumer])} "
                        "are still CREATING")
        levels[stream] = stream_levels
    return levels


def test_at_most_five_stream_consumers_are_created_at_once(assembly: Assembly) -> None:
    consumers = 0
    chained = 0
    stacks = sorted({stack_id for stack_id, _, _ in resources(assembly, "AWS::Kinesis::StreamConsumer")})
    for stack_id in stacks:
        for levels in consumer_creation_levels(assembly.template(stack_id)).values():
            consumers += sum(map(len, levels))
            chained += len(levels) > 1
    assert consumers >= 7 and chained >= 1, "the rule must see a stream with more than 5 consumers"


def _consumer(name: str, depends_on: list[str] | None = None) -> dict:
    resource = {"Type": "AWS::Kinesis::StreamConsumer",
                "Properties": {"ConsumerName": name, "StreamARN": {"Fn::GetAtt": ["S", "Arn"]}}}
    if depends_on:
        resource["DependsOn"] = depends_on
    return resource


def _wait(names: list[str]) -> dict:
    return {"Type": CONSUMERS_ACTIVE_TYPE,
            "Properties": {"ConsumerARNs": [{"Fn::GetAtt": [n, "ConsumerARN"]} for n in names]}}


def test_the_consumer_rule_rejects_what_kinesis_rejects() -> None:
    stream = {"S": {"Type": "AWS::Kinesis::Stream", "Properties": {}}}
    first = [f"C{i}" for i in range(5)]
    parallel = {**stream, **{f"C{i}": _consumer(f"c{i}") for i in range(6)}}
    with pytest.raises(AssertionError, match="6 consumers may be CREATING at once"):
        consumer_creation_levels({"Resources": parallel})
    # A DependsOn on consumers does not wait for ACTIVE: still 6 possibly CREATING together.
    plain = {**stream, **{c: _consumer(c) for c in first}, "C5": _consumer("c5", depends_on=first)}
    with pytest.raises(AssertionError, match="6 consumers may be CREATING at once"):
        consumer_creation_levels({"Resources": plain})
    # A wait over only some of the first group leaves the others CREATING with C5.
    partial = {**stream, **{c: _consumer(c) for c in first}, "W": _wait(first[:3]), "C5": _consumer("c5", ["W"])}
    with pytest.raises(AssertionError, match=r"C5 may be created while \['C3', 'C4'\] are still CREATING"):
        consumer_creation_levels({"Resources": partial})
    # Waiting for the whole first group, directly or through another resource, is what Kinesis needs.
    waited = {**stream, **{c: _consumer(c) for c in first}, "W": _wait(first),
              "Q": {"Type": "AWS::SQS::Queue", "DependsOn": "W"}, "C5": _consumer("c5", ["Q"])}
    assert consumer_creation_levels({"Resources": waited}) == {"S": [first, ["C5"]]}


# --- fan-out ---


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


# --- database ---


def _source_instance(template: dict, replica: dict) -> str | None:
    """The logical ID of the DB instance a replica's ``SourceDBInstanceIdentifier`` names, if in the template."""
    source = replica["Properties"]["SourceDBInstanceIdentifier"]
    instances = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::RDS::DBInstance"}
    named = {k for k in instances if f"{{'Ref': '{k}'}}" in str(source)}
    return next(iter(named)) if len(named) == 1 else None


def test_read_replicas_have_their_source_storage(assembly: Assembly) -> None:
    """A read replica's storage type, IOPS and throughput are its own: CloudFormation passes what the
    template states, and a replica left without ``StorageType`` is created on the API's default (gp2
    from aws-cdk-lib) while its source is gp3, with a tenth of the baseline IOPS at 100 GiB, which makes
    the replica lag. Each replica states what its source states.
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"""
    checked = 0
    for stack_id, logical_id, resource in resources(assembly, "AWS::RDS::DBInstance"):
        if "SourceDBInstanceIdentifier" not in resource.get("Properties", {}):
            continue
        template = assembly.template(stack_id)
        source_id = _source_instance(template, resource)
        assert source_id is not None, f"{stack_id}/{logical_id}: source instance not found in the template"
        source = template["Resources"][source_id]["Properties"]
        replica = resource["Properties"]
        assert replica.get("StorageType") == source.get("StorageType"), (
            f"{stack_id}/{logical_id}: StorageType {replica.get('StorageType')} but its source {source_id} has "
            f"{source.get('StorageType')}")
        for key in ("Iops", "StorageThroughput"):
            if key in source:
                assert replica.get(key) == source[key], f"{stack_id}/{logical_id}: {key} differs from {source_id}"
        checked += 1
    assert checked > 0, "no read replica in any template: the rule proves nothing"


# --- edge ---

_ORIGIN_GROUP_METHODS = {"GET", "HEAD", "OPTIONS"}


def test_origin_group_behaviours_allow_only_get_head_options(assembly: Assembly) -> None:
    """CloudFront refuses a cache behaviour that targets an origin group and allows
    POST, PUT, PATCH or DELETE ("AllowedMethods cannot include POST, PUT, PATCH, or
    DELETE for a cached behavior associated with an origin group", aws/aws-cdk#32450);
    origin failover applies to GET, HEAD and OPTIONS only:
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html
    """
    checked = []
    for stack_id, logical_id, resource in resources(assembly, "AWS::CloudFront::Distribution"):
        config = resource["Properties"]["DistributionConfig"]
        groups = {group["Id"] for group in config.get("OriginGroups", {}).get("Items", [])}
        for behaviour in [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]:
            if behaviour["TargetOriginId"] in groups:
                # CloudFront's default AllowedMethods is GET and HEAD.
                methods = set(behaviour.get("AllowedMethods", ["GET", "HEAD"]))
                assert methods <= _ORIGIN_GROUP_METHODS, (
                    f"{stack_id}/{logical_id} {behaviour.get('PathPattern', 'default')}: {sorted(methods)}")
                checked.append((stack_id, behaviour.get("PathPattern", "default")))
    assert checked, "no behaviour targets an origin group in any template: the rule proved nothing"


_HIVE_NAMES = {"yyyy": "year", "MM": "month", "dd": "day", "HH": "hour"}
_SAMPLE = {"distributionid": "E2EXAMPLE123", "DistributionId": "E2EXAMPLE123", "accountid": "123456789012",
           "yyyy": "2026", "MM": "12", "dd": "05", "HH": "23"}


def _bucket_and_path(value: object) -> tuple[str, str] | None:
    """``Fn::GetAtt [bucket, Arn]`` -> (bucket, ""); its ``Fn::Join`` with "/path" -> (bucket, "path")."""
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return value["Fn::GetAtt"][0], ""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, (head, *rest) = value["Fn::Join"]
        inner = _bucket_and_path(head)
        if inner and separator == "" and all(isinstance(part, str) for part in rest):
            return inner[0], "".join(rest).lstrip("/")
    return None


def _cloudfront_log_key(account: str, prefix: str, suffix: str | None, hive: bool) -> str:
    """A key CloudFront standard logging (v2) writes, per the tables under "Example paths to
    access logs" in https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html:
    without a prefix CloudFront puts ``AWSLogs/{account-id}/CloudFront/`` first (with Hive-compatible
    paths ``aws-account-id=<id>``); each ``{variable}`` of the suffix path becomes its value, or
    ``name=value`` with Hive-compatible paths (``{yyyy}`` -> ``year=2025``)."""
    if prefix:
        head = prefix.rstrip("/") + "/"
    else:
        head = f"AWSLogs/{'aws-account-id=' if hive else ''}{account}/CloudFront/"

    def segment(part: str) -> str:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            return f"{_HIVE_NAMES.get(name, name)}={_SAMPLE[name]}" if hive else _SAMPLE[name]
        return part

    middle = "/".join(segment(p) for p in (suffix or "").strip("/").split("/") if p)
    return head + (middle + "/" if middle else "") + "part-0000.parquet"


def _admits(pattern: str, key: str) -> bool:
    # IAM resource patterns: * is any run of characters, ? one character.
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), key) is not None


def test_cloudfront_log_bucket_admits_the_keys_the_delivery_writes(assembly: Assembly) -> None:
    """Derived from each template: the key layout the CloudFront standard logging (v2)
    delivery writes (destination prefix, suffix path, Hive-compatible flag) and the
    resource patterns the bucket policy admits ``delivery.logs.amazonaws.com`` to put."""
    checked = []
    for stack_id, delivery_id, delivery in resources(assembly, "AWS::Logs::Delivery"):
        template = assembly.template(stack_id)["Resources"]
        props = delivery["Properties"]
        source = template[props["DeliverySourceName"]["Ref"]]["Properties"]
        if ":distribution/" not in json.dumps(source["ResourceArn"]):
            continue
        destination = template[props["DeliveryDestinationArn"]["Fn::GetAtt"][0]]["Properties"]
        bucket, prefix = _bucket_and_path(destination["DestinationResourceArn"])
        key = _cloudfront_log_key(assembly.stacks[stack_id].account, prefix, props.get("S3SuffixPath"),
                                  props.get("S3EnableHiveCompatiblePath", False))
        patterns = []
        for policy in assembly.of_type(stack_id, "AWS::S3::BucketPolicy").values():
            if policy["Properties"]["Bucket"] != {"Ref": bucket}:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if (statement["Effect"], statement.get("Principal")) != (
                        "Allow", {"Service": "delivery.logs.amazonaws.com"}) or "s3:PutObject" not in (
                        statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]):
                    continue
                for resource in statement["Resource"] if isinstance(statement["Resource"], list) \
                        else [statement["Resource"]]:
                    target = _bucket_and_path(resource)
                    if target and target[0] == bucket:
                        patterns.append(target[1])
        assert patterns, f"{stack_id}/{delivery_id}: the bucket policy never admits delivery.logs.amazonaws.com"
        assert any(_admits(p, key) for p in patterns), f"{stack_id}/{delivery_id}: {key} not in {patterns}"
        assert delivery.get("DependsOn") and any(
            template[d]["Type"] == "AWS::S3::BucketPolicy" for d in delivery["DependsOn"]), (
            f"{stack_id}/{delivery_id}: created before the bucket policy that admits it")
        checked.append((stack_id, key))
    assert checked, "no CloudFront log delivery to S3 in any template: the rule proved nothing"


def test_cloudfront_log_key_follows_the_documented_examples() -> None:
    # The rows of the tables in the CloudFront standard logging (v2) guide.
    account = "111122223333"
    assert _cloudfront_log_key(account, "", None, False).startswith("AWSLogs/111122223333/CloudFront/")
    assert _cloudfront_log_key(account, "", None, True).startswith("AWSLogs/aws-account-id=111122223333/CloudFront/")
    assert _cloudfront_log_key(account, "", "myFolderA/{yyyy}", True).startswith(
        "AWSLogs/aws-account-id=111122223333/CloudFront/myFolderA/year=2026/")
    assert _cloudfront_log_key(account, "MyLogPrefix", "myFolderA/{yyyy}", True).startswith(
        "MyLogPrefix/myFolderA/year=2026/")
    assert _cloudfront_log_key(account, "MyLogPrefix", "myFolderA/", False).startswith("MyLogPrefix/myFolderA/")
    assert _admits("AWSLogs/1/CloudFront/*", "AWSLogs/1/CloudFront/x/y.parquet")
    assert not _admits("AWSLogs/1/CloudFront/*", "AWSLogs/aws-account-id=1/CloudFront/x.parquet")


# --- load balancers (mutual TLS, edge origins) ---


def _alb_log_targets(assembly: Assembly) -> Iterator[tuple[str, str, str, dict]]:
    """(stack ID, ALB logical ID, log kind, attributes) of every ALB log destination the templates enable."""
    for stack_id, alb_id, alb in resources(assembly, "AWS::ElasticLoadBalancingV2::LoadBalancer"):
        attributes = {a["Key"]: a["Value"] for a in alb["Properties"].get("LoadBalancerAttributes", [])}
        for kind in ("access_logs", "connection_logs"):
            if attributes.get(f"{kind}.s3.enabled") == "true":
                yield stack_id, alb_id, kind, attributes


def test_alb_log_buckets_use_sse_s3(assembly: Assembly) -> None:
    """ALB log delivery supports only SSE-S3 on the destination bucket
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-connection-logging.html): with
    SSE-KMS setting the attribute fails ("Access Denied for bucket") and the stack rolls back."""
    checked = set()
    for stack_id, alb_id, kind, attributes in _alb_log_targets(assembly):
        bucket = attributes[f"{kind}.s3.bucket"]
        assert isinstance(bucket, dict) and "Ref" in bucket, f"{stack_id}/{alb_id}: {kind} bucket outside the template"
        props = assembly.template(stack_id)["Resources"][bucket["Ref"]]["Properties"]
        algorithms = {r["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
                      for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]}
        assert algorithms == {"AES256"}, f"{stack_id}/{alb_id}: {kind} go to a bucket encrypted with {algorithms}"
        checked.add(kind)
    assert checked == {"access_logs", "connection_logs"}, f"only {checked} were checked"


def test_alb_log_prefixes_do_not_contain_awslogs(assembly: Assembly) -> None:
    """"The prefix that you specify must not include AWSLogs" (the same pages); nor start with a slash."""
    checked = 0
    for stack_id, alb_id, kind, attributes in _alb_log_targets(assembly):
        prefix = attributes.get(f"{kind}.s3.prefix", "")
        assert "AWSLogs" not in prefix and not prefix.startswith("/"), f"{stack_id}/{alb_id}: {kind} prefix {prefix!r}"
        checked += 1
    assert checked >= 4


def test_mutual_tls_verify_listeners_are_https_with_a_trust_store(assembly: Assembly) -> None:
    """Mutual authentication is configured on HTTPS listeners, and verify mode checks client
    certificates against the trust store the listener names
    (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/mutual-authentication.html,
    https://docs.aws.amazon.com/elasticloadbalancing/latest/application/configuring-mtls-with-elb.html)."""
    checked = 0
    for stack_id, listener_id, listener in resources(assembly, "AWS::ElasticLoadBalancingV2::Listener"):
        mutual = listener["Properties"].get("MutualAuthentication")
        if not mutual or mutual.get("Mode") == "off":
            continue
        assert listener["Properties"]["Protocol"] == "HTTPS", f"{stack_id}/{listener_id}"
        if mutual["Mode"] == "verify":
            assert mutual.get("TrustStoreArn"), f"{stack_id}/{listener_id}: verify mode without a trust store"
            checked += 1
    assert checked >= 3, "no verify-mode listener was checked"


# --- Amazon MQ ---

#: https://docs.aws.amazon.com/amazon-mq/latest/api-reference/brokers.html (CreateBroker): a broker
#: name is 1-50 letters, digits, '-' and '_'; a SINGLE_INSTANCE broker takes one subnet and an
#: ACTIVE_STANDBY_MULTI_AZ broker two; encryption options and audit logs do not apply to RabbitMQ
#: (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-amazonmq-broker-encryptionoptions.html);
#: a major.minor engine version (RabbitMQ 3.13+, ActiveMQ 5.18+) needs automatic minor version upgrades
#: (https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/rabbitmq-version-management.html).
_BROKER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,50}$")
_SUBNETS = {"SINGLE_INSTANCE": 1, "ACTIVE_STANDBY_MULTI_AZ": 2}


def broker_problems(props: dict) -> list[str]:
    problems = []
    if not _BROKER_NAME.fullmatch(str(props.get("BrokerName", ""))):
        problems.append(f"broker name {props.get('BrokerName')!r}")
    wanted = _SUBNETS.get(props["DeploymentMode"])
    if wanted is not None and len(props.get("SubnetIds", [])) != wanted:
        problems.append(f"{props['DeploymentMode']} needs {wanted} subnet(s)")
    if props["EngineType"] == "RABBITMQ":
        if props.get("EncryptionOptions"):
            problems.append("RabbitMQ takes no EncryptionOptions")
        if (props.get("Logs") or {}).get("Audit"):
            problems.append("RabbitMQ has no audit log")
        if any("ConsoleAccess" in u or "Groups" in u for u in props.get("Users", [])):
            problems.append("RabbitMQ users have no console access or groups")
    if re.fullmatch(r"\d+\.\d+", str(props.get("EngineVersion"))) and props.get("AutoMinorVersionUpgrade") is not True:
        problems.append("a major.minor engine version needs AutoMinorVersionUpgrade")
    return problems


def test_amazon_mq_brokers_are_what_create_broker_accepts(assembly: Assembly) -> None:
    brokers = list(resources(assembly, "AWS::AmazonMQ::Broker"))
    assert {r["Properties"]["EngineType"] for _, _, r in brokers} == {"RABBITMQ", "ACTIVEMQ"}
    bad = {f"{s}/{lid}": broker_problems(r["Properties"]) for s, lid, r in brokers}
    assert not {k: v for k, v in bad.items() if v}, bad


def test_the_broker_rule_rejects_what_amazon_mq_rejects() -> None:
    good = {"BrokerName": "b", "DeploymentMode": "SINGLE_INSTANCE", "SubnetIds": ["s"], "EngineType": "RABBITMQ",
            "EngineVersion": "3.13", "AutoMinorVersionUpgrade": True, "Users": [{"Username": "u"}]}
    assert broker_problems(good) == []
    for change in ({"BrokerName": "a" * 51}, {"BrokerName": "a.b"}, {"SubnetIds": ["s", "t"]},
                   {"EncryptionOptions": {"UseAwsOwnedKey": False}}, {"Logs": {"Audit": True}},
                   {"Users": [{"Username": "u", "ConsoleAccess": True}]}, {"AutoMinorVersionUpgrade": False},
                   {"DeploymentMode": "ACTIVE_STANDBY_MULTI_AZ", "EngineType": "ACTIVEMQ"}):
        assert broker_problems({**good, **change}), change


def test_mq_event_sources_read_one_queue_with_basic_auth(assembly: Assembly) -> None:
    """Lambda's CreateEventSourceMapping takes exactly one queue for an MQ source, and its
    credentials as a BASIC_AUTH secret; VIRTUAL_HOST exists for RabbitMQ only
    (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html)."""
    seen = 0
    for stack_id, _, resource in resources(assembly, "AWS::Lambda::EventSourceMapping"):
        props = resource["Properties"]
        if "Queues" not in props:
            continue
        seen += 1
        template = assembly.template(stack_id)
        broker = template["Resources"][props["EventSourceArn"]["Fn::GetAtt"][0]]
        assert broker["Type"] == "AWS::AmazonMQ::Broker"
        assert len(props["Queues"]) == 1
        types = [c["Type"] for c in props["SourceAccessConfigurations"]]
        assert types.count("BASIC_AUTH") == 1
        assert ("VIRTUAL_HOST" in types) == (broker["Properties"]["EngineType"] == "RABBITMQ")
    assert seen >= 2
