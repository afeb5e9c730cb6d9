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


# --- edge ---

_ORIGIN_GROUP_METHODS = {"GET", "HEAD", "OPTIONS"}


def test_origin_group_behaviours_allow_only_get_head_options(assembly: Assembly) -> None:
    """CloudFront refuses a cache behaviour that targets an origin group and allows
    POST, PUT, PATCH or DELETE ("AllowedMethods cannot include POST, PUT, PATCH, or
    DELETE for a cached behavior associated with an origin group", aws/aws-cdk#32450);
    origin failover applies to GET, HEAD and OPTIONS only:
    https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/high_availability_origin_failover.html
    """
    checked = []
    for stack_id, logical_id, resource in resources(assembly, "AWS::CloudFront::Distribution"):
        config = resource["Properties"]["DistributionConfig"]
        groups = {group["Id"] for group in config.get("OriginGroups", {}).get("Items", [])}
        for behaviour in [config["DefaultCacheBehavior"], *config.get("CacheBehaviors", [])]:
            if behaviour["TargetOriginId"] in groups:
                # CloudFront's default AllowedMethods is GET and HEAD.
                methods = set(behaviour.get("AllowedMethods", ["GET", "HEAD"]))
                assert methods <= _ORIGIN_GROUP_METHODS, (
                    f"{stack_id}/{logical_id} {behaviour.get('PathPattern', 'default')}: {sorted(methods)}")
                checked.append((stack_id, behaviour.get("PathPattern", "default")))
    assert checked, "no behaviour targets an origin group in any template: the rule proved nothing"
