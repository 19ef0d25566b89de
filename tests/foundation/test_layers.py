"""The layers of docs/architecture.md, checked on every import in the package.

Imports are read from the source (every ``import`` statement, including those
inside functions, which is where command handlers import their work), so a
back-edge taken only when a command runs is caught too. A second test imports
every module that a command handler imports, so a handler naming a module that
moved fails here rather than in a user's terminal.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "cosim"

# Package → the only cosim packages/modules its modules may import (besides its own).
ALLOWED: dict[str, tuple[str, ...]] = {
    "cosim.config": ("cosim.errors",),
    "cosim.wireless": ("cosim.config", "cosim.errors"),
    # The engine implements the simulator's interface and nothing else of the simulator.
    "cosim.engine": ("cosim.config", "cosim.errors", "cosim.sim.backend"),
    "cosim.trace": ("cosim", "cosim.errors"),
    "cosim.analysis": ("cosim.trace", "cosim.errors"),
    "cosim.channels": ("cosim.wireless", "cosim.trace", "cosim.config", "cosim.errors"),
    "cosim.sim": ("cosim.sim", "cosim.wireless", "cosim.engine", "cosim.channels", "cosim.trace",
                  "cosim.analysis", "cosim.config", "cosim.errors", "cosim.scenario",
                  "cosim.scenario_paths"),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every absolute ``cosim`` module a file imports, at any depth."""
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "cosim")
        elif (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module
              and node.module.split(".")[0] == "cosim"):
            out.add(node.module)
    return out


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_import_respects_the_layers() -> None:
    graph = _graph()
    assert any(_within(m, "cosim.cli") for m in graph)  # the scan sees the CLI layer
    bad = []
    for module, targets in graph.items():
        for target in sorted(targets):
            if _within(target, "cosim.cli") and not _within(module, "cosim.cli") \
                    and module != "cosim.__main__":
                bad.append(f"{module} -> {target} (only the CLI layer imports cosim.cli)")
            for package, allowed in ALLOWED.items():
                if _within(module, package) and not _within(target, package) and not any(
                        target == a or (a != "cosim" and _within(target, a)) for a in allowed):
                    bad.append(f"{module} -> {target} ({package} may import {allowed})")
    assert not bad, "\n".join(bad)


def test_a_back_edge_would_be_caught(tmp_path: Path) -> None:
    """The scanner sees imports inside functions (the way handlers import)."""
    f = tmp_path / "m.py"
    f.write_text("def handler():\n    from cosim.sim.runner import run_scenario\n")
    assert _imports(f) == {"cosim.sim.runner"}


def test_every_module_a_command_handler_imports_exists() -> None:
    handlers = sorted((PACKAGE / "cli").glob("*.py"))
    targets = sorted({t for p in handlers for t in _imports(p)})
    assert "cosim.sim.runner" in targets and "cosim.sim.wireless_only" in targets
    # In this process: a fresh interpreter would re-import torch (seconds) to
    # learn the same thing; a target that does not exist raises here all the same.
    missing = []
    for target in targets:
        try:
            importlib.import_module(target)
        except ImportError as error:
            missing.append(f"{target}: {error}")
    assert not missing, "\n".join(missing)
