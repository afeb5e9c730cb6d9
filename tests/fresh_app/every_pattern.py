"""Every public construct of every refarch pattern, each as its doc's simplest example.

tests/test_packaging.py writes this file into a fresh app (laid out by
``cdk init app --language python``) whose ``refarch`` comes from the wheel or
from copied files. It imports nothing but ``aws_cdk``, ``constructs`` and
``refarch``, as a user's app would.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as sm
from constructs import Construct

ACCOUNT = "123456789012"  # the account of the availability zones the test commits (cdk.context.json)


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


#: pattern module -> its example stacks (and their explicit regions; None: environment-agnostic).
EXAMPLES: dict[str, list[tuple[type[cdk.Stack], str | None]]] = {
    "fanout": [(FanOutExample, None)],
    "worker_fleet": [(WorkerFleetExample, None)],
    "streaming": [(StreamingExample, None)],
    "mobile_push": [(PushExample, None)],
    "database": [(DatabaseExample, None)],
    "edge": [(EdgeOriginExample, "eu-west-1"), (EdgeSiteExample, "us-east-1"),
             (EdgeAcceleratorExample, "us-west-2")],
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
