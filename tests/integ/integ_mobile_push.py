"""Integration app: mobile push (docs/mobile-push.md) in a real account.

SNS checks platform credentials when it creates a platform application, so
this pattern cannot deploy without them: create the secrets first (their JSON
shapes are in docs/mobile-push.md, "Credentials") and name them by context:

    aws secretsmanager create-secret --name refarch/integ/apns --secret-string file://apns.json
    aws secretsmanager create-secret --name refarch/integ/fcm --secret-string file://fcm.json
    make integ PATTERNS=mobile_push INTEG_CONTEXT="-c push_apns_secret=refarch/integ/apns -c push_fcm_secret=refarch/integ/fcm"

One of the two is enough (only that platform is deployed and tested).
Without either, ``make integ`` reports the pattern SKIPPED and deploys
nothing; the offline snapshot (both platforms, the default names) still
runs in ``make test``. Proves, for each platform given:

1. a request without credentials is refused (403, the IAM authorizer);
2. the registration API, called with SigV4 by a probe function, creates an
   endpoint whose token is the device's and subscribes it to the broadcast topic;
3. a re-registration with a changed token updates the same endpoint (enabled);
4. SetAlarmState on the failed-notifications alarm reaches a probe queue
   subscribed to the alarm topic.
"""

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import PROBES, alarm_reaches_topic, alarms_in, disposable, in_order, integ, invoked_by_assertion, new_app

from refarch import secure
from refarch.mobile_push import ApnsPlatform, FcmPlatform, MobilePush

app = new_app()
apns_name = app.node.try_get_context("push_apns_secret")
fcm_name = app.node.try_get_context("push_fcm_secret")
if not apns_name and not fcm_name:  # the offline snapshot: both, at PushStack's default names
    apns_name, fcm_name = "refarch/mobile-push/apns", "refarch/mobile-push/fcm"

stack = cdk.Stack(app, "IntegMobilePush", description="refarch integ: mobile push")
alarms = secure.AlarmTopic(stack, "Alarms")
platforms = []
if apns_name:
    platforms.append(ApnsPlatform(secret=secretsmanager.Secret.from_secret_name_v2(stack, "ApnsSecret", apns_name)))
if fcm_name:
    platforms.append(FcmPlatform(secret=secretsmanager.Secret.from_secret_name_v2(stack, "FcmSecret", fcm_name)))
push = MobilePush(stack, "Push", platforms=platforms, alarm_topic=alarms.topic)
url = f"{push.stage.url}devices"



probe = secure.python_function(
    stack, "IntegRegisterProbe", code=lambda_.Code.from_asset(str(PROBES / "push")), handler="index.handler",
    key=push.encryption_key, timeout=cdk.Duration.minutes(1),
    environment={"REGISTRATION_URL": url, "TOPIC_ARN": push.topic.topic_arn},
    description="integration probe: registers a device with SigV4, as an app does",
)
probe.add_to_role_policy(iam.PolicyStatement(
    actions=["execute-api:Invoke"], resources=[push.api.arn_for_execute_api("POST", "/devices")]))
probe.add_to_role_policy(iam.PolicyStatement(
    actions=["sns:GetEndpointAttributes", "sns:DeleteEndpoint"],
    resources=[stack.format_arn(service="sns", resource="endpoint", resource_name="*")]))
probe.add_to_role_policy(iam.PolicyStatement(
    actions=["sns:GetSubscriptionAttributes", "sns:Unsubscribe"], resources=[f"{push.topic.topic_arn}:*"]))
api_id, topic_id = (stack.get_logical_id(c.node.default_child) for c in (push.api, push.topic))
for resource, why in [
    (f"arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<{api_id}>/*/POST/devices",
     "calls POST /devices of this API, on its one stage"),
    ("arn:<AWS::Partition>:sns:<AWS::Region>:<AWS::AccountId>:endpoint/*",
     "reads and deletes the endpoint it registered, whose ARN the API returns only at run time"),
    (f"<{topic_id}>:*", "reads and removes the subscription it made to this stack's topic"),
]:
    secure.acknowledge(probe.role, f"AwsSolutions::AwsSolutions-IAM5[Resource::{resource}]",
                       f"integration-test probe in a sandbox account: {why}")
invoked_by_assertion(probe)
disposable(stack)
test = integ(app, "MobilePush", [stack])

unsigned = test.assertions.http_api_call(url, method="POST", body='{"platform": "fcm", "token": "integ-unsigned"}',
                                         headers={"content-type": "application/json"})
unsigned.expect(ExpectedResult.object_like({"status": 403}))
steps = [unsigned]
for key in push.platforms:
    registered = test.assertions.invoke_function(function_name=probe.function_name, payload=f'{{"platform": "{key}"}}')
    registered.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
        "first_status": 200, "first_token_matches": True, "subscribed": True,
        "second_status": 200, "same_endpoint": True, "token_updated": True}))}))
    steps.append(registered)
failed = next(a for a in alarms_in(push) if "Fail" in a.node.id)
in_order(*steps, alarm_reaches_topic(test, stack, failed, alarms.topic))

app.synth()
