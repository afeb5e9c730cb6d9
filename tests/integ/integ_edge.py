"""Integration app: edge (docs/edge.md) in a real account.

The edge stacks as app.py builds them with Global Accelerator on (origins in
us-east-1 and eu-west-1, the accelerator's stack in us-west-2, CloudFront and
WAF in us-east-1), in the account of the caller's credentials, and behind each
regional ALB a stand-in application (one small Fargate task from
``probes/edge_target``, built locally with Docker) registered in the
origin's target group, so that targets, the ALBs and the accelerator's
endpoints can be healthy. With a domain (context ``edge_domain``, the apex of a
public hosted zone you own, and ``edge_hosted_zone_id``) the origins also get
their certificates, Route 53 health checks and latency records, and
CloudFront reaches the accelerator by ``api.<domain>`` over HTTPS:

    make integ PATTERNS=edge INTEG_CONTEXT="-c edge_domain=integ.example.com -c edge_hosted_zone_id=Z0123456789ABC"

It writes the apex, ``www``, ``api``, ``origin`` and ``<region>.origin``
records into that zone: use a zone of its own (a delegated subdomain).
Without a domain the Route 53 part is left out (the run says so in the
health probe's answer: no health checks) and everything else runs. Proves:

1. an HTTPS GET through CloudFront returns the origin's answer (an object put
   into the content bucket) with the security headers of the response headers
   policy (HSTS, nosniff, frame options);
2. a request for ``/api/*`` through CloudFront passes the accelerator and the
   ALB's origin check and reaches the application (its answer), while the same
   request straight to the ALB, and straight to the accelerator, is refused
   with 403 (origin protection);
3. Global Accelerator reports the endpoint group of each region HEALTHY, and,
   with a domain, Route 53's health check of each region's origin is healthy;
4. SetAlarmState on an alarm of the distribution stack and of an origin stack
   reaches a probe queue subscribed to that stack's alarm topic.
"""

import os
import re

import aws_cdk as cdk
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import (PROBES, alarm_reaches_topic, alarms_in, bounded, disposable, in_order, integ,
                     invoked_by_assertion, kms_use, new_app)

from refarch import secure
from stacks.edge_stack import CLOUDFRONT_REGION, DEFAULT_REGIONS, PLACEHOLDER_ACCOUNT, EdgeOriginStack, build_edge

app = new_app()
account = os.environ.get("CDK_DEFAULT_ACCOUNT", "")
account = account if re.fullmatch(r"\d{12}", account) else PLACEHOLDER_ACCOUNT  # offline snapshot
domain = app.node.try_get_context("edge_domain") or None
zone_id = app.node.try_get_context("edge_hosted_zone_id") or None
stacks = build_edge(app, "IntegEdge", account=account, accelerator=True, domain=domain, hosted_zone_id=zone_id)
for stack in stacks.values():
    stack.termination_protection = False


def stand_in_application(stack: EdgeOriginStack) -> None:
    """One Fargate task (ARM64, 0.25 vCPU) in the private subnets, registered in the origin's target group."""
    origin = stack.origin
    vpc = origin.load_balancer.vpc
    key = secure.encryption_key(stack, "IntegAppKey", description="integration stand-in application: its logs")
    secure.allow_logs_to_use_key(key)
    log_group = logs.LogGroup(stack, "IntegAppLogs", retention=logs.RetentionDays.ONE_WEEK, encryption_key=key)
    cluster = ecs.Cluster(stack, "IntegAppCluster", vpc=vpc, container_insights_v2=ecs.ContainerInsights.ENABLED)
    task = ecs.FargateTaskDefinition(stack, "IntegAppTask", cpu=256, memory_limit_mib=512,
                                     runtime_platform=ecs.RuntimePlatform(
                                         cpu_architecture=ecs.CpuArchitecture.ARM64,
                                         operating_system_family=ecs.OperatingSystemFamily.LINUX))
    task.add_container("App", image=ecs.ContainerImage.from_asset(
        str(PROBES / "edge_target"), platform=ecr_assets.Platform.LINUX_ARM64),
        memory_limit_mib=512, readonly_root_filesystem=True, port_mappings=[ecs.PortMapping(container_port=8080)],
        logging=ecs.LogDrivers.aws_logs(stream_prefix="app", log_group=log_group))
    task.obtain_execution_role()
    secure.acknowledge_inline_policies(task)
    secure.acknowledge(
        task.execution_role.node.find_child("DefaultPolicy").node.default_child,
        "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
        "integration stand-in: ecr:GetAuthorizationToken has no resource-level permissions; pulls are scoped to "
        "the image's repository and logs to its log group")
    group = ec2.SecurityGroup(stack, "IntegAppSg", vpc=vpc, allow_all_outbound=False,
                              description="integration stand-in application: 8080 from the ALB; 443 to endpoints")
    group.add_ingress_rule(origin.security_group, ec2.Port.tcp(8080), "the ALB and its health checks")
    # HTTPS out: the private subnets route only to the VPC (ECR and Logs endpoints) and the S3 gateway
    # endpoint (image layers), so this reaches nothing else.
    group.add_egress_rule(ec2.Peer.any_ipv4(), ec2.Port.tcp(443), "ECR and Logs endpoints, S3 gateway endpoint")
    service = ecs.FargateService(stack, "IntegApp", cluster=cluster, task_definition=task, desired_count=1,
                                 security_groups=[group], min_healthy_percent=0, max_healthy_percent=100,
                                 circuit_breaker=ecs.DeploymentCircuitBreaker(enable=True, rollback=False),
                                 vpc_subnets=ec2.SubnetSelection(subnet_group_name="Private"))
    origin.target_group.add_target(service)


origins = [stacks[f"IntegEdgeOrigin{''.join(p.capitalize() for p in r.split('-'))}"] for r in DEFAULT_REGIONS]
for origin_stack in origins:
    stand_in_application(origin_stack)
disposable(*stacks.values())
edge_stack = stacks["IntegEdgeStack"]
accelerator = stacks["IntegEdgeAccelerator"].accelerator
edge = edge_stack.edge

# Endpoint health, read by a probe in us-east-1 (Global Accelerator's API is in us-west-2 only).
health = secure.python_function(
    edge_stack, "IntegHealthProbe", code=lambda_.Code.from_asset(str(PROBES / "edge_health")),
    handler="index.handler", key=edge.key, timeout=cdk.Duration.minutes(1),
    environment={"ACCELERATOR_DNS": accelerator.accelerator.dns_name, "HEALTH_CHECKS": ",".join(
        f"{o.region}={o.origin.health_check.health_check_id}" for o in origins if o.origin.health_check)},
    description="integration probe: Global Accelerator endpoint and Route 53 health",
)
health.add_to_role_policy(iam.PolicyStatement(
    actions=["globalaccelerator:ListAccelerators", "globalaccelerator:ListListeners",
             "globalaccelerator:ListEndpointGroups"], resources=["*"]))
secure.acknowledge(health.role, "AwsSolutions::AwsSolutions-IAM5[Resource::*]",
                   "integration-test probe: Global Accelerator's list actions take no resource-level scope "
                   "(ListAccelerators names none); it only reads")
checks = [o.origin.health_check for o in origins if o.origin.health_check]
if checks:
    health.add_to_role_policy(iam.PolicyStatement(actions=["route53:GetHealthCheckStatus"], resources=[
        f"arn:{cdk.Aws.PARTITION}:route53:::healthcheck/{c.health_check_id}" for c in checks]))
invoked_by_assertion(health)

assertions = cdk.Stack(app, "IntegEdgeAssertions", env=cdk.Environment(account=account, region=CLOUDFRONT_REGION))
test = integ(app, "Edge", list(stacks.values()), assertion_stack=assertions)

site = f"https://{edge.distribution.distribution_domain_name}"
put = test.assertions.aws_api_call("S3", "putObject", {
    "Bucket": edge.content_bucket.bucket_name, "Key": "integ/index.html",
    "Body": "refarch integ", "ContentType": "text/html"})
kms_use(put, edge.key.key_arn)
page = test.assertions.http_api_call(f"{site}/integ/index.html")
# The provider returns each header as a list of values (node-fetch's headers.raw()).
page.expect(ExpectedResult.object_like({"status": 200, "body": "refarch integ", "headers": Match.object_like({
    "strict-transport-security": Match.array_with([Match.string_like_regexp("max-age=[1-9]")]),
    "x-content-type-options": ["nosniff"],
    "x-frame-options": ["DENY"]})}))
APP_ANSWER = ExpectedResult.object_like({"status": 200, "body": Match.string_like_regexp("refarch integ origin")})
FORBIDDEN = ExpectedResult.object_like({"status": 403, "body": "Forbidden"})
through = test.assertions.http_api_call(f"{site}/api/integ")
through.expect(APP_ANSWER)
first = origins[0]
direct_url = (f"https://{first.region}.origin.{domain}/api/integ" if domain
              else f"http://{first.origin.load_balancer.load_balancer_dns_name}/api/integ")
direct = test.assertions.http_api_call(direct_url)
direct.expect(FORBIDDEN)
around = test.assertions.http_api_call(
    f"https://api.{domain}/api/integ" if domain else f"http://{accelerator.accelerator.dns_name}/api/integ")
around.expect(FORBIDDEN)
healthy = test.assertions.invoke_function(function_name=health.function_name)
HEALTHY = {region: "HEALTHY" for region in DEFAULT_REGIONS}
healthy.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
    "endpoint_groups": HEALTHY, "health_checks": HEALTHY if domain else {}}))}))
in_order(put, bounded(page, cdk.Duration.minutes(10)), bounded(healthy, cdk.Duration.minutes(10)), bounded(through),
         direct, around,
         alarm_reaches_topic(test, edge_stack, alarms_in(edge_stack)[0]),
         alarm_reaches_topic(test, first, alarms_in(first)[0]))

app.synth()
