"""Mutual TLS: an HTTPS service that admits only clients holding a certificate
from a CA you trust.

TLS proves the *server* to the client (the client checks the server's
certificate); mutual TLS also proves the *client* to the server: during the
handshake the server asks for a client certificate and refuses the connection
unless the certificate chains to a CA in its trust store, is within its
validity period and is not revoked. No request reaches the application
without one.

:class:`MutualTlsService` puts a Lambda function behind an Application Load
Balancer whose HTTPS listener runs mutual TLS in **verify** mode against an
``AWS::ElasticLoadBalancingV2::TrustStore`` built from a CA bundle (a PEM file
shipped as an asset, or an object already in S3), with optional certificate
revocation lists. The ALB passes the verified certificate's subject, issuer,
serial number, validity and leaf to the target in the documented
``X-Amzn-Mtls-Clientcert-*`` headers
(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/mutual-authentication.html),
so the application authorises *who* the client is without parsing TLS.

Copy this file with ``secure.py`` and ``observe.py`` to use it elsewhere (the
function behind it is yours; ``runtime/mtls_echo`` is the example stack's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_elasticloadbalancingv2_targets as elb_targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as route53_targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_assets as s3_assets
from aws_cdk import aws_sns as sns
from constructs import Construct

from refarch import observe, secure

#: The headers the ALB adds to each request in verify mode, as the ALB guide
#: documents them (that a client cannot forge them is for a real deployment to show:
#: docs/mutual-tls.md).
CLIENT_CERT_HEADERS = (
    "X-Amzn-Mtls-Clientcert-Serial-Number",
    "X-Amzn-Mtls-Clientcert-Issuer",
    "X-Amzn-Mtls-Clientcert-Subject",
    "X-Amzn-Mtls-Clientcert-Validity",
    "X-Amzn-Mtls-Clientcert-Leaf",
)

#: Security policies whose lowest protocol is TLS 1.2 (the ``*_10``/``*_11``
#: and ``TLS11`` policies still admit TLS 1.0/1.1).
_TLS12_PLUS = re.compile(
    r"RECOMMENDED_TLS|TLS12(_EXT)?|FORWARD_SECRECY_TLS12\w*|(FIPS_)?TLS13_(RES|EXT\d|1[23])(_\w+)?"
)
_PEM_CERT = "-----BEGIN CERTIFICATE-----"
_PEM_CRL = "-----BEGIN X509 CRL-----"
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@dataclass(frozen=True)
class PemObject:
    """A PEM file the load balancer reads from S3: a CA bundle or a CRL.

    Make one with :meth:`from_file` (a local file, uploaded as a CDK asset at
    deploy) or :meth:`from_bucket` (an object that already exists, e.g. one
    your PKI publishes). Give ``path``, or ``bucket`` and ``key``.

    :param path: a local PEM file, uploaded as a CDK asset at deploy. Default:
        none (an S3 object).
    :param bucket: the bucket holding the PEM object. Default: none (a local file).
    :param key: the object's key in ``bucket``, without a leading slash.
        Default: none (a local file).
    :param version: the S3 object version to read (not used with ``path``).
        Default: the current version.
    """

    path: str | None = None
    bucket: s3.IBucket | None = None
    key: str | None = None
    version: str | None = None

    @classmethod
    def from_file(cls, path: str | Path) -> "PemObject":
        """A local PEM file, uploaded as a CDK asset at deploy."""
        return cls(path=str(path))

    @classmethod
    def from_bucket(cls, bucket: s3.IBucket, key: str, *, version: str | None = None) -> "PemObject":
        """An object that already exists in ``bucket`` at ``key``; ``version``: default: the current one."""
        return cls(bucket=bucket, key=key, version=version)

    def validate(self, prop: str, marker: str) -> None:
        secure.require((self.path is None) != (self.bucket is None), prop, self,
                       "must be PemObject.from_file(...) or PemObject.from_bucket(...)")
        if self.path is not None:
            file = Path(self.path)
            secure.require(file.is_file(), prop, self.path, "must name an existing file")
            text = file.read_text(errors="replace")
            secure.require(marker in text, prop, self.path, f"must be a PEM file containing {marker}")
            secure.require("PRIVATE KEY" not in text, prop, self.path,
                           "must not contain a private key (it would be uploaded to S3)")
        else:
            secure.require(bool(self.key) and not str(self.key).startswith("/"), f"{prop}.key", self.key,
                           "must be an object key without a leading slash")

    def locate(self, scope: Construct, construct_id: str) -> tuple[s3.IBucket, str, str | None]:
        """The bucket, key and version the load balancer reads (an asset for a file)."""
        if self.path is None:
            return self.bucket, self.key, self.version
        asset = s3_assets.Asset(scope, construct_id, path=self.path)
        return asset.bucket, asset.s3_object_key, None


class MutualTlsService(Construct):
    """An HTTPS endpoint with mutual TLS in verify mode in front of a Lambda function.

    * **Listener**: HTTPS on 443 only (no plain-HTTP listener: a client without
      a certificate has nothing to be redirected to), an ACM certificate for
      ``domain_name`` validated by DNS in ``zone``, a TLS 1.2+ security policy,
      and mutual authentication ``verify`` against a trust store made from
      ``ca_bundle``; client certificates past their expiry are refused
      (``IgnoreClientCertificateExpiry`` false) and the CA names are not
      advertised to clients.
    * **Revocation**: each of ``crls`` is added to the trust store; a revoked
      client certificate is refused during the handshake.
    * **Target**: ``function`` gets each request with the client certificate's
      ``X-Amzn-Mtls-Clientcert-*`` headers (:data:`CLIENT_CERT_HEADERS`); only
      this load balancer's target group may invoke it.
    * **Logs**: access logs and connection logs (where the client certificate's
      subject and each handshake failure's reason, e.g. ``Failed:ClientCertRevoked``,
      show) go to ``logs_bucket``. ALB log delivery supports only SSE-S3 on the
      destination bucket
      (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-access-logging.html,
      https://docs.aws.amazon.com/elasticloadbalancing/latest/application/enable-connection-logging.html),
      so the default bucket is ``secure.access_logs_bucket``.
    * **Alarms**: refused TLS handshakes (``ClientTLSNegotiationErrorCount``,
      which counts client certificates that fail verification), 5xx from the
      load balancer and from the function.
    * An alias record ``domain_name`` -> the load balancer.
    * **Dashboard**: the data's path, client -> listener -> target group -> function
      (requests and refused handshakes, ELB and target 4xx/5xx, target response
      time, the function's invocations, errors, throttles and duration), each
      alarm's threshold drawn on its graph and every alarm as an alarm widget.

    :param vpc: the ALB goes into its public subnets.
    :param zone: the public hosted zone that validates the certificate and holds the record.
    :param domain_name: the service's name, inside ``zone`` (e.g. ``mtls.example.com``).
    :param ca_bundle: the CA certificates (PEM) that client certificates must chain to.
    :param function: the application. It receives ALB events (``headers`` carries
        the client certificate's fields, lower-case).
    :param crls: certificate revocation lists (PEM), one per CA that publishes one. Default: none
        (a client certificate stays valid until it expires; remove its CA to stop it earlier).
    :param ssl_policy: a policy whose lowest protocol is TLS 1.2. Default: ``SslPolicy.TLS13_RES``
        (TLS 1.3 and 1.2 with forward-secret AEAD ciphers only).
    :param allow_from: who may open connections. Default: any IPv4 address (the certificate
        decides who gets through); narrow it for known client networks.
    :param logs_bucket: receives access and connection logs; must be SSE-S3 encrypted, in the
        stack's region. Default: a new ``secure.access_logs_bucket``.
    :param tls_error_threshold: refused handshakes in 5 minutes that raise the alarm. Default: 10.
    :param deletion_protection: default: True.
    :param alarm_topic: alarms and recovery go here. Default: nowhere.
    :param removal_policy: of the default logs bucket. Default: RETAIN.
    :param dashboard: create a CloudWatch dashboard in this stack's region: requests, refused TLS
        handshakes (``ClientTLSNegotiationErrorCount``), the load balancer's and the target's 4xx/5xx,
        target response time, the Lambda target's errors, the function's invocations, errors,
        throttles and duration, and every alarm. Default: True.
    """

    load_balancer: elbv2.ApplicationLoadBalancer
    listener: elbv2.ApplicationListener
    target_group: elbv2.ApplicationTargetGroup
    trust_store: elbv2.TrustStore
    revocation: elbv2.TrustStoreRevocation | None
    certificate: acm.Certificate
    security_group: ec2.SecurityGroup
    logs_bucket: s3.IBucket
    record: route53.ARecord
    alarms: list[cloudwatch.Alarm]
    function: lambda_.IFunction
    """The Lambda target (its metrics are on the dashboard)."""
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        zone: route53.IHostedZone,
        domain_name: str,
        ca_bundle: PemObject,
        function: lambda_.IFunction,
        crls: Sequence[PemObject] = (),
        ssl_policy: elbv2.SslPolicy = elbv2.SslPolicy.TLS13_RES,
        allow_from: Sequence[ec2.IPeer] | None = None,
        logs_bucket: s3.IBucket | None = None,
        tls_error_threshold: int = 10,
        deletion_protection: bool = True,
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        secure.require(isinstance(domain_name, str) and bool(_DOMAIN.fullmatch(domain_name)), "domain_name",
                       domain_name, "must be a lower-case DNS name such as mtls.example.com")
        zone_name = zone.zone_name
        if not cdk.Token.is_unresolved(zone_name):
            apex = zone_name.rstrip(".")
            secure.require(domain_name == apex or domain_name.endswith(f".{apex}"), "domain_name", domain_name,
                           f"must be inside the hosted zone {apex}")
        secure.require(isinstance(ca_bundle, PemObject), "ca_bundle", ca_bundle, "must be a PemObject")
        ca_bundle.validate("ca_bundle", _PEM_CERT)
        for crl in crls:
            secure.require(isinstance(crl, PemObject), "crls[]", crl, "must be a PemObject")
            crl.validate("crls[]", _PEM_CRL)
        secure.require(isinstance(ssl_policy, elbv2.SslPolicy) and bool(_TLS12_PLUS.fullmatch(ssl_policy.value)),
                       "ssl_policy", ssl_policy, "must be a policy whose lowest protocol is TLS 1.2 or 1.3")
        secure.require(allow_from is None or len(allow_from) > 0, "allow_from", allow_from,
                       "must name at least one peer (or be left unset for any IPv4 address)")
        secure.require(isinstance(tls_error_threshold, int) and tls_error_threshold >= 0, "tls_error_threshold",
                       tls_error_threshold, "must be an integer >= 0")
        region = cdk.Stack.of(self).region
        secure.require(not cdk.Token.is_unresolved(region), "region", region,
                       "must be explicit (a stack with an env): ALB log delivery is granted per region")

        # --- trust store and revocation lists ---------------------------------
        bucket, key, version = ca_bundle.locate(self, "CaBundle")
        self.trust_store = elbv2.TrustStore(self, "TrustStore", bucket=bucket, key=key, version=version)
        self.revocation = None
        if crls:
            contents = []
            for index, crl in enumerate(crls):
                crl_bucket, crl_key, crl_version = crl.locate(self, f"Crl{index}")
                contents.append(elbv2.RevocationContent(bucket=crl_bucket, key=crl_key, version=crl_version,
                                                        revocation_type=elbv2.RevocationType.CRL))
            self.revocation = elbv2.TrustStoreRevocation(self, "Revocation", trust_store=self.trust_store,
                                                         revocation_contents=contents)

        # --- load balancer ------------------------------------------------------
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{self.node.path}: the mutual-TLS listener",
            allow_all_outbound=False,
        )
        for peer in list(allow_from) if allow_from is not None else [ec2.Peer.any_ipv4()]:
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(443), "HTTPS with a client certificate")
        if allow_from is None:
            secure.acknowledge(
                self.security_group.node.default_child,
                "AwsSolutions::AwsSolutions-EC23",
                "A public mutual-TLS endpoint: every connection must present a client certificate from the trust "
                "store before a request is read. Pass allow_from to narrow it to known networks.",
            )
        self.logs_bucket = logs_bucket or secure.access_logs_bucket(self, "Logs", removal_policy=removal_policy)
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            internet_facing=True,
            vpc_subnets=ec2.SubnetSelection(subnet_type=ec2.SubnetType.PUBLIC),
            security_group=self.security_group,
            drop_invalid_header_fields=True,
            deletion_protection=deletion_protection,
        )
        secure.acknowledge_strict(
            self.load_balancer.node.default_child, "ALBWAFEnabled",
            "Every client must present a certificate from the trust store in the TLS handshake, before any HTTP "
            "request exists for a web ACL to inspect; anonymous internet traffic, what WAF's managed rules and "
            "rate rules target, never reaches HTTP here. Associate a REGIONAL web ACL to inspect trusted clients.",
        )
        self.load_balancer.log_access_logs(self.logs_bucket, prefix=f"{construct_id}/access")
        self.load_balancer.log_connection_logs(self.logs_bucket, prefix=f"{construct_id}/connection")

        self.target_group = elbv2.ApplicationTargetGroup(
            self, "Targets", target_type=elbv2.TargetType.LAMBDA, targets=[elb_targets.LambdaTarget(function)],
        )
        # LambdaTarget's permission names no source; a SourceArn (the target group) would be a cycle, as the
        # target group waits for the permission, so admit this account's load balancers only.
        for child in function.node.children:
            permission = child.node.default_child if not isinstance(child, lambda_.CfnPermission) else child
            if (isinstance(permission, lambda_.CfnPermission)
                    and permission.principal == "elasticloadbalancing.amazonaws.com"):
                permission.source_account = cdk.Stack.of(self).account
        self.certificate = acm.Certificate(
            self, "Certificate", domain_name=domain_name, validation=acm.CertificateValidation.from_dns(zone),
        )
        self.listener = self.load_balancer.add_listener(
            "Https",
            port=443,
            protocol=elbv2.ApplicationProtocol.HTTPS,
            open=False,
            certificates=[self.certificate],
            ssl_policy=ssl_policy,
            mutual_authentication=elbv2.MutualAuthentication(
                mutual_authentication_mode=elbv2.MutualAuthenticationMode.VERIFY,
                trust_store=self.trust_store,
                ignore_client_certificate_expiry=False,
                advertise_trust_store_ca_names=False,
            ),
            default_target_groups=[self.target_group],
        )
        if self.revocation is not None:
            # The listener must not admit clients before their revocations are loaded.
            self.listener.node.add_dependency(self.revocation)
        self.record = route53.ARecord(
            self, "Record", zone=zone, record_name=domain_name,
            target=route53.RecordTarget.from_alias(route53_targets.LoadBalancerTarget(self.load_balancer)),
        )

        # --- alarms ------------------------------------------------------------------
        five_minutes = cdk.Duration.minutes(5)
        self.alarms = [
            cloudwatch.Alarm(
                self,
                "RefusedHandshakesAlarm",
                alarm_description=f"{self.node.path}: TLS handshakes refused (a client certificate untrusted, "
                "expired or revoked, or no certificate); the connection logs name the reason",
                # docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
                metric=self.load_balancer.metrics.client_tls_negotiation_error_count(
                    period=five_minutes, statistic=cloudwatch.Stats.SUM
                ),
                threshold=tls_error_threshold,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "LoadBalancer5xxAlarm",
                alarm_description=f"{self.node.path}: the load balancer answers 5xx (the function failing or "
                "throttled?)",
                metric=self.load_balancer.metrics.http_code_elb(
                    elbv2.HttpCodeElb.ELB_5XX_COUNT, period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.SUM
                ),
                threshold=10,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "FunctionErrorsAlarm",
                alarm_description=f"{self.node.path}: the function behind the listener fails",
                metric=function.metric_errors(period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.SUM),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        secure.notify(self.alarms, alarm_topic)
        self.function = function
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Client -> listener (handshakes) -> load balancer -> target group -> function."""
        refused, elb_5xx, function_errors = self.alarms
        minute = {"period": cdk.Duration.minutes(1)}
        lb, tg, fn = self.load_balancer.metrics, self.target_group.metrics, self.function
        # Metric names and dimensions:
        # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
        # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
        rows: list[list[cloudwatch.IWidget]] = [
            [
                observe.text("## Clients -> listener: requests and refused mutual-TLS handshakes"),
                observe.graph("Requests", [lb.request_count(statistic="Sum", **minute)], width=8),
                observe.graph("Refused TLS handshakes (certificate untrusted, expired, revoked or missing)", [
                    lb.client_tls_negotiation_error_count(statistic="Sum", period=cdk.Duration.minutes(5)),
                ], alarms=[refused], width=8),
                observe.graph("Load balancer 4xx and 5xx", [
                    lb.http_code_elb(elbv2.HttpCodeElb.ELB_4XX_COUNT, statistic="Sum", **minute),
                    lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", **minute),
                ], alarms=[elb_5xx], width=8),
            ],
            [
                observe.text("## Load balancer -> Lambda target"),
                observe.graph("Target 4xx and 5xx", [
                    tg.http_code_target(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, statistic="Sum", **minute),
                    tg.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", **minute),
                ], width=8),
                observe.graph("Target response time (s)", [
                    tg.target_response_time(statistic=cloudwatch.Stats.p(50), **minute),
                    tg.target_response_time(statistic=cloudwatch.Stats.p(99), **minute),
                ], width=8),
                observe.graph("Lambda target errors (user, internal)", [
                    tg.custom("LambdaUserError", statistic="Sum", **minute),
                    tg.custom("LambdaInternalError", statistic="Sum", **minute),
                ], width=8),
            ],
            [
                observe.text("## Function"),
                observe.graph("Invocations and throttles", [
                    fn.metric_invocations(statistic="Sum", **minute),
                    fn.metric_throttles(statistic="Sum", **minute),
                ], width=8),
                observe.graph("Errors", [fn.metric_errors(statistic="Sum", **minute)], alarms=[function_errors],
                              width=8),
                observe.graph("Duration (ms)", [
                    fn.metric_duration(statistic=cloudwatch.Stats.p(50), **minute),
                    fn.metric_duration(statistic=cloudwatch.Stats.p(99), **minute),
                ], width=8),
            ],
        ]
        return observe.pattern_dashboard(self, "Dashboard", title=f"Mutual TLS service {self.node.path}", rows=rows,
                                         alarms=self.alarms)
