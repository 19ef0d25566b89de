"""Spawned `cosim study` workers install the study process's warning filters and logger levels.

They inherit the quiet environment variables but start with Python's default
warning filters, so without :func:`cosim.console.apply_console_state` a
transformers or peft warning raised inside a worker reached the console.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from cosim.console import apply_console_state, configure_logging, console_state
from cosim.study.config import RunSpec
from cosim.study.runner import RunOutcome, _run_local, execute_run

MARKER = "cosim-test-marker"


def _report_warnings(spec: RunSpec, threads: int) -> RunOutcome:
    """Worker side: raise warnings as noisy libraries would; report which got through."""
    shown: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        for module in ("transformers.modeling_utils", "peft.tuners.lora", "cosim.engine"):
            warnings.warn_explicit(f"from {module}", UserWarning, "x.py", 1, module=module)
        try:
            warnings.warn_explicit(MARKER, UserWarning, "x.py", 2, module="cosim.engine")
        except UserWarning:
            shown.append("raised")
    shown += [str(w.message) for w in caught]
    level = logging.getLogger("transformers").level
    return RunOutcome(spec.run_id, "completed", f"{';'.join(shown)}|{level}")


def _specs(tmp_path: Path) -> list[RunSpec]:
    return [RunSpec(f"r{i}", tmp_path / "s.yaml", (), tmp_path / f"r{i}.h5", {})
            for i in range(2)]


@pytest.fixture
def restore_loggers() -> Iterator[None]:
    names = ("cosim", "transformers", "peft")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.slow  # spawns two interpreters
def test_spawned_workers_use_the_quiet_filters(tmp_path: Path, restore_loggers: None) -> None:
    with warnings.catch_warnings():
        configure_logging()
        warnings.filterwarnings("error", message=MARKER)  # any parent filter travels
        outcomes = _run_local(_specs(tmp_path), workers=2, threads=1, run=_report_warnings)
    assert len(outcomes) == 2
    for outcome in outcomes:
        shown, level = outcome.message.split("|")
        assert shown.split(";") == ["raised", "from cosim.engine"], outcome
        assert int(level) == logging.ERROR


@pytest.mark.slow
def test_spawned_workers_under_verbose_let_library_warnings_through(
        tmp_path: Path, restore_loggers: None) -> None:
    with warnings.catch_warnings():
        configure_logging(verbose=True)
        outcomes = _run_local(_specs(tmp_path), workers=2, threads=1, run=_report_warnings)
    for outcome in outcomes:
        shown, level = outcome.message.split("|")
        assert shown.split(";") == ["from transformers.modeling_utils", "from peft.tuners.lora",
                                    "from cosim.engine", MARKER], outcome
        assert int(level) == logging.NOTSET


def test_console_state_round_trips_and_execute_run_applies_it(
        tmp_path: Path, restore_loggers: None) -> None:
    """The dask executor passes the state to execute_run (workers that were not spawned here)."""
    import torch  # noqa: F401  (installs its own filters on first import, as execute_run does)

    with warnings.catch_warnings():
        configure_logging()
        state = console_state()
        quiet_filters = list(warnings.filters)
        warnings.resetwarnings()
        logging.getLogger("transformers").setLevel(logging.NOTSET)
        outcome = execute_run(_specs(tmp_path)[0], console=state)  # no scenario: fails fast
        assert outcome.status == "failed"
        assert console_state() == state
        assert len(warnings.filters) == len(quiet_filters)
        assert logging.getLogger("transformers").level == logging.ERROR
        apply_console_state(state)  # idempotent
        assert console_state() == state
