"""Composition root of ``cosim run``: build the network, the engine and the trace; run.

The parts come from :mod:`cosim.sim.build` (seed streams, placement, uplink
channel, engine); the round protocol (:mod:`cosim.sim.protocol`) drives them
and records through :class:`cosim.trace.recorder.Recorder`. The engine sits
behind :class:`cosim.sim.journal.JournaledBackend`, whose journal a
checkpoint stores; a resume replays the protocol from round 0 against it and
goes live at the checkpointed round boundary.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import simpy
from tqdm import tqdm

from cosim.scenario import LoadedScenario
from cosim.sim.backend import Backend
from cosim.sim.build import (
    build_backend,
    build_network,
    place_clients,
    record_clients,
    seed_streams,
)
from cosim.sim.checkpoint import checkpoint_path, load_checkpoint, save_checkpoint
from cosim.sim.compute import ComputeModel
from cosim.sim.journal import JournaledBackend
from cosim.sim.protocol import RoundProtocol
from cosim.trace.recorder import Recorder
from cosim.trace.schema import TABLES
from cosim.trace.writer import TraceWriter
from cosim.wireless.network import WirelessNetwork

log = logging.getLogger(__name__)


class RunInterrupted(Exception):  # noqa: N818 (a stop, not an error)
    """The run stopped on SIGINT/SIGTERM after finishing its current event."""

    def __init__(self, signum: int, trace_path: Path, rounds_done: int) -> None:
        super().__init__(f"interrupted by signal {signum} after {rounds_done} rounds")
        self.signum = signum
        self.trace_path = trace_path
        self.rounds_done = rounds_done


@dataclass
class StopFlag:
    """Set by a signal handler; the run checks it between events."""

    signum: int = 0


def checkpoint_config_json(loaded: LoadedScenario) -> str:
    """The resolved config a checkpoint must match: all but ``engine`` (how the engine
    runs), so a run may resume on another executor (results are identical)."""
    plain = loaded.resolved_plain()
    plain.pop("engine", None)
    return json.dumps(plain, sort_keys=True)


def _go_live(journal: JournaledBackend, recorder: Recorder, writer: TraceWriter,
             state: dict[str, Any], now_s: float, ckpt: Path) -> None:
    """End a resume's replay at the checkpointed boundary: drop the replayed rows, record
    into ``writer`` from here on, hand the engine its state back."""
    recorder.flush()  # replayed rows: dropped
    recorder.sink = writer
    try:
        if now_s != state["now_s"]:
            raise ValueError(f"the replay reached the boundary at {now_s} s, "
                             f"not {state['now_s']} s")
        journal.go_live(state["engine"])
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
        _unfit(ckpt, exc)


def _unfit(ckpt: Path, exc: Exception) -> None:
    from cosim.errors import TraceFormatError

    detail = (str(exc).strip().splitlines() or [""])[0][:160]
    raise TraceFormatError(f"{ckpt}: checkpoint state does not fit this run "
                           f"({type(exc).__name__}: {detail})") from None


def loaded_from_trace(trace_path: Path, *, trust_remote_code: bool = False) -> LoadedScenario:
    """The scenario a trace was written from (its stored text and overrides).

    Its paths resolve against the stored (absolute) scenario path, as the
    original run's did, whatever the current directory.
    """
    from cosim.errors import TraceFormatError
    from cosim.scenario import parse_scenario
    from cosim.trace.reader import read_trace

    attrs = read_trace(trace_path, tables=["rounds"]).attrs
    origin = str(attrs.get("scenario_path") or trace_path)
    try:
        overrides = tuple(str(o) for o in json.loads(str(attrs.get("overrides_json", "[]"))))
        text = str(attrs["scenario_yaml"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TraceFormatError(f"{trace_path}: no usable scenario stored in the trace "
                               f"({type(exc).__name__})") from None
    config = parse_scenario(text, origin, overrides, trust_remote_code=trust_remote_code)
    path = Path(origin) if attrs.get("scenario_path") else None
    if path is not None:  # as load_scenario does, so the config matches the checkpoint's
        from cosim.scenario_paths import resolve_scenario_paths

        config = resolve_scenario_paths(config, path.parent)
    return LoadedScenario(config=config, text=text, path=path, overrides=overrides)


def _inside_round_progress(bar: tqdm, n_clients: int) -> Callable[[str, int, int], None]:
    """Show the latest protocol event inside a round (a long round is not a frozen bar);
    redrawn at most twice a second."""
    last = [0.0]

    def show(kind: str, client: int, round_index: int) -> None:
        now = time.monotonic()
        if now - last[0] < 0.5:
            return
        last[0] = now
        who = "server" if client < 0 else f"client {client + 1}/{n_clients}"
        bar.set_postfix_str(f"round {round_index + 1}: {kind.replace('_', ' ')} ({who})",
                            refresh=True)

    return show


def run_scenario(
    loaded: LoadedScenario,
    out_path: Path,
    *,
    progress: bool = True,
    plots: bool = True,
    backend: Backend | None = None,
    resume: bool = False,
    stop: StopFlag | None = None,
) -> Path:
    """Co-simulate ``loaded`` and write its trace to ``out_path``; returns the path.

    ``backend`` replaces the real engine (tests use scripted backends).
    ``resume`` continues from ``out_path``'s checkpoint. ``stop`` is polled
    between simulation events; when set, the run flushes its trace and raises
    :class:`RunInterrupted` (the last round-boundary checkpoint stays valid).
    """
    scenario = loaded.config
    place_rng, wireless_rng, server_rng = seed_streams(scenario)
    distances, speeds = place_clients(scenario, place_rng)
    env = simpy.Environment()
    network = build_network(loaded, env, wireless_rng, distances, speeds)
    own_backend = backend is None
    if backend is None:
        backend = build_backend(scenario)
    try:
        return _run(loaded, out_path, env, network, backend, distances, speeds, server_rng,
                    progress=progress, plots=plots, resume=resume, stop=stop)
    finally:
        if own_backend:
            backend.close()


def _run(
    loaded: LoadedScenario, out_path: Path, env: simpy.Environment, network: WirelessNetwork,
    backend: Backend, distances: np.ndarray, speeds: np.ndarray,
    server_rng: np.random.Generator, *, progress: bool, plots: bool, resume: bool,
    stop: StopFlag | None,
) -> Path:
    """The body of :func:`run_scenario` once the network and the backend are built."""
    scenario = loaded.config
    clients = scenario.expanded_clients()
    compute = ComputeModel(scenario.compute, [c.group.device for c in clients])
    config_json = checkpoint_config_json(loaded)
    ckpt = checkpoint_path(out_path)
    rounds = scenario.distillation.rounds
    every = scenario.output.checkpoint_every_rounds

    first_round = 0
    state: dict[str, Any] | None = None
    if resume:
        state = load_checkpoint(ckpt, config_json)
        writer = TraceWriter.reopen(out_path, state["rows"])
        first_round = int(state["next_round"])
    else:
        writer = TraceWriter(
            out_path, scenario_yaml=loaded.text, resolved_config=loaded.resolved_plain(),
            seed=scenario.seed, command="run",
            scenario_path=str(loaded.path or ""), overrides=loaded.overrides,
        )
    try:
        # A resume replays rounds [0, first_round) with rows dropped (they are in the trace).
        recorder = Recorder(writer if state is None else None)
        journal = JournaledBackend(backend, None if state is None else state["journal"])
        protocol = RoundProtocol(env, scenario, network, journal, compute, recorder, server_rng)
        if state is None:
            record_clients(recorder, scenario, distances, speeds, backend)
            recorder.flush()
        bar = tqdm(total=rounds, initial=first_round, desc=scenario.name, unit="round",
                   disable=not progress)
        show_progress = _inside_round_progress(bar, len(clients)) if progress else None
        if state is None or first_round == 0:
            if state is not None:
                _go_live(journal, recorder, writer, state, env.now, ckpt)
            recorder.on_event = show_progress

        # Rounds covered by the newest checkpoint (what a resume would start after).
        checkpointed = [first_round]

        def round_done(r: int) -> None:
            if r + 1 < first_round:
                return  # replaying
            if r + 1 == first_round:  # the checkpointed boundary: from here on, live
                _go_live(journal, recorder, writer, state, env.now, ckpt)
                recorder.on_event = show_progress
                return
            bar.update(1)
            bar.set_postfix(sim_s=f"{env.now:.2f}")
            if every and ((r + 1) % every == 0 or r + 1 == rounds):
                checkpointed[0] = r + 1
                recorder.flush()
                save_checkpoint(ckpt, {
                    "config_json": config_json, "next_round": r + 1, "now_s": env.now,
                    "rows": {t: writer.rows(t) for t in TABLES},
                    "journal": journal.state(), "engine": backend.state_dict(),
                })

        protocol.on_round_end = round_done
        server = env.process(protocol.server())
        while not server.processed:
            if stop is not None and stop.signum:
                recorder.flush()
                bar.close()
                raise RunInterrupted(stop.signum, out_path, checkpointed[0])
            try:
                env.step()
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                if not journal.replaying:
                    raise
                _unfit(ckpt, exc)  # a journal entry that does not fit this run
        bar.close()
        recorder.flush()
    except RunInterrupted:
        writer.close(status="interrupted")
        raise
    except BaseException:
        writer.close(status="failed")
        raise
    writer.close(status="completed")
    if plots:
        from cosim.analysis.plots import plot_run
        from cosim.trace.reader import read_trace

        plot_run(read_trace(out_path), out_path.with_name(out_path.stem + "_plots"))
    return out_path
