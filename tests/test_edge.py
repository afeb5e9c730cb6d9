"""Fine-grained assertions: every edge default, on the synthesized templates.

Stacks: the app's (no domain, no accelerator: ``EdgeOrigin*`` + ``EdgeStack``)
and the cases in tests/cases/edge.py (``EdgeDomain*``: domain + accelerator;
``EdgeAccel*``: accelerator in three regions, no domain). CloudFront, WAF and
Global Accelerator are proven here and by the gates only (moto knows neither).
"""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_globalaccelerator as ga
from aws_cdk import aws_route53 as route53
from aws_cdk.assertions import Match, Template

from refarch.edge import (
    AcceleratorListener,
    EdgeAccelerator,
    EdgeDistribution,
    EdgeWebAcl,
    RegionEndpoints,
)
from stacks.edge_stack import build_edge
from tests.cases.edge import DOMAIN, ZONE_ID
from tests.conftest import Assembly, new_app

CACHING_DISABLED = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
TLS_ONLY = {"Action": "s3:*", "Condition": {"Bool": {"aws:SecureTransport": "false"}}, "Effect": "Deny",
            "Principal": {"AWS": "*"}}


def _one(assembly: Assembly, stack: str, type_: str) -> tuple[str, dict]:
    found = assembly.of_type(stack, type_)
    assert len(found) == 1, f"{stack}: {len(found)} {type_}"
    return next(iter(found.items()))


def _config(assembly: Assembly, stack: str) -> dict:
    return _one(assembly, stack, "AWS::CloudFront::Distribution")[1]["Properties"]["DistributionConfig"]


# --- environments -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "region"),
    [("EdgeOriginUsEast1", "us-east-1"), ("EdgeOriginEuWest1", "eu-west-1"), ("EdgeStack", "us-east-1"),
     ("EdgeAccelAccelerator", "us-west-2"), ("EdgeAccelOriginApSoutheast2", "ap-southeast-2")],
)
def test_stacks_have_explicit_environments(assembly: Assembly, stack: str, region: str) -> None:
    assert (assembly.stacks[stack].account, assembly.stacks[stack].region) == ("123456789012", region)
    assert assembly.stacks[stack].termination_protection is True


@pytest.mark.parametrize(
    ("stack", "after"),
    # The first region's origin holds the origin header secret: every other stack reads it after.
    [("EdgeStack", {"EdgeOriginUsEast1", "EdgeOriginEuWest1"}),
     ("EdgeDomainStack", {"EdgeDomainAccelerator", "EdgeDomainOriginUsEast1"}),
     ("EdgeDomainAccelerator", {"EdgeDomainOriginUsEast1", "EdgeDomainOriginEuWest1"}),
     ("EdgeAccelStack", {"EdgeAccelAccelerator", "EdgeAccelOriginUsEast1"}),
     ("EdgeOriginUsEast1", set()), ("EdgeOriginEuWest1", {"EdgeOriginUsEast1"}),
     ("EdgeAccelOriginApSoutheast2", {"EdgeAccelOriginUsEast1"})],
)
def test_deploy_order_origins_then_accelerator_then_distribution(assembly: Assembly, stack: str, after: set) -> None:
    assert {d.stack_name for d in assembly.stacks[stack].dependencies} == after


@pytest.mark.parametrize(("stack", "region"), [("EdgeOriginUsEast1", "us-east-1"), ("EdgeOriginEuWest1", "eu-west-1")])
def test_availability_zones_come_from_committed_context(assembly: Assembly, stack: str, region: str) -> None:
    zones = {s["Properties"]["AvailabilityZone"] for s in assembly.of_type(stack, "AWS::EC2::Subnet").values()}
    assert zones == {f"{region}a", f"{region}b"}


def _stack_outputs(node: object) -> list[dict]:
    if isinstance(node, dict):
        if set(node) == {"Fn::GetStackOutput"}:
            return [node["Fn::GetStackOutput"]]
        return [found for value in node.values() for found in _stack_outputs(value)]
    if isinstance(node, list):
        return [found for value in node for found in _stack_outputs(value)]
    return []


CONSUMERS = {
    "EdgeStack": {"EdgeOriginUsEast1": "DNSName", "EdgeOriginEuWest1": "DNSName"},
    "EdgeAccelStack": {"EdgeAccelAccelerator": "DnsName", "EdgeAccelOriginUsEast1": "Secret"},
    "EdgeAccelAccelerator": {"EdgeAccelOriginUsEast1": "Ref", "EdgeAccelOriginEuWest1": "Ref",
                             "EdgeAccelOriginApSoutheast2": "Ref"},
    "EdgeDomainAccelerator": {"EdgeDomainOriginUsEast1": "Ref", "EdgeDomainOriginEuWest1": "Ref"},
    "EdgeDomainStack": {"EdgeDomainOriginUsEast1": "Secret"},  # the API by name (api.<domain>)
    # The origin header secret's replica ARN in the consumer's region, from the first region's stack.
    "EdgeOriginEuWest1": {"EdgeOriginUsEast1": "Secret"},
    "EdgeAccelOriginApSoutheast2": {"EdgeAccelOriginUsEast1": "Secret"},
}


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_cross_region_references_resolve_to_an_output_of_a_stack_deployed_first(assembly: Assembly,
                                                                                 consumer: str) -> None:
    # Fn::GetStackOutput reads StackName's output OutputName in Region when the consumer deploys: the stack
    # name, its region and the output must all exist, and the producer must be deployed before the consumer.
    references = _stack_outputs(assembly.template(consumer)["Resources"])
    assert {r["StackName"] for r in references} == set(CONSUMERS[consumer])
    depends_on = {d.stack_name for d in assembly.stacks[consumer].dependencies}
    for reference in references:
        producer = assembly.stacks[reference["StackName"]]
        assert set(reference) == {"StackName", "Region", "OutputName"}
        assert (producer.stack_name, producer.region) == (reference["StackName"], reference["Region"])
        assert producer.account == assembly.stacks[consumer].account
        assert producer.stack_name in depends_on
        value = assembly.template(producer.stack_name)["Outputs"][reference["OutputName"]]["Value"]
        assert "Export" not in assembly.template(producer.stack_name)["Outputs"][reference["OutputName"]]
        if reference["OutputName"].startswith("OriginVerifySecretArn"):
            secret = assembly.resource_id(producer.stack_name, "OriginVerify/Secret/Resource")
            region = assembly.stacks[consumer].region
            assert value == {"Fn::Join": [f":{region}:", {"Fn::Split": [f":{producer.region}:", {"Ref": secret}]}]}
            continue
        expected = CONSUMERS[consumer][producer.stack_name]
        resource = "Edge/Accelerator/Resource" if expected == "DnsName" else "Origin/LoadBalancer/Resource"
        logical_id = assembly.resource_id(producer.stack_name, resource)
        assert value == ({"Ref": logical_id} if expected == "Ref" else {"Fn::GetAtt": [logical_id, expected]})
        assert "Export" not in assembly.template(producer.stack_name)["Outputs"][reference["OutputName"]]


# --- WAF ------------------------------------------------------------------------------


def test_web_acl_is_cloudfront_scoped_with_managed_rules_and_rate_limit(assembly: Assembly) -> None:
    acl = _one(assembly, "EdgeStack", "AWS::WAFv2::WebACL")[1]["Properties"]
    assert acl["Scope"] == "CLOUDFRONT"
    assert acl["DefaultAction"] == {"Allow": {}}
    managed = [(r["Priority"], r["Statement"]["ManagedRuleGroupStatement"]) for r in acl["Rules"][:-1]]
    assert managed == [
        (0, {"VendorName": "AWS", "Name": "AWSManagedRulesCommonRuleSet"}),
        (1, {"VendorName": "AWS", "Name": "AWSManagedRulesKnownBadInputsRuleSet"}),
        (2, {"VendorName": "AWS", "Name": "AWSManagedRulesAmazonIpReputationList"}),
    ]
    assert all(r["OverrideAction"] == {"None": {}} for r in acl["Rules"][:-1])
    rate = acl["Rules"][-1]
    assert rate["Name"] == "RateLimitPerIp" and rate["Priority"] == 3 and rate["Action"] == {"Block": {}}
    assert rate["Statement"]["RateBasedStatement"] == {"AggregateKeyType": "IP", "Limit": 1000,
                                                       "EvaluationWindowSec": 300}
    for visibility in [acl["VisibilityConfig"], *(r["VisibilityConfig"] for r in acl["Rules"])]:
        assert visibility["CloudWatchMetricsEnabled"] is True and visibility["SampledRequestsEnabled"] is True


def test_distribution_uses_the_web_acl(assembly: Assembly) -> None:
    acl_id = _one(assembly, "EdgeStack", "AWS::WAFv2::WebACL")[0]
    assert _config(assembly, "EdgeStack")["WebACLId"] == {"Fn::GetAtt": [acl_id, "Arn"]}


# --- CloudFront: viewer side ------------------------------------------------------------


def test_distribution_viewer_defaults(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeStack")
    assert config["HttpVersion"] == "http2and3"
    assert config["IPV6Enabled"] is True
    assert config["Enabled"] is True
    assert config["DefaultRootObject"] == "index.html"
    assert config["PriceClass"] == "PriceClass_All"
    assert "Restrictions" not in config  # no geo restriction by default (acknowledged CFR1)


def test_no_legacy_forwarded_values_anywhere(assembly: Assembly) -> None:
    for stack in ("EdgeStack", "EdgeDomainStack", "EdgeAccelStack"):
        assert "ForwardedValues" not in json.dumps(_config(assembly, stack))


def test_static_behaviour_redirects_to_https_compresses_and_uses_our_policies(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeStack")
    default = config["DefaultCacheBehavior"]
    assert default["ViewerProtocolPolicy"] == "redirect-to-https"
    assert default["Compress"] is True
    assert default["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert default["CachePolicyId"] == {"Ref": assembly.resource_id("EdgeStack", "Site/StaticCachePolicy/Resource")}
    assert default["ResponseHeadersPolicyId"] == {"Ref": assembly.resource_id("EdgeStack", "Site/SecurityHeaders/Resource")}


def test_static_cache_policy(assembly: Assembly) -> None:
    policy = _one(assembly, "EdgeStack", "AWS::CloudFront::CachePolicy")[1]["Properties"]["CachePolicyConfig"]
    assert (policy["DefaultTTL"], policy["MinTTL"], policy["MaxTTL"]) == (86400, 0, 31536000)
    key = policy["ParametersInCacheKeyAndForwardedToOrigin"]
    assert key["EnableAcceptEncodingGzip"] is True and key["EnableAcceptEncodingBrotli"] is True
    assert key["CookiesConfig"] == {"CookieBehavior": "none"}
    assert key["HeadersConfig"] == {"HeaderBehavior": "none"}
    assert key["QueryStringsConfig"] == {"QueryStringBehavior": "none"}


def test_security_response_headers(assembly: Assembly) -> None:
    config = _one(assembly, "EdgeStack", "AWS::CloudFront::ResponseHeadersPolicy")[1]["Properties"][
        "ResponseHeadersPolicyConfig"]
    headers = config["SecurityHeadersConfig"]
    assert headers["StrictTransportSecurity"] == {"AccessControlMaxAgeSec": 63072000, "IncludeSubdomains": True,
                                                  "Override": True}
    assert headers["ContentSecurityPolicy"]["ContentSecurityPolicy"].startswith("default-src 'self'")
    assert headers["ContentTypeOptions"] == {"Override": True}
    assert headers["FrameOptions"] == {"FrameOption": "DENY", "Override": True}
    assert headers["ReferrerPolicy"] == {"ReferrerPolicy": "strict-origin-when-cross-origin", "Override": True}
    assert config["RemoveHeadersConfig"] == {"Items": [{"Header": "Server"}]}


def test_custom_error_responses(assembly: Assembly) -> None:
    responses = {r["ErrorCode"]: r for r in _config(assembly, "EdgeStack")["CustomErrorResponses"]}
    assert responses[403] == {"ErrorCode": 403, "ResponseCode": 404, "ResponsePagePath": "/errors/404.html",
                              "ErrorCachingMinTTL": 60}
    assert responses[404]["ResponsePagePath"] == "/errors/404.html"
    for code in (500, 502, 503, 504):
        assert responses[code] == {"ErrorCode": code, "ErrorCachingMinTTL": 10}


def test_default_domain_uses_cloudfront_certificate_and_says_why(assembly: Assembly) -> None:
    _, distribution = _one(assembly, "EdgeStack", "AWS::CloudFront::Distribution")
    assert "ViewerCertificate" not in distribution["Properties"]["DistributionConfig"]  # CloudFront's default
    suppressed = {r["id"] for r in distribution["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert {"AwsSolutions::AwsSolutions-CFR4", "AwsSolutions::AwsSolutions-CFR5"} <= suppressed
    assert {s["id"] for s in distribution["Metadata"]["checkov"]["skip"]} == {"CKV_AWS_174", "CKV_AWS_86"}


# --- CloudFront: origins ------------------------------------------------------------------


def test_s3_origin_is_private_through_origin_access_control(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeStack")
    bucket = assembly.resource_id("EdgeStack", "Site/Content/Resource")
    s3_origin = next(o for o in config["Origins"] if "S3OriginConfig" in o)
    assert s3_origin["DomainName"] == {"Fn::GetAtt": [bucket, "RegionalDomainName"]}
    assert s3_origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}
    oac_id, oac = _one(assembly, "EdgeStack", "AWS::CloudFront::OriginAccessControl")
    assert s3_origin["OriginAccessControlId"] == {"Fn::GetAtt": [oac_id, "Id"]}
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningBehavior"] == "always"
    assert oac["Properties"]["OriginAccessControlConfig"]["SigningProtocol"] == "sigv4"


def test_content_bucket_admits_only_this_distribution_and_tls(assembly: Assembly) -> None:
    bucket = assembly.resource_id("EdgeStack", "Site/Content/Resource")
    distribution = assembly.resource_id("EdgeStack", "Site/Distribution/Resource")
    statements = assembly.of_type("EdgeStack", "AWS::S3::BucketPolicy")[
        assembly.resource_id("EdgeStack", "Site/Content/Policy/Resource")]["Properties"]["PolicyDocument"]["Statement"]
    assert any({k: s.get(k) for k in TLS_ONLY} == TLS_ONLY for s in statements)
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert allow[0]["Action"] == "s3:GetObject"
    arn = allow[0]["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Join"][1]
    assert arn[-1] == {"Ref": distribution} and arn[-2].endswith(":distribution/")
    encryption = assembly.of_type("EdgeStack", "AWS::S3::Bucket")[bucket]["Properties"]["BucketEncryption"]
    rule = encryption["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms", "KMSMasterKeyID": {"Fn::GetAtt": [assembly.resource_id("EdgeStack", "Site/Key/Resource"),
                                                                      "Arn"]}}


def test_key_lets_cloudfront_decrypt_and_log_delivery_encrypt(assembly: Assembly) -> None:
    key = assembly.of_type("EdgeStack", "AWS::KMS::Key")[assembly.resource_id("EdgeStack", "Site/Key/Resource")]
    assert key["Properties"]["EnableKeyRotation"] is True
    assert key["DeletionPolicy"] == "Retain"
    statements = key["Properties"]["KeyPolicy"]["Statement"]
    cloudfront_ = next(s for s in statements if s["Principal"] == {"Service": "cloudfront.amazonaws.com"})
    assert cloudfront_["Action"] == "kms:Decrypt"
    assert cloudfront_["Condition"]["ArnLike"]["AWS:SourceArn"]["Fn::Join"][1][-1] == ":distribution/*"
    logs = next(s for s in statements if s.get("Sid") == "AllowLogDeliveryToEncrypt")
    assert logs["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert logs["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "123456789012"},
        "ArnLike": {"aws:SourceArn": "arn:aws:logs:us-east-1:123456789012:delivery-source:*"},
    }


def _behaviour(config: dict, pattern: str) -> dict:
    (behaviour,) = [b for b in config["CacheBehaviors"] if b["PathPattern"] == pattern]
    return behaviour


def test_api_behaviour_is_uncached_https_and_forwards_viewer_headers(assembly: Assembly) -> None:
    behaviour = _behaviour(_config(assembly, "EdgeStack"), "/api/*")
    assert behaviour["ViewerProtocolPolicy"] == "https-only"
    assert behaviour["CachePolicyId"] == CACHING_DISABLED
    assert behaviour["OriginRequestPolicyId"] == ALL_VIEWER_EXCEPT_HOST
    assert behaviour["AllowedMethods"] == ["GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"]
    assert behaviour["Compress"] is True


def test_without_domain_read_write_api_goes_to_the_first_regions_alb_alone(assembly: Assembly) -> None:
    # CloudFront rejects an origin group on a behaviour allowing POST/PUT/PATCH/DELETE
    # (aws/aws-cdk#32450): the read/write API has exactly one origin.
    config = _config(assembly, "EdgeStack")
    behaviour = _behaviour(config, "/api/*")
    (origin,) = [o for o in config["Origins"] if o["Id"] == behaviour["TargetOriginId"]]
    assert origin["DomainName"]["Fn::GetStackOutput"]["StackName"] == "EdgeOriginUsEast1"
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only"
    assert behaviour["TargetOriginId"] not in [g["Id"] for g in config["OriginGroups"]["Items"]]


def test_without_domain_read_only_paths_fail_over_between_both_regional_albs(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeStack")
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/api/read/*", "/api/*"]  # reads match first
    read = _behaviour(config, "/api/read/*")
    assert read["AllowedMethods"] == ["GET", "HEAD", "OPTIONS"]
    assert read["CachedMethods"] == ["GET", "HEAD"]
    assert (read["CachePolicyId"], read["OriginRequestPolicyId"]) == (CACHING_DISABLED, ALL_VIEWER_EXCEPT_HOST)
    (group,) = config["OriginGroups"]["Items"]
    assert read["TargetOriginId"] == group["Id"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [500, 502, 503, 504]
    by_id = {o["Id"]: o for o in config["Origins"]}
    members = [by_id[m["OriginId"]] for m in group["Members"]["Items"]]
    assert [(m["DomainName"]["Fn::GetStackOutput"]["StackName"], m["DomainName"]["Fn::GetStackOutput"]["Region"])
            for m in members] == [("EdgeOriginUsEast1", "us-east-1"), ("EdgeOriginEuWest1", "eu-west-1")]
    assert all(m["CustomOriginConfig"]["OriginProtocolPolicy"] == "http-only" for m in members)


@pytest.mark.parametrize("stack", ["EdgeDomainStack", "EdgeAccelStack"])
def test_with_domain_or_accelerator_there_is_no_origin_group(assembly: Assembly, stack: str) -> None:
    config = _config(assembly, stack)
    assert "OriginGroups" not in config
    assert [b["PathPattern"] for b in config["CacheBehaviors"]] == ["/api/*"]


def test_with_accelerator_and_no_domain_api_goes_to_the_accelerator_name(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeAccelStack")
    (http,) = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    assert http["DomainName"]["Fn::GetStackOutput"]["StackName"] == "EdgeAccelAccelerator"
    assert http["DomainName"]["Fn::GetStackOutput"]["Region"] == "us-west-2"
    assert "OriginGroups" not in config


def test_with_domain_api_goes_to_the_accelerator_name_over_tls12(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeDomainStack")
    (http,) = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    assert http["DomainName"] == f"api.{DOMAIN}"
    assert http["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    assert http["CustomOriginConfig"]["OriginSSLProtocols"] == ["TLSv1.2"]


# --- CloudFront: logging and alarms --------------------------------------------------------


def test_standard_logging_v2_to_the_encrypted_log_bucket(assembly: Assembly) -> None:
    distribution = assembly.resource_id("EdgeStack", "Site/Distribution/Resource")
    bucket = assembly.resource_id("EdgeStack", "Site/Logs/Resource")
    source_id, source = _one(assembly, "EdgeStack", "AWS::Logs::DeliverySource")
    destination_id, destination = _one(assembly, "EdgeStack", "AWS::Logs::DeliveryDestination")
    _, delivery = _one(assembly, "EdgeStack", "AWS::Logs::Delivery")
    assert source["Properties"]["LogType"] == "ACCESS_LOGS"
    assert source["Properties"]["ResourceArn"]["Fn::Join"][1][-1] == {"Ref": distribution}
    assert destination["Properties"]["DestinationResourceArn"] == {"Fn::GetAtt": [bucket, "Arn"]}
    assert delivery["Properties"]["DeliverySourceName"] == {"Ref": source_id}
    assert delivery["Properties"]["DeliveryDestinationArn"] == {"Fn::GetAtt": [destination_id, "Arn"]}
    # Hive-compatible partitions by distribution and hour; the policy's prefix is checked
    # against this layout in tests/test_deploy_rules.py.
    assert delivery["Properties"]["S3EnableHiveCompatiblePath"] is True
    assert delivery["Properties"]["S3SuffixPath"] == "{distributionid}/{yyyy}/{MM}/{dd}/{HH}"
    policy = assembly.of_type("EdgeStack", "AWS::S3::BucketPolicy")[
        assembly.resource_id("EdgeStack", "Site/Logs/Policy/Resource")]["Properties"]["PolicyDocument"]["Statement"]
    allow = next(s for s in policy if s.get("Sid") == "AllowLogDelivery")
    assert allow["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert allow["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"
    assert allow["Resource"] == {"Fn::Join": ["", [{"Fn::GetAtt": [bucket, "Arn"]},
                                                   "/AWSLogs/aws-account-id=123456789012/CloudFront/*"]]}
    logs_bucket = assembly.of_type("EdgeStack", "AWS::S3::Bucket")[bucket]["Properties"]
    assert logs_bucket["OwnershipControls"] == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}  # no ACLs
    assert logs_bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 365


def test_5xx_alarm_has_distribution_and_global_region_dimensions(assembly: Assembly) -> None:
    _, alarm = _one(assembly, "EdgeStack", "AWS::CloudWatch::Alarm")
    props = alarm["Properties"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/CloudFront", "5xxErrorRate")
    assert props["Dimensions"] == [
        {"Name": "DistributionId", "Value": {"Ref": assembly.resource_id("EdgeStack", "Site/Distribution/Resource")}},
        {"Name": "Region", "Value": "Global"},
    ]
    assert (props["Threshold"], props["Period"]) == (5, 300)
    assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 2)
    assert props["AlarmActions"] == [{"Ref": assembly.resource_id("EdgeStack", "Alarms/Topic/Resource")}]


# --- Route 53 and certificates -------------------------------------------------------------


def test_with_domain_certificate_is_dns_validated_in_us_east_1(assembly: Assembly) -> None:
    assert assembly.stacks["EdgeDomainStack"].region == "us-east-1"
    _, cert = _one(assembly, "EdgeDomainStack", "AWS::CertificateManager::Certificate")
    props = cert["Properties"]
    assert props["DomainName"] == DOMAIN and props["SubjectAlternativeNames"] == [f"www.{DOMAIN}"]
    assert props["ValidationMethod"] == "DNS"
    assert props["DomainValidationOptions"] == [{"DomainName": DOMAIN, "HostedZoneId": ZONE_ID},
                                                {"DomainName": f"www.{DOMAIN}", "HostedZoneId": ZONE_ID}]


def test_with_domain_viewer_tls_is_1_2_2021_with_sni(assembly: Assembly) -> None:
    config = _config(assembly, "EdgeDomainStack")
    cert = _one(assembly, "EdgeDomainStack", "AWS::CertificateManager::Certificate")[0]
    assert config["Aliases"] == [DOMAIN, f"www.{DOMAIN}"]
    assert config["ViewerCertificate"] == {"AcmCertificateArn": {"Ref": cert}, "MinimumProtocolVersion": "TLSv1.2_2021",
                                           "SslSupportMethod": "sni-only"}
    _, distribution = _one(assembly, "EdgeDomainStack", "AWS::CloudFront::Distribution")
    suppressed = {r["id"] for r in distribution["Metadata"]["cdk_nag"]["rules_to_suppress"]}
    assert "AwsSolutions::AwsSolutions-CFR4" not in suppressed and "AwsSolutions::AwsSolutions-CFR5" not in suppressed


def test_with_domain_apex_and_www_alias_a_and_aaaa_to_cloudfront(assembly: Assembly) -> None:
    distribution = assembly.resource_id("EdgeDomainStack", "Site/Distribution/Resource")
    records = sorted((r["Properties"]["Name"], r["Properties"]["Type"], json.dumps(r["Properties"]["AliasTarget"]))
                     for r in assembly.of_type("EdgeDomainStack", "AWS::Route53::RecordSet").values())
    target = json.dumps({"DNSName": {"Fn::GetAtt": [distribution, "DomainName"]}, "HostedZoneId": {
        "Fn::FindInMap": ["AWSCloudFrontPartitionHostedZoneIdMap", {"Ref": "AWS::Partition"}, "zoneId"]}})
    assert records == [(f"{DOMAIN}.", "A", target), (f"{DOMAIN}.", "AAAA", target),
                       (f"www.{DOMAIN}.", "A", target), (f"www.{DOMAIN}.", "AAAA", target)]
    assert assembly.of_type("EdgeStack", "AWS::Route53::RecordSet") == {}


@pytest.mark.parametrize(("stack", "region"), [("EdgeDomainOriginUsEast1", "us-east-1"),
                                               ("EdgeDomainOriginEuWest1", "eu-west-1")])
def test_with_domain_regional_latency_record_is_health_checked(assembly: Assembly, stack: str, region: str) -> None:
    alb = assembly.resource_id(stack, "Origin/LoadBalancer/Resource")
    check_id, check = _one(assembly, stack, "AWS::Route53::HealthCheck")
    assert check["Properties"]["HealthCheckConfig"] == {
        "Type": "HTTPS", "FullyQualifiedDomainName": f"{region}.origin.{DOMAIN}", "Port": 443,
        "ResourcePath": "/health", "EnableSNI": True, "RequestInterval": 30, "FailureThreshold": 3,
        "Inverted": False, "MeasureLatency": False,
    }
    records = {r["Properties"]["Name"]: r["Properties"]
               for r in assembly.of_type(stack, "AWS::Route53::RecordSet").values()}
    latency = records[f"origin.{DOMAIN}."]
    assert (latency["Region"], latency["SetIdentifier"]) == (region, region)
    assert latency["HealthCheckId"] == {"Ref": check_id}
    assert latency["AliasTarget"]["EvaluateTargetHealth"] is True
    assert latency["AliasTarget"]["HostedZoneId"] == {"Fn::GetAtt": [alb, "CanonicalHostedZoneID"]}
    regional = records[f"{region}.origin.{DOMAIN}."]
    assert "Region" not in regional and regional["AliasTarget"]["DNSName"] == latency["AliasTarget"]["DNSName"]


# --- regional origin ---------------------------------------------------------------------


def test_alb_defaults(assembly: Assembly) -> None:
    alb = assembly.of_type("EdgeOriginEuWest1", "AWS::ElasticLoadBalancingV2::LoadBalancer")[
        assembly.resource_id("EdgeOriginEuWest1", "Origin/LoadBalancer/Resource")]["Properties"]
    attributes = {a["Key"]: a["Value"] for a in alb["LoadBalancerAttributes"]}
    assert alb["Scheme"] == "internet-facing"
    assert attributes["deletion_protection.enabled"] == "true"
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["access_logs.s3.bucket"] == {"Ref": assembly.resource_id("EdgeOriginEuWest1", "AccessLogs/Resource")}
    public = {assembly.resource_id("EdgeOriginEuWest1", f"Network/Vpc/PublicSubnet{i}/Subnet") for i in (1, 2)}
    assert {s["Ref"] for s in alb["Subnets"]} == public


def test_without_domain_alb_forwards_http_80_to_ip_targets_by_rule(assembly: Assembly) -> None:
    _, listener = _one(assembly, "EdgeOriginUsEast1", "AWS::ElasticLoadBalancingV2::Listener")
    group_id, group = _one(assembly, "EdgeOriginUsEast1", "AWS::ElasticLoadBalancingV2::TargetGroup")
    assert (listener["Properties"]["Port"], listener["Properties"]["Protocol"]) == (80, "HTTP")
    assert listener["Properties"]["DefaultActions"] == FORBIDDEN
    (rule,) = assembly.of_type("EdgeOriginUsEast1", "AWS::ElasticLoadBalancingV2::ListenerRule").values()
    assert rule["Properties"]["Actions"] == [{"TargetGroupArn": {"Ref": group_id}, "Type": "forward"}]
    props = group["Properties"]
    assert (props["TargetType"], props["Port"], props["Protocol"], props["HealthCheckPath"]) == ("ip", 8080, "HTTP",
                                                                                                 "/health")
    assert (props["HealthyThresholdCount"], props["UnhealthyThresholdCount"], props["HealthCheckIntervalSeconds"]) == (
        2, 3, 15)


def test_with_domain_alb_serves_tls13_and_redirects_http(assembly: Assembly) -> None:
    stack = "EdgeDomainOriginEuWest1"
    listeners = {r["Properties"]["Port"]: r["Properties"]
                 for r in assembly.of_type(stack, "AWS::ElasticLoadBalancingV2::Listener").values()}
    cert = _one(assembly, stack, "AWS::CertificateManager::Certificate")
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    assert listeners[443]["Certificates"] == [{"CertificateArn": {"Ref": cert[0]}}]
    assert listeners[80]["DefaultActions"] == [
        {"RedirectConfig": {"Port": "443", "Protocol": "HTTPS", "StatusCode": "HTTP_301"}, "Type": "redirect"}]
    assert cert[1]["Properties"]["DomainName"] == f"origin.{DOMAIN}"
    assert cert[1]["Properties"]["SubjectAlternativeNames"] == [f"eu-west-1.origin.{DOMAIN}", f"api.{DOMAIN}"]


@pytest.mark.parametrize(("stack", "ports"), [("EdgeOriginUsEast1", [80]), ("EdgeDomainOriginUsEast1", [443, 80])])
def test_security_group_admits_the_listener_ports_and_reaches_only_the_vpc(assembly: Assembly, stack: str,
                                                                           ports: list[int]) -> None:
    group_id = assembly.resource_id(stack, "Origin/SecurityGroup/Resource")
    group = assembly.of_type(stack, "AWS::EC2::SecurityGroup")[group_id]
    props = group["Properties"]
    assert [(r["CidrIp"], r["FromPort"]) for r in props["SecurityGroupIngress"]] == [("0.0.0.0/0", p) for p in ports]
    (egress,) = props["SecurityGroupEgress"]
    assert egress["FromPort"] == egress["ToPort"] == 8080
    assert egress["CidrIp"] == {"Fn::GetAtt": [assembly.resource_id(stack, "Network/Vpc/Resource"), "CidrBlock"]}


def test_origin_alarms_carry_their_dimensions(assembly: Assembly) -> None:
    stack = "EdgeOriginUsEast1"
    alarms = {r["Properties"]["MetricName"]: r["Properties"] for r in assembly.of_type(stack,
                                                                                 "AWS::CloudWatch::Alarm").values()}
    group = assembly.resource_id(stack, "Origin/Targets/Resource")
    alb = assembly.resource_id(stack, "Origin/LoadBalancer/Resource")
    unhealthy = alarms["UnHealthyHostCount"]
    assert [d["Name"] for d in unhealthy["Dimensions"]] == ["LoadBalancer", "TargetGroup"]
    assert unhealthy["Dimensions"][1]["Value"] == {"Fn::GetAtt": [group, "TargetGroupFullName"]}
    assert (unhealthy["Threshold"], unhealthy["Statistic"]) == (0, "Maximum")
    elb5xx = alarms["HTTPCode_ELB_5XX_Count"]
    assert elb5xx["Dimensions"] == [{"Name": "LoadBalancer", "Value": {"Fn::GetAtt": [alb, "LoadBalancerFullName"]}}]
    topic = {"Ref": assembly.resource_id(stack, "Alarms/Topic/Resource")}
    assert all(a["AlarmActions"] == [topic] and a["OKActions"] == [topic] for a in alarms.values())


# --- Global Accelerator ----------------------------------------------------------------------


def test_accelerator_is_ipv4_and_retained(assembly: Assembly) -> None:
    _, accelerator = _one(assembly, "EdgeAccelAccelerator", "AWS::GlobalAccelerator::Accelerator")
    assert accelerator["Properties"]["IpAddressType"] == "IPV4" and accelerator["Properties"]["Enabled"] is True
    assert accelerator["DeletionPolicy"] == accelerator["UpdateReplacePolicy"] == "Retain"


def test_accelerator_listens_on_tcp_443_and_80(assembly: Assembly) -> None:
    listeners = sorted((json.dumps(r["Properties"]["PortRanges"]), r["Properties"]["Protocol"],
                        r["Properties"]["ClientAffinity"])
                       for r in assembly.of_type("EdgeAccelAccelerator",
                                           "AWS::GlobalAccelerator::Listener").values())
    assert listeners == [('[{"FromPort": 443, "ToPort": 443}]', "TCP", "NONE"),
                         ('[{"FromPort": 80, "ToPort": 80}]', "TCP", "NONE")]


def test_endpoint_groups_in_every_region_point_at_that_regions_alb(assembly: Assembly) -> None:
    groups = assembly.of_type("EdgeAccelAccelerator", "AWS::GlobalAccelerator::EndpointGroup")
    assert len(groups) == 6  # 3 regions x 2 listeners
    seen = set()
    for group in groups.values():
        props = group["Properties"]
        region = props["EndpointGroupRegion"]
        (endpoint,) = props["EndpointConfigurations"]
        source = endpoint["EndpointId"]["Fn::GetStackOutput"]
        assert source["Region"] == region and source["StackName"] == f"EdgeAccelOrigin{_pascal(region)}"
        assert source["OutputName"].startswith("PublishOutputRefOriginLoadBalancer")
        assert endpoint["ClientIPPreservationEnabled"] is True
        assert props["TrafficDialPercentage"] == 100
        # Global Accelerator ignores these for ALB endpoints (it follows the target groups' health): none are set.
        assert not {k for k in props if k.startswith("HealthCheck") or k == "ThresholdCount"}
        seen.add((region, props["ListenerArn"]["Fn::GetAtt"][0]))
    assert len(seen) == 6


def test_with_domain_api_name_aliases_the_accelerator(assembly: Assembly) -> None:
    accelerator = _one(assembly, "EdgeDomainAccelerator", "AWS::GlobalAccelerator::Accelerator")[0]
    _, record = _one(assembly, "EdgeDomainAccelerator", "AWS::Route53::RecordSet")
    assert record["Properties"] == {
        "Name": f"api.{DOMAIN}.", "Type": "A", "HostedZoneId": ZONE_ID,
        "AliasTarget": {"DNSName": {"Fn::GetAtt": [accelerator, "DnsName"]}, "HostedZoneId": "Z2BJ6XQ5FK7U4H"},
    }
    assert assembly.of_type("EdgeAccelAccelerator", "AWS::Route53::RecordSet") == {}


def _pascal(region: str) -> str:
    return "".join(p.capitalize() for p in region.split("-"))


# --- stateful resources keep their logical IDs ------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "path", "logical_id"),
    [
        ("EdgeStack", "Site/Key/Resource", "SiteKey28264800"),
        ("EdgeStack", "Site/Content/Resource", "SiteContent02569BC1"),
        ("EdgeStack", "Site/Logs/Resource", "SiteLogsBCCC85C3"),
        ("EdgeStack", "Site/AccessLogs/Resource", "SiteAccessLogs536C0B75"),
        ("EdgeStack", "Site/Distribution/Resource", "SiteDistribution390DED28"),
        ("EdgeOriginUsEast1", "AccessLogs/Resource", "AccessLogs8B620ECA"),
        ("EdgeOriginUsEast1", "Origin/LoadBalancer/Resource", "OriginLoadBalancer839D1DDC"),
        ("EdgeAccelAccelerator", "Edge/Accelerator/Resource", "EdgeAccelerator3BD1CDDF"),
    ],
)
def test_stateful_logical_ids_are_pinned(assembly: Assembly, stack: str, path: str, logical_id: str) -> None:
    assert assembly.resource_id(stack, path) == logical_id


@pytest.mark.parametrize("path", ["Site/Key/Resource", "Site/Content/Resource", "Site/Logs/Resource",
                                  "Site/AccessLogs/Resource"])
def test_data_is_retained(assembly: Assembly, path: str) -> None:
    resource = assembly.template("EdgeStack")["Resources"][assembly.resource_id("EdgeStack", path)]
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"


# --- the origin header secret (CloudFront -> ALB) ------------------------------------------

FORBIDDEN = [{"FixedResponseConfig": {"ContentType": "text/plain", "MessageBody": "Forbidden", "StatusCode": "403"},
              "Type": "fixed-response"}]
CONFIGURATIONS = {
    "": (["EdgeOriginUsEast1", "EdgeOriginEuWest1"], "EdgeStack"),
    "EdgeDomain": (["EdgeDomainOriginUsEast1", "EdgeDomainOriginEuWest1"], "EdgeDomainStack"),
    "EdgeAccel": (["EdgeAccelOriginUsEast1", "EdgeAccelOriginEuWest1", "EdgeAccelOriginApSoutheast2"],
                  "EdgeAccelStack"),
}
_REFERENCE = re.compile(r"^\{\{resolve:secretsmanager:(arn:aws:secretsmanager:([a-z0-9-]+):\d{12}:secret:[^:]+)"
                        r":SecretString:([^:]*):([^:]*):([^:]*)\}\}$")


def _evaluate(assembly: Assembly, stack: str, node: object) -> object:
    """Evaluates what the origin secret's references use (Ref of the secret, Fn::Join, Fn::Split,
    Fn::GetStackOutput) as CloudFormation would; the secret's ARN is made up, with its stack's region."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [_evaluate(assembly, stack, v) for v in node]
    ((fn, arg),) = node.items()
    if fn == "Ref":
        assert assembly.template(stack)["Resources"][arg]["Type"] == "AWS::SecretsManager::Secret", arg
        return f"arn:aws:secretsmanager:{assembly.stacks[stack].region}:123456789012:secret:{arg}-AbCdEf"
    if fn == "Fn::Join":
        separator, parts = arg
        evaluated = _evaluate(assembly, stack, parts)
        return separator.join(evaluated)
    if fn == "Fn::Split":
        separator, value = arg
        return _evaluate(assembly, stack, value).split(separator)
    if fn == "Fn::GetStackOutput":
        producer = arg["StackName"]
        assert assembly.stacks[producer].region == arg["Region"]
        return _evaluate(assembly, producer, assembly.template(producer)["Outputs"][arg["OutputName"]]["Value"])
    raise NotImplementedError(fn)


def _reference(assembly: Assembly, stack: str, node: object) -> tuple[str, str, str, str, str]:
    """(secret ARN with the region blanked, region, JSON key, version stage, version ID) of a dynamic reference."""
    match = _REFERENCE.match(_evaluate(assembly, stack, node))
    assert match, node
    arn, region, *rest = match.groups()
    return (arn.replace(f":{region}:", ":<region>:"), region, *rest)


def test_origin_secret_is_generated_kms_encrypted_retained_and_replicated(assembly: Assembly) -> None:
    for prefix, (origin_stacks, edge_stack) in CONFIGURATIONS.items():
        first = origin_stacks[0]
        secret_id, secret = _one(assembly, first, "AWS::SecretsManager::Secret")
        props = secret["Properties"]
        assert props["GenerateSecretString"] == {
            "ExcludePunctuation": True, "GenerateStringKey": "value", "IncludeSpace": False, "PasswordLength": 32,
            "SecretStringTemplate": "{}"}  # alphanumeric: no ALB wildcard (* or ?) can appear
        key = assembly.resource_id(first, "OriginVerify/Key/Resource")
        assert props["KmsKeyId"] == {"Fn::GetAtt": [key, "Arn"]}
        others = sorted({assembly.stacks[s].region for s in [*origin_stacks[1:], edge_stack]}
                        - {assembly.stacks[first].region})
        assert sorted(r["Region"] for r in props["ReplicaRegions"]) == others
        assert secret["DeletionPolicy"] == secret["UpdateReplacePolicy"] == "Retain"
        for stack in origin_stacks[1:]:
            assert not assembly.of_type(stack, "AWS::SecretsManager::Secret")  # one secret, replicated


@pytest.mark.parametrize("prefix", CONFIGURATIONS)
def test_alb_forwards_only_the_value_cloudfront_sends(assembly: Assembly, prefix: str) -> None:
    origin_stacks, edge_stack = CONFIGURATIONS[prefix]
    config = _config(assembly, edge_stack)
    api = {o["Id"]: o for o in config["Origins"] if "CustomOriginConfig" in o}
    sent = set()
    for origin in api.values():
        ((header),) = origin["OriginCustomHeaders"]
        assert header["HeaderName"] == "X-Origin-Verify"
        arn, region, *rest = _reference(assembly, edge_stack, header["HeaderValue"])
        assert region == assembly.stacks[edge_stack].region  # read from the replica in CloudFront's region
        sent.add((arn, *rest))
    assert len(sent) == 1 and next(iter(sent))[1:] == ("value", "", "")
    for stack in origin_stacks:
        (listener,) = [r["Properties"] for r in assembly.of_type(stack, "AWS::ElasticLoadBalancingV2::Listener")
                       .values() if "RedirectConfig" not in json.dumps(r["Properties"]["DefaultActions"])]
        assert listener["DefaultActions"] == FORBIDDEN
        group = assembly.resource_id(stack, "Origin/Targets/Resource")
        rules = {r["Properties"]["Priority"]: r["Properties"]
                 for r in assembly.of_type(stack, "AWS::ElasticLoadBalancingV2::ListenerRule").values()}
        assert all(r["Actions"] == [{"TargetGroupArn": {"Ref": group}, "Type": "forward"}] for r in rules.values())
        ((condition),) = rules[10]["Conditions"]
        assert (condition["Field"], condition["HttpHeaderConfig"]["HttpHeaderName"]) == ("http-header",
                                                                                           "X-Origin-Verify")
        accepted = set()
        for value in condition["HttpHeaderConfig"]["Values"]:
            arn, region, *rest = _reference(assembly, stack, value)
            assert region == assembly.stacks[stack].region  # each region reads its own replica
            accepted.add((arn, *rest))
        assert accepted == sent, stack
        if prefix == "EdgeDomain":  # Route 53's HTTPS health check cannot send the header
            assert sorted(rules) == [10, 20]
            assert sorted(rules[20]["Conditions"], key=lambda c: c["Field"]) == [
                {"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET", "HEAD"]}},
                {"Field": "path-pattern", "PathPatternConfig": {"Values": ["/health"]}}]
        else:
            assert sorted(rules) == [10]


def test_pinned_versions_rotate_without_a_gap() -> None:
    new, old = "a1b2c3d4-0000-4000-8000-000000000002", "a1b2c3d4-0000-4000-8000-000000000001"
    app = new_app()
    stacks = build_edge(app, "Rot", origin_secret_version=new, origin_secret_previous_version=old)
    assembly = app.synth()

    def values(stack_id: str, find) -> list[str]:
        template = assembly.get_stack_by_name(stack_id).template
        return [json.dumps(v) for v in find(template)]

    def alb(template: dict) -> list:
        (rule,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ElasticLoadBalancingV2::ListenerRule"]
        return rule["Properties"]["Conditions"][0]["HttpHeaderConfig"]["Values"]

    def cloudfront_(template: dict) -> list:
        (dist,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::CloudFront::Distribution"]
        return [h["HeaderValue"] for o in dist["Properties"]["DistributionConfig"]["Origins"]
                for h in o.get("OriginCustomHeaders", [])]

    for stack_id in ("RotOriginUsEast1", "RotOriginEuWest1"):
        accepted = values(stack_id, alb)
        assert [a.endswith(f':SecretString:value::{v}}}}}"]]}}') for a, v in zip(accepted, (new, old))] == [True] * 2
    sent = values("RotStack", cloudfront_)
    assert sent and all(v.endswith(f':SecretString:value::{new}}}}}"]]}}') for v in sent)
    assert sorted(stacks) == ["RotOriginEuWest1", "RotOriginUsEast1", "RotStack"]


ORIGIN_STACKS = ["EdgeOriginUsEast1", "EdgeOriginEuWest1", "EdgeDomainOriginUsEast1", "EdgeDomainOriginEuWest1",
                 "EdgeAccelOriginUsEast1", "EdgeAccelOriginEuWest1", "EdgeAccelOriginApSoutheast2"]


@pytest.mark.parametrize("stack", ORIGIN_STACKS)
def test_origin_vpc_has_the_endpoints_an_ecs_service_needs_without_nat(assembly: Assembly, stack: str) -> None:
    # No NAT gateway, so the documented Fargate service pulls from ECR (api, dkr, layers in S3)
    # and writes its logs through endpoints in its own (private) subnets.
    region = assembly.stacks[stack].region
    assert not assembly.of_type(stack, "AWS::EC2::NatGateway")
    endpoints = assembly.of_type(stack, "AWS::EC2::VPCEndpoint").values()
    interface = {e["Properties"]["ServiceName"]: e["Properties"] for e in endpoints
                 if e["Properties"].get("VpcEndpointType") == "Interface"}
    assert {f"com.amazonaws.{region}.{name}" for name in ("ecr.api", "ecr.dkr", "logs")} <= set(interface)
    private = {assembly.resource_id(stack, f"Network/Vpc/PrivateSubnet{i}/Subnet") for i in (1, 2)}
    for props in interface.values():
        assert props["PrivateDnsEnabled"] is True
        assert {ref["Ref"] for ref in props["SubnetIds"]} == private
    (s3,) = [e["Properties"] for e in endpoints if e["Properties"].get("VpcEndpointType", "Gateway") == "Gateway"
             and json.dumps(e["Properties"]["ServiceName"]).endswith('".s3"]]}')]
    assert {assembly.resource_id(stack, f"Network/Vpc/PrivateSubnet{i}/RouteTable") for i in (1, 2)} <= {
        ref["Ref"] for ref in s3["RouteTableIds"]}


def test_documented_ecs_service_runs_where_the_endpoints_are() -> None:
    """The regional origin example of docs/edge.md, as written: its Fargate service runs in the
    private subnets, which hold the ECR and Logs endpoints and route to the S3 gateway endpoint."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parent.parent / "docs" / "edge.md").read_text()
    start = doc.index("from aws_cdk import aws_ec2 as ec2, aws_ecr")
    example = doc[start:doc.index("```", start)]
    stack = cdk.Stack(new_app(), "DocOrigin", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    zone = route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z1",
                                                                zone_name="example.com")
    exec(example, {"self": stack, "zone": zone})  # noqa: S102 - the documented code, verbatim
    template = Template.from_stack(stack)
    ((_, service),) = template.find_resources("AWS::ECS::Service").items()
    subnets = {ref["Ref"] for ref in service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]}
    endpoints = template.find_resources("AWS::EC2::VPCEndpoint", {"Properties": {"VpcEndpointType": "Interface"}})
    names = {e["Properties"]["ServiceName"]: {ref["Ref"] for ref in e["Properties"]["SubnetIds"]}
             for e in endpoints.values()}
    assert {n.split(".", 3)[-1] for n in names} >= {"ecr.api", "ecr.dkr", "logs"}
    assert all(ids == subnets for ids in names.values())
    assert service["Properties"]["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"] == "DISABLED"


# --- options, on one small stack ---------------------------------------------------------------


@pytest.fixture(scope="module")
def options() -> Template:
    app = new_app()
    stack = cdk.Stack(app, "EdgeOptions", env=cdk.Environment(account="123456789012", region="us-east-1"))
    acl = EdgeWebAcl(stack, "Acl", rate_limit=300, rate_window=cdk.Duration.minutes(1),
                     managed_rule_groups=["AWSManagedRulesSQLiRuleSet"])
    EdgeDistribution(
        stack, "Site", api_origins=["api.example.org"], web_acl=acl.web_acl, origin_shield_region="eu-west-1",
        geo_restriction=cloudfront.GeoRestriction.allowlist("DE", "FR"),
        price_class=cloudfront.PriceClass.PRICE_CLASS_100,
    )
    albs = {
        region: elbv2.ApplicationLoadBalancer.from_application_load_balancer_attributes(
            stack, f"Alb{_pascal(region)}",
            load_balancer_arn=f"arn:aws:elasticloadbalancing:{region}:123456789012:loadbalancer/app/a/1",
            security_group_id="sg-1",
        )
        for region in ("us-east-1", "eu-west-1")
    }
    zone = route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z1",
                                                                zone_name="example.org")
    EdgeAccelerator(
        stack, "Accel",
        regions=[RegionEndpoints(region="us-east-1", load_balancers=[albs["us-east-1"]], traffic_dial=100),
                 RegionEndpoints(region="eu-west-1", load_balancers=[albs["eu-west-1"]], traffic_dial=25)],
        listeners=[AcceleratorListener(ports=[(443, 443), (8443, 8450)], client_affinity=ga.ClientAffinity.SOURCE_IP)],
        dual_stack=True, record=(zone, "api.example.org"),
    )
    return Template.from_stack(stack)


def test_web_acl_options(options: Template) -> None:
    options.has_resource_properties("AWS::WAFv2::WebACL", {
        "Rules": [Match.object_like({"Statement": {"ManagedRuleGroupStatement": {
            "VendorName": "AWS", "Name": "AWSManagedRulesSQLiRuleSet"}}}),
            Match.object_like({"Statement": {"RateBasedStatement": {
                "AggregateKeyType": "IP", "Limit": 300, "EvaluationWindowSec": 60}}})]})


def test_origin_shield_geo_restriction_and_price_class(options: Template) -> None:
    config = next(iter(options.find_resources("AWS::CloudFront::Distribution").values()))["Properties"][
        "DistributionConfig"]
    assert all(o["OriginShield"] == {"Enabled": True, "OriginShieldRegion": "eu-west-1"} for o in config["Origins"])
    assert config["Restrictions"] == {"GeoRestriction": {"Locations": ["DE", "FR"], "RestrictionType": "whitelist"}}
    assert config["PriceClass"] == "PriceClass_100"
    (http,) = [o for o in config["Origins"] if "CustomOriginConfig" in o]
    assert http["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"
    options.resource_count_is("AWS::WAFv2::WebACL", 1)  # the one passed in, no second


def test_accelerator_options(options: Template) -> None:
    options.has_resource_properties("AWS::GlobalAccelerator::Accelerator", {"IpAddressType": "DUAL_STACK"})
    options.has_resource_properties("AWS::GlobalAccelerator::Listener", {
        "ClientAffinity": "SOURCE_IP",
        "PortRanges": [{"FromPort": 443, "ToPort": 443}, {"FromPort": 8443, "ToPort": 8450}]})
    options.has_resource_properties("AWS::GlobalAccelerator::EndpointGroup", {
        "EndpointGroupRegion": "eu-west-1", "TrafficDialPercentage": 25})
    options.resource_count_is("AWS::Route53::RecordSet", 2)  # A and AAAA
    options.has_resource_properties("AWS::Route53::RecordSet", {"Name": "api.example.org.", "Type": "AAAA"})


def test_failover_routing_makes_one_region_primary_and_the_other_standby() -> None:
    from refarch import secure
    from refarch.edge import OriginDomain, RegionalOrigin

    app = new_app()
    records, origins = {}, {}
    for region, role in (("us-east-1", route53.Failover.PRIMARY), ("eu-west-1", route53.Failover.SECONDARY)):
        stack = cdk.Stack(app, f"Failover{_pascal(region)}",
                          env=cdk.Environment(account="123456789012", region=region))
        vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-1", availability_zones=[f"{region}a"],
                                          public_subnet_ids=["subnet-1"], public_subnet_route_table_ids=["rtb-1"],
                                          vpc_cidr_block="10.0.0.0/16")
        zone = route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z1",
                                                                    zone_name="example.org")
        origins[region] = RegionalOrigin(stack, "Origin", vpc=vpc,
                                         access_logs=secure.access_logs_bucket(stack, "Logs"),
                                         domain=OriginDomain(zone=zone, domain="example.org", failover=role))
    for region, origin in origins.items():
        template = Template.from_stack(cdk.Stack.of(origin))
        (check_id,) = template.find_resources("AWS::Route53::HealthCheck")
        ((_, record),) = template.find_resources("AWS::Route53::RecordSet", {
            "Properties": {"Name": "origin.example.org."}}).items()
        records[region] = (record["Properties"], check_id)
        assert origin.routed_record.node.id == "FailoverRecord"
        alb = template.find_resources("AWS::ElasticLoadBalancingV2::LoadBalancer")
        assert record["Properties"]["AliasTarget"]["HostedZoneId"] == {"Fn::GetAtt": [*alb, "CanonicalHostedZoneID"]}
    for region, role in (("us-east-1", "PRIMARY"), ("eu-west-1", "SECONDARY")):
        props, check_id = records[region]
        assert (props["Failover"], props["SetIdentifier"], props["HealthCheckId"]) == (role, region, {"Ref": check_id})
        assert "Region" not in props and props["AliasTarget"]["EvaluateTargetHealth"] is True


def test_build_edge_failover_assigns_primary_then_standby() -> None:
    stacks = build_edge(new_app(), "Fo", domain="example.org", hosted_zone_id="Z1", failover=True,
                        regions=("eu-west-1", "us-east-1"))
    roles = {stack_id: stacks[stack_id].origin.routed_record.failover
             for stack_id in ("FoOriginEuWest1", "FoOriginUsEast1")}
    assert roles == {"FoOriginEuWest1": "PRIMARY", "FoOriginUsEast1": "SECONDARY"}


def test_allow_from_narrows_the_origin_and_drops_the_acknowledgment() -> None:
    from refarch import secure
    from refarch.edge import RegionalOrigin

    app = new_app()
    stack = cdk.Stack(app, "Narrow", env=cdk.Environment(account="123456789012", region="eu-west-1"))
    network = secure.Network(stack, "Network")
    RegionalOrigin(stack, "Origin", vpc=network.vpc, access_logs=secure.access_logs_bucket(stack, "Logs"),
                   allow_from=[ec2.Peer.prefix_list("pl-4fa04526")])
    template = Template.from_stack(stack)
    groups = template.find_resources("AWS::EC2::SecurityGroup",
                                     {"Properties": {"GroupDescription": Match.string_like_regexp("listeners")}})
    ((group_id, group),) = groups.items()
    assert "SecurityGroupIngress" not in group["Properties"]  # no 0.0.0.0/0
    ingress = template.find_resources("AWS::EC2::SecurityGroupIngress")
    assert sorted((r["Properties"]["SourcePrefixListId"], r["Properties"]["FromPort"]) for r in ingress.values()
                  if r["Properties"]["GroupId"] == {"Fn::GetAtt": [group_id, "GroupId"]}) == [("pl-4fa04526", 80)]
    assert "cdk_nag" not in group.get("Metadata", {}) and "checkov" not in group.get("Metadata", {})
