"""What ``cosim validate --print`` shows: the settings that apply, with ``auto`` resolved.

The trace stores the full resolved config (every default, see
:meth:`cosim.scenario.LoadedScenario.resolved_plain`). A reader checking a
scenario wants less: only the distillation settings the chosen method reads,
and the policy an ``auto`` stands for. :func:`effective_plain` drops the
settings of other methods (e.g. ``adaptive_k`` under ``fd_topk``) and writes
``aggregation: residual`` instead of ``auto``.

A study prints its own settings plus every run it expands to (id, trace
path, overrides): :func:`study_plain`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosim.engine.config import DistillationConfig
    from cosim.scenario import LoadedScenario

ADAPTIVE_ONLY = ("k_policy", "k_min", "k_max", "safety_factor", "coverage",
                 "default_budget_bytes", "adaptive_k", "residual_aggregation",
                 "hidden_projection", "hidden_layer", "hidden_rank", "beta")
DISTILLATION_ONLY = ("public_tokens_per_round", "temperature", "alpha", "value_format",
                     "aggregation", "zero_pad_logits", "downlink_k",
                     "likelihood_temperature_nats")


def inapplicable(d: DistillationConfig) -> set[str]:
    """Distillation settings that ``d.method`` (with its switches) never reads."""
    drop: set[str] = set()
    if d.method != "adaptive":
        drop.update(ADAPTIVE_ONLY)
    if d.method in ("local_only", "fedavg_lora"):
        drop.update(DISTILLATION_ONLY)
        drop.add("k")
        if d.method == "local_only":
            drop.add("client_weighting")
    if d.method == "fd_full":
        drop.add("k")
    if d.method == "adaptive":
        if d.adaptive_k:
            drop.add("k")
        else:
            drop.update(("k_policy", "safety_factor", "coverage", "default_budget_bytes"))
        if d.k_policy != "channel_adaptive":
            drop.add("coverage")
        if not d.uses_hidden():
            drop.update(("hidden_layer", "hidden_rank", "hidden_projection", "beta"))
    if "aggregation" not in drop and d.resolved_aggregation() != "zero_pad_logits":
        drop.add("zero_pad_logits")
    if d.client_weighting != "likelihood":
        drop.add("likelihood_temperature_nats")
    return drop


def effective_plain(loaded: LoadedScenario) -> dict[str, Any]:
    """The resolved config with inapplicable distillation settings dropped, ``auto`` resolved."""
    plain = loaded.resolved_plain()
    d = loaded.config.distillation
    section = dict(plain.get("distillation", {}))
    for key in inapplicable(d):
        section.pop(key, None)
    if "aggregation" in section:
        section["aggregation"] = d.resolved_aggregation()
    plain["distillation"] = section
    return plain


def study_plain(path: str | Path) -> dict[str, Any]:
    """A study's settings and its runs (id, trace, overrides), for ``validate --print``."""
    from cosim.config.mapping import to_plain
    from cosim.study.config import expand_runs, load_study

    config, study_dir = load_study(path)
    runs = expand_runs(config, study_dir)
    return {
        "study": to_plain(config),
        "runs": [{"run_id": r.run_id, "scenario": str(r.scenario_path),
                  "trace": str(r.trace_path), "overrides": list(r.overrides)} for r in runs],
    }
