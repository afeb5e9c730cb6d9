"""Fine-grained assertions: every MobilePush default, on the synthesized templates."""

from __future__ import annotations

import json

import aws_cdk as cdk
import pytest
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Match, Template

from refarch.mobile_push import ApnsPlatform, FcmPlatform, JwtAuthorization, MobilePush, PlatformApplication
from tests.conftest import Assembly, new_app

STACKS = ("PushStack", "PushApnsCertificateSandbox", "PushJwt")
TLS_ONLY = Match.object_like({"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}})


def _statements(assembly: Assembly, stack: str, path: str) -> list[dict]:
    return assembly.properties(stack, path)["PolicyDocument"]["Statement"]


def _list(value):
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def example(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("PushStack"))


# --- credentials stay out of the template ------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_no_credential_material_in_the_template(assembly: Assembly, stack: str) -> None:
    text = json.dumps(assembly.template(stack))
    for marker in ("PRIVATE KEY", "BEGIN CERTIFICATE", "PlatformCredential", "PlatformPrincipal", "signingKey",
                   "private_key", "{{resolve:secretsmanager"):
        assert marker not in text, f"{stack}: {marker!r} in the template"


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_carry_only_the_secret_id_and_settings(assembly: Assembly, stack: str) -> None:
    resources = [r for r in assembly.template(stack)["Resources"].values() if r["Type"] == "Custom::SnsPlatformApplication"]
    assert resources
    for resource in resources:
        assert set(resource["Properties"]) == {
            "ServiceToken", "Platform", "Auth", "SecretId", "CredentialsVersion",
            "SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate",
        }


# --- platform applications ------------------------------------------------------------


def test_example_creates_two_platform_applications(assembly: Assembly, example: Template) -> None:
    example.resource_count_is("Custom::SnsPlatformApplication", 2)
    role = assembly.resource_id("PushStack", "Push/DeliveryStatusRole/Resource")
    provider = assembly.resource_id("PushStack", "Push/Provider/framework-onEvent/Resource")
    apns = assembly.resource("PushStack", "Push/Apns/Resource/Default")
    fcm = assembly.properties("PushStack", "Push/Fcm/Resource/Default")
    assert apns["Properties"] == {
        "ServiceToken": {"Fn::GetAtt": [provider, "Arn"]},
        "Platform": "APNS",
        "Auth": "token",
        "SecretId": "refarch/mobile-push/apns",
        "CredentialsVersion": "1",
        "SuccessFeedbackRoleArn": {"Fn::GetAtt": [role, "Arn"]},
        "FailureFeedbackRoleArn": {"Fn::GetAtt": [role, "Arn"]},
        "SuccessFeedbackSampleRate": "10",
    }
    assert (fcm["Platform"], fcm["Auth"], fcm["SecretId"]) == ("GCM", "service-account", "refarch/mobile-push/fcm")
    # No data lives in a platform application; it goes with the stack, and only
    # once the handler may call SNS.
    assert apns["DeletionPolicy"] == "Delete"
    assert apns["DependsOn"] == [assembly.resource_id("PushStack", "Push/PlatformApplicationHandlerPolicy/Resource")]


def test_certificate_sandbox_case(assembly: Assembly) -> None:
    app = assembly.properties("PushApnsCertificateSandbox", "Push/ApnsSandbox/Resource/Default")
    assert (app["Platform"], app["Auth"], app["CredentialsVersion"], app["SuccessFeedbackSampleRate"]) == (
        "APNS_SANDBOX", "certificate", "2026-11", "100")
    assert app["SecretId"] == "arn:aws:secretsmanager:eu-west-1:111122223333:secret:push/apns-dev-AbCdEf"
    alarm = assembly.properties("PushApnsCertificateSandbox", "Push/ApnsSandbox/FailedAlarm/Resource")
    assert alarm["Threshold"] == 25 and "AlarmActions" not in alarm
    for path in ("Push/Key/Resource", "Push/ApnsSandbox/FailureLogs/Resource", "Push/AccessLogs/Resource"):
        assert assembly.resource("PushApnsCertificateSandbox", path)["DeletionPolicy"] == "Delete"
    logs = assembly.properties("PushApnsCertificateSandbox", "Push/ApnsSandbox/SuccessLogs/Resource")
    assert logs["RetentionInDays"] == 30


def test_handler_reads_only_the_given_secrets(assembly: Assembly) -> None:
    statements = _statements(assembly, "PushStack", "Push/PlatformApplicationHandlerRole/DefaultPolicy/Resource")
    [read] = [s for s in statements if "secretsmanager:GetSecretValue" in _list(s["Action"])]
    names = [r["Fn::Join"][1][-1] for r in read["Resource"]]
    assert names == [":secret:refarch/mobile-push/apns-??????", ":secret:refarch/mobile-push/fcm-??????"]
    assert not [s for s in statements if any(a.startswith("sns:") for a in _list(s["Action"]))]


def test_handler_sns_policy_is_separate_and_passes_only_the_delivery_role(assembly: Assembly) -> None:
    policy = assembly.resource("PushStack", "Push/PlatformApplicationHandlerPolicy/Resource")
    sns_statement, pass_role, describe = policy["Properties"]["PolicyDocument"]["Statement"]
    assert set(sns_statement["Action"]) == {
        "sns:CreatePlatformApplication", "sns:GetPlatformApplicationAttributes",
        "sns:SetPlatformApplicationAttributes", "sns:DeletePlatformApplication",
    }
    assert sns_statement["Resource"] == "*"
    assert pass_role == {
        "Action": "iam:PassRole", "Effect": "Allow",
        "Resource": {"Fn::GetAtt": [assembly.resource_id("PushStack", "Push/DeliveryStatusRole/Resource"), "Arn"]},
        "Condition": {"StringEquals": {"iam:PassedToService": "sns.amazonaws.com"}},
    }
    # Only its own stack's status, to tell a rollback from an update.
    assert describe == {"Action": "cloudformation:DescribeStacks", "Effect": "Allow", "Resource": {"Ref": "AWS::StackId"}}
    ack, *strict = policy["Metadata"]["cdk_nag"]["rules_to_suppress"]
    assert ack["id"] == "AwsSolutions::AwsSolutions-IAM5[Resource::*]" and "no IAM resource type" in ack["reason"]
    assert [r["id"] for r in strict] == [f"{p}::{p}-IAMNoInlinePolicy" for p in ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")]


def test_handler_function_defaults(assembly: Assembly) -> None:
    key = assembly.resource_id("PushStack", "Push/Key/Resource")
    fn = assembly.properties("PushStack", "Push/PlatformApplicationHandler/Resource")
    assert (fn["Runtime"], fn["Handler"], fn["Timeout"]) == ("python3.14", "platform_application.on_event", 120)
    assert fn["TracingConfig"] == {"Mode": "Active"} and fn["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}
    assert "Environment" not in fn  # it learns the secret's ID from the custom resource properties only


def test_provider_framework_uses_our_role_log_group_and_key(assembly: Assembly) -> None:
    key = assembly.resource_id("PushStack", "Push/Key/Resource")
    logs = assembly.resource_id("PushStack", "Push/ProviderLogs/Resource")
    fn = assembly.properties("PushStack", "Push/Provider/framework-onEvent/Resource")
    assert fn["Role"] == {"Fn::GetAtt": [assembly.resource_id("PushStack", "Push/ProviderRole/Resource"), "Arn"]}
    assert fn["LoggingConfig"]["LogGroup"] == {"Ref": logs}
    assert fn["KmsKeyArn"] == {"Fn::GetAtt": [key, "Arn"]}
    assert fn["Runtime"].startswith("nodejs")
    role = assembly.properties("PushStack", "Push/ProviderRole/Resource")
    assert "ManagedPolicyArns" not in role
    statements = _statements(assembly, "PushStack", "Push/ProviderRole/DefaultPolicy/Resource")
    actions = sorted(a for s in statements for a in _list(s["Action"]))
    assert actions == ["lambda:GetFunction", "lambda:InvokeFunction", "logs:CreateLogStream", "logs:PutLogEvents"]
    assert assembly.properties("PushStack", "Push/ProviderLogs/Resource") == {
        "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 365}


# --- delivery status logging -------------------------------------------------------------


@pytest.mark.parametrize("stack_id", ["PushStack", "PushApnsCertificateSandbox", "PushJwt"])
def test_delivery_status_role_trusts_sns_with_no_condition_sns_does_not_document(assembly: Assembly, stack_id: str) -> None:
    """SNS's delivery-status documentation names no aws:SourceAccount / aws:SourceArn for this role; a
    condition on a key the service does not set makes AssumeRole fail, and no delivery status is logged."""
    role = assembly.properties(stack_id, "Push/DeliveryStatusRole/Resource")
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}}]
    assert "ManagedPolicyArns" not in role


def test_only_the_platform_application_handler_may_pass_the_delivery_status_role_to_sns(assembly: Assembly) -> None:
    role = {"Fn::GetAtt": [assembly.resource_id("PushStack", "Push/DeliveryStatusRole/Resource"), "Arn"]}
    template = assembly.template("PushStack")["Resources"]
    passers = [
        (logical_id, statement)
        for logical_id, resource in template.items() if resource["Type"] == "AWS::IAM::Policy"
        for statement in resource["Properties"]["PolicyDocument"]["Statement"]
        if "iam:PassRole" in (statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]])
    ]
    assert [logical_id for logical_id, _ in passers] == [
        assembly.resource_id("PushStack", "Push/PlatformApplicationHandlerPolicy/Resource")]
    [(_, statement)] = passers
    assert statement["Resource"] == role
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sns.amazonaws.com"}}


def test_delivery_status_role_writes_only_its_six_log_groups(assembly: Assembly) -> None:
    streams, create = _statements(assembly, "PushStack", "Push/DeliveryStatusRole/DefaultPolicy/Resource")
    groups = [f"Push/{owner}{kind}Logs/Resource" for owner in ("Apns/", "Fcm/", "Topic") for kind in ("Success", "Failure")]
    expected = sorted(assembly.resource_id("PushStack", g) for g in groups)
    assert streams["Action"] == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert sorted(r["Fn::GetAtt"][0] for r in streams["Resource"]) == expected
    # The bare group ARN (no ":*"), for CreateLogGroup only; never PutRetentionPolicy.
    assert create["Action"] == "logs:CreateLogGroup"
    bare = [r["Fn::Join"][1] for r in create["Resource"]]
    assert sorted(parts[-1]["Ref"] for parts in bare) == expected
    assert all(parts[-2] == ":log-group:" for parts in bare)


@pytest.mark.parametrize(("owner", "platform"), [("Apns", "APNS"), ("Fcm", "GCM")])
def test_application_log_groups_are_named_as_sns_writes_them(assembly: Assembly, owner: str, platform: str) -> None:
    key = assembly.resource_id("PushStack", "Push/Key/Resource")
    app = assembly.resource_id("PushStack", f"Push/{owner}/Resource/Default")
    name = {"Fn::Join": ["/", ["sns", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, f"app/{platform}",
                               {"Fn::GetAtt": [app, "Name"]}]]}
    success = assembly.resource("PushStack", f"Push/{owner}/SuccessLogs/Resource")
    failure = assembly.resource("PushStack", f"Push/{owner}/FailureLogs/Resource")
    assert success["Properties"] == {"LogGroupName": name, "RetentionInDays": 365, "KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}}
    assert failure["Properties"]["LogGroupName"] == {"Fn::Join": ["", [name, "/Failure"]]}
    assert success["DeletionPolicy"] == failure["DeletionPolicy"] == "Retain"


def test_topic_log_groups_are_named_as_sns_writes_them(assembly: Assembly) -> None:
    topic = assembly.resource_id("PushStack", "Push/Topic/Resource")
    name = assembly.properties("PushStack", "Push/TopicSuccessLogs/Resource")["LogGroupName"]
    assert name == {"Fn::Join": ["/", ["sns", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"},
                                       {"Fn::GetAtt": [topic, "TopicName"]}]]}
    assert assembly.properties("PushStack", "Push/TopicFailureLogs/Resource")["LogGroupName"] == {
        "Fn::Join": ["", [name, "/Failure"]]}


# --- broadcast topic and key --------------------------------------------------------------


def test_topic_is_encrypted_tls_only_and_logs_application_delivery(assembly: Assembly, example: Template) -> None:
    key = assembly.resource_id("PushStack", "Push/Key/Resource")
    role = {"Fn::GetAtt": [assembly.resource_id("PushStack", "Push/DeliveryStatusRole/Resource"), "Arn"]}
    topic_id = assembly.resource_id("PushStack", "Push/Topic/Resource")
    assert assembly.properties("PushStack", "Push/Topic/Resource") == {
        "KmsMasterKeyId": {"Fn::GetAtt": [key, "Arn"]},
        "SignatureVersion": "2",
        "DeliveryStatusLogging": [{"Protocol": "application", "SuccessFeedbackRoleArn": role,
                                   "FailureFeedbackRoleArn": role, "SuccessFeedbackSampleRate": "10"}],
    }
    example.has_resource_properties(
        "AWS::SNS::TopicPolicy",
        {"Topics": [{"Ref": topic_id}], "PolicyDocument": {"Statement": Match.array_with([TLS_ONLY])}},
    )


def test_key_is_rotated_retained_and_admits_sns_and_logs(assembly: Assembly) -> None:
    key = assembly.resource("PushStack", "Push/Key/Resource")
    assert key["Properties"]["EnableKeyRotation"] is True and key["DeletionPolicy"] == "Retain"
    sids = {s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]}
    assert {"AllowSnsToUseKey", "AllowCloudWatchLogsToUseKey"} <= sids


def test_existing_key_is_used_not_replaced(assembly: Assembly) -> None:
    shared = assembly.resource_id("PushJwt", "SharedKey/Resource")
    template = Template.from_json(assembly.template("PushJwt"))
    template.resource_count_is("AWS::KMS::Key", 2)  # the shared key and the alarm topic's
    assert assembly.properties("PushJwt", "Push/Topic/Resource")["KmsMasterKeyId"] == {"Fn::GetAtt": [shared, "Arn"]}


# --- registration API ------------------------------------------------------------------


def test_registration_route_requires_iam_by_default(assembly: Assembly) -> None:
    route = assembly.properties("PushStack", "Push/RegisterRoute/Resource")
    assert (route["RouteKey"], route["AuthorizationType"]) == ("POST /devices", "AWS_IAM")


def test_jwt_authorizer_variant(assembly: Assembly) -> None:
    route = assembly.properties("PushJwt", "Push/RegisterRoute/Resource")
    authorizer = assembly.resource_id("PushJwt", "Push/Api/Jwt/Resource")
    assert route["AuthorizationType"] == "JWT" and route["AuthorizerId"] == {"Ref": authorizer}
    assert route["AuthorizationScopes"] == ["push/register"]
    assert assembly.properties("PushJwt", "Push/Api/Jwt/Resource")["JwtConfiguration"] == {
        "Audience": ["app-client-id"], "Issuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example"}


@pytest.mark.parametrize("stack", STACKS)
def test_every_route_is_authorized(assembly: Assembly, stack: str) -> None:
    routes = [r["Properties"] for r in assembly.template(stack)["Resources"].values()
              if r["Type"] == "AWS::ApiGatewayV2::Route"]
    assert routes and all(r.get("AuthorizationType") in ("AWS_IAM", "JWT") for r in routes)


def test_stage_throttles_and_logs_access_without_the_body(assembly: Assembly) -> None:
    logs = assembly.resource_id("PushStack", "Push/AccessLogs/Resource")
    stage = assembly.properties("PushStack", "Push/Stage/Resource")
    assert (stage["StageName"], stage["AutoDeploy"]) == ("$default", True)
    assert stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 100, "ThrottlingRateLimit": 50}
    assert stage["AccessLogSettings"]["DestinationArn"] == {"Fn::GetAtt": [logs, "Arn"]}
    fields = json.loads(stage["AccessLogSettings"]["Format"])
    assert fields["requestId"] == "$context.requestId" and fields["status"] == "$context.status"
    assert not [v for v in fields.values() if "body" in v.lower() or "header" in v.lower()]
    jwt_stage = assembly.properties("PushJwt", "Push/Stage/Resource")
    assert jwt_stage["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10}


def test_access_log_group_is_encrypted_with_retention(assembly: Assembly) -> None:
    key = assembly.resource_id("PushStack", "Push/Key/Resource")
    logs = assembly.resource("PushStack", "Push/AccessLogs/Resource")
    assert logs["Properties"] == {"KmsKeyId": {"Fn::GetAtt": [key, "Arn"]}, "RetentionInDays": 365}


def test_register_function_environment_and_permissions(assembly: Assembly) -> None:
    topic = assembly.resource_id("PushStack", "Push/Topic/Resource")
    fn = assembly.properties("PushStack", "Push/RegisterFunction/Resource")
    assert fn["Handler"] == "register.handler" and fn["Timeout"] == 10
    env = fn["Environment"]["Variables"]
    assert env["TOPIC_ARN"] == {"Ref": topic}
    rendered = json.dumps(env["PLATFORM_APPLICATIONS"])
    for owner in ("Apns", "Fcm"):
        assert assembly.resource_id("PushStack", f"Push/{owner}/Resource/Default") in rendered
    assert '\\"apns\\"' in rendered and '\\"fcm\\"' in rendered
    default = _statements(assembly, "PushStack", "Push/RegisterFunctionRole/DefaultPolicy/Resource")
    assert {"Action": "sns:Subscribe", "Effect": "Allow", "Resource": {"Ref": topic}} in default
    [endpoints] = _statements(assembly, "PushStack", "Push/RegisterFunctionPolicy/Resource")
    # Retiring the endpoint of a replaced platform application needs DeleteEndpoint and Unsubscribe.
    assert sorted(endpoints["Action"]) == sorted([
        "sns:CreatePlatformEndpoint", "sns:GetEndpointAttributes", "sns:SetEndpointAttributes",
        "sns:DeleteEndpoint", "sns:GetSubscriptionAttributes", "sns:Unsubscribe"])


# --- alarms --------------------------------------------------------------------------------


@pytest.mark.parametrize(("owner", "platform"), [("Apns", "APNS"), ("Fcm", "GCM")])
def test_platform_application_alarm_has_application_and_platform(assembly: Assembly, owner: str, platform: str) -> None:
    app = assembly.resource_id("PushStack", f"Push/{owner}/Resource/Default")
    alarms = {"Ref": assembly.resource_id("PushStack", "Alarms/Topic/Resource")}
    alarm = assembly.properties("PushStack", f"Push/{owner}/FailedAlarm/Resource")
    assert (alarm["Namespace"], alarm["MetricName"], alarm["Statistic"], alarm["Period"]) == (
        "AWS/SNS", "NumberOfNotificationsFailed", "Sum", 300)
    assert alarm["Dimensions"] == [{"Name": "Application", "Value": {"Fn::GetAtt": [app, "Name"]}},
                                   {"Name": "Platform", "Value": platform}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["TreatMissingData"]) == (
        0, "GreaterThanThreshold", "notBreaching")
    assert alarm["AlarmActions"] == alarm["OKActions"] == [alarms]


def test_topic_alarm_has_topic_name(assembly: Assembly) -> None:
    topic = assembly.resource_id("PushStack", "Push/Topic/Resource")
    alarm = assembly.properties("PushStack", "Push/TopicFailedAlarm/Resource")
    assert alarm["MetricName"] == "NumberOfNotificationsFailed"
    assert alarm["Dimensions"] == [{"Name": "TopicName", "Value": {"Fn::GetAtt": [topic, "TopicName"]}}]


# --- the stack ---------------------------------------------------------------------------------


def test_stack_outputs(example: Template) -> None:
    assert set(example.find_outputs("*")) == {
        "RegistrationUrl", "TopicArn", "AlarmTopicArn", "ApnsApplicationArn", "FcmApplicationArn", "DashboardUrl"}


def test_stack_has_termination_protection(assembly: Assembly) -> None:
    assert assembly.stacks["PushStack"].termination_protection is True


def test_stateful_logical_ids_are_pinned(assembly: Assembly) -> None:
    # Renaming a construct replaces these: a new key, a new topic (every device
    # subscription lost) or a new platform application (every endpoint lost).
    resources = assembly.template("PushStack")["Resources"]
    stateful = sorted(k for k, r in resources.items() if r["Type"] in {
        "AWS::KMS::Key", "AWS::SNS::Topic", "AWS::Logs::LogGroup", "Custom::SnsPlatformApplication"})
    assert stateful == [
        "AlarmsKey3C2381B3",
        "AlarmsTopic3A2DFEBA",
        "PushAccessLogs6CDF66D3",
        "PushApns3864E093",
        "PushApnsFailureLogsA1D4B582",
        "PushApnsSuccessLogs06076931",
        "PushFcm573C6309",
        "PushFcmFailureLogs7A75524D",
        "PushFcmSuccessLogs8186D128",
        "PushKeyA1654611",
        "PushPlatformApplicationHandlerLogs8B7D2AE5",
        "PushProviderLogsC2C359F4",
        "PushRegisterFunctionLogs83DFB06C",
        "PushTopic4A572520",
        "PushTopicFailureLogs979AC8F5",
        "PushTopicSuccessLogs535EDA3C",
    ]


# --- grants and attributes -------------------------------------------------------------------


def _grant_stack(authorization=None) -> tuple[cdk.Stack, MobilePush]:
    stack = cdk.Stack(new_app(), "Grants")
    secret = secretsmanager.Secret.from_secret_name_v2(stack, "S", "push/apns")
    kwargs = {"authorization": authorization} if authorization else {}
    push = MobilePush(stack, "P", platforms=[ApnsPlatform(secret=secret), FcmPlatform(secret=secret)], **kwargs)
    return stack, push


def _policy(template: dict, prefix: str) -> list[dict]:
    return next(r for k, r in template["Resources"].items()
                if k.startswith(prefix) and r["Type"] == "AWS::IAM::Policy")["Properties"]["PolicyDocument"]["Statement"]


def test_grants() -> None:
    stack, push = _grant_stack()
    broadcaster, direct, app = (iam.Role(stack, n, assumed_by=iam.AccountRootPrincipal())
                                for n in ("Broadcaster", "Direct", "App"))
    push.grant_broadcast(broadcaster)
    push.grant_direct_publish(direct)
    push.grant_register(app)
    template = Template.from_stack(stack).to_json()

    broadcast = _policy(template, "BroadcasterDefaultPolicy")
    assert {"sns:Publish", "kms:GenerateDataKey*"} <= {a for s in broadcast for a in _list(s["Action"])}

    [publish] = _policy(template, "DirectDefaultPolicy")
    assert publish["Action"] == "sns:Publish"
    rendered = json.dumps(publish["Resource"])
    assert ":endpoint/APNS/" in rendered and ":endpoint/GCM/" in rendered and len(publish["Resource"]) == 2
    assert "topic" not in rendered.lower()

    [invoke] = _policy(template, "AppDefaultPolicy")
    assert invoke["Action"] == "execute-api:Invoke" and "/POST/devices" in json.dumps(invoke["Resource"])


@pytest.mark.parametrize(("authorization", "expected"), [
    (None, {"AuthorizationType": "AWS_IAM"}),
    (JwtAuthorization(issuer="https://issuer.example.com", audience=["a"], scopes=["push/register"]),
     {"AuthorizationType": "JWT", "AuthorizationScopes": ["push/register"]}),
])
def test_a_route_added_later_is_authorized_too(authorization, expected: dict) -> None:
    stack, push = _grant_stack(authorization)
    push.api.add_routes(path="/extra", methods=[apigwv2.HttpMethod.GET],
                        integration=integrations.HttpLambdaIntegration("Extra", push.register_function))
    routes = Template.from_stack(stack).find_resources("AWS::ApiGatewayV2::Route")
    [extra] = [r["Properties"] for r in routes.values() if r["Properties"]["RouteKey"] == "GET /extra"]
    [register] = [r["Properties"] for r in routes.values() if r["Properties"]["RouteKey"] == "POST /devices"]
    assert {k: extra.get(k) for k in expected} == expected
    assert extra.get("AuthorizerId") == register.get("AuthorizerId")


def test_grant_register_needs_iam_authorization() -> None:
    stack, push = _grant_stack(JwtAuthorization(issuer="https://issuer.example.com", audience=["a"]))
    with pytest.raises(ValueError, match=r"authorization must be IamAuthorization for grant_register.*\(got 'JwtAuthorization'\)"):
        push.grant_register(iam.Role(stack, "App", assumed_by=iam.AccountRootPrincipal()))


def test_exposes_typed_attributes() -> None:
    _, push = _grant_stack()
    assert set(push.platforms) == {"apns", "fcm"}
    apns = push.platforms["apns"]
    assert isinstance(apns, PlatformApplication) and apns.spec.platform == "APNS"
    assert cdk.Token.is_unresolved(apns.arn) and cdk.Token.is_unresolved(apns.name)
    assert len(push.alarms) == 3 and push.register_function is not None and push.access_logs is not None
