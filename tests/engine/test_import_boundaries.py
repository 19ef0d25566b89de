"""The engine never imports simpy or the wireless model; its config never imports torch."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

SCRIPT = """
import sys
import cosim.engine.config
assert "torch" not in sys.modules, "cosim.engine.config pulled in torch"
import cosim.engine.backend, cosim.engine.standalone, cosim.engine.cli
bad = sorted(m for m in sys.modules if m == "simpy" or m.startswith(("simpy.", "cosim.wireless",
             "cosim.sim")))
assert not bad, bad
print("ok")
"""


def test_engine_import_boundaries() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True, text=True, check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "ok"
