"""cli/_common.py: the shared options have one definition (flag, help) in every command; generated options."""

from __future__ import annotations

import dataclasses
from typing import Optional

import pytest

typer = pytest.importorskip("typer")

from ntpgeom.cli import app  # noqa: E402
from ntpgeom.cli._common import JSON_HELP, SEED_HELP, THREADS_HELP, config_options, make_config  # noqa: E402
from ntpgeom.errors import ValidationError  # noqa: E402
from ntpgeom.validate import Interval  # noqa: E402

#: the reproduce command keeps its own options until the experiments layer (issue 20, item 4) adopts the shared ones
PENDING = {"reproduce"}


def _commands():
    root = typer.main.get_command(app)
    for name, cmd in root.commands.items():
        for sub, c in (getattr(cmd, "commands", None) or {name: cmd}).items():
            if sub not in PENDING:
                yield f"{name} {sub}" if sub != name else name, c


@pytest.mark.parametrize("flag, help", [("--threads", THREADS_HELP), ("--seed", SEED_HELP), ("--json", JSON_HELP)])
def test_shared_options_mean_one_thing(flag, help):
    seen = []
    for name, cmd in _commands():
        for p in cmd.params:
            if flag in p.opts:
                assert p.help.startswith(help), (name, p.help)
                seen.append(name)
    assert len(seen) >= 2, seen


def test_every_out_and_overwrite_option_is_the_shared_one():
    for name, cmd in _commands():
        for p in cmd.params:
            if "--out" in p.opts:
                assert p.opts == ["-o", "--out"], name
            if "--overwrite" in p.opts:
                assert p.opts == ["--overwrite"] and not p.secondary_opts, name
                assert p.help.startswith("Replace an existing"), name


@dataclasses.dataclass(frozen=True)
class _Config:
    n: int = dataclasses.field(default=3, metadata={"help": "How many.", "flags": ("--n", "-n")})
    flag_on: bool = dataclasses.field(default=False, metadata={"help": "A switch."})
    name: Optional[str] = dataclasses.field(default=None, metadata={"help": "A name."})


def test_config_options_and_make_config():
    opts = config_options(_Config)
    assert list(opts) == ["n", "flag_on", "name"]
    assert opts["n"].default.param_decls == ("--n", "-n") and opts["n"].default.default is None
    assert opts["flag_on"].default.param_decls == ("--flag-on/--no-flag-on",)
    assert "(default: 3)" in opts["n"].default.help  # not "[default: 3]": rich reads it as markup and drops it
    assert make_config(_Config, {"n": 4}, {"n": [Interval(True, 1)]}, ValidationError) == _Config(n=4)
    with pytest.raises(ValidationError, match="^--n must be an integer in .1, inf., got 0$"):
        make_config(_Config, {"n": 0}, {"n": [Interval(True, 1)]}, ValidationError)
