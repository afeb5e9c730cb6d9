"""Fine-grained assertions: every mutual-TLS default, on the synthesized templates.

Stacks: the app's ``MutualTlsStack`` (CA bundle from a file, no CRL) and the
cases in tests/cases/mutual_tls.py (``MutualTlsRevocation``: a CRL, TLS 1.3
only, one client network; ``MutualTlsExistingObjects``: CA bundle and CRLs
from an existing bucket). What the listener does with a client certificate is
proven offline in test_mutual_tls_behaviour.py.
"""

from __future__ import annotations

import pytest

from refarch.mutual_tls import CLIENT_CERT_HEADERS
from tests.conftest import Assembly

APP = "MutualTlsStack"
ALL = (APP, "MutualTlsRevocation", "MutualTlsExistingObjects")
LISTENER = "AWS::ElasticLoadBalancingV2::Listener"


def _one(assembly: Assembly, stack: str, type_: str) -> tuple[str, dict]:
    [(logical_id, resource)] = assembly.of_type(stack, type_).items()
    return logical_id, resource


def _attributes(assembly: Assembly, stack: str) -> dict:
    _, alb = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    return {a["Key"]: a["Value"] for a in alb["Properties"]["LoadBalancerAttributes"]}


@pytest.mark.parametrize("stack", ALL)
def test_listener_verifies_client_certificates_against_the_trust_store(assembly: Assembly, stack: str) -> None:
    _, listener = _one(assembly, stack, LISTENER)
    store_id, _ = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TrustStore")
    props = listener["Properties"]
    assert props["Protocol"] == "HTTPS" and props["Port"] == 443
    assert props["MutualAuthentication"] == {
        "Mode": "verify",
        "TrustStoreArn": {"Fn::GetAtt": [store_id, "TrustStoreArn"]},
        "IgnoreClientCertificateExpiry": False,
        "AdvertiseTrustStoreCaNames": "off",
    }


def test_only_https_listens(assembly: Assembly) -> None:
    for stack in ALL:
        assert len(assembly.of_type(stack, LISTENER)) == 1
        _, group = _one(assembly, stack, "AWS::EC2::SecurityGroup")  # the VPC's default group is not a resource
        ports = {(r["FromPort"], r["ToPort"]) for r in group["Properties"]["SecurityGroupIngress"]}
        assert ports == {(443, 443)}
        assert group["Properties"]["SecurityGroupEgress"][0]["CidrIp"] == "255.255.255.255/32"  # no egress: a Lambda target needs none


def test_default_tls_policy_is_tls_1_2_and_1_3_restricted(assembly: Assembly) -> None:
    _, listener = _one(assembly, APP, LISTENER)
    assert listener["Properties"]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
    _, listener = _one(assembly, "MutualTlsRevocation", LISTENER)
    assert listener["Properties"]["SslPolicy"] == "ELBSecurityPolicy-TLS13-1-3-2021-06"


def test_default_is_open_to_any_ipv4_and_allow_from_narrows(assembly: Assembly) -> None:
    _, group = _one(assembly, APP, "AWS::EC2::SecurityGroup")
    assert [r["CidrIp"] for r in group["Properties"]["SecurityGroupIngress"]] == ["0.0.0.0/0"]
    _, group = _one(assembly, "MutualTlsRevocation", "AWS::EC2::SecurityGroup")
    assert [r["CidrIp"] for r in group["Properties"]["SecurityGroupIngress"]] == ["203.0.113.0/24"]


def test_trust_store_reads_the_ca_bundle_asset(assembly: Assembly) -> None:
    _, store = _one(assembly, APP, "AWS::ElasticLoadBalancingV2::TrustStore")
    props = store["Properties"]
    assert props["CaCertificatesBundleS3Bucket"] == "cdk-hnb659fds-assets-123456789012-eu-west-1"
    assert props["CaCertificatesBundleS3Key"].endswith(".pem")
    assert "CaCertificatesBundleS3ObjectVersion" not in props
    assert not assembly.of_type(APP, "AWS::ElasticLoadBalancingV2::TrustStoreRevocation")  # no CRL by default


def test_existing_objects_are_read_where_they_are(assembly: Assembly) -> None:
    stack = "MutualTlsExistingObjects"
    _, store = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TrustStore")
    assert store["Properties"] == {
        **store["Properties"],
        "CaCertificatesBundleS3Bucket": "example-pki-bucket",
        "CaCertificatesBundleS3Key": "trust/ca-bundle.pem",
        "CaCertificatesBundleS3ObjectVersion": "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
    }
    _, revocation = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TrustStoreRevocation")
    contents = revocation["Properties"]["RevocationContents"]
    assert [(c["S3Bucket"], c["S3Key"], c["RevocationType"]) for c in contents] == [
        ("example-pki-bucket", "crl/root.pem", "CRL"), ("example-pki-bucket", "crl/issuing.pem", "CRL")]


def test_crl_is_loaded_before_the_listener_admits_anyone(assembly: Assembly) -> None:
    stack = "MutualTlsRevocation"
    revocation_id, revocation = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TrustStoreRevocation")
    store_id, _ = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TrustStore")
    [content] = revocation["Properties"]["RevocationContents"]
    assert content["RevocationType"] == "CRL" and content["S3Key"].endswith(".pem")
    assert revocation["Properties"]["TrustStoreArn"] == {"Fn::GetAtt": [store_id, "TrustStoreArn"]}
    _, listener = _one(assembly, stack, LISTENER)
    assert revocation_id in listener["DependsOn"]


@pytest.mark.parametrize("stack", ALL)
def test_access_and_connection_logs_go_to_an_sse_s3_bucket(assembly: Assembly, stack: str) -> None:
    attributes = _attributes(assembly, stack)
    assert attributes["access_logs.s3.enabled"] == "true"
    assert attributes["connection_logs.s3.enabled"] == "true"
    bucket = attributes["access_logs.s3.bucket"]
    assert attributes["connection_logs.s3.bucket"] == bucket
    assert attributes["access_logs.s3.prefix"] != attributes["connection_logs.s3.prefix"]
    props = assembly.template(stack)["Resources"][bucket["Ref"]]["Properties"]
    # ALB log delivery accepts SSE-S3 only on the destination bucket.
    [rule] = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True


@pytest.mark.parametrize("stack", ALL)
def test_log_delivery_may_write_both_prefixes(assembly: Assembly, stack: str) -> None:
    attributes = _attributes(assembly, stack)
    [(_, policy)] = [(k, r) for k, r in assembly.of_type(stack, "AWS::S3::BucketPolicy").items()
                     if r["Properties"]["Bucket"] == attributes["access_logs.s3.bucket"]]
    text = str(policy["Properties"]["PolicyDocument"])
    for kind in ("access", "connection"):
        assert f"/{attributes[f'{kind}_logs.s3.prefix']}/AWSLogs/123456789012/*" in text
    assert "arn:aws:iam::156460612806:root" in text  # the ELB account of eu-west-1


def test_load_balancer_defaults(assembly: Assembly) -> None:
    attributes = _attributes(assembly, APP)
    assert attributes["routing.http.drop_invalid_header_fields.enabled"] == "true"
    assert attributes["deletion_protection.enabled"] == "true"
    assert _attributes(assembly, "MutualTlsExistingObjects")["deletion_protection.enabled"] == "false"
    _, alb = _one(assembly, APP, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    assert alb["Properties"]["Scheme"] == "internet-facing"


def test_default_logs_bucket_is_retained_and_removal_policy_changes_it(assembly: Assembly) -> None:
    bucket = _attributes(assembly, APP)["access_logs.s3.bucket"]["Ref"]
    assert assembly.template(APP)["Resources"][bucket]["DeletionPolicy"] == "Retain"
    assert assembly.resource_id(APP, "Service/Logs/Resource") == bucket  # pinned: renaming it replaces the bucket
    other = _attributes(assembly, "MutualTlsExistingObjects")["access_logs.s3.bucket"]["Ref"]
    assert assembly.template("MutualTlsExistingObjects")["Resources"][other]["DeletionPolicy"] == "Delete"


def test_the_function_is_the_only_target_and_only_elb_in_this_account_invokes_it(assembly: Assembly) -> None:
    _, group = _one(assembly, APP, "AWS::ElasticLoadBalancingV2::TargetGroup")
    function_id = assembly.resource_id(APP, "Echo/Resource")
    assert group["Properties"]["TargetType"] == "lambda"
    assert group["Properties"]["Targets"] == [{"Id": {"Fn::GetAtt": [function_id, "Arn"]}}]
    _, permission = _one(assembly, APP, "AWS::Lambda::Permission")
    assert permission["Properties"]["Principal"] == "elasticloadbalancing.amazonaws.com"
    assert permission["Properties"]["SourceAccount"] == "123456789012"


def test_certificate_is_dns_validated_in_the_zone_and_the_name_points_at_the_alb(assembly: Assembly) -> None:
    _, cert = _one(assembly, APP, "AWS::CertificateManager::Certificate")
    assert cert["Properties"]["DomainName"] == "mtls.example.com"
    assert cert["Properties"]["ValidationMethod"] == "DNS"
    assert cert["Properties"]["DomainValidationOptions"] == [
        {"DomainName": "mtls.example.com", "HostedZoneId": "Z00000000000000000000"}]
    _, record = _one(assembly, APP, "AWS::Route53::RecordSet")
    assert record["Properties"]["Name"] == "mtls.example.com."
    assert record["Properties"]["Type"] == "A" and "AliasTarget" in record["Properties"]


def test_alarms_on_refused_handshakes_5xx_and_function_errors(assembly: Assembly) -> None:
    alarms = {a["Properties"]["MetricName"]: a["Properties"]
              for a in assembly.of_type(APP, "AWS::CloudWatch::Alarm").values()}
    assert set(alarms) >= {"ClientTLSNegotiationErrorCount", "HTTPCode_ELB_5XX_Count", "Errors"}
    refused = alarms["ClientTLSNegotiationErrorCount"]
    assert refused["Namespace"] == "AWS/ApplicationELB"
    assert (refused["Statistic"], refused["Period"], refused["Threshold"]) == ("Sum", 300, 10)
    assert refused["TreatMissingData"] == "notBreaching"
    assert refused["Dimensions"][0]["Name"] == "LoadBalancer"
    for alarm in alarms.values():
        assert alarm["AlarmActions"] and alarm["OKActions"]
    threshold = [a["Properties"]["Threshold"] for a in assembly.of_type("MutualTlsRevocation",
                 "AWS::CloudWatch::Alarm").values() if a["Properties"]["MetricName"] == "ClientTLSNegotiationErrorCount"]
    assert threshold == [0]
    no_topic = assembly.of_type("MutualTlsExistingObjects", "AWS::CloudWatch::Alarm").values()
    assert no_topic and all("AlarmActions" not in a["Properties"] for a in no_topic)


def test_the_documented_headers_are_named() -> None:
    assert all(h.startswith("X-Amzn-Mtls-Clientcert-") for h in CLIENT_CERT_HEADERS)
    assert {"X-Amzn-Mtls-Clientcert-Subject", "X-Amzn-Mtls-Clientcert-Serial-Number"} <= set(CLIENT_CERT_HEADERS)


def test_stack_outputs(assembly: Assembly) -> None:
    outputs = assembly.template(APP)["Outputs"]
    assert outputs["Url"]["Value"] == "https://mtls.example.com/"
    assert {"TrustStoreArn", "LogsBucket", "AlarmTopicArn"} <= set(outputs)
    assert "DashboardUrl" in outputs


@pytest.mark.parametrize("stack", ALL)
def test_a_logged_regional_web_acl_guards_the_load_balancer(assembly: Assembly, stack: str) -> None:
    """The handshake refuses untrusted clients; the web ACL inspects what trusted ones send and limits a
    client that floods (tests/test_hardening.py checks its logging for every web ACL)."""
    alb_id, _ = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    acl_id, acl = _one(assembly, stack, "AWS::WAFv2::WebACL")
    _, association = _one(assembly, stack, "AWS::WAFv2::WebACLAssociation")
    assert association["Properties"] == {"ResourceArn": {"Ref": alb_id}, "WebACLArn": {"Fn::GetAtt": [acl_id, "Arn"]}}
    props = acl["Properties"]
    assert props["Scope"] == "REGIONAL" and props["VisibilityConfig"]["MetricName"] == "MutualTlsWebAcl"
    [rate] = [r for r in props["Rules"] if "RateBasedStatement" in r["Statement"]]
    assert rate["Statement"]["RateBasedStatement"]["Limit"] == 1000 and rate["Action"] == {"Block": {}}
    managed = {r["Statement"]["ManagedRuleGroupStatement"]["Name"] for r in props["Rules"]
               if "ManagedRuleGroupStatement" in r["Statement"]}
    assert "AWSManagedRulesKnownBadInputsRuleSet" in managed and "AWSManagedRulesCommonRuleSet" in managed


def test_a_web_acl_of_your_own_replaces_the_default() -> None:
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from refarch import secure
    from tests.test_mutual_tls_validation import ENV, _service

    stack = cdk.Stack(cdk.App(), "Own", env=ENV)
    own = secure.WebAcl(stack, "Own", regional=True, rate_limit=20_000, metric_name="Partners")
    service = _service(stack, web_acl=own.web_acl)
    assert service.web_acl is own.web_acl
    template = Template.from_stack(stack)
    template.resource_count_is("AWS::WAFv2::WebACL", 1)
    template.has_resource_properties("AWS::WAFv2::WebACLAssociation", {
        "WebACLArn": {"Fn::GetAtt": [stack.get_logical_id(own.web_acl), "Arn"]}})


@pytest.mark.parametrize("stack", ALL)
def test_dashboard_follows_the_data_path(assembly: Assembly, stack: str) -> None:
    """Requests and refused handshakes, then the load balancer's and the target group's view, then the
    function: each metric on the pattern's own load balancer, target group and function."""
    import json

    from tests.test_dashboards import resolve_body

    _, resource = _one(assembly, stack, "AWS::CloudWatch::Dashboard")
    body = resolve_body(resource["Properties"]["DashboardBody"])
    alb_id, _ = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::LoadBalancer")
    group_id, _ = _one(assembly, stack, "AWS::ElasticLoadBalancingV2::TargetGroup")
    [function_id] = [i for i, r in assembly.of_type(stack, "AWS::Lambda::Function").items()
                     if r["Properties"].get("Handler") == "app.handler"]
    metrics = [(w["properties"]["title"], m) for w in body["widgets"]
               for m in w["properties"].get("metrics", [])]
    names = [m[1] for _, m in metrics]
    for first, then in [("RequestCount", "ClientTLSNegotiationErrorCount"),
                        ("ClientTLSNegotiationErrorCount", "HTTPCode_Target_5XX_Count"),
                        ("TargetResponseTime", "Invocations"), ("Invocations", "Duration")]:
        assert names.index(first) < names.index(then), names
    assert {"HTTPCode_ELB_4XX_Count", "HTTPCode_ELB_5XX_Count", "HTTPCode_Target_4XX_Count",
            "LambdaUserError", "LambdaInternalError", "Errors", "Throttles"} <= set(names)
    for _, metric in metrics:
        text = json.dumps(metric)
        if metric[0] == "AWS/WAFV2":
            continue  # checked above
        if metric[0] == "AWS/Lambda":
            assert metric[2:4] == ["FunctionName", f"${{Ref:{function_id}}}"], metric
        elif metric[1] in {"ClientTLSNegotiationErrorCount", "RequestCount", "HTTPCode_ELB_5XX_Count"}:
            assert metric[2:4] == ["LoadBalancer", f"${{GetAtt:{alb_id}.LoadBalancerFullName}}"], metric
        elif metric[1] != "HTTPCode_ELB_4XX_Count":
            assert "TargetGroup" in metric and f"${{GetAtt:{group_id}.TargetGroupFullName}}" in text, metric
    waf = [m for _, m in metrics if m[0] == "AWS/WAFV2"]
    assert {m[1] for m in waf} == {"AllowedRequests", "BlockedRequests"}
    for m in waf:  # [namespace, name, key, value, ..., {options}]
        dims = dict(zip(m[2:-1:2], m[3:-1:2]))
        assert dims["WebACL"] == "MutualTlsWebAcl" and dims["Region"] == "eu-west-1", m
    assert names.index("ClientTLSNegotiationErrorCount") < names.index("BlockedRequests") < names.index(
        "HTTPCode_Target_5XX_Count")
    refused = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Refused TLS")]
    thresholds = {a["value"] for a in refused[0]["properties"]["annotations"]["horizontal"]}
    assert thresholds == {0 if stack == "MutualTlsRevocation" else 10}


def test_dashboard_false_creates_none(tmp_path) -> None:
    import aws_cdk as cdk
    from aws_cdk import aws_ec2 as ec2
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_route53 as route53
    from aws_cdk import aws_s3 as s3
    from aws_cdk.assertions import Template

    from refarch.mutual_tls import MutualTlsService, PemObject

    stack = cdk.Stack(cdk.App(), "Tiny", env=cdk.Environment(account="111111111111", region="eu-west-1"))
    service = MutualTlsService(
        stack, "S", vpc=ec2.Vpc(stack, "V"), domain_name="a.example.com",
        zone=route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Z", hosted_zone_id="Z1",
                                                                  zone_name="example.com"),
        ca_bundle=PemObject.from_bucket(s3.Bucket.from_bucket_name(stack, "B", "pki"), "ca.pem"),
        function=lambda_.Function(stack, "F", runtime=lambda_.Runtime.PYTHON_3_13, handler="a.h",
                                  code=lambda_.Code.from_inline("def h(e, c): pass")),
        dashboard=False,
    )
    assert service.dashboard is None
    Template.from_stack(stack).resource_count_is("AWS::CloudWatch::Dashboard", 0)
