"""The round protocol as SimPy processes (DESIGN.md 1.1 and 4).

Round r, started by the server at ``t_start``::

    select clients  →  downlink of the last global knowledge (broadcast/unicast)
    each client:  downlink done → local update (compute model time) →
                  encode (k from the channel now and the time left) →
                  uplink (packets, HARQ) until done or the deadline
    server:       at the deadline, or when every upload is done → aggregate →
                  evaluate → next round

Every engine call happens at its simulated event time. Failures inside a
round are data: a client that finishes computing after the deadline is
``late`` (its work is discarded), an upload cut off by the deadline delivers
the whole records that arrived (``uplink_partial``), a NaN update is
``update_skipped``, an undecodable payload is ``payload_rejected``.

Adaptive Top-k budget (DESIGN.md 1.2): at encode time ``t0`` the client
predicts its uplink rate ``R̂`` (``server.rate_estimator``) and gets
``B = η · R̂ · (deadline − t0 − t_enc)`` bits, where ``t_enc`` is the expected
duration of the encode forward pass (its FLOPs are the same every round, so
the last round's figure is exact from round 1 on).
"""

from __future__ import annotations

import math
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import simpy

from cosim.scenario import Scenario
from cosim.sim.backend import Backend
from cosim.sim.compute import ComputeModel
from cosim.sim.selection import select_clients
from cosim.trace.recorder import Recorder
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.packets import TransferResult

Process = Generator[simpy.Event, Any, Any]


@dataclass
class RoundState:
    """What the server collects during one round."""

    index: int
    start_s: float
    deadline_s: float | None
    selected: list[int]
    received: dict[int, bytes] = field(default_factory=dict)
    uplink_bytes: int = 0
    downlink_bytes: int = 0
    # client → delivered | partial | missed | no_upload; unset at the end = missed (late)
    outcome: dict[int, str] = field(default_factory=dict)
    uplinking: list[simpy.Process] = field(default_factory=list)

    def count(self, outcome: str) -> int:
        """Clients with this outcome."""
        return sum(1 for o in self.outcome.values() if o == outcome)


class RoundProtocol:
    """Server and client processes of a synchronous federated-distillation run."""

    def __init__(
        self,
        env: simpy.Environment,
        scenario: Scenario,
        network: WirelessNetwork,
        backend: Backend,
        compute: ComputeModel,
        recorder: Recorder,
        rng: np.random.Generator,
        on_round_end: Any = None,
    ) -> None:
        self.env = env
        self.scenario = scenario
        # Clients are int indices (positions in the expanded client list) here, in the
        # wireless model, in the trace and across the backend seam.
        self.n_clients = n_clients = len(scenario.expanded_clients())
        self.net = network
        self.backend = backend
        self.compute = compute
        self.rec = recorder
        self.rng = rng
        self.on_round_end = on_round_end
        self.busy_until = [0.0] * n_clients
        self.client_processes: list[simpy.Process] = []
        self.encode_s = [0.0] * n_clients
        # The last downlink the server produced (sent at the start of the next round).
        self.downlink = b""

    # ------------------------------------------------------------------ server
    def server(self) -> Process:
        """The server process: every round, one after the other."""
        cfg = self.scenario
        rounds = cfg.distillation.rounds
        for round_index in range(rounds):
            yield from self._round(round_index, evaluate=self._evaluates(round_index, rounds))
        # Clients still computing a discarded round finish (and are logged late).
        yield self.env.all_of(self.client_processes)
        self.rec.flush()

    def _evaluates(self, round_index: int, rounds: int) -> bool:
        every = self.scenario.server.evaluate_every_rounds
        return round_index == rounds - 1 or (round_index + 1) % every == 0

    def _round(self, round_index: int, evaluate: bool) -> Process:
        env, server_cfg = self.env, self.scenario.server
        t_start = env.now
        budget_s = server_cfg.round_deadline_s
        deadline = None if budget_s is None else t_start + budget_s
        snr = self.net.current_snr_db()
        candidates = select_clients(server_cfg, snr, self.rng)
        selected = [c for c in candidates if self.busy_until[c] <= t_start]
        for c in sorted(set(candidates) - set(selected)):
            self.rec.event(t_start, c, "busy", round_index,
                           detail="still computing a previous round")
        state = RoundState(round_index, t_start, deadline, selected)
        self.rec.event(t_start, -1, "round_start", round_index, detail=f"selected={len(selected)}")

        downlink = self.downlink
        state.downlink_bytes = len(downlink)
        arrivals = yield from self._downlink(state, downlink, snr)
        self.backend.prepare_updates(round_index, {c: downlink for c in selected
                                         if not math.isinf(arrivals[c])})
        procs = [env.process(self._client(state, c, arrivals[c], downlink)) for c in selected]
        self.client_processes = [p for p in self.client_processes if p.is_alive] + procs
        if procs:
            done = env.all_of(procs)
            if deadline is None:
                yield done
            else:
                yield done | env.timeout(max(0.0, deadline - env.now))
                # Uploads are cut at the deadline; collect those ending at this instant.
                yield env.all_of(list(state.uplinking))
        n_missed = sum(1 for c in selected if state.outcome.get(c, "missed") == "missed")

        self.downlink, report = self.backend.aggregate(state.received, round_index)
        for c, reason in sorted(report.excluded.items()):  # in client index order
            self.rec.event(env.now, c, "payload_rejected", round_index, detail=reason)
        self.rec.event(env.now, -1, "aggregate", round_index,
                       n_bytes=sum(len(b) for b in state.received.values()),
                       detail=f"included={len(report.included)}")
        if evaluate:
            self._evaluate(round_index)
        self.rec.channel(self.net.channel_rows())
        self.rec.round(
            round_index, start_s=t_start, deadline_s=deadline, end_s=env.now,
            n_selected=len(selected),
            n_delivered=state.count("delivered"), n_partial=state.count("partial"),
            n_missed=n_missed, uplink_bytes=state.uplink_bytes,
            downlink_bytes=state.downlink_bytes,
        )
        self.rec.event(env.now, -1, "round_end", round_index)
        if (round_index + 1) % self.scenario.output.flush_every_rounds == 0:
            self.rec.flush()
        if self.on_round_end is not None:
            self.on_round_end(round_index)

    def _downlink(self, state: RoundState, payload: bytes, snr: np.ndarray) -> Process:
        """Send the global knowledge; returns each selected client's arrival time (inf: never)."""
        env = self.env
        arrivals = {c: env.now for c in state.selected}
        if not payload or not state.selected:
            return arrivals
        for c in state.selected:
            self.rec.event(env.now, c, "downlink_start", state.index, n_bytes=len(payload))
        results: list[TransferResult] = yield self.net.downlink(
            state.selected, len(payload), state.deadline_s, round_index=state.index
        )
        for result in results:
            self.rec.transfer(result)
            for c in result.clients:
                if c in arrivals:
                    arrivals[c] = result.end_s if result.complete else math.inf
        return arrivals

    def _evaluate(self, round_index: int) -> None:
        clients = list(range(self.n_clients))
        self.backend.prepare_evaluation(clients)
        for c in clients:
            self.rec.metrics(self.env.now, round_index, c, self.backend.evaluate(c))

    # ------------------------------------------------------------------ client
    def _client(self, state: RoundState, c: int, arrival_s: float, downlink: bytes) -> Process:
        env, round_index = self.env, state.index
        if math.isinf(arrival_s):
            self.rec.event(env.now, c, "downlink_missed", round_index)
            state.outcome[c] = "missed"
            return
        if arrival_s > env.now:
            yield env.timeout(arrival_s - env.now)
        if downlink:
            self.rec.event(env.now, c, "downlink_done", round_index, n_bytes=len(downlink))
            self.backend.apply_downlink(c, downlink)

        self.rec.event(env.now, c, "compute_start", round_index)
        update = self.backend.local_update(c, round_index)
        cost = self.compute.cost(c, update.flops, update.wall_s)
        self.busy_until[c] = env.now + cost.duration_s
        yield env.timeout(cost.duration_s)
        # Only now, in simulated time, does the update exist: evaluations before this
        # scored the model without it.
        self.backend.commit_update(c)
        if update.skipped:
            self.rec.event(env.now, c, "update_skipped", round_index, detail=update.reason)
            state.outcome[c] = "missed"
            return
        self.rec.event(env.now, c, "compute_done", round_index,
                       detail=f"energy_j={cost.energy_j:.6g}")
        if state.deadline_s is not None and env.now >= state.deadline_s:
            self.rec.event(env.now, c, "late", round_index,
                           detail="compute finished after the deadline")
            return

        snr_db = float(self.net.current_snr_db()[c])
        budget_bits = self._budget_bits(state, c)
        try:
            upload = self.backend.encode_upload(c, budget_bits=budget_bits)
        except FloatingPointError as exc:  # NaN/inf logits: drop this round's upload
            self.rec.event(env.now, c, "update_skipped", round_index, detail=str(exc))
            state.outcome[c] = "missed"
            return
        enc = self.compute.cost(c, upload.flops, 0.0)
        self.encode_s[c] = enc.duration_s
        self.busy_until[c] = env.now + enc.duration_s
        if enc.duration_s > 0:
            yield env.timeout(enc.duration_s)
        self.rec.event(env.now, c, "encode", round_index, n_bytes=len(upload.data), k=upload.k_mean,
                       tokens=upload.n_tokens, snr_db=snr_db,
                       detail=f"budget_bits={budget_bits:.6g}" if budget_bits is not None else "")
        if not upload.data:
            if upload.below_k_min:
                # The budget left affords no whole token record: a miss, not a choice.
                self.rec.event(env.now, c, "no_budget", round_index, detail="no token record fits")
                state.outcome[c] = "missed"
            else:
                state.outcome[c] = "no_upload"  # local_only: nothing to send
            return
        if state.deadline_s is not None and env.now >= state.deadline_s:
            self.rec.event(env.now, c, "late", round_index, n_bytes=len(upload.data),
                           detail="encoding finished after the deadline")
            return
        self.rec.event(env.now, c, "uplink_start", round_index, n_bytes=len(upload.data))
        state.uplinking.append(env.active_process)
        result: TransferResult = yield self.net.uplink(
            c, len(upload.data), state.deadline_s, round_index=round_index
        )
        self.rec.transfer(result)
        delivered = result.delivered_bytes
        state.uplink_bytes += delivered
        if result.complete:
            kind, state.outcome[c] = "uplink_done", "delivered"
        elif delivered > 0:
            kind, state.outcome[c] = "uplink_partial", "partial"
        else:
            kind, state.outcome[c] = "uplink_missed", "missed"
        self.rec.event(result.end_s, c, kind, round_index, n_bytes=delivered)
        if delivered > 0:
            state.received[c] = upload.data[:delivered]

    def _budget_bits(self, state: RoundState, c: int) -> float | None:
        """``η · R̂ · (deadline − now − t_enc)`` [bit]; None without a deadline."""
        if state.deadline_s is None:
            return None
        rate = None
        if self.scenario.server.rate_estimator == "ewma":
            rate = self.net.throughput_estimate_bps(c)
        if rate is None:
            rate = self.net.predicted_rate_bps(c)
        time_left = max(0.0, state.deadline_s - self.env.now - self.encode_s[c])
        return self.scenario.distillation.safety_factor * rate * time_left
