"""The layout rules the README promises, checked on the source itself."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = sorted(p for p in (ROOT / "refarch").glob("*.py") if p.stem not in {"__init__", "secure", "observe", "sizing"})


def _copyable(name: str) -> bool:
    return name.split(".")[0] in {"aws_cdk", "constructs"} or name in {"refarch", "refarch.secure", "refarch.observe", "refarch.sizing"}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{a.name}" for a in node.names if node.module == "refarch"}
    return found


def _third_party(names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] not in sys.stdlib_module_names and n != "__future__"}


def test_there_are_pattern_modules() -> None:
    assert {p.stem for p in PATTERNS} >= {"fanout", "worker_fleet", "streaming", "mobile_push", "database", "edge"}


@pytest.mark.parametrize("module", PATTERNS, ids=lambda p: p.stem)
def test_pattern_module_is_copyable(module: Path) -> None:
    # aws_cdk, constructs, secure.py, observe.py and sizing.py: nothing else to copy along.
    outside = {n for n in _third_party(_imports(module)) if not _copyable(n)}
    assert outside == set(), f"{module.name} imports {sorted(outside)}"


def test_sizing_is_pure_python() -> None:
    assert _third_party(_imports(ROOT / "refarch" / "sizing.py")) == set()


@pytest.mark.parametrize("shared", ["secure.py", "observe.py"])
def test_shared_module_imports_only_the_cdk(shared: str) -> None:
    # jsii is aws_cdk's own runtime (always installed with it), for the @jsii.implements of an aspect.
    outside = {n for n in _third_party(_imports(ROOT / "refarch" / shared))
               if n.split(".")[0] not in {"aws_cdk", "constructs", "jsii"}}
    assert outside == set()


@pytest.mark.parametrize("path", sorted([*(ROOT / "refarch").glob("*.py"), *(ROOT / "stacks").glob("*.py")]),
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_only_app_py_reads_context_or_environment(path: Path) -> None:
    text = path.read_text()
    for needle in ("try_get_context", "os.environ", "getenv(", "from_lookup("):
        assert needle not in text, f"{path.name} uses {needle}: context, environment and lookups belong in app.py"


# --- the README's claims --------------------------------------------------------

README = (ROOT / "README.md").read_text()


def _catalog() -> list[list[str]]:
    section = README.split("## Catalog", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| pattern")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows]


def test_readme_catalog_names_what_exists() -> None:
    import importlib
    from stacks import STACK_IDS

    rows = _catalog()
    assert len(rows) == len(PATTERNS) + 1, "one catalog row per pattern module, plus refarch.secure"
    for _, constructs, stacks, doc, status in rows:
        names = re.findall(r"`([\w.]+)`", constructs)
        module = importlib.import_module(names[0].rsplit(".", 1)[0] if names[0].count(".") > 1 else names[0])
        for name in names:
            assert hasattr(module, name.rsplit(".", 1)[-1]) or name == module.__name__, f"README names {name}"
        for stack in re.findall(r"`(\w+)`", stacks):  # EdgeOrigin<Region> is one per region
            assert stack in STACK_IDS or stack == "EdgeAccelerator", f"README names stack {stack}"
        link = re.search(r"\]\(([^)]+)\)", doc).group(1)
        assert (ROOT / link).is_file(), f"README links {link}"
        assert status == "ready"


def test_readme_commands_and_context_keys_exist() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for target in re.findall(r"^make (\w+)", README, re.M) + re.findall(r"`make (\w+)`", README):
        assert re.search(rf"^{target}:", makefile, re.M), f"README runs `make {target}`"
    app = (ROOT / "app.py").read_text()
    table = README.split("| context key |", 1)[1].split("\n\n", 1)[0]
    documented = {k for pair in re.findall(r"^\| `(\w+)`(?:, `(\w+)`)?", table, re.M) for k in pair if k}
    read = set(re.findall(r'_context\("(\w+)"\)', app))
    assert documented == read, f"README documents {sorted(documented - read)} that app.py does not read; " \
                               f"app.py reads {sorted(read - documented)} that the README does not document"


def _slug(heading: str) -> str:
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@pytest.mark.parametrize("page", [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_markdown_links_and_anchors_resolve(page: Path) -> None:
    for file, anchor in re.findall(r"\]\(([^)#\s]+\.md)?(?:#([^)\s]+))?\)", page.read_text()):
        target = page.parent / file if file else page
        assert target.is_file(), f"{page.name} links {file}"
        if anchor:
            headings = {_slug(h) for h in re.findall(r"^#+ (.*)$", target.read_text(), re.M)}
            assert anchor in headings, f"{page.name} links {file or ''}#{anchor}, which no heading makes"


def test_every_app_stack_has_termination_protection() -> None:
    # Each app stack holds something that outlives a mistaken `cdk destroy`: queues, streams, keys, logs, data.
    import aws_cdk as cdk

    from stacks import AppConfig, build
    from tests.conftest import new_app

    stacks = build(new_app(), AppConfig())
    assert [name for name, stack in stacks.items() if not stack.termination_protection] == []
    assert all(isinstance(s, cdk.Stack) for s in stacks.values())
