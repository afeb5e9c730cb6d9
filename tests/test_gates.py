"""Gates over every synthesized template: cdk-nag, cfn-lint, checkov.

They run on the app's stacks and on every test case (tests/cases), so each
configuration a user can reach is checked, not only the example.

cdk-nag runs twice: in the app, on the construct tree (the session's
synthesis), and again on the synthesized templates themselves, re-included
with ``cloudformation_include``. The second run sees what the first cannot:
the functions and roles aws-cdk-lib writes as raw ``CfnResource``s (custom
resource providers, LogRetention), which the packs skip, and properties a
construct removes with an override after the packs read them. It honours only
the acknowledgments written into the template metadata.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import pytest
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import cloudformation_include as cfn_include

from stacks import add_compliance_checks
from tests.conftest import ALL_STACKS, Assembly, new_app

MIN_REASON = 40  # characters: a reason says why, not just "ok"


def _violations(assembly: Assembly, key: str) -> list[dict]:
    return _report_violations(assembly.report, key)


def _report_violations(report: dict, key: str) -> list[dict]:
    found = []
    for plugin in report["pluginReports"]:
        for v in plugin.get(key, []):
            for c in v["violatingConstructs"]:
                found.append({"plugin": plugin["pluginName"], "rule": v["ruleName"], "path": c["constructPath"], **v, **c})
    return found


def test_nag_packs_are_registered_and_blocking() -> None:
    # A pack that finds nothing leaves no report, so show that a bad resource fails synthesis.
    app = new_app()
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Bad")
    sqs.Queue(stack, "Plain", encryption=sqs.QueueEncryption.UNENCRYPTED)
    s3.CfnBucket(stack, "Bare")  # no logging: S3BucketLoggingEnabled in each strict pack
    with pytest.raises(RuntimeError, match="ValidationFailed") as failure:
        app.synth()
    for pack in ("AwsSolutions", "Serverless", "NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321"):
        assert f"({pack})" in str(failure.value), f"{pack} is not a blocking plugin"


def test_nag_zero_unacknowledged_findings(assembly: Assembly) -> None:
    findings = [f"{v['plugin']}: {v['rule']} at {v['path']}" for v in _violations(assembly, "violations")]
    assert findings == [], "cdk-nag findings:\n" + "\n".join(findings)


def test_nag_acknowledgments_are_narrow_and_reasoned(assembly: Assembly) -> None:
    for v in _violations(assembly, "suppressedViolations"):
        assert len(v["reason"].strip()) >= MIN_REASON, f"{v['rule']} at {v['path']}: reason too thin: {v['reason']!r}"
        # On the resource itself or the L2 construct that wraps it, never a whole pattern or stack.
        depth = v["path"].count("/") - v["acknowledgedAt"].count("/")
        assert v["path"].startswith(v["acknowledgedAt"]) and depth <= 1, (
            f"{v['rule']} acknowledged at {v['acknowledgedAt']}, too far above {v['path']}"
        )


def test_nag_acknowledgments_are_written_into_templates(assembly: Assembly) -> None:
    suppressed = _violations(assembly, "suppressedViolations")
    assert suppressed, "expected the known acknowledgments (dead-letter queues, X-Ray) to be reported"
    for v in suppressed:
        stack_id = v["path"].split("/")[0]
        template = assembly.template(stack_id)
        logical_id = assembly.logical_id(stack_id, v["path"])
        rules = template["Resources"][logical_id]["Metadata"]["cdk_nag"]["rules_to_suppress"]
        assert {"id": v["acknowledgedId"], "reason": v["reason"]} in rules, f"{v['path']} lacks {v['acknowledgedId']}"


# --- cdk-nag again, over the templates ---------------------------------------------------


def _includable(value):
    """``cloudformation_include`` does not know Fn::GetStackOutput (the weak
    cross-stack references of @aws-cdk/core:defaultCrossStackReferences); an
    import of the same output reads the same to the packs."""
    if isinstance(value, dict):
        if set(value) == {"Fn::GetStackOutput"}:
            ref = value["Fn::GetStackOutput"]
            return {"Fn::ImportValue": f"{ref['StackName']}:{ref['OutputName']}"}
        return {k: _includable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_includable(v) for v in value]
    return value


def _recheck(templates: dict[str, dict], outdir: Path, add_checks=add_compliance_checks) -> dict:
    """Run the app's cdk-nag packs (or those ``add_checks`` registers) over ``templates``
    (stack ID -> template), each re-included into a fresh stack; the validation report."""
    app = cdk.App(outdir=str(outdir), analytics_reporting=False)
    add_checks(app)
    for stack_id, template in templates.items():
        path = outdir.parent / f"{outdir.name}-{stack_id}.json"
        path.write_text(json.dumps(_includable(template)))
        stack = cdk.Stack(app, stack_id, synthesizer=cdk.DefaultStackSynthesizer(generate_bootstrap_version_rule=False))
        included = cfn_include.CfnInclude(stack, "Template", template_file=str(path))
        for logical_id, resource in template["Resources"].items():
            for rule in resource.get("Metadata", {}).get("cdk_nag", {}).get("rules_to_suppress", []):
                cdk.Validations.of(included.get_resource(logical_id)).acknowledge(
                    cdk.Acknowledgment(id=rule["id"], reason=rule["reason"]))
    try:
        app.synth()
    except RuntimeError as err:
        if "ValidationFailed" not in str(err):
            raise
    report_path = outdir / "validation-report.json"
    return json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}


@pytest.fixture(scope="module")
def recheck(assembly: Assembly, tmp_path_factory: pytest.TempPathFactory) -> dict:
    return _recheck({s: assembly.template(s) for s in ALL_STACKS}, tmp_path_factory.mktemp("recheck") / "cdk.out")


def test_nag_recheck_of_templates_zero_unacknowledged_findings(recheck: dict) -> None:
    findings = [f"{v['plugin']}: {v['rule']} at {v['path']}" for v in _report_violations(recheck, "violations")]
    assert findings == [], (
        "cdk-nag findings in the synthesized templates (acknowledge them on the resource, and see that the "
        "acknowledgment reaches the template metadata):\n" + "\n".join(findings)
    )


def test_nag_recheck_honours_template_acknowledgments_with_reasons(recheck: dict) -> None:
    suppressed = _report_violations(recheck, "suppressedViolations")
    assert suppressed, "the re-check should meet the acknowledgments written into the templates"
    for v in suppressed:
        assert len(v["reason"].strip()) >= MIN_REASON, f"{v['rule']} at {v['path']}: reason too thin: {v['reason']!r}"


def test_nag_recheck_sees_what_the_app_plugins_cannot(tmp_path: Path) -> None:
    # The handler behind restrict_default_security_group is a raw CfnResource: the in-app packs pass it,
    # the re-check of its template does not.
    app = new_app(outdir=str(tmp_path / "app"))
    add_compliance_checks(app)
    stack = cdk.Stack(app, "Provider")
    ec2.Vpc(stack, "Vpc", restrict_default_security_group=True, nat_gateways=0, subnet_configuration=[
        ec2.SubnetConfiguration(name="Isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)])
    with pytest.raises(RuntimeError, match="ValidationFailed"):  # the bare VPC's own findings (no flow logs)
        app.synth()
    template = json.loads((tmp_path / "app" / "Provider.template.json").read_text())
    in_app = json.loads((tmp_path / "app" / "validation-report.json").read_text())
    handler = "Custom::VpcRestrictDefaultSGCustomResourceProvider"
    assert not [v for v in _report_violations(in_app, "violations") if handler in v["path"]]
    again = _report_violations(_recheck({"Provider": template}, tmp_path / "recheck"), "violations")
    assert {"Serverless-LambdaDLQ", "Serverless-LambdaTracing"} <= {v["rule"] for v in again if "Handler" in v["path"]}


def _checkov() -> str:
    path = os.environ.get("CHECKOV") or shutil.which("checkov")
    assert path, "checkov not found: run the tests through `make test`, which installs it"
    return path


@pytest.fixture(scope="module")
def linters(assembly: Assembly, tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[subprocess.CompletedProcess]]:
    """cfn-lint (in two halves) and checkov over every template, all three at once: each is a
    single-threaded process, and together they are most of the suite's time."""
    paths = [str(assembly.template_path(s)) for s in ALL_STACKS]
    only_templates = tmp_path_factory.mktemp("checkov")  # checkov would also parse cdk.out's other JSON
    for stack_id in ALL_STACKS:
        shutil.copy(assembly.template_path(stack_id), only_templates / f"{stack_id}.template.json")
    # With the serverless rules of cfn-lint-serverless (requirements-dev.txt).
    cfn_lint = [str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I", "-a", "cfn_lint_serverless.rules",
                "--format", "json", "--"]
    commands = {
        "cfn-lint": [[*cfn_lint, *paths[0::2]], [*cfn_lint, *paths[1::2]]],
        "checkov": [[_checkov(), "-d", str(only_templates), "--framework", "cloudformation", "--skip-download",
                     "--quiet", "--compact", "-o", "json"]],
    }
    running = {name: [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in cmds]
               for name, cmds in commands.items()}
    results = {}
    for name, procs in running.items():
        results[name] = []
        for proc, cmd in zip(procs, commands[name]):
            out, err = proc.communicate()
            results[name].append(subprocess.CompletedProcess(cmd, proc.returncode, out, err))
    return results


def test_cfn_lint_clean_including_informational(linters) -> None:
    for result in linters["cfn-lint"]:
        findings = json.loads(result.stdout or "[]")
        lines = [f"{f['Rule']['Id']} {Path(f['Filename']).name}:{f['Location']['Start']['LineNumber']} {f['Message']}"
                 for f in findings]
        assert findings == [] and result.returncode == 0, "cfn-lint:\n" + "\n".join(lines) + result.stderr
    linted = sum(len(r.args) - 8 for r in linters["cfn-lint"])
    assert linted == len(ALL_STACKS), f"cfn-lint saw {linted} of {len(ALL_STACKS)} templates"


def test_checkov_no_failed_checks(linters) -> None:
    [result] = linters["checkov"]
    data = json.loads(result.stdout)
    reports = data if isinstance(data, list) else [data]
    summary = reports[0]["summary"]
    failed = [f"{c['check_id']} {c['resource']} ({Path(c['file_path']).name}): {c['check_name']}"
              for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], "checkov:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0
    assert summary["passed"] > 0 and summary["resource_count"] > 0


def test_checkov_skips_are_inline_with_reasons(assembly: Assembly) -> None:
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.template(stack_id)["Resources"].items():
            for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", []):
                assert len(skip.get("comment", "")) >= MIN_REASON, f"{stack_id}/{logical_id}: skip {skip} lacks a reason"


def test_cfn_lint_ignores_carry_reasons(assembly: Assembly) -> None:
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.template(stack_id)["Resources"].items():
            lint = resource.get("Metadata", {}).get("cfn-lint", {})
            for check in lint.get("config", {}).get("ignore_checks", []):
                reason = lint.get("reasons", {}).get(check, "")
                assert len(reason) >= MIN_REASON, f"{stack_id}/{logical_id}: cfn-lint ignores {check} without a reason"
