"""Print how the app fares against every compliance rule set, per pack.

The five cdk-nag packs (AwsSolutions, Serverless, NIST 800-53 R5, HIPAA
Security, PCI DSS 3.2.1), all blocking in every synth
(``stacks.add_compliance_checks``). For each pack: findings and
acknowledgments (with the rules most acknowledged). Then AWS
Control Tower's proactive controls over the templates in ``cdk.out/`` (run
``cdk synth`` first, as ``make synth`` does): findings, and those covered by
``control-tower-exceptions.json``.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import aws_cdk as cdk  # noqa: E402  (after the path fix-up above)

from stacks import AppConfig, add_compliance_checks, build  # noqa: E402

PACKS = ("AwsSolutions", "Serverless", "NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")


def _count(entries: list[dict]) -> tuple[int, Counter]:
    rules: Counter = Counter()
    for v in entries:  # a rule can appear once per reason
        rules[v["ruleName"]] += len(v["violatingConstructs"])
    return sum(rules.values()), rules


def nag_report() -> dict:
    context = {**json.loads((ROOT / "cdk.json").read_text())["context"],
               **json.loads((ROOT / "cdk.context.json").read_text())}
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context=context)
        add_compliance_checks(app)
        build(app, AppConfig())
        try:
            app.synth()
        except RuntimeError as err:  # the packs report findings by failing synthesis
            if "ValidationFailed" not in str(err):
                raise
        report_path = Path(outdir, "validation-report.json")
        return json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}


def main() -> int:
    report = nag_report()
    by_name = {p["pluginName"]: p for p in report["pluginReports"]}  # a pack with nothing to say is left out
    print("cdk-nag packs, all blocking (findings / acknowledgments written into the templates):")
    blocking_findings = 0
    for name in PACKS:
        findings, rules = _count(by_name.get(name, {}).get("violations", []))
        acknowledged, acks = _count(by_name.get(name, {}).get("suppressedViolations", []))
        blocking_findings += findings
        top = ", ".join(f"{rule.split('-', 1)[1]} x{n}" for rule, n in acks.most_common(3))
        print(f"  {name:<16} {findings:>4} findings, {acknowledged:>4} acknowledged in {len(acks):>2} rules"
              f"{'; most acknowledged: ' + top if top else ''}")
        for rule, n in rules.most_common():
            print(f"    finding: {rule} x{n}")
    templates = {p.name.removesuffix(".template.json"): p for p in sorted((ROOT / "cdk.out").glob("*.template.json"))}
    if templates:
        from tests import control_tower as ct  # noqa: PLC0415  (needs the dev requirements)

        exceptions = ct.load_exceptions()
        found = ct.check(templates)
        open_findings = [f for f in found if not ct.covered(f, exceptions)]
        controls = Counter(f.control for f in found if ct.covered(f, exceptions))
        print(f"AWS Control Tower proactive controls over {len(templates)} templates: {len(open_findings)} findings, "
              f"{len(found) - len(open_findings)} covered by control-tower-exceptions.json in {len(controls)} controls")
        for f in open_findings:
            print(f"  {f.control} at {f.where}: {f.message}")
        blocking_findings += len(open_findings)
    return 1 if blocking_findings else 0


if __name__ == "__main__":
    os.environ.setdefault("CDK_VALIDATION", "false")
    sys.exit(main())
