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


def test_every_web_acl_logs_to_an_encrypted_retained_group_redacting_authorization(assembly: Assembly) -> None:
    checked = 0
    for stack_id in ALL_STACKS:
        acls = assembly.of_type(stack_id, "AWS::WAFv2::WebACL")
        configs = assembly.of_type(stack_id, "AWS::WAFv2::LoggingConfiguration")
        groups = assembly.of_type(stack_id, "AWS::Logs::LogGroup")
        logged = {c["Properties"]["ResourceArn"]["Fn::GetAtt"][0]: c["Properties"] for c in configs.values()}
        for logical_id in acls:
            config = logged.get(logical_id)
            assert config, f"{stack_id}/{logical_id} logs nothing"
            [destination] = config["LogDestinationConfigs"]
            group = groups[destination["Fn::GetAtt"][0]]["Properties"]
            assert group["LogGroupName"].startswith("aws-waf-logs-")
            assert "KmsKeyId" in group and group["RetentionInDays"] >= 365
            assert {"SingleHeader": {"Name": "authorization"}} in config["RedactedFields"]
            checked += 1
    assert checked >= 3  # CloudFront's ACL and one per regional ALB


def test_every_load_balancer_has_a_regional_web_acl_with_managed_rules_and_a_rate_limit(assembly: Assembly) -> None:
    checked = 0
    for stack_id in ALL_STACKS:
        albs = assembly.of_type(stack_id, "AWS::ElasticLoadBalancingV2::LoadBalancer")
        associations = {a["Properties"]["ResourceArn"]["Ref"]: a["Properties"]["WebACLArn"]["Fn::GetAtt"][0]
                        for a in assembly.of_type(stack_id, "AWS::WAFv2::WebACLAssociation").values()}
        acls = assembly.of_type(stack_id, "AWS::WAFv2::WebACL")
        for logical_id in albs:
            if stack_id.startswith("MutualTls"):
                # Mutual TLS refuses a client without a certificate from the trust store in the TLS
                # handshake, before any HTTP request exists for WAF to inspect (docs/mutual-tls.md);
                # NIST/PCI ALBWAFEnabled is acknowledged on these load balancers with that reason.
                assert logical_id not in associations
                continue
            acl = acls[associations[logical_id]]["Properties"]
            assert acl["Scope"] == "REGIONAL"
            statements = [r["Statement"] for r in acl["Rules"]]
            assert any("ManagedRuleGroupStatement" in st for st in statements)
            assert any("RateBasedStatement" in st for st in statements)
            checked += 1
    assert checked >= 2, "expected the edge pattern's regional ALBs"


def test_databases_in_the_stacks_are_in_a_backup_plan(assembly: Assembly) -> None:
    # On in the app's database stack and the RDS case (with a copy to a second region's vault).
    for stack_id, kind, ref in [("DatabaseStack", "AWS::RDS::DBCluster", "arn:{p}:rds:{r}:{a}:cluster:"),
                                ("DatabaseRds", "AWS::RDS::DBInstance", "arn:{p}:rds:{r}:{a}:db:")]:
        [vault] = assembly.of_type(stack_id, "AWS::Backup::BackupVault").values()
        assert "Fn::GetAtt" in vault["Properties"]["EncryptionKeyArn"]  # a customer-managed key of its own
        [plan] = assembly.of_type(stack_id, "AWS::Backup::BackupPlan").values()
        rules = {r["RuleName"]: r for r in plan["Properties"]["BackupPlan"]["BackupPlanRule"]}
        assert set(rules) == {"Daily", "Monthly"}
        assert rules["Daily"]["Lifecycle"]["DeleteAfterDays"] == 35
        assert rules["Monthly"]["Lifecycle"]["DeleteAfterDays"] == 365
        assert rules["Monthly"]["ScheduleExpression"] == "cron(0 4 1 * ? *)"
        [selection] = assembly.of_type(stack_id, "AWS::Backup::BackupSelection").values()
        [resource] = selection["Properties"]["BackupSelection"]["Resources"]
        databases = assembly.of_type(stack_id, kind)
        primary = [k for k, r in databases.items() if "SourceDBInstanceIdentifier" not in r["Properties"]]
        assert [p["Ref"] for p in resource["Fn::Join"][1] if isinstance(p, dict) and "Ref" in p
                and not p["Ref"].startswith("AWS::")] == primary
        copies = [r.get("CopyActions") for r in rules.values()]
        if stack_id == "DatabaseRds":
            assert all(c and c[0]["DestinationBackupVaultArn"].startswith("arn:aws:backup:eu-west-1:") for c in copies)
        else:
            assert copies == [None, None]


def test_worker_container_memory_hard_limit_is_the_tasks(assembly: Assembly) -> None:
    for stack_id, logical_id, task in _resources(assembly, "AWS::ECS::TaskDefinition"):
        for container in task["Properties"]["ContainerDefinitions"]:
            assert container.get("Memory") == int(task["Properties"]["Memory"]), f"{stack_id}/{logical_id}"
