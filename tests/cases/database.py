"""Database configurations: Serverless v2 readers, MySQL, the RDS comparison, and a network with a VPN.

Each case builds its own network in the same stack so that every template is
complete for the gates; the app's DatabaseStack shows the cross-stack form.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_backup as backup
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds

from refarch import secure
from refarch.database import (
    AURORA_MYSQL,
    AuroraCluster,
    BackupPlanOptions,
    RdsWithReadReplicas,
    ReaderMetric,
    ReaderScaling,
    SessionManagerHost,
)

ENDPOINTS = (ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER, *secure.SESSION_MANAGER_ENDPOINTS)


def serverless_readers(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "DatabaseServerlessReaders")
    network = secure.Network(stack, "Network", interface_endpoints=ENDPOINTS[:1])
    db = AuroraCluster(
        stack, "Database", vpc=network.vpc, subnets=network.data_subnets, readers=1, serverless_readers=True,
        serverless_capacity=(1, 32),
        reader_scaling=ReaderScaling(min_replicas=2, max_replicas=15, metric=ReaderMetric.CONNECTIONS, target=500),
    )
    _without_backup_plan(db)
    return stack


def _without_backup_plan(db: AuroraCluster) -> None:
    """These cases keep the construct's default (no AWS Backup plan, RDS's automated backups only), which
    the strict packs' RDSInBackupPlan reports on each instance; DatabaseStack and DatabaseRds show the plan."""
    for instance in db.cluster.node.find_all():
        if isinstance(instance, rds.CfnDBInstance):
            secure.acknowledge_strict(
                instance, "RDSInBackupPlan",
                "A test configuration left at the construct's default, RDS's automated backups without an AWS "
                "Backup plan; the app's DatabaseStack and the DatabaseRds case carry the plan.",
            )


def mysql_with_proxy_and_host(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "DatabaseMysql")
    network = secure.Network(stack, "Network", max_azs=2, interface_endpoints=ENDPOINTS)
    alarms = secure.AlarmTopic(stack, "Alarms")
    db = AuroraCluster(
        stack, "Database", vpc=network.vpc, subnets=network.data_subnets, engine=AURORA_MYSQL, readers=2,
        proxy=True, parameter_path="/refarch/test/orders-db", alarm_topic=alarms.topic,
    )
    _without_backup_plan(db)
    host = SessionManagerHost(stack, "AdminHost", vpc=network.vpc, subnets=network.workload_subnets, key=db.key)
    host.allow_to(db)
    _application(stack, network, db)
    return stack


def _application(stack: cdk.Stack, network: secure.Network, db: AuroraCluster | RdsWithReadReplicas) -> None:
    """What an application's stack does with a database: admit it, let it connect and read its settings."""
    app = ec2.SecurityGroup(stack, "AppSecurityGroup", vpc=network.vpc, allow_all_outbound=False,
                            description="Application tasks")
    role = iam.Role(stack, "AppRole", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    db.allow_from(app)
    db.grant_connect(role, "app")
    db.grant_read_configuration(role)
    secure.acknowledge_inline_policies(role)


def rds_with_replicas(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "DatabaseRds")
    network = secure.Network(stack, "Network", interface_endpoints=ENDPOINTS)
    db = RdsWithReadReplicas(
        stack, "Database", vpc=network.vpc, subnets=network.data_subnets, read_replicas=2,
        parameter_path="/refarch/test/rds",
        backup_plan=BackupPlanOptions(copy_to=backup.BackupVault.from_backup_vault_arn(
            stack, "DrVault", "arn:aws:backup:eu-west-1:111111111111:backup-vault:refarch-dr")),
    )
    host = SessionManagerHost(stack, "AdminHost", vpc=network.vpc, subnets=network.workload_subnets, key=db.key)
    host.allow_to(db)
    _application(stack, network, db)
    return stack


def network_with_vpn(app: cdk.App) -> cdk.Stack:
    stack = cdk.Stack(app, "NetworkWithVpn")
    secure.Network(stack, "Network", vpn_customer_gateway_ip="52.0.0.10", vpn_bgp_asn=65010)
    return stack


CASES = {
    "DatabaseServerlessReaders": serverless_readers,
    "DatabaseMysql": mysql_with_proxy_and_host,
    "DatabaseRds": rds_with_replicas,
    "NetworkWithVpn": network_with_vpn,
}
