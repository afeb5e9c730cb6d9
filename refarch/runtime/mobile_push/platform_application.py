"""Custom resource handler (CDK Provider framework): one SNS platform application.

CloudFormation has no resource type for SNS platform applications. This
handler creates, updates and deletes one, reading its credentials from
Secrets Manager at deployment time so that they never appear in the template,
in the custom resource's properties or in any log.

Resource properties: ``Platform`` (APNS, APNS_SANDBOX, GCM), ``Auth`` (token,
certificate, service-account), ``SecretId``, ``CredentialsVersion``,
``SuccessFeedbackRoleArn``, ``FailureFeedbackRoleArn``,
``SuccessFeedbackSampleRate``. The physical ID is the platform application
ARN; ``Name`` is returned for the CloudWatch ``Application`` dimension.

Rollbacks: CloudFormation rolls a failed update back by sending another
Update with the old properties. The secret, though, is not rolled back: after
a rotation that failed (a malformed value, credentials SNS rejected), reading
it again would fail again and leave the stack in UPDATE_ROLLBACK_FAILED. So
while the stack is rolling back, the handler restores the settings but keeps
the credentials the application already holds (the last ones SNS accepted).

Secret values (JSON):

* APNs token: ``{"signingKey": "-----BEGIN PRIVATE KEY-----...", "signingKeyId": "ABC123DEFG",
  "teamId": "DEF123GHIJ", "bundleId": "com.example.app"}``
* APNs certificate: ``{"certificate": "-----BEGIN CERTIFICATE-----...",
  "privateKey": "-----BEGIN PRIVATE KEY-----..."}``
* FCM: the Firebase service account's JSON key file, unchanged.
"""

from __future__ import annotations

import functools
import json
import logging
import re

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

PLATFORMS = {"APNS": ("token", "certificate"), "APNS_SANDBOX": ("token", "certificate"), "GCM": ("service-account",)}
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_NAME_MAX = 256


class CredentialsError(ValueError):
    """The secret is missing or does not hold what the platform needs. The
    message names the secret and the missing fields, never a value."""


@functools.cache  # one client per execution environment, reused across invocations
def _sns():
    return boto3.client("sns")


@functools.cache
def _secrets():
    return boto3.client("secretsmanager")


@functools.cache
def _cloudformation():
    return boto3.client("cloudformation")


def rolling_back(stack_id: str) -> bool:
    """Whether the stack sending this request is rolling an update back."""
    [stack] = _cloudformation().describe_stacks(StackName=stack_id)["Stacks"]
    return stack["StackStatus"].endswith("ROLLBACK_IN_PROGRESS")


# --- credentials --------------------------------------------------------------------


def read_secret(secret_id: str) -> dict:
    try:
        value = _secrets().get_secret_value(SecretId=secret_id)
    except ClientError as err:
        code = err.response["Error"]["Code"]
        raise CredentialsError(f"cannot read secret {secret_id}: {code}") from None
    text = value.get("SecretString")
    if text is None:
        raise CredentialsError(f"secret {secret_id} holds binary data; store the credentials as a JSON string")
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise CredentialsError(f"secret {secret_id} is not valid JSON (see docs/mobile-push.md for its shape)") from None
    if not isinstance(data, dict):
        raise CredentialsError(f"secret {secret_id} must be a JSON object (see docs/mobile-push.md for its shape)")
    return data


def _require_fields(secret_id: str, data: dict, fields: dict[str, str | None], what: str) -> None:
    """Each field must be a non-empty string; a marker, when given, must occur in it."""
    missing = [f for f in fields if not isinstance(data.get(f), str) or not data[f].strip()]
    if missing:
        raise CredentialsError(f"secret {secret_id} ({what}) lacks {', '.join(sorted(missing))}")
    malformed = [f for f, marker in fields.items() if marker and marker not in data[f]]
    if malformed:
        raise CredentialsError(f"secret {secret_id} ({what}): {', '.join(sorted(malformed))} is not a PEM block")


def credential_attributes(platform: str, auth: str, secret_id: str) -> dict[str, str]:
    """The SNS attributes that carry the credentials for ``platform`` / ``auth``."""
    data = read_secret(secret_id)
    if platform in ("APNS", "APNS_SANDBOX") and auth == "token":
        _require_fields(secret_id, data, {"signingKey": "PRIVATE KEY", "signingKeyId": None, "teamId": None,
                                          "bundleId": None}, "APNs token")
        return {
            "PlatformCredential": data["signingKey"],
            "PlatformPrincipal": data["signingKeyId"],
            "ApplePlatformTeamID": data["teamId"],
            "ApplePlatformBundleID": data["bundleId"],
        }
    if platform in ("APNS", "APNS_SANDBOX") and auth == "certificate":
        _require_fields(secret_id, data, {"certificate": "BEGIN CERTIFICATE", "privateKey": "PRIVATE KEY"},
                        "APNs certificate")
        return {"PlatformPrincipal": data["certificate"], "PlatformCredential": data["privateKey"]}
    if platform == "GCM" and auth == "service-account":
        _require_fields(secret_id, data, {"project_id": None, "private_key": "PRIVATE KEY", "client_email": None},
                        "FCM service account")
        if data.get("type") != "service_account":
            raise CredentialsError(f"secret {secret_id} (FCM service account): type must be service_account")
        # FCM HTTP v1: SNS takes the whole service-account JSON as the credential.
        return {"PlatformCredential": json.dumps(data)}
    raise ValueError(f"unsupported Platform/Auth {platform}/{auth}; expected one of {PLATFORMS}")


# --- the custom resource ---------------------------------------------------------------


def application_name(stack_id: str, logical_id: str, auth: str) -> str:
    """A unique name in the CloudFormation style: <stack>-<logical id>-<auth>.

    A stack name has at most 128 characters; the logical ID is shortened if
    the name would pass SNS's 256, so the auth suffix (which makes a
    replacement's name differ from the old one) always stays.
    """
    stack_name = stack_id.split("/")[1] if stack_id.count("/") >= 2 else stack_id
    room = _NAME_MAX - len(stack_name) - len(auth) - 2
    return _NAME_UNSAFE.sub("-", f"{stack_name}-{logical_id[:room]}-{auth}")


def application_arn(stack_id: str, platform: str, name: str) -> str:
    # StackId: arn:<partition>:cloudformation:<region>:<account>:stack/<name>/<uuid>
    _, partition, _, region, account, _ = stack_id.split(":", 5)
    return f"arn:{partition}:sns:{region}:{account}:app/{platform}/{name}"


_SETTINGS = ("SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate")


def _settings(props: dict) -> dict[str, str]:
    return {name: str(props[name]) for name in _SETTINGS if props.get(name)}


def _attributes(props: dict) -> dict[str, str]:
    return {**credential_attributes(props["Platform"], props["Auth"], props["SecretId"]), **_settings(props)}


def _exists(arn: str) -> bool:
    try:
        _sns().get_platform_application_attributes(PlatformApplicationArn=arn)
        return True
    except ClientError as err:
        if err.response["Error"]["Code"] in ("NotFound", "NotFoundException"):
            return False
        raise


def _create(event: dict, props: dict, *, keep_credentials: bool = False) -> dict:
    platform, auth = props["Platform"], props["Auth"]
    if auth not in PLATFORMS.get(platform, ()):
        raise ValueError(f"unsupported Platform/Auth {platform}/{auth}; expected one of {PLATFORMS}")
    name = application_name(event["StackId"], event["LogicalResourceId"], auth)
    arn = application_arn(event["StackId"], platform, name)
    if _exists(arn):  # a retried create, or a rollback to the old application: converge
        attributes = _settings(props) if keep_credentials else _attributes(props)
        if attributes:
            _sns().set_platform_application_attributes(PlatformApplicationArn=arn, Attributes=attributes)
    else:
        arn = _sns().create_platform_application(Name=name, Platform=platform, Attributes=_attributes(props))[
            "PlatformApplicationArn"]
    logger.info("platform application ready", extra={"arn": arn, "platform": platform, "auth": auth})
    return {"PhysicalResourceId": arn, "Data": {"Arn": arn, "Name": name}}


def _update(event: dict, props: dict) -> dict:
    old = event.get("OldResourceProperties", {})
    arn = event["PhysicalResourceId"]
    keep_credentials = rolling_back(event["StackId"])
    if (props["Platform"], props["Auth"]) != (old.get("Platform"), old.get("Auth")):
        # Another platform or auth method is another application: create it;
        # CloudFormation then deletes the old one (the physical ID changed).
        return _create(event, props, keep_credentials=keep_credentials)
    attributes = _settings(props) if keep_credentials else _attributes(props)
    if attributes:
        _sns().set_platform_application_attributes(PlatformApplicationArn=arn, Attributes=attributes)
    logger.info("platform application updated", extra={"arn": arn, "credentials_kept": keep_credentials})
    return {"PhysicalResourceId": arn, "Data": {"Arn": arn, "Name": arn.rsplit("/", 1)[1]}}


def _delete(event: dict) -> dict:
    arn = event["PhysicalResourceId"]
    # A failed create leaves a physical ID that is no ARN; a repeated delete
    # finds nothing. Both succeed, so that the stack can roll back or go.
    if ":app/" in arn and _exists(arn):
        _sns().delete_platform_application(PlatformApplicationArn=arn)
    logger.info("platform application deleted", extra={"arn": arn})
    return {"PhysicalResourceId": arn}


def on_event(event: dict, _context: object) -> dict:
    request = event["RequestType"]
    props = event.get("ResourceProperties", {})
    if request == "Create":
        return _create(event, props)
    if request == "Update":
        return _update(event, props)
    if request == "Delete":
        return _delete(event)
    raise ValueError(f"unknown RequestType {request!r}")
