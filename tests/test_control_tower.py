"""AWS Control Tower's proactive controls as a gate over every template the suite builds.

The Guard rules and cfn-guard come from ``cdklabs.cdk-validator-cfnguard``
(tests/control_tower.py). Control Tower has no per-resource suppression, so the
exceptions sit in ``control-tower-exceptions.json`` at the repository root,
each naming the resources (``<stack>/<logical ID>`` globs) it covers and why.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import control_tower as ct
from tests.conftest import ALL_STACKS, Assembly

MIN_REASON = 40


@pytest.fixture(scope="module")
def findings(assembly: Assembly) -> list[ct.Finding]:
    return ct.check({s: assembly.template_path(s) for s in ALL_STACKS})


def test_control_tower_zero_unexcepted_findings(findings: list[ct.Finding]) -> None:
    exceptions = ct.load_exceptions()
    open_findings = [f"{f.control} at {f.where} ({f.rule}): {f.message}" for f in findings
                     if not ct.covered(f, exceptions)]
    assert open_findings == [], (
        "AWS Control Tower proactive controls (fix the design, or add the resource to "
        "control-tower-exceptions.json with a reason):\n" + "\n".join(open_findings))


def test_control_tower_exceptions_are_all_used(findings: list[ct.Finding]) -> None:
    unused = ct.unused_globs(findings, ct.load_exceptions())
    assert unused == [], "exceptions that cover no finding (remove them):\n" + "\n".join(unused)


def test_control_tower_exceptions_are_narrow_and_reasoned() -> None:
    exceptions = ct.load_exceptions()
    assert exceptions, "expected the known exceptions (access-log buckets' SSE-S3, ...)"
    for control, entry in exceptions.items():
        assert set(entry) == {"reason", "resources"}, control
        assert len(entry["reason"].strip()) >= MIN_REASON, f"{control}: reason too thin"
        for glob in entry["resources"]:
            stack, _, logical_id = glob.partition("/")
            # A stack is named exactly and a glob never stands for a whole stack or a bare prefix.
            assert stack in ALL_STACKS and logical_id and not set(stack) & set("*?[") and logical_id != "*", glob


def test_control_tower_gate_fails_a_bad_template(tmp_path: Path) -> None:
    template = {"Resources": {"Key": {"Type": "AWS::KMS::Key", "Properties": {"KeyPolicy": {"Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"}]}}}}}
    path = tmp_path / "Bad.template.json"
    path.write_text(json.dumps(template))
    controls = {(f.control, f.where) for f in ct.check_template("Bad", path)}
    assert {("CT.KMS.PR.1", "Bad/Key"), ("CT.KMS.PR.3", "Bad/Key")} <= controls or ("CT.KMS.PR.3", "Bad/Key") in controls
