"""PushStack: mobile push through SNS as a deployable example.

An iOS app (APNs, token-based ``.p8`` key, production) and its Android twin
(FCM HTTP v1) register devices through an IAM-authorized HTTP API; every
device is subscribed to one broadcast topic. The credentials live in two
Secrets Manager secrets you create before deploying (their JSON shapes are in
``docs/mobile-push.md``); the stack references them by name and never holds
their values.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from refarch import observe, secure
from refarch.mobile_push import ApnsPlatform, FcmPlatform, MobilePush


class PushStack(cdk.Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        apns_secret_name: str = "refarch/mobile-push/apns",
        fcm_secret_name: str = "refarch/mobile-push/fcm",
        alarm_email: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        apns = secretsmanager.Secret.from_secret_name_v2(self, "ApnsSecret", apns_secret_name)
        fcm = secretsmanager.Secret.from_secret_name_v2(self, "FcmSecret", fcm_secret_name)
        self.push = MobilePush(
            self,
            "Push",
            platforms=[ApnsPlatform(secret=apns), FcmPlatform(secret=fcm)],
            alarm_topic=alarms.topic,
        )

        cdk.CfnOutput(self, "RegistrationUrl", value=f"{self.push.stage.url}devices",
                      description="POST device tokens here (SigV4-signed)")
        cdk.CfnOutput(self, "TopicArn", value=self.push.topic.topic_arn, description="Publish here to reach every device")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.push.dashboard),
                      description="The pattern's CloudWatch dashboard")
        for key, app in self.push.platforms.items():
            cdk.CfnOutput(self, f"{app.node.id}ApplicationArn", value=app.arn,
                          description=f"The {key} SNS platform application")
