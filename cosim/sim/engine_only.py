"""Engine-only runs (``cosim engine``): R rounds with no network model.

Every selected client delivers its whole payload and receives the whole
downlink, so a run measures the method itself (accuracy vs bytes) and the
engine's own overhead. Adaptive k policies see the config's
``default_budget_bytes`` as their budget.

Time: there is no simulated time without the network, so the trace's
``time_s``/``start_s``/``end_s`` are wall-clock seconds since the run
started (what the engine's work really took on this machine); ``deadline_s``
is NaN. Events use the co-simulator's kinds (``compute_done``,
``update_skipped``, ``uplink_done``, ``payload_rejected``, ``aggregate``,
``downlink_done``); rows go through :class:`cosim.trace.recorder.Recorder`,
flushed at the end of every round.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cosim.trace.recorder import Recorder
from cosim.trace.writer import TraceWriter

if TYPE_CHECKING:
    from cosim.engine.backend import DistillationBackend
    from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec
    from cosim.engine.evaluation import MetricRow

NAN = float("nan")


@dataclass
class RoundSummary:
    """Per-round totals and the evaluation rows of every client.

    ``skipped`` and ``excluded`` name clients by index, as the backend does.
    """

    round: int
    uplink_bytes: int
    downlink_bytes: int
    public_tokens: int
    k_mean: float
    skipped: list[int]
    excluded: dict[int, str]
    metrics: list[MetricRow]
    wall_s: float

    def mean(self, split: str, field_name: str) -> float:
        values = [getattr(m, field_name) for m in self.metrics if m.split == split]
        return float(np.mean(values)) if values else NAN

    def worst(self, split: str, field_name: str) -> float:
        """Worst client: max for loss/perplexity, min for accuracy."""
        values = [getattr(m, field_name) for m in self.metrics if m.split == split]
        if not values:
            return NAN
        return float(np.min(values) if field_name == "accuracy" else np.max(values))


@dataclass
class StandaloneResult:
    """All rounds of a standalone run."""

    method: str
    rounds: list[RoundSummary] = field(default_factory=list)

    @property
    def uplink_bytes(self) -> int:
        return sum(r.uplink_bytes for r in self.rounds)

    @property
    def downlink_bytes(self) -> int:
        return sum(r.downlink_bytes for r in self.rounds)

    def bytes_per_token(self, n_clients: int) -> float:
        """Uplink bytes per public token per client (0 for ``local_only``)."""
        tokens = sum(r.public_tokens for r in self.rounds) * n_clients
        return self.uplink_bytes / tokens if tokens else NAN


def run_rounds(
    backend: DistillationBackend,
    rounds: int,
    *,
    recorder: Recorder | None = None,
    on_round: Callable[[RoundSummary], None] | None = None,
) -> StandaloneResult:
    """Drive ``backend`` for ``rounds`` rounds, everyone delivering everything.

    ``recorder`` receives the rows (None: nothing is recorded).
    ``on_round`` is called with each finished round's summary.
    """
    clients = list(range(len(backend.client_names)))
    rec = recorder if recorder is not None else Recorder(None)
    result = StandaloneResult(backend.config.method)
    t0 = time.perf_counter()

    def now() -> float:
        return time.perf_counter() - t0

    for round_index in range(rounds):
        start = now()
        skipped = []
        for c in clients:
            report = backend.local_update(c, round_index)
            if report.skipped:
                skipped.append(c)
                rec.event(now(), c, "update_skipped", round_index, detail=report.reason)
            rec.event(now(), c, "compute_done", round_index,
                       detail=f"flops={report.flops:.6g} loss={report.loss:.6g}")
        received: dict[int, bytes] = {}
        ks = []
        for c in clients:
            upload = backend.encode_upload(c)
            received[c] = upload.data
            if upload.n_tokens:
                ks.append(upload.k_mean)
            rec.event(now(), c, "uplink_done", round_index, n_bytes=upload.n_bytes,
                      k=upload.k_mean if upload.n_tokens else NAN, tokens=upload.n_tokens)
        downlink, agg = backend.aggregate(received, round_index)
        excluded = dict(agg.excluded)
        for c, reason in excluded.items():
            rec.event(now(), c, "payload_rejected", round_index, detail=reason)
        rec.event(now(), -1, "aggregate", round_index, n_bytes=len(downlink),
                  detail=f"included={len(agg.included)}")
        for c in clients:
            backend.apply_downlink(c, downlink)
            rec.event(now(), c, "downlink_done", round_index, n_bytes=len(downlink))
        metrics = [row for c in clients for row in backend.evaluate(c)]
        end = now()
        for row in metrics:
            rec.metrics(end, round_index, row.client, [row])
        summary = RoundSummary(
            round_index, sum(len(b) for b in received.values()), len(downlink),
            backend.public_batch_tokens, float(np.mean(ks)) if ks else NAN,
            skipped, excluded, metrics, end - start,
        )
        n_excluded = len(summary.excluded)
        rec.round(round_index, start_s=start, deadline_s=None, end_s=end, n_selected=len(clients),
                  n_delivered=len(clients) - n_excluded, n_partial=0, n_missed=n_excluded,
                  uplink_bytes=summary.uplink_bytes, downlink_bytes=summary.downlink_bytes)
        rec.flush()
        result.rounds.append(summary)
        if on_round is not None:
            on_round(summary)
    return result


def format_round(summary: RoundSummary, names: Sequence[str] | None = None) -> str:
    """One printed line per round; ``names[i]`` (when given) names client ``i``."""
    k = "-" if math.isnan(summary.k_mean) else f"{summary.k_mean:.1f}"
    text = (
        f"round {summary.round:3d}  up {summary.uplink_bytes:>11,d} B  "
        f"down {summary.downlink_bytes:>10,d} B  k {k:>5}  "
        f"own ppl {summary.mean('own', 'perplexity'):9.2f} acc "
        f"{summary.mean('own', 'accuracy'):.4f}  union ppl "
        f"{summary.mean('union', 'perplexity'):9.2f} acc {summary.mean('union', 'accuracy'):.4f}"
        f"  ({summary.wall_s:.1f} s)"
    )
    def who(c: int) -> str:
        return names[c] if names is not None and 0 <= c < len(names) else f"client {c}"

    if summary.skipped:
        text += f"  skipped: {', '.join(who(c) for c in summary.skipped)}"
    if summary.excluded:
        text += f"  excluded: {', '.join(who(c) for c in summary.excluded)}"
    return text


def run_standalone(
    clients: list[EngineClientSpec],
    data: DataConfig,
    distillation: DistillationConfig,
    seed: int,
    *,
    recorder: Recorder | None = None,
    on_round: Callable[[RoundSummary], None] | None = None,
) -> StandaloneResult:
    """Build the engine and run ``distillation.rounds`` rounds without a network."""
    from cosim.engine.backend import DistillationBackend

    backend = DistillationBackend(clients, data, distillation, seed)
    if recorder is not None:
        for i, c in enumerate(clients):
            model = backend.client_model(i)
            recorder.client(
                i, name=c.name, model=c.model.preset, domain=c.domain or "", distance_m=NAN,
                speed_mps=NAN, device=distillation.device, n_params=model.n_params(),
                n_trainable=model.n_trainable(),
            )
        recorder.flush()
    return run_rounds(backend, distillation.rounds, recorder=recorder, on_round=on_round)


def write_trace_run(
    clients: list[EngineClientSpec],
    data: DataConfig,
    distillation: DistillationConfig,
    seed: int,
    out_path: Path,
    *,
    scenario_yaml: str,
    resolved_config: Mapping[str, Any],
    scenario_path: str = "",
    overrides: Sequence[str] = (),
    on_round: Callable[[RoundSummary], None] | None = None,
) -> StandaloneResult:
    """:func:`run_standalone` into a new HDF5 trace at ``out_path`` (command ``engine``)."""
    with TraceWriter(
        out_path, scenario_yaml=scenario_yaml, resolved_config=resolved_config, seed=seed,
        command="engine", scenario_path=scenario_path, overrides=overrides,
    ) as writer:
        return run_standalone(
            clients, data, distillation, seed, recorder=Recorder(writer), on_round=on_round
        )
