"""Mutual-TLS configurations beyond the app's default (CA bundle from a file, no CRL).

* ``MutualTlsRevocation``: a CRL beside the CA bundle (both files, as assets),
  TLS 1.3 only, connections from one client network only, the logs in a bucket
  of the stack's own;
* ``MutualTlsExistingObjects``: the CA bundle and two CRLs read from a PKI
  bucket that already exists (pinned object versions), no alarm topic.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from aws_cdk import aws_s3 as s3

from refarch import secure
from refarch.mutual_tls import MutualTlsService, PemObject
from stacks.mutual_tls_stack import PLACEHOLDER_CA_BUNDLE, RUNTIME

CRL = str(Path(__file__).resolve().parent / "mutual_tls_crl.pem")
ENV = cdk.Environment(account="123456789012", region="eu-west-1")


def _base(stack: cdk.Stack) -> tuple[secure.Network, route53.IHostedZone, lambda_.Function]:
    network = secure.Network(stack, "Network")
    zone = route53.PublicHostedZone.from_hosted_zone_attributes(stack, "Zone", hosted_zone_id="Z0123456789ABCDEFGHIJ",
                                                                zone_name="example.com")
    key = secure.encryption_key(stack, "Key", description="function logs")
    secure.allow_logs_to_use_key(key)
    function = secure.python_function(stack, "Echo", code=lambda_.Code.from_asset(str(RUNTIME)),
                                      handler="app.handler", key=key)
    reason = ("The load balancer invokes it synchronously for each request: a failure is a 502 to the client, "
              "no event is left for a dead-letter queue.")
    secure.acknowledge(function.node.default_child, "Serverless::Serverless-LambdaDLQ", reason)
    secure.checkov_skip(function.node.default_child, "CKV_AWS_116", reason)
    return network, zone, function


def revocation(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "MutualTlsRevocation", env=ENV)
    network, zone, function = _base(stack)
    alarms = secure.AlarmTopic(stack, "Alarms")
    MutualTlsService(
        stack, "Partners", vpc=network.vpc, zone=zone, domain_name="partners.example.com",
        ca_bundle=PemObject.from_file(PLACEHOLDER_CA_BUNDLE), crls=[PemObject.from_file(CRL)],
        function=function, ssl_policy=elbv2.SslPolicy.TLS13_13,
        allow_from=[ec2.Peer.ipv4("203.0.113.0/24")],
        logs_bucket=secure.access_logs_bucket(stack, "Logs"), tls_error_threshold=0,
        alarm_topic=alarms.topic,
    )
    return stack


def existing_objects(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "MutualTlsExistingObjects", env=ENV)
    network, zone, function = _base(stack)
    pki = s3.Bucket.from_bucket_name(stack, "Pki", "example-pki-bucket")
    service = MutualTlsService(
        stack, "Devices", vpc=network.vpc, zone=zone, domain_name="devices.example.com",
        ca_bundle=PemObject.from_bucket(pki, "trust/ca-bundle.pem", version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"),
        crls=[PemObject.from_bucket(pki, "crl/root.pem"), PemObject.from_bucket(pki, "crl/issuing.pem")],
        function=function, deletion_protection=False, removal_policy=cdk.RemovalPolicy.DESTROY,
    )
    secure.acknowledge_strict(
        service.load_balancer.node.default_child, "ELBDeletionProtectionEnabled",
        "This test configuration turns deletion_protection off to show the prop; the construct's default and "
        "MutualTlsStack keep it on.",
    )
    return stack


CASES = {"MutualTlsRevocation": revocation, "MutualTlsExistingObjects": existing_objects}
