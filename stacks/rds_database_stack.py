"""RdsDatabaseStack: RDS for PostgreSQL Multi-AZ with read replicas, on NetworkStack's VPC.

The RDS side of the RDS-vs-Aurora comparison (docs/database.md,
docs/questions.md), deployable beside DatabaseStack so both are in
``cdk.out`` and can be compared on the same network: a Multi-AZ primary and
two read replicas in the isolated tier, storage autoscaling from 100 GiB up
to 1,000 GiB, a Session Manager host for administration, and the non-secret
settings in Parameter Store under ``/refarch/<stage>/rds-database`` (apart
from DatabaseStack's ``/refarch/<stage>/database``, so both can live in one
account). The VPC comes from NetworkStack through a cross-stack reference.
"""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from refarch import observe, secure
from refarch.database import BackupPlanOptions, RdsWithReadReplicas, SessionManagerHost

#: GiB at creation, and the ceiling storage autoscaling may grow the primary to.
ALLOCATED_STORAGE = 100
MAX_ALLOCATED_STORAGE = 1000
READ_REPLICAS = 2


class RdsDatabaseStack(cdk.Stack):
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
        parameter_path = f"/refarch/{stage}/rds-database"
        self.database = RdsWithReadReplicas(
            self,
            "Database",
            vpc=network.vpc,
            subnets=network.data_subnets,
            read_replicas=READ_REPLICAS,
            allocated_storage=ALLOCATED_STORAGE,
            max_allocated_storage=MAX_ALLOCATED_STORAGE,
            parameter_path=parameter_path,
            alarm_topic=alarms.topic,
            backup_plan=BackupPlanOptions(),  # daily and monthly recovery points in a vault of its own
        )
        self.admin_host = SessionManagerHost(
            self, "AdminHost", vpc=network.vpc, subnets=network.workload_subnets, key=self.database.key
        )
        self.admin_host.allow_to(self.database)

        db = self.database
        cdk.CfnOutput(self, "PrimaryEndpoint", value=db.instance.db_instance_endpoint_address,
                      description="Reads and writes (Multi-AZ: the same name after a failover)")
        for i, replica in enumerate(db.replicas, start=1):
            cdk.CfnOutput(self, f"Replica{i}Endpoint", value=replica.db_instance_endpoint_address,
                          description="Reads only; each replica has its own endpoint (no reader endpoint on RDS)")
        cdk.CfnOutput(self, "Port", value=str(db.port))
        cdk.CfnOutput(self, "SecretArn", value=db.secret.secret_arn, description="Administrator credentials")
        cdk.CfnOutput(self, "ParameterPath", value=parameter_path,
                      description="Non-secret settings (GetParametersByPath)")
        cdk.CfnOutput(self, "DashboardUrl", value=observe.console_url(db.dashboard),
                      description="The database's CloudWatch dashboard")
        cdk.CfnOutput(self, "AlarmTopicArn", value=alarms.topic.topic_arn, description="Alarm notifications")
        cdk.CfnOutput(
            self, "PortForwardCommand",
            description="Reach the primary from your machine through Session Manager (no SSH)",
            value=cdk.Fn.join("", [
                "aws ssm start-session --target ", self.admin_host.instance.instance_id,
                " --document-name AWS-StartPortForwardingSessionToRemoteHost --parameters ",
                '\'{"host":["', db.instance.db_instance_endpoint_address, f'"],"portNumber":["{db.port}"],'
                f'"localPortNumber":["{db.port}"]}}\'',
            ]),
        )
