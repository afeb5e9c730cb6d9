#!/usr/bin/env python3
"""Integration apps (tests/integ/integ_*.py): offline snapshot check, and a
real run in the caller's account.

    python scripts/integ.py check              # offline: synthesize each app, compare with its snapshot
    python scripts/integ.py update             # offline: rewrite the snapshots after an intended change
    python scripts/integ.py run [fanout ...] [-c key=value ...]   # deploy, assert, destroy; `make integ`

Why not integ-runner: the newest @aws-cdk/integ-runner on npm (2.197.10)
bundles a toolkit that reads cloud-assembly schema 53 at most, and
aws-cdk-lib 2.275 writes schema 55 ("Maximum schema version supported is
53.x.x, but found 55.0.0"), for its snapshot check as for its deploys. The
apps are written for integ-runner (``IntegTest``, ``integ.json``, its file
naming); this script does what integ-runner does with them through the pinned
CDK CLI (package.json): deploy the test stacks and the assertion stack, read
the assertion results, destroy. Switch `make integ` to integ-runner once a
release reads schema 55.

The snapshot of an app is its templates and ``integ.json``, with asset
hashes replaced by a placeholder (as integ-runner's snapshot check
canonicalizes them) and the assertions' salt (the synthesis time) too, under ``tests/integ/<app>.py.snapshot/``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTEG = ROOT / "tests" / "integ"
CDK = ["node", str(ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"), "--no-notices"]
#: integ-runner's placeholders for the offline synthesis
SNAPSHOT_ENV = {"CDK_INTEG_ACCOUNT": "12345678", "CDK_INTEG_REGION": "test-region"}
_ASSET_HASH = re.compile(r"[0-9a-f]{64}")
#: the assertions' custom resources carry the synthesis time, so they run on every deploy
_SALT = re.compile(r'"salt": "[0-9]+"')


def apps() -> list[Path]:
    return sorted(INTEG.glob("integ_*.py"))


def snapshot_dir(app: Path) -> Path:
    return app.with_name(app.name + ".snapshot")


def context() -> dict:
    """The context `cdk synth` gives app.py: cdk.json's flags and cdk.context.json's lookups."""
    ctx = dict(json.loads((ROOT / "cdk.json").read_text()).get("context", {}))
    lookups = ROOT / "cdk.context.json"
    if lookups.exists():
        ctx.update(json.loads(lookups.read_text()))
    return ctx


def synthesize(app: Path, outdir: Path) -> subprocess.CompletedProcess:
    # No bundling offline (as `cdk synth --exclusively` of no stack): the database probe's needs pip.
    # Path metadata as `cdk deploy` writes it (the templates the gates check are the ones deployed; cfn-lint
    # tells a CDK template by it); the snapshot leaves it out, as integ-runner's does (``canonical``).
    ctx = {**context(), "aws:cdk:bundling-stacks": [], "aws:cdk:enable-path-metadata": True}
    env = {**os.environ, **SNAPSHOT_ENV, "CDK_OUTDIR": str(outdir), "CDK_CONTEXT_JSON": json.dumps(ctx)}
    for var in ("CDK_DEFAULT_ACCOUNT", "CDK_DEFAULT_REGION"):
        env.pop(var, None)
    return subprocess.run([sys.executable, app.name], cwd=INTEG, env=env, capture_output=True, text=True)


def canonical(outdir: Path) -> dict[str, str]:
    """File name -> canonical text, for the templates and integ.json."""
    files = {}
    for path in sorted([*outdir.glob("*.template.json"), outdir / "integ.json"]):
        data = json.loads(path.read_text())
        for resource in data.get("Resources", {}).values():
            metadata = resource.get("Metadata", {})
            metadata.pop("aws:cdk:path", None)
            if "Metadata" in resource and not metadata:
                del resource["Metadata"]
        text = _ASSET_HASH.sub("ASSET-HASH", json.dumps(data, indent=1, sort_keys=True))
        files[path.name] = _SALT.sub('"salt": "SALT"', text) + "\n"
    return files


def compare(app: Path, *, update: bool = False, keep: Path | None = None) -> list[str]:
    """Problems with ``app``'s snapshot (empty when it matches); with ``update``, rewrite it;
    with ``keep``, the synthesized templates and ``integ.json`` are copied there as synthesized."""
    with tempfile.TemporaryDirectory() as tmp:
        result = synthesize(app, Path(tmp) / "out")
        if result.returncode != 0:
            return [f"{app.name}: synthesis failed:\n{result.stderr[-4000:]}"]
        got = canonical(Path(tmp) / "out")
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            for path in [*(Path(tmp) / "out").glob("*.template.json"), Path(tmp) / "out" / "integ.json"]:
                shutil.copy(path, keep / path.name)
    snap = snapshot_dir(app)
    if update:
        snap.mkdir(exist_ok=True)
        for old in snap.iterdir():
            old.unlink()
        for name, text in got.items():
            (snap / name).write_text(text)
        return []
    want = {p.name: p.read_text() for p in sorted(snap.glob("*.json"))} if snap.exists() else {}
    problems = [f"{app.name}: {name} missing from the snapshot" for name in got.keys() - want.keys()]
    problems += [f"{app.name}: {name} in the snapshot but no longer synthesized" for name in want.keys() - got.keys()]
    for name in sorted(got.keys() & want.keys()):
        if got[name] != want[name]:
            problems.append(f"{app.name}: {name} differs from the snapshot ({_first_diff(want[name], got[name])})")
    return problems


def _first_diff(a: str, b: str) -> str:
    for i, (x, y) in enumerate(zip(a.splitlines(), b.splitlines()), 1):
        if x != y:
            return f"line {i}: {x.strip()!r} -> {y.strip()!r}"
    return "length differs"


def check(update: bool = False) -> int:
    with ThreadPoolExecutor(max_workers=2) as pool:
        problems = [p for ps in pool.map(lambda a: compare(a, update=update), apps()) for p in ps]
    for p in problems:
        print(p)
    if problems:
        print("snapshot check failed; after an intended change: python scripts/integ.py update")
    else:
        print(f"{'updated' if update else 'matched'}: {len(apps())} integration app snapshots")
    return 1 if problems else 0


# --- a real run ----------------------------------------------------------------


#: Apps that deploy nothing useful without context: (alternatives, why, how); each
#: alternative is a set of keys that must all be given, one alternative is enough.
NEEDS_CONTEXT = {
    "mobile_push": ((("push_apns_secret",), ("push_fcm_secret",)),
                    "SNS needs real APNs or FCM credentials to create a platform application",
                    "create a secret (docs/mobile-push.md, Credentials) and pass "
                    "INTEG_CONTEXT='-c push_fcm_secret=<name>' (and/or push_apns_secret)"),
    "mutual_tls": ((("mtls_domain", "mtls_hosted_zone_id"),),
                   "ACM validates the listener's certificate by DNS in a real public hosted zone",
                   "pass INTEG_CONTEXT='-c mtls_domain=<name directly below the zone> "
                   "-c mtls_hosted_zone_id=<the zone ID>'"),
}


def _given(context: list[str], key: str) -> bool:
    return any(arg.startswith(f"{key}=") and len(arg) > len(key) + 1 for arg in context)


def _cdk(app: Path, *args: str, log, context: list[str] = ()) -> int:
    cmd = [*CDK, "--app", f"{sys.executable} {app.relative_to(ROOT)}", *context, *args]
    print("$", " ".join(cmd), file=log, flush=True)
    return subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT).returncode


def run_one(app: Path, logdir: Path, context: list[str]) -> tuple[str, str, float, str]:
    """Deploy the app's stacks (the assertion stack runs the assertions while it
    deploys), read the assertion results, destroy. (name, PASS/FAIL/SKIPPED, minutes, detail)"""
    name = app.stem.removeprefix("integ_")
    if name in NEEDS_CONTEXT:
        alternatives, why, how = NEEDS_CONTEXT[name]
        if not any(all(_given(context, k) for k in keys) for keys in alternatives):
            return name, "SKIPPED", 0.0, f"{why}: {how}"
    started = time.monotonic()
    outputs = logdir / f"{name}.outputs.json"
    with open(logdir / f"{name}.log", "w") as log:
        deployed = _cdk(app, "deploy", "--all", "--require-approval", "never", "--outputs-file", str(outputs),
                        "--progress", "events", log=log, context=context)
        failures = []
        if deployed != 0:
            failures.append(f"deploy failed (an assertion that waits fails the deploy): see {log.name}")
        if outputs.exists():
            for stack, values in json.loads(outputs.read_text()).items():
                for key, value in values.items():
                    if key.startswith("AssertionResults") and '"fail"' in str(value):
                        failures.append(f"{stack}.{key}: {value}")
        destroyed = _cdk(app, "destroy", "--all", "--force", log=log, context=context)
        if destroyed != 0:
            failures.append(f"destroy failed: delete the stacks by hand (see {log.name})")
    minutes = (time.monotonic() - started) / 60
    return name, "FAIL" if failures else "PASS", minutes, "; ".join(failures)


def run(args: list[str]) -> int:
    context, names, rest = [], [], iter(args)
    for arg in rest:
        if arg == "-c":
            context += ["-c", next(rest)]
        elif arg.startswith("-c"):
            context += ["-c", arg[2:]]
        else:
            names.append(arg)
    chosen = [a for a in apps() if not names or a.stem.removeprefix("integ_") in names]
    if not chosen:
        print(f"no integration app named {names}; have: {[a.stem.removeprefix('integ_') for a in apps()]}")
        return 2
    logdir = ROOT / "cdk.out" / "integ"
    logdir.mkdir(parents=True, exist_ok=True)
    print(f"integ: {len(chosen)} app(s), one after another, in the account and region of your credentials; "
          f"logs in {logdir}", flush=True)
    results = []
    for app in chosen:
        results.append(run_one(app, logdir, context))
        print(f"  {results[-1][0]}: {results[-1][1]} ({results[-1][2]:.1f} min)", flush=True)
    print("\npattern        result  minutes  detail")
    for name, status, minutes, detail in results:
        print(f"{name:<14} {status:<7} {minutes:7.1f}  {detail}")
    print(f"logs: {logdir}")
    return 0 if all(r[1] in ("PASS", "SKIPPED") for r in results) else 1


if __name__ == "__main__":
    command, *rest = sys.argv[1:] or ["check"]
    if command == "check":
        sys.exit(check())
    if command == "update":
        sys.exit(check(update=True))
    if command == "run":
        sys.exit(run(rest))
    print(__doc__)
    sys.exit(2)
