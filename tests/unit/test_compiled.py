"""Which build of the hot path this run tests: compiled (`make test-compiled`) or pure Python.

`make test-compiled` runs the whole suite in a compiled copy of the tree with
MC_EXPECT_COMPILED=1; every other run must import the `.py` sources (a stray compiled module in
a working tree would shadow edits to its source).
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compiled_module_names() -> list[str]:
    """The dotted names of `[tool.mission-control] compiled-modules`."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    paths: list[str] = config["tool"]["mission-control"]["compiled-modules"]
    return [path.removesuffix(".py").replace("/", ".") for path in paths]


def test_the_list_names_the_ingest_hot_path() -> None:
    names = compiled_module_names()
    assert "ingress.views.ingest" in names
    assert "shared.signatures" in names
    assert len(names) == len(set(names))


def test_each_hot_path_module_is_built_as_this_run_expects() -> None:
    compiled = os.environ.get("MC_EXPECT_COMPILED") == "1"
    for name in compiled_module_names():
        origin = str(importlib.import_module(name).__file__)
        assert origin.endswith(".so") is compiled, (name, origin)
        assert Path(origin).resolve().is_relative_to(ROOT), (name, origin)
