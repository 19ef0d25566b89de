"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

REPO = Path(__file__).resolve().parents[1]

# Hypothesis budgets. The full suite (`make test`) fuzzes deeply: at least 10,000
# examples per parser (scenario loader, --set overrides, run-trace reader, each
# channel-trace reader, payload decoder), split over that parser's property tests
# with fuzz_settings(share=...). The fast tier (`-m "not slow"`) keeps a tenth.
# COSIM_HYPOTHESIS_PROFILE=fast|deep overrides the choice.
PARSER_EXAMPLES = {"fast": 1_000, "deep": 10_000}
for _name, _examples in PARSER_EXAMPLES.items():
    settings.register_profile(_name, max_examples=_examples, deadline=None,
                              suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large,
                                                     HealthCheck.function_scoped_fixture])


def pytest_configure(config: pytest.Config) -> None:
    """Load the hypothesis profile before any test module is imported."""
    markexpr = config.getoption("markexpr", default="") or ""
    chosen = os.environ.get("COSIM_HYPOTHESIS_PROFILE") or (
        "fast" if "not slow" in markexpr else "deep")
    if chosen not in PARSER_EXAMPLES:
        raise pytest.UsageError(f"COSIM_HYPOTHESIS_PROFILE must be fast or deep, got {chosen!r}")
    settings.load_profile(chosen)


def fuzz_settings(share: int = 1) -> settings:
    """Settings of one of ``share`` property tests that fuzz one parser together.

    They split the loaded profile's per-parser budget (10,000 examples in the
    full suite, 1,000 in the fast tier).
    """
    per_parser = settings.default.max_examples
    return settings(max_examples=-(-per_parser // share))


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
