"""refarch as a library: the wheel, a fresh app that installs it, and the copy-paste path.

The wheel is built from a clean copy of the sources (``python -m build
--no-isolation`` with the pinned setuptools, so no index is needed) and
installed into a new virtual environment outside the repo. That environment
gets its dependencies (aws-cdk-lib, constructs, cdk-nag, jsii) from the
repo's venv through a ``.pth`` file instead of a download: the test stays
offline and takes seconds, the dependency versions are the pinned ones, and
the wheel's own ``Requires-Dist`` ranges are checked against them. The repo
itself is never on that environment's path (``refarch`` must resolve into the
venv's site-packages, which the app reports back).

The app is laid out by the pinned CDK CLI itself (``cdk init app --language
python --generate-only``: app.py, cdk.json with the current recommended
feature flags, the stack package). Its stack module is replaced by
``tests/fresh_app/every_pattern.py``, the simplest documented example of
every public construct of every pattern, and app.py is run with python as
the CLI runs it (``CDK_OUTDIR``, ``CDK_CONTEXT_JSON`` from cdk.json and
cdk.context.json). A second case runs the same app with an older app's
context: no feature flags at all.

Timing (2 shared cores): build and venv ~5-10 s, each fresh-app synth ~7-20 s,
each copy-paste synth ~3-16 s (about 2 minutes in all under load).
"""

from __future__ import annotations

import email
import importlib
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"
EVERY_PATTERN = Path(__file__).resolve().parent / "fresh_app" / "every_pattern.py"
PATTERNS = ("fanout", "worker_fleet", "streaming", "mobile_push", "database", "edge", "mutual_tls", "amazon_mq")
RUNTIME_USED = ("worker", "mobile_push", "mq_bridge")  # runtime directories the simplest examples bundle

APP_PY = '''#!/usr/bin/env python3
import json
import os

import aws_cdk as cdk

import refarch
from shop.every_pattern import add_every_pattern, constructs_used

app = cdk.App()
patterns = os.environ.get("REFARCH_PATTERNS")
add_every_pattern(app, patterns.split(",") if patterns else None)
app.synth()

with open(os.environ["FRESH_APP_REPORT"], "w") as report:
    json.dump({"refarch": refarch.__file__, "constructs": constructs_used(app)}, report)
'''


def _run(*args: str | Path, cwd: Path, env: dict[str, str] | None = None, timeout: int = 600) -> str:
    result = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=timeout, check=False)
    command = " ".join(map(str, args))
    assert result.returncode == 0, f"{command} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    return result.stdout


def _clean_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell has: no PYTHONPATH (the repo is not importable), node for jsii."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "JSII_NODE", "JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION",
            "CDK_DISABLE_CLI_TELEMETRY")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    return {**env, "CDK_VALIDATION": os.environ.get("CDK_VALIDATION", "false"), **extra}


# --- the wheel -------------------------------------------------------------------


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``python -m build`` on a clean copy of what the sdist and wheel are built from."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "MANIFEST.in"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "refarch", src / "refarch", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("dist")
    # No --wheel/--sdist: the sdist first, then the wheel built from the unpacked sdist, so the sdist is complete.
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", out, src, cwd=src)
    return out


def _wheel(dist: Path) -> Path:
    (wheel,) = dist.glob("refarch-*.whl")
    return wheel


def test_wheel_and_sdist_carry_the_library_and_its_runtime_only(dist: Path) -> None:
    import refarch

    names = zipfile.ZipFile(_wheel(dist)).namelist()
    assert _wheel(dist).name == f"refarch-{refarch.__version__}-py3-none-any.whl"
    assert {n.split("/")[0] for n in names} == {"refarch", f"refarch-{refarch.__version__}.dist-info"}
    expected = {str(p.relative_to(ROOT)) for p in (ROOT / "refarch").rglob("*")
                if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert expected <= set(names), f"the wheel lacks {sorted(expected - set(names))}"
    for asset in ("refarch/runtime/worker/Dockerfile", "refarch/runtime/worker/requirements.txt",
                  "refarch/runtime/mobile_push/platform_application.py", "refarch/py.typed"):
        assert asset in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    (sdist,) = dist.glob("refarch-*.tar.gz")
    import tarfile

    members = tarfile.open(sdist).getnames()
    assert not [m for m in members if re.search(r"/(tests|stacks|scripts)/", m)], "the sdist carries the app or tests"
    assert f"refarch-{refarch.__version__}/refarch/runtime/worker/Dockerfile" in members


def test_wheel_metadata_ranges_not_pins(dist: Path) -> None:
    with zipfile.ZipFile(_wheel(dist)) as wheel:
        meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        meta = email.message_from_bytes(wheel.read(meta_name))
    requires = [Requirement(r) for r in meta.get_all("Requires-Dist")]
    core = {r.name: r for r in requires if r.marker is None}
    extras = {r.name: r for r in requires if r.marker is not None}
    assert set(core) == {"aws-cdk-lib", "constructs"}
    assert set(extras) == {"cdk-nag"} and 'extra == "nag"' in str(extras["cdk-nag"].marker)
    pins = dict(line.split("==") for line in (ROOT / "requirements.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for req in [*core.values(), *extras.values()]:
        assert "==" not in str(req.specifier), f"{req} pins an exact version: users need a range"
        assert req.specifier.contains(pins[req.name]), f"{req} excludes the repo's pin {pins[req.name]}"
        major = int(pins[req.name].split(".")[0])
        assert not req.specifier.contains(f"{major + 1}.0.0"), f"{req} admits the next major version"
    assert meta["Requires-Python"] == ">=3.11"
    import tomllib

    import refarch

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and project["dynamic"] == ["version"], "the version lives in refarch/__init__.py"
    assert meta["Version"] == refarch.__version__


# --- a fresh environment and a fresh app -----------------------------------------


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new venv outside the repo with the wheel installed; dependencies from the repo's venv (.pth)."""
    home = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", home / "env", cwd=home)
    python = home / "env" / "bin" / "python"
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home).strip())
    (site / "_refarch_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", "--no-warn-script-location", _wheel(dist), cwd=home)
    return home / "env"


def test_wheel_dependencies_are_satisfied_in_the_venv(venv: Path, dist: Path) -> None:
    check = (
        "import importlib.metadata as md, json\n"
        "from packaging.requirements import Requirement\n"
        "reqs = [Requirement(r) for r in md.requires('refarch')]\n"
        "print(json.dumps({str(r): r.specifier.contains(md.version(r.name)) for r in reqs}))\n"
    )
    verdicts = json.loads(_run(venv / "bin" / "python", "-c", check, cwd=venv, env=_clean_env()))
    assert verdicts and all(verdicts.values()), verdicts


def _new_app(where: Path) -> Path:
    """``cdk init app --language python`` (files only), the stack module replaced by every pattern."""
    where.mkdir()
    _run("node", CLI, "init", "app", "--language", "python", "--generate-only", cwd=where,
         env=_clean_env(CDK_DISABLE_CLI_TELEMETRY="true"))
    package = where / where.name
    assert (where / "cdk.json").is_file() and (package / f"{where.name}_stack.py").is_file()
    shutil.copy(EVERY_PATTERN, package / "every_pattern.py")
    (where / "app.py").write_text(APP_PY)
    shutil.copy(ROOT / "cdk.context.json", where / "cdk.context.json")  # the committed AZ lookups
    return where


def _synth(app_dir: Path, python: Path, *, flags: bool, patterns: str = "") -> dict:
    cdk_json = json.loads((app_dir / "cdk.json").read_text())
    context = dict(cdk_json["context"])
    if not flags:  # an older app: every feature flag at its legacy default
        context = {k: v for k, v in context.items() if not k.startswith("@aws-cdk")}
    context.update(json.loads((app_dir / "cdk.context.json").read_text()))
    out = app_dir / ("cdk.out" if flags else "cdk.out.legacy")
    report = app_dir / f"report-{flags}.json"
    assert cdk_json["app"].startswith("python3 app.py")
    _run(python, "app.py", cwd=app_dir, env=_clean_env(
        CDK_OUTDIR=str(out), CDK_CONTEXT_JSON=json.dumps(context), FRESH_APP_REPORT=str(report),
        REFARCH_PATTERNS=patterns))
    manifest = json.loads((out / "manifest.json").read_text())
    assert not manifest.get("missing"), f"the app needs lookups: {manifest['missing']}"
    templates = sorted(p.name for p in out.glob("*.template.json"))
    return {**json.loads(report.read_text()), "out": out, "templates": templates}


def _public_constructs(module_names: list[str], python: Path, cwd: Path) -> set[str]:
    """Every public Construct subclass each module defines, as the installed or copied package has it."""
    listing = (
        "import importlib, inspect, json, sys\n"
        "from constructs import Construct\n"
        "found = []\n"
        "for name in sys.argv[1:]:\n"
        "    module = importlib.import_module(name)\n"
        "    found += [f'{name}.{n}' for n, o in vars(module).items() if inspect.isclass(o)\n"
        "              and o.__module__ == name and issubclass(o, Construct) and not n.startswith('_')]\n"
        "print(json.dumps(found))\n"
    )
    return set(json.loads(_run(python, "-c", listing, *module_names, cwd=cwd, env=_clean_env())))


def _files(directory: Path, exclude: tuple[str, ...] = ()) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc" and p.name not in exclude}


@pytest.fixture(scope="module")
def fresh_app(venv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _new_app(tmp_path_factory.mktemp("fresh") / "shop")


@pytest.mark.parametrize("flags", [True, False], ids=["recommended-flags", "no-flags"])
def test_fresh_app_synthesizes_every_construct_from_the_wheel(fresh_app: Path, venv: Path, flags: bool) -> None:
    python = venv / "bin" / "python"
    result = _synth(fresh_app, python, flags=flags)
    # refarch came from the wheel in the venv, not from the repo.
    assert Path(result["refarch"]).resolve().is_relative_to(venv.resolve()), result["refarch"]
    assert not Path(result["refarch"]).resolve().is_relative_to(ROOT)
    public = _public_constructs([f"refarch.{p}" for p in PATTERNS] + ["refarch.secure"], python, fresh_app)
    assert len(public) >= 15
    assert public - set(result["constructs"]) == set(), "public constructs the fresh app does not reach"
    assert len(result["templates"]) == 10
    # The assets bundle the same code as from the repo: the staged directories equal refarch/runtime/<x>.
    staged = [_files(d) for d in result["out"].glob("asset.*") if d.is_dir()]
    for name in RUNTIME_USED:
        repo = _files(ROOT / "refarch" / "runtime" / name)
        assert any(s == repo or s == {k: v for k, v in repo.items() if k != "Dockerfile"} for s in staged), \
            f"no asset carries refarch/runtime/{name} as the repo has it"


def test_fresh_app_layout_is_cdk_init(fresh_app: Path) -> None:
    cdk_json = json.loads((fresh_app / "cdk.json").read_text())
    flags = [k for k in cdk_json["context"] if k.startswith("@aws-cdk")]
    assert len(flags) > 50, "cdk init writes the current recommended feature flags"
    assert (fresh_app / "requirements.txt").read_text().count("aws-cdk-lib") == 1


# --- the copy-paste path ---------------------------------------------------------


def _named_files(pattern: str) -> list[Path]:
    """The files a pattern module's docstring says to copy along (``Copy this file with ...``)."""
    doc = importlib.import_module(f"refarch.{pattern}").__doc__
    sentence = re.search(r"Copy this file with(.*?)to\s+use\s+it", doc, re.S)
    assert sentence, f"refarch/{pattern}.py's docstring does not say what to copy along"
    named = []
    for name in re.findall(r"``([^`]+)``", sentence.group(1)):
        path = ROOT / "refarch" / name.removeprefix("refarch/")
        assert path.exists(), f"refarch/{pattern}.py's docstring names {name}, which does not exist"
        named.append(path)
    return named


@pytest.mark.parametrize("pattern", PATTERNS)
def test_copied_pattern_synthesizes_in_a_fresh_app(pattern: str, tmp_path: Path) -> None:
    app_dir = _new_app(tmp_path / "shop")
    package = app_dir / "refarch"  # the user's own package; nothing installed
    package.mkdir()
    (package / "__init__.py").write_text("")
    for path in [ROOT / "refarch" / f"{pattern}.py", *_named_files(pattern)]:
        target = package / path.relative_to(ROOT / "refarch")
        if path.is_dir():
            shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target)
    result = _synth(app_dir, Path(sys.executable), flags=True, patterns=pattern)
    assert Path(result["refarch"]).resolve().is_relative_to(app_dir.resolve())
    public = _public_constructs([f"refarch.{pattern}"], Path(sys.executable), app_dir)
    assert public and public - set(result["constructs"]) == set()
    assert result["templates"]


def test_package_data_paths_are_package_relative() -> None:
    # A construct finds its runtime beside its own module: from site-packages as from the repo.
    for module, attribute in (("worker_fleet", "WORKER_RUNTIME"), ("mobile_push", "RUNTIME"),
                              ("streaming", "CONSUMERS_ACTIVE_RUNTIME")):
        mod = importlib.import_module(f"refarch.{module}")
        path = getattr(mod, attribute)
        assert path.is_dir() and path.parent == Path(inspect.getfile(mod)).parent / "runtime"


def test_no_construct_reads_an_asset_relative_to_the_working_directory_or_the_repo() -> None:
    # Code.from_asset("refarch/runtime/...") works only from the repo root; parents[1] points at the checkout.
    import ast

    for path in sorted((ROOT / "refarch").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") in ("from_asset", "from_docker_build"):
                assert not (node.args and isinstance(node.args[0], ast.Constant)), \
                    f"{path.name}:{node.lineno} reads an asset from a path relative to the working directory"
            if isinstance(node, ast.Subscript) and getattr(node.value, "attr", "") == "parents":
                raise AssertionError(f"{path.name}:{node.lineno} climbs out of the package (parents[...])")

