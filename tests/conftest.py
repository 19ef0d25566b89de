"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def cosim_command() -> list[str]:
    """The real ``cosim`` console script of this environment."""
    script = Path(sys.executable).parent / "cosim"
    if script.exists():
        return [str(script)]
    found = shutil.which("cosim")
    if found is None:
        pytest.fail("the cosim console script is not installed (run `make setup`)")
    return [found]


@pytest.fixture
def cosim_env() -> dict[str, str]:
    """Environment for CLI subprocesses (quiet, deterministic)."""
    env = dict(os.environ)
    env.setdefault("PYTHONHASHSEED", "0")
    return env
