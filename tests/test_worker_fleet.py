"""Fine-grained assertions: every QueueWorkerFleet default, on the synthesized templates."""

from __future__ import annotations

import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sqs as sqs
from aws_cdk.assertions import Match, Template

from refarch import sizing
from refarch.worker_fleet import (
    SCALE_IN_PROTECTION_MINUTES,
    WORKER_RUNTIME,
    LambdaWorkers,
    QueueWorkerFleet,
    _private_subnets,
)
from tests.conftest import Assembly, new_app

STACK = "WorkerFleetStack"
TLS_ONLY = {"Effect": "Deny", "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
SQS_CONSUME = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
               "sqs:ReceiveMessage"]


def _arn(assembly: Assembly, stack: str, path: str) -> dict:
    return {"Fn::GetAtt": [assembly.resource_id(stack, path), "Arn"]}


def _container(assembly: Assembly, stack: str, fleet: str) -> dict:
    [container] = assembly.properties(stack, f"{fleet}/TaskDefinition/Resource")["ContainerDefinitions"]
    return container


def _env(container: dict) -> dict:
    return {e["Name"]: e["Value"] for e in container["Environment"]}


def _task_protection(assembly: Assembly, stack: str, fleet: str) -> dict:
    """The statement letting the fleet's tasks set their own scale-in protection, and nothing else."""
    cluster = assembly.resource_id(stack, f"{fleet}/Cluster/Resource")
    return {
        "Action": ["ecs:GetTaskProtection", "ecs:UpdateTaskProtection"],
        "Effect": "Allow",
        "Resource": {"Fn::Join": ["", [
            "arn:", {"Ref": "AWS::Partition"}, ":ecs:", {"Ref": "AWS::Region"}, ":", {"Ref": "AWS::AccountId"},
            ":task/", {"Ref": cluster}, "/*"]]},
    }


@pytest.fixture(scope="module")
def example(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template(STACK))


# --- what is created ---------------------------------------------------------------


def test_example_creates_queue_fleet_scaling_and_alarms(example: Template) -> None:
    example.resource_count_is("AWS::SQS::Queue", 2)  # queue + dead-letter queue
    example.resource_count_is("AWS::ECS::Cluster", 1)
    example.resource_count_is("AWS::ECS::Service", 1)
    example.resource_count_is("AWS::ECS::TaskDefinition", 1)
    example.resource_count_is("AWS::ApplicationAutoScaling::ScalableTarget", 1)
    # target tracking and the step scale-in; no wake-up step at min 1
    example.resource_count_is("AWS::ApplicationAutoScaling::ScalingPolicy", 2)
    example.resource_count_is("AWS::CloudWatch::Alarm", 4)  # DLQ, oldest message, at max, scale-in
    example.resource_count_is("AWS::EC2::NatGateway", 0)  # endpoints instead


def test_example_vpc_reaches_aws_through_endpoints(example: Template) -> None:
    services = [e["Properties"]["ServiceName"] for e in example.find_resources("AWS::EC2::VPCEndpoint").values()]
    text = str(services)
    for service in (".sqs", ".ecr.api", ".ecr.dkr", ".logs", ".kms", ".s3"):
        assert service in text, service
    # Scale-in protection: the ECS agent calls UpdateTaskProtection, and this VPC has no NAT.
    assert any(_endpoint_service(s) == "ecs" for s in services), services


def _endpoint_service(name) -> str:
    """'ecs' from 'com.amazonaws.<region>.ecs', as a string or the Fn::Join CDK writes."""
    text = name if isinstance(name, str) else "".join(p if isinstance(p, str) else "" for p in name["Fn::Join"][1])
    return text.rsplit(".", 1)[-1]


def test_key_rotated_retained_and_open_to_cloudwatch_logs(assembly: Assembly) -> None:
    key = assembly.resource(STACK, "Thumbnails/Key/Resource")
    assert key["Properties"]["EnableKeyRotation"] is True and key["Properties"]["PendingWindowInDays"] == 30
    assert key["DeletionPolicy"] == key["UpdateReplacePolicy"] == "Retain"
    sids = [s.get("Sid") for s in key["Properties"]["KeyPolicy"]["Statement"]]
    assert "AllowCloudWatchLogsToUseKey" in sids


def test_queue_defaults(assembly: Assembly) -> None:
    queue = assembly.resource(STACK, "Thumbnails/Queue/Resource")
    assert queue["Properties"] == {
        "KmsMasterKeyId": _arn(assembly, STACK, "Thumbnails/Key/Resource"),
        "MessageRetentionPeriod": 4 * 24 * 3600,
        "ReceiveMessageWaitTimeSeconds": 20,
        "RedrivePolicy": {"deadLetterTargetArn": _arn(assembly, STACK, "Thumbnails/DeadLetterQueue/Resource"),
                          "maxReceiveCount": 5},
        "VisibilityTimeout": 60,  # the worker's, which it asks for on every receive and extends
    }
    assert queue["DeletionPolicy"] == queue["UpdateReplacePolicy"] == "Retain"
    dlq = assembly.resource(STACK, "Thumbnails/DeadLetterQueue/Resource")
    assert dlq["Properties"] == {"KmsMasterKeyId": _arn(assembly, STACK, "Thumbnails/Key/Resource"),
                                 "MessageRetentionPeriod": 14 * 24 * 3600}
    assert dlq["DeletionPolicy"] == "Retain"


def test_both_queues_are_tls_only(assembly: Assembly) -> None:
    for queue in ("Queue", "DeadLetterQueue"):
        policy = assembly.properties(STACK, f"Thumbnails/{queue}/Policy/Resource")
        assert policy["Queues"] == [{"Ref": assembly.resource_id(STACK, f"Thumbnails/{queue}/Resource")}]
        assert any(s["Effect"] == TLS_ONLY["Effect"] and s.get("Condition") == TLS_ONLY["Condition"]
                   for s in policy["PolicyDocument"]["Statement"])


def test_log_group_encrypted_with_retention_and_retained(assembly: Assembly) -> None:
    logs = assembly.resource(STACK, "Thumbnails/Logs/Resource")
    assert logs["Properties"] == {"KmsKeyId": _arn(assembly, STACK, "Thumbnails/Key/Resource"), "RetentionInDays": 365}
    assert logs["DeletionPolicy"] == "Retain"


# --- Fargate -------------------------------------------------------------------------


def test_cluster_has_container_insights(assembly: Assembly) -> None:
    cluster = assembly.properties(STACK, "Thumbnails/Cluster/Resource")
    assert cluster == {"ClusterSettings": [{"Name": "containerInsights", "Value": "enabled"}]}  # no ECS Exec config


def test_task_definition_defaults(assembly: Assembly) -> None:
    task = assembly.properties(STACK, "Thumbnails/TaskDefinition/Resource")
    assert (task["Cpu"], task["Memory"], task["NetworkMode"]) == ("256", "512", "awsvpc")
    assert task["RequiresCompatibilities"] == ["FARGATE"]
    assert task["RuntimePlatform"] == {"CpuArchitecture": "ARM64", "OperatingSystemFamily": "LINUX"}
    assert task["TaskRoleArn"] != task["ExecutionRoleArn"]


def test_container_runs_the_shipped_worker_read_only_with_matching_stop_timeout(assembly: Assembly) -> None:
    container = _container(assembly, STACK, "Thumbnails")
    # The image is the asset built from refarch/runtime/worker, pushed to the bootstrap repository.
    assert "container-assets" in container["Image"]["Fn::Sub"]
    assert container["ReadonlyRootFilesystem"] is True
    assert container["LinuxParameters"]["InitProcessEnabled"] is True
    assert container["StopTimeout"] == 30
    assert _env(container) == {
        "WORKER_QUEUE_URL": {"Ref": assembly.resource_id(STACK, "Thumbnails/Queue/Resource")},
        "WORKER_HANDLER": "handlers:log_message",
        "WORKER_BATCH_SIZE": "10",
        "WORKER_WAIT_TIME_SECONDS": "20",
        "WORKER_VISIBILITY_TIMEOUT_SECONDS": "60",
        # The worker's graceful-shutdown budget fits inside ECS's stop timeout.
        "WORKER_SHUTDOWN_GRACE_SECONDS": str(sizing.worker_shutdown_grace(30)),
        # Scale-in protection while a batch is held, renewed every 5 minutes.
        "WORKER_SCALE_IN_PROTECTION_MINUTES": "10",
    }
    assert SCALE_IN_PROTECTION_MINUTES == 10
    assert _env(container)["WORKER_SHUTDOWN_GRACE_SECONDS"] == "25"


def test_read_only_root_with_a_writable_scratch_tmp(assembly: Assembly) -> None:
    task = assembly.properties(STACK, "Thumbnails/TaskDefinition/Resource")
    assert task["Volumes"] == [{"Name": "Scratch"}]  # no host path: the task's ephemeral storage
    container = _container(assembly, STACK, "Thumbnails")
    assert container["ReadonlyRootFilesystem"] is True
    assert container["MountPoints"] == [{"ContainerPath": "/tmp", "ReadOnly": False, "SourceVolume": "Scratch"}]


def test_dockerfile_pins_its_base_runs_as_non_root_and_declares_tmp() -> None:
    dockerfile = (WORKER_RUNTIME / "Dockerfile").read_text()
    [base] = re.findall(r"^FROM (\S+)$", dockerfile, flags=re.M)
    # An exact Python patch release and Debian release, not a moving tag such as 3.13-slim.
    assert re.fullmatch(r"public\.ecr\.aws/docker/library/python:3\.\d+\.\d+-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base)
    assert re.findall(r"^USER (\S+)$", dockerfile, flags=re.M) == ["65534:65534"]
    # Fargate copies a declared VOLUME's mode into the mount, so the non-root user can write /tmp.
    assert 'VOLUME ["/tmp"]' in dockerfile
    assert dockerfile.rstrip().splitlines()[-1] == 'CMD ["python", "worker.py"]'  # exec form: python gets SIGTERM


def test_container_logs_to_the_encrypted_group_without_blocking(assembly: Assembly) -> None:
    options = _container(assembly, STACK, "Thumbnails")["LogConfiguration"]
    assert options["LogDriver"] == "awslogs"
    assert options["Options"] == {
        "awslogs-group": {"Ref": assembly.resource_id(STACK, "Thumbnails/Logs/Resource")},
        "awslogs-stream-prefix": "worker",
        "awslogs-region": {"Ref": "AWS::Region"},
        "mode": "non-blocking",
        "max-buffer-size": "26214400b",
    }


def test_task_role_consumes_this_queue_only(assembly: Assembly) -> None:
    role = assembly.properties(STACK, "Thumbnails/TaskDefinition/TaskRole/Resource")
    assert "ManagedPolicyArns" not in role and "Policies" not in role
    statements = assembly.properties(STACK, "Thumbnails/TaskDefinition/TaskRole/DefaultPolicy/Resource")[
        "PolicyDocument"]["Statement"]
    assert statements == [
        {"Action": SQS_CONSUME, "Effect": "Allow", "Resource": _arn(assembly, STACK, "Thumbnails/Queue/Resource")},
        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": _arn(assembly, STACK, "Thumbnails/Key/Resource")},
        # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html
        _task_protection(assembly, STACK, "Thumbnails"),
    ]


def test_execution_role_pulls_the_image_and_writes_the_log_group(assembly: Assembly) -> None:
    role = assembly.properties(STACK, "Thumbnails/TaskDefinition/ExecutionRole/Resource")
    assert "ManagedPolicyArns" not in role
    policy = assembly.resource(STACK, "Thumbnails/TaskDefinition/ExecutionRole/DefaultPolicy/Resource")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [s["Resource"] for s in statements if s["Resource"] == "*"] == ["*"]
    assert next(s for s in statements if s["Resource"] == "*")["Action"] == "ecr:GetAuthorizationToken"
    logs = next(s for s in statements if "logs:PutLogEvents" in s["Action"])
    assert logs["Resource"] == _arn(assembly, STACK, "Thumbnails/Logs/Resource")
    rules = [r["id"] for r in policy["Metadata"]["cdk_nag"]["rules_to_suppress"] if r["id"].startswith("AwsSolutions")]
    assert rules == ["AwsSolutions::AwsSolutions-IAM5[Resource::*]"]


def test_service_defaults(assembly: Assembly) -> None:
    service = assembly.properties(STACK, "Thumbnails/Service/Service")
    assert service["DeploymentConfiguration"] == {
        "DeploymentCircuitBreaker": {"Enable": True, "Rollback": True},
        "MaximumPercent": 200,
        "MinimumHealthyPercent": 100,
    }
    assert service["LaunchType"] == "FARGATE" and service["PlatformVersion"] == "LATEST"
    assert service["EnableExecuteCommand"] is False
    assert service["EnableECSManagedTags"] is True and service["PropagateTags"] == "SERVICE"
    network = service["NetworkConfiguration"]["AwsvpcConfiguration"]
    assert network["AssignPublicIp"] == "DISABLED"
    assert network["SecurityGroups"] == [{"Fn::GetAtt": [assembly.resource_id(STACK, "Thumbnails/SecurityGroup/Resource"),
                                                         "GroupId"]}]
    # The Private tier of secure.Network, not the Isolated (data) tier.
    assert network["Subnets"] == [{"Ref": assembly.resource_id(STACK, f"Network/Vpc/PrivateSubnet{i}/Subnet")} for i in (1, 2)]


def test_security_group_admits_nothing_and_sends_only_https(assembly: Assembly) -> None:
    sg = assembly.properties(STACK, "Thumbnails/SecurityGroup/Resource")
    assert "SecurityGroupIngress" not in sg
    assert sg["SecurityGroupEgress"] == [{"CidrIp": "0.0.0.0/0", "Description": "HTTPS to AWS APIs and S3",
                                          "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}]


# --- scaling ---------------------------------------------------------------------------


def test_scalable_target_spans_min_to_max_workers(assembly: Assembly) -> None:
    target = assembly.properties(STACK, "Thumbnails/ScalableTarget/Resource")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (1, 20)
    assert (target["ServiceNamespace"], target["ScalableDimension"]) == ("ecs", "ecs:service:DesiredCount")
    assert target["ResourceId"] == {"Fn::Join": ["", [
        "service/", {"Ref": assembly.resource_id(STACK, "Thumbnails/Cluster/Resource")},
        "/", {"Fn::GetAtt": [assembly.resource_id(STACK, "Thumbnails/Service/Service"), "Name"]}]]}
    assert "AWSServiceRoleForApplicationAutoScaling_ECSService" in str(target["RoleARN"])


def _backlog_metrics(assembly: Assembly, stack: str, fleet: str, queue_path: str, expression: str) -> list[dict]:
    queue_name = {"Fn::GetAtt": [assembly.resource_id(stack, queue_path), "QueueName"]}
    return [
        {"Id": "m1", "Label": "Messages waiting", "ReturnData": False, "MetricStat": {"Stat": "Sum", "Metric": {
            "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [assembly.resource_id(stack, queue_path),
                                                                          "QueueName"]}}]}}},
        {"Id": "m2", "Label": "Running workers", "ReturnData": False, "MetricStat": {"Stat": "Average", "Metric": {
            "Namespace": "ECS/ContainerInsights", "MetricName": "RunningTaskCount",
            "Dimensions": [
                {"Name": "ClusterName", "Value": {"Ref": assembly.resource_id(stack, f"{fleet}/Cluster/Resource")}},
                {"Name": "ServiceName", "Value": {"Fn::GetAtt": [assembly.resource_id(stack, f"{fleet}/Service/Service"),
                                                                 "Name"]}},
            ]}}},
        {"Id": "m3", "Label": "Messages sent per minute", "ReturnData": False, "MetricStat": {"Stat": "Sum", "Metric": {
            "Namespace": "AWS/SQS", "MetricName": "NumberOfMessagesSent",
            "Dimensions": [{"Name": "QueueName", "Value": queue_name}]}}},
        {"Id": "e1", "Label": "Backlog per worker, with one budget of arrivals", "Expression": expression,
         "ReturnData": True},
    ]


def test_target_tracking_on_backlog_per_worker(assembly: Assembly) -> None:
    policy = assembly.properties(STACK, "Thumbnails/BacklogPerWorkerScaling")
    assert policy["PolicyType"] == "TargetTrackingScaling"
    assert policy["ScalingTargetId"] == {"Ref": assembly.resource_id(STACK, "Thumbnails/ScalableTarget/Resource")}
    config = policy["TargetTrackingScalingPolicyConfiguration"]
    # 5 minutes of acceptable latency / 2 s per message = 150 messages per worker.
    assert config["TargetValue"] == sizing.backlog_per_worker(300, 2) == 150
    # Scale out again only once the last scale-out shows in RunningTaskCount (issue 16's simulator).
    assert (config["ScaleOutCooldown"], config["ScaleInCooldown"]) == (180, 300)
    # Waiting messages plus one budget (5 minutes) of arrivals, per running worker.
    assert config["CustomizedMetricSpecification"] == {
        "Metrics": _backlog_metrics(assembly, STACK, "Thumbnails", "Thumbnails/Queue/Resource", "(m1 + m3 * 5) / m2")}


def test_step_scale_in_after_five_minutes_below_ninety_percent(assembly: Assembly) -> None:
    """Beside target tracking (which waits 15 datapoints): never more than the proportional step."""
    policy = assembly.properties(STACK, "Thumbnails/ScaleIn/Resource")
    assert policy["PolicyType"] == "StepScaling"
    assert policy["ScalingTargetId"] == {"Ref": assembly.resource_id(STACK, "Thumbnails/ScalableTarget/Resource")}
    # Bounds relative to the threshold 0.9 x 150 = 135: below 37.5 (a quarter) -75 %, below 75 -50 %, ...
    assert policy["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "PercentChangeInCapacity", "Cooldown": 300, "MetricAggregationType": "Average",
        "MinAdjustmentMagnitude": 1, "StepAdjustments": [
            {"MetricIntervalUpperBound": -97.5, "ScalingAdjustment": -75},
            {"MetricIntervalLowerBound": -97.5, "MetricIntervalUpperBound": -60, "ScalingAdjustment": -50},
            {"MetricIntervalLowerBound": -60, "MetricIntervalUpperBound": -22.5, "ScalingAdjustment": -25},
            {"MetricIntervalLowerBound": -22.5, "MetricIntervalUpperBound": 0, "ScalingAdjustment": -10}]}
    alarm = assembly.properties(STACK, "Thumbnails/ScaleInAlarm/Resource")
    assert alarm["AlarmActions"] == [{"Ref": assembly.resource_id(STACK, "Thumbnails/ScaleIn/Resource")}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (135, "LessThanThreshold")
    assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"], alarm["TreatMissingData"]) == (
        5, 5, "notBreaching")
    # The same metric math as the target tracking policy, on one-minute periods.
    [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert expression["Expression"] == "(m1 + m3 * 5) / m2"
    tracked = {m["Id"]: m["MetricStat"] for m in _backlog_metrics(
        assembly, STACK, "Thumbnails", "Thumbnails/Queue/Resource", "") if "MetricStat" in m}
    for m in alarm["Metrics"]:
        if "MetricStat" in m:
            assert m["MetricStat"] == {**tracked[m["Id"]], "Period": 60}, m["Id"]


def test_scale_to_zero_fleet_has_the_step_scale_in_on_its_own_target(assembly: Assembly) -> None:
    alarm = assembly.properties("WorkerFleetScaleToZero", "Exports/ScaleInAlarm/Resource")
    assert alarm["Threshold"] == 0.9 * sizing.backlog_per_worker(900, 30) == 27
    [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData", True)]
    assert expression["Expression"] == "(m1 + m3 * 15) / m2"


def test_scale_to_zero_adds_a_guarded_wake_up_step(assembly: Assembly) -> None:
    stack, fleet = "WorkerFleetScaleToZero", "Exports"
    target = assembly.properties(stack, f"{fleet}/ScalableTarget/Resource")
    assert (target["MinCapacity"], target["MaxCapacity"]) == (0, 4)
    tracking = assembly.properties(stack, f"{fleet}/BacklogPerWorkerScaling")["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["TargetValue"] == sizing.backlog_per_worker(900, 30) == 30
    step = assembly.properties(stack, f"{fleet}/WakeUp/Resource")
    assert step["PolicyType"] == "StepScaling"
    assert step["StepScalingPolicyConfiguration"] == {
        "AdjustmentType": "ExactCapacity", "Cooldown": 60, "MetricAggregationType": "Maximum",
        "StepAdjustments": [{"MetricIntervalLowerBound": 0, "ScalingAdjustment": 1}]}
    alarm = assembly.properties(stack, f"{fleet}/WakeUpAlarm/Resource")
    assert alarm["AlarmActions"] == [{"Ref": assembly.resource_id(stack, f"{fleet}/WakeUp/Resource")}]
    assert (alarm["Threshold"], alarm["ComparisonOperator"], alarm["EvaluationPeriods"]) == (
        0, "GreaterThanThreshold", 1)
    assert alarm["TreatMissingData"] == "notBreaching"
    metrics = {m["Id"]: m for m in alarm["Metrics"]}
    [expression] = [m for m in alarm["Metrics"] if m.get("ReturnData")]
    assert expression["Expression"] == "IF(FILL(m2, 0) == 0, m1, 0)"  # only when no worker runs
    assert metrics["m1"]["MetricStat"] == {"Period": 60, "Stat": "Maximum", "Metric": {
        "Namespace": "AWS/SQS", "MetricName": "ApproximateNumberOfMessagesVisible",
        "Dimensions": [{"Name": "QueueName", "Value": {"Fn::GetAtt": [
            assembly.resource_id(stack, f"{fleet}/Queue/Resource"), "QueueName"]}}]}}
    assert metrics["m2"]["MetricStat"]["Metric"]["MetricName"] == "RunningTaskCount"
    assert [d["Name"] for d in metrics["m2"]["MetricStat"]["Metric"]["Dimensions"]] == ["ClusterName", "ServiceName"]


# --- alarms ----------------------------------------------------------------------------


def test_alarms_carry_their_dimensions_and_notify(assembly: Assembly) -> None:
    topic = {"Ref": assembly.resource_id(STACK, "Alarms/Topic/Resource")}

    def alarm(name: str) -> dict:
        return assembly.properties(STACK, f"Thumbnails/{name}/Resource")

    dlq, age, at_max = alarm("DeadLetterAlarm"), alarm("OldestMessageAlarm"), alarm("AtMaxCapacityAlarm")
    assert (dlq["MetricName"], dlq["Threshold"], dlq["ComparisonOperator"]) == (
        "ApproximateNumberOfMessagesVisible", 0, "GreaterThanThreshold")
    assert dlq["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [
        assembly.resource_id(STACK, "Thumbnails/DeadLetterQueue/Resource"), "QueueName"]}}]
    # Oldest message older than max_acceptable_latency (5 minutes), via sizing.oldest_message_alarm.
    assert age["MetricName"] == "ApproximateAgeOfOldestMessage"
    assert (age["Threshold"], age["Period"], age["EvaluationPeriods"], age["DatapointsToAlarm"]) == (300, 60, 3, 2)
    assert age["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [
        assembly.resource_id(STACK, "Thumbnails/Queue/Resource"), "QueueName"]}}]
    # At max capacity: the fewest running tasks of each 5 minutes was max_workers, three times running.
    assert (at_max["Namespace"], at_max["MetricName"], at_max["Statistic"]) == (
        "ECS/ContainerInsights", "RunningTaskCount", "Minimum")
    assert (at_max["Threshold"], at_max["ComparisonOperator"]) == (20, "GreaterThanOrEqualToThreshold")
    assert (at_max["Period"], at_max["EvaluationPeriods"], at_max["DatapointsToAlarm"]) == (300, 3, 3)
    assert at_max["Dimensions"] == [
        {"Name": "ClusterName", "Value": {"Ref": assembly.resource_id(STACK, "Thumbnails/Cluster/Resource")}},
        {"Name": "ServiceName", "Value": {"Fn::GetAtt": [assembly.resource_id(STACK, "Thumbnails/Service/Service"), "Name"]}},
    ]
    for a in (dlq, age, at_max):
        assert a["AlarmActions"] == a["OKActions"] == [topic]
        assert a["TreatMissingData"] == "notBreaching"


# --- the stack ---------------------------------------------------------------------------


def test_stack_outputs(example: Template) -> None:
    outputs = example.find_outputs("*")
    assert {"QueueUrl", "DeadLetterQueueUrl", "ClusterName", "ServiceName", "LogGroupName", "TargetBacklogPerWorker",
            "AlarmTopicArn"} <= set(outputs)
    assert outputs["TargetBacklogPerWorker"]["Value"] == "150"


def test_stack_has_termination_protection(assembly: Assembly) -> None:
    assert assembly.stacks[STACK].termination_protection is True


def test_stateful_logical_ids_are_pinned(assembly: Assembly) -> None:
    # Renaming a construct changes these IDs and CloudFormation would replace (and,
    # with RETAIN, orphan) the queues and their messages. Change on purpose only.
    stateful = sorted(k for k, r in assembly.template(STACK)["Resources"].items()
                      if r["Type"] in {"AWS::SQS::Queue", "AWS::KMS::Key", "AWS::Logs::LogGroup", "AWS::SNS::Topic"})
    assert stateful == [
        "AlarmsKey3C2381B3",
        "AlarmsTopic3A2DFEBA",
        "NetworkFlowLogs2BEC3212",
        "NetworkKey1D162FA0",
        "ThumbnailsDeadLetterQueue21F24C76",
        "ThumbnailsKey1E7B03F5",
        "ThumbnailsLogs1885AEEE",
        "ThumbnailsQueue5AE666C7",
    ]


# --- Lambda compute ---------------------------------------------------------------------


def test_lambda_workers(assembly: Assembly) -> None:
    stack, fleet = "WorkerFleetLambda", "Reports"
    template = Template.from_json(assembly.template(stack))
    for absent in ("AWS::ECS::Cluster", "AWS::ECS::Service", "AWS::ApplicationAutoScaling::ScalableTarget"):
        template.resource_count_is(absent, 0)
    fn = assembly.properties(stack, f"{fleet}/Function/Resource")
    assert fn["Handler"] == "worker.lambda_handler" and fn["Timeout"] == 60
    assert fn["Environment"] == {"Variables": {"WORKER_HANDLER": "handlers:require_json"}}
    assert fn["KmsKeyArn"] == _arn(assembly, stack, f"{fleet}/Key/Resource")
    assert fn["TracingConfig"] == {"Mode": "Active"} and fn["LoggingConfig"]["LogFormat"] == "JSON"
    [esm] = assembly.of_type(stack, "AWS::Lambda::EventSourceMapping").values()
    assert esm["Properties"] == {
        "BatchSize": 50,
        "EventSourceArn": _arn(assembly, stack, f"{fleet}/Queue/Resource"),
        "FunctionName": {"Ref": assembly.resource_id(stack, f"{fleet}/Function/Resource")},
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "MaximumBatchingWindowInSeconds": 10,
        "ScalingConfig": {"MaximumConcurrency": 25},  # max_workers
    }
    queue = assembly.properties(stack, f"{fleet}/Queue/Resource")
    assert queue["VisibilityTimeout"] == sizing.lambda_visibility_timeout(60, 10) == 370


def test_lambda_at_max_alarm_watches_the_functions_concurrency(assembly: Assembly) -> None:
    stack = "WorkerFleetLambda"
    at_max = assembly.properties(stack, "Reports/AtMaxCapacityAlarm/Resource")
    assert (at_max["Namespace"], at_max["MetricName"], at_max["Statistic"]) == (
        "AWS/Lambda", "ConcurrentExecutions", "Maximum")
    assert at_max["Threshold"] == 25
    assert at_max["Dimensions"] == [{"Name": "FunctionName",
                                     "Value": {"Ref": assembly.resource_id(stack, "Reports/Function/Resource")}}]


# --- other configurations -----------------------------------------------------------------


def test_scale_to_zero_case_settings(assembly: Assembly) -> None:
    stack, fleet = "WorkerFleetScaleToZero", "Exports"
    queues = assembly.of_type(stack, "AWS::SQS::Queue")
    assert len(queues) == 2 and all(q["Properties"]["FifoQueue"] is True for q in queues.values())
    queue = assembly.properties(stack, f"{fleet}/Queue/Resource")
    assert queue["VisibilityTimeout"] == 120 and queue["RedrivePolicy"]["maxReceiveCount"] == 3
    task = assembly.properties(stack, f"{fleet}/TaskDefinition/Resource")
    assert (task["Cpu"], task["Memory"]) == ("1024", "2048")
    assert task["RuntimePlatform"]["CpuArchitecture"] == "X86_64"
    container = _container(assembly, stack, fleet)
    assert container["StopTimeout"] == 120
    env = _env(container)
    assert env["WORKER_SHUTDOWN_GRACE_SECONDS"] == "115" and env["WORKER_VISIBILITY_TIMEOUT_SECONDS"] == "120"
    assert env["EXPORT_FORMAT"] == "parquet"
    assert env["WORKER_BATCH_SIZE"] == "1" and env["WORKER_SCALE_IN_PROTECTION_MINUTES"] == "10"
    statements = assembly.properties(stack, f"{fleet}/TaskDefinition/TaskRole/DefaultPolicy/Resource")[
        "PolicyDocument"]["Statement"]
    assert _task_protection(assembly, stack, fleet) in statements


def test_ecs_exec_when_enabled_is_logged_and_encrypted(assembly: Assembly) -> None:
    stack, fleet = "WorkerFleetScaleToZero", "Exports"
    assert assembly.properties(stack, f"{fleet}/Service/Service")["EnableExecuteCommand"] is True
    # ECS Exec needs a writable root, turned on explicitly; then no scratch volume is needed.
    assert _container(assembly, stack, fleet)["ReadonlyRootFilesystem"] is False
    task = assembly.properties(stack, f"{fleet}/TaskDefinition/Resource")
    assert "Volumes" not in task and "MountPoints" not in _container(assembly, stack, fleet)
    config = assembly.properties(stack, f"{fleet}/Cluster/Resource")["Configuration"]["ExecuteCommandConfiguration"]
    assert config == {
        "KmsKeyId": _arn(assembly, stack, f"{fleet}/Key/Resource"),
        "Logging": "OVERRIDE",
        "LogConfiguration": {"CloudWatchEncryptionEnabled": True,
                             "CloudWatchLogGroupName": {"Ref": assembly.resource_id(stack, f"{fleet}/Logs/Resource")}},
    }


def test_fanout_subscriber_queue_plugs_in(assembly: Assembly) -> None:
    stack, fleet = "WorkerFleetFanOutSubscriber", "Invoicing"
    assert len(assembly.of_type(stack, "AWS::SQS::Queue")) == 6  # FanOut's only: the fleet made none
    queue = "Orders/Invoicing/Queue/Resource"
    statements = assembly.properties(stack, f"{fleet}/TaskDefinition/TaskRole/DefaultPolicy/Resource")[
        "PolicyDocument"]["Statement"]
    assert statements == [
        {"Action": SQS_CONSUME, "Effect": "Allow", "Resource": _arn(assembly, stack, queue)},
        {"Action": "kms:Decrypt", "Effect": "Allow", "Resource": _arn(assembly, stack, "Orders/Key/Resource")},
    ]
    env = _env(_container(assembly, stack, fleet))
    assert env["WORKER_QUEUE_URL"] == {"Ref": assembly.resource_id(stack, queue)}
    # scale_in_protection=False: the worker is not told to protect itself, and may not.
    assert "WORKER_SCALE_IN_PROTECTION_MINUTES" not in env
    dlq_alarm = assembly.properties(stack, f"{fleet}/DeadLetterAlarm/Resource")
    assert dlq_alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": [
        assembly.resource_id(stack, "Orders/Invoicing/DeadLetterQueue/Resource"), "QueueName"]}
    policy = assembly.properties(stack, f"{fleet}/BacklogPerWorkerScaling")["TargetTrackingScalingPolicyConfiguration"]
    assert policy["TargetValue"] == sizing.backlog_per_worker(60, 0.6) == 100
    assert policy["CustomizedMetricSpecification"]["Metrics"] == _backlog_metrics(
        assembly, stack, fleet, queue, "(m1 + m3 * 1) / m2")  # one minute of arrivals
    # No subnets passed: the Private group of secure.Network by default.
    subnets = assembly.properties(stack, f"{fleet}/Service/Service")["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"]
    assert subnets == [{"Ref": assembly.resource_id(stack, f"Network/Vpc/PrivateSubnet{i}/Subnet")} for i in (1, 2)]


# --- API -----------------------------------------------------------------------------------


def test_default_subnets_without_a_private_group() -> None:
    stack = cdk.Stack(new_app(), "Subnets")
    default = ec2.Vpc(stack, "Default", max_azs=2)  # CDK's default groups: Public, Private

    def vpc(name: str, subnet_type: ec2.SubnetType) -> ec2.Vpc:
        return ec2.Vpc(stack, name, max_azs=2, nat_gateways=1 if subnet_type != ec2.SubnetType.PRIVATE_ISOLATED else 0,
                       subnet_configuration=[
                           ec2.SubnetConfiguration(name="Edge", subnet_type=ec2.SubnetType.PUBLIC),
                           ec2.SubnetConfiguration(name="Work", subnet_type=subnet_type)])

    assert _private_subnets(default).subnet_group_name == "Private"
    assert _private_subnets(vpc("Egress", ec2.SubnetType.PRIVATE_WITH_EGRESS)).subnet_type == (
        ec2.SubnetType.PRIVATE_WITH_EGRESS)
    assert _private_subnets(vpc("Isolated", ec2.SubnetType.PRIVATE_ISOLATED)).subnet_type == (
        ec2.SubnetType.PRIVATE_ISOLATED)


def test_typed_attributes_and_grant_send() -> None:
    stack = cdk.Stack(new_app(), "Api")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    fleet = QueueWorkerFleet(stack, "Fleet", vpc=vpc, avg_processing_time=cdk.Duration.seconds(1))
    assert isinstance(fleet.queue, sqs.Queue) and isinstance(fleet.dead_letter_queue, sqs.Queue)
    assert isinstance(fleet.service, ecs.FargateService) and fleet.function is None and fleet.wake_up_alarm is None
    assert fleet.target_backlog_per_worker == 300 and len(fleet.alarms) == 3
    producer = iam.Role(stack, "Producer", assumed_by=iam.AccountRootPrincipal())
    fleet.grant_send(producer)
    template = Template.from_stack(stack)
    template.has_resource_properties("AWS::IAM::Policy", {
        "Roles": [{"Ref": stack.get_logical_id(producer.node.default_child)}],
        "PolicyDocument": {"Statement": Match.array_with([Match.object_like({
            "Action": Match.array_with(["sqs:SendMessage"]),
            "Resource": {"Fn::GetAtt": [stack.get_logical_id(fleet.queue.node.default_child), "Arn"]}})])},
    })


def test_imported_queue_without_dlq_gets_no_dlq_alarm() -> None:
    stack = cdk.Stack(new_app(), "Imported")
    queue = sqs.Queue.from_queue_arn(stack, "Q", "arn:aws:sqs:us-east-1:123456789012:jobs")
    fleet = QueueWorkerFleet(stack, "Fleet", vpc=ec2.Vpc(stack, "Vpc", max_azs=2), queue=queue,
                             avg_processing_time=cdk.Duration.seconds(1))
    assert fleet.dead_letter_queue is None
    assert [a.node.id for a in fleet.alarms] == ["OldestMessageAlarm", "AtMaxCapacityAlarm"]


def test_aws_worked_example_ten_seconds_over_a_tenth_is_a_target_of_100() -> None:
    # AWS's guidance, taken literally: 10 s acceptable latency / 0.1 s per message.
    stack = cdk.Stack(new_app(), "AwsExample")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Private", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    QueueWorkerFleet(stack, "Fleet", vpc=vpc, max_acceptable_latency=cdk.Duration.seconds(10),
                     avg_processing_time=cdk.Duration.millis(100))
    policies = Template.from_stack(stack).find_resources("AWS::ApplicationAutoScaling::ScalingPolicy")
    targets = [p["Properties"]["TargetTrackingScalingPolicyConfiguration"]["TargetValue"]
               for p in policies.values() if "TargetTrackingScalingPolicyConfiguration" in p["Properties"]]
    assert targets == [100]


def test_lambda_reserved_concurrency_at_max_workers_is_kept() -> None:
    stack = cdk.Stack(new_app(), "Reserved")
    fleet = QueueWorkerFleet(stack, "Fleet", avg_processing_time=cdk.Duration.seconds(1), max_workers=10,
                             compute=LambdaWorkers(reserved_concurrency=10))
    assert stack.resolve(fleet.function.node.default_child.reserved_concurrent_executions) == 10


def test_fixed_fleet_has_no_at_max_alarm_that_would_never_clear() -> None:
    stack = cdk.Stack(new_app(), "Fixed")
    vpc = ec2.Vpc(stack, "Vpc", max_azs=2)
    fixed = QueueWorkerFleet(stack, "Fixed", vpc=vpc, avg_processing_time=cdk.Duration.seconds(1),
                             min_workers=3, max_workers=3)
    assert [a.node.id for a in fixed.alarms] == ["DeadLetterAlarm", "OldestMessageAlarm"]
    one = QueueWorkerFleet(stack, "One", vpc=vpc, avg_processing_time=cdk.Duration.seconds(1), max_workers=1)
    assert [a.node.id for a in one.alarms] == ["DeadLetterAlarm", "OldestMessageAlarm"]  # min_workers defaults to 1
    scaling = QueueWorkerFleet(stack, "Scaling", vpc=vpc, avg_processing_time=cdk.Duration.seconds(1),
                               min_workers=2, max_workers=3)
    assert [a.node.id for a in scaling.alarms] == ["DeadLetterAlarm", "OldestMessageAlarm", "AtMaxCapacityAlarm"]
