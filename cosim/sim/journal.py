"""Resume by replay: a journal of the engine's answers around an unchanged round protocol.

:class:`JournaledBackend` sits between the round protocol and the engine.
While a run is live it forwards every call and notes the answer the protocol
reads (:data:`Entry`): an update's FLOPs, loss, wall time and skip reason; an
upload's size, tokens, mean k, FLOPs and ``below_k_min`` (or its
FloatingPointError); an aggregation's downlink size and report; the
evaluation rows. It also keeps the last downlink the server produced and the
last one each client applied — the only payload bytes a resume needs.

To resume, the runner rebuilds the scenario and runs the very same protocol
from round 0 on a fresh network, with the journal answering instead of the
engine and a recorder that drops rows (they are in the trace already). The
SimPy processes thus rebuild every piece of simulator state exactly as it was
— scheduler, HARQ, EWMA rate estimates, busy clients, clients still computing
past the boundary, the server's random generator — because they *are* the
original computation. At the checkpointed round boundary :meth:`go_live`
re-applies each client's last downlink, loads the engine state, and from then
on calls reach the engine. A change to a round step therefore needs no mirror
change here.

Replayed payloads are zero bytes of the recorded length: during the replay
they reach only the journal (the protocol reads their lengths), except the
last downlink, whose real bytes the next round sends.
"""

from __future__ import annotations

import base64
from collections import deque
from dataclasses import dataclass
from typing import Any

from cosim.sim.backend import AggregationLike, Backend, MetricLike, UpdateLike, UploadLike

#: One journal entry: ``[call, client, *answer]`` with ``client`` the client's
#: int index (−1 for ``aggregate``, the server's call); plain lists, so
#: ``torch.load(weights_only=True)`` reads them back.
Entry = list[Any]


@dataclass
class _Update:
    flops: float
    loss: float
    skipped: bool
    reason: str
    wall_s: float


@dataclass
class _Upload:
    data: bytes
    n_tokens: int
    k_mean: float
    flops: float
    below_k_min: bool


@dataclass
class _Aggregation:
    included: list[int]
    excluded: dict[int, str]


@dataclass
class _Metric:
    split: str
    loss: float
    perplexity: float
    accuracy: float


def _plain(x: Any) -> Any:
    """A numpy scalar as the Python scalar of the same value; anything else as it is."""
    return x.item() if hasattr(x, "item") and not isinstance(x, (int, float)) else x


def _b64(payload: bytes) -> str:
    # base64 text: checkpoints load with torch.load(weights_only=True), no raw bytes
    return base64.b64encode(payload).decode("ascii")


class JournaledBackend(Backend):
    """``live`` behind a journal; answers from ``replay`` (a saved :meth:`state`) first.

    Raises ValueError from a call that does not match the next replayed entry
    (the checkpoint belongs to another run).
    """

    def __init__(self, live: Backend, replay: dict[str, Any] | None = None) -> None:
        self.live = live
        self.journal: list[Entry] = []
        self.last_downlink = b""
        self.applied: dict[int, bytes] = {}
        self._replay: deque[Entry] = deque()
        self._final_downlink = b""
        self._aggregates_left = 0
        if replay is not None:
            self._replay = deque(list(e) for e in replay["calls"])
            self._final_downlink = base64.b64decode(replay["downlink"])
            self._aggregates_left = sum(1 for e in self._replay if e[0] == "aggregate")
            self.applied = {int(c): base64.b64decode(p) for c, p in replay["applied"].items()}
            self.last_downlink = self._final_downlink

    @property
    def replaying(self) -> bool:
        """True while recorded answers remain."""
        return bool(self._replay)

    def state(self) -> dict[str, Any]:
        """What a checkpoint stores: every answer so far and the payloads a resume re-applies."""
        return {
            "calls": [list(e) for e in self.journal],
            "applied": {c: _b64(p) for c, p in self.applied.items()},
            "downlink": _b64(self.last_downlink),
        }

    def go_live(self, engine_state: dict[str, Any] | None) -> None:
        """End of the replay: re-apply each client's last downlink, then load the engine state."""
        if self._replay:
            raise ValueError(f"{len(self._replay)} recorded engine calls were not replayed")
        for client, payload in sorted(self.applied.items()):
            self.live.apply_downlink(client, payload)
        if engine_state is not None:
            self.live.load_state_dict(engine_state)

    def _next(self, call: str, client: int) -> Entry:
        entry = self._replay.popleft()
        if entry[0] != call or entry[1] != client:
            raise ValueError(f"recorded call {entry[:2]} where the run makes {[call, client]}")
        self.journal.append(entry)
        return entry

    # ------------------------------------------------------------------ Backend
    def local_update(self, client: int, round_index: int) -> UpdateLike:
        if self._replay:
            _, _, flops, loss, skipped, reason, wall_s = self._next("update", client)
            return _Update(flops, loss, skipped, reason, wall_s)
        u = self.live.local_update(client, round_index)
        self.journal.append(["update", client, *(_plain(x) for x in (
            u.flops, u.loss, u.skipped, u.reason, u.wall_s))])
        return u

    def encode_upload(
        self, client: int, *, budget_bits: float | None = None, k: int | None = None
    ) -> UploadLike:
        if self._replay:
            entry = self._next("encode", client)
            if entry[2] is None:
                raise FloatingPointError(str(entry[3]))
            n_bytes, n_tokens, k_mean, flops, below = entry[2:]
            return _Upload(bytes(n_bytes), n_tokens, k_mean, flops, below)
        try:
            up = self.live.encode_upload(client, budget_bits=budget_bits, k=k)
        except FloatingPointError as exc:
            self.journal.append(["encode", client, None, str(exc)])
            raise
        self.journal.append(["encode", client, len(up.data), *(_plain(x) for x in (
            up.n_tokens, up.k_mean, up.flops, up.below_k_min))])
        return up

    def aggregate(
        self, received: dict[int, bytes], round_index: int
    ) -> tuple[bytes, AggregationLike]:
        if self._replay:
            _, _, n_bytes, included, excluded = self._next("aggregate", -1)
            self._aggregates_left -= 1
            downlink = self._final_downlink if self._aggregates_left == 0 else bytes(n_bytes)
            if len(downlink) != n_bytes:
                raise ValueError(f"stored downlink has {len(downlink)} B, recorded {n_bytes} B")
            return downlink, _Aggregation([int(c) for c in included],
                                          {int(c): str(r) for c, r in excluded.items()})
        downlink, report = self.live.aggregate(received, round_index)
        self.journal.append(["aggregate", -1, len(downlink), [int(c) for c in report.included],
                             {int(c): str(r) for c, r in report.excluded.items()}])
        self.last_downlink = downlink
        return downlink, report

    def apply_downlink(self, client: int, payload: bytes) -> None:
        if self._replay:
            return  # the engine state loaded by go_live already includes it
        self.live.apply_downlink(client, payload)
        self.applied[client] = payload

    def commit_update(self, client: int) -> None:
        if not self._replay:  # else the engine state loaded by go_live already says it
            self.live.commit_update(client)

    def evaluate(self, client: int) -> list[MetricLike]:
        if self._replay:
            rows = self._next("evaluate", client)[2]
            return [_Metric(*row) for row in rows]
        rows = self.live.evaluate(client)
        self.journal.append(["evaluate", client, [
            [_plain(x) for x in (m.split, m.loss, m.perplexity, m.accuracy)] for m in rows]])
        return rows

    def state_dict(self) -> dict[str, Any]:
        return self.live.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.live.load_state_dict(state)

    def model_size(self, client: int) -> tuple[int, int]:
        return self.live.model_size(client)

    # Hints start work early on a parallel engine; while replaying there is none to start.
    def prepare_updates(self, round_index: int, downlinks: dict[int, bytes]) -> None:
        if not self._replay:
            self.live.prepare_updates(round_index, downlinks)

    def prepare_evaluation(self, clients: list[int]) -> None:
        if not self._replay:
            self.live.prepare_evaluation(clients)

    def close(self) -> None:
        self.live.close()
