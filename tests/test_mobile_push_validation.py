"""Every bad MobilePush input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_secretsmanager as secretsmanager

from refarch.mobile_push import ApnsPlatform, FcmPlatform, IamAuthorization, JwtAuthorization, MobilePush
from tests.conftest import new_app


class _NotASecret:
    def __repr__(self) -> str:
        return "<not a secret>"


def _cases(secret) -> dict:
    ok = [ApnsPlatform(secret=secret)]
    return {
        "no platform": (dict(platforms=[]), "platforms must name at least one platform (ApnsPlatform or FcmPlatform) (got [])"),
        "unknown platform": (dict(platforms=["windows"]), "platforms[0] must be an ApnsPlatform or an FcmPlatform (got 'windows')"),
        "platform twice": (dict(platforms=[FcmPlatform(secret=secret), FcmPlatform(secret=secret)]),
                           "platforms must not name a platform twice (got 'fcm')"),
        "apns twice": (dict(platforms=[ApnsPlatform(secret=secret), ApnsPlatform(secret=secret, auth="certificate")]),
                       "platforms must not name a platform twice (got 'apns')"),
        "unknown apns auth": (dict(platforms=[ApnsPlatform(secret=secret, auth="password")]),
                              "platforms[apns].auth must be 'token' or 'certificate' (got 'password')"),
        "sandbox not a bool": (dict(platforms=[ApnsPlatform(secret=secret, sandbox="yes")]),
                               "platforms[apns-sandbox].sandbox must be True or False (got 'yes')"),
        "secret not a secret": (dict(platforms=[FcmPlatform(secret=_NotASecret())]),
                                "platforms[fcm].secret must be a secretsmanager.ISecret (got <not a secret>)"),
        "empty credentials version": (dict(platforms=[ApnsPlatform(secret=secret, credentials_version="")]),
                                      "platforms[apns].credentials_version must be a non-empty string"),
        "sample rate above 100": (dict(platforms=ok, success_sample_rate=101),
                                  "success_sample_rate must be a whole percentage from 0 to 100 (got 101)"),
        "sample rate negative": (dict(platforms=ok, success_sample_rate=-1), "success_sample_rate must be a whole percentage"),
        "sample rate fractional": (dict(platforms=ok, success_sample_rate=12.5), "(got 12.5)"),
        "sample rate bool": (dict(platforms=ok, success_sample_rate=True), "(got True)"),
        "open API": (dict(platforms=ok, authorization=None),
                     "authorization must be IamAuthorization or JwtAuthorization: the registration API is never open (got None)"),
        "jwt issuer not https": (dict(platforms=ok, authorization=JwtAuthorization(issuer="http://idp", audience=["a"])),
                                 "authorization.issuer must be an https:// URL (got 'http://idp')"),
        "jwt without audience": (dict(platforms=ok, authorization=JwtAuthorization(issuer="https://idp", audience=[])),
                                 "authorization.audience must list at least one accepted audience (got [])"),
        "jwt audience as a string": (dict(platforms=ok, authorization=JwtAuthorization(issuer="https://idp", audience="a")),
                                     "authorization.audience must list at least one accepted audience (got 'a')"),
        "jwt empty audience": (dict(platforms=ok, authorization=JwtAuthorization(issuer="https://idp", audience=[""])),
                               "authorization.audience must list at least one accepted audience (got [''])"),
        "jwt scopes as a string": (dict(platforms=ok, authorization=JwtAuthorization(
            issuer="https://idp", audience=["a"], scopes="push/register")),
            "authorization.scopes must list scopes as non-empty strings (a list, not one string) (got 'push/register')"),
        "rate limit zero": (dict(platforms=ok, throttling_rate_limit=0), "throttling_rate_limit must be 1 to 10000"),
        "burst limit too high": (dict(platforms=ok, throttling_burst_limit=5001),
                                 "throttling_burst_limit must be 1 to 5000 requests (the account's default API Gateway "
                                 "burst quota) (got 5001)"),
        "negative threshold": (dict(platforms=ok, failed_notifications_threshold=-1),
                               "failed_notifications_threshold must be a whole number, 0 or more (got -1)"),
    }


CASE_NAMES = list(_cases(None))


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_is_rejected_with_its_prop_and_value(case: str) -> None:
    stack = cdk.Stack(new_app(), "Bad")
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "S", "push/creds")
    kwargs, message = _cases(secret)[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        MobilePush(stack, "P", **kwargs)
    assert stack.node.try_find_child("P") is None or not stack.node.find_child("P").node.children, (
        "validation must run before anything is created")


def test_valid_minimal_input_is_accepted() -> None:
    stack = cdk.Stack(new_app(), "Ok")
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "S", "push/creds")
    push = MobilePush(stack, "P", platforms=[FcmPlatform(secret=secret)], authorization=IamAuthorization(),
                      success_sample_rate=0)
    assert set(push.platforms) == {"fcm"}
