"""Relational databases that scale reads horizontally: Aurora and RDS with replicas.

``AuroraCluster`` is the pattern: a writer and readers in isolated subnets over
at least two availability zones, reader auto scaling that CDK's rds module
lacks (Application Auto Scaling on ``rds:cluster:ReadReplicaCount``), and
every secure default a production database needs. ``RdsWithReadReplicas`` is
the comparison: a Multi-AZ instance with read replicas and storage autoscaling.
``SessionManagerHost`` lets an operator reach either without SSH.

Configuration is split three ways, each in the store made for it:

* Secrets Manager holds the credentials (generated, encrypted, rotated);
* Parameter Store holds what is not secret (endpoints, port, database name,
  the secret's ARN) under a hierarchy such as ``/refarch/dev/database/...``;
* KMS holds the key that encrypts storage, Performance Insights, the secret
  and the logs.

Copy this file with ``secure.py``, ``observe.py`` and ``sizing.py`` to use it elsewhere.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import aws_cdk as cdk
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_backup as backup
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk import aws_rds as rds
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_ssm as ssm
from constructs import Construct

from refarch import observe, secure, sizing

#: Aurora PostgreSQL, the default engine.
AURORA_POSTGRES = rds.DatabaseClusterEngine.aurora_postgres(version=rds.AuroraPostgresEngineVersion.VER_17_9)
#: Aurora MySQL, the alternative.
AURORA_MYSQL = rds.DatabaseClusterEngine.aurora_mysql(version=rds.AuroraMysqlEngineVersion.VER_3_10_3)
#: RDS for PostgreSQL, the default engine of ``RdsWithReadReplicas``.
RDS_POSTGRES = rds.DatabaseInstanceEngine.postgres(version=rds.PostgresEngineVersion.VER_17_9)
#: Memory-optimised Graviton: Performance Insights, 16 GiB, the smallest class for production.
DEFAULT_INSTANCE_TYPE = ec2.InstanceType("r7g.large")

# Each engine family: the port it listens on by default (which we refuse, so
# scans for it find nothing), the port we use instead, the parameter that
# refuses unencrypted connections, and the logs worth exporting, for Aurora
# (cluster parameter group) and RDS (instance parameter group). An exported
# log is exported only if the engine writes it: MySQL writes no slow query log
# unless slow_query_log=1, and RDS for MySQL writes it to a table, which is
# never exported, unless log_output=FILE.
# https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_LogAccess.MySQLDB.PublishtoCloudWatchLogs.html
_FAMILY = {
    "POSTGRESQL": {
        "name": "postgresql",
        "engine_port": 5432,
        "port": 15432,
        "tls": {"rds.force_ssl": "1"},
        "cluster_parameters": {"log_min_duration_statement": "1000"},
        "logs": ("postgresql",),
        "instance_parameters": {},
        "rds_parameters": {"rds.force_ssl": "1"},
        "rds_logs": ("postgresql", "upgrade"),
        "rotation": secretsmanager.HostedRotation.postgre_sql_single_user,
    },
    "MYSQL": {
        "name": "mysql",
        "engine_port": 3306,
        "port": 13306,
        "tls": {"require_secure_transport": "ON"},
        "cluster_parameters": {
            "slow_query_log": "1",
            "long_query_time": "1",
            "log_output": "FILE",
            "server_audit_logging": "1",
            "server_audit_events": "CONNECT,QUERY_DCL,QUERY_DDL",
        },
        "logs": ("audit", "error", "slowquery"),
        # The slow query log's settings are instance-level in Aurora MySQL: set on the instances' own
        # parameter group too, so no instance-group default can leave them off.
        "instance_parameters": {"slow_query_log": "1", "long_query_time": "1", "log_output": "FILE"},
        # RDS for MySQL takes 0/1 where Aurora MySQL takes OFF/ON.
        "rds_parameters": {"require_secure_transport": "1", "slow_query_log": "1", "long_query_time": "1",
                           "log_output": "FILE"},
        "rds_logs": ("error", "slowquery"),
        "rotation": secretsmanager.HostedRotation.mysql_single_user,
    },
}
_DB_NAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,62}$")
_USERNAME = re.compile(r"^[a-zA-Z][a-zA-Z0-9_]{0,15}$")
_PARAMETER_PATH = re.compile(r"^(/[a-zA-Z0-9_.\-]+)+$")
_MONITORING_INTERVALS_S = (1, 5, 10, 15, 30, 60)
_SERVERLESS_CAPACITY = (0.5, 16)
# Characters that break connection strings and shells when they appear in a password.
_EXCLUDE = " %+~`#$&*()|[]{}:;<>?!'/@\"\\"


class ReaderMetric(enum.Enum):
    """What reader auto scaling tracks (the two predefined metrics of ``rds:cluster:ReadReplicaCount``)."""

    CPU = appscaling.PredefinedMetric.RDS_READER_AVERAGE_CPU_UTILIZATION
    """Average CPU of the readers, in percent: for read load that is compute-bound."""
    CONNECTIONS = appscaling.PredefinedMetric.RDS_READER_AVERAGE_DATABASE_CONNECTIONS
    """Average connections per reader: for many short queries from many clients."""


@dataclass(frozen=True)
class ReaderScaling:
    """Reader auto scaling: Aurora adds readers above ``target`` and removes them below.

    Readers added by auto scaling take the writer's instance class and
    promotion tier 15 (last to be promoted); only they are ever removed, so
    the readers the construct creates are the floor.

    :param max_replicas: the most readers, at most 15 (Aurora's limit).
    :param min_replicas: the fewest readers. Default: the number of readers the
        construct creates (auto scaling never removes those).
    :param metric: default: average reader CPU.
    :param target: the value to hold the metric at. Default: 60 (percent for
        CPU; connections per reader for CONNECTIONS: choose it).
    :param scale_in_cooldown: wait after removing a reader. Default: 10 minutes
        (a new reader takes minutes to join; removing eagerly flaps).
    :param scale_out_cooldown: wait after adding a reader. Default: 5 minutes.
    """

    max_replicas: int
    min_replicas: int | None = None
    metric: ReaderMetric = ReaderMetric.CPU
    target: float = 60
    scale_in_cooldown: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(10))
    scale_out_cooldown: cdk.Duration = field(default_factory=lambda: cdk.Duration.minutes(5))



@dataclass(frozen=True)
class BackupPlanOptions:
    """An AWS Backup plan for a database, beside its automated backups: a
    vault of its own encrypted with a customer-managed key, a daily and a
    monthly rule, and optionally a copy of each recovery point into a vault
    in another region (or account).

    :param daily_retention: how long daily recovery points are kept. Default: 35 days.
    :param monthly_retention: how long the monthly ones (1st of the month) are kept. Default: 365 days.
    :param copy_to: a vault elsewhere (e.g. ``backup.BackupVault.from_backup_vault_arn`` of a vault in a
        second region) each recovery point is copied to, kept as long as the original. Its key policy and
        vault access policy must admit this account. Default: no copy.
    """

    daily_retention: cdk.Duration = field(default_factory=lambda: cdk.Duration.days(35))
    monthly_retention: cdk.Duration = field(default_factory=lambda: cdk.Duration.days(365))
    copy_to: backup.IBackupVault | None = None


def _check_backup_plan(options: BackupPlanOptions | None) -> None:
    if options is None:
        return
    require = secure.require
    require(isinstance(options, BackupPlanOptions), "backup_plan", options, "must be a BackupPlanOptions")
    daily = options.daily_retention.to_days(integral=False)
    monthly = options.monthly_retention.to_days(integral=False)
    require(daily >= 1 and float(daily).is_integer(), "backup_plan.daily_retention", f"{daily} days",
            "must be whole days, at least 1")
    require(monthly >= daily and float(monthly).is_integer(), "backup_plan.monthly_retention", f"{monthly} days",
            f"must be whole days, at least daily_retention ({daily:g} days)")


class DatabaseBackupPlan(Construct):
    """The vault, plan and selection :class:`BackupPlanOptions` describes, for one database.

    AWS Backup encrypts an Aurora or RDS recovery point with the database's
    own key (it does not manage those backups fully), so the vault key guards
    the vault's other contents; the selection's role carries AWS's managed
    backup policy: https://docs.aws.amazon.com/aws-backup/latest/devguide/encryption.html

    :param resource: the database to back up (``backup.BackupResource.from_rds_database_cluster``
        or ``from_rds_database_instance``); the database constructs pass their own.
    :param options: retention of the daily and monthly recovery points and the optional copy
        destination (:class:`BackupPlanOptions`).
    """

    vault: backup.BackupVault
    key: kms.Key
    plan: backup.BackupPlan

    def __init__(self, scope: Construct, construct_id: str, *, resource: backup.BackupResource,
                 options: BackupPlanOptions) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        _check_backup_plan(options)
        self.key = secure.encryption_key(self, "Key", description=f"{self.node.path}: backup vault")
        self.vault = backup.BackupVault(self, "Vault", encryption_key=self.key,
                                        removal_policy=cdk.RemovalPolicy.RETAIN)
        copy = ([backup.BackupPlanCopyActionProps(destination_backup_vault=options.copy_to)]
                if options.copy_to is not None else None)
        self.plan = backup.BackupPlan(self, "Plan", backup_vault=self.vault)
        self.plan.add_rule(backup.BackupPlanRule(
            rule_name="Daily", schedule_expression=events.Schedule.cron(hour="3", minute="0"),
            delete_after=options.daily_retention, copy_actions=copy))
        self.plan.add_rule(backup.BackupPlanRule(
            rule_name="Monthly", schedule_expression=events.Schedule.cron(day="1", hour="4", minute="0"),
            delete_after=options.monthly_retention, copy_actions=copy))
        selection = self.plan.add_selection("Database", resources=[resource])
        secure.acknowledge(
            selection.grant_principal, "AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:"
            "policy/service-role/AWSBackupServiceRolePolicyForBackup]",
            "AWS Backup's own managed policy for the role it assumes to back up the selected database; AWS "
            "maintains it as the service gains resource types.")


class AuroraCluster(Construct):
    """An Aurora cluster (PostgreSQL by default) that scales reads with readers.

    Simplest use::

        network = secure.Network(self, "Network",
                                 interface_endpoints=[ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER])
        db = AuroraCluster(self, "Database", vpc=network.vpc, subnets=network.data_subnets)
        db.allow_from(app_service)            # opens the port to the app's security group
        db.grant_connect(app_role, "app")     # IAM database authentication

    :param vpc: the VPC. Interface endpoints for Secrets Manager must exist in
        it (the rotation function runs in ``subnets`` without internet).
    :param subnets: where instances, proxy and rotation function live; at
        least two availability zones. Default: the VPC's isolated subnets.
    :param engine: default: Aurora PostgreSQL 17 (``AURORA_POSTGRES``); ``AURORA_MYSQL`` for MySQL.
    :param instance_type: the writer's class, and the provisioned readers'.
        Default: ``r7g.large``.
    :param readers: readers the construct creates, 1 to 15, spread over the
        availability zones other than the writer's first. Default: 1.
    :param serverless_readers: make the readers Serverless v2 instead of
        provisioned. Default: False. Serverless readers in promotion tier 1
        scale with the writer, so a failover lands on a warm instance.
    :param serverless_capacity: (min, max) ACU of Serverless v2 readers,
        0.5 to 256 in steps of 0.5; only with ``serverless_readers``.
        Default: (0.5, 16).
    :param reader_scaling: auto scaling of the reader count. Default: none
        (the reader count is fixed).
    :param port: 1150 to 65535, not the engine's default. Default: 15432
        (PostgreSQL) or 13306 (MySQL).
    :param database_name: the database created. Default: ``app``.
    :param master_username: the administrator, whose password Secrets Manager
        generates and rotates. Default: ``dbadmin``.
    :param rotation: how often the administrator password rotates, 1 to 365
        days. Default: 30 days.
    :param key: encrypts storage, Performance Insights, the secret and the
        logs. Default: a new customer-managed key with rotation.
    :param backup_retention: 7 to 35 days. Default: 7 days.
    :param monitoring_interval: enhanced monitoring, 1, 5, 10, 15, 30 or 60 s.
        Default: 60 s.
    :param log_retention: of the exported logs. Default: one year.
    :param proxy: add an RDS Proxy that requires TLS and uses end-to-end IAM
        authentication (clients to the proxy and the proxy to the database).
        Default: False.
    :param parameter_path: write the non-secret settings under this Parameter
        Store path, e.g. ``/refarch/dev/database``. Default: none written.
    :param alarm_topic: where alarms and their recovery are sent.
        Default: nowhere (alarms are still created).
    :param cpu_alarm_percent: CPU above which the writer or readers alarm.
        Default: 80.
    :param replica_lag_alarm: reader lag above which to alarm. Default: 1 second.
    :param deletion_protection: default: True.
    :param removal_policy: for the cluster; key, secret and logs are retained.
        Default: SNAPSHOT (a final snapshot when the cluster is deleted).
    :param dashboard: create a CloudWatch dashboard: readers against their
        scaling range, replica lag, CPU, connections, freeable memory and
        local storage per role, each instance's CPU, the proxy, and every
        alarm. Default: True.


    :param backup_plan: an AWS Backup plan (:class:`DatabaseBackupPlan`) for the
        cluster too. Default: none (RDS's automated backups only).
    """

    cluster: rds.DatabaseCluster
    backup_plan: DatabaseBackupPlan | None
    key: kms.IKey
    secret: secretsmanager.ISecret
    """The administrator credentials (JSON with host, port, username, password)."""
    security_group: ec2.SecurityGroup
    """The cluster's security group: it admits only what ``allow_from`` names."""
    writer_endpoint: rds.Endpoint
    reader_endpoint: rds.Endpoint
    """Load-balances connections over the readers, auto-scaled ones included."""
    port: int
    log_groups: list[logs.LogGroup]
    proxy: rds.DatabaseProxy | None
    proxy_role: iam.IRole | None
    """The role the proxy logs in to the database with (``rds-db:connect`` for each user ``grant_connect`` names)."""
    proxy_port: int
    """The proxy's port: RDS Proxy listens on the engine's standard port (5432 or 3306) only."""
    scalable_target: appscaling.ScalableTarget | None
    """Reader auto scaling, when ``reader_scaling`` is given."""
    rotation_schedule: secretsmanager.RotationSchedule
    parameter_path: str | None
    parameters: dict[str, ssm.StringParameter]
    """The Parameter Store entries by name (``writer-endpoint``, ``port``...), when ``parameter_path`` is given."""
    alarms: list[cloudwatch.Alarm]
    thresholds: dict[str, sizing.DatabaseAlarmThresholds]
    """The alarm thresholds of the ``writer`` and ``readers`` roles."""
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection | None = None,
        engine: rds.IClusterEngine = AURORA_POSTGRES,
        instance_type: ec2.InstanceType = DEFAULT_INSTANCE_TYPE,
        readers: int = 1,
        serverless_readers: bool = False,
        serverless_capacity: tuple[float, float] | None = None,
        reader_scaling: ReaderScaling | None = None,
        port: int | None = None,
        database_name: str = "app",
        master_username: str = "dbadmin",
        rotation: cdk.Duration = cdk.Duration.days(30),
        key: kms.IKey | None = None,
        backup_retention: cdk.Duration = cdk.Duration.days(sizing.BACKUP_FLOOR_DAYS),
        monitoring_interval: cdk.Duration = cdk.Duration.seconds(60),
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        proxy: bool = False,
        parameter_path: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        cpu_alarm_percent: int = 80,
        replica_lag_alarm: cdk.Duration = cdk.Duration.seconds(1),
        deletion_protection: bool = True,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.SNAPSHOT,
        dashboard: bool = True,


        backup_plan: BackupPlanOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        require = secure.require
        subnets, family, port, azs = _prepare(
            vpc=vpc, subnets=subnets, engine_family=engine.engine_family, port=port, database_name=database_name,
            master_username=master_username, rotation=rotation, backup_retention=backup_retention,
            monitoring_interval=monitoring_interval, cpu_alarm_percent=cpu_alarm_percent, parameter_path=parameter_path,
        )
        _check_backup_plan(backup_plan)
        require(
            isinstance(readers, int) and not isinstance(readers, bool) and 1 <= readers <= sizing.AURORA_MAX_READERS,
            "readers", readers, f"must be 1 to {sizing.AURORA_MAX_READERS} (Aurora's limit)",
        )
        require(serverless_capacity is None or serverless_readers, "serverless_capacity", serverless_capacity,
                "applies only with serverless_readers=True (provisioned readers have no ACU range)")
        low, high = serverless_capacity or _SERVERLESS_CAPACITY
        for name, acu in (("serverless_capacity[0]", low), ("serverless_capacity[1]", high)):
            require(
                sizing.SERVERLESS_V2_MIN_ACU <= acu <= sizing.SERVERLESS_V2_MAX_ACU and (acu * 2) == int(acu * 2),
                name, acu, "must be 0.5 to 256 ACU in steps of 0.5",
            )
        require(low <= high, "serverless_capacity", serverless_capacity, "must be (min, max) with min <= max")
        lag_ms = replica_lag_alarm.to_milliseconds()
        require(lag_ms >= 10, "replica_lag_alarm", f"{lag_ms} ms", "must be at least 10 ms")
        if reader_scaling is not None:
            _validate_scaling(reader_scaling, readers)
        writer_memory = _memory_gib("instance_type", instance_type)
        reader_memory = writer_memory
        if serverless_readers:
            reader_memory = sizing.serverless_v2_memory_gib(high)
            if reader_scaling is not None:
                # Auto scaling adds readers of the writer's class beside the Serverless ones; the READER
                # alarms cover both, so they take the smaller instance's limits (no false alarm on it).
                reader_memory = min(reader_memory, writer_memory)

        self.port = port
        # Ingress rules name the literal port, not the Endpoint.Port attribute, so reviewers and the strict
        # packs (EC2RestrictedCommonPorts/SSH cannot resolve a token) read the range. The label keeps the
        # rules' construct IDs (and logical IDs) those of the attribute's rules: a new logical ID for the
        # same rule would be created before the old one is deleted, and EC2 refuses a duplicate rule.
        self._port_rule = ec2.Port(protocol=ec2.Protocol.TCP, from_port=port, to_port=port,
                                   string_representation="{IndirectPort}")
        self.proxy = None
        self.proxy_role = None
        self.proxy_port = family["engine_port"]
        self.key = key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: storage, Performance Insights, secret and logs"
        )
        secure.allow_logs_to_use_key(self.key)
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{self.node.path}: database clients only",
            allow_all_outbound=False,
        )
        parameter_group = rds.ParameterGroup(
            self, "Parameters", engine=engine, description=f"{self.node.path}: TLS required",
            parameters={**family["tls"], **family["cluster_parameters"]},
        )
        credentials = rds.Credentials.from_generated_secret(
            master_username, encryption_key=self.key, exclude_characters=_EXCLUDE
        )
        instance_options = dict(
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            auto_minor_version_upgrade=True,
            publicly_accessible=False,
        )
        if family["instance_parameters"]:
            instance_options["parameter_group"] = rds.ParameterGroup(
                self, "InstanceParameters", engine=engine, description=f"{self.node.path}: instance logging",
                parameters=dict(family["instance_parameters"]),
            )
        # Spread: the writer in the first zone, readers round the others first.
        writer = rds.ClusterInstance.provisioned(
            "Writer", instance_type=instance_type, promotion_tier=0, availability_zone=azs[0], **instance_options
        )
        reader_instances = []
        for i in range(readers):
            az = azs[(i + 1) % len(azs)]
            if serverless_readers:
                reader_instances.append(rds.ClusterInstance.serverless_v2(
                    f"Reader{i + 1}", scale_with_writer=True, availability_zone=az, **instance_options))
            else:
                reader_instances.append(rds.ClusterInstance.provisioned(
                    f"Reader{i + 1}", instance_type=instance_type, promotion_tier=1, availability_zone=az,
                    **instance_options))
        self.cluster = rds.DatabaseCluster(
            self,
            "Cluster",
            engine=engine,
            writer=writer,
            readers=reader_instances,
            serverless_v2_min_capacity=low if serverless_readers else None,
            serverless_v2_max_capacity=high if serverless_readers else None,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            port=port,
            default_database_name=database_name,
            credentials=credentials,
            storage_encrypted=True,
            storage_encryption_key=self.key,
            iam_authentication=True,
            parameter_group=parameter_group,
            backup=rds.BackupProps(retention=backup_retention, preferred_window="03:00-04:00"),
            preferred_maintenance_window="sun:04:30-sun:05:30",
            deletion_protection=deletion_protection,
            copy_tags_to_snapshot=True,
            monitoring_interval=monitoring_interval,
            monitoring_role=_monitoring_role(self),
            cloudwatch_logs_exports=list(family["logs"]),
            removal_policy=removal_policy,
        )
        self.backup_plan = None if backup_plan is None else DatabaseBackupPlan(
            self, "Backup", resource=backup.BackupResource.from_rds_database_cluster(self.cluster),
            options=backup_plan)
        self.secret = self.cluster.secret
        # The credentials outlive the cluster: a restored snapshot keeps the same administrator password.
        self.cluster.node.find_child("Secret").apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.writer_endpoint = self.cluster.cluster_endpoint
        self.reader_endpoint = self.cluster.cluster_read_endpoint
        cfn_cluster = self.cluster.node.default_child
        # cdk-nag asks Aurora MySQL for backtracking; point-in-time restore covers recovery.
        if family["name"] == "mysql":
            secure.acknowledge(
                cfn_cluster, "AwsSolutions::AwsSolutions-RDS14",
                "Backtrack rewinds the whole cluster in place and excludes binlog replication and global "
                "databases; point-in-time restore from the automated backups is the recovery path here.",
            )
            secure.acknowledge_strict(
                cfn_cluster, "RDSLoggingEnabled[LogExport::general]",
                "The general query log records every statement with its values: a cost per query and a copy "
                "of application data in the logs. The audit log (who connected and ran what), error and "
                "slow-query logs are exported.",
            )
        if self.backup_plan is not None:
            for instance in self.cluster.node.find_all():
                if isinstance(instance, rds.CfnDBInstance):
                    secure.acknowledge_strict(
                        instance, "RDSInBackupPlan",
                        "An Aurora instance has no storage of its own; Aurora backs up the cluster volume "
                        "(https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/Aurora.Managing.Backups.html), "
                        "and this construct's backup selection names the cluster, which is what AWS Config's "
                        "aurora-resources-protected-by-backup-plan checks.",
                    )
        # Aurora names each log group after the cluster. The groups are created
        # after the cluster and before its instances (which write the logs), so
        # they carry our key and retention instead of RDS's defaults.
        self.log_groups = []
        for name in family["logs"]:
            group = logs.LogGroup(
                self, f"{name.capitalize()}Logs",
                log_group_name=cdk.Fn.join("", ["/aws/rds/cluster/", self.cluster.cluster_identifier, f"/{name}"]),
                retention=log_retention, encryption_key=self.key, removal_policy=cdk.RemovalPolicy.RETAIN,
            )
            self.log_groups.append(group)
        for instance in self._instances():
            instance.node.add_dependency(*self.log_groups)

        # Single-user rotation hosted by Secrets Manager: it runs in our subnets,
        # reaches the database through its own security group and Secrets
        # Manager through the VPC's interface endpoint.
        rotation_sg = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"{self.node.path}: secret rotation to the database and Secrets Manager",
        )
        rotation_sg.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "Secrets Manager endpoint")
        self.cluster.connections.allow_from(rotation_sg, self._port_rule, "Secret rotation")
        self.rotation_schedule = self.secret.add_rotation_schedule(
            "Rotation",
            automatically_after=rotation,
            hosted_rotation=family["rotation"](vpc=vpc, vpc_subnets=subnets, security_groups=[rotation_sg],
                                               exclude_characters=_EXCLUDE),
        )

        if proxy:
            proxy_sg = ec2.SecurityGroup(
                self, "ProxySecurityGroup", vpc=vpc, allow_all_outbound=False,
                description=f"{self.node.path}: RDS Proxy clients only",
            )
            # End-to-end IAM authentication: clients present an IAM token to the proxy, and the proxy logs in
            # to the database with an IAM token of its own, as the same user. With one stored secret
            # (AuthScheme SECRETS) the proxy could log in only as the secret's user, the administrator, so an
            # IAM grant for any other user could never be honoured. No secret is registered: the proxy's
            # role reads none, and the administrator connects to the writer endpoint directly.
            # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/rds-proxy-iam-setup.html
            self.proxy = rds.DatabaseProxy(
                self, "Proxy", proxy_target=rds.ProxyTarget.from_cluster(self.cluster),
                default_auth_scheme=rds.DefaultAuthScheme.IAM_AUTH,
                vpc=vpc, vpc_subnets=subnets, security_groups=[proxy_sg], require_tls=True, debug_logging=False,
            )
            self.proxy_role = self.proxy.node.find_child("IAMRole")
            # aws-cdk-lib opened the cluster to the proxy through the Endpoint.Port attribute; the same rule
            # with the literal port takes its place (and its ID).
            cluster_sg = self.cluster.connections.security_groups[0]
            secure.require(cluster_sg.node.try_remove_child(f"from {proxy_sg.unique_id}:{{IndirectPort}}"), "proxy",
                           proxy, "expected aws-cdk-lib's proxy ingress rule on the cluster's security group")
            self.cluster.connections.allow_from(proxy_sg, self._port_rule, "RDS Proxy")
            # A unique name whatever the app's feature flags: without @aws-cdk/aws-rds:databaseProxyUniqueResourceName
            # aws-cdk-lib names the proxy "Proxy", and a second such stack in the account and region fails.
            self.proxy.node.default_child.db_proxy_name = cdk.Names.unique_resource_name(self.proxy, max_length=60)
            secure.cfn_lint_ignore(
                self.proxy.node.find_child("ProxyTargetGroup"), "W3005",
                "aws-cdk-lib makes the proxy's target group DependsOn the whole cluster so that it waits for the "
                "instances; the cluster half repeats the Ref and is harmless.",
            )

        self.scalable_target = None
        if reader_scaling is not None:
            self.scalable_target = self._reader_scaling(reader_scaling, readers)

        self.parameter_path = parameter_path
        self.parameters = {}
        if parameter_path is not None:
            settings = {
                "writer-endpoint": self.writer_endpoint.hostname,
                "reader-endpoint": self.reader_endpoint.hostname,
                "port": str(port),
                "database-name": database_name,
                "secret-arn": self.secret.secret_arn,
            }
            if self.proxy is not None:
                settings["proxy-endpoint"] = self.proxy.endpoint
            self.parameters = _parameters(self, parameter_path, settings, what=self.node.path)

        self.thresholds = {
            "writer": sizing.database_alarm_thresholds(family["name"], writer_memory),
            "readers": sizing.database_alarm_thresholds(family["name"], reader_memory),
        }
        self.alarms = self._alarms(cpu_alarm_percent, lag_ms)
        secure.notify(self.alarms, alarm_topic)
        if reader_scaling is not None:
            reader_range = (reader_scaling.min_replicas if reader_scaling.min_replicas is not None else readers,
                            reader_scaling.max_replicas)
        else:
            reader_range = (readers, readers)
        self.dashboard = self._dashboard(reader_range) if dashboard else None

    def _dashboard(self, reader_range: tuple[int, int]) -> cloudwatch.Dashboard:
        by_id = {a.node.id: a for a in self.alarms}

        def metric(name: str, role: str, statistic: str, label: str | None = None) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/RDS", metric_name=name, statistic=statistic, period=cdk.Duration.minutes(1),
                dimensions_map={"DBClusterIdentifier": self.cluster.cluster_identifier, "Role": role},
                label=label or role.lower(),
            )

        def both(name: str, statistic: str, alarm: str, title: str) -> cloudwatch.GraphWidget:
            return observe.graph(title, [metric(name, "WRITER", statistic), metric(name, "READER", statistic)],
                                 alarms=[by_id[f"Writer{alarm}"], by_id[f"Reader{alarm}"]], width=6)

        low, high = reader_range
        instances = [c.node.default_child for c in self._instances()]
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text("## Readers and replication"),
            # Each instance reports CPU once a minute: the sample count over the READER role counts the
            # readers reporting, auto-scaled ones included.
            observe.graph("Readers (reporting instances)", [metric("CPUUtilization", "READER", "SampleCount",
                                                                   "readers")],
                          limits=[(low, "fewest readers"), (high, "most readers")], width=8),
            observe.graph("Replica lag (ms)", [metric("AuroraReplicaLag", "READER", "Maximum")],
                          alarms=[by_id["ReplicaLagAlarm"]], width=8),
            observe.graph("CPU per instance (%)", [
                cloudwatch.Metric(namespace="AWS/RDS", metric_name="CPUUtilization", statistic="Average",
                                  period=cdk.Duration.minutes(1), label=i.node.scope.node.id,
                                  dimensions_map={"DBInstanceIdentifier": i.ref})
                for i in instances
            ], width=8),
        ], [
            observe.text("## Writer and readers"),
            both("CPUUtilization", "Average", "CpuAlarm", "CPU (%)"),
            both("DatabaseConnections", "Maximum", "ConnectionsAlarm", "Connections"),
            both("FreeableMemory", "Minimum", "MemoryAlarm", "Freeable memory (bytes)"),
            both("FreeLocalStorage", "Minimum", "LocalStorageAlarm", "Free local storage (bytes)"),
        ]]
        if self.proxy is not None:
            def proxy(name: str) -> cloudwatch.Metric:
                # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy.monitoring.html
                return cloudwatch.Metric(namespace="AWS/RDS", metric_name=name, statistic="Maximum",
                                         period=cdk.Duration.minutes(1),
                                         dimensions_map={"ProxyName": self.proxy.db_proxy_name})
            rows.append([
                observe.text("## RDS Proxy"),
                observe.graph("Client and database connections", [proxy("ClientConnections"),
                                                                   proxy("DatabaseConnections")], width=12),
                observe.graph("Connections borrowed and setup failures", [
                    proxy("DatabaseConnectionsCurrentlyBorrowed"),
                    proxy("DatabaseConnectionsSetupFailed"),
                ], width=12),
            ])
        return observe.pattern_dashboard(self, "Dashboard", title=f"Aurora {self.node.path}", rows=rows,
                                         alarms=self.alarms)

    def _instances(self) -> list[Construct]:
        """The writer and the readers the construct created."""
        return [c for c in self.cluster.node.children if isinstance(c.node.default_child, rds.CfnDBInstance)]

    # -- access ---------------------------------------------------------------

    def allow_from(self, peer: ec2.IConnectable) -> None:
        """Admit ``peer`` (a service, function, host or security group) on the
        database port, and on the proxy's when there is one."""
        self.cluster.connections.allow_from(peer, self._port_rule, "Database clients")
        if self.proxy is not None:
            # RDS Proxy always listens on the engine's standard port.
            self.proxy.connections.allow_from(peer, ec2.Port.tcp(self.proxy_port), "Proxy clients")

    def grant_connect(self, grantee: iam.IGrantable, db_user: str) -> iam.Grant:
        """IAM database authentication: let ``grantee`` connect as ``db_user``, a user created in the
        database for IAM (PostgreSQL: ``GRANT rds_iam TO <user>``; MySQL: ``IDENTIFIED WITH
        AWSAuthenticationPlugin AS 'RDS'``).

        Directly: ``rds-db:connect`` on ``dbuser:<cluster resource id>/<user>``. With the proxy, also on
        ``dbuser:<proxy id>/<user>``, and the proxy's own role gets ``rds-db:connect`` on the cluster for
        the same user: end-to-end IAM authentication logs the proxy in to the database with it."""
        secure.require(bool(_USERNAME.match(db_user or "")), "db_user", db_user, "must be a database user name")
        if self.proxy is not None:
            self.proxy.grant_connect(grantee, db_user)
            self.cluster.grant_connect(self.proxy_role, db_user)
        return self.cluster.grant_connect(grantee, db_user)

    def grant_read_configuration(self, grantee: iam.IGrantable) -> None:
        """Let an application read its settings from Parameter Store (one by one or
        by path) and the credentials from Secrets Manager (decrypted with the key)."""
        _grant_read_configuration(grantee, self.parameters, self.parameter_path, self.secret, self.key)

    # -- reader auto scaling --------------------------------------------------

    def _reader_scaling(self, spec: ReaderScaling, readers: int) -> appscaling.ScalableTarget:
        # CDK's rds module has no reader auto scaling: register the cluster's
        # reader count with Application Auto Scaling ourselves.
        target = appscaling.ScalableTarget(
            self,
            "ReaderScaling",
            service_namespace=appscaling.ServiceNamespace.RDS,
            scalable_dimension="rds:cluster:ReadReplicaCount",
            resource_id=f"cluster:{self.cluster.cluster_identifier}",
            min_capacity=spec.min_replicas if spec.min_replicas is not None else readers,
            max_capacity=spec.max_replicas,
        )
        # No RoleARN: Application Auto Scaling then uses (and creates on first
        # use) its RDS service-linked role, instead of an empty role of ours.
        target.node.default_child.add_property_deletion_override("RoleARN")
        target.node.try_remove_child("Role")
        # Register only once every instance is up: Aurora refuses to scale a
        # cluster whose instances are still being created.
        target.node.add_dependency(*self._instances())
        target.scale_to_track_metric(
            "Target",
            target_value=spec.target,
            predefined_metric=spec.metric.value,
            scale_in_cooldown=spec.scale_in_cooldown,
            scale_out_cooldown=spec.scale_out_cooldown,
        )
        return target

    # -- alarms ---------------------------------------------------------------

    def _alarms(self, cpu_percent: int, lag_ms: float) -> list[cloudwatch.Alarm]:
        # Per role, not per instance: the (DBClusterIdentifier, Role) dimensions
        # aggregate every reader, including those auto scaling adds later.
        def metric(name: str, role: str, statistic: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/RDS", metric_name=name, statistic=statistic, period=cdk.Duration.minutes(1),
                dimensions_map={"DBClusterIdentifier": self.cluster.cluster_identifier, "Role": role},
            )

        def alarm(construct_id: str, description: str, m: cloudwatch.Metric, threshold: float,
                  above: bool = True) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self, construct_id, alarm_description=f"{self.node.path}: {description}", metric=m,
                threshold=threshold, evaluation_periods=5, datapoints_to_alarm=5,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD if above
                else cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
                treat_missing_data=cloudwatch.TreatMissingData.MISSING,
            )

        alarms = [alarm("ReplicaLagAlarm", f"a reader lags the writer by more than {lag_ms:g} ms",
                        metric("AuroraReplicaLag", "READER", "Maximum"), lag_ms)]
        for role, prefix in (("WRITER", "Writer"), ("READER", "Reader")):
            t = self.thresholds["writer" if role == "WRITER" else "readers"]
            who = role.lower()
            alarms += [
                alarm(f"{prefix}CpuAlarm", f"{who} CPU above {cpu_percent} %",
                      metric("CPUUtilization", role, "Average"), cpu_percent),
                alarm(f"{prefix}MemoryAlarm", f"{who} freeable memory below {t.freeable_memory_bytes} bytes",
                      metric("FreeableMemory", role, "Minimum"), t.freeable_memory_bytes, above=False),
                alarm(f"{prefix}ConnectionsAlarm",
                      f"{who} connections above {t.connections} (80 % of max_connections {t.max_connections})",
                      metric("DatabaseConnections", role, "Maximum"), t.connections),
                alarm(f"{prefix}LocalStorageAlarm",
                      f"{who} free local storage below {t.free_local_storage_bytes} bytes",
                      metric("FreeLocalStorage", role, "Minimum"), t.free_local_storage_bytes, above=False),
            ]
        return alarms


class RdsWithReadReplicas(Construct):
    """A Multi-AZ RDS instance with read replicas and storage autoscaling.

    The comparison with :class:`AuroraCluster`: each replica copies the data
    onto storage of its own by asynchronous replication, and storage grows
    with ``max_allocated_storage``. Same secure defaults.

    :param vpc: the VPC.
    :param subnets: at least two availability zones. Default: the VPC's isolated subnets.
    :param engine: default: RDS for PostgreSQL 17 (``RDS_POSTGRES``).
    :param instance_type: primary and replicas. Default: ``r7g.large``.
    :param read_replicas: 1 to 15, spread over the zones. Default: 1.
    :param allocated_storage: GiB at creation, 20 to 65536. Default: 100.
    :param max_allocated_storage: GiB storage autoscaling may grow to, above
        ``allocated_storage``. Default: 1000.
    :param port: 1150 to 65535, not the engine's default. Default: 15432 / 13306.
    :param database_name: default: ``app``.
    :param master_username: default: ``dbadmin``.
    :param rotation: 1 to 365 days. Default: 30 days.
    :param key: default: a new customer-managed key with rotation.
    :param backup_retention: 7 to 35 days. Default: 7 days.
    :param monitoring_interval: default: 60 s.
    :param log_retention: of the exported logs. Default: one year.
    :param parameter_path: write the non-secret settings here. Default: none written.
    :param alarm_topic: default: nowhere.
    :param cpu_alarm_percent: default: 80.
    :param replica_lag_alarm: default: 30 seconds (RDS replication is asynchronous and coarser than Aurora's).
    :param deletion_protection: default: True.
    :param removal_policy: for the primary. Default: SNAPSHOT. Replicas hold
        no data of their own and are destroyed with the stack (once
        ``deletion_protection``, which covers them too, is off).
    :param backup_plan: an AWS Backup plan (:class:`DatabaseBackupPlan`) for the
        primary too. Default: none (RDS's automated backups only).
    """

    instance: rds.DatabaseInstance
    backup_plan: DatabaseBackupPlan | None
    replicas: list[rds.DatabaseInstanceReadReplica]
    key: kms.IKey
    secret: secretsmanager.ISecret
    security_group: ec2.SecurityGroup
    port: int
    rotation_schedule: secretsmanager.RotationSchedule
    parameter_path: str | None
    parameters: dict[str, ssm.StringParameter]
    alarms: list[cloudwatch.Alarm]
    thresholds: sizing.DatabaseAlarmThresholds
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection | None = None,
        engine: rds.IInstanceEngine = RDS_POSTGRES,
        instance_type: ec2.InstanceType = DEFAULT_INSTANCE_TYPE,
        read_replicas: int = 1,
        allocated_storage: int = 100,
        max_allocated_storage: int = 1000,
        port: int | None = None,
        database_name: str = "app",
        master_username: str = "dbadmin",
        rotation: cdk.Duration = cdk.Duration.days(30),
        key: kms.IKey | None = None,
        backup_retention: cdk.Duration = cdk.Duration.days(sizing.BACKUP_FLOOR_DAYS),
        monitoring_interval: cdk.Duration = cdk.Duration.seconds(60),
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        parameter_path: str | None = None,
        alarm_topic: sns.ITopic | None = None,
        cpu_alarm_percent: int = 80,
        replica_lag_alarm: cdk.Duration = cdk.Duration.seconds(30),
        deletion_protection: bool = True,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.SNAPSHOT,
        dashboard: bool = True,


        backup_plan: BackupPlanOptions | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        require = secure.require
        subnets, family, port, azs = _prepare(
            vpc=vpc, subnets=subnets, engine_family=engine.engine_family, port=port, database_name=database_name,
            master_username=master_username, rotation=rotation, backup_retention=backup_retention,
            monitoring_interval=monitoring_interval, cpu_alarm_percent=cpu_alarm_percent, parameter_path=parameter_path,
        )
        _check_backup_plan(backup_plan)
        require(
            isinstance(read_replicas, int) and not isinstance(read_replicas, bool)
            and 1 <= read_replicas <= sizing.RDS_MAX_READ_REPLICAS,
            "read_replicas", read_replicas, f"must be 1 to {sizing.RDS_MAX_READ_REPLICAS} (RDS's limit)",
        )
        require(isinstance(allocated_storage, int) and 20 <= allocated_storage <= 65536,
                "allocated_storage", allocated_storage, "must be 20 to 65536 GiB")
        require(isinstance(max_allocated_storage, int) and allocated_storage < max_allocated_storage <= 65536,
                "max_allocated_storage", max_allocated_storage,
                f"must be above allocated_storage ({allocated_storage} GiB) and at most 65536 GiB, "
                "or storage cannot grow")
        lag_s = replica_lag_alarm.to_milliseconds() / 1000
        require(lag_s >= 1, "replica_lag_alarm", f"{lag_s} s", "must be at least 1 s (ReplicaLag is in seconds)")
        memory = _memory_gib("instance_type", instance_type)

        self.port = port
        # Ingress rules name the literal port, not the Endpoint.Port attribute, so reviewers and the strict
        # packs (EC2RestrictedCommonPorts/SSH cannot resolve a token) read the range. The label keeps the
        # rules' construct IDs (and logical IDs) those of the attribute's rules: a new logical ID for the
        # same rule would be created before the old one is deleted, and EC2 refuses a duplicate rule.
        self._port_rule = ec2.Port(protocol=ec2.Protocol.TCP, from_port=port, to_port=port,
                                   string_representation="{IndirectPort}")
        self.key = key or secure.encryption_key(
            self, "Key", description=f"{self.node.path}: storage, Performance Insights, secret and logs"
        )
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, description=f"{self.node.path}: database clients only",
            allow_all_outbound=False,
        )
        parameter_group = rds.ParameterGroup(
            self, "Parameters", engine=engine, description=f"{self.node.path}: TLS required",
            parameters=dict(family["rds_parameters"]),
        )
        monitoring_role = _monitoring_role(self)
        # The replicas take the primary's storage: aws-cdk-lib gives a replica gp2 unless told, and gp2's
        # baseline (3 IOPS per GiB: 300 at 100 GiB) against gp3's 3,000 would leave replicas lagging the
        # primary. Any IOPS or throughput set here applies to both too.
        storage = dict(storage_type=rds.StorageType.GP3)
        common = dict(
            **storage,
            instance_type=instance_type,
            vpc=vpc,
            vpc_subnets=subnets,
            security_groups=[self.security_group],
            storage_encrypted=True,
            storage_encryption_key=self.key,
            max_allocated_storage=max_allocated_storage,
            iam_authentication=True,
            parameter_group=parameter_group,
            deletion_protection=deletion_protection,
            monitoring_interval=monitoring_interval,
            monitoring_role=monitoring_role,
            enable_performance_insights=True,
            performance_insight_encryption_key=self.key,
            performance_insight_retention=rds.PerformanceInsightRetention.DEFAULT,
            cloudwatch_logs_exports=list(family["rds_logs"]),
            cloudwatch_logs_retention=log_retention,
            auto_minor_version_upgrade=True,
            copy_tags_to_snapshot=True,
            publicly_accessible=False,
        )
        self.instance = rds.DatabaseInstance(
            self,
            "Primary",
            engine=engine,
            multi_az=True,
            allocated_storage=allocated_storage,
            port=port,
            database_name=database_name,
            credentials=rds.Credentials.from_generated_secret(
                master_username, encryption_key=self.key, exclude_characters=_EXCLUDE),
            backup_retention=backup_retention,
            preferred_backup_window="03:00-04:00",
            preferred_maintenance_window="sun:04:30-sun:05:30",
            removal_policy=removal_policy,
            **common,
        )
        self.backup_plan = None if backup_plan is None else DatabaseBackupPlan(
            self, "Backup", resource=backup.BackupResource.from_rds_database_instance(self.instance),
            options=backup_plan)
        self.secret = self.instance.secret
        self.instance.node.find_child("Secret").apply_removal_policy(cdk.RemovalPolicy.RETAIN)
        self.replicas = []
        for i in range(read_replicas):
            replica = rds.DatabaseInstanceReadReplica(
                self, f"Replica{i + 1}", source_database_instance=self.instance,
                availability_zone=azs[(i + 1) % len(azs)], port=port, removal_policy=cdk.RemovalPolicy.DESTROY,
                **common,
            )
            cfn_replica = replica.node.default_child
            # A replica inherits encryption from its source; CloudFormation rejects StorageEncrypted beside
            # SourceDBInstanceIdentifier, and KmsKeyId names the same key.
            cfn_replica.add_property_deletion_override("StorageEncrypted")
            secure.checkov_skip(
                cfn_replica, "CKV_AWS_16",
                "A read replica of an encrypted instance is always encrypted, with the KmsKeyId shown; "
                "CloudFormation rejects StorageEncrypted on a replica, which is all this check reads.",
            )
            secure.checkov_skip(
                cfn_replica, "CKV_AWS_157",
                "A read replica is one copy in one zone; the Multi-AZ primary carries the failover, and the "
                "replicas are spread over the zones.",
            )
            secure.acknowledge(
                cfn_replica, "AwsSolutions::AwsSolutions-RDS11",
                "The replica sets Port to the same non-default port as its source; the rule reads the Engine "
                "property too, which a replica inherits and does not state, so it cannot tell.",
            )
            secure.acknowledge(
                cfn_replica, "AwsSolutions::AwsSolutions-RDS3",
                "Read replicas are single-AZ by design: the primary is Multi-AZ and replicas spread over the "
                "zones, so losing one zone leaves the primary and the other replicas.",
            )
            secure.acknowledge(
                cfn_replica, "AwsSolutions::AwsSolutions-RDS2",
                "A read replica is encrypted with its source's key (KmsKeyId shows it); CloudFormation rejects "
                "StorageEncrypted beside SourceDBInstanceIdentifier, so the template cannot state it.",
            )
            if self.backup_plan is not None:
                secure.acknowledge_strict(
                    cfn_replica, "RDSInBackupPlan",
                    "A read replica is a copy of its source, which this construct's backup plan selects; a "
                    "restore rebuilds the replicas from the restored primary.",
                )
            self.replicas.append(replica)
        secure.tolerate_log_retention(self, service="RDS", resources="instances")

        rotation_sg = ec2.SecurityGroup(
            self, "RotationSecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"{self.node.path}: secret rotation to the database and Secrets Manager",
        )
        rotation_sg.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "Secrets Manager endpoint")
        self.instance.connections.allow_from(rotation_sg, self._port_rule, "Secret rotation")
        rotation_fn = (secretsmanager.HostedRotation.postgre_sql_single_user if family["name"] == "postgresql"
                       else secretsmanager.HostedRotation.mysql_single_user)
        self.rotation_schedule = self.secret.add_rotation_schedule(
            "Rotation", automatically_after=rotation,
            hosted_rotation=rotation_fn(vpc=vpc, vpc_subnets=subnets, security_groups=[rotation_sg],
                                        exclude_characters=_EXCLUDE),
        )

        self.parameter_path = parameter_path
        self.parameters = {}
        if parameter_path is not None:
            settings = {
                "writer-endpoint": self.instance.db_instance_endpoint_address,
                "reader-endpoints": cdk.Fn.join(",", [r.db_instance_endpoint_address for r in self.replicas]),
                "port": str(port),
                "database-name": database_name,
                "secret-arn": self.secret.secret_arn,
            }
            self.parameters = _parameters(self, parameter_path, settings, what=self.node.path)

        self.thresholds = sizing.database_alarm_thresholds(family["name"], memory, aurora=False)
        self.alarms = self._alarms(cpu_alarm_percent, lag_s, allocated_storage)
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def _dashboard(self) -> cloudwatch.Dashboard:
        named = [("Primary", self.instance), *((f"Replica{i + 1}", r) for i, r in enumerate(self.replicas))]

        def per_instance(title: str, name: str, statistic: str, alarm: str | None,
                         instances=named) -> cloudwatch.GraphWidget:
            metrics = [cloudwatch.Metric(namespace="AWS/RDS", metric_name=name, statistic=statistic,
                                         period=cdk.Duration.minutes(1), label=prefix,
                                         dimensions_map={"DBInstanceIdentifier": instance.instance_identifier})
                       for prefix, instance in instances]
            alarms = [a for a in self.alarms if alarm and a.node.id.endswith(alarm)]
            return observe.graph(title, metrics, alarms=alarms, width=6)

        replicas = named[1:]
        rows: list[list[cloudwatch.IWidget]] = [[
            observe.text(f"## {len(self.replicas)} read replicas: lag, storage, I/O"),
            per_instance("Replica lag (s)", "ReplicaLag", "Maximum", "LagAlarm", replicas),
            per_instance("Free storage (bytes)", "FreeStorageSpace", "Minimum", "StorageAlarm"),
            per_instance("Write IOPS", "WriteIOPS", "Average", None),
            per_instance("Read IOPS", "ReadIOPS", "Average", None),
        ], [
            observe.text("## Primary and replicas"),
            per_instance("CPU (%)", "CPUUtilization", "Average", "CpuAlarm"),
            per_instance("Connections", "DatabaseConnections", "Maximum", "ConnectionsAlarm"),
            per_instance("Freeable memory (bytes)", "FreeableMemory", "Minimum", "MemoryAlarm"),
        ]]
        return observe.pattern_dashboard(self, "Dashboard", title=f"RDS {self.node.path}", rows=rows,
                                         alarms=self.alarms)

    def allow_from(self, peer: ec2.IConnectable) -> None:
        """Admit ``peer`` on the database port (primary and replicas share the security group)."""
        self.instance.connections.allow_from(peer, self._port_rule, "Database clients")

    def grant_connect(self, grantee: iam.IGrantable, db_user: str) -> iam.Grant:
        """IAM database authentication on the primary and every replica."""
        secure.require(bool(_USERNAME.match(db_user or "")), "db_user", db_user, "must be a database user name")
        for replica in self.replicas:
            # The replica's DbiResourceId, not replica.instance_resource_id: without the flag
            # @aws-cdk/aws-rds:setCorrectValueForDatabaseInstanceReadReplicaInstanceResourceId that is the
            # instance ARN, and the grant would name no database user.
            resource_id = replica.node.default_child.attr_dbi_resource_id
            iam.Grant.add_to_principal(grantee=grantee, actions=["rds-db:connect"], resource_arns=[
                cdk.Stack.of(self).format_arn(service="rds-db", resource="dbuser", resource_name=f"{resource_id}/{db_user}",
                                              arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)])
        return self.instance.grant_connect(grantee, db_user)

    def grant_read_configuration(self, grantee: iam.IGrantable) -> None:
        """Let an application read its settings from Parameter Store (one by one or
        by path) and the credentials from Secrets Manager (decrypted with the key)."""
        _grant_read_configuration(grantee, self.parameters, self.parameter_path, self.secret, self.key)

    def _alarms(self, cpu_percent: int, lag_s: float, allocated_gib: int) -> list[cloudwatch.Alarm]:
        t = self.thresholds
        storage = sizing.rds_free_storage_alarm_bytes(allocated_gib)

        def alarm(construct_id: str, instance: rds.IDatabaseInstance, description: str, name: str, statistic: str,
                  threshold: float, above: bool = True) -> cloudwatch.Alarm:
            return cloudwatch.Alarm(
                self, construct_id, alarm_description=f"{self.node.path}: {description}",
                metric=cloudwatch.Metric(
                    namespace="AWS/RDS", metric_name=name, statistic=statistic, period=cdk.Duration.minutes(1),
                    dimensions_map={"DBInstanceIdentifier": instance.instance_identifier},
                ),
                threshold=threshold, evaluation_periods=5, datapoints_to_alarm=5,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD if above
                else cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            )

        alarms = []
        named = [("Primary", self.instance), *((f"Replica{i + 1}", r) for i, r in enumerate(self.replicas))]
        for prefix, instance in named:
            alarms += [
                alarm(f"{prefix}CpuAlarm", instance, f"{prefix} CPU above {cpu_percent} %",
                      "CPUUtilization", "Average", cpu_percent),
                alarm(f"{prefix}MemoryAlarm", instance,
                      f"{prefix} freeable memory below {t.freeable_memory_bytes} bytes",
                      "FreeableMemory", "Minimum", t.freeable_memory_bytes, above=False),
                alarm(f"{prefix}ConnectionsAlarm", instance, f"{prefix} connections above {t.connections}",
                      "DatabaseConnections", "Maximum", t.connections),
                # Autoscaling keeps free space near 10 % of the allocation; half of that on the initial
                # allocation means it cannot keep up or has reached max_allocated_storage.
                alarm(f"{prefix}StorageAlarm", instance,
                      f"{prefix} free storage below {storage} bytes (5 % of the initial {allocated_gib} GiB): "
                      "storage autoscaling is not keeping up or has reached max_allocated_storage",
                      "FreeStorageSpace", "Minimum", storage, above=False),
            ]
            if instance is not self.instance:
                alarms.append(alarm(f"{prefix}LagAlarm", instance,
                                    f"{prefix} lags the primary by more than {lag_s:g} s",
                                    "ReplicaLag", "Maximum", lag_s))
        return alarms


class SessionManagerHost(Construct):
    """An administration host reached through Session Manager, never SSH.

    No inbound rules, no key pair, IMDSv2 only, an encrypted volume. An
    operator forwards a local port through it to the database::

        aws ssm start-session --target <instance-id> \\
          --document-name AWS-StartPortForwardingSessionToRemoteHost \\
          --parameters '{"host":["<writer endpoint>"],"portNumber":["15432"],"localPortNumber":["15432"]}'

    The VPC needs the ``secure.SESSION_MANAGER_ENDPOINTS`` interface endpoints:
    the host sends HTTPS only to addresses inside the VPC, so a NAT gateway
    alone does not do. The host holds no database permission: the operator's
    own credentials (password from Secrets Manager, or an IAM token) travel
    through the tunnel.

    :param vpc: the VPC.
    :param key: encrypts the root volume.
    :param subnets: default: CDK's default selection (private subnets with
        egress if the VPC has them, otherwise isolated ones).
    :param instance_type: default: ``t4g.nano`` (it only relays TCP).
    """

    instance: ec2.Instance
    security_group: ec2.SecurityGroup
    role: iam.Role

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        key: kms.IKey,
        subnets: ec2.SubnetSelection | None = None,
        instance_type: ec2.InstanceType = ec2.InstanceType("t4g.nano"),
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        arm = instance_type.architecture == ec2.InstanceArchitecture.ARM_64
        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"{self.node.path}: no inbound; HTTPS to the VPC endpoints, the database port",
        )
        self.security_group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443), "SSM endpoints")
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"),
            description=f"Session Manager host {cdk.Names.unique_id(self)}: SSM agent only",
        )
        # What the SSM agent needs for sessions, instead of AmazonSSMManagedInstanceCore
        # (which also lets the host read every parameter and document in the account).
        agent = iam.Policy(self, "AgentPolicy", statements=[
            iam.PolicyStatement(
                actions=["ssmmessages:CreateControlChannel",
                         "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel",
                         "ssmmessages:OpenDataChannel", "ec2messages:AcknowledgeMessage",
                         "ec2messages:DeleteMessage", "ec2messages:FailMessage", "ec2messages:GetEndpoint",
                         "ec2messages:GetMessages", "ec2messages:SendReply"],
                resources=["*"],
            )
        ])
        agent.attach_to_role(self.role)
        secure.acknowledge(
            agent.node.default_child, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "The SSM agent's session and message-channel actions (ssmmessages, ec2messages) support no resource "
            "ARNs; this role is the instance's and is assumable only by EC2.",
        )
        self.instance = ec2.Instance(
            self, "Instance",
            vpc=vpc,
            vpc_subnets=subnets,
            instance_type=instance_type,
            machine_image=ec2.MachineImage.latest_amazon_linux2023(
                cpu_type=ec2.AmazonLinuxCpuType.ARM_64 if arm else ec2.AmazonLinuxCpuType.X86_64),
            security_group=self.security_group,
            role=self.role,
            detailed_monitoring=True,
            ebs_optimized=True,
            associate_public_ip_address=False,
            block_devices=[ec2.BlockDevice(
                device_name="/dev/xvda",
                volume=ec2.BlockDeviceVolume.ebs(8, encrypted=True, kms_key=key, delete_on_termination=True,
                                                 volume_type=ec2.EbsDeviceVolumeType.GP3),
            )],
        )
        # IMDSv2 only, through a launch template with a generated name. require_imdsv2=True would name it
        # "InstanceLaunchTemplate" unless the app sets @aws-cdk/aws-ec2:uniqueImdsv2TemplateName, and a
        # second host in the account and region would then fail to deploy.
        template = ec2.CfnLaunchTemplate(self.instance, "LaunchTemplate", launch_template_data=
                                         ec2.CfnLaunchTemplate.LaunchTemplateDataProperty(
                                             metadata_options=ec2.CfnLaunchTemplate.MetadataOptionsProperty(
                                                 http_tokens="required")))
        template.launch_template_name = cdk.Names.unique_id(template)
        self.instance.instance.launch_template = ec2.CfnInstance.LaunchTemplateSpecificationProperty(
            launch_template_name=template.launch_template_name, version=template.attr_latest_version_number)
        # Registering with Systems Manager is the one agent action scoped to this instance.
        agent.add_statements(iam.PolicyStatement(
            actions=["ssm:UpdateInstanceInformation"],
            resources=[cdk.Stack.of(self).format_arn(service="ec2", resource="instance",
                                                     resource_name=self.instance.instance_id)],
        ))
        secure.checkov_skip(
            agent.node.default_child, "CKV_AWS_111",
            "Session Manager's channel and message actions (ssmmessages, ec2messages) take no resource ARN; "
            "registration is scoped to this instance. The role is assumable only by EC2.",
        )
        secure.acknowledge_strict(
            self.instance.node.default_child, "EC2InstancesInVPC",
            "The instance is in the VPC: its one network interface names the subnet (NetworkInterfaces, so that "
            "AssociatePublicIpAddress can be false); the rule reads only the top-level SubnetId (checker limit).",
        )
        secure.acknowledge(
            self.instance.node.default_child, "AwsSolutions::AwsSolutions-EC29",
            "A stateless relay for Session Manager port forwarding: nothing on it is worth protecting, and "
            "replacing it is a redeploy. Termination protection would block that replacement.",
        )

    def allow_to(self, database: AuroraCluster | RdsWithReadReplicas) -> None:
        """Let the host reach ``database`` on its port (and nothing else there)."""
        database.allow_from(self.instance)


# --- helpers ------------------------------------------------------------------


def _memory_gib(prop: str, instance_type: ec2.InstanceType) -> float:
    """The class's memory in GiB (it sets the alarm thresholds), or a ValueError naming ``prop``."""
    try:
        return sizing.instance_memory_gib(instance_type.to_string())
    except ValueError:
        secure.require(False, prop, instance_type.to_string(),
                       "must be an r, m or x class of size large or larger, or a t class "
                       "(its memory sets the alarm thresholds)")
        raise


def _family(prop: str, engine_family: str | None) -> dict:
    secure.require(engine_family in _FAMILY, prop, engine_family, "must be a PostgreSQL or MySQL engine")
    return _FAMILY[engine_family]


def _availability_zones(vpc: ec2.IVpc, subnets: ec2.SubnetSelection) -> list[str]:
    selected = vpc.select_subnets(
        availability_zones=subnets.availability_zones, one_per_az=subnets.one_per_az,
        subnet_filters=subnets.subnet_filters, subnet_group_name=subnets.subnet_group_name,
        subnets=subnets.subnets, subnet_type=subnets.subnet_type,
    )
    azs = list(dict.fromkeys(selected.availability_zones))
    secure.require(
        len(azs) >= 2, "subnets", f"{len(azs)} availability zone(s)",
        "must span at least two availability zones, or a zone failure takes the database down",
    )
    return azs


def _prepare(
    *, vpc: ec2.IVpc, subnets: ec2.SubnetSelection | None, engine_family: str | None, port: int | None, **common,
) -> tuple[ec2.SubnetSelection, dict, int, list[str]]:
    """What both database constructs settle first: the subnets (default: isolated), the engine family and its
    refarch port, the validated common props, and the availability zones the subnets span."""
    subnets = subnets or ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
    family = _family("engine", engine_family)
    port = family["port"] if port is None else port
    azs = _availability_zones(vpc, subnets)
    _validate_common(port=port, family=family, **common)
    return subnets, family, port, azs


def _validate_common(
    *, port: int, family: dict, database_name: str, master_username: str, rotation: cdk.Duration,
    backup_retention: cdk.Duration, monitoring_interval: cdk.Duration, cpu_alarm_percent: int,
    parameter_path: str | None,
) -> None:
    require = secure.require
    require(isinstance(port, int) and not isinstance(port, bool) and 1150 <= port <= 65535, "port", port,
            "must be 1150 to 65535 (the range RDS accepts)")
    require(port != family["engine_port"], "port", port,
            f"must not be the engine's default {family['engine_port']}: scanners try it first")
    require(bool(_DB_NAME.match(database_name or "")), "database_name", database_name,
            "must start with a letter and hold up to 63 letters, digits or underscores")
    reserved = {"admin", "postgres", "rdsadmin"}
    require(bool(_USERNAME.match(master_username or "")) and master_username.lower() not in reserved,
            "master_username", master_username,
            "must start with a letter, hold up to 16 letters, digits or underscores, and not be a reserved name")
    days = backup_retention.to_days(integral=False)
    require(days >= 1, "backup_retention", f"{days:g} days", "must be at least 1 day (RDS's minimum)")
    require(sizing.BACKUP_FLOOR_DAYS <= days <= sizing.BACKUP_MAX_DAYS and days == int(days), "backup_retention",
            f"{days:g} days", f"must be whole days from {sizing.BACKUP_FLOOR_DAYS} (refarch's floor: a week of "
            f"point-in-time recovery) to {sizing.BACKUP_MAX_DAYS}")
    rotation_days = rotation.to_days(integral=False)
    require(1 <= rotation_days <= 365 and rotation_days == int(rotation_days), "rotation", f"{rotation_days:g} days",
            "must be whole days from 1 to 365")
    interval = monitoring_interval.to_seconds()
    require(interval in _MONITORING_INTERVALS_S, "monitoring_interval", f"{interval} s",
            f"must be one of {', '.join(map(str, _MONITORING_INTERVALS_S))} s")
    require(isinstance(cpu_alarm_percent, int) and 1 <= cpu_alarm_percent <= 99, "cpu_alarm_percent",
            cpu_alarm_percent, "must be 1 to 99")
    if parameter_path is not None:
        require(bool(_PARAMETER_PATH.match(parameter_path)) and not parameter_path.lower().startswith(("/aws", "/ssm")),
                "parameter_path", parameter_path,
                "must be a Parameter Store path such as /refarch/dev/database "
                "(no trailing slash, not under /aws or /ssm)")


def _validate_scaling(spec: ReaderScaling, readers: int) -> None:
    require = secure.require
    limit = sizing.AURORA_MAX_READERS
    require(isinstance(spec.metric, ReaderMetric), "reader_scaling.metric", spec.metric,
            "must be ReaderMetric.CPU or ReaderMetric.CONNECTIONS")
    require(isinstance(spec.target, (int, float)) and not isinstance(spec.target, bool), "reader_scaling.target",
            spec.target, "must be a number")
    require(isinstance(spec.max_replicas, int) and not isinstance(spec.max_replicas, bool)
            and 1 <= spec.max_replicas <= limit, "reader_scaling.max_replicas",
            spec.max_replicas, f"must be 1 to {limit} (Aurora's limit)")
    low = readers if spec.min_replicas is None else spec.min_replicas
    require(isinstance(low, int) and low >= readers, "reader_scaling.min_replicas", low,
            f"must be at least readers ({readers}): auto scaling never removes the readers the construct creates")
    require(low <= spec.max_replicas, "reader_scaling.min_replicas", low,
            f"must not exceed reader_scaling.max_replicas ({spec.max_replicas})")
    if spec.metric is ReaderMetric.CPU:
        require(10 <= spec.target <= 90, "reader_scaling.target", spec.target, "must be 10 to 90 percent CPU")
    else:
        require(spec.target >= 1, "reader_scaling.target", spec.target, "must be at least 1 connection per reader")
    cooldowns = {"scale_in_cooldown": spec.scale_in_cooldown, "scale_out_cooldown": spec.scale_out_cooldown}
    for name, cooldown in cooldowns.items():
        s = cooldown.to_seconds()
        require(0 <= s <= 3600, f"reader_scaling.{name}", f"{s} s", "must be 0 s to 1 hour")


def _monitoring_role(scope: Construct) -> iam.Role:
    """Enhanced monitoring's role, written out instead of the AWS managed policy:
    RDS writes OS metrics to the ``RDSOSMetrics`` log group of this account and region."""
    stack = cdk.Stack.of(scope)
    group = stack.format_arn(service="logs", resource="log-group", resource_name="RDS*",
                             arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
    streams = stack.format_arn(service="logs", resource="log-group", resource_name="RDSOSMetrics:log-stream:*",
                               arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)
    role = iam.Role(
        scope, "MonitoringRole", assumed_by=iam.ServicePrincipal("monitoring.rds.amazonaws.com"),
        description="RDS enhanced monitoring: OS metrics to the RDSOSMetrics log group",
        inline_policies={"EnhancedMonitoring": iam.PolicyDocument(statements=[
            iam.PolicyStatement(actions=["logs:CreateLogGroup", "logs:PutRetentionPolicy"], resources=[group]),
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams", "logs:GetLogEvents"],
                resources=[streams],
            ),
        ])},
    )
    secure.acknowledge(
        role,
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
        "log-group:RDS*]",
        "RDS names the enhanced-monitoring log group RDSOSMetrics itself; the pattern covers that group in this "
        "account and region only, as AWS's own managed policy does.",
    )
    secure.acknowledge(
        role,
        "AwsSolutions::AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:logs:<AWS::Region>:<AWS::AccountId>:"
        "log-group:RDSOSMetrics:log-stream:*]",
        "RDS creates one log stream per instance resource ID inside RDSOSMetrics; the streams are not known "
        "before the instances exist.",
    )
    return role


def _parameters(scope: Construct, path: str, settings: dict[str, str], *, what: str) -> dict[str, ssm.StringParameter]:
    """Non-secret settings under ``path``, for applications to read by path.

    Parameter names are physical on purpose: the hierarchy is the interface
    applications read (``GetParametersByPath``)."""
    parameters = {}
    for name, value in settings.items():
        construct_id = "".join(part.capitalize() for part in name.split("-")) + "Parameter"
        parameters[name] = ssm.StringParameter(
            scope, construct_id, parameter_name=f"{path}/{name}", string_value=value,
            description=f"{what}: {name.replace('-', ' ')} (not secret; the credentials live in Secrets Manager)",
            tier=ssm.ParameterTier.STANDARD,
        )
    return parameters


def _grant_read_configuration(
    grantee: iam.IGrantable, parameters: dict[str, ssm.StringParameter], path: str | None,
    secret: secretsmanager.ISecret, key: kms.IKey,
) -> None:
    stack = cdk.Stack.of(key)
    for parameter in parameters.values():
        parameter.grant_read(grantee)
    if path is not None:
        iam.Grant.add_to_principal(
            grantee=grantee, actions=["ssm:GetParametersByPath"],
            resource_arns=[stack.format_arn(service="ssm", resource="parameter", resource_name=path.lstrip("/"))],
        )
    secret.grant_read(grantee)
    # The secret is encrypted with our key; decrypting is allowed only through Secrets Manager.
    iam.Grant.add_to_principal(
        grantee=grantee, actions=["kms:Decrypt"], resource_arns=[key.key_arn],
        conditions={"StringEquals": {"kms:ViaService": f"secretsmanager.{stack.region}.amazonaws.com"}},
    )
