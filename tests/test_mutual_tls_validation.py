"""Every bad mutual-TLS input fails at synth time with a message naming the prop and the value."""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3

from refarch.mutual_tls import MutualTlsService, PemObject
from stacks.mutual_tls_stack import PLACEHOLDER_CA_BUNDLE, MutualTlsStack
from tests.cases.mutual_tls import CRL
from tests.conftest import new_app

ENV = cdk.Environment(account="123456789012", region="eu-west-1")


def _service(stack: cdk.Stack | None = None, **overrides) -> MutualTlsService:
    stack = stack or cdk.Stack(new_app(), "Bad", env=ENV)
    vpc = ec2.Vpc.from_vpc_attributes(stack, "Vpc", vpc_id="vpc-1", availability_zones=["eu-west-1a", "eu-west-1b"],
                                      public_subnet_ids=["subnet-1", "subnet-2"], vpc_cidr_block="10.0.0.0/16")
    props = dict(
        vpc=vpc,
        zone=route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z1",
                                                                  zone_name="example.com"),
        domain_name="mtls.example.com",
        ca_bundle=PemObject.from_file(PLACEHOLDER_CA_BUNDLE),
        function=lambda_.Function.from_function_arn(stack, "Fn", "arn:aws:lambda:eu-west-1:123456789012:function:f"),
    )
    props.update(overrides)
    return MutualTlsService(stack, "Service", **props)


def _fails(message: str, **overrides) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        _service(**overrides)


def test_the_defaults_are_valid() -> None:
    _service()


@pytest.mark.parametrize("name", ["MTLS.example.com", "mtls", "-a.example.com", "a..example.com", "", "a b.example.com"])
def test_domain_name_must_be_a_dns_name(name: str) -> None:
    _fails(f"domain_name must be a lower-case DNS name such as mtls.example.com (got {name!r})", domain_name=name)


def test_domain_name_must_be_inside_the_zone() -> None:
    _fails("domain_name must be inside the hosted zone example.com (got 'mtls.example.org')",
           domain_name="mtls.example.org")


def test_ca_bundle_file_must_exist(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.pem")
    _fails(f"ca_bundle must name an existing file (got {missing!r})", ca_bundle=PemObject.from_file(missing))


def test_ca_bundle_must_hold_certificates() -> None:
    _fails(f"ca_bundle must be a PEM file containing -----BEGIN CERTIFICATE----- (got {CRL!r})",
           ca_bundle=PemObject.from_file(CRL))


def test_ca_bundle_must_not_hold_a_private_key(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(Path(PLACEHOLDER_CA_BUNDLE).read_text() + "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----\n")
    _fails(f"ca_bundle must not contain a private key (it would be uploaded to S3) (got {str(bundle)!r})",
           ca_bundle=PemObject.from_file(bundle))


def test_ca_bundle_must_be_a_pem_object() -> None:
    _fails("ca_bundle must be a PemObject (got 'ca.pem')", ca_bundle="ca.pem")


def test_pem_object_needs_a_file_or_a_bucket() -> None:
    _fails("ca_bundle must be PemObject.from_file(...) or PemObject.from_bucket(...) (got PemObject(", ca_bundle=PemObject())


def test_object_key_must_not_start_with_a_slash() -> None:
    stack = cdk.Stack(new_app(), "Bad", env=ENV)
    pki = s3.Bucket.from_bucket_name(stack, "Pki", "pki")
    with pytest.raises(ValueError, match=re.escape("ca_bundle.key must be an object key without a leading slash "
                                                   "(got '/ca.pem')")):
        _service(stack, ca_bundle=PemObject.from_bucket(pki, "/ca.pem"))


def test_crls_must_hold_crls() -> None:
    _fails(f"crls[] must be a PEM file containing -----BEGIN X509 CRL----- (got {PLACEHOLDER_CA_BUNDLE!r})",
           crls=[PemObject.from_file(PLACEHOLDER_CA_BUNDLE)])


def test_crls_must_be_pem_objects() -> None:
    _fails("crls[] must be a PemObject (got 'crl.pem')", crls=["crl.pem"])


@pytest.mark.parametrize("policy", [elbv2.SslPolicy.TLS11, elbv2.SslPolicy.TLS13_10, elbv2.SslPolicy.TLS13_11,
                                    elbv2.SslPolicy.LEGACY, elbv2.SslPolicy.FORWARD_SECRECY_TLS11,
                                    elbv2.SslPolicy.FIPS_TLS13_10])
def test_ssl_policy_must_start_at_tls_1_2(policy: elbv2.SslPolicy) -> None:
    _fails(f"ssl_policy must be a policy whose lowest protocol is TLS 1.2 or 1.3 (got {policy!r})", ssl_policy=policy)


def test_allow_from_must_not_be_empty() -> None:
    _fails("allow_from must name at least one peer (or be left unset for any IPv4 address) (got [])", allow_from=[])


@pytest.mark.parametrize("value", [-1, 1.5, "10"])
def test_tls_error_threshold_must_be_a_non_negative_integer(value) -> None:
    _fails(f"tls_error_threshold must be an integer >= 0 (got {value!r})", tls_error_threshold=value)


def test_stack_needs_an_explicit_region() -> None:
    with pytest.raises(ValueError, match=re.escape("region must be explicit (a stack with an env)")):
        _service(cdk.Stack(new_app(), "Agnostic"))


def test_app_stack_domain_needs_a_parent_zone() -> None:
    with pytest.raises(ValueError, match=re.escape("mtls_domain must be a name below a hosted zone's apex "
                                                   "(got 'localhost')")):
        MutualTlsStack(new_app(), "Bad", env=ENV, domain_name="localhost")


def test_app_stack_zone_id_must_be_a_route53_id() -> None:
    with pytest.raises(ValueError, match=re.escape("mtls_hosted_zone_id must be a Route 53 hosted zone ID such as "
                                                   "Z0123456789ABC (got 'example.com')")):
        MutualTlsStack(new_app(), "Bad", env=ENV, hosted_zone_id="example.com")


def test_web_acl_must_be_regional() -> None:
    from aws_cdk import aws_wafv2 as wafv2

    stack = cdk.Stack(new_app(), "Bad", env=ENV)
    acl = wafv2.CfnWebACL(stack, "Acl", scope="CLOUDFRONT", default_action={"allow": {}},
                          visibility_config={"cloudWatchMetricsEnabled": True, "metricName": "a",
                                             "sampledRequestsEnabled": True})
    with pytest.raises(ValueError, match=re.escape("web_acl.scope must be REGIONAL")):
        _service(stack, web_acl=acl)


def test_web_acl_must_be_a_web_acl() -> None:
    _fails("web_acl must be a wafv2.CfnWebACL", web_acl="arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/a/b")
