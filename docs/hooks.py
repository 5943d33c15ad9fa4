"""MkDocs hook (mkdocs.yml ``hooks:``): the docstrings' Sphinx roles (``:class:`~ntpgeom.x.Name```) as plain code in
the rendered API pages (``Name`` for a ``~`` target, the full target otherwise), so that no ``:class:`` text shows."""

from __future__ import annotations

import re

_ROLES = "class|func|meth|mod|data|attr|exc|obj"
_ROLE = re.compile(rf":(?:{_ROLES}):<code>(~?)([^<]*)</code>")
_RAW = re.compile(rf":(?:{_ROLES}):`(~?)([^`<]*)`")  # where the docstring's markdown was not rendered


def _plain(m: re.Match) -> str:
    target = m.group(2)
    return f"<code>{target.rsplit('.', 1)[-1] if m.group(1) else target}</code>"


def on_page_content(html: str, **kwargs) -> str:
    return _RAW.sub(_plain, _ROLE.sub(_plain, html))
