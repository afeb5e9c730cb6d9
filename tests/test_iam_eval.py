"""The IAM evaluator of tests/iam_eval.py on AWS's documented evaluation rules.

Each test names the page that settles it (see the module docstring of
tests/iam_eval.py for the URLs)."""

from __future__ import annotations

import pytest

from tests.iam_eval import Decision, Principal, Request, condition_holds, evaluate

ACCOUNT = "111122223333"
ROLE = Principal.of_arn(f"arn:aws:iam::{ACCOUNT}:role/Worker")
CW = Principal.of_service("cloudwatch.amazonaws.com")
TOPIC = f"arn:aws:sns:us-east-1:{ACCOUNT}:Alarms"
ALARM = f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:QueueDepth"


def policy(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


TLS_DENY = {
    "Effect": "Deny",
    "Principal": "*",
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
}
CW_ALLOW = {
    "Sid": "AllowCloudWatch",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": "sns:Publish",
    "Resource": TOPIC,
    "Condition": {
        "StringEquals": {"aws:SourceAccount": ACCOUNT},
        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:*"},
    },
}
CW_CONTEXT = {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": ALARM}


def publish(principal: Principal = CW, context: dict | None = None, action: str = "sns:Publish") -> Request:
    return Request(principal, action, TOPIC, CW_CONTEXT if context is None else context)


# --- the decision ------------------------------------------------------------


def test_nothing_allows_is_an_implicit_deny() -> None:
    """Issue 10 item 1: a topic policy with only the TLS deny admits no service."""
    assert evaluate(publish(), resource_policy=policy(TLS_DENY)) is Decision.IMPLICIT_DENY


def test_an_allow_for_the_service_with_its_context_allows() -> None:
    assert evaluate(publish(), resource_policy=policy(TLS_DENY, CW_ALLOW)) is Decision.ALLOW


def test_explicit_deny_wins_over_allow() -> None:
    deny = {**CW_ALLOW, "Effect": "Deny", "Sid": "DenyAll"}
    assert evaluate(publish(), resource_policy=policy(CW_ALLOW, deny)) is Decision.EXPLICIT_DENY


def test_deny_in_an_identity_policy_wins_over_a_resource_allow() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": ROLE.arn}, "Action": "sns:Publish", "Resource": TOPIC}
    deny = {"Effect": "Deny", "Action": "sns:*", "Resource": "*"}
    request = publish(ROLE, {})
    assert evaluate(request, resource_policy=policy(allow)) is Decision.ALLOW
    assert evaluate(request, resource_policy=policy(allow), identity_policies=[policy(deny)]) is Decision.EXPLICIT_DENY


def test_other_service_principal_is_not_admitted() -> None:
    events = Principal.of_service("events.amazonaws.com")
    assert evaluate(publish(events), resource_policy=policy(CW_ALLOW)) is Decision.IMPLICIT_DENY


def test_star_principal_admits_a_service() -> None:
    allow = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sns:Publish", "Resource": TOPIC}
    assert evaluate(publish(), resource_policy=policy(allow)) is Decision.ALLOW


def test_not_principal_applies_to_everyone_else() -> None:
    deny = {"Effect": "Deny", "NotPrincipal": {"Service": "cloudwatch.amazonaws.com"}, "Action": "*", "Resource": "*"}
    allow_all = {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}
    doc = policy(allow_all, deny)
    assert evaluate(publish(), resource_policy=doc) is Decision.ALLOW
    assert evaluate(publish(Principal.of_service("s3.amazonaws.com")), resource_policy=doc) is Decision.EXPLICIT_DENY


# --- actions and resources -----------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("sns:Publish", "sns:Publish", True),
        ("SNS:publish", "sns:Publish", True),  # action names are case-insensitive
        ("sns:*", "sns:Publish", True),
        ("sns:Pub*", "sns:Publish", True),
        ("sns:Pub?ish", "sns:Publish", True),
        ("kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", True),
        ("kms:GenerateDataKey*", "kms:Decrypt", False),
        ("*", "sqs:SendMessage", True),
        ("sqs:Send*", "sns:Publish", False),
    ],
)
def test_action_wildcards(pattern: str, action: str, matches: bool) -> None:
    allow = {"Effect": "Allow", "Principal": "*", "Action": pattern, "Resource": "*"}
    expected = Decision.ALLOW if matches else Decision.IMPLICIT_DENY
    assert evaluate(publish(context={}, action=action), resource_policy=policy(allow)) is expected


def test_not_action_matches_every_other_action() -> None:
    allow = {"Effect": "Allow", "Principal": "*", "NotAction": "sns:Publish", "Resource": "*"}
    assert evaluate(publish(context={}), resource_policy=policy(allow)) is Decision.IMPLICIT_DENY
    assert evaluate(publish(context={}, action="sns:Subscribe"), resource_policy=policy(allow)) is Decision.ALLOW


def test_resource_wildcards_and_not_resource() -> None:
    def decide(statement: dict) -> Decision:
        allow = {"Effect": "Allow", "Principal": "*", "Action": "*", **statement}
        return evaluate(publish(context={}), resource_policy=policy(allow))

    assert decide({"Resource": f"arn:aws:sns:us-east-1:{ACCOUNT}:*"}) is Decision.ALLOW
    assert decide({"Resource": f"arn:aws:sns:eu-west-1:{ACCOUNT}:*"}) is Decision.IMPLICIT_DENY
    assert decide({"Resource": "arn:aws:sns:*:*:Alarm?"}) is Decision.ALLOW
    assert decide({"NotResource": TOPIC}) is Decision.IMPLICIT_DENY
    assert decide({"NotResource": f"{TOPIC}-other"}) is Decision.ALLOW


# --- conditions ----------------------------------------------------------------


def test_a_key_missing_from_the_context_fails_the_condition() -> None:
    """CloudWatch sets aws:SourceArn and aws:SourceAccount; a condition on a key
    the service does not set (here sts:ExternalId) never holds."""
    extra = {**CW_ALLOW, "Condition": {**CW_ALLOW["Condition"], "StringEquals": {"sts:ExternalId": ACCOUNT}}}
    assert evaluate(publish(), resource_policy=policy(extra)) is Decision.IMPLICIT_DENY
    no_account = publish(context={"aws:SourceArn": ALARM})
    assert evaluate(no_account, resource_policy=policy(CW_ALLOW)) is Decision.IMPLICIT_DENY


def test_a_missing_key_disarms_a_bool_deny() -> None:
    """The TLS deny does not apply when aws:SecureTransport is absent."""
    assert evaluate(publish(), resource_policy=policy(TLS_DENY, CW_ALLOW)) is Decision.ALLOW
    http = {**CW_CONTEXT, "aws:SecureTransport": "false"}
    assert evaluate(publish(context=http), resource_policy=policy(TLS_DENY, CW_ALLOW)) is Decision.EXPLICIT_DENY


def test_negated_operator_with_missing_key_is_true() -> None:
    """'If the policy condition requires that the key is not matched, such as
    StringNotLike or ArnNotLike, and the right key is not present, the
    condition is true.'"""
    assert condition_holds({"StringNotEquals": {"aws:SourceAccount": "444455556666"}}, {})
    assert condition_holds({"ArnNotLike": {"aws:SourceArn": "arn:aws:sns:*:*:*"}}, {})
    assert not condition_holds({"StringNotEquals": {"aws:SourceAccount": ACCOUNT}}, {"aws:SourceAccount": ACCOUNT})


def test_if_exists_passes_when_the_key_is_absent_and_checks_it_when_present() -> None:
    condition = {"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}}
    assert condition_holds(condition, {})
    assert condition_holds(condition, {"aws:SourceAccount": ACCOUNT})
    assert not condition_holds(condition, {"aws:SourceAccount": "444455556666"})


def test_null_checks_presence() -> None:
    assert condition_holds({"Null": {"aws:SourceArn": "true"}}, {})
    assert not condition_holds({"Null": {"aws:SourceArn": "true"}}, {"aws:SourceArn": ALARM})
    assert condition_holds({"Null": {"aws:SourceArn": "false"}}, {"aws:SourceArn": ALARM})


def test_values_of_one_key_are_ored_keys_and_operators_anded() -> None:
    condition = {"StringEquals": {"aws:SourceAccount": ["444455556666", ACCOUNT]}}
    assert condition_holds(condition, {"aws:SourceAccount": ACCOUNT})
    both = {"StringEquals": {"aws:SourceAccount": ACCOUNT, "aws:SourceArn": ALARM}}
    assert not condition_holds(both, {"aws:SourceAccount": ACCOUNT})
    negated = {"StringNotEquals": {"aws:SourceAccount": ["444455556666", ACCOUNT]}}  # NOR
    assert not condition_holds(negated, {"aws:SourceAccount": ACCOUNT})


def test_condition_key_names_are_case_insensitive() -> None:
    assert condition_holds({"StringEquals": {"AWS:SourceAccount": ACCOUNT}}, {"aws:sourceaccount": ACCOUNT})


@pytest.mark.parametrize(
    ("operator", "pattern", "value", "holds"),
    [
        ("StringLike", "logs.*.amazonaws.com", "logs.us-east-1.amazonaws.com", True),
        ("StringLike", "logs.*.amazonaws.com", "sqs.us-east-1.amazonaws.com", False),
        ("StringEquals", "Abc", "abc", False),
        ("StringEqualsIgnoreCase", "Abc", "abc", True),
        ("ArnLike", "arn:aws:cloudwatch:us-east-1:*:alarm:*", ALARM, True),
        ("ArnLike", "arn:aws:cloudwatch:*:*:alarm:*", TOPIC, False),
        ("ArnEquals", TOPIC, TOPIC, True),
        ("ArnNotEquals", TOPIC, TOPIC, False),
        ("Bool", "true", "True", True),
        ("NumericLessThan", "10", "9", True),
        ("NumericLessThan", "10", "10", False),
        ("NumericGreaterThanEquals", "10", "10", True),
        ("IpAddress", "203.0.113.0/24", "203.0.113.7", True),
        ("NotIpAddress", "203.0.113.0/24", "203.0.113.7", False),
    ],
)
def test_operators(operator: str, pattern: str, value: str, holds: bool) -> None:
    assert condition_holds({operator: {"k": pattern}}, {"k": value}) is holds


def test_set_operators() -> None:
    tags = {"aws:TagKeys": ["team", "env"]}
    assert condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team", "env", "cost"]}}, tags)
    assert not condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    assert condition_holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, tags)
    # ForAllValues holds when the key is missing; ForAnyValue does not
    assert condition_holds({"ForAllValues:StringEquals": {"aws:TagKeys": ["team"]}}, {})
    assert not condition_holds({"ForAnyValue:StringEquals": {"aws:TagKeys": ["team"]}}, {})


def test_unknown_operator_is_refused_not_guessed() -> None:
    with pytest.raises(NotImplementedError, match="DateLessThan"):
        condition_holds({"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}, {})


# --- same-account delegation and KMS ----------------------------------------------

ROOT = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234"


def decrypt(principal: Principal = ROLE) -> Request:
    return Request(principal, "kms:Decrypt", KEY, {})


def test_key_policy_root_statement_delegates_to_the_identity_policy() -> None:
    identity = policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": KEY})
    assert evaluate(decrypt(), resource_policy=policy(ROOT), key_policy=True) is Decision.IMPLICIT_DENY
    allowed = evaluate(decrypt(), resource_policy=policy(ROOT), identity_policies=[identity], key_policy=True)
    assert allowed is Decision.ALLOW


def test_key_policy_must_admit_even_when_the_identity_policy_allows() -> None:
    identity = policy({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"})
    denied = evaluate(decrypt(), resource_policy=policy(), identity_policies=[identity], key_policy=True)
    assert denied is Decision.IMPLICIT_DENY


def test_root_statement_does_not_admit_a_service_principal() -> None:
    assert evaluate(decrypt(CW), resource_policy=policy(ROOT), key_policy=True) is Decision.IMPLICIT_DENY


def test_same_account_identity_policy_alone_suffices_outside_kms() -> None:
    queue = f"arn:aws:sqs:us-east-1:{ACCOUNT}:Work"
    identity = policy({"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": queue})
    request = Request(ROLE, "sqs:ReceiveMessage", queue, {})
    assert evaluate(request, resource_policy=policy(), identity_policies=[identity]) is Decision.ALLOW
    assert evaluate(request, resource_policy=policy()) is Decision.IMPLICIT_DENY


def test_trust_policy_without_resource_applies_to_its_role() -> None:
    trust = policy({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"})
    role = ROLE.arn or ""
    assume = Request(Principal.of_service("lambda.amazonaws.com"), "sts:AssumeRole", role, {})
    assert evaluate(assume, resource_policy=trust) is Decision.ALLOW
