"""Mobile push with SNS: platform applications, device registration, a broadcast topic.

End to end: the app registers with APNs (iOS) or FCM (Android) and receives a
device token; it sends the token to the registration API here; the
registration function turns it into an SNS platform endpoint of the right
platform application and subscribes it to the broadcast topic. Publishing to
the topic reaches every device; publishing to one endpoint reaches one.

CloudFormation has no resource type for SNS platform applications, so a
custom resource creates them. Its handler reads the APNs / FCM credentials
from Secrets Manager at deployment time: they never appear in the template,
the custom resource's properties or its logs. SNS writes delivery success
(sampled) and failure to CloudWatch Logs through a role it assumes; failed
notifications are alarmed per platform application and on the topic.

Copy this file with ``secure.py``, ``observe.py`` and the handlers in
``refarch/runtime/mobile_push`` to use it elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import custom_resources as cr
from constructs import Construct

from refarch import observe, secure

RUNTIME = Path(__file__).resolve().parent / "runtime" / "mobile_push"
#: SNS samples successful deliveries at 0-100 percent; failures are always logged.
SAMPLE_RATE_RANGE = (0, 100)
_APNS_AUTH = ("token", "certificate")
# SNS defines no IAM resource type for platform applications or endpoints, so
# their actions take Resource "*" (Service Authorization Reference, Amazon SNS).
_NO_RESOURCE_TYPE = (
    "SNS defines no IAM resource type for platform applications, endpoints or subscriptions (Service Authorization "
    "Reference): "
    "{actions} accept only Resource '*'. "
)


# --- platforms ------------------------------------------------------------------


@dataclass(frozen=True)
class ApnsPlatform:
    """Apple Push Notification service, for iOS, iPadOS and macOS apps.

    :param secret: the credentials, as JSON (see ``docs/mobile-push.md``).
        ``auth="token"``: ``{"signingKey": "<.p8 contents>", "signingKeyId":
        "<10 chars>", "teamId": "<10 chars>", "bundleId": "com.example.app"}``.
        ``auth="certificate"``: ``{"certificate": "<PEM>", "privateKey": "<PEM>"}``.
    :param auth: ``"token"`` (a ``.p8`` signing key: never expires, one key for
        all your apps) or ``"certificate"`` (a ``.p12`` exported as PEM,
        renewed yearly). Default: ``"token"``.
    :param sandbox: deliver through APNs' development environment (apps
        built with a development provisioning profile). Default: False
        (production).
    :param credentials_version: any string; change it after putting new
        credentials in the secret, so that the next deployment re-reads the
        secret and updates the platform application (CloudFormation updates
        a resource only when a property changes). Default: ``"1"``.
    """

    secret: secretsmanager.ISecret
    auth: str = "token"
    sandbox: bool = False
    credentials_version: str = "1"

    @property
    def key(self) -> str:
        """How the registration API names this platform."""
        return "apns-sandbox" if self.sandbox else "apns"

    @property
    def platform(self) -> str:
        """SNS's platform name (the ``Platform`` metric dimension)."""
        return "APNS_SANDBOX" if self.sandbox else "APNS"

    @property
    def construct_id(self) -> str:
        return "ApnsSandbox" if self.sandbox else "Apns"


@dataclass(frozen=True)
class FcmPlatform:
    """Firebase Cloud Messaging (HTTP v1), for Android (and iOS through Firebase).

    :param secret: the Firebase service account's private-key JSON file, as
        downloaded from the Firebase console, stored unchanged as the
        secret's value.
    :param credentials_version: as for :class:`ApnsPlatform`. Default: ``"1"``.
    """

    secret: secretsmanager.ISecret
    credentials_version: str = "1"
    auth = "service-account"
    key = "fcm"
    platform = "GCM"  # SNS still calls FCM "GCM"
    construct_id = "Fcm"


Platform = ApnsPlatform | FcmPlatform


@dataclass(frozen=True)
class IamAuthorization:
    """Callers sign requests with SigV4 (for apps: Cognito identity pool
    credentials). Grant them with :meth:`MobilePush.grant_register`."""


@dataclass(frozen=True)
class JwtAuthorization:
    """Callers present a JWT from an OIDC issuer (Cognito user pool, Auth0, ...).

    :param issuer: the issuer URL, ``https://...``.
    :param audience: accepted ``aud`` (or, for Cognito access tokens,
        ``client_id``) values; at least one.
    :param scopes: scopes the token must carry. Default: none.
    """

    issuer: str
    audience: Sequence[str]
    scopes: Sequence[str] = ()


class PlatformApplication(Construct):
    """One SNS platform application (created by :class:`MobilePush`)."""

    spec: Platform
    resource: cdk.CustomResource
    arn: str
    """The platform application ARN (the custom resource's physical ID)."""
    name: str
    """Its name (the ``Application`` metric dimension)."""
    success_logs: logs.LogGroup
    failure_logs: logs.LogGroup
    alarm: cloudwatch.Alarm


# --- the pattern ----------------------------------------------------------------


class MobilePush(Construct):
    """Push notifications to iOS and Android devices through SNS.

    Simplest use::

        MobilePush(self, "Push", platforms=[
            ApnsPlatform(secret=apns_secret),
            FcmPlatform(secret=fcm_secret),
        ])

    :param platforms: one to three of ``ApnsPlatform`` (production),
        ``ApnsPlatform(sandbox=True)`` and ``FcmPlatform``; at most one of each.
    :param authorization: how callers of the registration API authenticate.
        Default: :class:`IamAuthorization` (SigV4). The API is never open.
    :param success_sample_rate: percentage (0-100) of successful deliveries
        SNS logs; failures are always logged. Default: 10.
    :param encryption_key: the key for the topic, log groups and function
        environments. Default: a new customer-managed key with rotation. A
        key passed in must allow SNS and CloudWatch Logs to use it; one
        created in the same app gets those statements added.
    :param log_retention: for delivery-status, access and function logs.
        Default: one year.
    :param throttling_rate_limit: registration requests per second (steady).
        Default: 50.
    :param throttling_burst_limit: registration requests in a burst.
        Default: 100.
    :param failed_notifications_threshold: failed notifications in 5 minutes,
        per platform application and on the topic, above which the alarms
        fire. Default: 0 (any failure; raise it once you know your normal
        rate of uninstalled apps).
    :param alarm_topic: where alarms and their recovery are sent.
        Default: nowhere (alarms are still created and visible).
    :param removal_policy: for the key and the log groups; platform
        applications are always deleted with the stack (devices register
        again). Default: RETAIN.
    :param dashboard: create a CloudWatch dashboard: broadcasts published,
        delivered and failed; per platform, deliveries and failures; the
        registration API and function; and every alarm. Default: True.
    """

    platforms: dict[str, PlatformApplication]
    topic: sns.Topic
    encryption_key: kms.IKey
    delivery_status_role: iam.Role
    provider: cr.Provider
    api: apigw.HttpApi
    stage: apigw.HttpStage
    """The ``$default`` stage (throttled, access-logged); ``stage.url`` is the API's URL."""
    register_route: apigw.HttpRoute
    register_function: lambda_.Function
    access_logs: logs.LogGroup
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        platforms: Sequence[Platform],
        authorization: IamAuthorization | JwtAuthorization = IamAuthorization(),
        success_sample_rate: int = 10,
        encryption_key: kms.IKey | None = None,
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        throttling_rate_limit: int = 50,
        throttling_burst_limit: int = 100,
        failed_notifications_threshold: int = 0,
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        _validate(
            platforms=platforms,
            authorization=authorization,
            success_sample_rate=success_sample_rate,
            throttling_rate_limit=throttling_rate_limit,
            throttling_burst_limit=throttling_burst_limit,
            failed_notifications_threshold=failed_notifications_threshold,
        )
        stack = cdk.Stack.of(self)
        self._authorization = authorization
        self.encryption_key = encryption_key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: topic, logs and functions", removal_policy=removal_policy
        )
        secure.allow_logs_to_use_key(self.encryption_key)
        # The key policy cannot name the topic that uses the key (a cycle), so
        # it admits SNS acting for this account's topics in this region.
        secure.allow_service_to_use_key(
            self.encryption_key,
            "sns.amazonaws.com",
            source_arns=[stack.format_arn(service="sns", resource="*", arn_format=cdk.ArnFormat.NO_RESOURCE_NAME)],
        )

        # SNS assumes this role to write delivery status; it may write only
        # into the log groups created below (SNS names them; retention and KMS
        # are ours because they exist before SNS writes).
        # The trust names the service and nothing else: SNS's delivery-status
        # pages (https://docs.aws.amazon.com/sns/latest/dg/sns-topic-attributes.html,
        # https://docs.aws.amazon.com/sns/latest/dg/sns-msg-status.html,
        # https://docs.aws.amazon.com/sns/latest/dg/topics-attrib-prereq.html) name no
        # aws:SourceAccount / aws:SourceArn for it, and a condition on a key the
        # service does not set fails AssumeRole, so no delivery status would be
        # written. Only principals of this account can hand the role to SNS
        # (iam:PassRole, granted below to the platform-application handler only).
        self.delivery_status_role = iam.Role(
            self,
            "DeliveryStatusRole",
            assumed_by=iam.ServicePrincipal("sns.amazonaws.com"),
            description=f"SNS writes push delivery status of {self.node.path} to CloudWatch Logs",
        )

        self.topic = sns.Topic(
            self,
            "Topic",
            master_key=self.encryption_key,
            enforce_ssl=True,
            signature_version="2",
            logging_configs=[
                sns.LoggingConfig(
                    protocol=sns.LoggingProtocol.APPLICATION,
                    success_feedback_role=self.delivery_status_role,
                    failure_feedback_role=self.delivery_status_role,
                    success_feedback_sample_rate=success_sample_rate,
                )
            ],
        )
        # SNS names delivery-status log groups sns/<region>/<account>/<topic name>
        # (and .../Failure); creating them first gives them retention and KMS.
        topic_logs = self._delivery_logs(
            self,
            "Topic",
            cdk.Fn.join("/", ["sns", stack.region, stack.account, self.topic.topic_name]),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )

        self.provider = self._provider(platforms, log_retention=log_retention, removal_policy=removal_policy)
        self.platforms = {}
        for spec in platforms:
            self.platforms[spec.key] = self._platform_application(
                spec,
                success_sample_rate=success_sample_rate,
                log_retention=log_retention,
                removal_policy=removal_policy,
                threshold=failed_notifications_threshold,
            )

        groups = [*topic_logs]
        for app in self.platforms.values():
            groups += [app.success_logs, app.failure_logs]
        # Streams are authorised on "<group ARN>:*" (the GetAtt), the group
        # itself on its bare ARN. No PutRetentionPolicy: retention stays ours.
        self.delivery_status_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[g.log_group_arn for g in groups],
            )
        )
        self.delivery_status_role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogGroup"],
                resources=[
                    stack.format_arn(service="logs", resource="log-group", resource_name=g.log_group_name,
                                     arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
                    for g in groups
                ],
            )
        )
        self._registration(
            authorization=authorization,
            log_retention=log_retention,
            removal_policy=removal_policy,
            rate=throttling_rate_limit,
            burst=throttling_burst_limit,
        )

        self.alarms = [app.alarm for app in self.platforms.values()]
        self.alarms.append(
            cloudwatch.Alarm(
                self,
                "TopicFailedAlarm",
                alarm_description=f"{self.node.path}: notifications from the broadcast topic failed",
                metric=self.topic.metric_number_of_notifications_failed(
                    period=cdk.Duration.minutes(5), statistic=cloudwatch.Stats.SUM
                ),
                threshold=failed_notifications_threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        )
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        five = {"period": cdk.Duration.minutes(5), "statistic": cloudwatch.Stats.SUM}
        topic_failed = self.alarms[-1]
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text("## Broadcast topic: published, delivered, failed"),
            observe.graph("Published", [self.topic.metric_number_of_messages_published(**five)]),
            observe.graph("Delivered", [self.topic.metric_number_of_notifications_delivered(**five)]),
            observe.graph("Failed", [self.topic.metric_number_of_notifications_failed(**five)], alarms=[topic_failed]),
        ]]
        for app in self.platforms.values():
            platform = app.spec.platform

            def metric(name: str, label: str, app: PlatformApplication = app) -> cloudwatch.Metric:
                # SNS publishes platform-application metrics with both dimensions.
                return cloudwatch.Metric(namespace="AWS/SNS", metric_name=name, label=label,
                                         dimensions_map={"Application": app.name, "Platform": app.spec.platform},
                                         **five)

            rows.append([
                observe.text(f"## Platform {platform}: publishes, deliveries, failures"),
                observe.graph("Published to its endpoints", [metric("NumberOfMessagesPublished", "published")]),
                observe.graph("Delivered", [metric("NumberOfNotificationsDelivered", "delivered")]),
                observe.graph("Failed", [metric("NumberOfNotificationsFailed", "failed")], alarms=[app.alarm]),
            ])
        rows.append([
            observe.text("## Device registration: API and function"),
            observe.graph("Requests, 4xx, 5xx", [
                self.api.metric_count(**five),
                self.api.metric_client_error(**five),
                self.api.metric_server_error(**five),
            ]),
            observe.graph("API latency (ms)", [self.api.metric_latency(period=cdk.Duration.minutes(5),
                                                                       statistic=cloudwatch.Stats.p(99))]),
            observe.graph("Function invocations, errors, throttles", [
                self.register_function.metric_invocations(**five),
                self.register_function.metric_errors(**five),
                self.register_function.metric_throttles(**five),
            ]),
        ])
        return observe.pattern_dashboard(self, "Dashboard", title=f"Mobile push {self.node.path}", rows=rows,
                                         alarms=self.alarms)

    # -- grants ---------------------------------------------------------------

    def grant_broadcast(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish to the broadcast topic (every device), with its key."""
        return self.topic.grant_publish(grantee)

    def grant_direct_publish(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` publish to single device endpoints (``TargetArn``) of
        these platform applications, and no others."""
        stack = cdk.Stack.of(self)
        return iam.Grant.add_to_principal(
            grantee=grantee,
            actions=["sns:Publish"],
            resource_arns=[
                stack.format_arn(service="sns", resource="endpoint", resource_name=f"{app.spec.platform}/{app.name}/*")
                for app in self.platforms.values()
            ],
        )

    def grant_register(self, grantee: iam.IGrantable) -> iam.Grant:
        """Let ``grantee`` (e.g. a Cognito identity pool's authenticated role)
        call the registration API. IAM authorization only: with JWT, the
        issuer decides who may call."""
        secure.require(
            isinstance(self._authorization, IamAuthorization),
            "authorization",
            type(self._authorization).__name__,
            "must be IamAuthorization for grant_register; with JwtAuthorization the token issuer admits callers",
        )
        return self.register_route.grant_invoke(grantee)

    # -- building blocks ----------------------------------------------------------

    def _delivery_logs(
        self,
        scope: Construct,
        prefix: str,
        name: str,
        *,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
    ) -> tuple[logs.LogGroup, logs.LogGroup]:
        success, failure = (
            logs.LogGroup(
                scope,
                f"{prefix}{kind}Logs",
                log_group_name=group_name,
                retention=log_retention,
                encryption_key=self.encryption_key,
                removal_policy=removal_policy,
            )
            for kind, group_name in (("Success", name), ("Failure", cdk.Fn.join("", [name, "/Failure"])))
        )
        return success, failure

    def _provider(
        self, platforms: Sequence[Platform], *, log_retention: logs.RetentionDays, removal_policy: cdk.RemovalPolicy
    ) -> cr.Provider:
        handler = secure.python_function(
            self,
            "PlatformApplicationHandler",
            code=lambda_.Code.from_asset(str(RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="platform_application.on_event",
            key=self.encryption_key,
            timeout=cdk.Duration.minutes(2),
            description=f"Creates, updates and deletes the SNS platform applications of {self.node.path}",
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        for spec in platforms:
            spec.secret.grant_read(handler)
        # Separate from the function's default policy, so that its Resource "*"
        # is acknowledged apart from the X-Ray one there.
        self._handler_policy = iam.Policy(
            self,
            "PlatformApplicationHandlerPolicy",
            roles=[handler.role],
            statements=[
                iam.PolicyStatement(
                    actions=[
                        "sns:CreatePlatformApplication",
                        "sns:GetPlatformApplicationAttributes",
                        "sns:SetPlatformApplicationAttributes",
                        "sns:DeletePlatformApplication",
                    ],
                    resources=["*"],
                ),
                # SNS checks that the caller may pass the delivery-status role.
                iam.PolicyStatement(
                    actions=["iam:PassRole"],
                    resources=[self.delivery_status_role.role_arn],
                    conditions={"StringEquals": {"iam:PassedToService": "sns.amazonaws.com"}},
                ),
                # A rollback keeps the credentials SNS last accepted instead of
                # re-reading a secret that may be what failed the update.
                iam.PolicyStatement(actions=["cloudformation:DescribeStacks"], resources=[cdk.Stack.of(self).stack_id]),
            ],
        )
        secure.acknowledge(
            self._handler_policy.node.default_child,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            _NO_RESOURCE_TYPE.format(actions="Create/Get/Set/DeletePlatformApplication")
            + "The handler only runs during deployments of this stack.",
        )
        provider_logs = logs.LogGroup(
            self, "ProviderLogs", retention=log_retention, encryption_key=self.encryption_key, removal_policy=removal_policy
        )
        # Our own role for the framework's function: it writes one log group
        # and invokes the handler (the Provider adds that grant), no managed policy.
        framework_role = iam.Role(
            self,
            "ProviderRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Execution role of the custom-resource framework of {self.node.path}",
        )
        provider_logs.grant_write(framework_role)
        provider = cr.Provider(
            self,
            "Provider",
            on_event_handler=handler,
            framework_on_event_role=framework_role,
            log_group=provider_logs,
            provider_function_env_encryption=self.encryption_key,
        )
        secure.acknowledge(
            framework_role.node.find_child("DefaultPolicy").node.default_child,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{cdk.Stack.of(self).get_logical_id(handler.node.default_child)}.Arn>:*]",
            "aws-cdk-lib's Provider grants lambda:InvokeFunction on the handler and on '<handler ARN>:*', its "
            "versions and aliases; the wildcard reaches no other function.",
        )
        # The handler runs synchronously, called by the framework during a deployment.
        sync = "Invoked synchronously by the custom-resource framework during a deployment: a failure fails the deployment"
        secure.acknowledge(handler.node.default_child, "Serverless::Serverless-LambdaDLQ",
                           f"{sync} and CloudFormation rolls back, so there is no event for a dead-letter queue.")
        secure.checkov_skip(handler.node.default_child, "CKV_AWS_116", f"{sync}; nothing is queued to retry later.")
        _tolerate_framework_function(provider.node.find_child("framework-onEvent").node.default_child)
        return provider

    def _platform_application(
        self,
        spec: Platform,
        *,
        success_sample_rate: int,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
        threshold: int,
    ) -> PlatformApplication:
        stack = cdk.Stack.of(self)
        app = PlatformApplication(self, spec.construct_id)
        app.spec = spec
        role_arn = self.delivery_status_role.role_arn
        # Only the secret's ID and a version marker go into the template; the
        # handler reads the credentials themselves at deployment time.
        app.resource = cdk.CustomResource(
            app,
            "Resource",
            service_token=self.provider.service_token,
            resource_type="Custom::SnsPlatformApplication",
            properties={
                "Platform": spec.platform,
                "Auth": spec.auth,
                "SecretId": spec.secret.secret_full_arn or spec.secret.secret_name,
                "CredentialsVersion": spec.credentials_version,
                "SuccessFeedbackRoleArn": role_arn,
                "FailureFeedbackRoleArn": role_arn,
                "SuccessFeedbackSampleRate": str(success_sample_rate),
            },
            # An SNS platform application holds no data: its endpoints are
            # re-created when devices register again.
            removal_policy=cdk.RemovalPolicy.DESTROY,
        )
        app.resource.node.add_dependency(self._handler_policy)
        app.arn = app.resource.ref
        app.name = app.resource.get_att_string("Name")
        app.success_logs, app.failure_logs = self._delivery_logs(
            app,
            "",
            cdk.Fn.join("/", ["sns", stack.region, stack.account, "app", spec.platform, app.name]),
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        app.alarm = cloudwatch.Alarm(
            app,
            "FailedAlarm",
            alarm_description=f"{self.node.path}: {spec.platform} notifications failed",
            # SNS publishes platform-application metrics with both dimensions.
            metric=cloudwatch.Metric(
                namespace="AWS/SNS",
                metric_name="NumberOfNotificationsFailed",
                dimensions_map={"Application": app.name, "Platform": spec.platform},
                period=cdk.Duration.minutes(5),
                statistic=cloudwatch.Stats.SUM,
            ),
            threshold=threshold,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        return app

    def _registration(
        self,
        *,
        authorization: IamAuthorization | JwtAuthorization,
        log_retention: logs.RetentionDays,
        removal_policy: cdk.RemovalPolicy,
        rate: int,
        burst: int,
    ) -> None:
        stack = cdk.Stack.of(self)
        self.register_function = secure.python_function(
            self,
            "RegisterFunction",
            code=lambda_.Code.from_asset(str(RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="register.handler",
            key=self.encryption_key,
            timeout=cdk.Duration.seconds(10),
            environment={
                "PLATFORM_APPLICATIONS": stack.to_json_string({k: a.arn for k, a in self.platforms.items()}),
                "TOPIC_ARN": self.topic.topic_arn,
            },
            description=f"Registers device tokens with the SNS platform applications of {self.node.path}",
            log_retention=log_retention,
            removal_policy=removal_policy,
        )
        self.register_function.add_to_role_policy(
            iam.PolicyStatement(actions=["sns:Subscribe"], resources=[self.topic.topic_arn])
        )
        endpoint_policy = iam.Policy(
            self,
            "RegisterFunctionPolicy",
            roles=[self.register_function.role],
            statements=[
                # DeleteEndpoint, GetSubscriptionAttributes and Unsubscribe retire the
                # endpoint (and its subscription) of a replaced platform application.
                iam.PolicyStatement(
                    actions=[
                        "sns:CreatePlatformEndpoint",
                        "sns:GetEndpointAttributes",
                        "sns:SetEndpointAttributes",
                        "sns:DeleteEndpoint",
                        "sns:GetSubscriptionAttributes",
                        "sns:Unsubscribe",
                    ],
                    resources=["*"],
                )
            ],
        )
        secure.acknowledge(
            endpoint_policy.node.default_child,
            "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            _NO_RESOURCE_TYPE.format(
                actions="CreatePlatformEndpoint, Get/SetEndpointAttributes, DeleteEndpoint, GetSubscriptionAttributes "
                "and Unsubscribe"
            )
            + "The function only creates endpoints in the platform applications named in its environment and "
            "retires only an endpoint the caller sent that is gone or is theirs, with its subscription to the topic.",
        )
        # Invoked synchronously by API Gateway: the caller gets the error and retries.
        secure.acknowledge(
            self.register_function.node.default_child,
            "Serverless::Serverless-LambdaDLQ",
            "Invoked only synchronously by the HTTP API: a failed registration returns an error to the app, which "
            "registers again on its next start, so there is no event to keep in a dead-letter queue.",
        )
        secure.checkov_skip(
            self.register_function.node.default_child,
            "CKV_AWS_116",
            "Invoked only synchronously by the HTTP API; the app sees the error and registers again on its next start.",
        )

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=log_retention, encryption_key=self.encryption_key, removal_policy=removal_policy
        )
        if isinstance(authorization, JwtAuthorization):
            authorizer = authorizers.HttpJwtAuthorizer(
                "Jwt", authorization.issuer, jwt_audience=list(authorization.audience)
            )
            scopes = list(authorization.scopes) or None
        else:
            authorizer, scopes = authorizers.HttpIamAuthorizer(), None
        # The API's default too, so that a route added later is never open.
        self.api = apigw.HttpApi(
            self,
            "Api",
            description=f"Device registration of {self.node.path}",
            create_default_stage=False,
            default_authorizer=authorizer,
            default_authorization_scopes=scopes,
        )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigw.ThrottleSettings(rate_limit=rate, burst_limit=burst),
        )
        # No request body in the access log: it carries the device token.
        self.stage.node.default_child.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn,
            format=json.dumps(
                {
                    "requestId": "$context.requestId",
                    "ip": "$context.identity.sourceIp",
                    "requestTime": "$context.requestTime",
                    "routeKey": "$context.routeKey",
                    "status": "$context.status",
                    "responseLength": "$context.responseLength",
                    "integrationError": "$context.integrationErrorMessage",
                    "authorizerError": "$context.authorizer.error",
                },
                separators=(",", ":"),
            ),
        )
        self.register_route = apigw.HttpRoute(
            self,
            "RegisterRoute",
            http_api=self.api,
            route_key=apigw.HttpRouteKey.with_("/devices", apigw.HttpMethod.POST),
            integration=integrations.HttpLambdaIntegration("Register", self.register_function),
            authorizer=authorizer,
            authorization_scopes=scopes,
        )
        # The integration's invoke permission names the API's ARN; SourceAccount pins the account too
        # (AWS Control Tower CT.LAMBDA.PR.2).
        permissions = [c for c in self.register_route.node.find_all() if isinstance(c, lambda_.CfnPermission)]
        secure.require(len(permissions) == 1, "register route", len(permissions),
                       "should carry exactly one invoke permission (aws-cdk-lib changed?)")
        permissions[0].source_account = cdk.Stack.of(self).account


def _tolerate_framework_function(function: cdk.CfnResource) -> None:
    """Record why the checks for application functions do not fit the
    Provider framework's own function (code and settings are aws-cdk-lib's;
    its props set the runtime, log group, role and environment key)."""
    why = "aws-cdk-lib's custom-resource framework function, called by CloudFormation a few times per deployment"
    secure.acknowledge(function, "Serverless::Serverless-LambdaDLQ",
                       f"{why}: CloudFormation invokes it asynchronously, and it reports every error to CloudFormation's "
                       "response URL as FAILED (the deployment rolls back), so no invocation fails into a queue.")
    secure.acknowledge(function, "Serverless::Serverless-LambdaDefaultMemorySize",
                       f"{why}: it only relays one request to the handler; aws-cdk-lib offers no memory prop.")
    secure.acknowledge(function, "Serverless::Serverless-LambdaTracing",
                       f"{why}: aws-cdk-lib offers no tracing prop; the handler it calls is traced with X-Ray.")
    secure.ignore_serverless_lint_on_cdk_function(function, why, memory_size_set=False)
    secure.checkov_skip(function, "CKV_AWS_116", f"{why}; a failure fails the deployment instead of queueing.")
    secure.checkov_skip(function, "CKV_AWS_117", f"{why}; it calls only the Lambda API and needs no VPC.")
    secure.checkov_skip(function, "CKV_AWS_115", f"{why}; reserving concurrency for it buys nothing.")
    secure.cfn_lint_ignore(function, "W3005", f"{why}; aws-cdk-lib makes it DependsOn its role and the role's "
                           "policy, so the invoke grant exists first; the role half repeats the GetAtt, harmlessly.")


def _validate(
    *,
    platforms: Sequence[Platform],
    authorization: IamAuthorization | JwtAuthorization,
    success_sample_rate: int,
    throttling_rate_limit: int,
    throttling_burst_limit: int,
    failed_notifications_threshold: int,
) -> None:
    require = secure.require
    require(
        isinstance(platforms, Sequence) and len(platforms) > 0,
        "platforms",
        platforms,
        "must name at least one platform (ApnsPlatform or FcmPlatform)",
    )
    seen: set[str] = set()
    for i, spec in enumerate(platforms):
        require(
            isinstance(spec, (ApnsPlatform, FcmPlatform)),
            f"platforms[{i}]",
            spec,
            "must be an ApnsPlatform or an FcmPlatform",
        )
        where = f"platforms[{spec.key}]"
        require(spec.key not in seen, "platforms", spec.key, "must not name a platform twice")
        seen.add(spec.key)
        if isinstance(spec, ApnsPlatform):
            require(spec.auth in _APNS_AUTH, f"{where}.auth", spec.auth, "must be 'token' or 'certificate'")
            require(isinstance(spec.sandbox, bool), f"{where}.sandbox", spec.sandbox, "must be True or False")
        require(
            hasattr(spec.secret, "grant_read") and hasattr(spec.secret, "secret_arn"),
            f"{where}.secret",
            spec.secret,
            "must be a secretsmanager.ISecret",
        )
        require(
            isinstance(spec.credentials_version, str) and 0 < len(spec.credentials_version) <= 128,
            f"{where}.credentials_version",
            spec.credentials_version,
            "must be a non-empty string of at most 128 characters",
        )
    require(
        isinstance(authorization, (IamAuthorization, JwtAuthorization)),
        "authorization",
        authorization,
        "must be IamAuthorization or JwtAuthorization: the registration API is never open",
    )
    if isinstance(authorization, JwtAuthorization):
        require(
            isinstance(authorization.issuer, str) and authorization.issuer.startswith("https://"),
            "authorization.issuer",
            authorization.issuer,
            "must be an https:// URL",
        )
        require(
            not isinstance(authorization.audience, str)
            and len(authorization.audience) > 0
            and all(isinstance(a, str) and a for a in authorization.audience),
            "authorization.audience",
            authorization.audience,
            "must list at least one accepted audience",
        )
        require(
            not isinstance(authorization.scopes, str) and all(isinstance(s, str) and s for s in authorization.scopes),
            "authorization.scopes",
            authorization.scopes,
            "must list scopes as non-empty strings (a list, not one string)",
        )
    lo, hi = SAMPLE_RATE_RANGE
    require(
        _whole(success_sample_rate) and lo <= success_sample_rate <= hi,
        "success_sample_rate",
        success_sample_rate,
        f"must be a whole percentage from {lo} to {hi}",
    )
    require(
        _whole(throttling_rate_limit) and 1 <= throttling_rate_limit <= 10_000,
        "throttling_rate_limit",
        throttling_rate_limit,
        "must be 1 to 10000 requests per second (the account's default API Gateway quota)",
    )
    require(
        _whole(throttling_burst_limit) and 1 <= throttling_burst_limit <= 5_000,
        "throttling_burst_limit",
        throttling_burst_limit,
        "must be 1 to 5000 requests (the account's default API Gateway burst quota)",
    )
    require(
        _whole(failed_notifications_threshold) and failed_notifications_threshold >= 0,
        "failed_notifications_threshold",
        failed_notifications_threshold,
        "must be a whole number, 0 or more",
    )


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
