"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import ALL_STACKS, Assembly


def resources(assembly: Assembly, resource_type: str) -> Iterator[tuple[str, str, dict]]:
    """(stack ID, logical ID, template entry) of every resource of ``resource_type`` in every template."""
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.of_type(stack_id, resource_type).items():
            yield stack_id, logical_id, resource


# --- worker ---

#: The variable that tells the shipped worker to set ECS task scale-in protection while it holds messages.
SCALE_IN_ENV = "WORKER_SCALE_IN_PROTECTION_MINUTES"
TASK_PROTECTION = "ecs:UpdateTaskProtection"


def _protected_task_definitions(assembly: Assembly) -> Iterator[tuple[str, dict, str, dict]]:
    """(stack ID, template, logical ID, properties) of every task definition whose worker protects itself."""
    for stack_id, logical_id, resource in resources(assembly, "AWS::ECS::TaskDefinition"):
        env = {e["Name"]: e["Value"] for c in resource["Properties"]["ContainerDefinitions"]
               for e in c.get("Environment", [])}
        if SCALE_IN_ENV in env and env[SCALE_IN_ENV] != "0":
            yield stack_id, assembly.template(stack_id), logical_id, resource["Properties"]


def _role_statements(template: dict, role_arn: dict) -> list[dict]:
    """Every Allow statement of the role ``role_arn`` points to: inline, and policies attached to it."""
    role_id, _ = role_arn["Fn::GetAtt"]  # the role is in the same template
    role = template["Resources"][role_id]
    documents = [p["PolicyDocument"] for p in role["Properties"].get("Policies", [])]
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::IAM::Policy" and {"Ref": role_id} in resource["Properties"].get("Roles", []):
            documents.append(resource["Properties"]["PolicyDocument"])
    return [s for d in documents for s in d["Statement"] if s["Effect"] == "Allow"]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


def test_a_worker_that_protects_itself_may_update_its_tasks_protection(assembly: Assembly) -> None:
    """ECS refuses the agent's UpdateTaskProtection call unless the task role allows it on the task
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-scale-in-protection-endpoint.html); the
    worker then runs unprotected and long jobs are abandoned at scale-in, which no offline gate notices."""
    checked = 0
    for stack_id, template, task_id, task in _protected_task_definitions(assembly):
        assert "TaskRoleArn" in task, f"{stack_id}/{task_id}: sets {SCALE_IN_ENV} without a task role"
        statements = [s for s in _role_statements(template, task["TaskRoleArn"])
                      if {TASK_PROTECTION, "ecs:*", "*"} & set(_listed(s["Action"]))]
        assert statements, f"{stack_id}/{task_id}: the task role lacks {TASK_PROTECTION}"
        services = [r["Properties"] for r in template["Resources"].values()
                    if r["Type"] == "AWS::ECS::Service" and r["Properties"].get("TaskDefinition") == {"Ref": task_id}]
        for service in services:  # the permission covers the tasks of the cluster the service runs in
            cluster = service["Cluster"]
            covered = [s for s in statements for r in _listed(s["Resource"])
                       if r == "*" or (isinstance(r, dict) and ":task/" in r["Fn::Join"][1]
                                       and cluster in r["Fn::Join"][1])]
            assert covered, f"{stack_id}/{task_id}: {TASK_PROTECTION} does not cover the tasks of {cluster}"
            checked += 1
    assert checked >= 2, "no worker service with scale-in protection was checked"


def test_a_worker_that_protects_itself_without_nat_reaches_the_ecs_api(assembly: Assembly) -> None:
    """The agent calls the ECS API for the protection; in a VPC without NAT that needs the ECS interface
    endpoint (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/vpc-endpoints.html)."""
    checked = 0
    for stack_id, template, task_id, _task in _protected_task_definitions(assembly):
        kinds = {r["Type"] for r in template["Resources"].values()}
        if "AWS::EC2::VPC" not in kinds or "AWS::EC2::NatGateway" in kinds:
            continue  # the VPC is elsewhere, or egress goes through NAT
        endpoints = [r["Properties"]["ServiceName"] for r in template["Resources"].values()
                     if r["Type"] == "AWS::EC2::VPCEndpoint"]
        names = ["".join(p for p in n["Fn::Join"][1] if isinstance(p, str)) if isinstance(n, dict) else n
                 for n in endpoints]
        assert any(n.endswith(".ecs") for n in names), f"{stack_id}/{task_id}: no ECS endpoint in a VPC without NAT"
        checked += 1
    assert checked >= 2, "no NAT-less worker with scale-in protection was checked"
