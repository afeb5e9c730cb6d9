"""The edge of a global application: CloudFront, Route 53 and Global Accelerator.

Three services, three jobs:

* **CloudFront** caches and serves content from edge locations near the
  viewer, and proxies dynamic requests to an origin over AWS's backbone
  (:class:`EdgeDistribution`, with :class:`EdgeWebAcl` in front);
* **Global Accelerator** gives two static anycast IPs and carries TCP/UDP
  over AWS's network to the nearest healthy regional endpoint
  (:class:`EdgeAccelerator`);
* **Route 53** resolves names and routes by latency, health or failover
  (the records each construct creates when given a hosted zone).

:class:`RegionalOrigin` is the regional end of all three: an ALB in a VPC,
with a latency-routed, health-checked name when a domain is given.

Copy this file with ``secure.py``, ``observe.py`` and ``sizing.py`` to use it elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_globalaccelerator as ga
from aws_cdk import aws_globalaccelerator_endpoints as ga_endpoints
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_route53_targets as targets
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

from refarch import observe, secure

#: CloudFront's certificates and its web ACLs live here, whatever the origin's region.
CLOUDFRONT_REGION = "us-east-1"
#: Global Accelerator quotas per accelerator and per endpoint group.
MAX_LISTENERS = 10
MAX_ENDPOINTS_PER_GROUP = 10
#: AWS managed rule groups every web ACL starts with (:data:`secure.DEFAULT_MANAGED_RULE_GROUPS`).
DEFAULT_MANAGED_RULE_GROUPS = secure.DEFAULT_MANAGED_RULE_GROUPS
#: What an ECS (Fargate) service behind a :class:`RegionalOrigin` needs in a VPC
#: without NAT (``secure.Network``'s default): ECR's API and Docker registry to
#: pull from a private repository, CloudWatch Logs for the ``awslogs`` driver;
#: image layers come from S3 through ``secure.Network``'s gateway endpoint
#: (https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html).
#: Add Secrets Manager (and KMS) if the task definition injects secrets.
ORIGIN_SERVICE_ENDPOINTS = (
    ec2.InterfaceVpcEndpointAwsService.ECR,
    ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER,
    ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
)
DEFAULT_CONTENT_SECURITY_POLICY = "default-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'self'"

#: The custom header CloudFront adds to every request to a regional origin.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"
_ORIGIN_VERIFY_FIELD = "value"
_VERSION_ID = re.compile(r"^[A-Za-z0-9-]{32,64}$")

_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$)({_LABEL}\.)+[a-z]{{2,63}}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


def _require_domain(prop: str, value: object) -> None:
    secure.require(
        isinstance(value, str) and bool(_DOMAIN.match(value)),
        prop,
        value,
        "must be a lower-case DNS name such as 'example.com' (labels of letters, digits and hyphens)",
    )


def _require_region(prop: str, value: object) -> None:
    secure.require(isinstance(value, str) and bool(_REGION.match(value)), prop, value,
                   "must be an AWS region such as 'eu-west-1'")


def _require_path(prop: str, value: object) -> None:
    secure.require(isinstance(value, str) and bool(_PATH.match(value)) and len(value) <= 1024, prop, value,
                   "must be an absolute URL path such as '/health'")


def _require_behaviour_path(prop: str, value: object) -> None:
    secure.require(
        isinstance(value, str) and value.startswith("/") and value != "/*" and len(value) <= 255,
        prop, value, "must start with '/' and not be '/*' (that is the S3 default)",
    )


def _in_cloudfront_region(scope: Construct, prop: str, what: str) -> None:
    region = cdk.Stack.of(scope).region
    secure.require(
        cdk.Token.is_unresolved(region) or region == CLOUDFRONT_REGION,
        prop,
        region,
        f"must be {CLOUDFRONT_REGION}: {what} for CloudFront can only be created there "
        "(put this construct in a us-east-1 stack)",
    )


# --- WAF --------------------------------------------------------------------


class EdgeWebAcl(secure.WebAcl):
    """:class:`secure.WebAcl` (managed rule groups, a rate limit per client IP,
    logs with the ``authorization`` header redacted) under the metric name
    ``EdgeWebAcl``: for CloudFront (scope ``CLOUDFRONT``, in us-east-1) or for
    the regional ALBs (``regional=True``). Props as :class:`secure.WebAcl`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        rate_limit: int = 1000,
        rate_window: cdk.Duration = cdk.Duration.minutes(5),
        managed_rule_groups: Sequence[str] = DEFAULT_MANAGED_RULE_GROUPS,
        regional: bool = False,
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id, rate_limit=rate_limit, rate_window=rate_window,
                         managed_rule_groups=managed_rule_groups, regional=regional, log_retention=log_retention,
                         removal_policy=removal_policy, metric_name="EdgeWebAcl")


# --- CloudFront -> origin: the secret header -------------------------------------


class OriginVerifySecret(Construct):
    """The shared secret by which a regional origin knows a request came through
    CloudFront (and so through its web ACL).

    A Secrets Manager secret holding a generated 32-character alphanumeric value
    under the JSON key ``value`` (alphanumeric, so none of the ALB's condition
    wildcards ``*`` and ``?`` can appear), encrypted with a customer-managed key
    and replicated to ``replica_regions``: Secrets Manager keeps each replica's
    value equal to the primary's, with the same name and ARN but the region, so
    each region's stacks read it locally (a ``{{resolve:secretsmanager:...}}``
    dynamic reference only reads the stack's own region). Replicas are
    encrypted with their region's AWS managed key ``aws/secretsmanager``: a
    customer-managed key there would have to exist before this secret.

    There is no Secrets Manager rotation: CloudFormation reads a dynamic
    reference only when the reference itself changes, so a new value reaches
    CloudFront and the ALBs by a deploy that pins its version
    (:class:`OriginVerify` ``version_id``/``previous_version_id``; docs/edge.md,
    "Rotating the origin secret").

    :param replica_regions: regions whose stacks read the secret (the other
        origins', and CloudFront's us-east-1). Default: none.
    :param removal_policy: for the secret and its key. Default: RETAIN.
    """

    secret: secretsmanager.Secret
    key: kms.Key

    def __init__(self, scope: Construct, construct_id: str, *, replica_regions: Sequence[str] = (),
                 removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        region = cdk.Stack.of(self).region
        secure.require(not cdk.Token.is_unresolved(region), "region", region,
                       "must be explicit (a stack with an env) to name the replicas' ARNs")
        for replica in replica_regions:
            _require_region("replica_regions[]", replica)
        secure.require(len(set(replica_regions)) == len(replica_regions) and region not in replica_regions,
                       "replica_regions", list(replica_regions),
                       f"must be distinct and not the secret's own region ({region})")
        self._region = region
        self.key = secure.encryption_key(self, "Key", description=f"{self.node.path}: the origin header secret",
                                         removal_policy=removal_policy)
        self.secret = secretsmanager.Secret(
            self, "Secret",
            description="CloudFront sends this value in the X-Origin-Verify header; the regional ALBs forward "
                        "only requests that carry it",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template="{}", generate_string_key=_ORIGIN_VERIFY_FIELD,
                password_length=32, exclude_punctuation=True, include_space=False,
            ),
            replica_regions=[secretsmanager.ReplicaRegion(region=r) for r in replica_regions],
            removal_policy=removal_policy,
        )
        secure.acknowledge(
            self.secret, "AwsSolutions::AwsSolutions-SMG4",
            "A rotation Lambda would change the value without updating CloudFront or the ALBs, which read it "
            "only when a deploy changes the reference; rotation is a versioned deploy (docs/edge.md).",
        )

    def replica_arn(self, region: str) -> str:
        """The ARN of the secret (or its replica) in ``region``: the same ARN, another region."""
        _require_region("region", region)
        return cdk.Fn.join(f":{region}:", cdk.Fn.split(f":{self._region}:", self.secret.secret_arn))


@dataclass(frozen=True)
class OriginVerify:
    """How CloudFront proves itself to a :class:`RegionalOrigin`: a custom origin
    header whose value is a secret both read from Secrets Manager at deploy time.

    :param secret: the secret (or its replica) in the reading stack's region:
        :attr:`OriginVerifySecret.secret`, or ``Secret.from_secret_complete_arn``
        of :meth:`OriginVerifySecret.replica_arn`.
    :param version_id: read this version. Default: none (the current version
        when CloudFormation first resolves it; a later value is read only when
        this changes).
    :param previous_version_id: the ALB also accepts this version, so that a
        rotation has no gap (see docs/edge.md). Default: none.
    :param header: default: :data:`ORIGIN_VERIFY_HEADER`.
    """

    secret: secretsmanager.ISecret
    version_id: str | None = None
    previous_version_id: str | None = None
    header: str = ORIGIN_VERIFY_HEADER

    def validate(self) -> None:
        for prop, value in (("origin_verify.version_id", self.version_id),
                            ("origin_verify.previous_version_id", self.previous_version_id)):
            secure.require(value is None or bool(_VERSION_ID.match(value)), prop, value,
                           "must be a Secrets Manager version ID (32 to 64 letters, digits or hyphens)")
        secure.require(self.previous_version_id is None or self.version_id is not None,
                       "origin_verify.previous_version_id", self.previous_version_id,
                       "needs version_id: the previous version is accepted beside a pinned new one")
        secure.require(self.previous_version_id is None or self.previous_version_id != self.version_id,
                       "origin_verify.previous_version_id", self.previous_version_id, "must differ from version_id")
        secure.require(bool(re.fullmatch(r"[A-Za-z0-9-]{1,40}", self.header)), "origin_verify.header",
                       self.header, "must be an HTTP header name (letters, digits, hyphens)")

    def value(self, version_id: str | None = None) -> str:
        """The dynamic reference CloudFormation replaces with the secret's value (never the value itself)."""
        return cdk.SecretValue.secrets_manager(
            self.secret.secret_arn, json_field=_ORIGIN_VERIFY_FIELD, version_id=version_id
        ).unsafe_unwrap()

    def accepted_values(self) -> list[str]:
        """What the ALB accepts: the pinned (or current) version, and the previous one during a rotation."""
        values = [self.value(self.version_id)]
        if self.previous_version_id is not None:
            values.append(self.value(self.previous_version_id))
        return values


# --- the regional origin -------------------------------------------------------


@dataclass(frozen=True)
class OriginDomain:
    """Names for a regional origin inside a Route 53 public hosted zone.

    The origin answers on ``origin.<domain>`` (latency- or failover-routed
    across regions, health-checked) and ``<region>.origin.<domain>`` (this
    region only, what the health check probes). Its certificate also covers
    ``extra_names`` (e.g. ``api.<domain>`` when an accelerator in front uses that name).

    :param zone: the public hosted zone of ``domain``.
    :param domain: the apex, e.g. ``example.com``.
    :param extra_names: more names on the ALB's certificate. Default: none.
    :param failover: ``PRIMARY`` or ``SECONDARY`` for active/standby: the
        primary region answers while its health check passes, the secondary
        only then. Give one region each. Default: none (latency routing: every
        healthy region answers the clients nearest to it).
    """

    zone: route53.IHostedZone
    domain: str
    extra_names: Sequence[str] = ()
    failover: route53.Failover | None = None

    @property
    def origin_name(self) -> str:
        return f"origin.{self.domain}"

    def regional_name(self, region: str) -> str:
        return f"{region}.origin.{self.domain}"


class RegionalOrigin(Construct):
    """An internet-facing ALB in one region: the dynamic origin behind
    CloudFront and the endpoint of Global Accelerator.

    With ``domain``: an ACM certificate (DNS-validated, in this region), an
    HTTPS listener (TLS 1.3 policy) and an HTTP listener that only redirects;
    ``<region>.origin.<domain>`` points at the ALB, a Route 53 health check
    probes it over HTTPS, and ``origin.<domain>`` is a latency (or, with
    ``domain.failover``, failover) record (one per region, set identifier =
    region) that answers only while the health check and the ALB's targets are healthy. Without: an HTTP listener on port 80
    (CloudFront's default domain needs no origin certificate, but the hop
    CloudFront -> ALB is then plain HTTP: a demo, not production).

    Attach the application to :attr:`target_group` (IP targets, e.g. an ECS
    service); the ALB forwards everything there.

    :param vpc: the VPC; the ALB goes into its public subnets.
    :param access_logs: receives the ALB's access logs (SSE-S3, which ALB log
        delivery requires: ``secure.access_logs_bucket``).
    :param domain: names and hosted zone. Default: none (HTTP on the ALB's own name).
    :param allow_from: who may connect to the listeners. Default: any IPv4
        address (Global Accelerator preserves client IPs and Route 53 health
        checkers come from the internet). Behind CloudFront only, pass the
        CloudFront origin-facing managed prefix list (``ec2.Peer.prefix_list``);
        that also shuts out Route 53's health checkers, so with a domain the
        latency records' checks fail and Route 53 answers with every region.
    :param target_port: the port the application listens on. Default: 8080.
    :param health_check_path: probed by the target group and Route 53.
        Default: ``/health``.
    :param deletion_protection: default: True (a front door is not deleted by accident).
    :param origin_verify: the listener answers 403 (its default action) unless
        the request carries ``origin_verify.header`` with the secret value
        CloudFront sends, so nobody reaches the application around CloudFront
        and its web ACL; with a domain, GET/HEAD of ``health_check_path`` is
        forwarded without it too (Route 53 health checkers cannot send
        headers). Default: none (the listener forwards everything).
    :param alarm_topic: alarms and recovery go here. Default: nowhere.
    :param dashboard: create a CloudWatch dashboard in this region: requests,
        the targets' 4xx/5xx and response time (the origin latency CloudFront
        sees), the load balancer's own 5xx, healthy and unhealthy targets, the
        Route 53 health check's status (a us-east-1 metric), and every alarm.
        Default: True.
    :param web_acl: a web ACL of scope ``REGIONAL`` associated with the ALB, so
        traffic that reaches it through Global Accelerator or directly meets
        WAF's managed rules and a rate limit too. Default: a new
        :class:`EdgeWebAcl` with ``regional=True``.
    """

    load_balancer: elbv2.ApplicationLoadBalancer
    web_acl: wafv2.CfnWebACL
    target_group: elbv2.ApplicationTargetGroup
    security_group: ec2.SecurityGroup
    listener: elbv2.ApplicationListener
    """The listener that forwards to the targets: HTTPS 443 with a domain, HTTP 80 without."""
    certificate: acm.Certificate | None
    health_check: route53.HealthCheck | None
    routed_record: route53.CfnRecordSet | None
    """``origin.<domain>`` in this region: latency (or failover) routed, health-checked. None without a domain."""
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard | None
    """The origin's dashboard, in its region (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        access_logs: s3.IBucket,
        domain: OriginDomain | None = None,
        allow_from: Sequence[ec2.IPeer] | None = None,
        target_port: int = 8080,
        health_check_path: str = "/health",
        deletion_protection: bool = True,
        origin_verify: OriginVerify | None = None,
        alarm_topic: sns.ITopic | None = None,
        dashboard: bool = True,


        web_acl: wafv2.CfnWebACL | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        region = cdk.Stack.of(self).region
        if web_acl is not None:
            secure.require(web_acl.scope == "REGIONAL", "web_acl.scope", web_acl.scope,
                           "must be REGIONAL (an ALB takes a regional web ACL)")
        if origin_verify is not None:
            origin_verify.validate()
        secure.require(isinstance(target_port, int) and 1 <= target_port <= 65535, "target_port", target_port,
                       "must be a port from 1 to 65535")
        _require_path("health_check_path", health_check_path)
        secure.require(allow_from is None or len(allow_from) > 0, "allow_from", allow_from,
                       "must name at least one peer (or be left unset for any IPv4 address)")
        if domain is not None:
            _require_domain("domain.domain", domain.domain)
            for name in domain.extra_names:
                _require_domain("domain.extra_names[]", name)
            secure.require(domain.failover is None or isinstance(domain.failover, route53.Failover),
                           "domain.failover", domain.failover, "must be route53.Failover.PRIMARY or SECONDARY")
            secure.require(not cdk.Token.is_unresolved(region), "region", region,
                           "must be explicit (a stack with an env) to name the regional record")

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{self.node.path}: the public listeners",
            allow_all_outbound=False,
        )
        peers = list(allow_from) if allow_from is not None else [ec2.Peer.any_ipv4()]
        ports = [443, 80] if domain else [80]
        for peer in peers:
            for port in ports:
                self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), f"HTTP(S) on {port}")
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(target_port), "To the targets in the VPC"
        )
        if allow_from is None:
            secure.acknowledge(
                self.security_group.node.default_child,
                "AwsSolutions::AwsSolutions-EC23",
                "A public front door: Global Accelerator preserves client IPs, and Route 53 health checkers and "
                "CloudFront reach it from the internet. Pass allow_from to narrow it.",
            )
            secure.checkov_skip(
                self.security_group.node.default_child, "CKV_AWS_260",
                "Port 80 of a public front door: with a domain it only redirects to HTTPS; without one it is the "
                "origin CloudFront reaches. Pass allow_from to narrow it.",
            )

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
        self.load_balancer.log_access_logs(access_logs, prefix=construct_id)
        self.web_acl = web_acl or EdgeWebAcl(self, "WebAcl", regional=True).web_acl
        wafv2.CfnWebACLAssociation(self, "WebAclAssociation", resource_arn=self.load_balancer.load_balancer_arn,
                                   web_acl_arn=self.web_acl.attr_arn)
        self.target_group = elbv2.ApplicationTargetGroup(
            self,
            "Targets",
            vpc=vpc,
            port=target_port,
            protocol=elbv2.ApplicationProtocol.HTTP,
            target_type=elbv2.TargetType.IP,
            deregistration_delay=cdk.Duration.seconds(30),
            health_check=elbv2.HealthCheck(
                path=health_check_path,
                interval=cdk.Duration.seconds(15),
                healthy_threshold_count=2,
                unhealthy_threshold_count=3,
            ),
        )

        self.certificate = None
        self.health_check = None
        self.routed_record = None
        # With origin_verify, only the rules below forward; anything else gets 403.
        default = dict(default_target_groups=[self.target_group]) if origin_verify is None else dict(
            default_action=elbv2.ListenerAction.fixed_response(403, content_type="text/plain",
                                                               message_body="Forbidden"))
        if domain is None:
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False, **default,
            )
            secure.checkov_skip(
                self.listener.node.default_child, "CKV_AWS_2",
                "Without a domain there is no name a public certificate could cover (the ALB's own name is "
                "amazonaws.com), so the origin speaks HTTP; give a domain for HTTPS end to end.",
            )
            secure.checkov_skip(
                self.listener.node.default_child, "CKV_AWS_103",
                "An HTTP listener has no TLS policy: without a domain no certificate is possible; with a domain "
                "this listener is HTTPS with a TLS 1.3 policy.",
            )
        else:
            regional = domain.regional_name(region)
            self.certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=domain.origin_name,
                subject_alternative_names=[regional, *domain.extra_names],
                validation=acm.CertificateValidation.from_dns(domain.zone),
            )
            self.listener = self.load_balancer.add_listener(
                "Https", port=443, protocol=elbv2.ApplicationProtocol.HTTPS, open=False,
                certificates=[self.certificate], ssl_policy=elbv2.SslPolicy.TLS13_RES, **default,
            )
            redirect = self.load_balancer.add_redirect(source_port=80, target_port=443, open=False)
            secure.acknowledge_strict(
                redirect.node.default_child, "ELBv2ACMCertificateRequired",
                "This port-80 listener only answers 301 to HTTPS on 443, where the certificate is; a redirect "
                "carries no content, so it needs none.",
            )
            alias = route53.RecordTarget.from_alias(targets.LoadBalancerTarget(self.load_balancer))
            route53.ARecord(self, "RegionalRecord", zone=domain.zone, record_name=regional, target=alias)
            self.health_check = route53.HealthCheck(
                self,
                "HealthCheck",
                type=route53.HealthCheckType.HTTPS,
                fqdn=regional,
                port=443,
                resource_path=health_check_path,
                enable_sni=True,
                request_interval=cdk.Duration.seconds(30),
                failure_threshold=3,
            )
            # Both answer only while the health check passes and the ALB has a healthy
            # target (EvaluateTargetHealth), not just while /health is reachable.
            if domain.failover is None:
                latency = route53.ARecord(
                    self,
                    "LatencyRecord",
                    zone=domain.zone,
                    record_name=domain.origin_name,
                    target=alias,
                    region=region,
                    set_identifier=region,
                    health_check=self.health_check,
                )
                self.routed_record = latency.node.default_child
                self.routed_record.add_property_override("AliasTarget.EvaluateTargetHealth", True)
            else:
                # L1: the L2 record checks EvaluateTargetHealth on the target, which a
                # Python LoadBalancerTarget cannot set without jsii.
                self.routed_record = route53.CfnRecordSet(
                    self,
                    "FailoverRecord",
                    hosted_zone_id=domain.zone.hosted_zone_id,
                    name=f"{domain.origin_name}.",
                    type="A",
                    failover=domain.failover.value,
                    set_identifier=region,
                    health_check_id=self.health_check.health_check_id,
                    alias_target=route53.CfnRecordSet.AliasTargetProperty(
                        dns_name=f"dualstack.{self.load_balancer.load_balancer_dns_name}",
                        hosted_zone_id=self.load_balancer.load_balancer_canonical_hosted_zone_id,
                        evaluate_target_health=True,
                    ),
                )

        if origin_verify is not None:
            self.listener.add_target_groups(
                "FromCloudFront", priority=10, target_groups=[self.target_group],
                conditions=[elbv2.ListenerCondition.http_header(origin_verify.header,
                                                                origin_verify.accepted_values())],
            )
            if domain is not None:
                self.listener.add_target_groups(
                    "HealthCheck", priority=20, target_groups=[self.target_group],
                    conditions=[elbv2.ListenerCondition.path_patterns([health_check_path]),
                                elbv2.ListenerCondition.http_request_methods(["GET", "HEAD"])],
                )

        self.alarms = [
            cloudwatch.Alarm(
                self,
                "UnhealthyTargetsAlarm",
                alarm_description=f"{self.node.path}: targets are failing their health check",
                metric=self.target_group.metrics.unhealthy_host_count(
                    period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.MAXIMUM
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "LoadBalancer5xxAlarm",
                alarm_description=f"{self.node.path}: the load balancer itself answers 5xx (no healthy target?)",
                metric=self.load_balancer.metrics.http_code_elb(
                    elbv2.HttpCodeElb.ELB_5XX_COUNT, period=cdk.Duration.minutes(1), statistic=cloudwatch.Stats.SUM
                ),
                threshold=10,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        unhealthy, elb_5xx = self.alarms
        minute = {"period": cdk.Duration.minutes(1)}
        lb, tg = self.load_balancer.metrics, self.target_group.metrics
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text(f"## Load balancer in {cdk.Stack.of(self).region}: requests, errors, origin latency"),
            observe.graph("Requests", [lb.request_count(statistic="Sum", **minute)], width=6),
            observe.graph("Target 4xx and 5xx", [
                lb.http_code_target(elbv2.HttpCodeTarget.TARGET_4XX_COUNT, statistic="Sum", **minute),
                lb.http_code_target(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, statistic="Sum", **minute),
            ], width=6),
            observe.graph("Load balancer 5xx (no healthy target?)", [
                lb.http_code_elb(elbv2.HttpCodeElb.ELB_5XX_COUNT, statistic="Sum", **minute)],
                alarms=[elb_5xx], width=6),
            observe.graph("Target response time (s)", [
                lb.target_response_time(statistic=cloudwatch.Stats.p(50), **minute),
                lb.target_response_time(statistic=cloudwatch.Stats.p(99), **minute),
            ], width=6),
        ]]
        health: list[cloudwatch.IWidget] = [
            observe.text("## Health"),
            observe.graph("Healthy and unhealthy targets", [
                tg.healthy_host_count(statistic="Minimum", **minute),
                tg.unhealthy_host_count(statistic="Maximum", **minute),
            ], alarms=[unhealthy], width=12),
        ]
        if self.health_check is not None:
            # Route 53 publishes health-check metrics in us-east-1 only:
            # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-metrics.html
            health.append(observe.graph("Route 53 health check (1 = healthy)", [
                cloudwatch.Metric(namespace="AWS/Route53", metric_name="HealthCheckStatus", statistic="Minimum",
                                  dimensions_map={"HealthCheckId": self.health_check.health_check_id},
                                  region=CLOUDFRONT_REGION, **minute),
            ], right=[
                cloudwatch.Metric(namespace="AWS/Route53", metric_name="HealthCheckPercentageHealthy",
                                  statistic="Average", dimensions_map={"HealthCheckId": self.health_check.health_check_id},
                                  region=CLOUDFRONT_REGION, **minute),
            ], region=CLOUDFRONT_REGION, width=12))
        rows.append(health)
        waf_row = observe.web_acl_row(self.web_acl, "## Regional web ACL: requests that reach the ALB directly or through "
                           "Global Accelerator", period=minute["period"], region=cdk.Stack.of(self).region)
        if waf_row:
            rows.append(waf_row)
        return observe.pattern_dashboard(self, "Dashboard", title=f"Regional origin {self.node.path}", rows=rows,
                                         alarms=self.alarms)


# --- CloudFront --------------------------------------------------------------------


@dataclass(frozen=True)
class SiteDomain:
    """The viewer-facing names of a distribution.

    ``domain`` and ``www.<domain>`` get a DNS-validated certificate (in
    us-east-1, where CloudFront reads certificates) and A and AAAA alias
    records pointing at the distribution.

    :param zone: the public hosted zone of ``domain``.
    :param domain: the apex, e.g. ``example.com``.
    """

    zone: route53.IHostedZone
    domain: str


class EdgeDistribution(Construct):
    """A CloudFront distribution in front of a private S3 bucket and,
    optionally, a dynamic HTTP origin.

    * Static content: an S3 bucket encrypted with a customer-managed key,
      TLS-only, reachable only through Origin Access Control by this
      distribution (bucket policy with its ARN); the key lets CloudFront
      decrypt only for this account's distributions and only through S3.
    * Dynamic requests (``api_path_pattern``, every method): to the first of
      ``api_origins`` only, uncached, every viewer header but Host forwarded.
      CloudFront fails over to another origin only for GET, HEAD and OPTIONS,
      and refuses an origin group on a behaviour that allows POST, PUT, PATCH
      or DELETE; a read/write API that must survive a region needs a name that
      fails over itself (a Route 53 failover or latency record, or an accelerator).
    * Read-only requests (``api_read_path_patterns``, GET/HEAD/OPTIONS only):
      to an origin group over both ``api_origins`` that retries the second on
      500, 502, 503 and 504.
    Lives in us-east-1 (a stack there), where CloudFront reads certificates
    and web ACLs and publishes its metrics.

    * Viewer side: HTTPS only (HTTP redirects), HTTP/2 and HTTP/3, TLS 1.2
      (2021 policy) minimum with a custom domain, compression, security
      response headers, a WAF web ACL, standard logging (v2) to an encrypted
      bucket, a 5xx error-rate alarm.

    :param api_origins: domain names of the dynamic origin: an ALB, an
        accelerator, or a Route 53 name in front of either. The first takes
        ``api_path_pattern`` (every method); a second is only the fallback of
        ``api_read_path_patterns``. Default: none (static content only).
    :param api_read_path_patterns: paths that only read (GET, HEAD, OPTIONS;
        other methods get 403 from CloudFront) and that either origin can
        answer; they go to an origin group, the first origin primary and the
        second its fallback on 500, 502, 503 and 504. CloudFront matches them
        before ``api_path_pattern``. Required with two ``api_origins``, not
        allowed with fewer. Default: none.
    :param api_protocol: how CloudFront talks to the dynamic origin.
        Default: HTTPS only (TLS 1.2); HTTP only needs an explicit choice.
    :param api_path_pattern: the paths that go to the dynamic origin. Default: ``/api/*``.
    :param domain: viewer-facing names and zone. Default: none (the
        ``*.cloudfront.net`` name and certificate).
    :param web_acl: a web ACL of scope CLOUDFRONT. Default: a new :class:`EdgeWebAcl`.
    :param origin_shield_region: add Origin Shield, in this region, in front
        of every origin. Default: none (each edge's regional cache asks the origin).
    :param price_class: default: all edge locations.
    :param geo_restriction: countries to allow or deny. Default: none (a
        global application serves every country).
    :param error_responses: default: 403 and 404 answer ``/errors/404.html``
        with 404 (S3 answers 403 for a missing object through OAC); 500, 502,
        503 and 504 are cached 10 seconds only, so recovery shows quickly.
        They apply to every path, the API's too.
    :param content_security_policy: the ``Content-Security-Policy`` header.
        Default: :data:`DEFAULT_CONTENT_SECURITY_POLICY`.
    :param access_logs: receives the buckets' S3 server access logs. Default:
        a new ``secure.access_logs_bucket``.
    :param log_expiration: how long CloudFront access logs are kept. Default: 365 days.
    :param origin_verify: send ``origin_verify.header`` with the secret's
        value (the pinned ``version_id``, or the current one) to every API
        origin, for a :class:`RegionalOrigin` given the same. Default: none.
    :param alarm_topic: alarms and recovery go here. Default: nowhere.
    :param removal_policy: for the buckets and the key. Default: RETAIN.
    :param dashboard: create a CloudWatch dashboard (in us-east-1, beside
        CloudFront's metrics): requests, 4xx/5xx error rates, bytes out, the
        web ACL's allowed and blocked requests per rule, and every alarm. Each
        :class:`RegionalOrigin` has its own dashboard in its region (origin
        latency, health). Default: True.
    """

    distribution: cloudfront.Distribution
    content_bucket: s3.Bucket
    log_bucket: s3.Bucket
    access_logs: s3.IBucket
    key: kms.Key
    web_acl: wafv2.CfnWebACL
    certificate: acm.Certificate | None
    cache_policy: cloudfront.CachePolicy
    response_headers_policy: cloudfront.ResponseHeadersPolicy
    log_delivery: logs.CfnDelivery
    alarms: list[cloudwatch.Alarm]
    dashboard: cloudwatch.Dashboard | None
    """The distribution's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        api_origins: Sequence[str] = (),
        api_protocol: cloudfront.OriginProtocolPolicy = cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
        api_path_pattern: str = "/api/*",
        api_read_path_patterns: Sequence[str] = (),
        domain: SiteDomain | None = None,
        web_acl: wafv2.CfnWebACL | None = None,
        origin_shield_region: str | None = None,
        price_class: cloudfront.PriceClass = cloudfront.PriceClass.PRICE_CLASS_ALL,
        geo_restriction: cloudfront.GeoRestriction | None = None,
        error_responses: Sequence[cloudfront.ErrorResponse] | None = None,
        content_security_policy: str = DEFAULT_CONTENT_SECURITY_POLICY,
        access_logs: s3.IBucket | None = None,
        log_expiration: cdk.Duration = cdk.Duration.days(365),
        origin_verify: OriginVerify | None = None,
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        if origin_verify is not None:
            origin_verify.validate()
            secure.require(bool(api_origins), "origin_verify", origin_verify.header,
                           "needs api_origins: the header goes to the dynamic origins")
        secure.require(len(api_origins) <= 2, "api_origins", list(api_origins),
                       "must name at most two origins (a primary and a fallback)")
        # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html
        # origin failover applies to GET, HEAD and OPTIONS only; CloudFront rejects an origin
        # group on a behaviour allowing POST/PUT/PATCH/DELETE (aws/aws-cdk#32450).
        secure.require(len(api_origins) < 2 or len(api_read_path_patterns) > 0, "api_read_path_patterns",
                       list(api_read_path_patterns),
                       "must name at least one path with two api_origins: the fallback origin serves only "
                       "read-only paths (CloudFront fails over GET, HEAD and OPTIONS only); for a read/write "
                       "API that survives a region, give one name that fails over (Route 53 or an accelerator)")
        secure.require(not api_read_path_patterns or len(api_origins) == 2, "api_read_path_patterns",
                       list(api_read_path_patterns), "needs two api_origins (a primary and a fallback)")
        secure.require(len(set(api_read_path_patterns)) == len(api_read_path_patterns)
                       and api_path_pattern not in api_read_path_patterns, "api_read_path_patterns",
                       list(api_read_path_patterns), "must be distinct and differ from api_path_pattern")
        for pattern in api_read_path_patterns:
            _require_behaviour_path("api_read_path_patterns[]", pattern)
        for name in api_origins:
            secure.require(cdk.Token.is_unresolved(name) or bool(_DOMAIN.match(name)), "api_origins[]", name,
                           "must be a DNS name")
        secure.require(
            api_protocol in (cloudfront.OriginProtocolPolicy.HTTPS_ONLY, cloudfront.OriginProtocolPolicy.HTTP_ONLY),
            "api_protocol", api_protocol, "must be HTTPS_ONLY or HTTP_ONLY (MATCH_VIEWER hides which one is used)",
        )
        _require_behaviour_path("api_path_pattern", api_path_pattern)
        _in_cloudfront_region(self, "region", "the certificate, the web ACL and the metrics")
        if domain is not None:
            _require_domain("domain.domain", domain.domain)
        if web_acl is not None:
            secure.require(web_acl.scope == "CLOUDFRONT", "web_acl.scope", web_acl.scope,
                           "must be CLOUDFRONT (a REGIONAL web ACL protects ALBs and APIs, not distributions)")
        if origin_shield_region is not None:
            _require_region("origin_shield_region", origin_shield_region)
        secure.require(
            bool(content_security_policy.strip()) and "\n" not in content_security_policy,
            "content_security_policy", content_security_policy, "must be one non-empty header value",
        )
        seconds = log_expiration.to_seconds()
        secure.require(seconds >= 86400 and seconds % 86400 == 0, "log_expiration", f"{seconds} s",
                       "must be a whole number of days, at least one (S3 lifecycle counts days)")

        stack = cdk.Stack.of(self)
        self.key = secure.encryption_key(
            self, "Key", description=f"{self.node.path}: content and access logs", removal_policy=removal_policy
        )
        self.access_logs = access_logs or secure.access_logs_bucket(
            self, "AccessLogs", removal_policy=removal_policy
        )
        self.content_bucket = secure.encrypted_bucket(
            self, "Content", key=self.key, access_logs=self.access_logs, removal_policy=removal_policy
        )
        self.log_bucket = secure.encrypted_bucket(
            self,
            "Logs",
            key=self.key,
            access_logs=self.access_logs,
            removal_policy=removal_policy,
            lifecycle_rules=[
                s3.LifecycleRule(
                    expiration=log_expiration,
                    noncurrent_version_expiration=cdk.Duration.days(30),
                    abort_incomplete_multipart_upload_after=cdk.Duration.days(7),
                )
            ],
        )

        self.web_acl = web_acl or EdgeWebAcl(self, "WebAcl").web_acl
        self.certificate = None
        if domain is not None:
            self.certificate = acm.Certificate(
                self,
                "Certificate",
                domain_name=domain.domain,
                subject_alternative_names=[f"www.{domain.domain}"],
                validation=acm.CertificateValidation.from_dns(domain.zone),
            )

        self.cache_policy = cloudfront.CachePolicy(
            self,
            "StaticCachePolicy",
            comment="Static content: compressed, no cookies, headers or query strings in the cache key",
            default_ttl=cdk.Duration.days(1),
            min_ttl=cdk.Duration.seconds(0),
            max_ttl=cdk.Duration.days(365),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.none(),
        )
        self.response_headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="HSTS, CSP, nosniff, frame denial, referrer policy; the Server header removed",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=cdk.Duration.days(730), include_subdomains=True, override=True
                ),
                content_security_policy=cloudfront.ResponseHeadersContentSecurityPolicy(
                    content_security_policy=content_security_policy, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN, override=True
                ),
            ),
            remove_headers=["Server"],
        )

        shield = {"origin_shield_enabled": True, "origin_shield_region": origin_shield_region} \
            if origin_shield_region else {}
        s3_origin = origins.S3BucketOrigin.with_origin_access_control(self.content_bucket, **shield)
        additional: dict[str, cloudfront.BehaviorOptions] = {}
        if api_origins:
            http = [
                origins.HttpOrigin(
                    name,
                    protocol_policy=api_protocol,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                    read_timeout=cdk.Duration.seconds(30),
                    custom_headers={origin_verify.header: origin_verify.value(origin_verify.version_id)}
                    if origin_verify is not None else None,
                    **shield,
                )
                for name in api_origins
            ]
            if len(http) == 2:
                # Read-only paths first: CloudFront takes the first behaviour whose pattern matches.
                group = origins.OriginGroup(
                    primary_origin=http[0], fallback_origin=http[1], fallback_status_codes=[500, 502, 503, 504]
                )
                for pattern in api_read_path_patterns:
                    additional[pattern] = cloudfront.BehaviorOptions(
                        origin=group,
                        viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                        allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                        cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD,
                        cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                        origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                        response_headers_policy=self.response_headers_policy,
                        compress=True,
                    )
            additional[api_path_pattern] = cloudfront.BehaviorOptions(
                origin=http[0],
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.HTTPS_ONLY,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                response_headers_policy=self.response_headers_policy,
                compress=True,
            )

        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"refarch edge: {self.node.path}",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=s3_origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                cache_policy=self.cache_policy,
                response_headers_policy=self.response_headers_policy,
                compress=True,
            ),
            additional_behaviors=additional,
            domain_names=[domain.domain, f"www.{domain.domain}"] if domain else None,
            certificate=self.certificate,
            # CloudFront's default certificate has a fixed policy; TLS 1.2 (2021) needs our own.
            minimum_protocol_version=cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if domain else None,
            ssl_support_method=cloudfront.SSLMethod.SNI if domain else None,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            enable_ipv6=True,
            price_class=price_class,
            geo_restriction=geo_restriction,
            web_acl_id=self.web_acl.attr_arn,
            error_responses=list(error_responses) if error_responses is not None else [
                cloudfront.ErrorResponse(http_status=403, response_http_status=404,
                                         response_page_path="/errors/404.html", ttl=cdk.Duration.seconds(60)),
                cloudfront.ErrorResponse(http_status=404, response_http_status=404,
                                         response_page_path="/errors/404.html", ttl=cdk.Duration.seconds(60)),
                *(cloudfront.ErrorResponse(http_status=code, ttl=cdk.Duration.seconds(10))
                  for code in (500, 502, 503, 504)),
            ],
        )
        self._log_to_bucket(stack)
        self._acknowledge(api_protocol, geo_restriction)
        if domain is not None:
            self._alias_records(domain)

        self.alarms = [
            cloudwatch.Alarm(
                self,
                "ErrorRateAlarm",
                alarm_description=f"{self.node.path}: more than 5% of requests end in 5xx",
                # CloudFront publishes in us-east-1 with Region=Global; without it the alarm never fires.
                metric=cloudwatch.Metric(
                    namespace="AWS/CloudFront",
                    metric_name="5xxErrorRate",
                    dimensions_map={"DistributionId": self.distribution.distribution_id, "Region": "Global"},
                    period=cdk.Duration.minutes(5),
                    statistic=cloudwatch.Stats.AVERAGE,
                ),
                threshold=5,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=3,
                datapoints_to_alarm=2,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
        ]
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        five = cdk.Duration.minutes(5)

        def cloudfront_metric(name: str, statistic: str) -> cloudwatch.Metric:
            # CloudFront publishes in us-east-1 with Region=Global.
            return cloudwatch.Metric(namespace="AWS/CloudFront", metric_name=name, statistic=statistic, period=five,
                                     dimensions_map={"DistributionId": self.distribution.distribution_id,
                                                     "Region": "Global"})

        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text("## Viewers: requests, error rates, bytes out (origin latency and health: each "
                         "regional origin's dashboard)"),
            observe.graph("Requests", [cloudfront_metric("Requests", "Sum")], width=6),
            observe.graph("4xx error rate (%)", [cloudfront_metric("4xxErrorRate", "Average")], width=6),
            observe.graph("5xx error rate (%)", [cloudfront_metric("5xxErrorRate", "Average")],
                          alarms=self.alarms, width=6),
            observe.graph("Bytes downloaded", [cloudfront_metric("BytesDownloaded", "Sum")], width=6),
        ]]
        waf_row = observe.web_acl_row(self.web_acl, "## Web ACL: allowed and blocked requests", period=five)
        if waf_row:
            rows.append(waf_row)
        return observe.pattern_dashboard(self, "Dashboard", title=f"Edge distribution {self.node.path}", rows=rows,
                                         alarms=self.alarms)

    def _log_to_bucket(self, stack: cdk.Stack) -> None:
        # Standard logging v2 (CloudWatch Logs vended delivery): no bucket ACLs,
        # so the log bucket keeps BucketOwnerEnforced and SSE-KMS.
        distribution_arn = stack.format_arn(
            service="cloudfront", region="", resource="distribution",
            resource_name=self.distribution.distribution_id,
        )
        source = logs.CfnDeliverySource(
            self, "LogSource", name=_physical_name(self, "LogSource"), log_type="ACCESS_LOGS",
            resource_arn=distribution_arn,
        )
        destination = logs.CfnDeliveryDestination(
            self, "LogDestination", name=_physical_name(self, "LogDestination"),
            destination_resource_arn=self.log_bucket.bucket_arn, output_format="parquet",
        )
        # Hive-compatible partitions (Athena, Glue) by distribution and hour; the lower-case
        # variable is the one Glue accepts as a partition name.
        self.log_delivery = logs.CfnDelivery(
            self, "LogDelivery", delivery_source_name=source.ref, delivery_destination_arn=destination.attr_arn,
            s3_enable_hive_compatible_path=True, s3_suffix_path=LOG_SUFFIX_PATH,
        )
        delivery_sources = stack.format_arn(service="logs", resource="delivery-source", resource_name="*",
                                            arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
        self.log_bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowLogDelivery",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["s3:PutObject"],
                resources=[self.log_bucket.arn_for_objects(f"{cloudfront_log_prefix(stack.account, hive=True)}*")],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account, "s3:x-amz-acl": "bucket-owner-full-control"},
                    "ArnLike": {"aws:SourceArn": delivery_sources},
                },
            )
        )
        # CreateDelivery checks that the bucket admits the delivery: the policy comes first.
        self.log_delivery.node.add_dependency(self.log_bucket.policy)
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowLogDeliveryToEncrypt",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:Decrypt"],
                resources=["*"],
                conditions={"StringEquals": {"aws:SourceAccount": stack.account},
                            "ArnLike": {"aws:SourceArn": delivery_sources}},
            )
        )
        cfn = self.distribution.node.default_child
        reason = ("Standard logging v2 delivers this distribution's access logs to an encrypted bucket through "
                  "AWS::Logs::Delivery (LogSource/LogDelivery beside it); the rule only sees the legacy Logging "
                  "property, which needs bucket ACLs.")
        secure.acknowledge(cfn, "AwsSolutions::AwsSolutions-CFR3", reason)
        secure.checkov_skip(cfn, "CKV_AWS_86", reason)

    def _acknowledge(self, api_protocol: cloudfront.OriginProtocolPolicy,
                     geo_restriction: cloudfront.GeoRestriction | None) -> None:
        cfn = self.distribution.node.default_child
        # S3BucketOrigin's key statement names distribution/* in this account: the
        # key policy cannot name a distribution that (through the bucket) depends on it.
        secure.acknowledge(
            self,
            "Annotation::@aws-cdk/aws-cloudfront-origins:wildcardKeyPolicyForOac",
            "The bucket policy admits only this distribution (AWS:SourceArn), so CloudFront can decrypt only "
            "objects S3 already served to it; the key policy cannot name the distribution without a cycle.",
        )
        if geo_restriction is None:
            secure.acknowledge(
                cfn, "AwsSolutions::AwsSolutions-CFR1",
                "A global application serves every country by default; pass geo_restriction to allow or deny "
                "countries where law or licensing requires it.",
            )
        if api_protocol == cloudfront.OriginProtocolPolicy.HTTP_ONLY:
            secure.acknowledge(
                cfn, "AwsSolutions::AwsSolutions-CFR5",
                "The caller chose api_protocol=HTTP_ONLY: the dynamic origin has no name a public certificate "
                "covers (no domain). The viewer side stays HTTPS only.",
            )

    def _alias_records(self, domain: SiteDomain) -> None:
        target = route53.RecordTarget.from_alias(targets.CloudFrontTarget(self.distribution))
        for name, record_name in (("Apex", domain.domain), ("Www", f"www.{domain.domain}")):
            route53.ARecord(self, f"{name}A", zone=domain.zone, record_name=record_name, target=target)
            route53.AaaaRecord(self, f"{name}Aaaa", zone=domain.zone, record_name=record_name, target=target)


#: Standard logging v2 to S3: below the key prefix, one partition per distribution and hour.
LOG_SUFFIX_PATH = "{distributionid}/{yyyy}/{MM}/{dd}/{HH}"


def cloudfront_log_prefix(account: str, *, hive: bool) -> str:
    """The key prefix CloudFront standard logging (v2) writes to a bucket given without a prefix.

    CloudFront puts ``AWSLogs/{account-id}/CloudFront/`` in front of the suffix path,
    and with Hive-compatible paths the account segment becomes ``aws-account-id=<id>``
    (the tables in "Example paths to access logs",
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html).
    """
    return f"AWSLogs/aws-account-id={account}/CloudFront/" if hive else f"AWSLogs/{account}/CloudFront/"


def _physical_name(scope: Construct, suffix: str) -> str:
    # CloudWatch Logs delivery sources and destinations need a name (1-60 characters).
    return cdk.Names.unique_resource_name(scope, max_length=60 - len(suffix), separator="-") + suffix


# --- Global Accelerator ---------------------------------------------------------------


@dataclass(frozen=True)
class AcceleratorListener:
    """One listener: TCP (or UDP) port ranges, with endpoint groups in every region.

    :param ports: ``(from, to)`` ranges, inclusive, 1-65535, not overlapping.
    :param protocol: default: TCP.
    :param client_affinity: ``SOURCE_IP`` keeps a client on the same endpoint.
        Default: none (each connection goes to the best endpoint).
    """

    ports: Sequence[tuple[int, int]]
    protocol: ga.ConnectionProtocol = ga.ConnectionProtocol.TCP
    client_affinity: ga.ClientAffinity = ga.ClientAffinity.NONE


@dataclass(frozen=True)
class RegionEndpoints:
    """The endpoints of one region.

    :param region: e.g. ``eu-west-1``.
    :param load_balancers: the region's ALBs, at most 10.
    :param traffic_dial: percent of the traffic meant for this region that it
        takes, 0-100; turn it down to drain a region. Default: 100.
    """

    region: str
    load_balancers: Sequence[elbv2.IApplicationLoadBalancer]
    traffic_dial: int = 100


DEFAULT_LISTENERS = (AcceleratorListener(ports=[(443, 443)]), AcceleratorListener(ports=[(80, 80)]))


class EdgeAccelerator(Construct):
    """A Global Accelerator with endpoint groups in two or more regions.

    Two static anycast IPv4 addresses (four with ``dual_stack``) announced from
    every edge location; traffic enters AWS's network at the nearest one and
    goes to the nearest region whose endpoints are healthy, keeping the client
    IP. Listeners default to TCP 443 and 80.

    Endpoint health is the ALBs' own: Global Accelerator ignores an endpoint
    group's health check settings for load balancer endpoints and treats an
    ALB as healthy while its target groups have healthy targets, so the
    settings that matter are the target group's (``RegionalOrigin``'s
    ``health_check_path``). A region with no healthy endpoint loses its
    traffic to the next-nearest region.

    :param regions: at least two, each with 1-10 ALBs.
    :param listeners: at most 10, port ranges not overlapping. Default: TCP 443 and TCP 80.
    :param dual_stack: IPv6 addresses too; every ALB must be dual-stack.
        Default: False (IPv4).
    :param record: a Route 53 zone and name to alias to the accelerator.
        Default: none.
    :param removal_policy: for the accelerator, whose static IPs clients and
        firewalls may have allow-listed. Default: RETAIN.
    """

    accelerator: ga.Accelerator
    listeners: list[ga.Listener]
    endpoint_groups: list[ga.EndpointGroup]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        regions: Sequence[RegionEndpoints],
        listeners: Sequence[AcceleratorListener] = DEFAULT_LISTENERS,
        dual_stack: bool = False,
        record: tuple[route53.IHostedZone, str] | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        _validate_accelerator(regions, listeners)
        if dual_stack:
            # Only known types are checked: an imported ALB may not say which it is.
            ipv4_only = [f"{group.region}: {alb.node.path}" for group in regions for alb in group.load_balancers
                         if alb.ip_address_type == elbv2.IpAddressType.IPV4]
            secure.require(not ipv4_only, "dual_stack", True,
                           f"needs dual-stack endpoints, and these ALBs are IPv4 only: {ipv4_only}")
        if record is not None:
            _require_domain("record", record[1])

        self.accelerator = ga.Accelerator(
            self, "Accelerator",
            ip_address_type=ga.IpAddressType.DUAL_STACK if dual_stack else ga.IpAddressType.IPV4,
        )
        self.accelerator.apply_removal_policy(removal_policy)
        self.listeners = []
        self.endpoint_groups = []
        for spec in listeners:
            first = spec.ports[0][0]
            listener = self.accelerator.add_listener(
                f"Listener{first}",
                port_ranges=[ga.PortRange(from_port=a, to_port=b) for a, b in spec.ports],
                protocol=spec.protocol,
                client_affinity=spec.client_affinity,
            )
            self.listeners.append(listener)
            for group in regions:
                self.endpoint_groups.append(
                    listener.add_endpoint_group(
                        _pascal(group.region),
                        region=group.region,
                        endpoints=[
                            ga_endpoints.ApplicationLoadBalancerEndpoint(alb, preserve_client_ip=True)
                            for alb in group.load_balancers
                        ],
                        traffic_dial_percentage=group.traffic_dial,
                    )
                )
        if record is not None:
            zone, name = record
            alias = route53.RecordTarget.from_alias(targets.GlobalAcceleratorTarget(self.accelerator))
            route53.ARecord(self, "AliasA", zone=zone, record_name=name, target=alias)
            if dual_stack:
                route53.AaaaRecord(self, "AliasAaaa", zone=zone, record_name=name, target=alias)


def _validate_accelerator(regions: Sequence[RegionEndpoints], listeners: Sequence[AcceleratorListener]) -> None:
    require = secure.require
    require(len(regions) >= 2, "regions", [r.region for r in regions],
            "must name at least two regions (one region needs no accelerator: use its ALB)")
    names = [r.region for r in regions]
    require(len(set(names)) == len(names), "regions", names, "must not name a region twice")
    for group in regions:
        _require_region("regions[].region", group.region)
        count = len(group.load_balancers)
        require(1 <= count <= MAX_ENDPOINTS_PER_GROUP, f"regions[{group.region}].load_balancers", count,
                f"must be 1 to {MAX_ENDPOINTS_PER_GROUP} endpoints (Global Accelerator's limit per endpoint group)")
        require(isinstance(group.traffic_dial, int) and 0 <= group.traffic_dial <= 100,
                f"regions[{group.region}].traffic_dial", group.traffic_dial, "must be 0 to 100 percent")
    require(1 <= len(listeners) <= MAX_LISTENERS, "listeners", len(listeners),
            f"must be 1 to {MAX_LISTENERS} (Global Accelerator's limit per accelerator)")
    taken: list[tuple[str, int, int, int]] = []  # (protocol, from, to, listener index)
    for index, spec in enumerate(listeners):
        require(len(spec.ports) >= 1, f"listeners[{index}].ports", list(spec.ports), "must name at least one range")
        for low, high in spec.ports:
            require(
                all(isinstance(p, int) and not isinstance(p, bool) for p in (low, high))
                and 1 <= low <= high <= 65535,
                f"listeners[{index}].ports", (low, high), "must be ranges (from, to) with 1 <= from <= to <= 65535",
            )
            proto = spec.protocol.value
            clash = [i for p, a, b, i in taken if p == proto and a <= high and low <= b]
            require(not clash, f"listeners[{index}].ports", (low, high),
                    f"must not overlap other {proto} port ranges (listeners[{clash[0] if clash else ''}])")
            taken.append((proto, low, high, index))
    firsts = [spec.ports[0][0] for spec in listeners]
    require(len(set(firsts)) == len(firsts), "listeners", firsts, "must start at distinct ports (their IDs)")


def _pascal(name: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[-_.]", name))
