"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

import json
import re
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


_HIVE_NAMES = {"yyyy": "year", "MM": "month", "dd": "day", "HH": "hour"}
_SAMPLE = {"distributionid": "E2EXAMPLE123", "DistributionId": "E2EXAMPLE123", "accountid": "123456789012",
           "yyyy": "2026", "MM": "12", "dd": "05", "HH": "23"}


def _bucket_and_path(value: object) -> tuple[str, str] | None:
    """``Fn::GetAtt [bucket, Arn]`` -> (bucket, ""); its ``Fn::Join`` with "/path" -> (bucket, "path")."""
    if isinstance(value, dict) and "Fn::GetAtt" in value and value["Fn::GetAtt"][1] == "Arn":
        return value["Fn::GetAtt"][0], ""
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, (head, *rest) = value["Fn::Join"]
        inner = _bucket_and_path(head)
        if inner and separator == "" and all(isinstance(part, str) for part in rest):
            return inner[0], "".join(rest).lstrip("/")
    return None


def _cloudfront_log_key(account: str, prefix: str, suffix: str | None, hive: bool) -> str:
    """A key CloudFront standard logging (v2) writes, per the tables under "Example paths to
    access logs" in https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logging.html:
    without a prefix CloudFront puts ``AWSLogs/{account-id}/CloudFront/`` first (with Hive-compatible
    paths ``aws-account-id=<id>``); each ``{variable}`` of the suffix path becomes its value, or
    ``name=value`` with Hive-compatible paths (``{yyyy}`` -> ``year=2025``)."""
    if prefix:
        head = prefix.rstrip("/") + "/"
    else:
        head = f"AWSLogs/{'aws-account-id=' if hive else ''}{account}/CloudFront/"

    def segment(part: str) -> str:
        if part.startswith("{") and part.endswith("}"):
            name = part[1:-1]
            return f"{_HIVE_NAMES.get(name, name)}={_SAMPLE[name]}" if hive else _SAMPLE[name]
        return part

    middle = "/".join(segment(p) for p in (suffix or "").strip("/").split("/") if p)
    return head + (middle + "/" if middle else "") + "part-0000.parquet"


def _admits(pattern: str, key: str) -> bool:
    # IAM resource patterns: * is any run of characters, ? one character.
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), key) is not None


def test_cloudfront_log_bucket_admits_the_keys_the_delivery_writes(assembly: Assembly) -> None:
    """Derived from each template: the key layout the CloudFront standard logging (v2)
    delivery writes (destination prefix, suffix path, Hive-compatible flag) and the
    resource patterns the bucket policy admits ``delivery.logs.amazonaws.com`` to put."""
    checked = []
    for stack_id, delivery_id, delivery in resources(assembly, "AWS::Logs::Delivery"):
        template = assembly.template(stack_id)["Resources"]
        props = delivery["Properties"]
        source = template[props["DeliverySourceName"]["Ref"]]["Properties"]
        if ":distribution/" not in json.dumps(source["ResourceArn"]):
            continue
        destination = template[props["DeliveryDestinationArn"]["Fn::GetAtt"][0]]["Properties"]
        bucket, prefix = _bucket_and_path(destination["DestinationResourceArn"])
        key = _cloudfront_log_key(assembly.stacks[stack_id].account, prefix, props.get("S3SuffixPath"),
                                  props.get("S3EnableHiveCompatiblePath", False))
        patterns = []
        for policy in assembly.of_type(stack_id, "AWS::S3::BucketPolicy").values():
            if policy["Properties"]["Bucket"] != {"Ref": bucket}:
                continue
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                if (statement["Effect"], statement.get("Principal")) != (
                        "Allow", {"Service": "delivery.logs.amazonaws.com"}) or "s3:PutObject" not in (
                        statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]):
                    continue
                for resource in statement["Resource"] if isinstance(statement["Resource"], list) \
                        else [statement["Resource"]]:
                    target = _bucket_and_path(resource)
                    if target and target[0] == bucket:
                        patterns.append(target[1])
        assert patterns, f"{stack_id}/{delivery_id}: the bucket policy never admits delivery.logs.amazonaws.com"
        assert any(_admits(p, key) for p in patterns), f"{stack_id}/{delivery_id}: {key} not in {patterns}"
        assert delivery.get("DependsOn") and any(
            template[d]["Type"] == "AWS::S3::BucketPolicy" for d in delivery["DependsOn"]), (
            f"{stack_id}/{delivery_id}: created before the bucket policy that admits it")
        checked.append((stack_id, key))
    assert checked, "no CloudFront log delivery to S3 in any template: the rule proved nothing"


def test_cloudfront_log_key_follows_the_documented_examples() -> None:
    # The rows of the tables in the CloudFront standard logging (v2) guide.
    account = "111122223333"
    assert _cloudfront_log_key(account, "", None, False).startswith("AWSLogs/111122223333/CloudFront/")
    assert _cloudfront_log_key(account, "", None, True).startswith("AWSLogs/aws-account-id=111122223333/CloudFront/")
    assert _cloudfront_log_key(account, "", "myFolderA/{yyyy}", True).startswith(
        "AWSLogs/aws-account-id=111122223333/CloudFront/myFolderA/year=2026/")
    assert _cloudfront_log_key(account, "MyLogPrefix", "myFolderA/{yyyy}", True).startswith(
        "MyLogPrefix/myFolderA/year=2026/")
    assert _cloudfront_log_key(account, "MyLogPrefix", "myFolderA/", False).startswith("MyLogPrefix/myFolderA/")
    assert _admits("AWSLogs/1/CloudFront/*", "AWSLogs/1/CloudFront/x/y.parquet")
    assert not _admits("AWSLogs/1/CloudFront/*", "AWSLogs/aws-account-id=1/CloudFront/x.parquet")
