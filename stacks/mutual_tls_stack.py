"""MutualTlsStack: the mutual-TLS pattern as a deployable example.

``https://<domain>/`` admits only clients presenting a certificate from the
CA bundle, and answers with the certificate's subject, issuer and serial (the
``X-Amzn-Mtls-Clientcert-*`` headers the load balancer passes on). The VPC has
public subnets for the load balancer only; the function runs outside it.

The load balancer's log delivery is granted per region, so the stack has an
explicit environment. Without context it uses a placeholder account, domain,
hosted zone and CA bundle (``mutual_tls/placeholder-ca.pem``, whose key was
thrown away: nobody can connect), so synth stays offline; deploy with your
own (docs/mutual-tls.md):

    python -m refarch.tools.mtls demo --out mtls
    npx cdk deploy MutualTlsStack -c mtls_account=111122223333 -c mtls_region=eu-west-1 \
        -c mtls_domain=mtls.example.com -c mtls_hosted_zone_id=Z0123456789ABC \
        -c mtls_ca_bundle=mtls/ca.pem -c mtls_crl=mtls/crl.pem
"""

from __future__ import annotations

import re
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_route53 as route53
from constructs import Construct

from refarch import observe, secure
from refarch.mutual_tls import MutualTlsService, PemObject

RUNTIME = Path(__file__).resolve().parent.parent / "refarch" / "runtime" / "mtls_echo"
PLACEHOLDER_CA_BUNDLE = str(Path(__file__).resolve().parent / "mutual_tls" / "placeholder-ca.pem")
PLACEHOLDER_DOMAIN = "mtls.example.com"
PLACEHOLDER_ZONE_ID = "Z00000000000000000000"
DEFAULT_REGION = "eu-west-1"


class MutualTlsStack(cdk.Stack):
    """:param domain_name: the service's name. Default: a placeholder (``mtls.example.com``).
    :param hosted_zone_id: the public hosted zone of ``domain_name``'s parent. Default: a placeholder.
    :param ca_bundle: path of the CA bundle (PEM). Default: the placeholder CA (admits nobody).
    :param crl: path of a CRL (PEM). Default: none."""

    def __init__(self, scope: Construct, construct_id: str, *, domain_name: str = PLACEHOLDER_DOMAIN,
                 hosted_zone_id: str = PLACEHOLDER_ZONE_ID, ca_bundle: str = PLACEHOLDER_CA_BUNDLE,
                 crl: str | None = None, alarm_email: str | None = None, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        secure.require("." in domain_name, "mtls_domain", domain_name, "must be a name below a hosted zone's apex")
        secure.require(bool(re.fullmatch(r"Z[A-Z0-9]{1,31}", hosted_zone_id)), "mtls_hosted_zone_id", hosted_zone_id,
                       "must be a Route 53 hosted zone ID such as Z0123456789ABC")
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        # Public subnets for the load balancer; nothing runs in the private tier.
        network = secure.Network(self, "Network")
        zone = route53.PublicHostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id=hosted_zone_id, zone_name=domain_name.split(".", 1)[1])
        key = secure.encryption_key(self, "Key", description="The mutual-TLS service's function logs and environment")
        secure.allow_logs_to_use_key(key)
        function = secure.python_function(
            self, "Echo",
            code=lambda_.Code.from_asset(str(RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="app.handler", key=key, memory_size=256,
            description="Answers with the verified client certificate's subject (refarch mutual TLS)",
        )
        sync = ("The load balancer invokes it synchronously for each request "
                "(https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html): a failure "
                "is a 502 to the client, which retries; no event is left for a dead-letter queue")
        secure.acknowledge(function.node.default_child, "Serverless::Serverless-LambdaDLQ", f"{sync}.")
        secure.checkov_skip(function.node.default_child, "CKV_AWS_116", f"{sync}.")
        self.service = MutualTlsService(
            self, "Service", vpc=network.vpc, zone=zone, domain_name=domain_name,
            ca_bundle=PemObject.from_file(ca_bundle),
            crls=[PemObject.from_file(crl)] if crl else (),
            function=function, alarm_topic=alarms.topic,
        )
        cdk.CfnOutput(self, "Url", value=f"https://{domain_name}/", description="Call it with a client certificate")
        cdk.CfnOutput(self, "TrustStoreArn", value=self.service.trust_store.trust_store_arn,
                      description="Replace the CA bundle or add revocations here")
        cdk.CfnOutput(self, "LogsBucket", value=self.service.logs_bucket.bucket_name,
                      description="Access logs and connection logs (handshake failures and their reasons)")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.service.dashboard),
                      description="The pattern's CloudWatch dashboard")
