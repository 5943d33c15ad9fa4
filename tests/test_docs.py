"""The documentation is self-contained: every relative link resolves, every "theory.md §N" cited in the code names a
section of docs/theory.md, and the license and citation files say what pyproject.toml says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [x for x in links if not re.match(r"[a-z]+://", x)]
    missing = [x for x in local if not (page.parent / x).exists()]
    assert not missing, f"{page.name}: broken links {missing}"


def test_theory_sections_cited_in_the_code_exist():
    theory = (ROOT / "docs" / "theory.md").read_text(encoding="utf-8")
    sections = {int(n) for n in re.findall(r"^## (\d+)\.", theory, re.M)}
    assert sections == set(range(1, 9))
    cited = set()
    for f in [*(ROOT / "src").rglob("*.py"), *(ROOT / "src").rglob("*.j2"), ROOT / "README.md"]:
        for m in re.finditer(r"theory\.md (§§?[\d\-–, §]+)", f.read_text(encoding="utf-8")):
            cited |= {int(n) for n in re.findall(r"\d+", m.group(1))}
    assert cited and cited <= sections, sorted(cited - sections)
    assert "erratum" in theory.lower() and theory.lower().count("erratum") >= 2  # the paper's known misprints


def test_license_and_citation():
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'license = { text = "MIT" }' in pyproject
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    yaml = pytest.importorskip("yaml", reason="PyYAML is not installed; cannot parse CITATION.cff")
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))
    assert cff["cff-version"].startswith("1.2") and cff["license"] == "MIT" and cff["type"] == "software"
    paper = cff["preferred-citation"]
    assert [a["family-names"] for a in paper["authors"]] == ["Zhao", "Behnia", "Vakilian", "Thrampoulidis"]
    assert paper["year"] == 2024 and "COLM" in paper["conference"]["name"]
    assert paper["title"].startswith("Implicit Geometry of Next-token Prediction")
