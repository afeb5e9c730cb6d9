"""Service access, for every template the suite builds (issue 10).

For every stack and test case, tests/service_access.py derives from the
template each place where an AWS service (or a service role) acts on a
resource: alarm actions -> topic (+ the topic's key); SNS subscriptions ->
queue and delivery dead-letter queue (+ their keys); encrypted log groups ->
key; event source mappings -> queue / stream / consumer (+ key) and their
on-failure destinations; Firehose -> source stream, bucket, key, log group;
S3 access logging -> target bucket; CloudFront origin access control ->
bucket (+ key); RDS Proxy -> its secrets (+ key); every role's trust -> each service
principal it names. Each access is evaluated (tests/iam_eval.py) against the
resource policy, the key policy, the trust policy and the role's identity
policies, with only the request context the service is documented to set.

What this cannot prove: that the documented context is what the service
really sends (each entry cites its page; only a real deployment proves it),
AWS managed policies attached to roles (not evaluated: a role whose only
grant is a managed policy fails here), and targets outside the template
(counted in ``test_external_targets_are_outside_the_template``).
"""

from __future__ import annotations

import copy
import fnmatch
from functools import cache

import aws_cdk as cdk
import pytest

from tests.conftest import ALL_STACKS, Assembly
from tests.iam_eval import Decision
from tests.service_access import (
    EXTERNAL,
    SERVICE_CONTEXT,
    TRUST_CONTEXT,
    Derivation,
    derive,
    failures,
)

#: (stack, access-name pattern) -> (issue 10 item, reason). Patterns are fnmatch
#: patterns over ``Access.name``. A gap that no longer fails fails the test, so
#: remove its entry when the pattern is fixed.
KNOWN_GAPS: dict[tuple[str, str], tuple[str, str]] = {}  # empty: every issue-10 gap is fixed

#: stacks where no service acts on a resource of the stack -> why (strict: a stack
#: listed here that gains an access fails, so the list cannot hide a new rule's silence)
NO_SERVICE_ACCESS = {
    "EdgeDomainAccelerator": "a Global Accelerator and its endpoint groups only: no resource policy, key or role",
    "EdgeAccelAccelerator": "a Global Accelerator and its endpoint groups only: no resource policy, key or role",
    "StreamingOnDemand": "a stream, its key and alarms without actions: nothing acts on them in this case",
}

#: every rule of tests/service_access.py must match something in some template
RULES = {
    "alarm->topic",
    "topic->queue",
    "topic->delivery-dlq",
    "logs->key",
    "event-source->function",
    "event-source->function-on-failure",
    "firehose->source",
    "firehose->s3",
    "firehose->logs",
    "bucket->access-logs",
    "load-balancer->logs",
    "distribution->s3-origin",
    "proxy->secret",
    "role-trust",
}


def _env(assembly: Assembly, stack_id: str) -> tuple[str | None, str | None]:
    stack = assembly.stacks[stack_id]
    region = None if cdk.Token.is_unresolved(stack.region) else stack.region
    account = None if cdk.Token.is_unresolved(stack.account) else stack.account
    return region, account


@cache
def _derivation(outdir: str, stack_id: str, region: str | None, account: str | None, template_text: str) -> Derivation:
    import json

    return derive(json.loads(template_text), region=region, account=account, stack_name=stack_id)


def derivation(assembly: Assembly, stack_id: str) -> Derivation:
    region, account = _env(assembly, stack_id)
    return _derivation(str(assembly.outdir), stack_id, region, account, assembly.template_path(stack_id).read_text())


def _gaps(stack_id: str) -> dict[str, tuple[str, str]]:
    return {pattern: why for (stack, pattern), why in KNOWN_GAPS.items() if stack == stack_id}


@pytest.mark.parametrize("stack_id", ALL_STACKS)
def test_services_can_reach_what_the_template_wires_them_to(assembly: Assembly, stack_id: str) -> None:
    found = derivation(assembly, stack_id)
    if stack_id in NO_SERVICE_ACCESS:
        assert not found.accesses, f"{stack_id} now has service accesses: remove it from NO_SERVICE_ACCESS"
        return
    assert found.accesses, f"{stack_id}: no service access found (a rule that matches nothing proves nothing)"
    assert not found.problems, "\n".join(found.problems)
    failed = failures(found)
    gaps = _gaps(stack_id)
    unexpected = {
        name: decision for name, decision in failed.items() if not any(fnmatch.fnmatchcase(name, p) for p in gaps)
    }
    docs = {a.name: a.doc for a in found.accesses}
    assert not unexpected, "policies do not admit a service where the template wires it:\n" + "\n".join(
        f"  {decision.value}: {name}\n    documented context: {docs[name]}" for name, decision in unexpected.items()
    )
    stale = [p for p in gaps if not any(fnmatch.fnmatchcase(name, p) for name in failed)]
    assert not stale, f"{stack_id}: these known gaps now pass; remove them from KNOWN_GAPS: {stale}"


#: rules no template exercises today -> why (strict: a dormant rule that matches something fails,
#: so the list cannot go stale)
DORMANT_RULES = {
    "proxy->secret": "every proxy uses end-to-end IAM authentication and holds no secret (issue 10 item 3); "
    "the rule stays for a proxy that registers secrets",
}


def test_every_rule_finds_accesses(assembly: Assembly) -> None:
    kinds = {a.kind for stack_id in ALL_STACKS for a in derivation(assembly, stack_id).accesses}
    awake = DORMANT_RULES.keys() & kinds
    assert not awake, f"dormant rules now match: remove them from DORMANT_RULES: {awake}"
    expected = RULES - DORMANT_RULES.keys()
    assert kinds == expected, (
        f"rules that matched nothing: {expected - kinds}; rules not listed in RULES: {kinds - RULES}"
    )


def test_known_gaps_name_stacks_the_suite_builds() -> None:
    assert {stack for stack, _ in KNOWN_GAPS} <= set(ALL_STACKS)
    assert set(NO_SERVICE_ACCESS) <= set(ALL_STACKS)


def test_external_targets_are_outside_the_template(assembly: Assembly) -> None:
    """A target the derivation could not follow is a cross-stack reference,
    never a resource of the same template it failed to recognise."""
    external = [(s, e) for s in ALL_STACKS for e in derivation(assembly, s).external]
    inside = [(s, e) for s, e in external if EXTERNAL not in e and "<parameter:" not in e]
    assert not inside, inside


def test_context_table_cites_aws_documentation() -> None:
    for name, entry in {**SERVICE_CONTEXT, **TRUST_CONTEXT}.items():
        assert entry.doc.startswith("https://docs.aws.amazon.com/"), name


# --- the test catches what it is for ----------------------------------------------------------


def _without_statement(template: dict, resource_type: str, policy_property: str, sid: str) -> dict:
    copied = copy.deepcopy(template)
    removed = 0
    for resource in copied["Resources"].values():
        if resource["Type"] == resource_type:
            statements = resource["Properties"][policy_property]["Statement"]
            kept = [s for s in statements if s.get("Sid") != sid]
            removed += len(statements) - len(kept)
            resource["Properties"][policy_property]["Statement"] = kept
    assert removed, f"no {sid} statement to remove"
    return copied


def test_alarm_topic_without_the_cloudwatch_statement_fails(assembly: Assembly) -> None:
    """Issue 10 item 1: without the topic policy's AllowCloudWatchAlarmsToPublish
    (a TLS-only topic policy replaces SNS's default), no alarm can notify."""
    region, account = _env(assembly, "FanOutStack")
    template = assembly.template("FanOutStack")
    assert not failures(derive(template, region=region, account=account))
    broken = _without_statement(template, "AWS::SNS::TopicPolicy", "PolicyDocument", "AllowCloudWatchAlarmsToPublish")
    failed = failures(derive(broken, region=region, account=account))
    alarm_failures = [n for n in failed if n.startswith("alarm->topic:") and "(topic policy," in n]
    assert alarm_failures, failed
    assert all(failed[n] is Decision.IMPLICIT_DENY for n in alarm_failures)


def test_key_without_the_cloudwatch_statement_fails(assembly: Assembly) -> None:
    """The alarm topic's key policy half: without AllowCloudwatchToUseKey CloudWatch cannot encrypt."""
    template = assembly.template("FanOutStack")
    broken = _without_statement(template, "AWS::KMS::Key", "KeyPolicy", "AllowCloudwatchToUseKey")
    failed = failures(derive(broken, region=_env(assembly, "FanOutStack")[0]))
    assert any(n.startswith("alarm->topic:") and "(key policy," in n for n in failed), failed


def test_a_trust_condition_on_an_undocumented_key_fails(assembly: Assembly) -> None:
    """Lambda documents no condition keys for an execution role's trust: a
    condition on aws:SourceAccount there would lock Lambda out."""
    template = copy.deepcopy(assembly.template("FanOutWithConsumers"))
    roles = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    for role in roles:
        for statement in role["Properties"]["AssumeRolePolicyDocument"]["Statement"]:
            statement["Condition"] = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    failed = failures(derive(template))
    trust = [n for n in failed if n.startswith("role-trust:") and "lambda.amazonaws.com" in n]
    assert len(trust) == len(roles), failed


def test_event_source_without_the_role_policy_fails(assembly: Assembly) -> None:
    """The function role's identity policy is what lets Lambda poll the queue
    and decrypt with its key (the key policy delegates to IAM)."""
    template = copy.deepcopy(assembly.template("FanOutWithConsumers"))
    template["Resources"] = {k: r for k, r in template["Resources"].items() if r["Type"] != "AWS::IAM::Policy"}
    failed = failures(derive(template, region=_env(assembly, "FanOutWithConsumers")[0]))
    names = [n for n in failed if n.startswith("event-source->function:")]
    assert any("sqs:ReceiveMessage" in n for n in names), failed
    assert any("(key policy," in n and "kms:Decrypt" in n for n in names), failed


def test_queue_policy_without_the_topic_statement_fails(assembly: Assembly) -> None:
    template = assembly.template("FanOutStack")
    broken = _without_statement(template, "AWS::SQS::QueuePolicy", "PolicyDocument", "AllowTopicToSend")
    failed = failures(derive(broken, region=_env(assembly, "FanOutStack")[0]))
    assert any(n.startswith("topic->queue:") and "(queue policy," in n for n in failed), failed


# --- the derivation on small templates ----------------------------------------------------------




def _alarm_template(alarm_action: object, topic_statements: list[dict]) -> dict:
    return {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {}},
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {"Topics": [{"Ref": "Topic"}], "PolicyDocument": {"Statement": topic_statements}},
            },
            "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Properties": {"AlarmActions": [alarm_action]}},
        }
    }


CW_STATEMENT = {
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": {"Ref": "Topic"},
    "Condition": {
        "ArnLike": {
            "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"}
        }
    },
}


def test_derivation_follows_refs_and_resolves_sub() -> None:
    found = derive(_alarm_template({"Ref": "Topic"}, [CW_STATEMENT]), region="eu-west-1")
    (access,) = found.accesses
    assert access.request.resource == "arn:aws:sns:eu-west-1:123456789012:Topic"
    assert access.request.context["aws:SourceArn"] == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:Alarm"
    assert not failures(found)
    # the same statement for another account's alarms does not admit this one
    other = copy.deepcopy(CW_STATEMENT)
    other["Condition"]["ArnLike"]["aws:SourceArn"] = "arn:aws:cloudwatch:eu-west-1:444455556666:alarm:*"
    assert failures(derive(_alarm_template({"Ref": "Topic"}, [other]), region="eu-west-1"))


def test_imported_targets_are_counted_not_checked() -> None:
    found = derive(_alarm_template({"Fn::ImportValue": "SharedAlarmTopicArn"}, [CW_STATEMENT]))
    assert not found.accesses
    assert found.external == ["alarm->topic: Alarm -> <external:SharedAlarmTopicArn>"]


def test_a_role_trusting_an_undocumented_service_is_a_problem() -> None:
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "states.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    }
                },
            }
        }
    }
    assert derive(template).problems == [
        "role trust: Role trusts states.amazonaws.com, which has no entry in TRUST_CONTEXT"
    ]


def test_alb_logs_bucket_without_the_elb_statement_fails(assembly: Assembly) -> None:
    """ALB access and connection logs reach their bucket only through the bucket policy's
    statement for the Region's ELB account: without it both deliveries fail."""
    region, account = _env(assembly, "MutualTlsStack")
    template = copy.deepcopy(assembly.template("MutualTlsStack"))
    assert not failures(derive(template, region=region, account=account))
    removed = 0
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::S3::BucketPolicy":
            statements = resource["Properties"]["PolicyDocument"]["Statement"]
            kept = [s for s in statements if "AWS" not in s.get("Principal", {}) or s["Principal"]["AWS"] == "*"]
            removed += len(statements) - len(kept)
            resource["Properties"]["PolicyDocument"]["Statement"] = kept
    assert removed
    accesses = [a for a in derive(template, region=region, account=account).accesses
                if a.kind == "load-balancer->logs"]
    assert sorted(a.request.resource.split("/")[2] for a in accesses) == ["access", "connection"]
    assert [a.decide() for a in accesses] == [Decision.IMPLICIT_DENY] * 2
