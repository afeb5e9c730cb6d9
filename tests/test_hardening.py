"""Gaps the strict rule sets (cdk-nag NIST/HIPAA/PCI, AWS Control Tower's proactive
controls) found, each held by an assertion over every template the suite builds."""

from __future__ import annotations

import pytest

from tests.conftest import ALL_STACKS, Assembly


def _resources(assembly: Assembly, resource_type: str) -> list[tuple[str, str, dict]]:
    return [(s, logical_id, r) for s in ALL_STACKS for logical_id, r in assembly.of_type(s, resource_type).items()]


def test_every_key_denies_grants_except_for_aws_resources(assembly: Assembly) -> None:
    # CT.KMS.PR.3: https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html
    keys = _resources(assembly, "AWS::KMS::Key")
    assert keys
    want = {
        "Sid": "DenyGrantsExceptForAwsServices",
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": "kms:CreateGrant",
        "Resource": "*",
        "Condition": {"BoolIfExists": {"kms:GrantIsForAWSResource": "false", "aws:PrincipalIsAWSService": "false"}},
    }
    for stack_id, logical_id, key in keys:
        assert want in key["Properties"]["KeyPolicy"]["Statement"], f"{stack_id}/{logical_id}"


def test_public_subnets_assign_no_public_ips(assembly: Assembly) -> None:
    subnets = _resources(assembly, "AWS::EC2::Subnet")
    assert any("Public" in logical_id for _, logical_id, _ in subnets)
    for stack_id, logical_id, subnet in subnets:
        assert subnet["Properties"].get("MapPublicIpOnLaunch", False) is False, f"{stack_id}/{logical_id}"


def test_worker_container_declares_its_non_root_user(assembly: Assembly) -> None:
    tasks = _resources(assembly, "AWS::ECS::TaskDefinition")
    assert tasks
    for stack_id, logical_id, task in tasks:
        for container in task["Properties"]["ContainerDefinitions"]:
            assert container.get("User") == "65534", f"{stack_id}/{logical_id}/{container['Name']}"


def test_lambda_permissions_for_services_pin_the_source_account(assembly: Assembly) -> None:
    permissions = [p for p in _resources(assembly, "AWS::Lambda::Permission")
                   if p[2]["Properties"]["Principal"].endswith(".amazonaws.com")]
    assert any(p[2]["Properties"]["Principal"] == "apigateway.amazonaws.com" for p in permissions)
    for stack_id, logical_id, permission in permissions:
        assert "SourceAccount" in permission["Properties"], f"{stack_id}/{logical_id}"
