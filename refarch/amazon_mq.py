"""Amazon MQ for moving an existing broker to AWS, and a bridge from it to SNS.

``Broker`` runs RabbitMQ (a three-node cluster across availability zones for
production, a single instance for development) or ActiveMQ (an active/standby
pair, storage encrypted with a customer-managed key), in private subnets only,
never publicly accessible, with its one user's credentials generated in
Secrets Manager and passed to CloudFormation by dynamic reference, the TLS
ports alone admitted by its security group, general (and for ActiveMQ audit)
logs in CloudWatch Logs with retention, a maintenance window with automatic
minor upgrades on a pinned engine line, and alarms on what operators watch.

``BrokerBridge`` is the migration bridge: a Lambda event source mapping reads
one broker queue and the function forwards each message to an SNS topic, so
the existing system's messages fan out (``refarch.fanout``) to new consumers
while the old ones keep reading the broker.

Why the CloudFormation resources and not the cdklabs ``cdk-amazonmq`` library
(``cdklabs.cdk-amazonmq`` 0.1.9 on PyPI): its constructs are marked
experimental, it adds ``AwsCustomResource`` Lambdas for what this module does
with plain properties, and it pins ``typeguard==2.13.3``; see docs/amazon-mq.md.

Copy this file with ``secure.py``, ``observe.py`` and ``runtime/mq_bridge`` to use it
elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_amazonmq as amazonmq
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from constructs import Construct

from refarch import observe, secure

RUNTIME = Path(__file__).parent / "runtime" / "mq_bridge"

RABBITMQ = "RABBITMQ"
ACTIVEMQ = "ACTIVEMQ"
SINGLE_INSTANCE = "SINGLE_INSTANCE"
CLUSTER_MULTI_AZ = "CLUSTER_MULTI_AZ"
ACTIVE_STANDBY_MULTI_AZ = "ACTIVE_STANDBY_MULTI_AZ"

#: Engine lines, pinned: from RabbitMQ 3.13 and ActiveMQ 5.18 Amazon MQ takes a
#: major.minor version and applies patch versions itself in the maintenance
#: window, which needs automatic minor version upgrades on ("must be set to true
#: for ActiveMQ brokers version 5.18 and above and for RabbitMQ brokers version
#: 3.13 and above": https://docs.aws.amazon.com/amazon-mq/latest/api-reference/brokers.html).
ENGINE_VERSIONS = {RABBITMQ: "3.13", ACTIVEMQ: "5.18"}
#: Deployment modes each engine offers (CreateBroker API reference).
DEPLOYMENT_MODES = {
    RABBITMQ: (CLUSTER_MULTI_AZ, SINGLE_INSTANCE),
    ACTIVEMQ: (ACTIVE_STANDBY_MULTI_AZ, SINGLE_INSTANCE),
}
#: The only ports the brokers' security group admits: every one is TLS.
#: RabbitMQ: AMQPS and the HTTPS management API/console. ActiveMQ: OpenWire,
#: AMQP, STOMP, MQTT and WebSocket over TLS, and the HTTPS web console.
#: https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/amazon-mq-setting-up.html
TLS_PORTS = {
    RABBITMQ: {"AMQPS": 5671, "HTTPS": 443},
    ACTIVEMQ: {"OpenWire+SSL": 61617, "AMQP+SSL": 5671, "STOMP+SSL": 61614, "MQTT+SSL": 8883, "WSS": 61619,
               "Console": 8162},
}
#: The port the bridge's event source reads from.
CONSUMER_PORT = {RABBITMQ: 5671, ACTIVEMQ: 61617}
_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.~-]{2,100}$")
#: Amazon MQ rejects passwords with commas, colons or equals signs; the rest are
#: left out so that the password survives URLs and shells.
PASSWORD_EXCLUDED = ",:=\"'\\/@%`$&+ "


class Broker(Construct):
    """An Amazon MQ broker in private subnets, TLS-only, with generated credentials.

    :param vpc: the VPC. Required.
    :param subnets: private subnets, one per AZ; the broker takes one (single
        instance), two (active/standby) or up to three (cluster). Default: the
        ``Private`` tier of ``secure.Network``.
    :param engine: ``RABBITMQ`` or ``ACTIVEMQ``. Default: ``RABBITMQ``.
    :param deployment_mode: RabbitMQ ``CLUSTER_MULTI_AZ`` (production) or
        ``SINGLE_INSTANCE`` (development); ActiveMQ ``ACTIVE_STANDBY_MULTI_AZ``
        or ``SINGLE_INSTANCE``. Default: the multi-AZ mode of the engine.
    :param instance_type: default ``mq.m5.large``; ``mq.t3.micro`` only for a
        single instance.
    :param engine_version: default: the pinned line in ``ENGINE_VERSIONS``.
    :param clients: who may connect on the TLS ports (also ``allow_clients``).
        Default: nobody but the bridge's event source.
    :param username: the broker user created with it. Default: ``broker-admin``.
    :param key: encrypts the credentials secret and, for ActiveMQ, the broker's
        storage. RabbitMQ brokers always use an AWS owned key: their
        ``EncryptionOptions`` do not apply
        (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-properties-amazonmq-broker-encryptionoptions.html).
        Default: a new key.
    :param maintenance_window: (day, ``HH:MM``, time zone). Default:
        (``SUNDAY``, ``03:00``, ``UTC``).
    :param log_retention: of the broker's log groups. Default: one year.
    :param queue_depth_threshold: messages on the broker that raise the
        backlog alarm. Default: 10,000.
    :param connection_threshold: connections that raise the connection alarm;
        set it below the instance type's quota. Default: 1,000.
    :param alarm_topic: where the alarms notify. Default: none.
    :param removal_policy: for the broker, secret and key. Default: RETAIN.
    :param dashboard: create a CloudWatch dashboard following the messages
        through the broker (published, on the queues, acknowledged;
        connections; memory and disk against the limits that block
        publishers; every alarm with its threshold). A ``BrokerBridge`` on
        this broker adds its row (invocations, errors, duration, its alarm)
        to this same dashboard. Default: True (a dashboard costs about
        3 USD a month past the free three).
    """

    broker: amazonmq.CfnBroker
    dashboard: cloudwatch.Dashboard | None
    """The pattern's dashboard (None with ``dashboard=False``); bridges add their row to it."""
    secret: secretsmanager.Secret
    key: kms.IKey
    security_group: ec2.SecurityGroup
    alarms: list[cloudwatch.Alarm]

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection | None = None,
        engine: str = RABBITMQ,
        deployment_mode: str | None = None,
        instance_type: str = "mq.m5.large",
        engine_version: str | None = None,
        clients: Sequence[ec2.IPeer] | None = None,
        username: str = "broker-admin",
        key: kms.IKey | None = None,
        maintenance_window: tuple[str, str, str] = ("SUNDAY", "03:00", "UTC"),
        log_retention: logs.RetentionDays = secure.LOG_RETENTION,
        queue_depth_threshold: int = 10_000,
        connection_threshold: int = 1_000,
        alarm_topic: sns.ITopic | None = None,
        removal_policy: cdk.RemovalPolicy = cdk.RemovalPolicy.RETAIN,
        dashboard: bool = True,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(dashboard, bool), "dashboard", dashboard, "must be True or False")
        secure.require(engine in DEPLOYMENT_MODES, "engine", engine, f"must be one of {sorted(DEPLOYMENT_MODES)}")
        mode = deployment_mode or DEPLOYMENT_MODES[engine][0]
        secure.require(mode in DEPLOYMENT_MODES[engine], "deployment_mode", deployment_mode,
                       f"must be one of {list(DEPLOYMENT_MODES[engine])} for {engine}")
        secure.require(isinstance(instance_type, str) and re.fullmatch(r"mq\.[a-z0-9]+\.[a-z0-9]+", instance_type)
                       is not None, "instance_type", instance_type, "must be an Amazon MQ instance type (mq.*.*)")
        secure.require(instance_type != "mq.t3.micro" or mode == SINGLE_INSTANCE, "instance_type", instance_type,
                       "mq.t3.micro runs only a SINGLE_INSTANCE broker")
        version = engine_version or ENGINE_VERSIONS[engine]
        secure.require(re.fullmatch(r"\d+\.\d+(\.\d+)?", version) is not None, "engine_version", engine_version,
                       "must be a version such as 3.13")
        secure.require(_USERNAME.fullmatch(username or "") is not None and username != "guest", "username",
                       username, "must be 2-100 letters, digits, '-', '_', '.', '~' and not 'guest'")
        day, time, zone = (tuple(maintenance_window) + ("", "", ""))[:3]
        secure.require(day in _DAYS and _TIME.fullmatch(time or "") is not None and bool(zone), "maintenance_window",
                       maintenance_window, "must be (DAY, 'HH:MM', time zone)")
        for prop, value in (("queue_depth_threshold", queue_depth_threshold),
                            ("connection_threshold", connection_threshold)):
            secure.require(isinstance(value, int) and value > 0, prop, value, "must be a positive integer")
        # Subnets of one broker must be in different AZs (CreateBroker, subnetIds):
        # https://docs.aws.amazon.com/amazon-mq/latest/api-reference/brokers.html
        selected = vpc.select_subnets(**{**_selection(subnets), "one_per_az": True})
        secure.require(not selected.has_public, "subnets", subnets, "must be private: a broker is never public")
        needed = {SINGLE_INSTANCE: 1, ACTIVE_STANDBY_MULTI_AZ: 2, CLUSTER_MULTI_AZ: 1}[mode]
        secure.require(len(selected.subnet_ids) >= needed, "subnets", subnets,
                       f"must select at least {needed} subnet(s) for {mode}")

        self.engine = engine
        self.vpc = vpc
        self.deployment_mode = mode
        self.engine_version = version
        self.key = key or secure.encryption_key(self, "Key", description=f"Amazon MQ {engine} broker credentials"
                                                f"{' and storage' if engine == ACTIVEMQ else ''}",
                                                removal_policy=removal_policy)

        self.secret = secretsmanager.Secret(
            self, "Credentials",
            description=f"The {engine} broker user (username, password)",
            encryption_key=self.key,
            generate_secret_string=secretsmanager.SecretStringGenerator(
                secret_string_template=f'{{"username": "{username}"}}',
                generate_string_key="password",
                password_length=32,
                exclude_characters=PASSWORD_EXCLUDED,
            ),
            removal_policy=removal_policy,
        )
        secure.acknowledge(
            self.secret.node.default_child, "AwsSolutions::AwsSolutions-SMG4",
            "Amazon MQ keeps its own copy of the broker user's password (UpdateUser for ActiveMQ, the RabbitMQ "
            "management API); a Secrets Manager rotation alone would lock clients out. Rotate with the runbook "
            "in docs/amazon-mq.md.",
        )

        self.security_group = ec2.SecurityGroup(
            self, "SecurityGroup", vpc=vpc, allow_all_outbound=False,
            description=f"Amazon MQ {engine} broker: TLS ports only",
        )
        for peer in clients or ():
            self.allow_clients(peer)
        # Lambda's event source mapping reaches the broker through network
        # interfaces it creates with the broker's own subnets and security
        # group: admit the group itself on the consumer port, and let it reach
        # Lambda, STS and Secrets Manager endpoints on 443 inside the VPC.
        # https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html (network configuration)
        self.security_group.add_ingress_rule(self.security_group, ec2.Port.tcp(CONSUMER_PORT[engine]),
                                             "Lambda event source mapping (its ENIs use this group)")
        self.security_group.add_egress_rule(self.security_group, ec2.Port.tcp(CONSUMER_PORT[engine]),
                                            "Lambda event source mapping to the broker")
        self.security_group.add_egress_rule(ec2.Peer.ipv4(vpc.vpc_cidr_block), ec2.Port.tcp(443),
                                            "Lambda event source mapping to VPC endpoints (Lambda, STS, Secrets)")

        count = {SINGLE_INSTANCE: 1, ACTIVE_STANDBY_MULTI_AZ: 2, CLUSTER_MULTI_AZ: 3}[mode]
        subnet_ids = selected.subnet_ids[:count]
        # Broker names are physical (the resource requires one) and are the
        # CloudWatch dimension; derive a unique one from the construct path.
        self.broker_name = cdk.Names.unique_resource_name(self, max_length=50, separator="-")
        user = amazonmq.CfnBroker.UserProperty(
            username=self.secret.secret_value_from_json("username").unsafe_unwrap(),
            password=self.secret.secret_value_from_json("password").unsafe_unwrap(),
            console_access=True if engine == ACTIVEMQ else None,
        )
        self.broker = amazonmq.CfnBroker(
            self, "Resource",
            broker_name=self.broker_name,
            engine_type=engine,
            engine_version=version,
            host_instance_type=instance_type,
            deployment_mode=mode,
            publicly_accessible=False,
            auto_minor_version_upgrade=True,
            subnet_ids=subnet_ids,
            security_groups=[self.security_group.security_group_id],
            users=[user],
            logs=amazonmq.CfnBroker.LogListProperty(general=True, audit=True if engine == ACTIVEMQ else None),
            maintenance_window_start_time=amazonmq.CfnBroker.MaintenanceWindowProperty(
                day_of_week=day, time_of_day=time, time_zone=zone),
            encryption_options=amazonmq.CfnBroker.EncryptionOptionsProperty(
                use_aws_owned_key=False, kms_key_id=self.key.key_arn) if engine == ACTIVEMQ else None,
            storage_type="EFS" if engine == ACTIVEMQ else None,
        )
        self.broker.apply_removal_policy(removal_policy)
        if engine == RABBITMQ:
            secure.checkov_skip(
                self.broker, "CKV_AWS_209",
                "RabbitMQ brokers do not take EncryptionOptions: their storage is always encrypted with an AWS "
                "owned key (AWS::AmazonMQ::Broker EncryptionOptions reference).",
            )
            secure.acknowledge(
                self.broker, "AwsSolutions::AwsSolutions-MQ6",
                "Audit logs exist only for ActiveMQ brokers; Amazon MQ for RabbitMQ publishes general logs only "
                "(AWS::AmazonMQ::Broker LogList reference).",
            )
        self.broker_arn = self.broker.attr_arn
        self.broker_id = self.broker.attr_id

        self._logs(log_retention)
        self.alarms = self._alarms(queue_depth_threshold, connection_threshold)
        secure.notify(self.alarms, alarm_topic)
        self.dashboard = self._dashboard() if dashboard else None

    def allow_clients(self, peer: ec2.IPeer) -> None:
        """Admit ``peer`` on the engine's TLS ports (``TLS_PORTS``) and no other."""
        for name, port in TLS_PORTS[self.engine].items():
            self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), f"{name} (TLS) from clients")

    # --- logs -------------------------------------------------------------------

    def _logs(self, retention: logs.RetentionDays) -> None:
        """Amazon MQ names its log groups after the broker ID it assigns
        (``/aws/amazonmq/broker/<id>/general`` and ``.../audit``) and creates
        them itself, so no template can create them first: aws-cdk-lib's
        LogRetention function sets their retention once the broker exists.
        They are encrypted by CloudWatch Logs with its own key, not ours.
        ActiveMQ publishes through a CloudWatch Logs resource policy for
        ``mq.amazonaws.com`` (RabbitMQ through its service-linked role).
        https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/configure-logging-monitoring-activemq.html
        """
        stack = cdk.Stack.of(self)
        names = ["general"] + (["audit"] if self.engine == ACTIVEMQ else [])
        self.log_group_names = {
            name: cdk.Fn.join("", ["/aws/amazonmq/broker/", self.broker_id, f"/{name}"]) for name in names
        }
        for name, log_group_name in self.log_group_names.items():
            logs.LogRetention(self, f"{name.capitalize()}LogRetention", log_group_name=log_group_name,
                              retention=retention)
        secure.tolerate_log_retention(self, service="Amazon MQ", resources="brokers")
        if self.engine == ACTIVEMQ:
            self.logs_policy = logs.ResourcePolicy(
                self, "LogsPolicy",
                policy_statements=[iam.PolicyStatement(
                    principals=[iam.ServicePrincipal("mq.amazonaws.com")],
                    actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                    resources=[stack.format_arn(service="logs", resource="log-group",
                                                resource_name="/aws/amazonmq/*",
                                                arn_format=cdk.ArnFormat.COLON_RESOURCE_NAME)],
                )],
            )
            self.broker.node.add_dependency(self.logs_policy)

    # --- alarms -----------------------------------------------------------------

    def _metric(self, name: str, broker: str, statistic: str = "Maximum") -> cloudwatch.Metric:
        return cloudwatch.Metric(namespace="AWS/AmazonMQ", metric_name=name, dimensions_map={"Broker": broker},
                                 statistic=statistic, period=cdk.Duration.minutes(1))

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, threshold: float, description: str,
               comparison=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD, periods: int = 5,
               missing=cloudwatch.TreatMissingData.MISSING) -> cloudwatch.Alarm:
        return cloudwatch.Alarm(
            self, construct_id, metric=metric, threshold=threshold, evaluation_periods=periods,
            datapoints_to_alarm=periods, comparison_operator=comparison, treat_missing_data=missing,
            alarm_description=description,
        )

    def _alarms(self, depth: int, connections: int) -> list[cloudwatch.Alarm]:
        """Metrics and dimensions: https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/rabbitmq-logging-monitoring.html
        and .../activemq-logging-monitoring.html. RabbitMQ broker metrics carry
        the ``Broker`` dimension (the broker name); for a cluster the memory and
        disk figures are the sum over its three nodes. ActiveMQ names each
        instance ``<name>-1`` (and ``<name>-2`` for the standby)."""
        if self.engine == RABBITMQ:
            name = self.broker_name
            memory = cloudwatch.MathExpression(
                expression="100 * used / limit", label="RabbitMQ memory used (% of the high watermark)",
                using_metrics={"used": self._metric("RabbitMQMemUsed", name),
                               "limit": self._metric("RabbitMQMemLimit", name, "Minimum")},
                period=cdk.Duration.minutes(1),
            )
            disk = cloudwatch.MathExpression(
                expression="free / limit", label="RabbitMQ free disk (multiples of the free-disk limit)",
                using_metrics={"free": self._metric("RabbitMQDiskFree", name, "Minimum"),
                               "limit": self._metric("RabbitMQDiskFreeLimit", name)},
                period=cdk.Duration.minutes(1),
            )
            return [
                self._alarm("MemoryAlarm", memory, 80,
                            "RabbitMQ memory above 80% of its high watermark: at 100% it blocks every publisher"),
                self._alarm("DiskAlarm", disk, 2,
                            "RabbitMQ free disk under twice its limit: at the limit it blocks every publisher",
                            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD),
                self._alarm("BacklogAlarm", self._metric("MessageCount", name), depth,
                            f"More than {depth} messages (ready + unacknowledged) on the broker: consumers lag",
                            periods=15),
                self._alarm("ConnectionsAlarm", self._metric("ConnectionCount", name), connections,
                            f"More than {connections} connections: approaching the instance type's quota"),
            ]
        instances = [f"{self.broker_name}-1"] + ([f"{self.broker_name}-2"] if self.deployment_mode ==
                                                  ACTIVE_STANDBY_MULTI_AZ else [])

        def across(metric: str, label: str) -> cloudwatch.IMetric:
            if len(instances) == 1:
                return self._metric(metric, instances[0])
            # The standby publishes nothing while it waits; MAX takes the active one.
            return cloudwatch.MathExpression(
                expression="MAX([m1, m2])", label=label, period=cdk.Duration.minutes(1),
                using_metrics={f"m{i}": self._metric(metric, n) for i, n in enumerate(instances, 1)},
            )

        return [
            self._alarm("StoreAlarm", across("StorePercentUsage", "ActiveMQ store used (%)"), 80,
                        "ActiveMQ store above 80% of its limit: at 100% the broker refuses messages"),
            self._alarm("HeapAlarm", across("HeapUsage", "ActiveMQ JVM heap used (%)"), 80,
                        "ActiveMQ JVM heap above 80%: producer flow control and long GC pauses follow"),
            self._alarm("BacklogAlarm", across("TotalMessageCount", "ActiveMQ messages stored"), depth,
                        f"More than {depth} messages stored on the broker: consumers lag", periods=15),
            self._alarm("ConnectionsAlarm", across("CurrentConnectionsCount", "ActiveMQ connections"), connections,
                        f"More than {connections} connections: approaching the instance type's quota"),
        ]

    # --- dashboard --------------------------------------------------------------

    def _dashboard(self) -> cloudwatch.Dashboard:
        """Metric names and the ``Broker`` dimension: the same pages as the alarms
        (https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/amazon-mq-accessing-metrics.html)."""
        alarm = {a.node.id: a for a in self.alarms}
        if self.engine == RABBITMQ:
            name = self.broker_name
            rows: list[list[cloudwatch.IWidget]] = [[
                observe.text("## Broker: messages published, on the queues, acknowledged"),
                observe.graph("Published, confirmed to publishers, acknowledged by consumers (messages/s)", [
                    self._metric("PublishRate", name, "Average"),
                    self._metric("ConfirmRate", name, "Average"),
                    self._metric("AckRate", name, "Average"),
                ]),
                observe.graph("Messages on the queues: ready and unacknowledged", [
                    self._metric("MessageCount", name),
                    self._metric("MessageReadyCount", name),
                    self._metric("MessageUnacknowledgedCount", name),
                ], alarms=[alarm["BacklogAlarm"]]),
                observe.graph("Connections", [self._metric("ConnectionCount", name)],
                              alarms=[alarm["ConnectionsAlarm"]]),
            ], [
                observe.text("## Broker resources: memory and disk against the limits that block publishers"),
                observe.graph("Memory used and high watermark (bytes)", [
                    self._metric("RabbitMQMemUsed", name), self._metric("RabbitMQMemLimit", name, "Minimum"),
                ], width=6),
                observe.graph("Memory used (% of the high watermark)", [alarm["MemoryAlarm"].metric],
                              alarms=[alarm["MemoryAlarm"]], width=6),
                observe.graph("Free disk and free-disk limit (bytes)", [
                    self._metric("RabbitMQDiskFree", name, "Minimum"), self._metric("RabbitMQDiskFreeLimit", name),
                ], width=6),
                observe.graph("Free disk (multiples of its limit)", [alarm["DiskAlarm"].metric],
                              alarms=[alarm["DiskAlarm"]], width=6),
            ]]
        else:
            instances = [f"{self.broker_name}-1"] + ([f"{self.broker_name}-2"] if self.deployment_mode ==
                                                      ACTIVE_STANDBY_MULTI_AZ else [])

            def each(metric: str) -> list[cloudwatch.IMetric]:
                return [self._metric(metric, n).with_(label=f"{metric} {n}") for n in instances]

            rows = [[
                observe.text("## Broker: messages stored and connections, per instance (the standby is quiet)"),
                observe.graph("Messages stored", each("TotalMessageCount"), alarms=[alarm["BacklogAlarm"]],
                              width=12),
                observe.graph("Connections", each("CurrentConnectionsCount"), alarms=[alarm["ConnectionsAlarm"]],
                              width=12),
            ], [
                observe.text("## Broker resources: store and JVM heap"),
                observe.graph("Store used (% of its limit)", each("StorePercentUsage"), alarms=[alarm["StoreAlarm"]],
                              width=12),
                observe.graph("JVM heap used (%)", each("HeapUsage"), alarms=[alarm["HeapAlarm"]], width=12),
            ]]
        return observe.pattern_dashboard(self, "Dashboard", title=f"Amazon MQ {self.engine} {self.node.path}",
                                         rows=rows, alarms=self.alarms)


def _selection(subnets: ec2.SubnetSelection | None) -> dict:
    subnets = subnets or ec2.SubnetSelection(subnet_group_name="Private")
    return {k: v for k, v in {
        "subnet_group_name": subnets.subnet_group_name, "subnet_type": subnets.subnet_type,
        "subnets": subnets.subnets, "availability_zones": subnets.availability_zones,
        "one_per_az": subnets.one_per_az,
    }.items() if v is not None}


class BrokerBridge(Construct):
    """Forward every message of one broker queue to an SNS topic.

    A Lambda event source mapping on ``queue`` (Lambda reads with the broker
    user in ``broker.secret``) invokes a function that publishes each message
    to ``topic`` with its message id as the ``mq-message-id`` attribute. When a
    publish fails the function raises and Lambda returns the whole batch to
    the broker (MQ event sources have no partial batch response), which
    redelivers it; subscribers drop duplicates by ``mq-message-id``. Lambda
    offers no on-failure destination for MQ sources: a message that keeps
    failing goes to the broker's own dead-letter exchange or queue
    (``rabbitmq_dead_letter_policy``; ActiveMQ's redelivery policy).

    :param broker: the ``Broker``. Required.
    :param queue: the queue to read. Required.
    :param topic: where each message goes. Required.
    :param virtual_host: RabbitMQ virtual host. Default: ``/``.
    :param batch_size: messages per invocation, 1 to 10,000. Default: 10.
    :param max_batching_window: how long to gather a batch, at most 300 s.
        Default: 1 second.
    :param key: encrypts the function's log group and environment. Default:
        the broker's key.
    :param alarm_topic: notified when the function fails. Default: none.

    The bridge has no dashboard of its own: when ``broker`` has one, the
    bridge adds its row there (invocations, errors, duration against the
    timeout, and its alarm as an alarm widget), so one dashboard follows a
    message from the broker to the topic.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        broker: Broker,
        queue: str,
        topic: sns.ITopic,
        virtual_host: str = "/",
        batch_size: int = 10,
        max_batching_window: cdk.Duration = cdk.Duration.seconds(1),
        key: kms.IKey | None = None,
        alarm_topic: sns.ITopic | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        secure.acknowledge_inline_policies(self)  # grants write each role's own policy
        secure.require(isinstance(queue, str) and 0 < len(queue) <= 1000 and queue.strip() == queue, "queue",
                       queue, "must be a queue name of 1 to 1000 characters without surrounding spaces")
        secure.require(isinstance(virtual_host, str) and 0 < len(virtual_host) <= 200, "virtual_host",
                       virtual_host, "must be 1 to 200 characters")
        secure.require(broker.engine == RABBITMQ or virtual_host == "/", "virtual_host", virtual_host,
                       "applies to RabbitMQ brokers only")
        secure.require(isinstance(batch_size, int) and 1 <= batch_size <= 10_000, "batch_size", batch_size,
                       "must be 1 to 10000")
        window = max_batching_window.to_seconds()
        secure.require(0 <= window <= 300, "max_batching_window", f"{window}s", "must be 0 to 300 seconds")
        self.broker = broker
        key = key or broker.key
        secure.allow_logs_to_use_key(key)

        self.function = secure.python_function(
            self, "Function",
            code=lambda_.Code.from_asset(str(RUNTIME), exclude=["__pycache__", "*.pyc"]),
            handler="handler.handler",
            key=key,
            timeout=cdk.Duration.seconds(60),
            environment={"TOPIC_ARN": topic.topic_arn},
            description=f"Forwards {broker.engine} queue {queue} to SNS (migration bridge)",
        )
        role = self.function.role
        role.add_to_principal_policy(iam.PolicyStatement(
            sid="Forward", actions=["sns:Publish"], resources=[topic.topic_arn]))
        topic_key = getattr(topic, "master_key", None)
        if topic_key is not None:
            # Publishing to an encrypted topic: SNS asks KMS for a data key on the caller's behalf.
            role.add_to_principal_policy(iam.PolicyStatement(
                sid="EncryptForTopic", actions=["kms:GenerateDataKey", "kms:Decrypt"],
                resources=[topic_key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"sns.{cdk.Stack.of(self).region}.amazonaws.com"}},
            ))
        # What Lambda's MQ event source needs from the execution role:
        # https://docs.aws.amazon.com/lambda/latest/dg/with-mq.html#events-mq-permissions
        broker.secret.grant_read(role)
        # Its own policy, so that its acknowledgment covers only these statements.
        self.event_source_policy = iam.Policy(
            self, "EventSourcePolicy", roles=[role],
            statements=[
                iam.PolicyStatement(sid="ReadBroker", actions=["mq:DescribeBroker"], resources=[broker.broker_arn]),
                iam.PolicyStatement(
                    sid="BrokerNetworkInterfaces",
                    actions=["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface",
                             "ec2:DescribeNetworkInterfaces", "ec2:DescribeSecurityGroups", "ec2:DescribeSubnets",
                             "ec2:DescribeVpcs"],
                    resources=["*"],
                ),
            ],
        )
        secure.acknowledge(
            self.event_source_policy.node.default_child, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
            "Lambda's Amazon MQ event source creates and describes network interfaces in the broker's subnets "
            "with this role; those EC2 actions take no resource-level scope. mq:DescribeBroker names the broker.",
        )
        secure.checkov_skip(
            self.event_source_policy.node.default_child, "CKV_AWS_111",
            "Lambda's Amazon MQ event source creates and deletes its network interfaces in the broker's subnets "
            "with this role; the documented permissions list them on '*' (ENI IDs do not exist beforehand).",
        )
        policy = role.node.find_child("DefaultPolicy")
        secure.acknowledge(
            self.function, "Serverless::Serverless-LambdaDLQ",
            "An Amazon MQ event source invokes the function synchronously and returns a failed batch to the "
            "broker; Lambda has no on-failure destination for MQ. The broker's dead-letter policy holds what "
            "keeps failing (docs/amazon-mq.md).",
        )
        secure.checkov_skip(
            self.function.node.default_child, "CKV_AWS_116",
            "An Amazon MQ event source invokes the function synchronously and returns a failed batch to the "
            "broker, whose dead-letter exchange or queue takes messages that keep failing; a Lambda DLQ "
            "would never receive anything.",
        )

        access = [lambda_.CfnEventSourceMapping.SourceAccessConfigurationProperty(
            type="BASIC_AUTH", uri=broker.secret.secret_arn)]
        if broker.engine == RABBITMQ:
            access.append(lambda_.CfnEventSourceMapping.SourceAccessConfigurationProperty(
                type="VIRTUAL_HOST", uri=virtual_host))
        self.event_source = lambda_.CfnEventSourceMapping(
            self, "EventSource",
            function_name=self.function.function_name,
            event_source_arn=broker.broker_arn,
            queues=[queue],
            batch_size=batch_size,
            maximum_batching_window_in_seconds=int(window),
            source_access_configurations=access,
            enabled=True,
        )
        secure.acknowledge(
            self.event_source, "Serverless::Serverless-LambdaEventSourceMappingDestination",
            "Lambda offers no on-failure destination for Amazon MQ event sources: a failed batch goes back to "
            "the broker, whose dead-letter exchange or queue takes messages that keep failing.",
        )
        secure.cfn_lint_ignore(
            self.event_source, "ES1001",
            "Lambda offers no on-failure destination for Amazon MQ event sources (DestinationConfig applies to "
            "stream and Kafka sources); the broker's dead-letter exchange or queue takes what keeps failing.",
        )
        # Lambda checks the role when it creates the mapping.
        self.event_source.node.add_dependency(policy, self.event_source_policy)

        self.alarms = [cloudwatch.Alarm(
            self, "ErrorsAlarm",
            metric=self.function.metric_errors(period=cdk.Duration.minutes(5), statistic="Sum"),
            threshold=0, evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description="The bridge failed to forward a batch; the broker redelivers it",
        )]
        secure.notify(self.alarms, alarm_topic)
        if broker.dashboard is not None:
            broker.dashboard.add_widgets(*self._dashboard_widgets(queue))

    def _dashboard_widgets(self, queue: str) -> list[cloudwatch.IWidget]:
        """The bridge's row on its broker's dashboard (AWS/Lambda, dimension FunctionName:
        https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html)."""
        minute = {"period": cdk.Duration.minutes(1), "statistic": cloudwatch.Stats.SUM}
        timeout = self.function.timeout.to_milliseconds()
        return [
            observe.text(f"## Bridge {self.node.id}: queue {queue} to SNS"),
            observe.graph("Bridge: batches forwarded and failed", [
                self.function.metric_invocations(**minute), self.function.metric_errors(**minute),
                self.function.metric_throttles(**minute),
            ], alarms=self.alarms, width=9),
            observe.graph("Bridge: duration (ms)", [
                self.function.metric_duration(statistic=cloudwatch.Stats.p(99)),
                self.function.metric_duration(statistic=cloudwatch.Stats.AVERAGE),
            ], limits=[(timeout, "timeout")], width=9),
            *observe.alarm_widgets(self.alarms, height=6),
        ]


def rabbitmq_dead_letter_policy(queue: str, *, dead_letter_exchange: str = "bridge.dlx",
                                delivery_limit: int = 6) -> dict:
    """The RabbitMQ policy that gives the bridge's queue a dead letter route:
    after ``delivery_limit`` redeliveries a quorum queue dead-letters the
    message to ``dead_letter_exchange``. Apply it with the management API
    (``PUT /api/policies/<vhost>/<name>``) or ``rabbitmqctl set_policy``; the
    queue must be a quorum queue (``x-queue-type: quorum``) for the limit."""
    secure.require(isinstance(delivery_limit, int) and delivery_limit > 0, "delivery_limit", delivery_limit,
                   "must be a positive integer")
    return {
        "pattern": f"^{re.escape(queue)}$",
        "apply-to": "queues",
        "definition": {"dead-letter-exchange": dead_letter_exchange, "delivery-limit": delivery_limit},
    }
