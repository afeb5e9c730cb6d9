"""Device registration behind the HTTP API (payload format 2.0).

``POST /devices`` with ``{"platform": "apns" | "apns-sandbox" | "fcm",
"token": "<device token>", "endpointArn": "<optional, from an earlier call>",
"subscriptionArn": "<optional, from an earlier call>"}`` returns
``{"endpointArn": ..., "subscriptionArn": ...}``. The app keeps both and sends
them with every later registration (on each start, as APNs and FCM may change
the token at any time).

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

An endpoint ARN of another platform application of this account and region
is stale: the app's platform application changed since it registered (an
APNs switch between token and certificate auth, or from sandbox to
production, replaces the application and so its ARN). SNS answers
``GetEndpointAttributes`` on such an ARN with 400 ``InvalidParameter`` (or 404
once the old application is deleted). It is treated like a missing ARN: a new
endpoint is created in the current application and subscribed, then the old
one is retired, best effort: its subscription to the topic is removed (the
``subscriptionArn`` the app sent, when it belongs to that endpoint and topic,
else the one ``Subscribe`` returns for it, as ``Subscribe`` is idempotent) and
the endpoint is deleted, unless it is readable and owned by another caller.
A failure to retire is logged and does not fail the registration.

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
    """The endpoint is gone (404), or is no endpoint SNS can act on (400 InvalidParameter, e.g. one of a
    replaced platform application): either way there is nothing to update, so a new one is created."""
    return err.response["Error"]["Code"] in ("NotFound", "NotFoundException", "InvalidParameter")


def _endpoint_prefix(application_arn: str) -> str:
    """``arn:...:app/APNS/name`` -> ``arn:...:endpoint/APNS/name/``, what its endpoints' ARNs start with."""
    return application_arn.replace(":app/", ":endpoint/", 1) + "/"


def _account_prefix(application_arn: str) -> str:
    """``arn:<partition>:sns:<region>:<account>:endpoint/``: endpoints of any application here."""
    return application_arn.split(":app/", 1)[0] + ":endpoint/"


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
        if err.response["Error"]["Code"] == "InvalidParameter" and existing \
                and existing.group(1).startswith(_endpoint_prefix(application_arn)):
            return existing.group(1)  # the token already has an endpoint in this application: reuse it
        raise


def _foreign(endpoint_arn: str, owner: str) -> bool:
    try:
        attributes = _sns().get_endpoint_attributes(EndpointArn=endpoint_arn)["Attributes"]
    except ClientError as err:
        if _not_found(err):
            return False  # deleted: the flow below creates it again
        raise
    return attributes.get("CustomUserData", "") not in ("", owner)


def _retire(stale_arn: str, topic_arn: str, owner: str | None, subscription_arn: str | None) -> list[str]:
    """Remove an endpoint that was replaced (of another platform application, or deleted) and its subscription,
    best effort: a failure is logged and the registration stands."""
    sns = _sns()
    try:
        try:
            attributes = sns.get_endpoint_attributes(EndpointArn=stale_arn)["Attributes"]
        except ClientError as err:
            if not _not_found(err):
                raise
            attributes = None  # gone or unusable: nobody can be notified through it
        if attributes is not None and attributes.get("CustomUserData", "") not in ("", owner):
            return ["kept the old endpoint: another owner's"]
        if subscription_arn is not None:
            try:
                found = sns.get_subscription_attributes(SubscriptionArn=subscription_arn)["Attributes"]
            except ClientError as err:
                if not _not_found(err):
                    raise
                found = {}
            if (found.get("TopicArn"), found.get("Endpoint")) != (topic_arn, stale_arn):
                subscription_arn = None  # not that endpoint's subscription to this topic: never remove it
        if subscription_arn is None:
            subscription_arn = sns.subscribe(
                TopicArn=topic_arn, Protocol="application", Endpoint=stale_arn, ReturnSubscriptionArn=True
            )["SubscriptionArn"]  # idempotent: the existing subscription, if there is one
        sns.unsubscribe(SubscriptionArn=subscription_arn)
        sns.delete_endpoint(EndpointArn=stale_arn)  # idempotent
        return ["retired the old endpoint"]
    except ClientError as err:
        logger.warning("stale endpoint not retired", extra={
            "endpoint": stale_arn, "error": f"{err.operation_name} failed: {err.response['Error']['Code']}"})
        return ["could not retire the old endpoint"]


def register(
    application_arn: str,
    topic_arn: str,
    token: str,
    endpoint_arn: str | None = None,
    owner: str | None = None,
    subscription_arn: str | None = None,
) -> dict:
    """Run the token-management flow; return the endpoint and subscription ARNs and what changed.

    With ``owner``, the endpoint is recorded as the owner's and an endpoint
    ARN owned by someone else is ignored; an endpoint ARN of another platform
    application is replaced and retired (see the module docstring).
    """
    actions = []
    stale = None
    if endpoint_arn is not None and not endpoint_arn.startswith(_endpoint_prefix(application_arn)):
        stale, endpoint_arn = endpoint_arn, None
        actions.append("replaced an endpoint of another platform application")
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
        if stale is None and "created" not in actions:
            stale = endpoint_arn  # its subscription outlives it: retire that too
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
    new_subscription_arn = _sns().subscribe(
        TopicArn=topic_arn, Protocol="application", Endpoint=endpoint_arn, ReturnSubscriptionArn=True
    )["SubscriptionArn"]
    if stale is not None:  # only once the device is reachable through its new endpoint
        actions += _retire(stale, topic_arn, owner, subscription_arn)
    return {"endpointArn": endpoint_arn, "subscriptionArn": new_subscription_arn, "actions": actions}


def _parse(event: dict, applications: dict[str, str], topic_arn: str) -> tuple[str, str, str | None, str | None]:
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
    subscription_arn = data.get("subscriptionArn")
    if platform not in applications:
        raise BadRequest(f"platform must be one of {sorted(applications)}")
    if not isinstance(token, str) or not _TOKEN.match(token):
        raise BadRequest("token must be a device token (8 to 4096 letters, digits, '_', ':', '.', '-')")
    if endpoint_arn is not None:
        # Any application of this account and region: one of a replaced application is stale, not bad.
        prefix = _account_prefix(applications[platform])
        if not isinstance(endpoint_arn, str) or not endpoint_arn.startswith(prefix) or len(endpoint_arn) > 1024:
            raise BadRequest("endpointArn must be an SNS platform endpoint of this account and region")
    if subscription_arn is not None:
        if not isinstance(subscription_arn, str) or not subscription_arn.startswith(topic_arn + ":") \
                or len(subscription_arn) > 1024:
            raise BadRequest("subscriptionArn must be a subscription of the broadcast topic")
    return applications[platform], token, endpoint_arn, subscription_arn


def _response(status: int, body: dict) -> dict:
    return {"statusCode": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def handler(event: dict, _context: object) -> dict:
    applications = json.loads(os.environ["PLATFORM_APPLICATIONS"])
    owner = caller(event)
    if owner is None:  # the authorizer always supplies one; refuse rather than register anonymously
        logger.warning("rejected", extra={"reason": "no caller identity in the request context"})
        return _response(403, {"message": "no caller identity"})
    topic_arn = os.environ["TOPIC_ARN"]
    try:
        application_arn, token, endpoint_arn, subscription_arn = _parse(event, applications, topic_arn)
    except BadRequest as err:
        logger.info("rejected", extra={"reason": str(err)})
        return _response(400, {"message": str(err)})
    try:
        result = register(application_arn, topic_arn, token, endpoint_arn, owner, subscription_arn)
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
