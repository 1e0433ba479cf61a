"""Optional build step: compile the ingest hot path with mypyc (`MC_COMPILE=1 pip install .`).

Everything else about the package is in pyproject.toml, and without MC_COMPILE=1 this adds
nothing: editable and plain installs stay pure Python. The modules are listed under
`[tool.mission-control] compiled-modules`; docs/operations.md ("Compiled hot path") says when
to use it. Compile only into a wheel or a copy of the tree (`scripts/compile-copy`), never
in a working tree you edit: Python imports a compiled module before its `.py` source.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from setuptools import setup

with (Path(__file__).parent / "pyproject.toml").open("rb") as file:
    PYPROJECT = tomllib.load(file)


def compiled_modules() -> list[str]:
    """The module paths to compile, from pyproject.toml."""
    modules: list[str] = PYPROJECT["tool"]["mission-control"]["compiled-modules"]
    return modules


def compile_requirements() -> list[str]:
    """What the build needs: mypy (which brings mypyc) and, since mypyc compiles from the
    types, the runtime dependencies and the stubs the type check uses."""
    dependencies: list[str] = PYPROJECT["project"]["dependencies"]
    return ["mypy>=1.10", "asyncpg-stubs>=0.29", *dependencies]


if os.environ.get("MC_COMPILE") == "1":
    try:
        from mypyc.build import mypycify
    except ImportError:
        # pip first asks what the build needs, installs it, then runs this again.
        setup(setup_requires=compile_requirements())
        raise
    setup(ext_modules=mypycify(compiled_modules(), opt_level="3"))
else:
    setup()
