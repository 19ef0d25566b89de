"""What a run is built from: seed streams, client placement, the uplink channel, the engine.

Shared by ``cosim run`` (:mod:`cosim.sim.runner`) and ``cosim wireless``
(:mod:`cosim.sim.wireless_only`), so a wireless-only run of a scenario sees
the clients where the co-simulation places them, over the same channel.

Randomness: one :class:`numpy.random.SeedSequence` from the scenario seed is
split into three independent streams — client placement, the wireless model,
server decisions (:func:`seed_streams`); the engine derives its own streams
from the same seed. The wireless realisation therefore depends only on the
seed and the scenario's wireless/client geometry, never on the method (common
random numbers across a study).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from cosim.scenario import LoadedScenario, Scenario
from cosim.trace.recorder import Recorder
from cosim.wireless.channel import ChannelSource
from cosim.wireless.placement import place_distances

if TYPE_CHECKING:
    import simpy

    from cosim.sim.backend import Backend
    from cosim.wireless.network import WirelessNetwork


def seed_streams(scenario: Scenario) -> tuple[np.random.Generator, ...]:
    """Generators for (placement, wireless model, server decisions) from the scenario seed."""
    place_seq, wireless_seq, server_seq = np.random.SeedSequence(scenario.seed).spawn(3)
    return tuple(np.random.default_rng(s) for s in (place_seq, wireless_seq, server_seq))


def place_clients(scenario: Scenario, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Distances [m] and speeds [m/s] per client.

    A client without ``distance_m`` is placed uniformly over the cell's annulus
    (:func:`cosim.wireless.placement.place_distances`).
    """
    clients = scenario.expanded_clients()
    distances = place_distances(scenario.wireless, [c.group.distance_m for c in clients], rng)
    speeds = np.array([c.group.speed_mps for c in clients], dtype=np.float64)
    return distances, speeds


def build_uplink_source(
    loaded: LoadedScenario, n_clients: int, required_duration_s: float | None
) -> ChannelSource | None:
    """The uplink channel chosen by the scenario: trace replay when it has a ``channel``
    section (:func:`cosim.channels.replay.build_replay_source`), else None (the
    simulated channel of ``wireless``).

    ``required_duration_s``: the span the run may simulate [s]; a trace that does
    not loop must cover it (None: unknown, not checked).
    """
    scenario = loaded.config
    if scenario.channel is None:
        return None
    from cosim.channels.replay import build_replay_source

    return build_replay_source(
        scenario.channel, n_clients, scenario.wireless.mac.slot_s,
        base_dir=loaded.base_dir, required_duration_s=required_duration_s,
    )


def build_network(
    loaded: LoadedScenario, env: simpy.Environment, rng: np.random.Generator,
    distances: np.ndarray, speeds: np.ndarray,
) -> WirelessNetwork:
    """The co-simulation's network, with trace replay as the uplink channel when configured.

    Rounds end by their deadline, so rounds × deadline bounds the replayed span.
    """
    from cosim.wireless.network import WirelessNetwork

    scenario = loaded.config
    deadline = scenario.server.round_deadline_s
    span = None if deadline is None else scenario.distillation.rounds * deadline
    return WirelessNetwork(env, scenario.wireless, distances, speeds, rng,
                           uplink_source=build_uplink_source(loaded, len(distances), span))


def build_backend(scenario: Scenario, hold_updates: bool = True) -> Backend:
    """The real distillation engine (imports torch), serial or on the workers of
    ``engine.parallel`` (:mod:`cosim.engine.parallel`).

    ``hold_updates``: evaluations score a client's model without an update until
    the round protocol commits it at ``compute_done`` (see ``Backend.commit_update``);
    False for callers that drive the engine without the protocol.
    """
    parallel = scenario.engine.parallel
    if parallel.executor != "serial":
        from cosim.engine.parallel import ParallelBackend

        return ParallelBackend(scenario.engine_clients(), scenario.data,
                               scenario.distillation, scenario.seed, parallel,
                               hold_updates=hold_updates)
    from cosim.engine.backend import DistillationBackend

    if parallel.threads is not None:
        import torch

        torch.set_num_threads(parallel.threads)
    return DistillationBackend(
        scenario.engine_clients(), scenario.data, scenario.distillation, scenario.seed,
        hold_updates=hold_updates,
    )


def record_clients(recorder: Recorder, scenario: Scenario, distances: np.ndarray,
                   speeds: np.ndarray, backend: Backend | None = None) -> None:
    """The ``clients`` rows; parameter counts from ``backend`` (−1 without one)."""
    for c in scenario.expanded_clients():
        n_params, n_train = (-1, -1) if backend is None else backend.model_size(c.index)
        recorder.client(
            c.index, name=c.name, model=c.group.model.preset, domain=c.group.domain or "",
            distance_m=float(distances[c.index]), speed_mps=float(speeds[c.index]),
            device=c.group.device, n_params=n_params, n_trainable=n_train,
        )
