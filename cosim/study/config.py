"""Study files: a base scenario plus a grid of ``--set`` overrides and seeds.

Example::

    name: methods
    base: urban_mobility.yaml          # relative to this file
    seeds: [1, 2, 3]
    grid:                              # full Cartesian product
      distillation.method: [fd_full, fd_topk, adaptive, fedavg_lora, local_only]
    set:                               # fixed overrides for every run
      distillation.rounds: 6
    executor: {kind: local, workers: 2}
    time_budget_s: 30                  # "accuracy at a fixed simulated-time budget"

Every method sees the same channel realisation for a given seed (common
random numbers): the wireless model's randomness is a pure function of the
scenario seed, slot and client, never of what the engine does.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from cosim.config.checks import check_int_range, check_literals, check_positive
from cosim.config.mapping import build
from cosim.config.templates import check_path_template, check_safe_name, expand_path_template
from cosim.config.yaml_source import load_yaml_text, read_text_capped
from cosim.errors import ConfigFieldError, ScenarioError


@dataclass(frozen=True)
class ExecutorConfig:
    """Where runs execute.

    ``local``: a process pool of ``workers`` processes. ``dask``: a
    ``dask.distributed`` scheduler at ``address`` (e.g. one started by
    ``dask-jobqueue`` on SLURM), or a ``LocalCluster`` of ``workers``
    processes when ``address`` is null.
    """

    kind: Literal["local", "dask"] = "local"
    workers: int = 1
    address: str | None = None
    threads_per_worker: int = 1

    def __post_init__(self) -> None:
        check_literals(self)
        check_int_range("workers", self.workers, 1, 4096)
        check_int_range("threads_per_worker", self.threads_per_worker, 1, 256)


@dataclass(frozen=True)
class StudyConfig:
    """A study (see the module docstring)."""

    base: str
    name: str = "study"
    seeds: tuple[int, ...] = (0,)
    grid: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    set: dict[str, Any] = field(default_factory=dict)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    time_budget_s: float | None = None
    # Relative to the current directory, like a scenario's output.trace_path.
    output_dir: str = "runs/{name}"

    def __post_init__(self) -> None:
        check_safe_name("name", self.name)
        check_path_template("output_dir", self.output_dir, ("name",))
        if not self.seeds:
            raise ConfigFieldError("seeds", "must list at least one seed")
        for key, values in self.grid.items():
            if not values:
                raise ConfigFieldError(f"grid.{key}", "must list at least one value")
        if "seed" in self.grid or "seed" in self.set:
            raise ConfigFieldError("grid", "set seeds with the 'seeds' list, not the grid")
        if self.time_budget_s is not None:
            check_positive("time_budget_s", self.time_budget_s)


@dataclass(frozen=True)
class RunSpec:
    """One run of a study: its id, overrides (grid point + seed) and trace path."""

    run_id: str
    scenario_path: Path
    overrides: tuple[str, ...]
    trace_path: Path
    params: dict[str, Any]


def _format_value(value: Any) -> str:
    import json

    return value if isinstance(value, str) else json.dumps(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=,-]+", "_", text).strip("_")


def load_study(path: str | Path) -> tuple[StudyConfig, Path]:
    """Read and validate a study file; returns the config and its directory."""
    path = Path(path)
    text = read_text_capped(path, what="study")
    source = load_yaml_text(text, str(path))
    return build(StudyConfig, source.data, source), path.parent


def expand_runs(study: StudyConfig, study_dir: Path) -> list[RunSpec]:
    """Every (grid point × seed) as a :class:`RunSpec`, in a stable order."""
    out_dir = study_output_dir(study)
    base = (study_dir / study.base).resolve()
    keys = list(study.grid)
    fixed = [f"{k}={_format_value(v)}" for k, v in study.set.items()]
    runs: list[RunSpec] = []
    for combo in itertools.product(*(study.grid[k] for k in keys)):
        for seed in study.seeds:
            params = dict(zip(keys, combo, strict=True))
            short = ",".join(f"{k.split('.')[-1]}={_format_value(v)}" for k, v in params.items())
            run_id = _slug(f"{short},seed={seed}" if short else f"seed={seed}")
            trace_path = out_dir / "runs" / f"{run_id}.h5"
            overrides = (
                *fixed,
                *(f"{k}={_format_value(v)}" for k, v in params.items()),
                f"seed={seed}",
                f"output.trace_path={trace_path}",
            )
            runs.append(RunSpec(run_id, base, overrides, trace_path, {**params, "seed": seed}))
    ids = [r.run_id for r in runs]
    if len(set(ids)) != len(ids):
        raise ScenarioError("study grid gives two runs the same id; use distinct values")
    return runs


def study_output_dir(study: StudyConfig) -> Path:
    """The study's output directory (summary, plots, runs/); relative to the current directory."""
    return Path(expand_path_template("output_dir", study.output_dir, {"name": study.name}))
