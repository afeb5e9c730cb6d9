"""The API reference (`make docs`): builds with warnings as errors, and lists every public class and prop.

``scripts/docs.py`` runs pdoc over ``refarch`` (without ``refarch.runtime``) and
renders the narrative pages beside it; it exits 1 on any warning, a reST role
or a link that resolves to nothing, and an undocumented public class, prop or
default. The second half shows each of those checks catches its problem.
About 15-25 s (pdoc imports every module, aws-cdk-lib included).
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import docs  # noqa: E402  (scripts/docs.py)

API_MODULES = ("fanout", "worker_fleet", "streaming", "mobile_push", "database", "edge", "secure", "sizing",
               "tools.sqs_redrive", "tools.kinesis_replay")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site") / "site"
    # The suite's environment (moto's AWS_DEFAULT_REGION=us-east-1, ...) as a user's shell might have it.
    env = {**os.environ, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "docs.py"), str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr[-5000:]
    return out


def _public_classes(module) -> list[type]:
    return [o for n, o in vars(module).items() if inspect.isclass(o) and o.__module__ == module.__name__
            and not n.startswith("_")]


def _props(cls: type) -> list[str]:
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.init]
    if "__init__" in vars(cls):
        return [p for p, v in inspect.signature(cls.__init__).parameters.items() if v.kind == v.KEYWORD_ONLY]
    return []


@pytest.mark.parametrize("name", API_MODULES)
def test_every_public_class_and_prop_is_in_the_reference(site: Path, name: str) -> None:
    module = importlib.import_module(f"refarch.{name}")
    page = (site / "refarch" / f"{name.replace('.', '/')}.html").read_text()
    # A field read whole: "**x**: Default: 2", never a parameter named "x: Default" (pdoc 16's reading).
    garbled = re.findall(r"<strong>[\w.]+: [^<]*</strong>", page)
    assert garbled == [], f"parameters rendered with the text in their name: {garbled[:3]}"
    classes = _public_classes(module)
    assert classes or name.startswith("tools"), f"refarch.{name} has no public class"
    for cls in classes:
        assert f'id="{cls.__name__}"' in page, f"{cls.__name__} is not in the reference"
        for prop in _props(cls):
            assert f'id="{cls.__name__}.{prop}"' in page or f"<strong>{prop}</strong>" in page, \
                f"{cls.__name__}.{prop} is not in the reference"


def test_narrative_pages_and_index(site: Path) -> None:
    for name in docs.PAGES.values():
        assert (site / ("guide.html" if name == "__init__" else f"guide/{name}.html")).is_file()
    questions = (site / "guide" / "questions.html").read_text()
    assert "RDS" in questions and "Aurora" in questions
    index = (site / "index.html").read_text()
    assert "refarch" in index and "guide" in index
    import refarch

    assert f"refarch {refarch.__version__}" in (site / "refarch.html").read_text()


# --- each check catches what it is for -----------------------------------------------------------

BROKEN = '''
"""A module whose docs are broken on purpose."""
from dataclasses import dataclass


@dataclass
class Props:
    """Props.

    :param size: how big.
    :param colour: the colour. Default: red.
    """

    size: int = 1
    colour: str = "red"
    shape: str = "round"


class Thing:
    """A thing; see :class:`Nowhere` and :class:`Props`."""

    def __init__(self, *, size: int = 1) -> None:
        self.size = size


def helper() -> None:
    pass
'''


def test_checks_catch_an_undocumented_prop_a_missing_default_and_a_broken_role(tmp_path: Path,
                                                                               monkeypatch) -> None:
    import pdoc.doc

    (tmp_path / "brokendocs.py").write_text(textwrap.dedent(BROKEN))
    monkeypatch.syspath_prepend(str(tmp_path))
    problems = docs._check_api({"brokendocs": pdoc.doc.Module.from_name("brokendocs")})
    assert "brokendocs.Props: optional prop size does not say its default" in problems
    assert "brokendocs.Props: prop shape is undocumented" in problems
    assert "brokendocs.Thing: :class:`Nowhere` names nothing to link" in problems
    assert not [p for p in problems if "`Props`" in p], "a role naming a class of the module resolves"
    assert "brokendocs.Thing: prop size is undocumented" in problems
    assert "brokendocs.helper: undocumented" in problems
    assert not [p for p in problems if "colour" in p]


def test_link_check_catches_missing_pages_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "a.html").write_text('<a href="b.html#there">ok</a> <a href="b.html#gone">x</a> '
                                     '<a href="c.html">x</a> <a href="https://example.com/">out</a>')
    (tmp_path / "b.html").write_text('<h2 id="there">There</h2>')
    assert docs._check_links(tmp_path) == ["a.html: link to missing anchor b.html#gone",
                                           "a.html: link to missing page c.html"]


def test_narrative_links_to_files_outside_the_site_fail() -> None:
    with pytest.raises(ValueError, match="no page of the site"):
        docs._page_link("docs/fanout.md", "../stacks/fanout_stack.py")
    assert docs._page_link("README.md", "docs/fanout.md#overview") == "guide/fanout.html#overview"
    assert docs._page_link("docs/questions.md", "fanout.md") == "fanout.html"
    assert docs._page_link("docs/questions.md", "../README.md") == "../guide.html"
