"""Print how the app fares against cdk-nag's compliance packs.

NIST 800-53 R5, HIPAA Security and PCI DSS 3.2.1 are informational here (the
blocking gates are AwsSolutions and Serverless, run by every synth): this
synthesizes the app once with the three packs and counts their findings.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aws_cdk as cdk  # noqa: E402  (after the path fix-up above)
from cdk_nag import HIPAASecurityChecks, NIST80053R5Checks, PCIDSS321Checks  # noqa: E402

from stacks import AppConfig, build  # noqa: E402


PACKS = ("NIST.800.53.R5", "HIPAA.Security", "PCI.DSS.321")


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    context = {**json.loads((root / "cdk.json").read_text())["context"], **json.loads((root / "cdk.context.json").read_text())}
    with tempfile.TemporaryDirectory() as outdir:
        app = cdk.App(outdir=outdir, context=context)
        cdk.Validations.of(app).add_plugins(NIST80053R5Checks(app), HIPAASecurityChecks(app), PCIDSS321Checks(app))
        build(app, AppConfig())
        try:
            app.synth()
        except RuntimeError as err:  # the packs report findings by failing synthesis
            if "ValidationFailed" not in str(err):
                raise
        report_path = Path(outdir, "validation-report.json")
        report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    # A pack with no finding is left out of the report.
    by_name = {p["pluginName"]: p for p in report["pluginReports"]}
    print("Compliance packs (informational; AwsSolutions and Serverless are the blocking gates):")
    for name in PACKS:
        violations = by_name.get(name, {}).get("violations", [])
        findings = sum(len(v["violatingConstructs"]) for v in violations)
        rules = Counter({v["ruleName"]: len(v["violatingConstructs"]) for v in violations})
        top = ", ".join(f"{rule} x{n}" for rule, n in rules.most_common(5))
        print(f"  {name:<16} {findings:>4} findings in {len(rules)} rules{': ' + top if top else ''}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CDK_VALIDATION", "false")
    sys.exit(main())
