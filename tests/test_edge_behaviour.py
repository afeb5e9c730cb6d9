"""Behaviour: the synthesized regional origin stacks, deployed into moto.

What moto proves here, on the us-east-1 origin stacks (with and without a
domain): the VPC, security group, ALB, listeners and target group deploy as
synthesized and the ELBv2/EC2 APIs report them so (internet-facing in the
public subnets of two zones, ingress on the listener ports only, listener
ports and actions, TLS policy and certificate,
IP targets registering on the application port); the certificate covers every
name the records use; the latency-routed ``origin.<domain>`` record carries
its region, set identifier and the health check that probes
``<region>.origin.<domain>``; the access-log bucket policy is accepted by S3.

What it cannot, and where it is proven instead:

* CloudFront, WAF and Global Accelerator: moto has no CloudFormation support
  for them (nor a data plane): template assertions (tests/test_edge.py) and
  the gates only; a real deployment proves caching, OAC, WAF blocking,
  anycast routing and failover.
* Latency routing and health-based failover: moto stores the records but
  does not answer DNS by latency or health; a real deployment proves them.
* moto's CloudFormation ignores an ALB's ``LoadBalancerAttributes``
  (deletion protection, invalid-header dropping, access logs), keeps the
  default allow-all egress rule beside a security group's declared egress,
  does not link subnets to route tables, leaves the ALB's
  ``CanonicalHostedZoneID`` unresolved and drops a health check's
  ``EnableSNI``; it creates no alarms and enforces no resource policy. All of
  these are asserted on the template instead (tests/test_edge.py).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from tests.cases.edge import DOMAIN, ZONE_ID
from tests.conftest import Assembly
from tests.moto_cfn import ACCOUNT, REGION, DeployedStack, deploy
from tests.moto_edge import (
    apply_bucket_policies,
    apply_certificates,
    apply_secrets,
    with_hosted_zone,
    without_cdk_providers,
)

ALLOWED_SKIPS = {
    "AWS::S3::BucketPolicy": "applied by apply_bucket_policies from the template's own properties",
    "AWS::SNS::TopicPolicy": "moto does not enforce resource policies; the alarm topic's policy is secure.AlarmTopic's",
    "AWS::CloudWatch::Alarm": "moto cannot evaluate ELB metrics; metrics, dimensions and thresholds are asserted on "
                              "the template",
    "AWS::CloudWatch::Dashboard": "moto does not create dashboards; tests/test_dashboards.py asserts each body on the template",
    "AWS::CDK::Metadata": "version reporting only; no runtime effect",
    "AWS::WAFv2::WebACL": "moto's CloudFormation does not create web ACLs; the regional ACL's rules, association "
                          "and logging are asserted on the template (tests/test_hardening.py)",
    "AWS::WAFv2::WebACLAssociation": "needs the web ACL moto's CloudFormation does not create; asserted on the template",
    "AWS::WAFv2::LoggingConfiguration": "needs the web ACL moto's CloudFormation does not create; asserted on the "
                                        "template",
}
#: ELB's log-delivery account in us-east-1.
ELB_ACCOUNT_US_EAST_1 = "127311923021"


@pytest.fixture(scope="module")
def deployed(assembly: Assembly) -> Iterator[dict]:
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=REGION)
    with mock_aws():
        zone_id = boto3.client("route53").create_hosted_zone(Name=DOMAIN, CallerReference="edge")["HostedZone"][
            "Id"].split("/")[-1]
        template, plain_secrets = apply_secrets(without_cdk_providers(assembly.template("EdgeOriginUsEast1")))
        plain = deploy(template, "Plain", allowed_skips=ALLOWED_SKIPS)
        template, certificates = apply_certificates(
            with_hosted_zone(without_cdk_providers(assembly.template("EdgeDomainOriginUsEast1")), ZONE_ID, zone_id))
        template, named_secrets = apply_secrets(template)
        named = deploy(template, "Named", allowed_skips=ALLOWED_SKIPS)
        yield {"plain": plain, "named": named, "zone_id": zone_id, "certificates": certificates,
               "policies": apply_bucket_policies(plain),
               "secrets": {"plain": plain_secrets, "named": named_secrets}}


def _elb():
    return boto3.client("elbv2", region_name=REGION)


def _alb(stack: DeployedStack) -> dict:
    arn = stack.physical_ids["OriginLoadBalancer839D1DDC"]
    return _elb().describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]


def _listeners(stack: DeployedStack) -> dict[int, dict]:
    listeners = _elb().describe_listeners(LoadBalancerArn=_alb(stack)["LoadBalancerArn"])["Listeners"]
    return {listener["Port"]: listener for listener in listeners}


def test_alb_is_internet_facing_in_the_public_subnets_of_two_zones(deployed: dict, assembly: Assembly) -> None:
    plain = deployed["plain"]
    alb = _alb(plain)
    assert alb["Scheme"] == "internet-facing" and alb["Type"] == "application"
    assert sorted(z["ZoneName"] for z in alb["AvailabilityZones"]) == ["us-east-1a", "us-east-1b"]
    public = {plain.physical_ids[assembly.logical_id("EdgeOriginUsEast1",
                                                     f"EdgeOriginUsEast1/Network/Vpc/PublicSubnet{i}/Subnet")]
              for i in (1, 2)}
    assert {z["SubnetId"] for z in alb["AvailabilityZones"]} == public


def test_access_log_bucket_admits_elb_log_delivery_under_the_alb_prefix(deployed: dict) -> None:
    bucket = deployed["plain"].physical_ids["AccessLogs8B620ECA"]
    statements = deployed["policies"][bucket]["Statement"]
    elb = [s for s in statements if s.get("Principal") == {"AWS": f"arn:aws:iam::{ELB_ACCOUNT_US_EAST_1}:root"}]
    assert [(s["Effect"], s["Action"], s["Resource"]) for s in elb] == [
        ("Allow", "s3:PutObject", f"arn:aws:s3:::{bucket}/Origin/AWSLogs/{ACCOUNT}/*")]
    assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
               for s in statements)


FORBIDDEN = [{"Type": "fixed-response", "FixedResponseConfig": {"StatusCode": "403", "ContentType": "text/plain",
                                                                  "MessageBody": "Forbidden"}}]


def _secret_value(deployed: dict, key: str) -> str:
    (arn,) = deployed["secrets"][key].values()
    secret = boto3.client("secretsmanager", region_name=REGION).get_secret_value(SecretId=arn)["SecretString"]
    return json.loads(secret)["value"]


def _forwarding_rules(listener_arn: str) -> dict[int, tuple[list, list]]:
    rules = _elb().describe_rules(ListenerArn=listener_arn)["Rules"]
    return {int(r["Priority"]): (r["Conditions"], r["Actions"]) for r in rules if not r["IsDefault"]}


def test_without_domain_http_80_forwards_to_ip_targets_only_with_the_origin_secret(deployed: dict) -> None:
    plain = deployed["plain"]
    listeners = _listeners(plain)
    assert sorted(listeners) == [80]
    group_arn = plain.physical_ids["OriginTargetsBBBDFB20"]
    assert listeners[80]["Protocol"] == "HTTP"
    assert listeners[80]["DefaultActions"] == FORBIDDEN  # around CloudFront: 403
    value = _secret_value(deployed, "plain")
    assert len(value) == 32 and value.isalnum()
    ((conditions, actions),) = _forwarding_rules(listeners[80]["ListenerArn"]).values()
    assert [(c["Field"], c["HttpHeaderConfig"]["HttpHeaderName"], c["HttpHeaderConfig"]["Values"])
            for c in conditions] == [("http-header", "X-Origin-Verify", [value])]
    assert [(a["Type"], a["TargetGroupArn"]) for a in actions] == [("forward", group_arn)]
    elb = _elb()
    group = elb.describe_target_groups(TargetGroupArns=[group_arn])["TargetGroups"][0]
    assert (group["TargetType"], group["Port"], group["HealthCheckPath"]) == ("ip", 8080, "/health")
    elb.register_targets(TargetGroupArn=group_arn, Targets=[{"Id": "10.0.32.10", "Port": 8080}])
    health = elb.describe_target_health(TargetGroupArn=group_arn)["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"]) for h in health] == [("10.0.32.10", 8080)]


def test_security_group_admits_only_the_listener_ports(deployed: dict) -> None:
    ec2 = boto3.client("ec2", region_name=REGION)
    for key, ports in (("plain", [80]), ("named", [80, 443])):
        stack = deployed[key]
        (group,) = ec2.describe_security_groups(GroupIds=_alb(stack)["SecurityGroups"])["SecurityGroups"]
        ingress = sorted((p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in group["IpPermissions"])
        assert ingress == [(p, "0.0.0.0/0") for p in ports]


def test_with_domain_https_uses_the_certificate_and_http_redirects(deployed: dict) -> None:
    named = deployed["named"]
    listeners = _listeners(named)
    (certificate_arn,) = deployed["certificates"].values()
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    assert listeners[443]["Certificates"] == [{"CertificateArn": certificate_arn}]
    assert listeners[443]["DefaultActions"] == FORBIDDEN
    group_arn = named.physical_ids["OriginTargetsBBBDFB20"]
    rules = _forwarding_rules(listeners[443]["ListenerArn"])
    assert sorted(rules) == [10, 20]
    header, health = rules[10][0], sorted(rules[20][0], key=lambda c: c["Field"])
    assert [(c["Field"], c["HttpHeaderConfig"]["Values"]) for c in header] == [
        ("http-header", [_secret_value(deployed, "named")])]
    assert [(c["Field"], c.get("PathPatternConfig", c.get("HttpRequestMethodConfig"))["Values"]) for c in health] == [
        ("http-request-method", ["GET", "HEAD"]), ("path-pattern", ["/health"])]  # Route 53 sends no header
    assert all(actions == [{"Type": "forward", "TargetGroupArn": group_arn}] or
               [(a["Type"], a["TargetGroupArn"]) for a in actions] == [("forward", group_arn)]
               for _, actions in rules.values())
    assert listeners[80]["DefaultActions"] == [
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}]
    certificate = boto3.client("acm", region_name=REGION).describe_certificate(CertificateArn=certificate_arn)
    names = set(certificate["Certificate"]["SubjectAlternativeNames"])
    assert names == {f"origin.{DOMAIN}", f"us-east-1.origin.{DOMAIN}", f"api.{DOMAIN}"}


def test_latency_record_answers_with_the_alb_while_its_health_check_passes(deployed: dict) -> None:
    route53 = boto3.client("route53")
    records = {(r["Name"], r.get("SetIdentifier")): r for r in route53.list_resource_record_sets(
        HostedZoneId=deployed["zone_id"])["ResourceRecordSets"]}
    alb_name = f"dualstack.{_alb(deployed['named'])['DNSName']}"
    latency = records[(f"origin.{DOMAIN}.", "us-east-1")]
    assert (latency["Type"], latency["Region"]) == ("A", "us-east-1")
    assert latency["AliasTarget"]["DNSName"] == alb_name
    assert latency["AliasTarget"]["EvaluateTargetHealth"] is True
    check = route53.get_health_check(HealthCheckId=latency["HealthCheckId"])["HealthCheck"]["HealthCheckConfig"]
    assert (check["Type"], check["FullyQualifiedDomainName"], check["Port"], check["ResourcePath"]) == (
        "HTTPS", f"us-east-1.origin.{DOMAIN}", 443, "/health")
    assert (check["RequestInterval"], check["FailureThreshold"]) == (30, 3)
    regional = records[(f"us-east-1.origin.{DOMAIN}.", None)]
    assert regional["AliasTarget"]["DNSName"] == alb_name and "HealthCheckId" not in regional
