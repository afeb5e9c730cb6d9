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


# --- database ---


def _source_instance(template: dict, replica: dict) -> str | None:
    """The logical ID of the DB instance a replica's ``SourceDBInstanceIdentifier`` names, if in the template."""
    source = replica["Properties"]["SourceDBInstanceIdentifier"]
    instances = {k for k, r in template["Resources"].items() if r["Type"] == "AWS::RDS::DBInstance"}
    named = {k for k in instances if f"{{'Ref': '{k}'}}" in str(source)}
    return next(iter(named)) if len(named) == 1 else None


def test_read_replicas_have_their_source_storage(assembly: Assembly) -> None:
    """A read replica's storage type, IOPS and throughput are its own: CloudFormation passes what the
    template states, and a replica left without ``StorageType`` is created on the API's default (gp2
    from aws-cdk-lib) while its source is gp3, with a tenth of the baseline IOPS at 100 GiB, which makes
    the replica lag. Each replica states what its source states.
    https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/USER_ReadRepl.html
    https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-rds-dbinstance.html"""
    checked = 0
    for stack_id, logical_id, resource in resources(assembly, "AWS::RDS::DBInstance"):
        if "SourceDBInstanceIdentifier" not in resource.get("Properties", {}):
            continue
        template = assembly.template(stack_id)
        source_id = _source_instance(template, resource)
        assert source_id is not None, f"{stack_id}/{logical_id}: source instance not found in the template"
        source = template["Resources"][source_id]["Properties"]
        replica = resource["Properties"]
        assert replica.get("StorageType") == source.get("StorageType"), (
            f"{stack_id}/{logical_id}: StorageType {replica.get('StorageType')} but its source {source_id} has "
            f"{source.get('StorageType')}")
        for key in ("Iops", "StorageThroughput"):
            if key in source:
                assert replica.get(key) == source[key], f"{stack_id}/{logical_id}: {key} differs from {source_id}"
        checked += 1
    assert checked > 0, "no read replica in any template: the rule proves nothing"
