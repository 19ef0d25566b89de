"""Python API for notebooks: ``cosim.run`` and ``cosim.study``.

Example::

    import cosim

    r = cosim.run("scenarios/quickstart.yaml", out="runs/q.h5", distillation__rounds=2)
    r.summary["final_mean_accuracy"], r.rounds      # dict, pandas DataFrame
    r.trace["events"]                               # any trace table as a DataFrame

    s = cosim.study("scenarios/methods_study.yaml", out="runs/methods")
    s.summary.groupby("method")["final_mean_accuracy"].mean()
    s.comparison                                    # paired differences with 95% CIs

Overrides are the command line's ``--set``: keyword arguments with ``__``
for the dots (``wireless__bandwidth_hz=10e6``) or a ``set`` mapping of
dotted keys (``set={"clients[0].distance_m": 300}``). Errors are the same
:class:`cosim.errors.CosimError` subclasses the command line reports.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from cosim.scenario import LoadedScenario
    from cosim.sim.backend import Backend
    from cosim.trace.reader import RunTrace


def _override_list(set_: Mapping[str, Any] | None, kwargs: Mapping[str, Any]) -> list[str]:
    items = {**(set_ or {}), **{k.replace("__", "."): v for k, v in kwargs.items()}}
    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in items.items()]


def _load(scenario: str | Path | Mapping[str, Any], overrides: list[str]) -> LoadedScenario:
    from cosim.scenario import LoadedScenario, load_scenario, parse_scenario

    if isinstance(scenario, Mapping):
        import yaml

        text = yaml.safe_dump(dict(scenario), sort_keys=False)
        config = parse_scenario(text, "<dict>", overrides)
        return LoadedScenario(config=config, text=text, path=None, overrides=tuple(overrides))
    return load_scenario(scenario, overrides)


@dataclass
class RunResult:
    """A finished run: its trace path plus tables as pandas DataFrames (read on demand)."""

    path: Path

    @cached_property
    def trace(self) -> RunTrace:
        """The whole trace (:class:`cosim.trace.reader.RunTrace`)."""
        from cosim.trace.reader import read_trace

        return read_trace(self.path)

    @property
    def summary(self) -> dict[str, Any]:
        """Key figures (:func:`cosim.analysis.summary.run_summary`)."""
        from cosim.analysis.summary import run_summary

        return run_summary(self.trace)

    @property
    def rounds(self) -> pd.DataFrame:
        """One row per round with latency, bytes and accuracy after it."""
        from cosim.analysis.export import round_table

        return round_table(self.trace)

    @property
    def metrics(self) -> pd.DataFrame:
        """Every evaluation (time, round, client, split, loss, perplexity, accuracy)."""
        return self.trace["metrics"]

    @property
    def events(self) -> pd.DataFrame:
        """Every protocol event (time, client, kind, bytes, k, SNR, ...)."""
        return self.trace["events"]

    def plot(self, out_dir: str | Path | None = None) -> list[Path]:
        """Write the run's figures (PNG and PDF); default ``RUN_plots/`` beside the trace."""
        from cosim.analysis.plots import plot_run

        target = Path(out_dir) if out_dir else self.path.with_name(self.path.stem + "_plots")
        return plot_run(self.trace, target)


def run(scenario: str | Path | Mapping[str, Any], *, out: str | Path | None = None,
        set: Mapping[str, Any] | None = None, plots: bool = False, progress: bool = False,
        keep_checkpoint: bool = False, backend: Backend | None = None,
        **overrides: Any) -> RunResult:
    """Co-simulate ``scenario`` (a file path or a scenario mapping); returns the result.

    ``out``: trace path (default: the scenario's ``output.trace_path``).
    ``backend``: replaces the real distillation engine (tests, custom engines).
    """
    from cosim.sim.checkpoint import checkpoint_path
    from cosim.sim.runner import run_scenario
    from cosim.trace.writer import check_writable

    loaded = _load(scenario, _override_list(set, overrides))
    path = Path(out) if out else loaded.config.trace_path()
    check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    run_scenario(loaded, path, progress=progress, plots=plots, backend=backend)
    if not keep_checkpoint:
        checkpoint_path(path).unlink(missing_ok=True)
    return RunResult(path)


@dataclass
class StudyResult:
    """A finished (or resumed) study: summary tables as DataFrames and where files went."""

    out_dir: Path
    summary: pd.DataFrame
    run_status: dict[str, str] = field(default_factory=dict)

    @property
    def comparison(self) -> pd.DataFrame:
        """Paired per-seed differences against the reference configuration (comparison.csv)."""
        import pandas as pd

        path = self.out_dir / "comparison.csv"
        return pd.read_csv(path) if path.is_file() else pd.DataFrame()

    @property
    def traces(self) -> list[Path]:
        """Every run's trace path."""
        return sorted((self.out_dir / "runs").glob("*.h5"))

    @property
    def plots(self) -> list[Path]:
        """The study figures (PNG and PDF)."""
        return sorted((self.out_dir / "plots").glob("*.*"))

    def run(self, run_id: str) -> RunResult:
        """One run of the study by id (e.g. ``"method=adaptive,seed=1"``)."""
        return RunResult(self.out_dir / "runs" / f"{run_id}.h5")


def study(path: str | Path, *, out: str | Path | None = None, workers: int | None = None,
          set: Mapping[str, Any] | None = None, **overrides: Any) -> StudyResult:
    """Run (or resume) the study file ``path``; overrides apply to every run."""
    from cosim.study.config import load_study, study_output_dir
    from cosim.study.runner import run_study

    config, study_dir = load_study(path)
    extra = dict(set or {})
    extra.update({k.replace("__", "."): v for k, v in overrides.items()})
    changes: dict[str, Any] = {"set": {**config.set, **extra}}
    if out is not None:
        changes["output_dir"] = str(out)
    if workers is not None:
        changes["executor"] = dataclasses.replace(config.executor, workers=workers)
    config = dataclasses.replace(config, **changes)
    summary, outcomes = run_study(config, study_dir)
    status = {o.run_id: o.status if not o.message else f"{o.status}: {o.message}"
              for o in outcomes}
    return StudyResult(study_output_dir(config), summary, status)
