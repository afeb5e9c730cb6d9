"""Behaviour of the MobilePush handlers, against moto's SNS and Secrets Manager in-process.

What moto proves here: the platform-application custom resource creates,
converges on a retried create, updates with rotated credentials, replaces on
an auth change and deletes the application, with the credential attributes
SNS expects, and fails with a clear message (never the secret's value) on a
missing or malformed secret; it is driven by the custom resource properties
of the synthesized PushStack. The registration handler follows the
token-management flow: create, idempotent re-registration, a changed token,
a disabled endpoint enabled again, a deleted endpoint re-created, a token
that already has an endpoint, the topic subscription; endpoints record their
owner and another caller's endpoint ARN is ignored; bad requests and tokens
SNS rejects get 400; SNS errors are reported by code only; device tokens
never reach the logs. A rollback of the platform-application resource reads
the stack's status from moto's CloudFormation and keeps the credentials.

What moto cannot prove: that APNs and FCM accept the credentials (moto
stores them without checking), that SNS writes delivery status through the
role into the pre-created log groups, that the platform-application metrics
carry the Application/Platform dimensions the alarms use, the Provider
framework's own function (moto's CloudFormation cannot invoke custom
resources without Docker), the HTTP API's authorizers and throttling, and
whether IAM accepts the endpoint-scoped direct-publish grant. Those need a
real deployment.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends
from moto.secretsmanager.models import secretsmanager_backends
from moto.sns.models import sns_backends

from refarch.runtime.mobile_push import platform_application as pa
from refarch.runtime.mobile_push import register as reg
from tests.conftest import Assembly
from tests.moto_cfn import ACCOUNT, REGION

STACK_ID = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/PushStack/1f2e3d4c-0000-4000-8000-000000000000"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/PushDeliveryStatusRole"
P8 = "-----BEGIN PRIVATE KEY-----\nTEST-ONLY-p8-key-one\n-----END PRIVATE KEY-----\n"
P8_ROTATED = "-----BEGIN PRIVATE KEY-----\nTEST-ONLY-p8-key-two\n-----END PRIVATE KEY-----\n"
APNS_TOKEN = {"signingKey": P8, "signingKeyId": "ABC123DEFG", "teamId": "DEF123GHIJ", "bundleId": "com.example.app"}
APNS_CERT = {"certificate": "-----BEGIN CERTIFICATE-----\nTEST-ONLY-cert\n-----END CERTIFICATE-----\n",
             "privateKey": "-----BEGIN PRIVATE KEY-----\nTEST-ONLY-cert-key\n-----END PRIVATE KEY-----\n"}
FCM = {"type": "service_account", "project_id": "example-app", "client_email": "push@example-app.iam.gserviceaccount.com",
       "private_key": "-----BEGIN PRIVATE KEY-----\nTEST-ONLY-fcm-key\n-----END PRIVATE KEY-----\n",
       "private_key_id": "0123456789abcdef"}
DEVICE = "a1b2c3d4" * 8  # an APNs token is 64 hex characters
NEW_DEVICE = "f0e1d2c3" * 8


@pytest.fixture(scope="module")
def _mocked() -> Iterator[None]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws():
        yield


@pytest.fixture
def aws(_mocked) -> Iterator[None]:
    """A clean SNS and Secrets Manager for each test, in one moto session (starting moto per test is slow)."""
    yield
    for backends in (sns_backends, secretsmanager_backends, cloudformation_backends):
        backends[ACCOUNT][REGION].reset()


@pytest.fixture
def stack(aws) -> Iterator[str]:
    """A CloudFormation stack in moto whose status the handler reads on updates; yields its ID."""
    cfn = boto3.client("cloudformation", region_name=REGION)
    template = {"Resources": {"Handle": {"Type": "AWS::CloudFormation::WaitConditionHandle"}}}
    stack_id = cfn.create_stack(StackName="PushStack", TemplateBody=json.dumps(template))["StackId"]
    yield stack_id


def _set_status(stack_id: str, status: str) -> None:
    [stack] = cloudformation_backends[ACCOUNT][REGION].describe_stacks(stack_id)
    stack.status = status


def _secret(name: str, value: object) -> str:
    sm = boto3.client("secretsmanager", region_name=REGION)
    return sm.create_secret(Name=name, SecretString=value if isinstance(value, str) else json.dumps(value))["ARN"]


def _props(platform: str, auth: str, secret_id: str, version: str = "1") -> dict:
    return {"Platform": platform, "Auth": auth, "SecretId": secret_id, "CredentialsVersion": version,
            "SuccessFeedbackRoleArn": ROLE_ARN, "FailureFeedbackRoleArn": ROLE_ARN, "SuccessFeedbackSampleRate": "10"}


def _event(request: str, props: dict, logical_id: str = "PushApns3864E093", stack_id: str = STACK_ID, **extra) -> dict:
    return {"RequestType": request, "StackId": stack_id, "LogicalResourceId": logical_id,
            "ResourceProperties": props, **extra}


def _attributes(arn: str) -> dict:
    return boto3.client("sns", region_name=REGION).get_platform_application_attributes(
        PlatformApplicationArn=arn)["Attributes"]


def _applications() -> list[str]:
    apps = boto3.client("sns", region_name=REGION).list_platform_applications()["PlatformApplications"]
    return [a["PlatformApplicationArn"] for a in apps]


# --- platform applications ----------------------------------------------------------


def test_create_apns_token_application(aws) -> None:
    result = pa.on_event(_event("Create", _props("APNS", "token", _secret("apns", APNS_TOKEN))), None)
    arn = result["PhysicalResourceId"]
    assert arn == f"arn:aws:sns:{REGION}:{ACCOUNT}:app/APNS/PushStack-PushApns3864E093-token"
    assert result["Data"] == {"Arn": arn, "Name": "PushStack-PushApns3864E093-token"}
    assert _attributes(arn) == {
        "PlatformCredential": P8, "PlatformPrincipal": "ABC123DEFG",
        "ApplePlatformTeamID": "DEF123GHIJ", "ApplePlatformBundleID": "com.example.app",
        "SuccessFeedbackRoleArn": ROLE_ARN, "FailureFeedbackRoleArn": ROLE_ARN, "SuccessFeedbackSampleRate": "10",
    }


def test_create_apns_certificate_sandbox_application(aws) -> None:
    result = pa.on_event(_event("Create", _props("APNS_SANDBOX", "certificate", _secret("cert", APNS_CERT))), None)
    assert ":app/APNS_SANDBOX/" in result["PhysicalResourceId"]
    attributes = _attributes(result["PhysicalResourceId"])
    assert attributes["PlatformPrincipal"] == APNS_CERT["certificate"]
    assert attributes["PlatformCredential"] == APNS_CERT["privateKey"]


def test_create_fcm_application_with_the_service_account_json(aws) -> None:
    result = pa.on_event(_event("Create", _props("GCM", "service-account", _secret("fcm", FCM)), "PushFcm573C6309"), None)
    assert ":app/GCM/PushStack-PushFcm573C6309-service-account" in result["PhysicalResourceId"]
    assert json.loads(_attributes(result["PhysicalResourceId"])["PlatformCredential"]) == FCM


def test_retried_create_converges_on_one_application(aws) -> None:
    event = _event("Create", _props("APNS", "token", _secret("apns", APNS_TOKEN)))
    first = pa.on_event(event, None)["PhysicalResourceId"]
    second = pa.on_event(event, None)["PhysicalResourceId"]
    assert first == second and _applications() == [first]


def test_update_with_rotated_credentials_keeps_the_application(stack) -> None:
    _set_status(stack, "UPDATE_IN_PROGRESS")
    secret = _secret("apns", APNS_TOKEN)
    created = pa.on_event(_event("Create", _props("APNS", "token", secret), stack_id=stack), None)
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(
        SecretId=secret, SecretString=json.dumps({**APNS_TOKEN, "signingKey": P8_ROTATED, "signingKeyId": "NEWKEY1234"}))
    updated = pa.on_event(_event("Update", _props("APNS", "token", secret, version="2"), stack_id=stack,
                                 PhysicalResourceId=created["PhysicalResourceId"],
                                 OldResourceProperties=_props("APNS", "token", secret)), None)
    assert updated["PhysicalResourceId"] == created["PhysicalResourceId"]
    assert updated["Data"]["Name"] == created["Data"]["Name"]
    attributes = _attributes(created["PhysicalResourceId"])
    assert attributes["PlatformCredential"] == P8_ROTATED and attributes["PlatformPrincipal"] == "NEWKEY1234"


def test_update_to_another_auth_method_creates_a_new_application(stack) -> None:
    _set_status(stack, "UPDATE_IN_PROGRESS")
    token, cert = _secret("apns", APNS_TOKEN), _secret("cert", APNS_CERT)
    created = pa.on_event(_event("Create", _props("APNS", "token", token), stack_id=stack), None)["PhysicalResourceId"]
    replaced = pa.on_event(_event("Update", _props("APNS", "certificate", cert), stack_id=stack, PhysicalResourceId=created,
                                  OldResourceProperties=_props("APNS", "token", token)), None)["PhysicalResourceId"]
    assert replaced != created and replaced.endswith("-certificate")
    # CloudFormation then deletes the old physical ID.
    pa.on_event(_event("Delete", _props("APNS", "token", token), stack_id=stack, PhysicalResourceId=created), None)
    assert _applications() == [replaced]


def test_malformed_rotation_fails_the_update_and_its_rollback_succeeds(stack) -> None:
    """The secret is not rolled back with the stack: the rollback must not read it again."""
    secret = _secret("apns", APNS_TOKEN)
    arn = pa.on_event(_event("Create", _props("APNS", "token", secret, version="1"), stack_id=stack),
                      None)["PhysicalResourceId"]
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(SecretId=secret, SecretString="not json")
    forward = _event("Update", _props("APNS", "token", secret, version="2"), stack_id=stack, PhysicalResourceId=arn,
                     OldResourceProperties=_props("APNS", "token", secret, version="1"))
    _set_status(stack, "UPDATE_IN_PROGRESS")
    with pytest.raises(pa.CredentialsError, match="is not valid JSON"):
        pa.on_event(forward, None)
    _set_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS")
    rollback = {**forward, "ResourceProperties": forward["OldResourceProperties"],
                "OldResourceProperties": forward["ResourceProperties"]}
    assert pa.on_event(rollback, None)["PhysicalResourceId"] == arn
    # The application keeps the credentials SNS last accepted.
    assert _attributes(arn)["PlatformCredential"] == P8


def test_rollback_of_an_auth_change_returns_to_the_old_application_without_reading_secrets(stack) -> None:
    token, cert = _secret("apns", APNS_TOKEN), _secret("cert", APNS_CERT)
    old = pa.on_event(_event("Create", _props("APNS", "token", token), stack_id=stack), None)["PhysicalResourceId"]
    _set_status(stack, "UPDATE_IN_PROGRESS")
    new = pa.on_event(_event("Update", _props("APNS", "certificate", cert), stack_id=stack, PhysicalResourceId=old,
                             OldResourceProperties=_props("APNS", "token", token)), None)["PhysicalResourceId"]
    # Another resource fails; meanwhile the token secret was emptied by mistake.
    boto3.client("secretsmanager", region_name=REGION).put_secret_value(SecretId=token, SecretString="{}")
    _set_status(stack, "UPDATE_ROLLBACK_IN_PROGRESS")
    back = pa.on_event(_event("Update", _props("APNS", "token", token), stack_id=stack, PhysicalResourceId=new,
                              OldResourceProperties=_props("APNS", "certificate", cert)), None)["PhysicalResourceId"]
    assert back == old and _attributes(old)["PlatformCredential"] == P8
    # CloudFormation's cleanup then deletes the application the failed update created.
    pa.on_event(_event("Delete", _props("APNS", "certificate", cert), stack_id=stack, PhysicalResourceId=new), None)
    assert _applications() == [old]


def test_delete_is_idempotent_and_tolerates_a_failed_create(aws) -> None:
    arn = pa.on_event(_event("Create", _props("APNS", "token", _secret("apns", APNS_TOKEN))), None)["PhysicalResourceId"]
    for _ in range(2):
        assert pa.on_event(_event("Delete", {}, PhysicalResourceId=arn), None) == {"PhysicalResourceId": arn}
    assert _applications() == []
    # After a failed create the Provider framework answers the Delete itself (its physical ID is
    # AWSCDK::CustomResourceProviderFramework::CREATE_FAILED); should a non-ARN ID reach the handler
    # anyway, it succeeds without calling SNS.
    pa.on_event(_event("Delete", {}, PhysicalResourceId="AWSCDK::CustomResourceProviderFramework::CREATE_FAILED"), None)


MALFORMED = {
    "not JSON": ("signingKey=abc", "is not valid JSON"),
    "a JSON list": (json.dumps([APNS_TOKEN]), "must be a JSON object"),
    "fields missing": (json.dumps({"signingKey": P8, "teamId": "DEF123GHIJ"}), "(APNs token) lacks bundleId, signingKeyId"),
    "empty field": (json.dumps({**APNS_TOKEN, "teamId": " "}), "(APNs token) lacks teamId"),
    "key that is no PEM": (json.dumps({**APNS_TOKEN, "signingKey": "MIGTAgEAMBMGByqGSM49"}), "signingKey is not a PEM block"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_secret_fails_with_a_clear_message_without_its_value(aws, case: str) -> None:
    value, message = MALFORMED[case]
    secret = _secret("apns", value)
    with pytest.raises(pa.CredentialsError) as failure:
        pa.on_event(_event("Create", _props("APNS", "token", secret)), None)
    assert message in str(failure.value) and secret in str(failure.value)
    assert "MIGTAgEAMBMGByqGSM49" not in str(failure.value) and "TEST-ONLY" not in str(failure.value)
    assert _applications() == []


def test_certificate_secret_holding_a_token_key_is_rejected(aws) -> None:
    with pytest.raises(pa.CredentialsError, match=r"\(APNs certificate\) lacks certificate, privateKey"):
        pa.on_event(_event("Create", _props("APNS_SANDBOX", "certificate", _secret("apns", APNS_TOKEN))), None)


def test_fcm_secret_that_is_not_a_service_account_is_rejected(aws) -> None:
    with pytest.raises(pa.CredentialsError, match="type must be service_account"):
        pa.on_event(_event("Create", _props("GCM", "service-account", _secret("fcm", {**FCM, "type": "user"}))), None)


def test_missing_secret_fails_with_a_clear_message(aws) -> None:
    with pytest.raises(pa.CredentialsError, match="cannot read secret push/absent: ResourceNotFoundException"):
        pa.on_event(_event("Create", _props("APNS", "token", "push/absent")), None)


def test_binary_secret_is_rejected(aws) -> None:
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="bin", SecretBinary=b"\x00\x01")
    with pytest.raises(pa.CredentialsError, match="holds binary data"):
        pa.on_event(_event("Create", _props("APNS", "token", "bin")), None)


def test_unknown_platform_or_auth_is_rejected(aws) -> None:
    with pytest.raises(ValueError, match="unsupported Platform/Auth GCM/token"):
        pa.on_event(_event("Create", _props("GCM", "token", _secret("fcm", FCM))), None)


def test_application_name_is_safe_and_bounded() -> None:
    stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{'S' * 128}/uuid"
    name = pa.application_name(stack_id, "L" * 200, "service-account")
    assert len(name) == 256 and name.startswith("S" * 128 + "-") and name.endswith("L-service-account")
    assert pa.application_name(STACK_ID, "Push:Odd/Id", "token") == "PushStack-Push-Odd-Id-token"


_STACK_NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9-]{0,127}", fullmatch=True)
_LOGICAL_IDS = st.from_regex(r"[A-Za-z0-9]{1,255}", fullmatch=True)


@given(stack=_STACK_NAMES, logical=_LOGICAL_IDS, auth=st.sampled_from(["token", "certificate", "service-account"]))
def test_application_name_property(stack: str, logical: str, auth: str) -> None:
    """Always a valid SNS name, led by the whole stack name (so the same stack
    cannot collide with another), and different per auth method (so a
    replacement never reuses the old name)."""
    stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack}/uuid"
    name = pa.application_name(stack_id, logical, auth)
    assert 0 < len(name) <= 256 and not pa._NAME_UNSAFE.search(name)
    assert name.startswith(f"{stack}-") and name.endswith(f"-{auth}")
    others = {pa.application_name(stack_id, logical, a) for a in ("token", "certificate", "service-account")}
    assert len(others) == 3


def test_the_synthesized_custom_resources_drive_the_handler(aws, assembly: Assembly) -> None:
    """The properties CloudFormation will send are exactly what the handler needs."""
    template = assembly.template("PushStack")
    _secret("refarch/mobile-push/apns", APNS_TOKEN)
    _secret("refarch/mobile-push/fcm", FCM)
    created = {}
    for logical_id, resource in template["Resources"].items():
        if resource["Type"] != "Custom::SnsPlatformApplication":
            continue
        props = {k: (ROLE_ARN if isinstance(v, dict) and "Fn::GetAtt" in v else v)
                 for k, v in resource["Properties"].items() if k != "ServiceToken"}
        created[props["Platform"]] = pa.on_event(_event("Create", props, logical_id), None)["PhysicalResourceId"]
    assert sorted(created) == ["APNS", "GCM"]
    assert _attributes(created["APNS"])["PlatformPrincipal"] == "ABC123DEFG"
    assert _attributes(created["GCM"])["SuccessFeedbackSampleRate"] == "10"


# --- device registration -------------------------------------------------------------


@pytest.fixture
def push(aws, monkeypatch: pytest.MonkeyPatch) -> dict:
    apns = pa.on_event(_event("Create", _props("APNS", "token", _secret("apns", APNS_TOKEN))), None)["PhysicalResourceId"]
    fcm = pa.on_event(_event("Create", _props("GCM", "service-account", _secret("fcm", FCM)), "PushFcm"), None)[
        "PhysicalResourceId"]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="broadcast")["TopicArn"]
    monkeypatch.setenv("PLATFORM_APPLICATIONS", json.dumps({"apns": apns, "fcm": fcm}))
    monkeypatch.setenv("TOPIC_ARN", topic)
    return {"apns": apns, "fcm": fcm, "topic": topic}


USER = "eu-west-1:11111111-2222-3333-4444-555555555555"  # a Cognito identity ID
OTHER_USER = "eu-west-1:99999999-8888-7777-6666-555555555555"


def _context(identity: str | None = USER) -> dict:
    """The request context of an IAM-authorized call from a Cognito identity (payload format 2.0)."""
    cognito = {"identityId": identity, "identityPoolId": "eu-west-1:pool", "amr": ["authenticated"]} if identity else None
    return {"authorizer": {"iam": {"accountId": ACCOUNT, "cognitoIdentity": cognito,
                                   "userArn": f"arn:aws:sts::{ACCOUNT}:assumed-role/App/CognitoIdentityCredentials"
                                   if identity else None}}}


def _call(body: object, *, raw: bool = False, identity: str | None = USER) -> tuple[int, dict]:
    response = reg.handler({"body": body if raw else json.dumps(body), "isBase64Encoded": False,
                            "requestContext": _context(identity)}, None)
    return response["statusCode"], json.loads(response["body"])


def _endpoint(arn: str) -> dict:
    return boto3.client("sns", region_name=REGION).get_endpoint_attributes(EndpointArn=arn)["Attributes"]


def _subscriptions(topic: str) -> list[dict]:
    return boto3.client("sns", region_name=REGION).list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]


def test_first_registration_creates_an_endpoint_subscribed_to_the_topic(push) -> None:
    status, body = _call({"platform": "apns", "token": DEVICE})
    assert status == 200
    assert body["endpointArn"].startswith(push["apns"].replace(":app/", ":endpoint/") + "/")
    assert _endpoint(body["endpointArn"])["Token"] == DEVICE
    [subscription] = _subscriptions(push["topic"])
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("application", body["endpointArn"])
    assert subscription["SubscriptionArn"] == body["subscriptionArn"]


def test_registering_again_is_idempotent(push) -> None:
    _, first = _call({"platform": "apns", "token": DEVICE})
    _, again = _call({"platform": "apns", "token": DEVICE})
    _, with_arn = _call({"platform": "apns", "token": DEVICE, "endpointArn": first["endpointArn"]})
    assert first == again == with_arn
    assert len(_subscriptions(push["topic"])) == 1


def test_changed_token_updates_the_stored_endpoint(push) -> None:
    _, first = _call({"platform": "apns", "token": DEVICE})
    result = reg.register(push["apns"], push["topic"], NEW_DEVICE, first["endpointArn"])
    assert result["endpointArn"] == first["endpointArn"] and result["actions"] == ["updated"]
    assert _endpoint(first["endpointArn"])["Token"] == NEW_DEVICE


def test_disabled_endpoint_is_enabled_again(push) -> None:
    _, first = _call({"platform": "fcm", "token": "fcm-token:" + "x" * 140})
    boto3.client("sns", region_name=REGION).set_endpoint_attributes(
        EndpointArn=first["endpointArn"], Attributes={"Enabled": "false"})  # as SNS does when FCM rejects the token
    result = reg.register(push["fcm"], push["topic"], "fcm-token:" + "x" * 140, first["endpointArn"])
    assert result["actions"] == ["updated"]
    assert str(_endpoint(first["endpointArn"])["Enabled"]).lower() == "true"


def test_deleted_endpoint_is_created_again(push) -> None:
    _, first = _call({"platform": "apns", "token": DEVICE})
    boto3.client("sns", region_name=REGION).delete_endpoint(EndpointArn=first["endpointArn"])
    status, again = _call({"platform": "apns", "token": DEVICE, "endpointArn": first["endpointArn"]})
    assert status == 200 and again["endpointArn"] != first["endpointArn"]
    assert _endpoint(again["endpointArn"])["Token"] == DEVICE


def test_token_that_already_has_an_endpoint_with_other_attributes_reuses_it(push) -> None:
    sns = boto3.client("sns", region_name=REGION)
    existing = sns.create_platform_endpoint(PlatformApplicationArn=push["apns"], Token=DEVICE,
                                            CustomUserData="legacy-user-42")["EndpointArn"]
    result = reg.register(push["apns"], push["topic"], DEVICE)
    assert result["endpointArn"] == existing and result["actions"] == ["created"]


def test_endpoint_records_its_owner(push) -> None:
    _, body = _call({"platform": "apns", "token": DEVICE})
    assert _endpoint(body["endpointArn"])["CustomUserData"] == f"iam:{USER}"


def test_another_callers_endpoint_arn_is_ignored(push) -> None:
    """Knowing a victim's endpoint ARN does not let a caller point it at their own device."""
    _, victim = _call({"platform": "apns", "token": DEVICE})
    status, attacker = _call({"platform": "apns", "token": NEW_DEVICE, "endpointArn": victim["endpointArn"]},
                             identity=OTHER_USER)
    assert status == 200 and attacker["endpointArn"] != victim["endpointArn"]
    assert _endpoint(victim["endpointArn"])["Token"] == DEVICE
    assert _endpoint(victim["endpointArn"])["CustomUserData"] == f"iam:{USER}"
    assert _endpoint(attacker["endpointArn"])["CustomUserData"] == f"iam:{OTHER_USER}"


def test_device_that_changes_hands_keeps_its_endpoint_under_the_new_owner(push) -> None:
    _, first = _call({"platform": "apns", "token": DEVICE})
    _, second = _call({"platform": "apns", "token": DEVICE, "endpointArn": first["endpointArn"]}, identity=OTHER_USER)
    assert second["endpointArn"] == first["endpointArn"]
    assert _endpoint(first["endpointArn"])["CustomUserData"] == f"iam:{OTHER_USER}"


# --- an endpoint of a replaced platform application (APNs token <-> certificate) ----------


def _per_application_create_platform_endpoint(self, application, custom_user_data, token, attributes):
    """SNS's CreatePlatformEndpoint deduplicates tokens within one platform application; moto (5.2) does it
    across all applications, which would hand the old application's endpoint back. Scope it as SNS does."""
    from moto.sns.exceptions import DuplicateSnsEndpointError
    from moto.sns.models import PlatformEndpoint

    for endpoint in self.platform_endpoints.values():
        if token == endpoint.token and endpoint.application.arn == application.arn:
            if custom_user_data == endpoint.custom_user_data and \
                    attributes.get("Enabled", True) == endpoint.attributes["Enabled"]:
                return endpoint
            raise DuplicateSnsEndpointError(f"Invalid parameter: Token Reason: Endpoint {endpoint.arn} already exists "
                                            "with the same Token, but different attributes.")
    endpoint = PlatformEndpoint(self.account_id, self.region_name, application, custom_user_data, token, attributes)
    self.platform_endpoints[endpoint.arn] = endpoint
    return endpoint


@pytest.fixture
def replaced(push, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A device registered under the APNs token application; then the app switches to certificate auth,
    which replaces the platform application (a new ARN) and the handler is configured with the new one."""
    from moto.sns.models import SNSBackend

    monkeypatch.setattr(SNSBackend, "create_platform_endpoint", _per_application_create_platform_endpoint)
    _, old = _call({"platform": "apns", "token": DEVICE})
    certificate = pa.on_event(_event("Create", _props("APNS", "certificate", _secret("apns-cert", APNS_CERT))), None)[
        "PhysicalResourceId"]
    assert certificate != push["apns"]
    monkeypatch.setenv("PLATFORM_APPLICATIONS", json.dumps({"apns": certificate, "fcm": push["fcm"]}))
    return {**push, "old": old, "certificate": certificate}


def _gone(arn: str) -> bool:
    try:
        _endpoint(arn)
    except ClientError as err:
        return err.response["Error"]["Code"] == "NotFound"
    return False


@pytest.mark.parametrize("send_subscription", [True, False])
def test_endpoint_of_a_replaced_application_is_replaced_and_retired(replaced, send_subscription: bool) -> None:
    old = replaced["old"]
    request = {"platform": "apns", "token": DEVICE, "endpointArn": old["endpointArn"]}
    if send_subscription:
        request["subscriptionArn"] = old["subscriptionArn"]
    status, new = _call(request)
    assert status == 200
    assert new["endpointArn"].startswith(replaced["certificate"].replace(":app/", ":endpoint/") + "/")
    assert _endpoint(new["endpointArn"])["Token"] == DEVICE
    assert _endpoint(new["endpointArn"])["CustomUserData"] == f"iam:{USER}"
    # The old subscription is gone (SNS would count every broadcast to it as failed), the new one is there.
    assert [(s["SubscriptionArn"], s["Endpoint"]) for s in _subscriptions(replaced["topic"])] == [
        (new["subscriptionArn"], new["endpointArn"])]
    assert _gone(old["endpointArn"])


def test_replaced_application_already_deleted(replaced) -> None:
    """CloudFormation deletes the old application after the update: its endpoints are gone, their subscriptions not."""
    boto3.client("sns", region_name=REGION).delete_platform_application(PlatformApplicationArn=replaced["apns"])
    old = replaced["old"]
    result = reg.register(replaced["certificate"], replaced["topic"], DEVICE, old["endpointArn"], f"iam:{USER}",
                          old["subscriptionArn"])
    assert result["actions"][:2] == ["replaced an endpoint of another platform application", "created"]
    assert result["actions"][-1] == "retired the old endpoint"
    assert [s["Endpoint"] for s in _subscriptions(replaced["topic"])] == [result["endpointArn"]]


class InvalidForOld:
    """SNS as a real account answers for an endpoint ARN of another platform application: 400 InvalidParameter."""

    def __init__(self, sns, prefix: str) -> None:
        self._sns, self._prefix = sns, prefix

    def __getattr__(self, name: str):
        return getattr(self._sns, name)

    def _check(self, arn: str, operation: str) -> None:
        if arn.startswith(self._prefix):
            raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid parameter: EndpointArn"}},
                              operation)

    def get_endpoint_attributes(self, *, EndpointArn: str):
        self._check(EndpointArn, "GetEndpointAttributes")
        return self._sns.get_endpoint_attributes(EndpointArn=EndpointArn)

    def set_endpoint_attributes(self, *, EndpointArn: str, Attributes: dict):
        self._check(EndpointArn, "SetEndpointAttributes")
        return self._sns.set_endpoint_attributes(EndpointArn=EndpointArn, Attributes=Attributes)


def test_invalid_parameter_for_the_stored_endpoint_is_treated_as_missing(replaced, monkeypatch) -> None:
    old_prefix = replaced["apns"].replace(":app/", ":endpoint/") + "/"
    monkeypatch.setattr(reg, "_sns", lambda: InvalidForOld(boto3.client("sns", region_name=REGION), old_prefix))
    status, new = _call({"platform": "apns", "token": DEVICE, "endpointArn": replaced["old"]["endpointArn"],
                         "subscriptionArn": replaced["old"]["subscriptionArn"]})
    assert status == 200 and new["endpointArn"] != replaced["old"]["endpointArn"]
    assert [s["Endpoint"] for s in _subscriptions(replaced["topic"])] == [new["endpointArn"]]


def test_invalid_parameter_for_an_endpoint_of_the_current_application_recreates_it(push, monkeypatch) -> None:
    _, first = _call({"platform": "apns", "token": DEVICE})
    monkeypatch.setattr(reg, "_sns", lambda: InvalidForOld(boto3.client("sns", region_name=REGION), first["endpointArn"]))
    result = reg.register(push["apns"], push["topic"], NEW_DEVICE, first["endpointArn"], f"iam:{USER}")
    assert result["endpointArn"] != first["endpointArn"] and result["actions"][0] == "recreated"


def test_another_owners_endpoint_of_a_replaced_application_is_left_alone(replaced) -> None:
    old = replaced["old"]
    status, new = _call({"platform": "apns", "token": NEW_DEVICE, "endpointArn": old["endpointArn"],
                         "subscriptionArn": old["subscriptionArn"]}, identity=OTHER_USER)
    assert status == 200 and new["endpointArn"] != old["endpointArn"]
    assert _endpoint(old["endpointArn"])["CustomUserData"] == f"iam:{USER}"  # not deleted
    assert {s["SubscriptionArn"] for s in _subscriptions(replaced["topic"])} == {old["subscriptionArn"],
                                                                                 new["subscriptionArn"]}


def test_a_subscription_of_another_endpoint_is_never_removed(replaced) -> None:
    _, other = _call({"platform": "fcm", "token": "fcm-token:" + "y" * 140})
    status, new = _call({"platform": "apns", "token": DEVICE, "endpointArn": replaced["old"]["endpointArn"],
                         "subscriptionArn": other["subscriptionArn"]})
    assert status == 200
    remaining = {s["SubscriptionArn"] for s in _subscriptions(replaced["topic"])}
    assert remaining == {other["subscriptionArn"], new["subscriptionArn"]}  # the old one retired, the other kept


def test_a_failure_to_retire_the_old_endpoint_does_not_fail_the_registration(replaced, monkeypatch, caplog) -> None:
    class NoUnsubscribe(InvalidForOld):
        def unsubscribe(self, **_kwargs):
            raise ClientError({"Error": {"Code": "AuthorizationError", "Message": "denied"}}, "Unsubscribe")

    caplog.set_level(logging.INFO)
    monkeypatch.setattr(reg, "_sns", lambda: NoUnsubscribe(boto3.client("sns", region_name=REGION), "none"))
    old = replaced["old"]
    result = reg.register(replaced["certificate"], replaced["topic"], DEVICE, old["endpointArn"], f"iam:{USER}")
    assert result["actions"][-1] == "could not retire the old endpoint"
    assert "Unsubscribe failed: AuthorizationError" in " ".join(str(r.__dict__) for r in caplog.records)


@pytest.mark.parametrize(("context", "owner"), [
    ({"authorizer": {"jwt": {"claims": {"sub": "user-42", "scope": "push/register"}, "scopes": None}}}, "jwt:user-42"),
    ({"authorizer": {"iam": {"cognitoIdentity": None, "userArn": f"arn:aws:iam::{ACCOUNT}:user/ops"}}},
     f"iam:arn:aws:iam::{ACCOUNT}:user/ops"),
    ({"authorizer": {"iam": {"cognitoIdentity": {"identityId": USER}, "userArn": "ignored"}}}, f"iam:{USER}"),
    ({}, None),
])
def test_caller_identity(context: dict, owner: str | None) -> None:
    assert reg.caller({"requestContext": context}) == owner


def test_call_without_a_caller_identity_is_refused(push) -> None:
    assert _call({"platform": "apns", "token": DEVICE}, identity=None) == (403, {"message": "no caller identity"})
    assert _subscriptions(push["topic"]) == []


def test_direct_publish_reaches_one_endpoint(push) -> None:
    _, body = _call({"platform": "apns", "token": DEVICE})
    sns = boto3.client("sns", region_name=REGION)
    message = json.dumps({"default": "hi", "APNS": json.dumps({"aps": {"alert": "hi"}})})
    assert sns.publish(TargetArn=body["endpointArn"], Message=message, MessageStructure="json")["MessageId"]


BAD_REQUESTS = {
    "unknown platform": ({"platform": "windows", "token": DEVICE}, "platform must be one of ['apns', 'fcm']"),
    "no token": ({"platform": "apns"}, "token must be a device token"),
    "token with spaces": ({"platform": "apns", "token": "abc def ghi"}, "token must be a device token"),
    "endpoint of another account": (
        {"platform": "apns", "token": DEVICE,
         "endpointArn": f"arn:aws:sns:{REGION}:999999999999:endpoint/APNS/other/1234"},
        "endpointArn must be an SNS platform endpoint of this account and region"),
    "endpoint of another region": (
        {"platform": "apns", "token": DEVICE,
         "endpointArn": f"arn:aws:sns:us-west-2:{ACCOUNT}:endpoint/APNS/other/1234"},
        "endpointArn must be an SNS platform endpoint of this account and region"),
    "subscription of another topic": (
        {"platform": "apns", "token": DEVICE,
         "subscriptionArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:other-topic:1234"},
        "subscriptionArn must be a subscription of the broadcast topic"),
    "a JSON list": ([DEVICE], "body must be a JSON object"),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_bad_requests_get_400_and_create_nothing(push, case: str) -> None:
    body, message = BAD_REQUESTS[case]
    status, response = _call(body)
    assert status == 400 and response["message"].startswith(message)
    assert _subscriptions(push["topic"]) == []


def test_body_that_is_not_json_gets_400(push) -> None:
    assert _call("token=abc", raw=True) == (400, {"message": "body must be JSON"})


def test_body_that_is_not_base64_gets_400(push) -> None:
    response = reg.handler({"body": "{not base64}", "isBase64Encoded": True, "requestContext": _context()}, None)
    assert response["statusCode"] == 400 and json.loads(response["body"]) == {"message": "body must be JSON"}


def _sns_failure(code: str):
    def fail(*_args, **_kwargs):
        raise ClientError({"Error": {"Code": code, "Message": f"Invalid parameter: Token {DEVICE} is bad"}},
                          "CreatePlatformEndpoint")
    return fail


def test_token_sns_rejects_gets_400_without_the_sns_message(push, monkeypatch, caplog) -> None:
    caplog.set_level(logging.INFO)
    monkeypatch.setattr(reg, "register", _sns_failure("InvalidParameter"))
    status, body = _call({"platform": "apns", "token": DEVICE})
    assert (status, body) == (400, {"message": "SNS rejected the token (CreatePlatformEndpoint failed: InvalidParameter)"})
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name == "root")
    assert "CreatePlatformEndpoint failed: InvalidParameter" in logged and DEVICE not in logged


def test_other_sns_errors_fail_the_invocation_without_the_sns_message(push, monkeypatch) -> None:
    monkeypatch.setattr(reg, "register", _sns_failure("Throttled"))
    with pytest.raises(RuntimeError) as failure:
        _call({"platform": "apns", "token": DEVICE})
    assert str(failure.value) == "CreatePlatformEndpoint failed: Throttled" and failure.value.__cause__ is None


def test_base64_body_is_decoded(push) -> None:
    import base64

    event = {"body": base64.b64encode(json.dumps({"platform": "apns", "token": DEVICE}).encode()).decode(),
             "isBase64Encoded": True, "requestContext": _context()}
    assert reg.handler(event, None)["statusCode"] == 200


def test_device_tokens_never_reach_the_logs(push, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    _, first = _call({"platform": "apns", "token": DEVICE})
    reg.register(push["apns"], push["topic"], NEW_DEVICE, first["endpointArn"])
    _call({"platform": "apns", "token": "bad token!"})
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name == "root")
    assert "registered" in logged and reg.token_hash(DEVICE) in logged
    assert DEVICE not in logged and NEW_DEVICE not in logged and "bad token!" not in logged
