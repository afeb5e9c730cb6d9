"""RdsDatabaseStack: the RDS side of the RDS-vs-Aurora comparison, deployed by the app on NetworkStack.

The construct's defaults are asserted on the DatabaseRds case (tests/test_database.py);
this module asserts what the app stack adds: Multi-AZ with two replicas and storage
autoscaling, the shared network by cross-stack reference, a Parameter Store path
apart from DatabaseStack's, pinned logical IDs of the stateful resources, and that
every construct the README's catalog names is reachable from the app.
"""

from __future__ import annotations

import re

import pytest

from tests.conftest import ROOT, Assembly

STACK = "RdsDatabaseStack"

PINNED = {
    "Database/Key/Resource": "DatabaseKey5E5D9547",
    "Database/Primary/Resource": "DatabasePrimaryEDE0B3D0",
    "Database/Primary/SubnetGroup/Default": "DatabasePrimarySubnetGroup6A34E9A0",
    "Database/Primary/Secret/Resource": "RdsDatabaseStackDatabasePrimarySecretD47809713fdaad7efa858a3daf9490cf0a702aeb",
    "Database/Replica1/Resource": "DatabaseReplica1ED560A1F",
    "Database/Replica2/Resource": "DatabaseReplica2035311FF",
    "Database/Parameters/Resource": "DatabaseParametersB8AC9B07",
    "Alarms/Key/Resource": "AlarmsKey3C2381B3",
}


@pytest.mark.parametrize("path", PINNED)
def test_stateful_logical_ids_are_pinned(assembly: Assembly, path: str) -> None:
    assert assembly.resource_id(STACK, path) == PINNED[path]


def test_multi_az_primary_with_two_replicas_and_storage_autoscaling(assembly: Assembly) -> None:
    primary = assembly.resource(STACK, "Database/Primary/Resource")
    props = primary["Properties"]
    assert props["MultiAZ"] is True
    assert props["AllocatedStorage"] == "100" and props["MaxAllocatedStorage"] == 1000
    assert props["Engine"] == "postgres" and props["StorageEncrypted"] is True
    assert primary["DeletionPolicy"] == "Snapshot"
    instances = assembly.of_type(STACK, "AWS::RDS::DBInstance")
    replicas = [r for r in instances.values() if "SourceDBInstanceIdentifier" in r["Properties"]]
    assert len(instances) == 3 and len(replicas) == 2
    assert all(r["Properties"]["MaxAllocatedStorage"] == 1000 for r in replicas)


def test_on_network_stack_by_cross_stack_reference(assembly: Assembly) -> None:
    groups = assembly.of_type(STACK, "AWS::RDS::DBSubnetGroup").values()
    subnets = [s for g in groups for s in g["Properties"]["SubnetIds"]]
    assert groups and subnets
    assert all(("Fn::ImportValue" in s or "Fn::GetStackOutput" in s) and "NetworkStack" in str(s) for s in subnets)
    assert "AWS::EC2::VPC" not in {r["Type"] for r in assembly.template(STACK)["Resources"].values()}


def test_parameter_path_apart_from_the_aurora_stack(assembly: Assembly) -> None:
    def names(stack: str) -> set[str]:
        return {r["Properties"]["Name"] for r in assembly.of_type(stack, "AWS::SSM::Parameter").values()}

    rds, aurora = names(STACK), names("DatabaseStack")
    assert rds and all(n.startswith("/refarch/dev/rds-database/") for n in rds)
    assert rds.isdisjoint(aurora), "SSM parameter names are physical: the two stacks would collide"


def test_admin_host_and_outputs(assembly: Assembly) -> None:
    template = assembly.template(STACK)
    assert len(assembly.of_type(STACK, "AWS::EC2::Instance")) == 1
    assert {"PrimaryEndpoint", "Replica1Endpoint", "Replica2Endpoint", "Port", "SecretArn", "ParameterPath",
            "AlarmTopicArn", "PortForwardCommand"} <= set(template["Outputs"])


# --- every construct of the README's catalog is reachable from the app ------------------------

#: A documented ``-c`` option -> the AppConfig it gives (app.py reads the key).
OPTIONS = {"edge_accelerator": {"edge_accelerator": True}}


def _catalog_constructs() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Catalog", 1)[1].split("\n## ", 1)[0]
    found: set[str] = set()
    for row in [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| pattern")]:
        names = re.findall(r"`([\w.]+)`", row.split("|")[2])
        module = names[0].rsplit(".", 1)[0] if names[0].count(".") > 1 else names[0]
        found |= {n if n.startswith("refarch.") else f"{module}.{n}" for n in names}
    return {n for n in found if n.count(".") == 2}  # classes; `refarch.secure` names a module


def _classes(stacks) -> set[str]:
    return {f"{type(c).__module__}.{type(c).__name__}" for s in stacks for c in s.node.find_all()}


def test_every_catalog_construct_is_in_an_app_stack_or_a_documented_option(assembly: Assembly) -> None:
    from stacks import STACK_IDS, AppConfig, build
    from tests.conftest import new_app

    catalog = _catalog_constructs()
    assert len(catalog) >= 11 and "refarch.database.RdsWithReadReplicas" in catalog
    missing = catalog - _classes(assembly.stacks[s] for s in STACK_IDS)
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| context key |", 1)[1].split("\n\n", 1)[0]
    for key, config in OPTIONS.items():
        assert f"`{key}`" in table, f"-c {key} is not in the README's context-key table"
        missing -= _classes(build(new_app(), AppConfig(**config)).values())
    assert missing == set(), f"the catalog names constructs no app stack or documented option deploys: {missing}"
