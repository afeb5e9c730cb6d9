"""Integration probe: register a device through the registration API with a
SigV4-signed request, as an app would, then re-register it with a new token.

Returns what SNS holds after each step, for the assertion to compare; deletes
the endpoint (and so its subscription) at the end.
"""

import json
import os
import secrets
import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

sns = boto3.client("sns")


def signed_post(url: str, body: dict) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    request = AWSRequest(method="POST", url=url, data=data, headers={"content-type": "application/json"})
    credentials = boto3.Session().get_credentials().get_frozen_credentials()
    SigV4Auth(credentials, "execute-api", os.environ["AWS_REGION"]).add_auth(request)
    req = urllib.request.Request(url, data=data, method="POST", headers=dict(request.headers.items()))
    try:
        with urllib.request.urlopen(req, timeout=20) as resp:  # noqa: S310 (the stack's own HTTPS URL)
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def token(platform: str) -> str:
    return secrets.token_hex(32) if platform.startswith("apns") else "integ:" + secrets.token_urlsafe(96)


def handler(event, _context):
    url, platform = os.environ["REGISTRATION_URL"], event["platform"]
    first_token, second_token = token(platform), token(platform)
    status, first = signed_post(url, {"platform": platform, "token": first_token})
    result = {"first_status": status}
    endpoint = first.get("endpointArn")
    try:
        if endpoint:
            attrs = sns.get_endpoint_attributes(EndpointArn=endpoint)["Attributes"]
            result["first_token_matches"] = attrs.get("Token") == first_token
            sub = sns.get_subscription_attributes(SubscriptionArn=first["subscriptionArn"])["Attributes"]
            result["subscribed"] = sub.get("Endpoint") == endpoint and sub.get("TopicArn") == os.environ["TOPIC_ARN"]
            status, second = signed_post(url, {"platform": platform, "token": second_token, "endpointArn": endpoint,
                                               "subscriptionArn": first["subscriptionArn"]})
            result["second_status"] = status
            result["same_endpoint"] = second.get("endpointArn") == endpoint
            attrs = sns.get_endpoint_attributes(EndpointArn=endpoint)["Attributes"]
            result["token_updated"] = attrs.get("Token") == second_token and attrs.get("Enabled") == "true"
    finally:
        if endpoint:
            sns.unsubscribe(SubscriptionArn=first["subscriptionArn"])
            sns.delete_endpoint(EndpointArn=endpoint)
    return result
