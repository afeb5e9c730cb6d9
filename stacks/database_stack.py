"""DatabaseStack: Aurora PostgreSQL with read replicas, on NetworkStack's VPC.

A writer and two provisioned readers in the isolated tier, reader auto scaling
on average reader CPU up to five readers, an RDS Proxy (TLS and IAM
authentication required), a Session Manager host for administration, and the
non-secret settings in Parameter Store under ``/refarch/<stage>/database``.
The VPC comes from NetworkStack through a cross-stack reference.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from refarch import observe, secure
from refarch.database import AuroraCluster, BackupPlanOptions, ReaderScaling, SessionManagerHost


class DatabaseStack(cdk.Stack):
    """:param network: the NetworkStack's network.
    :param stage: names the Parameter Store hierarchy. Default: ``dev``.
    :param alarm_email: subscribed to the alarm topic. Default: none."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        network: secure.Network,
        stage: str = "dev",
        alarm_email: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        alarms = secure.AlarmTopic(self, "Alarms", email=alarm_email)
        self.database = AuroraCluster(
            self,
            "Database",
            vpc=network.vpc,
            subnets=network.data_subnets,
            readers=2,
            reader_scaling=ReaderScaling(max_replicas=5),
            proxy=True,
            parameter_path=f"/refarch/{stage}/database",
            alarm_topic=alarms.topic,
            backup_plan=BackupPlanOptions(),  # daily and monthly recovery points in a vault of its own
        )
        self.admin_host = SessionManagerHost(
            self, "AdminHost", vpc=network.vpc, subnets=network.workload_subnets, key=self.database.key
        )
        self.admin_host.allow_to(self.database)

        db = self.database
        cdk.CfnOutput(self, "WriterEndpoint", value=db.writer_endpoint.hostname, description="Reads and writes")
        cdk.CfnOutput(self, "ReaderEndpoint", value=db.reader_endpoint.hostname,
                      description="Reads, balanced over every reader")
        cdk.CfnOutput(self, "ProxyEndpoint", value=db.proxy.endpoint, description="RDS Proxy (TLS, IAM auth)")
        cdk.CfnOutput(self, "Port", value=str(db.port))
        cdk.CfnOutput(self, "SecretArn", value=db.secret.secret_arn, description="Administrator credentials")
        cdk.CfnOutput(self, "ParameterPath", value=f"/refarch/{stage}/database",
                      description="Non-secret settings (GetParametersByPath)")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(self.database.dashboard),
                      description="The pattern's CloudWatch dashboard")
        cdk.CfnOutput(
            self, "PortForwardCommand",
            description="Reach the writer from your machine through Session Manager (no SSH)",
            value=cdk.Fn.join("", [
                "aws ssm start-session --target ", self.admin_host.instance.instance_id,
                " --document-name AWS-StartPortForwardingSessionToRemoteHost --parameters ",
                '\'{"host":["', db.writer_endpoint.hostname, f'"],"portNumber":["{db.port}"],'
                f'"localPortNumber":["{db.port}"]}}\'',
            ]),
        )
