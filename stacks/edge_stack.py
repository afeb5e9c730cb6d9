"""The edge pattern as deployable stacks, one set per app, across regions.

* ``<prefix>Origin<Region>`` (one per region in ``regions``): a VPC and the
  regional ALB (and, with a domain, its certificate, health check and latency
  record); the first also holds the origin header secret, replicated to the
  other regions and us-east-1, which every other stack reads after it;
* ``<prefix>Accelerator`` (us-west-2, where Global Accelerator's control plane
  lives; only with ``accelerator``): the accelerator with an endpoint group
  per region (and ``api.<domain>``);
* ``<prefix>Stack`` (us-east-1, where CloudFront reads certificates and web
  ACLs): WAF web ACL, certificate, distribution, apex and ``www`` records.

Values cross regions (ALB ARNs and names, the accelerator's name, the origin
secret's replica ARNs) as stack
outputs read with ``Fn::GetStackOutput`` (the ``defaultCrossStackReferences:
weak`` flag in cdk.json): no custom resource, no SSM parameter. ``cdk deploy --all`` deploys the stacks in
dependency order: origins, accelerator, distribution.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from refarch import observe, secure
from refarch.edge import (
    CLOUDFRONT_REGION,
    EdgeAccelerator,
    ORIGIN_SERVICE_ENDPOINTS,
    EdgeDistribution,
    OriginDomain,
    OriginVerify,
    OriginVerifySecret,
    RegionalOrigin,
    RegionEndpoints,
    SiteDomain,
)

#: Global Accelerator's API (and so its CloudFormation resources) is in us-west-2.
ACCELERATOR_REGION = "us-west-2"
#: Used when no account is configured: synth stays offline; deploy needs the real one.
PLACEHOLDER_ACCOUNT = "123456789012"
DEFAULT_REGIONS = ("us-east-1", "eu-west-1")
#: Without a domain or an accelerator, paths under this one only read (GET, HEAD,
#: OPTIONS) and fail over between the first two regions' ALBs; everything else
#: under ``/api/*`` goes to the first region's ALB.
READ_ONLY_API_PATH = "/api/read/*"


def region_id(region: str) -> str:
    """``eu-west-1`` -> ``EuWest1``."""
    return "".join(part.capitalize() for part in region.split("-"))


def _verify_secret_output(region: str) -> str:
    return f"OriginVerifySecretArn{region_id(region)}"


def _origin_verify(scope: cdk.Stack, secret_stack: EdgeOriginStack, version: str | None,
                   previous_version: str | None) -> OriginVerify:
    """The origin secret as ``scope`` reads it: its own, or the replica in its region,
    whose ARN the secret's stack publishes (deployed first)."""
    if scope is secret_stack:
        secret = secret_stack.origin_verify_secret.secret
    else:
        scope.add_stack_dependency(secret_stack)
        arn = cdk.Fn.get_stack_output(secret_stack.stack_name, _verify_secret_output(scope.region),
                                      secret_stack.region)
        secret = secretsmanager.Secret.from_secret_complete_arn(scope, "OriginVerifySecret", arn)
    return OriginVerify(secret=secret, version_id=version, previous_version_id=previous_version)


def _zone(scope: Construct, domain: str | None, zone_id: str | None) -> route53.IHostedZone | None:
    if domain is None:
        return None
    return route53.PublicHostedZone.from_hosted_zone_attributes(scope, "Zone", hosted_zone_id=zone_id,
                                                                zone_name=domain)


class EdgeOriginStack(cdk.Stack):
    """One region: a VPC (``secure.Network`` with the endpoints an ECS service needs) and the
    regional ALB, which forwards only requests carrying CloudFront's secret header.

    The first region's stack holds the secret (``secret_replica_regions``: where it is
    replicated, with an output of each replica's ARN); the others read their replica
    (``secret_stack``).
    """

    origin_verify_secret: OriginVerifySecret | None

    def __init__(self, scope: Construct, construct_id: str, *, domain: str | None = None,
                 hosted_zone_id: str | None = None, extra_names: Sequence[str] = (),
                 failover: route53.Failover | None = None, alarm_email: str | None = None,
                 secret_replica_regions: Sequence[str] | None = None, secret_stack: EdgeOriginStack | None = None,
                 secret_version: str | None = None, secret_previous_version: str | None = None,
                 **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.origin_verify_secret = None
        if secret_replica_regions is not None:
            self.origin_verify_secret = OriginVerifySecret(self, "OriginVerify",
                                                           replica_regions=secret_replica_regions)
            for region in sorted({*secret_replica_regions, CLOUDFRONT_REGION}):
                cdk.CfnOutput(self, _verify_secret_output(region),
                              value=self.origin_verify_secret.replica_arn(region),
                              description=f"The origin header secret's ARN in {region} (not its value)")
        origin_verify = _origin_verify(self, secret_stack or self, secret_version, secret_previous_version)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        # The documented ECS service runs in the private subnets, which have no NAT.
        network = secure.Network(self, "Network", interface_endpoints=ORIGIN_SERVICE_ENDPOINTS)
        access_logs = secure.access_logs_bucket(self, "AccessLogs")
        zone = _zone(self, domain, hosted_zone_id)
        self.origin = RegionalOrigin(
            self,
            "Origin",
            vpc=network.vpc,
            access_logs=access_logs,
            domain=OriginDomain(zone=zone, domain=domain, extra_names=extra_names, failover=failover) if zone else None,
            origin_verify=origin_verify,
            alarm_topic=alarms.topic,
        )
        cdk.CfnOutput(self, "LoadBalancerDnsName", value=self.origin.load_balancer.load_balancer_dns_name,
                      description="The regional ALB")
        cdk.CfnOutput(self, "TargetGroupArn", value=self.origin.target_group.target_group_arn,
                      description="Register the application's IP targets here")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.origin.dashboard),
                      description="The pattern's CloudWatch dashboard")


class EdgeAcceleratorStack(cdk.Stack):
    """The accelerator, with an endpoint group per region."""

    def __init__(self, scope: Construct, construct_id: str, *, origins: Sequence[RegionalOrigin],
                 domain: str | None = None, hosted_zone_id: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        zone = _zone(self, domain, hosted_zone_id)
        self.accelerator = EdgeAccelerator(
            self,
            "Edge",
            regions=[RegionEndpoints(region=cdk.Stack.of(o).region, load_balancers=[o.load_balancer])
                     for o in origins],
            record=(zone, f"api.{domain}") if zone else None,
        )
        cdk.CfnOutput(self, "AcceleratorDnsName", value=self.accelerator.accelerator.dns_name,
                      description="Two static anycast IPs behind this name")
        cdk.CfnOutput(self, "AcceleratorIps", value=cdk.Fn.join(",", self.accelerator.accelerator.ipv4_addresses),
                      description="The static IPv4 addresses")


class EdgeStack(cdk.Stack):
    """us-east-1: WAF, certificate, distribution, apex and www records."""

    def __init__(self, scope: Construct, construct_id: str, *, api_origins: Sequence[str],
                 api_protocol: cloudfront.OriginProtocolPolicy, secret_stack: EdgeOriginStack,
                 api_read_path_patterns: Sequence[str] = (), domain: str | None = None,
                 hosted_zone_id: str | None = None, alarm_email: str | None = None,
                 secret_version: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        # CloudFront sends only the pinned (or current) version; the ALBs also accept the previous one.
        origin_verify = _origin_verify(self, secret_stack, secret_version, None)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        zone = _zone(self, domain, hosted_zone_id)
        self.edge = EdgeDistribution(
            self,
            "Site",
            api_origins=api_origins,
            api_protocol=api_protocol,
            api_read_path_patterns=api_read_path_patterns,
            origin_verify=origin_verify,
            domain=SiteDomain(zone=zone, domain=domain) if zone else None,
            alarm_topic=alarms.topic,
        )
        if zone is None:
            cfn = self.edge.distribution.node.default_child
            reason = ("Without a domain the distribution serves *.cloudfront.net with CloudFront's default "
                      "certificate, whose policy CloudFront fixes; give edge_domain for TLSv1.2_2021 with an "
                      "ACM certificate.")
            secure.acknowledge(cfn, "AwsSolutions::AwsSolutions-CFR4", reason)
            secure.checkov_skip(cfn, "CKV_AWS_174", reason)
        cdk.CfnOutput(self, "DistributionDomainName", value=self.edge.distribution.distribution_domain_name,
                      description="The site, on CloudFront's default name")
        cdk.CfnOutput(self, "ContentBucketName", value=self.edge.content_bucket.bucket_name,
                      description="Upload static content here (index.html, errors/404.html)")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.edge.dashboard),
                      description="The pattern's CloudWatch dashboard")


def build_edge(
    app: cdk.App,
    prefix: str = "Edge",
    *,
    account: str = PLACEHOLDER_ACCOUNT,
    regions: Sequence[str] = DEFAULT_REGIONS,
    domain: str | None = None,
    hosted_zone_id: str | None = None,
    accelerator: bool = False,
    failover: bool = False,
    origin_secret_version: str | None = None,
    origin_secret_previous_version: str | None = None,
    alarm_email: str | None = None,
) -> dict[str, cdk.Stack]:
    """Every stack of the edge pattern, keyed by stack ID.

    ``failover``: ``origin.<domain>`` is failover-routed, the first region
    primary and the second standby, instead of latency-routed.
    ``origin_secret_version`` / ``origin_secret_previous_version``: pin the
    origin header secret's version that CloudFront sends and the ALBs accept,
    and the one the ALBs still accept (a rotation; docs/edge.md).
    """
    secure.require(bool(re.fullmatch(r"\d{12}", account)), "edge_account", account, "must be a 12-digit account ID")
    secure.require(len(regions) >= (2 if accelerator else 1) and len(set(regions)) == len(regions),
                   "edge_regions", list(regions),
                   "must name distinct regions, at least two with an accelerator" if accelerator
                   else "must name at least one region, each once")
    secure.require((domain is None) == (hosted_zone_id is None), "edge_hosted_zone_id", hosted_zone_id,
                   "and edge_domain go together: the records and certificates need both")
    secure.require(hosted_zone_id is None or bool(re.fullmatch(r"Z[A-Z0-9]{1,31}", hosted_zone_id)),
                   "edge_hosted_zone_id", hosted_zone_id, "must be a Route 53 hosted zone ID such as Z0123456789ABC")
    secure.require(not failover or (domain is not None and len(regions) == 2), "edge_failover", failover,
                   "needs edge_domain and exactly two edge_regions (a primary and a standby)")
    for key, version in (("edge_origin_secret_version", origin_secret_version),
                         ("edge_origin_secret_previous_version", origin_secret_previous_version)):
        secure.require(version is None or bool(re.fullmatch(r"[A-Za-z0-9-]{32,64}", version)), key, version,
                       "must be a Secrets Manager version ID (aws secretsmanager list-secret-version-ids)")
    secure.require(origin_secret_previous_version is None or origin_secret_version is not None,
                   "edge_origin_secret_previous_version", origin_secret_previous_version,
                   "needs edge_origin_secret_version (the new version it is accepted beside)")
    stacks: dict[str, cdk.Stack] = {}
    origins: list[RegionalOrigin] = []
    secret_stack: EdgeOriginStack | None = None
    # The origin header secret lives in the first region, replicated to the others and to CloudFront's.
    replicas = [r for r in dict.fromkeys([*regions[1:], CLOUDFRONT_REGION]) if r != regions[0]]
    extra = [f"api.{domain}"] if domain and accelerator else []
    roles = (route53.Failover.PRIMARY, route53.Failover.SECONDARY) if failover else (None,) * len(regions)
    for region, role in zip(regions, roles, strict=True):
        stack_id = f"{prefix}Origin{region_id(region)}"
        stack = EdgeOriginStack(
            app, stack_id, env=cdk.Environment(account=account, region=region), domain=domain,
            hosted_zone_id=hosted_zone_id, extra_names=extra, failover=role, alarm_email=alarm_email,
            secret_replica_regions=replicas if secret_stack is None else None, secret_stack=secret_stack,
            secret_version=origin_secret_version, secret_previous_version=origin_secret_previous_version,
            description=f"refarch edge: the regional origin in {region}", termination_protection=True,
        )
        secret_stack = secret_stack or stack
        stacks[stack_id] = stack
        origins.append(stack.origin)

    if accelerator:
        accel = EdgeAcceleratorStack(
            app, f"{prefix}Accelerator", env=cdk.Environment(account=account, region=ACCELERATOR_REGION),
            origins=origins, domain=domain, hosted_zone_id=hosted_zone_id,
            description="refarch edge: Global Accelerator in front of the regional origins",
            termination_protection=True,
        )
        stacks[accel.stack_name] = accel

    read_paths: tuple[str, ...] = ()
    if domain:
        # One name that fails over by itself (latency or failover records, or the accelerator):
        # CloudFront's origin groups cannot carry a read/write API.
        api_origins = [f"api.{domain}" if accelerator else f"origin.{domain}"]
        protocol = cloudfront.OriginProtocolPolicy.HTTPS_ONLY
    else:
        # No name a certificate could cover: the hop to the origin is HTTP (see docs/edge.md).
        api_origins = [accel.accelerator.accelerator.dns_name] if accelerator \
            else [o.load_balancer.load_balancer_dns_name for o in origins[:2]]
        read_paths = (READ_ONLY_API_PATH,) if len(api_origins) == 2 else ()
        protocol = cloudfront.OriginProtocolPolicy.HTTP_ONLY
    edge = EdgeStack(
        app, f"{prefix}Stack", env=cdk.Environment(account=account, region=CLOUDFRONT_REGION),
        api_origins=api_origins, api_protocol=protocol, api_read_path_patterns=read_paths, domain=domain,
        secret_stack=secret_stack, secret_version=origin_secret_version, hosted_zone_id=hosted_zone_id,
        alarm_email=alarm_email, description="refarch edge: CloudFront, WAF and DNS (us-east-1)",
        termination_protection=True,
    )
    # By name (with a domain) there is no reference to order the stacks; the
    # distribution still goes last, so its origin answers from the start.
    edge.add_stack_dependency(accel if accelerator else stacks[f"{prefix}Origin{region_id(regions[0])}"])
    stacks[edge.stack_name] = edge
    return stacks
