"""Every bad AuroraCluster / RdsWithReadReplicas input fails at synth time, naming the prop and the value."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_rds as rds

from refarch import secure
from refarch.database import AuroraCluster, BackupPlanOptions, ReaderMetric, ReaderScaling, RdsWithReadReplicas
from tests.conftest import new_app

D = cdk.Duration


def _vpc(max_azs: int = 2) -> tuple[cdk.Stack, ec2.Vpc]:
    stack = cdk.Stack(new_app(), "S")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=max_azs, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    return stack, vpc


AURORA = {
    "too many readers": (dict(readers=16), "readers must be 1 to 15 (Aurora's limit) (got 16)"),
    "no readers": (dict(readers=0), "readers must be 1 to 15 (Aurora's limit) (got 0)"),
    "scaling above 15": (dict(reader_scaling=ReaderScaling(max_replicas=16)),
                         "reader_scaling.max_replicas must be 1 to 15 (Aurora's limit) (got 16)"),
    "scaling min above max": (dict(readers=1, reader_scaling=ReaderScaling(min_replicas=5, max_replicas=3)),
                              "reader_scaling.min_replicas must not exceed reader_scaling.max_replicas (3) (got 5)"),
    "scaling min below readers": (dict(readers=3, reader_scaling=ReaderScaling(min_replicas=2, max_replicas=5)),
                                  "reader_scaling.min_replicas must be at least readers (3): auto scaling never "
                                  "removes the readers the construct creates (got 2)"),
    "scaling max below readers": (dict(readers=4, reader_scaling=ReaderScaling(max_replicas=3)),
                                  "reader_scaling.min_replicas must not exceed reader_scaling.max_replicas (3) "
                                  "(got 4)"),
    "scaling metric not a ReaderMetric": (
        dict(reader_scaling=ReaderScaling(max_replicas=3, metric="RDSReaderAverageCPUUtilization")),
        "reader_scaling.metric must be ReaderMetric.CPU or ReaderMetric.CONNECTIONS "
        "(got 'RDSReaderAverageCPUUtilization')"),
    "scaling target not a number": (dict(reader_scaling=ReaderScaling(max_replicas=3, target="60")),
                                    "reader_scaling.target must be a number (got '60')"),
    "scaling max a bool": (dict(reader_scaling=ReaderScaling(max_replicas=True)),
                           "reader_scaling.max_replicas must be 1 to 15 (Aurora's limit) (got True)"),
    "cpu target too high": (dict(reader_scaling=ReaderScaling(max_replicas=3, target=95)),
                            "reader_scaling.target must be 10 to 90 percent CPU (got 95)"),
    "connections target zero": (dict(reader_scaling=ReaderScaling(max_replicas=3, metric=ReaderMetric.CONNECTIONS,
                                                                  target=0)),
                                "reader_scaling.target must be at least 1 connection per reader (got 0)"),
    "cooldown too long": (dict(reader_scaling=ReaderScaling(max_replicas=3, scale_in_cooldown=D.hours(2))),
                          "reader_scaling.scale_in_cooldown must be 0 s to 1 hour (got '7200 s')"),
    "backup under a day": (dict(backup_retention=D.hours(12)),
                           "backup_retention must be at least 1 day (RDS's minimum) (got '0.5 days')"),
    "backup under the 7-day floor": (dict(backup_retention=D.days(3)),
                                     "backup_retention must be whole days from 7 (refarch's floor: a week of "
                                     "point-in-time recovery) to 35 (got '3 days')"),
    "backup over 35 days": (dict(backup_retention=D.days(36)), "(got '36 days')"),
    "default port": (dict(port=5432), "port must not be the engine's default 5432: scanners try it first (got 5432)"),
    "port out of range": (dict(port=80), "port must be 1150 to 65535 (the range RDS accepts) (got 80)"),
    "port too high": (dict(port=70000), "(got 70000)"),
    "mysql default port": (dict(port=3306, engine=rds.DatabaseClusterEngine.aurora_mysql(
        version=rds.AuroraMysqlEngineVersion.VER_3_10_3)), "port must not be the engine's default 3306"),
    "bad database name": (dict(database_name="1app"), "database_name must start with a letter"),
    "reserved username": (dict(master_username="postgres"), "master_username must start with a letter, hold up to "
                          "16 letters, digits or underscores, and not be a reserved name (got 'postgres')"),
    "rotation too long": (dict(rotation=D.days(400)), "rotation must be whole days from 1 to 365 (got '400 days')"),
    "monitoring interval": (dict(monitoring_interval=D.seconds(20)),
                            "monitoring_interval must be one of 1, 5, 10, 15, 30, 60 s (got '20 s')"),
    "cpu alarm": (dict(cpu_alarm_percent=100), "cpu_alarm_percent must be 1 to 99 (got 100)"),
    "replica lag alarm": (dict(replica_lag_alarm=D.millis(5)), "replica_lag_alarm must be at least 10 ms (got '5 ms')"),
    "serverless below 0.5": (dict(serverless_readers=True, serverless_capacity=(0.25, 4)),
                             "serverless_capacity[0] must be 0.5 to 256 ACU in steps of 0.5 (got 0.25)"),
    "serverless odd step": (dict(serverless_readers=True, serverless_capacity=(1, 4.3)),
                            "serverless_capacity[1] must be 0.5 to 256 ACU in steps of 0.5 (got 4.3)"),
    "serverless capacity without serverless readers": (
        dict(serverless_capacity=(1, 32)),
        "serverless_capacity applies only with serverless_readers=True (provisioned readers have no ACU range) "
        "(got (1, 32))"),
    "serverless min above max": (dict(serverless_readers=True, serverless_capacity=(8, 4)),
                                 "serverless_capacity must be (min, max) with min <= max (got (8, 4))"),
    "parameter path trailing slash": (dict(parameter_path="/refarch/dev/database/"),
                                      "parameter_path must be a Parameter Store path such as /refarch/dev/database"),
    "parameter path under aws": (dict(parameter_path="/aws/db"), "(got '/aws/db')"),
    "unknown instance class": (dict(instance_type=ec2.InstanceType("c7g.large")),
                               "instance_type must be an r, m or x class of size large or larger, or a t class "
                               "(its memory sets the alarm "
                               "thresholds) "
                               "(got 'c7g.large')"),
}


@pytest.mark.parametrize("case", AURORA)
def test_aurora_validation(case: str) -> None:
    kwargs, message = AURORA[case]
    stack, vpc = _vpc()
    with pytest.raises(ValueError) as err:
        AuroraCluster(stack, "Db", vpc=vpc, **kwargs)
    assert message in str(err.value)
    assert not stack.node.try_find_child("Db") or not stack.node.find_child("Db").node.children, \
        "validation must fail before anything is created"


def test_aurora_needs_two_availability_zones() -> None:
    stack, vpc = _one_az_vpc()
    with pytest.raises(ValueError, match=r"subnets must span at least two availability zones, or a zone failure "
                                         r"takes the database down \(got '1 availability zone\(s\)'\)"):
        AuroraCluster(stack, "Db", vpc=vpc)


def _one_az_vpc() -> tuple[cdk.Stack, ec2.Vpc]:
    stack, vpc = _vpc()
    one = ec2.Vpc.from_vpc_attributes(stack, "OneAz", vpc_id="vpc-1", availability_zones=["eu-west-1a"],
                                      isolated_subnet_ids=["subnet-1"])
    return stack, one


def test_rds_needs_two_availability_zones() -> None:
    stack, vpc = _one_az_vpc()
    with pytest.raises(ValueError, match="subnets must span at least two availability zones"):
        RdsWithReadReplicas(stack, "Db", vpc=vpc)


RDS = {
    "too many replicas": (dict(read_replicas=16), "read_replicas must be 1 to 15 (RDS's limit) (got 16)"),
    "no replicas": (dict(read_replicas=0), "(got 0)"),
    "storage cannot grow": (dict(allocated_storage=100, max_allocated_storage=100),
                            "max_allocated_storage must be above allocated_storage (100 GiB) and at most 65536 GiB, "
                            "or storage cannot grow (got 100)"),
    "storage too small": (dict(allocated_storage=10), "allocated_storage must be 20 to 65536 GiB (got 10)"),
    "backup under a day": (dict(backup_retention=D.hours(1)), "backup_retention must be at least 1 day"),
    "backup under the floor": (dict(backup_retention=D.days(6)), "from 7 (refarch's floor"),
    "default port": (dict(port=5432), "port must not be the engine's default 5432"),
    "unsupported engine": (dict(engine=rds.DatabaseInstanceEngine.oracle_se2(version=rds.OracleEngineVersion.VER_19)),
                           "engine must be a PostgreSQL or MySQL engine (got None)"),
    "replica lag": (dict(replica_lag_alarm=D.millis(500)),
                    "replica_lag_alarm must be at least 1 s (ReplicaLag is in seconds) (got '0.5 s')"),
}


@pytest.mark.parametrize("case", RDS)
def test_rds_validation(case: str) -> None:
    kwargs, message = RDS[case]
    stack, vpc = _vpc()
    with pytest.raises(ValueError) as err:
        RdsWithReadReplicas(stack, "Db", vpc=vpc, **kwargs)
    assert message in str(err.value)


def test_grant_connect_rejects_a_bad_user() -> None:
    stack, vpc = _vpc()
    db = AuroraCluster(stack, "Db", vpc=vpc)
    role = iam.Role(stack, "App", assumed_by=iam.ServicePrincipal("ecs-tasks.amazonaws.com"))
    with pytest.raises(ValueError, match="db_user must be a database user name \\(got 'app user'\\)"):
        db.grant_connect(role, "app user")


@pytest.mark.parametrize(("options", "message"), [
    (dict(daily_retention=cdk.Duration.hours(12)), "backup_plan.daily_retention must be whole days, at least 1 (got '0.5 days')"),
    (dict(monthly_retention=cdk.Duration.days(7)),
     "backup_plan.monthly_retention must be whole days, at least daily_retention (35 days) (got '7 days')"),
])
def test_backup_plan_retention(options: dict, message: str) -> None:
    stack = cdk.Stack(new_app(), "Bad")
    network = secure.Network(stack, "Net")
    with pytest.raises(ValueError, match=re.escape(message)):
        AuroraCluster(stack, "Db", vpc=network.vpc, backup_plan=BackupPlanOptions(**options))
