"""The engine never imports simpy, the wireless model or the simulator beyond its interface
(cosim.sim.backend); its config and preset list never import torch; the simulator's interface
imports neither torch nor simpy. (Every import of every module, lazy ones included, is checked
against the layers by tests/foundation/test_layers.py.)"""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

SCRIPT = """
import sys
import cosim.engine.config
assert "torch" not in sys.modules, "cosim.engine.config pulled in torch"
# The scenario front end tells presets from paths by the engine's torch-free list.
import cosim.engine.presets, cosim.scenario_paths, cosim.scenario_checks
assert not {"torch", "transformers"} & set(sys.modules), "the preset list pulled in torch"
import importlib, pkgutil, cosim.engine
for info in pkgutil.walk_packages(cosim.engine.__path__, "cosim.engine."):
    importlib.import_module(info.name)  # every engine module, strategies included
import cosim.cli.engine  # the `cosim engine` command's own module
# The engine implements the simulator's interface (cosim.sim.backend, stdlib only) and
# nothing else of the simulator.
allowed = {"cosim.sim", "cosim.sim.backend"}
bad = sorted(m for m in sys.modules if m == "simpy" or m.startswith(("simpy.", "cosim.wireless",
             "cosim.sim")) and m not in allowed)
assert not bad, bad
import subprocess as _sp
check = "import sys, cosim.sim.backend; assert not {'torch', 'simpy'} & set(sys.modules)"
_sp.run([sys.executable, "-c", check], check=True)
print("ok")
"""


@pytest.mark.slow
def test_engine_import_boundaries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
