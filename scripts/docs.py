#!/usr/bin/env python3
"""Build the API reference into ``site/`` (``make docs``): pdoc over ``refarch``, with the narrative pages.

    python scripts/docs.py [OUTDIR]      # default: site/

The API part is generated from the docstrings (reST fields: ``:param x:``) of
``refarch`` and its submodules except ``refarch.runtime`` (code that runs in
AWS, not API). The narrative part is the README, the pattern pages, the
decision guide (``docs/questions.md``), the conventions and the changelog,
rendered by pdoc as the modules of a ``guide`` package built for the purpose
(their Markdown as the module docstring), so both parts share one theme,
navigation and search.

The build fails (exit 1, every problem listed) on:

- any warning pdoc or the import of a module raises (warnings are errors);
- a broken cross-reference: a reST role (``:class:`X```, ``:meth:``,
  ``:func:``, ``:attr:``, ``:mod:``) in a docstring that names nothing pdoc
  can link, or a link in the generated HTML to a page or anchor that does not
  exist;
- an undocumented public class or function, a prop (a keyword-only
  constructor argument or a dataclass field) without ``:param name:`` or an
  attribute docstring, and an optional prop of a construct or props class
  whose text does not say its default.
"""

from __future__ import annotations

import dataclasses
import html.parser
import importlib
import inspect
import os
import re
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Narrative pages: source -> guide module name (page ``guide/<name>.html``).
PAGES = {
    "README.md": "__init__",
    "docs/questions.md": "questions",
    "docs/fanout.md": "fanout",
    "docs/worker-fleet.md": "worker_fleet",
    "docs/streaming.md": "streaming",
    "docs/mobile-push.md": "mobile_push",
    "docs/database.md": "database",
    "docs/edge.md": "edge",
    "docs/mutual-tls.md": "mutual_tls",
    "docs/amazon-mq.md": "amazon_mq",
    "docs/integration.md": "integration",
    "docs/conventions.md": "conventions",
    "CHANGELOG.md": "changelog",
}
EXCLUDED = ("refarch.runtime",)
#: Files and folders under docs/ that narrative pages link but that are no page (generated diagrams,
#: plots): copied into the site at the same path, so the links resolve there too.
ASSETS: set[str] = set()
_ROLE = re.compile(r":(class|meth|func|attr|mod|data|obj):`~?([\w.]+)(?:\(\))?`")


def _site_path(rel: str) -> str | None:
    """Where the page of repo file ``rel`` lands in the site, or None."""
    if rel in PAGES:
        return "guide.html" if PAGES[rel] == "__init__" else f"guide/{PAGES[rel]}.html"
    if rel.startswith("refarch/") and rel.endswith(".py"):
        return rel.removesuffix(".py").removesuffix("/__init__") + ".html"
    return None


def _page_link(source: str, target: str) -> str:
    """A Markdown link target of a narrative page, as the generated site has it."""
    if re.match(r"[a-z]+:", target) or target.startswith("#"):
        return target
    path, _, anchor = target.partition("#")
    rel = (ROOT / source).parent.joinpath(path).resolve().relative_to(ROOT).as_posix()
    page = _site_path(rel)
    if page is None and rel.startswith("docs/") and (ROOT / rel).exists():
        ASSETS.add(rel)
        page = rel
    if page is None:
        raise ValueError(f"{source} links {target}, which is no page of the site")
    link = os.path.relpath(page, os.path.dirname(_site_path(source)) or ".")
    return link + (f"#{anchor}" if anchor else "")


def _guide(tmp: Path) -> None:
    package = tmp / "guide"
    package.mkdir()
    for source, name in PAGES.items():
        text = (ROOT / source).read_text()
        if name == "__init__":  # the README first, then the guide's pages
            text += "\n\n## The guide\n\n" + "\n".join(f"- [{src}]({src})" for src in PAGES if src != source) + "\n"
        text = re.sub(r"\]\(([^)\s]+)\)", lambda m: f"]({_page_link(source, m.group(1))})", text)
        (package / f"{name}.py").write_text(f'__docformat__ = "markdown"\n__doc__ = {text!r}\n')


def _rst_fields_one_name() -> None:
    """pdoc 16 reads a field's name up to the *last* colon of its line, so ``:param x: Default: 2.``
    would render as a parameter named "x: Default". Moving each field's text to an indented next
    line (the same reST) leaves only the name before the colon."""
    import pdoc.docstrings

    original = pdoc.docstrings.rst
    if getattr(original, "refarch_patched", False):
        return

    def rst(contents: str, source_file: Path | None) -> str:
        contents = re.sub(r"^([ \t]*):(param|raises)[ \t]+([\w.*]+):[ \t]*(\S.*)$",
                          lambda m: f"{m[1]}:{m[2]} {m[3]}:\n{m[1]}    {m[4]}", contents, flags=re.M)
        return original(contents, source_file)

    rst.refarch_patched = True
    pdoc.docstrings.rst = rst


# --- checks -------------------------------------------------------------------------------


def _params(doc: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in
            re.finditer(r":param (\w+):(.*?)(?=\n\s*:(?:param|return|raises)|\Z)", doc, re.S)}


def _check_api(modules: dict) -> list[str]:
    """Public classes, functions, props and defaults documented; reST roles resolvable."""
    import pdoc.doc

    problems: list[str] = []
    for name, module in modules.items():
        if not module.docstring:
            problems.append(f"{name}: no module docstring")
        for member in module.flattened_own_members:
            qualname = f"{name}.{member.qualname}"
            for role, target in _ROLE.findall(member.docstring):
                if _resolve(modules, module, member, target) is None:
                    problems.append(f"{qualname}: :{role}:`{target}` names nothing to link")
            if any(part.startswith("_") for part in member.qualname.split(".")):
                continue
            if isinstance(member, pdoc.doc.Class):
                problems += _check_class(qualname, member)
            elif isinstance(member, pdoc.doc.Function) and member.name != "__init__" and not member.docstring:
                if not (isinstance(member.obj, type) or member.name.startswith("_")):
                    problems.append(f"{qualname}: undocumented")
    return problems


def _check_class(qualname: str, cls) -> list[str]:
    import pdoc.doc
    from constructs import Construct

    problems = []
    doc = inspect.getdoc(cls.obj) or ""
    if not doc:
        return [f"{qualname}: undocumented class"]
    params = _params(doc + "\n" + (cls.obj.__init__.__doc__ or "" if "__init__" in vars(cls.obj) else ""))
    if dataclasses.is_dataclass(cls.obj):
        props = [(f.name, f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING)
                 for f in dataclasses.fields(cls.obj) if f.init]
    elif "__init__" in vars(cls.obj):
        signature = inspect.signature(cls.obj.__init__)
        props = [(p, v.default is not inspect.Parameter.empty) for p, v in signature.parameters.items()
                 if v.kind == v.KEYWORD_ONLY]
    else:
        props = []
    is_props = issubclass(cls.obj, Construct) or dataclasses.is_dataclass(cls.obj)
    for prop, optional in props:
        variable = cls.members.get(prop)
        attribute_doc = variable.docstring if isinstance(variable, pdoc.doc.Variable) else ""
        if prop not in params and not attribute_doc:
            problems.append(f"{qualname}: prop {prop} is undocumented")
        elif is_props and optional and prop in params and "default" not in params[prop].lower():
            problems.append(f"{qualname}: optional prop {prop} does not say its default")
    return problems


def _resolve(modules: dict, module, member, target: str):
    """What pdoc would link ``target`` to from ``member``'s docstring, or None."""
    candidates = [target]
    if "." not in target or not target.startswith("refarch"):
        candidates += [f"{module.modulename}.{target}"]
        parent = member.qualname.rsplit(".", 1)[0] if "." in member.qualname else member.qualname
        candidates += [f"{module.modulename}.{parent}.{target}"]
    for candidate in candidates:
        mod_name, _, rest = candidate.partition(".")
        for split in range(candidate.count("."), 0, -1):
            parts = candidate.split(".")
            mod_name, rest = ".".join(parts[:split]), ".".join(parts[split:])
            if mod_name in modules and (modules[mod_name].get(rest) is not None):
                return modules[mod_name].get(rest)
        if candidate in modules:
            return modules[candidate]
    # Names outside refarch (aws_cdk, the standard library) are not linked by pdoc; a role may name
    # them only fully qualified.
    return True if target.split(".")[0] in {"aws_cdk", "constructs", "datetime", "typing"} else None


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for key, value in attrs:
            if key == "href" and value:
                self.hrefs.append(value)
            if key in ("id", "name") and value:
                self.ids.add(value)


def _check_links(site: Path) -> list[str]:
    pages: dict[Path, _Links] = {}
    for page in site.rglob("*.html"):
        parser = _Links()
        parser.feed(page.read_text())
        pages[page.resolve()] = parser
    problems = []
    for page, parser in pages.items():
        for href in parser.hrefs:
            if re.match(r"[a-z]+:", href) or href.startswith("//"):
                continue
            path, _, anchor = href.partition("#")
            target = (page.parent / path).resolve() if path else page
            if target not in pages and target.exists() and target.suffix != ".html":
                continue  # a copied asset (diagram, plot) or its folder
            if target not in pages:
                problems.append(f"{page.relative_to(site.resolve())}: link to missing page {href}")
            elif anchor and anchor not in pages[target].ids:
                problems.append(f"{page.relative_to(site.resolve())}: link to missing anchor {href}")
    return sorted(set(problems))


def build(site: Path) -> list[str]:
    """Build the site; return the problems found (empty: a clean build)."""
    import pdoc
    import pdoc.doc
    import pdoc.extract
    import pdoc.render

    import refarch

    if site.exists():
        shutil.rmtree(site)
    problems: list[str] = []
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _guide(Path(tmp))
        sys.path.insert(0, tmp)
        try:
            _rst_fields_one_name()
            pdoc.render.configure(
                docformat="restructuredtext", mermaid=True, show_source=False,
                footer_text=f"refarch {refarch.__version__}",
            )
            specs = ["refarch", *(f"!{m}" for m in EXCLUDED), *(f"!{m}.*" for m in EXCLUDED), "guide"]
            # Import first: pdoc stubs out subprocess while it imports a module, and jsii (aws_cdk)
            # starts its Node process on import.
            for name in pdoc.extract.walk_specs(specs):
                importlib.import_module(name)
            pdoc.pdoc(*specs, output_directory=site)
            names = [n for n in pdoc.extract.walk_specs(specs) if n.startswith("refarch")]
            modules = {n: pdoc.doc.Module.from_name(n) for n in names}
        finally:
            sys.path.remove(tmp)
        problems += [f"warning: {w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught
                     if not _foreign(w)]
    for rel in sorted(ASSETS):
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, site / rel, dirs_exist_ok=True)
        else:
            shutil.copy2(ROOT / rel, site / rel)
    problems += _check_api(modules)
    problems += _check_links(site)
    return problems


def _foreign(w: warnings.WarningMessage) -> bool:
    """Warnings of third-party packages at import (jsii's Node version notice), not of the docs."""
    return "site-packages" in w.filename and "/pdoc/" not in w.filename


def main() -> int:
    site = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "site"
    # pdoc hides a default value equal to an environment variable's (a secret heuristic), so a shell
    # with AWS_REGION=us-east-1 would turn CLOUDFRONT_REGION into "$AWS_REGION" and warn. refarch
    # never reads the environment (tests/test_layout.py), so its defaults are shown as written.
    os.environ["PDOC_DISPLAY_ENV_VARS"] = "1"
    sys.path.insert(0, str(ROOT))  # the refarch of this checkout
    problems = build(site)
    for problem in problems:
        print(problem, file=sys.stderr)
    if problems:
        print(f"docs: {len(problems)} problem(s); the site in {site} is incomplete", file=sys.stderr)
        return 1
    print(f"docs: API reference and guide in {site}/index.html")
    return 0


if __name__ == "__main__":
    sys.exit(main())
