"""The documentation site (mkdocs.yml): its generated pages are current, every public name of ``import ntpgeom``
has an API entry, and ``mkdocs build --strict`` passes (a broken link, a docstring griffe cannot parse or a stale
reference fails it)."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

import ntpgeom

ROOT = Path(__file__).resolve().parents[1]


def _gen():
    spec = importlib.util.spec_from_file_location("ntpgeom_docs_gen_pages", ROOT / "docs" / "gen_pages.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_generated_pages_are_current():
    stale = [str(p.relative_to(ROOT)) for p, text in _gen().pages().items()
             if not p.is_file() or p.read_text(encoding="utf-8") != text]
    assert not stale, f"regenerate with `PYTHONPATH=src python docs/gen_pages.py`: {stale}"


def test_every_public_name_has_an_api_entry():
    index = (ROOT / "docs" / "api" / "index.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `ntpgeom\.(\w+)` \|", index, re.M))
    assert set(ntpgeom.__all__) - {"__version__"} | {"train", "probe"} == listed


def test_every_markdown_page_is_in_the_nav():
    yml = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    nav = set(re.findall(r"^\s+- (?:[^:\n]+: )?([\w\-/]+\.md)$", yml, re.M))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")}
    assert pages == nav, (sorted(pages - nav), sorted(nav - pages))


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (pip install -e '.[docs]')")
    pytest.importorskip("mkdocstrings_handlers.python", reason="mkdocstrings[python] is not installed (the docs extra)")
    env = {"PYTHONPATH": str(ROOT / "src"), "NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"}
    res = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path / "site")],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    for page, anchor in (("verdicts", "ntpgeom.verdicts.assess.assess"), ("theory", "ntpgeom.theory.bundle.compute_theory"),
                         ("train", "ntpgeom.train.loop.train"), ("probe", "ntpgeom.probe.run.probe")):
        html = (tmp_path / "site" / "api" / page / "index.html").read_text(encoding="utf-8")
        assert f'id="{anchor}"' in html, (page, anchor)
        assert "Parameters:" in html or "Parameters</" in html
    api = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "site" / "api").rglob("index.html"))
    assert not re.search(r":(class|func|meth|mod|data|attr|exc):", api)  # docs/hooks.py renders the roles as code


def _public_functions():
    import inspect

    from ntpgeom.probe.run import probe
    from ntpgeom.train.loop import train

    objs = [(n, getattr(ntpgeom, n)) for n in ntpgeom.__all__] + [("train", train), ("probe", probe)]
    return [(n, o) for n, o in objs if inspect.isfunction(o)]


@pytest.mark.parametrize("name,fn", _public_functions(), ids=lambda x: x if isinstance(x, str) else "")
def test_public_functions_have_numpydoc_sections(name, fn):
    import inspect

    doc = inspect.getdoc(fn) or ""
    for section in ("Parameters", "Returns"):
        assert re.search(rf"^{section}\n-{{{len(section)}}}$", doc, re.M), f"{name}: no {section} section"


#: examples that train or import PyTorch (seconds): run with the slow tests
SLOW_EXAMPLES = {"load_run", "assess"}


@pytest.mark.parametrize("name,fn", [pytest.param(n, f, marks=[pytest.mark.slow] if n in SLOW_EXAMPLES else [], id=n)
                                     for n, f in _public_functions() if ">>>" in (f.__doc__ or "")])
def test_docstring_examples_run(name, fn):
    import doctest

    finder, runner = doctest.DocTestFinder(recurse=False), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for t in finder.find(fn, name, globs={}):
        result = runner.run(t)
        assert result.failed == 0, f"{name}: {result.failed} example(s) failed (run with -s to see them)"
