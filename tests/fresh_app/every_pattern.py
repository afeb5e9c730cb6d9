"""Every public construct of every refarch pattern, each as its doc's simplest example.

tests/test_packaging.py writes this file into a fresh app (laid out by
``cdk init app --language python``) whose ``refarch`` comes from the wheel or
from copied files. It imports nothing but ``aws_cdk``, ``constructs`` and
``refarch``, as a user's app would.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

ACCOUNT = "123456789012"  # the account of the availability zones the test commits (cdk.context.json)

# A CA certificate whose key was thrown away (stacks/mutual_tls/placeholder-ca.pem): the app ships its own
# bundle, as a user's app would, written next to this module at synth.
CA_BUNDLE_PEM = """\
-----BEGIN CERTIFICATE-----
MIIBnjCCAUWgAwIBAgIUda+1RAMEOkeqVoINO4knEEEtzi0wCgYIKoZIzj0EAwIw
LDEQMA4GA1UECgwHcmVmYXJjaDEYMBYGA1UEAwwPcmVmYXJjaCB0ZXN0IENBMB4X
DTI2MTIwNjAwMTc0MloXDTM2MTIwMzAwMjI0MlowLDEQMA4GA1UECgwHcmVmYXJj
aDEYMBYGA1UEAwwPcmVmYXJjaCB0ZXN0IENBMFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEtV/bfuzmU29VhLzvERJIMJU1o8SPRYi4UsifZOBfCTLRtbq3xGKzOVN5
wTsti/ArJAaa9jDoyt9O0SNTcet2KqNFMEMwEgYDVR0TAQH/BAgwBgEB/wIBADAO
BgNVHQ8BAf8EBAMCAQYwHQYDVR0OBBYEFOks8jUvqXvbtGgSc3w/nnltObQIMAoG
CCqGSM49BAMCA0cAMEQCIFB9AwE6lEO/hUgMJ01tA4aeHQzuXVGVlTiYfqEF3yJv
AiBjpMtTtk1QnkK+0cx9oZa/Nhq5pISHMXNzC7g6ZRr5RQ==
-----END CERTIFICATE-----
"""


def _role(scope: Construct, construct_id: str, service: str) -> iam.Role:
    return iam.Role(scope, construct_id, assumed_by=iam.ServicePrincipal(service))


class FanOutExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch.fanout import FanOut, Subscriber

        FanOut(self, "Orders", subscribers=[Subscriber(name="billing"), Subscriber(name="audit")])


class WorkerFleetExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch import secure
        from refarch.worker_fleet import FARGATE_WORKER_ENDPOINTS, QueueWorkerFleet

        network = secure.Network(self, "Network", nat_gateways=0, interface_endpoints=FARGATE_WORKER_ENDPOINTS)
        fleet = QueueWorkerFleet(self, "Thumbnails", vpc=network.vpc, avg_processing_time=cdk.Duration.seconds(2))
        fleet.grant_send(_role(self, "UploadApi", "lambda.amazonaws.com"))


class StreamingExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from aws_cdk import aws_lambda as lambda_

        from refarch.streaming import LambdaConsumer, S3Delivery, StreamPipeline

        pipeline = StreamPipeline(self, "Events")
        pipeline.grant_write(_role(self, "Producer", "lambda.amazonaws.com"))
        pipeline.grant_read(_role(self, "Analytics", "lambda.amazonaws.com"))
        # ConsumerResources and DeliveryResources come with a consumer and a delivery.
        code = lambda_.Code.from_inline("def handler(event, context):\n    return {'batchItemFailures': []}\n")
        StreamPipeline(self, "Clicks", delivery=S3Delivery(),
                       consumers=[LambdaConsumer(name="sessionizer", code=code, handler="index.handler")])


class PushExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch.mobile_push import ApnsPlatform, FcmPlatform, MobilePush

        apns = sm.Secret.from_secret_name_v2(self, "ApnsSecret", "refarch/mobile-push/apns")
        fcm = sm.Secret.from_secret_name_v2(self, "FcmSecret", "refarch/mobile-push/fcm")
        push = MobilePush(self, "Push", platforms=[ApnsPlatform(secret=apns), FcmPlatform(secret=fcm)])
        push.grant_register(_role(self, "Devices", "lambda.amazonaws.com"))


class DatabaseExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch import secure
        from refarch.database import AuroraCluster, BackupPlanOptions, RdsWithReadReplicas, SessionManagerHost

        network = secure.Network(self, "Network",
                                 interface_endpoints=[ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER])
        db = AuroraCluster(self, "Database", vpc=network.vpc, subnets=network.data_subnets,
                           backup_plan=BackupPlanOptions())
        app = _role(self, "App", "ecs-tasks.amazonaws.com")
        db.grant_connect(app, "app")
        db.grant_read_configuration(app)
        RdsWithReadReplicas(self, "Rds", vpc=network.vpc, read_replicas=2, max_allocated_storage=2000)
        host = SessionManagerHost(self, "AdminHost", vpc=network.vpc, subnets=network.workload_subnets, key=db.key)
        host.allow_to(db)
        secure.AlarmTopic(self, "Alarms")


class EdgeOriginExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch import secure
        from refarch.edge import ORIGIN_SERVICE_ENDPOINTS, OriginVerifySecret, RegionalOrigin

        OriginVerifySecret(self, "OriginVerify", replica_regions=["us-east-1"])
        network = secure.Network(self, "Network", interface_endpoints=ORIGIN_SERVICE_ENDPOINTS)
        RegionalOrigin(self, "Origin", vpc=network.vpc, access_logs=secure.access_logs_bucket(self, "AccessLogs"))


class EdgeSiteExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch.edge import EdgeDistribution

        EdgeDistribution(self, "Site")  # its EdgeWebAcl too


class EdgeAcceleratorExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from refarch.edge import EdgeAccelerator, RegionEndpoints

        def alb(region: str) -> elbv2.IApplicationLoadBalancer:
            return elbv2.ApplicationLoadBalancer.from_application_load_balancer_attributes(
                self, f"Alb{region}",
                load_balancer_arn=f"arn:aws:elasticloadbalancing:{region}:{ACCOUNT}"
                                  ":loadbalancer/app/origin/0123456789abcdef",
                security_group_id="sg-0123456789abcdef0")

        EdgeAccelerator(self, "Edge", regions=[RegionEndpoints(region=r, load_balancers=[alb(r)])
                                               for r in ("us-east-1", "eu-west-1")])


class MutualTlsExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from aws_cdk import aws_lambda as lambda_
        from aws_cdk import aws_route53 as route53

        from refarch import secure
        from refarch.mutual_tls import MutualTlsService, PemObject

        ca_bundle = Path(__file__).resolve().parent / "ca-bundle.pem"
        ca_bundle.write_text(CA_BUNDLE_PEM)
        network = secure.Network(self, "Network")
        zone = route53.PublicHostedZone.from_hosted_zone_attributes(
            self, "Zone", hosted_zone_id="Z00000000000000000000", zone_name="example.com")
        partner_api = lambda_.Function(
            self, "PartnerApi", runtime=lambda_.Runtime.PYTHON_3_12, handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return {'statusCode': 200}\n"))
        MutualTlsService(self, "Partners", vpc=network.vpc, zone=zone, domain_name="partners.example.com",
                         ca_bundle=PemObject.from_file(ca_bundle), function=partner_api)


class AmazonMqExample(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        from aws_cdk import aws_sns as sns

        from refarch import secure
        from refarch.amazon_mq import Broker, BrokerBridge

        network = secure.Network(self, "Network", interface_endpoints=(
            ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
            ec2.InterfaceVpcEndpointAwsService.STS,
            ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
        ))
        broker = Broker(self, "Broker", vpc=network.vpc)  # RabbitMQ cluster
        broker.allow_clients(ec2.Peer.ipv4("10.20.0.0/16"))
        # The doc's example bridges to a FanOut's topic; a plain topic keeps the copied module on its own.
        orders = sns.Topic(self, "Orders", enforce_ssl=True)
        BrokerBridge(self, "Bridge", broker=broker, queue="orders", topic=orders)


#: pattern module -> its example stacks (and their explicit regions; None: environment-agnostic).
EXAMPLES: dict[str, list[tuple[type[cdk.Stack], str | None]]] = {
    "fanout": [(FanOutExample, None)],
    "worker_fleet": [(WorkerFleetExample, None)],
    "streaming": [(StreamingExample, None)],
    "mobile_push": [(PushExample, None)],
    "database": [(DatabaseExample, None)],
    "edge": [(EdgeOriginExample, "eu-west-1"), (EdgeSiteExample, "us-east-1"),
             (EdgeAcceleratorExample, "us-west-2")],
    "mutual_tls": [(MutualTlsExample, "eu-west-1")],  # ALB access-log delivery is granted per region
    "amazon_mq": [(AmazonMqExample, None)],
}


def add_every_pattern(app: cdk.App, patterns: list[str] | None = None) -> None:
    """The example stacks of ``patterns`` (default: all) in ``app``."""
    for pattern in patterns or list(EXAMPLES):
        for stack, region in EXAMPLES[pattern]:
            env = cdk.Environment(account=ACCOUNT, region=region) if region else None
            stack(app, stack.__name__, env=env)


def constructs_used(app: cdk.App) -> list[str]:
    """``module.Class`` of every refarch construct in the app's tree."""
    return sorted({f"{type(c).__module__}.{type(c).__name__}" for c in app.node.find_all()
                   if type(c).__module__.startswith("refarch.")})
