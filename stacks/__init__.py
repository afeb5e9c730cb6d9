"""Deployable stacks, one per pattern, and the app-wide checks.

``build`` is what ``app.py`` calls; tests call it too, so the stacks under test
are the stacks ``cdk synth`` produces.
"""

from __future__ import annotations

from dataclasses import dataclass

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks, HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks, ServerlessChecks

from stacks.broker_stack import BrokerStack
from stacks.database_stack import DatabaseStack
from stacks.edge_stack import DEFAULT_REGIONS, PLACEHOLDER_ACCOUNT, build_edge
from stacks.fanout_stack import FanOutStack
from stacks.mobile_push_stack import PushStack
from stacks.mutual_tls_stack import DEFAULT_REGION as MTLS_REGION
from stacks.mutual_tls_stack import PLACEHOLDER_CA_BUNDLE, PLACEHOLDER_DOMAIN, PLACEHOLDER_ZONE_ID, MutualTlsStack
from stacks.network_stack import NetworkStack
from stacks.rds_database_stack import RdsDatabaseStack
from stacks.streaming_stack import StreamingStack
from stacks.worker_fleet_stack import WorkerFleetStack


#: The stacks ``build`` creates, in order.
STACK_IDS = (
    "FanOutStack",
    "WorkerFleetStack",
    "StreamingStack",
    "PushStack",
    "NetworkStack",
    "DatabaseStack",
    "RdsDatabaseStack",
    "BrokerStack",
    "EdgeOriginUsEast1",
    "EdgeOriginEuWest1",
    "EdgeStack",
    "MutualTlsStack",
)


@dataclass(frozen=True)
class AppConfig:
    """Everything the app takes from context or the environment (read in app.py only).

    :param alarm_email: subscribed to each stack's alarm topic. Default: none.
    :param stage: names the Parameter Store hierarchy (``/refarch/<stage>/...``). Default: ``dev``.
    :param edge_account: the account of the edge stacks (explicit environments).
        Default: a placeholder, so synth is offline; deploy needs the real one.
    :param edge_regions: regions of the edge pattern's origins. Default: us-east-1, eu-west-1.
    :param edge_domain: apex of a Route 53 public hosted zone. Default: none
        (CloudFront's default domain).
    :param edge_hosted_zone_id: that zone's ID. Default: none.
    :param edge_accelerator: add Global Accelerator in front of the origins. Default: False.
    :param edge_failover: failover-routed DNS (first region primary) instead of latency routing;
        needs a domain and exactly two regions. Default: False.
    :param edge_origin_secret_version: the origin header secret's version CloudFront sends and
        the ALBs accept (a rotation, docs/edge.md). Default: none (the version current at creation).
    :param edge_origin_secret_previous_version: a version the ALBs still accept beside it. Default: none.
    :param mtls_account: the mutual-TLS stack's account. Default: a placeholder (synth offline).
    :param mtls_region: its region (ALB log delivery is granted per region). Default: eu-west-1.
    :param mtls_domain: the mutual-TLS service's name. Default: a placeholder.
    :param mtls_hosted_zone_id: the public hosted zone of its parent domain. Default: a placeholder.
    :param mtls_ca_bundle: path of the CA bundle (PEM) clients' certificates chain to.
        Default: a placeholder CA whose key is gone (admits nobody).
    :param mtls_crl: path of a certificate revocation list (PEM). Default: none.
    """

    alarm_email: str | None = None
    stage: str = "dev"
    edge_account: str = PLACEHOLDER_ACCOUNT
    edge_regions: tuple[str, ...] = DEFAULT_REGIONS
    edge_domain: str | None = None
    edge_hosted_zone_id: str | None = None
    edge_accelerator: bool = False
    edge_failover: bool = False
    edge_origin_secret_version: str | None = None
    edge_origin_secret_previous_version: str | None = None
    mtls_account: str = PLACEHOLDER_ACCOUNT
    mtls_region: str = MTLS_REGION
    mtls_domain: str = PLACEHOLDER_DOMAIN
    mtls_hosted_zone_id: str = PLACEHOLDER_ZONE_ID
    mtls_ca_bundle: str = PLACEHOLDER_CA_BUNDLE
    mtls_crl: str | None = None


def add_compliance_checks(app: cdk.App) -> None:
    """All five cdk-nag packs as blocking validation plugins: AwsSolutions,
    Serverless, NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1.

    Every acknowledgment is also written into the template metadata.
    """
    cdk.Validations.of(app).add_plugins(*(pack(app, write_suppressions_to_cloud_formation=True) for pack in (
        AwsSolutionsChecks, ServerlessChecks, NIST80053R5Checks, HIPAASecurityChecks, PCIDSS321Checks)))


def build(app: cdk.App, config: AppConfig) -> dict[str, cdk.Stack]:
    """Add every pattern's stack to ``app``; environment-agnostic, so synth is offline."""
    stacks: dict[str, cdk.Stack] = {}
    stacks["FanOutStack"] = FanOutStack(
        app,
        "FanOutStack",
        alarm_email=config.alarm_email,
        description="refarch: SNS -> SQS fan-out (orders to billing, shipping, audit)",
        termination_protection=True,
    )
    stacks["WorkerFleetStack"] = WorkerFleetStack(
        app,
        "WorkerFleetStack",
        alarm_email=config.alarm_email,
        description="refarch: SQS-fed Fargate worker fleet scaled on backlog per worker (thumbnail jobs)",
        termination_protection=True,
    )
    stacks["StreamingStack"] = StreamingStack(
        app,
        "StreamingStack",
        alarm_email=config.alarm_email,
        description="refarch: Kinesis pipeline (clickstream to consumers and an S3 archive)",
        termination_protection=True,
    )
    stacks["PushStack"] = PushStack(
        app,
        "PushStack",
        alarm_email=config.alarm_email,
        description="refarch: mobile push with SNS (APNs and FCM platform applications, device registration)",
        termination_protection=True,
    )
    network = NetworkStack(
        app,
        "NetworkStack",
        description="refarch: shared VPC (three tiers, flow logs, endpoints)",
        termination_protection=True,  # its flow logs and key outlive it; the database stack depends on it
    )
    stacks["NetworkStack"] = network
    stacks["DatabaseStack"] = DatabaseStack(
        app,
        "DatabaseStack",
        network=network.network,
        stage=config.stage,
        alarm_email=config.alarm_email,
        description="refarch: Aurora PostgreSQL with read replicas, reader auto scaling and RDS Proxy",
        termination_protection=True,
    )
    stacks["RdsDatabaseStack"] = RdsDatabaseStack(
        app,
        "RdsDatabaseStack",
        network=network.network,
        stage=config.stage,
        alarm_email=config.alarm_email,
        description="refarch: RDS for PostgreSQL Multi-AZ with read replicas and storage autoscaling (vs Aurora)",
        termination_protection=True,
    )
    stacks["BrokerStack"] = BrokerStack(
        app,
        "BrokerStack",
        alarm_email=config.alarm_email,
        description="refarch: Amazon MQ for RabbitMQ cluster bridged to an SNS fan-out (broker migration)",
        termination_protection=True,
    )
    stacks.update(
        build_edge(
            app,
            account=config.edge_account,
            regions=config.edge_regions,
            domain=config.edge_domain,
            hosted_zone_id=config.edge_hosted_zone_id,
            accelerator=config.edge_accelerator,
            failover=config.edge_failover,
            origin_secret_version=config.edge_origin_secret_version,
            origin_secret_previous_version=config.edge_origin_secret_previous_version,
            alarm_email=config.alarm_email,
        )
    )
    stacks["MutualTlsStack"] = MutualTlsStack(
        app,
        "MutualTlsStack",
        env=cdk.Environment(account=config.mtls_account, region=config.mtls_region),
        domain_name=config.mtls_domain,
        hosted_zone_id=config.mtls_hosted_zone_id,
        ca_bundle=config.mtls_ca_bundle,
        crl=config.mtls_crl,
        alarm_email=config.alarm_email,
        description="refarch: mutual TLS on an ALB (trust store, revocation, client-certificate headers)",
        termination_protection=True,
    )
    return stacks
