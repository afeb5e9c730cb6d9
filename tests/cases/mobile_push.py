"""MobilePush configurations: APNs certificate in the sandbox, JWT authorizer with an existing key and secret."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager

from refarch import secure
from refarch.mobile_push import ApnsPlatform, FcmPlatform, JwtAuthorization, MobilePush


def apns_certificate_sandbox(app: cdk.App) -> cdk.Stack:
    """One development iOS app with a certificate; every success logged, short retention."""
    stack = cdk.Stack(app, "PushApnsCertificateSandbox")
    secret = secretsmanager.Secret.from_secret_complete_arn(
        stack, "ApnsCertificate",
        "arn:aws:secretsmanager:eu-west-1:111122223333:secret:push/apns-dev-AbCdEf",
    )
    MobilePush(
        stack,
        "Push",
        platforms=[ApnsPlatform(secret=secret, auth="certificate", sandbox=True, credentials_version="2026-11")],
        success_sample_rate=100,
        log_retention=logs.RetentionDays.ONE_MONTH,
        failed_notifications_threshold=25,
        removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    return stack


def jwt_authorizer(app: cdk.App) -> cdk.Stack:
    """Cognito-issued JWTs; both APNs environments and FCM; a shared key."""
    stack = cdk.Stack(app, "PushJwt")
    alarms = secure.AlarmTopic(stack, "Alarms")
    key = secure.encryption_key(stack, "SharedKey", description="shared by several patterns")
    apns = secretsmanager.Secret.from_secret_name_v2(stack, "Apns", "push/apns")
    fcm = secretsmanager.Secret.from_secret_name_v2(stack, "Fcm", "push/fcm")
    MobilePush(
        stack,
        "Push",
        platforms=[ApnsPlatform(secret=apns), ApnsPlatform(secret=apns, sandbox=True), FcmPlatform(secret=fcm)],
        authorization=JwtAuthorization(
            issuer="https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_Example",
            audience=["app-client-id"],
            scopes=["push/register"],
        ),
        encryption_key=key,
        throttling_rate_limit=10,
        throttling_burst_limit=20,
        alarm_topic=alarms.topic,
    )
    return stack


CASES = {
    "PushApnsCertificateSandbox": apns_certificate_sandbox,
    "PushJwt": jwt_authorizer,
}
