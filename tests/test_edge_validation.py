"""Every bad edge input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_globalaccelerator as ga
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_wafv2 as wafv2

from refarch import secure
from refarch.edge import (
    AcceleratorListener,
    EdgeAccelerator,
    EdgeDistribution,
    EdgeWebAcl,
    OriginDomain,
    OriginVerify,
    OriginVerifySecret,
    RegionalOrigin,
    RegionEndpoints,
    SiteDomain,
)
from stacks.edge_stack import build_edge
from tests.conftest import new_app

ACCOUNT = "123456789012"


def _stack(region: str = "us-east-1") -> cdk.Stack:
    return cdk.Stack(new_app(), "Bad", env=cdk.Environment(account=ACCOUNT, region=region))


def _zone(stack: cdk.Stack) -> route53.IHostedZone:
    return route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z1",
                                                                zone_name="example.com")


def _albs(stack: cdk.Stack, region: str, n: int = 1) -> list[elbv2.IApplicationLoadBalancer]:
    return [
        elbv2.ApplicationLoadBalancer.from_application_load_balancer_attributes(
            stack, f"Alb{region}{n}x{i}", security_group_id="sg-1",
            load_balancer_arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}:loadbalancer/app/a/{i}")
        for i in range(n)
    ]


def _regions(stack: cdk.Stack, **kwargs) -> list[RegionEndpoints]:
    return [RegionEndpoints(region="us-east-1", load_balancers=_albs(stack, "us-east-1")),
            RegionEndpoints(region="eu-west-1", load_balancers=_albs(stack, "eu-west-1"), **kwargs)]


# --- EdgeDistribution and EdgeWebAcl --------------------------------------------------

DISTRIBUTION = {
    "invalid domain": (lambda s: dict(domain=SiteDomain(zone=_zone(s), domain="Example..com")),
                       "domain.domain must be a lower-case DNS name such as 'example.com'"),
    "domain with a scheme": (lambda s: dict(domain=SiteDomain(zone=_zone(s), domain="https://example.com")),
                             "(got 'https://example.com')"),
    "three api origins": (lambda s: dict(api_origins=["a.example.com", "b.example.com", "c.example.com"]),
                          "api_origins must name at most two origins (a primary and a fallback)"),
    "api origin not a name": (lambda s: dict(api_origins=["http://alb"]),
                              "api_origins[] must be a DNS name (got 'http://alb')"),
    "match viewer": (lambda s: dict(api_origins=["a.example.com"],
                                    api_protocol=cloudfront.OriginProtocolPolicy.MATCH_VIEWER),
                     "api_protocol must be HTTPS_ONLY or HTTP_ONLY"),
    "two origins for a read/write api only": (
        lambda s: dict(api_origins=["a.example.com", "b.example.com"]),
        "api_read_path_patterns must name at least one path with two api_origins: the fallback origin serves "
        "only read-only paths (CloudFront fails over GET, HEAD and OPTIONS only)"),
    "read paths without a fallback": (
        lambda s: dict(api_origins=["a.example.com"], api_read_path_patterns=["/api/read/*"]),
        "api_read_path_patterns needs two api_origins (a primary and a fallback) (got ['/api/read/*'])"),
    "read path is the api path": (
        lambda s: dict(api_origins=["a.example.com", "b.example.com"], api_read_path_patterns=["/api/*"]),
        "api_read_path_patterns must be distinct and differ from api_path_pattern (got ['/api/*'])"),
    "read path twice": (
        lambda s: dict(api_origins=["a.example.com", "b.example.com"], api_read_path_patterns=["/r/*", "/r/*"]),
        "api_read_path_patterns must be distinct"),
    "read path relative": (
        lambda s: dict(api_origins=["a.example.com", "b.example.com"], api_read_path_patterns=["r/*"]),
        "api_read_path_patterns[] must start with '/' and not be '/*' (that is the S3 default) (got 'r/*')"),
    "verify without api": (lambda s: dict(origin_verify=_verify(s)),
                           "origin_verify needs api_origins: the header goes to the dynamic origins "
                           "(got 'X-Origin-Verify')"),
    "api path is the default": (lambda s: dict(api_path_pattern="/*"),
                                "api_path_pattern must start with '/' and not be '/*'"),
    "api path relative": (lambda s: dict(api_path_pattern="api/*"), "(got 'api/*')"),
    "origin shield region": (lambda s: dict(origin_shield_region="Europe"),
                             "origin_shield_region must be an AWS region such as 'eu-west-1' (got 'Europe')"),
    "empty csp": (lambda s: dict(content_security_policy=" "),
                  "content_security_policy must be one non-empty header value"),
    "log expiration": (lambda s: dict(log_expiration=cdk.Duration.hours(1)),
                       "log_expiration must be a whole number of days, at least one (S3 lifecycle counts days) "
                       "(got '3600 s')"),
}


@pytest.mark.parametrize("case", DISTRIBUTION)
def test_distribution_rejects(case: str) -> None:
    make, message = DISTRIBUTION[case]
    stack = _stack()
    with pytest.raises(ValueError, match=re.escape(message)):
        EdgeDistribution(stack, "Site", **make(stack))


def test_distribution_rejects_a_regional_web_acl() -> None:
    stack = _stack()
    regional = wafv2.CfnWebACL(
        stack, "Regional", scope="REGIONAL", default_action=wafv2.CfnWebACL.DefaultActionProperty(allow={}),
        visibility_config=wafv2.CfnWebACL.VisibilityConfigProperty(
            cloud_watch_metrics_enabled=True, metric_name="r", sampled_requests_enabled=True),
    )
    with pytest.raises(ValueError, match=re.escape("web_acl.scope must be CLOUDFRONT (a REGIONAL web ACL protects "
                                                   "ALBs and APIs, not distributions) (got 'REGIONAL')")):
        EdgeDistribution(stack, "Site", web_acl=regional)


def test_distribution_outside_us_east_1() -> None:
    with pytest.raises(ValueError, match=re.escape("region must be us-east-1: the certificate, the web ACL and the "
                                                   "metrics for CloudFront can only be created there")):
        EdgeDistribution(_stack("eu-west-1"), "Site")


WEB_ACL = {
    "rate limit too low": (dict(rate_limit=9),
                           "rate_limit must be a whole number from 10 to 2,000,000,000 (WAF's range) (got 9)"),
    "rate limit not whole": (dict(rate_limit=100.5), "(got 100.5)"),
    "rate window": (dict(rate_window=cdk.Duration.minutes(3)),
                    "rate_window must be 1, 2, 5 or 10 minutes (got '180 s')"),
    "unknown rule group": (dict(managed_rule_groups=["CommonRuleSet"]),
                           "managed_rule_groups must be distinct AWS managed rule group names (got ['CommonRuleSet'])"),
    "duplicate rule group": (dict(managed_rule_groups=["AWSManagedRulesCommonRuleSet"] * 2), "must be distinct"),
}


@pytest.mark.parametrize("case", WEB_ACL)
def test_web_acl_rejects(case: str) -> None:
    kwargs, message = WEB_ACL[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        EdgeWebAcl(_stack(), "Acl", **kwargs)


def test_web_acl_outside_us_east_1() -> None:
    with pytest.raises(ValueError, match=re.escape("region must be us-east-1: a web ACL of scope CLOUDFRONT for "
                                                   "CloudFront can only be created there (put this construct in a "
                                                   "us-east-1 stack) (got 'eu-west-1')")):
        EdgeWebAcl(_stack("eu-west-1"), "Acl")


VERSION = "a1b2c3d4-0000-4000-8000-000000000001"


def _verify(stack: cdk.Stack, **kwargs) -> OriginVerify:
    secret = secretsmanager.Secret.from_secret_complete_arn(
        stack, "Verify", f"arn:aws:secretsmanager:{stack.region}:{ACCOUNT}:secret:v-AbCdEf")
    return OriginVerify(secret=secret, **kwargs)


# --- RegionalOrigin ---------------------------------------------------------------------

ORIGIN = {
    "verify version not an id": (lambda s: dict(origin_verify=_verify(s, version_id="latest")),
                                 "origin_verify.version_id must be a Secrets Manager version ID (32 to 64 letters, "
                                 "digits or hyphens) (got 'latest')"),
    "verify previous without version": (lambda s: dict(origin_verify=_verify(s, previous_version_id=VERSION)),
                                        "origin_verify.previous_version_id needs version_id"),
    "verify previous is the version": (
        lambda s: dict(origin_verify=_verify(s, version_id=VERSION, previous_version_id=VERSION)),
        f"origin_verify.previous_version_id must differ from version_id (got '{VERSION}')"),
    "verify header": (lambda s: dict(origin_verify=_verify(s, header="X Origin")),
                      "origin_verify.header must be an HTTP header name (letters, digits, hyphens) (got 'X Origin')"),
    "target port": (lambda s: dict(target_port=70000), "target_port must be a port from 1 to 65535 (got 70000)"),
    "health path": (lambda s: dict(health_check_path="health"),
                    "health_check_path must be an absolute URL path such as "
                                                                "'/health' (got 'health')"),
    "empty allow_from": (lambda s: dict(allow_from=[]), "allow_from must name at least one peer"),
    "invalid origin domain": (lambda s: dict(domain=OriginDomain(zone=_zone(s), domain="-bad.com")),
                              "domain.domain must be a lower-case DNS name such as 'example.com' (labels of letters, "
                              "digits and hyphens) (got '-bad.com')"),
    "failover not an enum": (lambda s: dict(domain=OriginDomain(zone=_zone(s), domain="example.com",
                                                                failover="PRIMARY")),
                             "domain.failover must be route53.Failover.PRIMARY or SECONDARY (got 'PRIMARY')"),
    "invalid extra name": (lambda s: dict(domain=OriginDomain(zone=_zone(s), domain="example.com",
                                                              extra_names=["api example.com"])),
                           "domain.extra_names[] must be a lower-case DNS name"),
}


@pytest.mark.parametrize("case", ORIGIN)
def test_origin_rejects(case: str) -> None:
    make, message = ORIGIN[case]
    stack = _stack("eu-west-1")
    bucket = s3.Bucket.from_bucket_name(stack, "Logs", "logs")
    from aws_cdk import aws_ec2 as ec2

    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-1", availability_zones=["eu-west-1a"],
                                      public_subnet_ids=["subnet-1"], vpc_cidr_block="10.0.0.0/16")
    with pytest.raises(ValueError, match=re.escape(message)):
        RegionalOrigin(stack, "Origin", vpc=vpc, access_logs=bucket, **make(stack))


def test_origin_with_domain_needs_an_explicit_region() -> None:
    stack = cdk.Stack(new_app(), "Agnostic")
    network = secure.Network(stack, "Network")
    with pytest.raises(ValueError, match=re.escape("region must be explicit (a stack with an env) to name the "
                                                   "regional record")):
        RegionalOrigin(stack, "Origin", vpc=network.vpc, access_logs=secure.access_logs_bucket(stack, "L"),
                       domain=OriginDomain(zone=_zone(stack), domain="example.com"))


@pytest.mark.parametrize(("regions", "message"), [
    (["eu-west-1"], "replica_regions must be distinct and not the secret's own region (eu-west-1) (got ['eu-west-1'])"),
    (["us-east-1", "us-east-1"], "replica_regions must be distinct"),
    (["Europe"], "replica_regions[] must be an AWS region such as 'eu-west-1' (got 'Europe')"),
])
def test_origin_secret_rejects(regions: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        OriginVerifySecret(_stack("eu-west-1"), "Verify", replica_regions=regions)


def test_origin_secret_needs_an_explicit_region() -> None:
    with pytest.raises(ValueError, match=re.escape("region must be explicit (a stack with an env) to name the "
                                                   "replicas' ARNs")):
        OriginVerifySecret(cdk.Stack(new_app(), "Agnostic"), "Verify")


# --- EdgeAccelerator ----------------------------------------------------------------------

ACCELERATOR = {
    "one region": (lambda s: dict(regions=_regions(s)[:1]),
                   "regions must name at least two regions (one region needs no accelerator: use its ALB) "
                   "(got ['us-east-1'])"),
    "region twice": (lambda s: dict(regions=[RegionEndpoints(region="us-east-1", load_balancers=_albs(s, "us-east-1")),
                 RegionEndpoints(region="us-east-1", load_balancers=_albs(s, "us-east-1b"))]),
                     "regions must not name a region twice (got ['us-east-1', 'us-east-1'])"),
    "bad region": (lambda s: dict(regions=[RegionEndpoints(region="mars-1", load_balancers=_albs(s, "m")),
                                           *_regions(s)[1:]]),
                   "regions[].region must be an AWS region such as 'eu-west-1' (got 'mars-1')"),
    "eleven endpoints": (lambda s: dict(regions=[RegionEndpoints(region="us-east-1",
                                                                 load_balancers=_albs(s, "us-east-1", 11)),
                                                 *_regions(s)[1:]]),
                         "regions[us-east-1].load_balancers must be 1 to 10 endpoints (Global Accelerator's limit per "
                         "endpoint group) (got 11)"),
    "no endpoints": (lambda s: dict(regions=[RegionEndpoints(region="us-east-1", load_balancers=[]),
                                             *_regions(s)[1:]]), "(got 0)"),
    "traffic dial": (lambda s: dict(regions=_regions(s, traffic_dial=101)),
                     "regions[eu-west-1].traffic_dial must be 0 to 100 percent (got 101)"),
    "eleven listeners": (lambda s: dict(regions=_regions(s),
                                        listeners=[AcceleratorListener(ports=[(p, p)]) for p in range(1, 12)]),
                         "listeners must be 1 to 10 (Global Accelerator's limit per accelerator) (got 11)"),
    "no listeners": (lambda s: dict(regions=_regions(s), listeners=[]), "listeners must be 1 to 10"),
    "port zero": (lambda s: dict(regions=_regions(s), listeners=[AcceleratorListener(ports=[(0, 80)])]),
                  "listeners[0].ports must be ranges (from, to) with 1 <= from <= to <= 65535 (got (0, 80))"),
    "reversed range": (lambda s: dict(regions=_regions(s), listeners=[AcceleratorListener(ports=[(443, 80)])]),
                       "(got (443, 80))"),
    "port too high": (lambda s: dict(regions=_regions(s), listeners=[AcceleratorListener(ports=[(443, 65536)])]),
                      "(got (443, 65536))"),
    "no ranges": (lambda s: dict(regions=_regions(s), listeners=[AcceleratorListener(ports=[])]),
                  "listeners[0].ports must name at least one range (got [])"),
    "overlapping ranges": (lambda s: dict(regions=_regions(s), listeners=[
        AcceleratorListener(ports=[(80, 90)]), AcceleratorListener(ports=[(85, 85)])]),
        "listeners[1].ports must not overlap other TCP port ranges (listeners[0]) (got (85, 85))"),
    "record name": (lambda s: dict(regions=_regions(s), record=(_zone(s), "api_example.com")),
                    "record must be a lower-case DNS name"),
}


@pytest.mark.parametrize("case", ACCELERATOR)
def test_accelerator_rejects(case: str) -> None:
    make, message = ACCELERATOR[case]
    stack = _stack("us-west-2")
    with pytest.raises(ValueError, match=re.escape(message)):
        EdgeAccelerator(stack, "Accel", **make(stack))


def test_dual_stack_accelerator_rejects_ipv4_only_albs() -> None:
    stack = _stack("us-west-2")
    from aws_cdk import aws_ec2 as ec2

    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0)
    ipv4 = elbv2.ApplicationLoadBalancer(stack, "Ipv4Alb", vpc=vpc, internet_facing=True)
    regions = [RegionEndpoints(region="us-east-1", load_balancers=[ipv4]), *_regions(stack)[1:]]
    with pytest.raises(ValueError, match=re.escape("dual_stack needs dual-stack endpoints, and these ALBs are IPv4 "
                                                   "only: ['us-east-1: Bad/Ipv4Alb'] (got True)")):
        EdgeAccelerator(stack, "Accel", regions=regions, dual_stack=True)


def test_udp_and_tcp_may_share_a_port_range() -> None:
    stack = _stack("us-west-2")
    accel = EdgeAccelerator(stack, "Accel", regions=_regions(stack), listeners=[
        AcceleratorListener(ports=[(443, 443)]),
        AcceleratorListener(ports=[(444, 450), (53, 53)], protocol=ga.ConnectionProtocol.UDP)])
    assert len(accel.listeners) == 2 and len(accel.endpoint_groups) == 4


# --- the app's configuration ------------------------------------------------------------

APP = {
    "account": (dict(account="1234"), "edge_account must be a 12-digit account ID (got '1234')"),
    "no regions": (dict(regions=()), "edge_regions must name at least one region, each once (got [])"),
    "accelerator with one region": (dict(regions=("us-east-1",), accelerator=True),
                                    "edge_regions must name distinct regions, at least two with an accelerator "
                                    "(got ['us-east-1'])"),
    "domain without zone": (dict(domain="example.com"), "edge_hosted_zone_id and edge_domain go together"),
    "zone without domain": (dict(hosted_zone_id="Z1"), "(got 'Z1')"),
    "bad zone id": (dict(domain="example.com", hosted_zone_id="zone-1"),
                    "edge_hosted_zone_id must be a Route 53 hosted zone ID such as Z0123456789ABC (got 'zone-1')"),
    "bad domain": (dict(domain="EXAMPLE.COM", hosted_zone_id="Z1"), "domain.domain must be a lower-case DNS name"),
    "failover without a domain": (dict(failover=True), "edge_failover needs edge_domain and exactly two edge_regions "
                                                       "(a primary and a standby) (got True)"),
    "secret version": (dict(origin_secret_version="v2"),
                       "edge_origin_secret_version must be a Secrets Manager version ID "
                       "(aws secretsmanager list-secret-version-ids) (got 'v2')"),
    "previous secret version alone": (dict(origin_secret_previous_version=VERSION),
                                      "edge_origin_secret_previous_version needs edge_origin_secret_version"),
    "failover over three regions": (dict(failover=True, domain="example.com", hosted_zone_id="Z1",
                                         regions=("us-east-1", "eu-west-1", "ap-southeast-2")),
                                    "edge_failover needs edge_domain and exactly two edge_regions"),
}


@pytest.mark.parametrize("case", APP)
def test_app_configuration_rejects(case: str) -> None:
    kwargs, message = APP[case]
    with pytest.raises(ValueError, match=re.escape(message)):
        build_edge(new_app(), **kwargs)


def test_regional_origin_refuses_a_cloudfront_web_acl() -> None:
    stack = _stack("eu-west-1")
    network = secure.Network(stack, "Net")
    acl = wafv2.CfnWebACL(stack, "Acl", scope="CLOUDFRONT", default_action={"allow": {}},
                          visibility_config={"cloudWatchMetricsEnabled": True, "metricName": "m",
                                             "sampledRequestsEnabled": True})
    with pytest.raises(ValueError, match=r"web_acl.scope must be REGIONAL .*\(got 'CLOUDFRONT'\)"):
        RegionalOrigin(stack, "Origin", vpc=network.vpc, access_logs=secure.access_logs_bucket(stack, "L"),
                       web_acl=acl)
