"""Packaging: ranges in pyproject.toml, the exact tested set in constraints.txt."""

from __future__ import annotations

import re
import tomllib

from packaging.requirements import Requirement
from packaging.version import Version

from tests.conftest import REPO


def _pins() -> dict[str, Version]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = Version(version)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    for extra in project["optional-dependencies"].values():
        reqs += [Requirement(r) for r in extra]
    return reqs


def test_every_dependency_is_pinned_inside_its_range() -> None:
    pins = _pins()
    for req in _requirements():
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        assert name in pins, f"{req.name} has no pin in constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (req, pins[name])


def test_torch_is_pinned_exactly_and_unused_packages_are_not_declared() -> None:
    reqs = {r.name.lower(): r for r in _requirements()}
    assert str(reqs["torch"].specifier) == "==2.13.0"
    assert "rich" not in reqs and "sentencepiece" not in reqs
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    core = {Requirement(r).name for r in project["dependencies"]}
    assert not {"dask", "distributed"} & core  # an optional extra
    assert "-c constraints.txt" in (REPO / "Makefile").read_text()


def test_cosim_never_imports_rich_sentencepiece_or_dask_at_top_level() -> None:
    for path in (REPO / "cosim").rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"^\s*(import|from) (rich|sentencepiece)\b", text, re.M), path
        assert not re.search(r"^(import|from) (dask|distributed)\b", text, re.M), path
