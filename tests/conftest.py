"""Shared fixtures: one synthesis of every stack and test case, per session.

``CDK_VALIDATION=false`` turns off aws-cdk-lib's built-in template validator
(~3 s on a first synth); the cdk-nag gates still run. ``make synth`` keeps the
validator on.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("CDK_VALIDATION", "false")

import aws_cdk as cdk  # noqa: E402  (after the environment above)
import pytest  # noqa: E402

import tests.cases  # noqa: E402
from stacks import STACK_IDS, AppConfig, add_compliance_checks, build  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# Feature flags (cdk.json) and the committed lookups, e.g. availability zones of
# the explicit environments (cdk.context.json), as the CLI merges them.
CONTEXT = {
    **json.loads((ROOT / "cdk.json").read_text())["context"],
    **json.loads((ROOT / "cdk.context.json").read_text()),
}


#: What the CDK CLI adds to the context of `cdk synth`, so tests see the same templates.
CLI_CONTEXT = {
    "aws:cdk:enable-path-metadata": True,
    "aws:cdk:enable-asset-metadata": True,
    "aws:cdk:version-reporting": True,
}


def new_app(**kwargs) -> cdk.App:
    """An app with the project's feature flags (cdk.json context), as the CLI runs it."""
    return cdk.App(context={**CONTEXT, **CLI_CONTEXT}, **kwargs)


def _cases() -> dict[str, Callable[[cdk.App], cdk.Stack]]:
    cases: dict[str, Callable[[cdk.App], cdk.Stack]] = {}
    for info in pkgutil.iter_modules(tests.cases.__path__):
        module = importlib.import_module(f"tests.cases.{info.name}")
        for name, factory in module.CASES.items():
            assert name not in cases and name not in STACK_IDS, f"duplicate test case {name}"
            cases[name] = factory
    return cases


CASES = _cases()
ALL_STACKS = [*STACK_IDS, *CASES]


@dataclass
class Assembly:
    outdir: Path
    stacks: dict[str, cdk.Stack]
    report: dict

    def template_path(self, stack_id: str) -> Path:
        return self.outdir / self.stacks[stack_id].template_file

    def template(self, stack_id: str) -> dict:
        return json.loads(self.template_path(stack_id).read_text())

    def logical_id(self, stack_id: str, path: str) -> str:
        """Logical ID of the resource at construct path ``path`` (e.g. 'FanOutStack/Orders/Topic/Resource')."""
        for logical_id, resource in self.template(stack_id)["Resources"].items():
            if resource.get("Metadata", {}).get("aws:cdk:path") == path:
                return logical_id
        raise KeyError(path)

    def resource_id(self, stack_id: str, path: str) -> str:
        """Logical ID of the resource at ``path`` below the stack (e.g. 'Orders/Topic/Resource')."""
        return self.logical_id(stack_id, f"{stack_id}/{path}")

    def resource(self, stack_id: str, path: str) -> dict:
        """The template entry (Type, Properties, DependsOn, Metadata...) of the resource at ``path``."""
        return self.template(stack_id)["Resources"][self.resource_id(stack_id, path)]

    def properties(self, stack_id: str, path: str) -> dict:
        return self.resource(stack_id, path)["Properties"]

    def of_type(self, stack_id: str, resource_type: str) -> dict[str, dict]:
        """Logical ID -> template entry of every resource of ``resource_type``."""
        return {k: r for k, r in self.template(stack_id)["Resources"].items() if r["Type"] == resource_type}


@pytest.fixture(scope="session")
def assembly(tmp_path_factory: pytest.TempPathFactory) -> Assembly:
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = new_app(outdir=str(outdir))
    add_compliance_checks(app)
    stacks = dict(build(app, AppConfig()))
    assert sorted(stacks) == sorted(STACK_IDS), "stacks.STACK_IDS must list what stacks.build creates"
    for name, factory in CASES.items():
        stacks[name] = factory(app)
    try:
        app.synth()
    except RuntimeError as err:  # cdk-nag findings fail synthesis; the gate test reports them
        if "ValidationFailed" not in str(err):
            raise
    report_path = outdir / "validation-report.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else {"pluginReports": []}
    return Assembly(outdir=outdir, stacks=stacks, report=report)


_ASSET_HASH = re.compile(r"[0-9a-f]{64}")


def normalise(template: dict) -> dict:
    """A template without what changes between identical syntheses: asset
    hashes (they follow the source files) and the CDK version metadata."""
    text = _ASSET_HASH.sub("<asset-hash>", json.dumps(template, sort_keys=True))
    data = json.loads(text)
    data.get("Resources", {}).pop("CDKMetadata", None)
    if set(data.get("Conditions", {})) == {"CDKMetadataAvailable"}:
        del data["Conditions"]
    return data
