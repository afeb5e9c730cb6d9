"""Integration app: Aurora with RDS Proxy (docs/database.md) in a real account.

NetworkStack as app.py builds it, and a small cluster (t4g.medium writer and
one reader, proxy with end-to-end IAM authentication, Parameter Store under
``/refarch/integ/database``, deletion protection off). Proves:

1. a function in the VPC logs in as the application user ``app`` with IAM
   tokens through the proxy (to the writer) and through the reader endpoint
   (to a reader: ``pg_is_in_recovery()``), and runs a query on each;
2. after an immediate rotation of the administrator secret has finished, it
   still does, and the administrator logs in with the rotated password;
3. the Parameter Store hierarchy is readable by a role granted
   ``grant_read_configuration`` and refused to one that is not;
4. SetAlarmState on a database alarm reaches a probe queue subscribed to the
   alarm topic.

The probe bundles pg8000 and the RDS CA bundle at deploy time (pip and one
HTTPS download on the deploying machine); the offline snapshot skips bundling.
"""

import subprocess
import sys
import urllib.request
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_rds as rds
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import (PROBES, alarm_reaches_topic, bounded, disposable, in_order, in_vpc, integ, invoked_by_assertion,
                     new_app)

from refarch import secure
from refarch.database import AuroraCluster
from stacks.network_stack import NetworkStack

PG8000 = "pg8000==1.31.6"
RDS_CA_BUNDLE = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


@jsii.implements(cdk.ILocalBundling)
class _PipBundling:
    """The probe, pg8000 (pure Python) and the RDS CA bundle, without Docker."""

    def try_bundle(self, output_dir: str, *_args, **_kwargs) -> bool:
        out = Path(output_dir)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                        "--target", str(out), PG8000], check=True)
        (out / "index.py").write_text((PROBES / "database" / "index.py").read_text())
        with urllib.request.urlopen(RDS_CA_BUNDLE, timeout=30) as resp:  # noqa: S310 (AWS's published bundle)
            (out / "global-bundle.pem").write_bytes(resp.read())
        return True


app = new_app()
network_stack = NetworkStack(app, "IntegNetwork", description="refarch integ: network")
network = network_stack.network
stack = cdk.Stack(app, "IntegDatabase", description="refarch integ: database")
alarms = secure.AlarmTopic(stack, "Alarms")
db = AuroraCluster(
    stack, "Database", vpc=network.vpc, subnets=network.data_subnets,
    instance_type=ec2.InstanceType("t4g.medium"), readers=1, proxy=True,
    parameter_path="/refarch/integ/database", alarm_topic=alarms.topic,
    deletion_protection=False, removal_policy=cdk.RemovalPolicy.DESTROY,
)
why = "integration-test cluster, deleted when the run ends: deletion protection would keep it running"
secure.acknowledge(db.cluster.node.default_child, "AwsSolutions::AwsSolutions-RDS10", why)
secure.acknowledge_strict(db.cluster.node.default_child, "RDSInstanceDeletionProtectionEnabled", why)
for instance in db.cluster.node.find_all():
    if isinstance(instance, rds.CfnDBInstance):
        secure.acknowledge_strict(instance, "RDSInBackupPlan",
                                  "integration-test cluster, deleted when the run ends: nothing to back up")
code = lambda_.Code.from_asset(str(PROBES / "database"), bundling=cdk.BundlingOptions(
    image=lambda_.Runtime.PYTHON_3_13.bundling_image, local=_PipBundling()))

# The probe in the VPC (workload tier; Secrets Manager through the network's endpoint).
probe = secure.python_function(stack, "IntegConnectProbe", code=code, handler="index.handler", key=db.key,
                               timeout=cdk.Duration.minutes(2), description="integration probe: connects as app",
                               environment={"SECRET_ARN": db.secret.secret_arn, "DATABASE_NAME": "app",
                                            "PROXY_HOST": db.proxy.endpoint, "PROXY_PORT": str(db.proxy_port),
                                            "READER_HOST": db.reader_endpoint.hostname})
probe_sg = in_vpc(stack, probe, network.vpc, network.workload_subnets.subnet_group_name)
db.allow_from(probe_sg)
db.grant_connect(probe, "app")
db.grant_read_configuration(probe)  # the administrator secret, to create the app user
invoked_by_assertion(probe)

granted = secure.python_function(stack, "IntegConfigGranted", code=code, handler="index.config", key=db.key,
                                 environment={"PARAMETER_PATH": "/refarch/integ/database"},
                                 description="integration probe: granted grant_read_configuration")
db.grant_read_configuration(granted)
refused = secure.python_function(stack, "IntegConfigRefused", code=code, handler="index.config", key=db.key,
                                 environment={"PARAMETER_PATH": "/refarch/integ/database"},
                                 description="integration probe: not granted")
for fn in (granted, refused):
    invoked_by_assertion(fn)
disposable(network_stack, stack)
test = integ(app, "Database", [network_stack, stack])

CONNECTS = ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
    "admin_ok": True, "proxy_user": "app", "proxy_in_recovery": False,
    "reader_user": "app", "reader_in_recovery": True}))})
before = test.assertions.invoke_function(function_name=probe.function_name, payload='{"when": "before"}')
before.expect(CONNECTS)
rotate = test.assertions.aws_api_call("SecretsManager", "rotateSecret",
                                      {"SecretId": db.secret.secret_arn, "RotateImmediately": True})
rotated = test.assertions.aws_api_call("SecretsManager", "listSecretVersionIds", {"SecretId": db.secret.secret_arn})
rotated.expect(ExpectedResult.object_like({"Versions": Match.array_with([Match.object_like({
    "VersionId": rotate.get_att_string("VersionId"), "VersionStages": Match.array_with(["AWSCURRENT"])})])}))
after = test.assertions.invoke_function(function_name=probe.function_name, payload='{"when": "after rotation"}')
after.expect(CONNECTS)
readable = test.assertions.invoke_function(function_name=granted.function_name)
readable.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({"readable": True}))}))
not_readable = test.assertions.invoke_function(function_name=refused.function_name)
not_readable.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
    "readable": False, "error": "AccessDeniedException"}))}))
in_order(readable, not_readable, before, rotate, bounded(rotated, cdk.Duration.minutes(5)), after,
         alarm_reaches_topic(test, stack, db.alarms[0], alarms.topic))

app.synth()
