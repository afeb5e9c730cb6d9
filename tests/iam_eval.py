"""A small IAM policy evaluator, for deciding offline whether a synthesized
template's policies admit a request (tests/test_service_access.py).

Why not a library: moto's evaluator (``moto.iam.access_control``) knows only
``StringEquals`` and lets every other operator and every missing condition key
pass, which is the opposite of what this test needs; policyuniverse parses
ARNs and expands actions but evaluates no conditions; parliament and
policy_sentry lint and generate policies; aws-why is a binary CLI. So this
module implements the documented evaluation logic, and nothing more:

- Policy evaluation logic (explicit deny wins, then an allow, else implicit
  deny): https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html
- Same-account requests: an allow in the identity policy *or* the resource
  policy suffices, except for KMS, where the key policy must allow the
  principal itself or delegate to the account (the ``:root`` statement), and
  then an identity policy must allow:
  https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html#key-policy-default-allow-root-enable-iam
- Condition operators, ``...IfExists``, ``Null``, and the rule that a key
  missing from the request context makes a condition *false*, except for the
  negated operators (``StringNotEquals``, ``ArnNotLike``...), which are then
  *true*: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
- ``ForAnyValue`` / ``ForAllValues`` (``ForAllValues`` is true when the key
  is missing): https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
- Several values for one key are OR-ed, NOR-ed for a negated operator; keys
  and operators are AND-ed: https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_multi-value-conditions.html

An operator this module does not implement raises ``NotImplementedError``
instead of guessing.
"""

from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


class Decision(enum.Enum):
    ALLOW = "allow"
    IMPLICIT_DENY = "implicit deny"
    EXPLICIT_DENY = "explicit deny"


@dataclass(frozen=True)
class Principal:
    """Who makes the request: a service (``cloudwatch.amazonaws.com``) or an
    IAM role / user ARN (``arn:aws:iam::111122223333:role/Name``)."""

    service: str | None = None
    arn: str | None = None

    @staticmethod
    def of_service(name: str) -> Principal:
        return Principal(service=name)

    @staticmethod
    def of_arn(arn: str) -> Principal:
        return Principal(arn=arn)

    @property
    def account(self) -> str | None:
        if self.arn is None:
            return None
        parts = self.arn.split(":")
        return parts[4] if len(parts) > 4 else None

    def __str__(self) -> str:
        return self.service or self.arn or "?"


@dataclass(frozen=True)
class Request:
    principal: Principal
    action: str
    resource: str
    context: Mapping[str, str | Sequence[str]] = field(default_factory=dict)


# --- matching helpers -------------------------------------------------------


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _wildcard(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    """IAM wildcards: ``*`` any run of characters, ``?`` one character."""
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Actions are case-insensitive (``sns:Publish`` == ``SNS:publish``)."""
    return pattern == "*" or _wildcard(pattern, action, ignore_case=True)


def resource_matches(pattern: str, resource: str) -> bool:
    return pattern == "*" or _wildcard(pattern, resource)


def _arn_like(pattern: str, value: str) -> bool:
    """ArnLike: each of the six colon-separated parts matched on its own
    (the resource part keeps its colons)."""
    p, v = pattern.split(":", 5), value.split(":", 5)
    if len(p) != 6 or len(v) != 6:
        return False
    return all(_wildcard(a, b) for a, b in zip(p, v, strict=True))


def _bool(value: str) -> str:
    return str(value).lower()


def _num(value: str) -> float:
    return float(value)


_STRING_OPS: dict[str, Any] = {
    "StringEquals": lambda p, v: p == v,
    "StringEqualsIgnoreCase": lambda p, v: p.lower() == v.lower(),
    "StringLike": lambda p, v: _wildcard(p, v),
    "ArnEquals": lambda p, v: p == v or _arn_like(p, v),
    "ArnLike": _arn_like,
    "Bool": lambda p, v: _bool(p) == _bool(v),
    "NumericEquals": lambda p, v: _num(v) == _num(p),
    "NumericLessThan": lambda p, v: _num(v) < _num(p),
    "NumericLessThanEquals": lambda p, v: _num(v) <= _num(p),
    "NumericGreaterThan": lambda p, v: _num(v) > _num(p),
    "NumericGreaterThanEquals": lambda p, v: _num(v) >= _num(p),
    "IpAddress": lambda p, v: ipaddress.ip_address(v) in ipaddress.ip_network(p, strict=False),
}
#: negated operator -> the positive operator it negates
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
    "NumericNotEquals": "NumericEquals",
    "NotIpAddress": "IpAddress",
}


def _values_match(operator: str, policy_values: list, request_value: str) -> bool:
    """One request value against the policy's values for an operator (OR;
    NOR for a negated operator)."""
    if operator in _NEGATED:
        positive = _STRING_OPS[_NEGATED[operator]]
        return not any(positive(str(p), str(request_value)) for p in policy_values)
    op = _STRING_OPS[operator]
    return any(op(str(p), str(request_value)) for p in policy_values)


def condition_holds(condition: Mapping[str, Mapping[str, Any]] | None, context: Mapping[str, Any]) -> bool:
    """Whether a statement's whole ``Condition`` block holds for ``context``."""
    if not condition:
        return True
    lowered = {k.lower(): v for k, v in context.items()}  # condition key names are case-insensitive
    for raw_operator, keys in condition.items():
        qualifier, _, operator = raw_operator.rpartition(":")
        if_exists = operator.endswith("IfExists")
        if if_exists:
            operator = operator[: -len("IfExists")]
        if operator != "Null" and operator not in _STRING_OPS and operator not in _NEGATED:
            raise NotImplementedError(f"condition operator {raw_operator}")
        if qualifier not in ("", "ForAnyValue", "ForAllValues"):
            raise NotImplementedError(f"condition qualifier {raw_operator}")
        for key, policy_value in keys.items():
            policy_values = [str(v) for v in _as_list(policy_value)]
            present = key.lower() in lowered
            request_values = [str(v) for v in _as_list(lowered.get(key.lower()))]
            if operator == "Null":
                # "true": the key must be absent; "false": present.
                if not any((_bool(p) == "true") == (not present) for p in policy_values):
                    return False
                continue
            if not present:
                if if_exists or qualifier == "ForAllValues":
                    continue
                if qualifier == "" and operator in _NEGATED:
                    continue
                return False
            if qualifier == "ForAllValues":
                ok = all(_values_match(operator, policy_values, v) for v in request_values)
            elif qualifier == "ForAnyValue":
                ok = any(_values_match(operator, policy_values, v) for v in request_values)
            else:
                # a single-valued key; a list here is the caller's mistake
                if len(request_values) != 1:
                    raise ValueError(f"{key} is multivalued ({request_values}); qualify {raw_operator}")
                ok = _values_match(operator, policy_values, request_values[0])
            if not ok:
                return False
    return True


# --- statements and policies ------------------------------------------------


class PrincipalMatch(enum.Enum):
    NONE = 0
    ACCOUNT = 1  # the statement names the principal's account (delegates to IAM)
    DIRECT = 2  # the statement names the principal itself, or everyone


def _account_of(value: str) -> str | None:
    if re.fullmatch(r"\d{12}", value):
        return value
    m = re.fullmatch(r"arn:[^:]+:iam::(\d{12}):root", value)
    return m.group(1) if m else None


def principal_match(element: Any, principal: Principal) -> PrincipalMatch:
    """How a ``Principal`` element names ``principal``."""
    if element == "*":
        return PrincipalMatch.DIRECT
    best = PrincipalMatch.NONE
    for kind, values in element.items():
        for value in _as_list(values):
            if kind == "AWS" and value == "*":
                return PrincipalMatch.DIRECT
            if kind == "Service" and principal.service is not None and value == principal.service:
                return PrincipalMatch.DIRECT
            if kind == "AWS" and principal.arn is not None:
                if value == principal.arn:
                    return PrincipalMatch.DIRECT
                if _account_of(value) is not None and _account_of(value) == principal.account:
                    best = PrincipalMatch.ACCOUNT
    return best


def statement_applies(statement: Mapping[str, Any], request: Request, *, resource_policy: bool) -> PrincipalMatch:
    """How ``statement`` applies to ``request`` (NONE when it does not)."""
    if "Action" in statement:
        if not any(action_matches(a, request.action) for a in _as_list(statement["Action"])):
            return PrincipalMatch.NONE
    elif "NotAction" in statement:
        if any(action_matches(a, request.action) for a in _as_list(statement["NotAction"])):
            return PrincipalMatch.NONE
    else:
        raise ValueError(f"statement has neither Action nor NotAction: {statement}")
    if "Resource" in statement:
        if not any(resource_matches(r, request.resource) for r in _as_list(statement["Resource"])):
            return PrincipalMatch.NONE
    elif "NotResource" in statement:
        if any(resource_matches(r, request.resource) for r in _as_list(statement["NotResource"])):
            return PrincipalMatch.NONE
    # (a trust policy has no Resource: it applies to the role it belongs to)
    if resource_policy:
        if "Principal" in statement:
            match = principal_match(statement["Principal"], request.principal)
        elif "NotPrincipal" in statement:
            named = principal_match(statement["NotPrincipal"], request.principal)
            match = PrincipalMatch.NONE if named is not PrincipalMatch.NONE else PrincipalMatch.DIRECT
        else:
            raise ValueError(f"resource policy statement has no Principal: {statement}")
    else:
        match = PrincipalMatch.DIRECT
    if match is PrincipalMatch.NONE:
        return match
    if not condition_holds(statement.get("Condition"), request.context):
        return PrincipalMatch.NONE
    return match


@dataclass(frozen=True)
class PolicyResult:
    denied: bool
    allowed: PrincipalMatch  # strongest Allow match
    statements: tuple[str, ...] = ()  # Sids (or indexes) of the statements that applied


def evaluate_policy(policy: Mapping[str, Any] | None, request: Request, *, resource_policy: bool) -> PolicyResult:
    denied, allowed, hits = False, PrincipalMatch.NONE, []
    for index, statement in enumerate(_as_list((policy or {}).get("Statement"))):
        match = statement_applies(statement, request, resource_policy=resource_policy)
        if match is PrincipalMatch.NONE:
            continue
        hits.append(str(statement.get("Sid", index)))
        if statement["Effect"] == "Deny":
            denied = True
        elif match.value > allowed.value:
            allowed = match
    return PolicyResult(denied, allowed, tuple(hits))


def evaluate(
    request: Request,
    *,
    resource_policy: Mapping[str, Any] | None = None,
    identity_policies: Sequence[Mapping[str, Any]] = (),
    key_policy: bool = False,
) -> Decision:
    """The decision for a same-account ``request``.

    ``resource_policy`` is the resource's policy (a topic or queue policy, a
    key policy, a role's trust policy); ``identity_policies`` the policies
    attached to ``request.principal`` when it is an IAM role. ``key_policy``:
    the resource is a KMS key, whose policy must allow the principal or
    delegate to its account (then an identity policy must allow too).
    """
    resource = evaluate_policy(resource_policy, request, resource_policy=True)
    identity = [evaluate_policy(p, request, resource_policy=False) for p in identity_policies]
    if resource.denied or any(r.denied for r in identity):
        return Decision.EXPLICIT_DENY
    identity_allows = request.principal.arn is not None and any(r.allowed is PrincipalMatch.DIRECT for r in identity)
    if resource.allowed is PrincipalMatch.DIRECT:
        return Decision.ALLOW
    if key_policy:
        if resource.allowed is PrincipalMatch.ACCOUNT and identity_allows:
            return Decision.ALLOW
        return Decision.IMPLICIT_DENY
    if identity_allows:
        return Decision.ALLOW
    return Decision.IMPLICIT_DENY
