"""Composition root of ``cosim run``: build the network, the engine and the trace; run.

Randomness: one :class:`numpy.random.SeedSequence` from the scenario seed is
split into independent streams for client placement, the wireless model and
server decisions; the engine derives its own streams from the same seed. The
wireless realisation therefore depends only on the seed and the scenario's
wireless/client geometry, never on the method — every method of a study sees
the same channel for a given seed (common random numbers).
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

from cosim.scenario import LoadedScenario, Scenario
from cosim.sim.backend import Backend
from cosim.sim.checkpoint import (
    checkpoint_path,
    load_checkpoint,
    replay_network,
    save_checkpoint,
)
from cosim.sim.compute import ComputeModel
from cosim.sim.protocol import RoundProtocol
from cosim.sim.recorder import Recorder
from cosim.trace.schema import TABLES
from cosim.trace.writer import TraceWriter
from cosim.wireless.channel import ChannelSource
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.runner import place_distances

log = logging.getLogger(__name__)


def place_clients(scenario: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Distances [m] and speeds [m/s] per client (as ``cosim wireless`` places them).

    A client without ``distance_m`` is placed uniformly over the cell's annulus
    (:func:`cosim.wireless.runner.place_distances`).
    """
    clients = scenario.expanded_clients()
    distances = place_distances(scenario.wireless, [c.group.distance_m for c in clients], rng)
    speeds = np.array([c.group.speed_mps for c in clients], dtype=np.float64)
    return distances, speeds


def build_uplink_source(loaded: LoadedScenario, n_clients: int) -> ChannelSource | None:
    """Trace replay as the uplink channel when the scenario has a ``channel`` section."""
    scenario = loaded.config
    if scenario.channel is None:
        return None
    from cosim.channels.replay import build_replay_source

    # Rounds end by their deadline, so rounds × deadline bounds the replayed span.
    deadline = scenario.server.round_deadline_s
    span = None if deadline is None else scenario.distillation.rounds * deadline
    return build_replay_source(
        scenario.channel, n_clients, scenario.wireless.mac.slot_s,
        base_dir=loaded.base_dir, required_duration_s=span,
    )


def build_network(
    loaded: LoadedScenario, env: simpy.Environment, rng: np.random.Generator,
    distances: np.ndarray, speeds: np.ndarray,
) -> WirelessNetwork:
    """The wireless network, with trace replay as the uplink channel when configured."""
    return WirelessNetwork(env, loaded.config.wireless, distances, speeds, rng,
                           uplink_source=build_uplink_source(loaded, len(distances)))


def build_backend(scenario: Scenario) -> Backend:
    """The real distillation engine (imports torch), serial or on the workers of
    ``engine.parallel`` (:mod:`cosim.engine.parallel`)."""
    parallel = scenario.engine.parallel
    if parallel.executor != "serial":
        from cosim.engine.parallel import ParallelBackend

        return ParallelBackend(scenario.engine_clients(), scenario.data,
                               scenario.distillation, scenario.seed, parallel)
    from cosim.engine.backend import DistillationBackend

    if parallel.threads is not None:
        import torch

        torch.set_num_threads(parallel.threads)
    return DistillationBackend(
        scenario.engine_clients(), scenario.data, scenario.distillation, scenario.seed
    )


def checkpoint_config_json(loaded: LoadedScenario) -> str:
    """The resolved config a checkpoint must match: all but ``engine`` (how the engine
    runs), so a run may resume on another executor (results are identical)."""
    plain = loaded.resolved_plain()
    plain.pop("engine", None)
    return json.dumps(plain, sort_keys=True)


def _client_rows(scenario: Scenario, backend: Backend, distances: np.ndarray,
                 speeds: np.ndarray) -> dict[str, list[object]]:
    rows: dict[str, list[object]] = {c.name: [] for c in TABLES["clients"]}
    for c in scenario.expanded_clients():
        n_params, n_train = backend.model_size(c.name)
        values = {
            "client": c.index, "name": c.name, "model": c.group.model.preset,
            "domain": c.group.domain or "", "distance_m": float(distances[c.index]),
            "speed_mps": float(speeds[c.index]), "device": c.group.device,
            "n_params": n_params, "n_trainable": n_train,
        }
        for key, value in values.items():
            rows[key].append(value)
    return rows


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


def _engine_state(backend: Backend) -> dict[str, Any]:
    """The engine's resumable state (its own ``state_dict``)."""
    return backend.state_dict()


def _load_engine_state(backend: Backend, state: dict[str, Any] | None) -> None:
    if state is not None:
        backend.load_state_dict(state)


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
    root = np.random.SeedSequence(scenario.seed)
    place_seq, wireless_seq, server_seq = root.spawn(3)
    distances, speeds = place_clients(scenario, np.random.default_rng(place_seq))
    env = simpy.Environment()
    network = build_network(loaded, env, np.random.default_rng(wireless_seq), distances, speeds)
    own_backend = backend is None
    if backend is None:
        backend = build_backend(scenario)
    try:
        return _run(loaded, out_path, env, network, backend, distances, speeds, server_seq,
                    progress=progress, plots=plots, resume=resume, stop=stop)
    finally:
        if own_backend:
            backend.close()


def _run(
    loaded: LoadedScenario, out_path: Path, env: simpy.Environment, network: WirelessNetwork,
    backend: Backend, distances: np.ndarray, speeds: np.ndarray,
    server_seq: np.random.SeedSequence, *, progress: bool, plots: bool, resume: bool,
    stop: StopFlag | None,
) -> Path:
    """The body of :func:`run_scenario` once the network and the backend are built."""
    scenario = loaded.config
    clients = scenario.expanded_clients()
    names = [c.name for c in clients]
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
        recorder = Recorder(writer)
        protocol = RoundProtocol(env, scenario, names, network, backend, compute, recorder,
                                 np.random.default_rng(server_seq))
        if state is not None:
            try:
                replay_network(env, network, state["protocol"]["submissions"], state["now_s"])
                protocol.load_state_dict(state["protocol"])
                for c, payload in sorted(protocol.applied.items()):
                    backend.apply_downlink(names[c], payload)
                _load_engine_state(backend, state["engine"])
            except (KeyError, IndexError, TypeError, ValueError, RuntimeError) as exc:
                from cosim.errors import TraceFormatError

                detail = (str(exc).strip().splitlines() or [""])[0][:160]
                raise TraceFormatError(f"{ckpt}: checkpoint state does not fit this run "
                                       f"({type(exc).__name__}: {detail})") from None
        else:
            writer.append("clients", _client_rows(scenario, backend, distances, speeds))
            writer.flush()
        bar = tqdm(total=rounds, initial=first_round, desc=scenario.name, unit="round",
                   disable=not progress)

        # Rounds covered by the newest checkpoint (what a resume would start after).
        checkpointed = [first_round]

        def round_done(r: int) -> None:
            bar.update(1)
            bar.set_postfix(sim_s=f"{env.now:.2f}")
            if every and ((r + 1) % every == 0 or r + 1 == rounds):
                checkpointed[0] = r + 1
                recorder.flush()
                save_checkpoint(ckpt, {
                    "config_json": config_json, "next_round": r + 1, "now_s": env.now,
                    "rows": {t: writer.rows(t) for t in TABLES},
                    "protocol": protocol.state_dict(), "engine": _engine_state(backend),
                })

        protocol.on_round_end = round_done
        if progress:
            recorder.on_event = _inside_round_progress(bar, len(names))
        server = env.process(protocol.server(first_round))
        while not server.processed:
            if stop is not None and stop.signum:
                recorder.flush()
                bar.close()
                raise RunInterrupted(stop.signum, out_path, checkpointed[0])
            env.step()
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
