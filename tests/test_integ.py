"""The integration apps (tests/integ/), offline.

Each app synthesizes with the app's blocking cdk-nag packs (AwsSolutions and
Serverless, ``support.new_app``), so a finding in a pattern or a probe fails
here, and its templates match the committed snapshot
(``tests/integ/<app>.py.snapshot``), so a change to a pattern shows as a
snapshot diff of its integration app. What the apps assert runs only in an
account: ``make integ`` (scripts/integ.py run).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import integ  # noqa: E402

PATTERNS = ("fanout", "worker_fleet", "streaming", "mobile_push", "database", "edge", "mutual_tls", "amazon_mq")


def test_one_integration_app_per_pattern() -> None:
    assert sorted(a.stem.removeprefix("integ_") for a in integ.apps()) == sorted(PATTERNS)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where every app's templates are kept as synthesized (with path metadata, as `cdk deploy` writes them)."""
    return tmp_path_factory.mktemp("integ-synth")


@pytest.fixture(scope="module")
def compared(synthesized: Path) -> dict[str, list[str]]:
    """Every app synthesized (two at a time: each is a jsii process) and compared with its snapshot."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = pool.map(lambda a: integ.compare(a, keep=synthesized / a.stem), integ.apps())
        return dict(zip([a.stem for a in integ.apps()], problems))


@pytest.mark.parametrize("app", integ.apps(), ids=lambda a: a.stem)
def test_integration_app_passes_nag_and_matches_its_snapshot(app: Path, compared: dict[str, list[str]]) -> None:
    problems = compared[app.stem]
    assert problems == [], "\n".join(problems) + "\n(after an intended change: python scripts/integ.py update)"


@pytest.mark.parametrize("app", integ.apps(), ids=lambda a: a.stem)
def test_integration_app_asserts_behaviour(app: Path) -> None:
    """Every app has an alarm-path assertion (SetAlarmState, then the probe queue's message)
    and at least one expectation that waits, bounded."""
    snap = integ.snapshot_dir(app)
    manifest = json.loads((snap / "integ.json").read_text())
    [case] = manifest["testCases"].values()
    assert case["stacks"] and case["assertionStack"]
    text = (snap / f"{case['assertionStackName']}.template.json").read_text()
    calls = [r["Properties"] for r in json.loads(text)["Resources"].values() if r["Type"].startswith("Custom::DeployAssert@SdkCall")]
    assert any(c["api"] == "SetAlarmState" or c["api"] == "setAlarmState" for c in calls), "no alarm-path check"
    assert any(c["api"] in ("ReceiveMessage", "receiveMessage") for c in calls), "no probe-queue read"
    state_machines = [r for r in json.loads(text)["Resources"].values() if r["Type"] == "AWS::StepFunctions::StateMachine"]
    assert state_machines, "no wait_for_assertions: an assertion must wait for eventual delivery, bounded"


def test_integration_stacks_pass_the_nag_recheck(tmp_path: Path) -> None:
    """The templates of the stacks under test (patterns plus probes; not the assertion stacks, which are
    aws-cdk-lib's provider) pass the same cdk-nag re-check as the app's (tests/test_gates.py)."""
    from tests.test_gates import _recheck, _report_violations

    templates = {}
    for app in integ.apps():
        snap = integ.snapshot_dir(app)
        [case] = json.loads((snap / "integ.json").read_text())["testCases"].values()
        for stack_id in case["stacks"]:
            templates[stack_id] = json.loads((snap / f"{stack_id}.template.json").read_text())
    assert len(templates) >= len(PATTERNS)
    report = _recheck(templates, tmp_path / "cdk.out")
    findings = [f"{v['plugin']}: {v['rule']} at {v['path']}" for v in _report_violations(report, "violations")]
    assert findings == [], "cdk-nag findings in the integration stacks:\n" + "\n".join(findings)
    assert _report_violations(report, "suppressedViolations"), "the re-check should meet the probes' acknowledgments"


def _stacks_under_test(synthesized: Path) -> list[Path]:
    """The templates of the stacks under test (patterns plus probes), not the assertion stacks."""
    paths = []
    for app in integ.apps():
        [case] = json.loads((synthesized / app.stem / "integ.json").read_text())["testCases"].values()
        paths += [synthesized / app.stem / f"{stack_id}.template.json" for stack_id in case["stacks"]]
    return paths


def test_integration_stacks_pass_cfn_lint_and_checkov(compared: dict[str, list[str]], synthesized: Path,
                                                     tmp_path: Path) -> None:
    """cfn-lint (informational rules and cfn-lint-serverless included) and checkov over the stacks under test,
    as tests/test_gates.py runs them over the app's: zero findings. The assertion stacks are aws-cdk-lib's
    provider code and are not checked."""
    from tests.test_gates import _checkov

    paths = _stacks_under_test(synthesized)
    assert len(paths) >= len(PATTERNS)
    only_templates = tmp_path / "checkov"  # checkov would also parse integ.json
    only_templates.mkdir()
    for path in paths:
        shutil.copy(path, only_templates / f"{path.parent.name}-{path.name}")
    cfn_lint = [str(Path(sys.executable).parent / "cfn-lint"), "--include-checks", "I", "-a",
                "cfn_lint_serverless.rules", "--format", "json", "--", *map(str, paths)]
    checkov = [_checkov(), "-d", str(only_templates), "--framework", "cloudformation", "--skip-download", "--quiet",
               "--compact", "-o", "json"]
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for c in (cfn_lint, checkov)]
    (lint_out, lint_err), (checkov_out, _) = (p.communicate() for p in procs)
    findings = [f"{f['Rule']['Id']} {Path(f['Filename']).parent.name}/{Path(f['Filename']).name}: "
                f"{'/'.join(map(str, f['Location']['Path'][:2]))} {f['Message']}" for f in json.loads(lint_out or "[]")]
    assert findings == [] and procs[0].returncode == 0, "cfn-lint:\n" + "\n".join(findings) + lint_err
    data = json.loads(checkov_out)
    reports = data if isinstance(data, list) else [data]
    failed = [f"{c['check_id']} {c['resource']} ({Path(c['file_path']).name}): {c['check_name']}"
              for r in reports for c in r["results"]["failed_checks"]]
    assert failed == [], "checkov:\n" + "\n".join(failed)
    assert reports[0]["summary"]["parsing_errors"] == 0 and reports[0]["summary"]["passed"] > 0


def test_integration_templates_are_marked_as_cdk_templates(compared: dict[str, list[str]], synthesized: Path) -> None:
    """cfn-lint leaves out rules that do not apply to generated templates (I1022, Fn::Sub over Fn::Join) only when
    it recognises a CDK template, by its resources' ``aws:cdk:path`` metadata, which `cdk deploy` writes: the
    gate must see the templates as deployed, not the snapshot's canonical form, which leaves that metadata out."""
    for path in _stacks_under_test(synthesized):
        resources = json.loads(path.read_text())["Resources"].values()
        assert all("aws:cdk:path" in r.get("Metadata", {}) for r in resources), path.name
    snap = integ.snapshot_dir(integ.INTEG / "integ_fanout.py") / "IntegFanOut.template.json"
    assert "aws:cdk:path" not in snap.read_text()


def test_snapshot_check_catches_a_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = integ.apps()[0]
    snap = tmp_path / (app.name + ".snapshot")
    snap.mkdir()
    for f in integ.snapshot_dir(app).glob("*.json"):
        (snap / f.name).write_text(f.read_text().replace('"Type": "AWS::SQS::Queue"', '"Type": "AWS::SQS::Queues"', 1))
    monkeypatch.setattr(integ, "snapshot_dir", lambda a: snap)
    problems = integ.compare(app)
    assert problems and "differs from the snapshot" in problems[0]


def _fake_cdk(outputs: dict | None, deploy_rc: int = 0):
    calls = []

    def fake(app, *args, log, context=()):
        calls.append((args[0], list(context)))
        if args[0] == "deploy":
            if outputs is not None:
                Path(args[args.index("--outputs-file") + 1]).write_text(json.dumps(outputs))
            return deploy_rc
        return 0
    return fake, calls


def test_run_reads_assertion_results_and_always_destroys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = integ.INTEG / "integ_fanout.py"
    fake, calls = _fake_cdk({"FanOutAssert": {"AssertionResultsAwsApiCallX": '{"status":"success"}'}})
    monkeypatch.setattr(integ, "_cdk", fake)
    assert integ.run_one(app, tmp_path, [])[1] == "PASS"
    assert [c[0] for c in calls] == ["deploy", "destroy"]
    fake, calls = _fake_cdk({"FanOutAssert": {"AssertionResultsAwsApiCallX": '{"status":"fail","message":"x"}'}})
    monkeypatch.setattr(integ, "_cdk", fake)
    name, status, _, detail = integ.run_one(app, tmp_path, [])
    assert status == "FAIL" and "AssertionResultsAwsApiCallX" in detail
    fake, calls = _fake_cdk(None, deploy_rc=1)  # a waiting assertion that times out fails the deploy
    monkeypatch.setattr(integ, "_cdk", fake)
    assert integ.run_one(app, tmp_path, [])[1] == "FAIL" and [c[0] for c in calls] == ["deploy", "destroy"]


def test_run_skips_push_without_credentials_and_passes_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = integ.INTEG / "integ_mobile_push.py"
    fake, calls = _fake_cdk({})
    monkeypatch.setattr(integ, "_cdk", fake)
    name, status, _, detail = integ.run_one(app, tmp_path, [])
    assert (status, calls) == ("SKIPPED", []) and "push_fcm_secret" in detail
    assert integ.run_one(app, tmp_path, ["-c", "push_fcm_secret=refarch/integ/fcm"])[1] == "PASS"
    assert calls[0] == ("deploy", ["-c", "push_fcm_secret=refarch/integ/fcm"])


def test_run_skips_mutual_tls_without_a_domain_and_its_zone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ACM validates by DNS: both the domain and its hosted zone are needed, one alone is not enough."""
    app = integ.INTEG / "integ_mutual_tls.py"
    fake, calls = _fake_cdk({})
    monkeypatch.setattr(integ, "_cdk", fake)
    for context in ([], ["-c", "mtls_domain=mtls-integ.example.com"], ["-c", "mtls_hosted_zone_id=Z0123456789ABC"],
                    ["-c", "mtls_domain=", "-c", "mtls_hosted_zone_id=Z0123456789ABC"]):
        name, status, _, detail = integ.run_one(app, tmp_path, context)
        assert (status, calls) == ("SKIPPED", []) and "mtls_hosted_zone_id" in detail, context
    both = ["-c", "mtls_domain=mtls-integ.example.com", "-c", "mtls_hosted_zone_id=Z0123456789ABC"]
    assert integ.run_one(app, tmp_path, both)[1] == "PASS"
    assert calls[0] == ("deploy", both)


def test_edge_app_waits_for_healthy_endpoints_in_both_regions() -> None:
    """Global Accelerator's endpoint groups (and, with a domain, Route 53's health checks) of both regions must
    be reported HEALTHY by the health probe, behind which a stand-in application is registered per region."""
    snap = integ.snapshot_dir(integ.INTEG / "integ_edge.py")
    assertions = json.loads((snap / "IntegEdgeAssertions.template.json").read_text())["Resources"]
    invokes = [r["Properties"] for r in assertions.values() if r["Type"] == "Custom::DeployAssert@SdkCallLambdainvoke"]
    expected = [json.loads(p["expected"]) for p in invokes if "endpoint_groups" in p.get("expected", "")]
    assert len(expected) == 1
    payload = expected[0]["$ObjectLike"]["Payload"]["$SerializedJson"]["$ObjectLike"]
    assert payload["endpoint_groups"] == {"us-east-1": "HEALTHY", "eu-west-1": "HEALTHY"}, payload
    for stack in ("IntegEdgeOriginUsEast1", "IntegEdgeOriginEuWest1"):
        resources = json.loads((snap / f"{stack}.template.json").read_text())["Resources"].values()
        [service] = [r["Properties"] for r in resources if r["Type"] == "AWS::ECS::Service"]
        assert service["DesiredCount"] == 1 and service["LoadBalancers"][0]["ContainerPort"] == 8080


DOCS = {"fanout": "fanout", "worker_fleet": "worker-fleet", "streaming": "streaming", "mobile_push": "mobile-push",
        "database": "database", "edge": "edge", "mutual_tls": "mutual-tls", "amazon_mq": "amazon-mq"}


@pytest.mark.parametrize("pattern", PATTERNS)
def test_pattern_doc_points_deployment_only_items_at_integration_assertions(pattern: str) -> None:
    """Each pattern page has an "Integration test" section naming its app, saying what is not covered yet,
    and every assertion it cites by name (a lower-case identifier in backticks) exists in the app or its
    support module, so a renamed assertion cannot leave the page pointing at nothing."""
    text = (ROOT / "docs" / f"{DOCS[pattern]}.md").read_text()
    heading = f"## Integration test (`make integ PATTERNS={pattern}`)"
    assert heading in text, f"docs/{DOCS[pattern]}.md lacks {heading!r}"
    section = text[text.index(heading):]
    section = section[:section.find("\n## ", 5)] if "\n## " in section[5:] else section
    assert f"`tests/integ/integ_{pattern}.py`" in section and "Not covered yet:" in section
    source = (integ.INTEG / f"integ_{pattern}.py").read_text() + (integ.INTEG / "support.py").read_text()
    proven = section[:section.index("Not covered yet:")]  # what follows names what no assertion proves
    cited = re.findall(r"`([a-z][a-z0-9_]*)(?:\([^`]*\))?`", proven)
    assert cited, "the section cites no assertion by name"
    missing = sorted({name for name in cited if not re.search(rf"\b{name}\b", source)})
    assert missing == [], f"docs/{DOCS[pattern]}.md cites assertions the app does not have: {missing}"
