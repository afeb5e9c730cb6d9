"""Device registration behind the HTTP API (payload format 2.0).

``POST /devices`` with ``{"platform": "apns" | "apns-sandbox" | "fcm",
"token": "<device token>", "endpointArn": "<optional, from an earlier call>"}``
returns ``{"endpointArn": ..., "subscriptionArn": ...}``. The app keeps the
endpoint ARN and sends it with every later registration (on each start, as
APNs and FCM may change the token at any time).

AWS's recommended token-management flow:

1. no stored endpoint ARN: create the platform endpoint (idempotent for the
   same token; if SNS reports that the token already has an endpoint with
   other attributes, use that endpoint);
2. read the endpoint; if it was deleted, create it again;
3. if its token differs from the app's latest, or SNS disabled it (APNs/FCM
   reported the token invalid), set the new token and enable it;
4. subscribe it to the broadcast topic (idempotent).

On top of it, the endpoint records its owner, the authorized caller (the
Cognito identity or IAM principal, or the JWT's ``sub``), in its
``CustomUserData``. An endpoint ARN is only a reference the app sends back,
so one owned by another caller is ignored and the token (which proves the
device) is registered as if no ARN had been sent: a caller who learns
another device's endpoint ARN cannot point it at their own token. A device
that changes hands (another user signs in) keeps its endpoint, which changes
owner.

Device tokens never reach the logs: only a short SHA-256 prefix does; SNS
errors are reported by operation and code, never by their message.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import json
import logging
import os
import re

import boto3
from botocore.exceptions import ClientError

logger = logging.getLogger()
logger.setLevel(logging.INFO)

_TOKEN = re.compile(r"^[A-Za-z0-9_:.\-]{8,4096}$")
_EXISTING = re.compile(r"Endpoint (arn:[^ ]+) already exists with the same [Tt]oken")


class BadRequest(ValueError):
    pass


@functools.cache  # one client per execution environment, reused across invocations
def _sns():
    return boto3.client("sns")


def token_hash(token: str) -> str:
    """What the logs say instead of the token: enough to correlate, not to use."""
    return hashlib.sha256(token.encode()).hexdigest()[:16]


def _not_found(err: ClientError) -> bool:
    return err.response["Error"]["Code"] in ("NotFound", "NotFoundException")


def caller(event: dict) -> str | None:
    """Who the authorizer admitted (payload format 2.0), or None."""
    authorizer = (event.get("requestContext") or {}).get("authorizer") or {}
    claims = (authorizer.get("jwt") or {}).get("claims") or {}
    if claims.get("sub"):
        return f"jwt:{claims['sub']}"
    iam = authorizer.get("iam") or {}
    principal = (iam.get("cognitoIdentity") or {}).get("identityId") or iam.get("userArn")
    return f"iam:{principal}" if principal else None


def create_endpoint(application_arn: str, token: str, owner: str | None = None) -> str:
    extra = {"CustomUserData": owner} if owner else {}
    try:
        return _sns().create_platform_endpoint(PlatformApplicationArn=application_arn, Token=token, **extra)[
            "EndpointArn"]
    except ClientError as err:
        existing = _EXISTING.search(err.response["Error"].get("Message", ""))
        if err.response["Error"]["Code"] == "InvalidParameter" and existing:
            return existing.group(1)  # the token already has an endpoint: reuse it
        raise


def _foreign(endpoint_arn: str, owner: str) -> bool:
    try:
        attributes = _sns().get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
    except ClientError as err:
        if _not_found(err):
            return False  # deleted: the flow below creates it again
        raise
    return attributes.get("CustomUserData", "") not in ("", owner)


def register(
    application_arn: str, topic_arn: str, token: str, endpoint_arn: str | None = None, owner: str | None = None
) -> dict:
    """Run the token-management flow; return the endpoint and subscription ARNs and what changed.

    With ``owner``, the endpoint is recorded as the owner's and an endpoint
    ARN owned by someone else is ignored (see the module docstring).
    """
    actions = []
    if endpoint_arn is not None and owner and _foreign(endpoint_arn, owner):
        endpoint_arn = None
        actions.append("ignored another owner's endpoint")
    if endpoint_arn is None:
        endpoint_arn = create_endpoint(application_arn, token, owner)
        actions.append("created")
    try:
        attributes = _sns().get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
    except ClientError as err:
        if not _not_found(err):
            raise
        endpoint_arn = create_endpoint(application_arn, token, owner)  # deleted since: create it again
        actions.append("recreated")
        attributes = _sns().get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
    changes = {}
    if attributes.get("Token") != token or str(attributes.get("Enabled", "true")).lower() != "true":
        changes.update(Token=token, Enabled="true")
    if owner and attributes.get("CustomUserData") != owner:
        changes["CustomUserData"] = owner  # the token proves the device: its endpoint is the caller's now
    if changes:
        _sns().set_endpoint_attributes(EndpointArn=endpoint_arn, Attributes=changes)
        actions.append("updated")
    subscription_arn = _sns().subscribe(
        TopicArn=topic_arn, Protocol="application", Endpoint=endpoint_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    return {"endpointArn": endpoint_arn, "subscriptionArn": subscription_arn, "actions": actions}


def _parse(event: dict, applications: dict[str, str]) -> tuple[str, str, str | None]:
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise BadRequest("body must be JSON") from None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise BadRequest("body must be JSON") from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    platform, token, endpoint_arn = data.get("platform"), data.get("token"), data.get("endpointArn")
    if platform not in applications:
        raise BadRequest(f"platform must be one of {sorted(applications)}")
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise BadRequest("token must be a device token (8 to 4096 letters, digits, '_', ':', '.', '-')")
    if endpoint_arn is not None:
        prefix = applications[platform].replace(":app/", ":endpoint/", 1) + "/"
        if not isinstance(endpoint_arn, str) or not endpoint_arn.startswith(prefix):
            raise BadRequest(f"endpointArn must be an endpoint of the {platform} application")
    return applications[platform], token, endpoint_arn


def _response(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event: dict, _context: object) -> dict:
    applications = json.loads(os.environ["PLATFORM_APPLICATIONS"])
    owner = caller(event)
    if owner is None:  # the authorizer always supplies one; refuse rather than register anonymously
        logger.warning("rejected", extra={"reason": "no caller identity in the request context"})
        return _response(403, {"message": "no caller identity"})
    try:
        application_arn, token, endpoint_arn = _parse(event, applications)
    except BadRequest as err:
        logger.info("rejected", extra={"reason": str(err)})
        return _response(400, {"message": str(err)})
    try:
        result = register(application_arn, os.environ["TOPIC_ARN"], token, endpoint_arn, owner)
    except ClientError as err:
        # SNS's error message may quote the request (the token): log and
        # return only the operation and the code.
        failure = f"{err.operation_name} failed: {err.response['Error']['Code']}"
        logger.warning("sns error", extra={"token_sha256": token_hash(token), "error": failure})
        if err.response["Error"]["Code"] == "InvalidParameter":  # e.g. a token of the wrong platform
            return _response(400, {"message": f"SNS rejected the token ({failure})"})
        raise RuntimeError(failure) from None
    logger.info("registered", extra={"token_sha256": token_hash(token), "endpoint": result["endpointArn"],
                                     "actions": result["actions"]})
    return _response(200, {"endpointArn": result["endpointArn"], "subscriptionArn": result["subscriptionArn"]})
