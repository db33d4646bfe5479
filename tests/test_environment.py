"""environment.yml lists the same dependencies as pyproject.toml."""
from __future__ import annotations

import re
import tomllib

import yaml

from conftest import ROOT


def _name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_matches_pyproject():
    deps = {_name(d) for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = set()
    for d in env["dependencies"]:
        if isinstance(d, dict):
            names |= {_name(x) for x in d.get("pip", []) if not x.startswith("-e")}
        else:
            names.add(_name(d))
    names -= {"python", "pip"}
    assert names == deps


def test_ci_runs_make_test():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
