"""The engine on several workers, behind the same :class:`Backend` interface.

Within a round, a client's downlink, local update, encode and evaluation
depend only on its own state, the downlink and its own random streams, and
simulated time comes from the compute model (FLOPs), not from wall time. So
:class:`ParallelBackend` splits the clients over ``n`` workers (client i on
worker i mod n, :mod:`cosim.engine.parallel_executors`), each a partial engine
(:class:`cosim.engine.parallel_worker.WorkerEngine`) built with the full
engine's data and seeds, and:

- on ``prepare_updates`` (the protocol's hint after the downlink) queues every
  announced client's ``apply_downlink`` + ``local_update`` on its worker at
  once; the protocol's own calls, in simulated-time order, then only collect
  the results;
- on ``prepare_evaluation`` queues every evaluation the same way;
- runs every other call (``encode_upload``, un-announced calls) on the
  client's worker and waits for it, and aggregates in this process
  (an engine with no clients: data, public batches, the strategy).

Clients are int indices, as at the :class:`Backend` seam; the workers are
built with (and report state by) the clients' names.

Each client has at most one call in flight, and a worker runs its calls in
order, so every client sees the serial engine's sequence of calls; results
are therefore bit-identical to the serial engine's at the same torch thread
count (``engine.parallel.threads``).

Lost workers: the last :meth:`state_dict` (the runner takes one at every
checkpoint) is kept with each client's last applied downlink, and every
state-changing call since is journaled. When a worker is lost, a fresh one
is built for its clients, given that state and the journal replayed; calls
that were in flight are submitted again. The run goes on with identical
results.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from cosim.engine.backend import DistillationBackend
from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec, ParallelConfig
from cosim.engine.parallel_executors import Executor, WorkerLost, make_executor
from cosim.engine.parallel_worker import EngineSpec
from cosim.errors import CosimError, ScenarioError
from cosim.sim.backend import Backend

# Calls that change a client's state (journaled for rebuilding a lost worker).
_MUTATING = frozenset({"update", "apply_downlink", "local_update", "encode_upload",
                       "commit_update"})


@dataclass
class _Task:
    """One call of one client: where it runs and, once finished, its outcome."""

    client: int
    method: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any] = field(default_factory=dict)
    handle: Any = None
    done: bool = False
    ok: bool = False
    value: Any = None
    apply_pending: bool = False  # an announced update whose apply_downlink is still to come


def default_threads(config: ParallelConfig, n_workers: int) -> int:
    """Torch threads per worker: ``config.threads`` or ``max(1, cores // workers)``."""
    if config.threads is not None:
        return config.threads
    return max(1, (os.cpu_count() or 1) // n_workers)


class ParallelBackend(Backend):
    """The distillation engine with its clients on ``config.workers`` workers."""

    def __init__(
        self,
        clients: list[EngineClientSpec],
        data: DataConfig,
        distillation: DistillationConfig,
        seed: int,
        config: ParallelConfig,
        executor: Executor | None = None,
        hold_updates: bool = False,
    ) -> None:
        """``hold_updates``: as for :class:`DistillationBackend`, on every worker."""
        # Validates the clients and method; aggregates (it holds no client).
        self.server = DistillationBackend(clients, data, distillation, seed, owned=())
        names = [c.name for c in clients]
        n = min(config.workers, len(names))
        self.names = names
        # Worker w holds clients w, w + n, w + 2n, ...: their indices, and their names
        # (what a worker engine is built from and keys its state by).
        self.indices = [list(range(w, len(names), n)) for w in range(n)]
        self.groups = [names[w::n] for w in range(n)]
        self.owner = [i % n for i in range(len(names))]
        self.threads = default_threads(config, n)
        spec = EngineSpec(tuple(clients), data, distillation, seed, self.threads, hold_updates)
        self.executor = executor or make_executor(config, spec, self.groups)
        self._inflight: dict[int, _Task] = {}
        self._announced: dict[int, _Task] = {}
        self._evaluations: dict[int, _Task] = {}
        # For rebuilding a lost worker's clients.
        self._applied: dict[int, bytes] = {}
        self._snapshot: dict[str, Any] | None = None
        self._snapshot_applied: dict[int, bytes] = {}
        self._journal: dict[int, list[tuple[str, tuple[Any, ...], dict[str, Any]]]] = {
            c: [] for c in range(len(names))}

    # ---- task plumbing ----------------------------------------------------
    def _worker(self, client: int) -> int:
        """The worker holding client index ``client``."""
        if isinstance(client, bool) or not 0 <= client < len(self.owner):
            raise ScenarioError(f"unknown client {client!r}: clients are indices 0 to "
                                f"{len(self.owner) - 1}")
        return self.owner[client]

    def _start(self, client: int, method: str, *args: Any, **kwargs: Any) -> _Task:
        worker = self._worker(client)
        self._finish_client(client)  # one call per client in flight: its calls stay in order
        task = _Task(client, method, (client, *args), kwargs)
        try:
            task.handle = self.executor.submit(worker, method, *task.args, **kwargs)
        except WorkerLost:
            self._inflight[client] = task
            self._recover(worker)  # resubmits the task
        self._inflight[client] = task
        return task

    def _finish(self, task: _Task) -> Any:
        """Wait for ``task`` (rebuilding its worker if lost); its value, or raise its error."""
        if not task.done:
            worker = self.owner[task.client]
            for _attempt in range(3):
                try:
                    task.ok, task.value = self.executor.result(task.handle)
                    break
                except WorkerLost:
                    self._recover(worker)
            else:
                raise CosimError(f"engine worker {worker} was lost three times in one call")
            task.done = True
            if self._inflight.get(task.client) is task:
                del self._inflight[task.client]
            self._record(task)
        if not task.ok:
            raise task.value
        return task.value

    def _finish_client(self, client: int) -> None:
        task = self._inflight.get(client)
        if task is not None:
            with contextlib.suppress(Exception):  # raised again where its caller collects it
                self._finish(task)

    def _record(self, task: _Task) -> None:
        if not task.ok or task.method not in _MUTATING:
            return
        self._journal[task.client].append((task.method, task.args, task.kwargs))
        downlink = task.args[2] if task.method == "update" else (
            task.args[1] if task.method == "apply_downlink" else b"")
        if downlink and (task.method != "update" or task.value[0] is None):
            self._applied[task.client] = downlink

    def _call(self, client: int, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._finish(self._start(client, method, *args, **kwargs))

    def _recover(self, worker: int) -> None:
        """Rebuild ``worker``: snapshot state, replayed journal, in-flight calls resubmitted."""
        owned = self.indices[worker]
        self.executor.restart(worker, self.groups[worker])
        direct = self.executor

        def run(method: str, *args: Any, **kwargs: Any) -> Any:
            ok, value = direct.result(direct.submit(worker, method, *args, **kwargs))
            if not ok:
                raise CosimError(f"rebuilding engine worker {worker}: {method} failed: {value}")
            return value

        for c in owned:
            if self._snapshot_applied.get(c):
                run("apply_downlink", c, self._snapshot_applied[c])
        if self._snapshot is not None:
            run("load_state", owned[0], {"round": self._snapshot["round"], "clients": {
                n: self._snapshot["clients"][n] for n in self.groups[worker]}})
        for c in owned:
            for method, args, kwargs in self._journal[c]:
                run(method, *args, **kwargs)
        for c in owned:
            task = self._inflight.get(c)
            if task is not None and not task.done:
                task.handle = direct.submit(worker, task.method, *task.args, **task.kwargs)

    def _take_snapshot(self, state: dict[str, Any]) -> None:
        self._snapshot = state
        self._snapshot_applied = dict(self._applied)
        for journal in self._journal.values():
            journal.clear()

    # ---- hints ----------------------------------------------------------------
    def prepare_updates(self, round_index: int, downlinks: dict[int, bytes]) -> None:
        for client, payload in downlinks.items():
            task = self._start(client, "update", int(round_index), bytes(payload))
            task.apply_pending = bool(payload)
            self._announced[client] = task

    def prepare_evaluation(self, clients: list[int]) -> None:
        for client in clients:
            self._evaluations[client] = self._start(client, "evaluate")

    # ---- the interface ------------------------------------------------------
    def apply_downlink(self, client: int, payload: bytes) -> None:
        task = self._announced.get(client)
        if task is None or not task.apply_pending:
            self._call(client, "apply_downlink", bytes(payload))
            return
        if task.args[2] != payload:
            raise RuntimeError(f"client {client}: applied downlink differs from the "
                               "announced one")
        task.apply_pending = False
        apply_error, _ = self._finish(task)
        if apply_error is not None:
            del self._announced[client]
            raise apply_error

    def local_update(self, client: int, round_index: int) -> Any:
        task = self._announced.pop(client, None)
        if task is None:
            return self._call(client, "local_update", int(round_index))
        if task.apply_pending or task.args[1] != round_index:
            raise RuntimeError(f"client {client}: local_update({round_index}) does not follow the "
                               f"announced downlink of round {task.args[1]}")
        return self._finish(task)[1]

    def encode_upload(
        self, client: int, *, budget_bits: float | None = None, k: int | None = None
    ) -> Any:
        return self._call(client, "encode_upload", budget_bits, k)

    def aggregate(self, received: dict[int, bytes], round_index: int) -> tuple[bytes, Any]:
        return self.server.aggregate(received, round_index)

    def evaluate(self, client: int) -> list[Any]:
        task = self._evaluations.pop(client, None)
        if task is None:
            return self._call(client, "evaluate")
        return self._finish(task)

    def commit_update(self, client: int) -> None:
        self._call(client, "commit_update")

    def model_size(self, client: int) -> tuple[int, int]:
        return self._call(client, "model_size")

    def state_dict(self) -> dict[str, Any]:
        """The serial engine's state: every client's, gathered from the workers."""
        for client in list(self._inflight):
            self._finish_client(client)
        parts: dict[str, Any] = {}
        rounds = [0]
        for owned in self.indices:
            state = self._call(owned[0], "state")
            rounds.append(int(state["round"]))
            parts.update(state["clients"])
        state = {"round": max(rounds), "clients": {n: parts[n] for n in self.names}}
        self._take_snapshot(state)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if set(state["clients"]) != set(self.names):
            raise ValueError(f"checkpoint clients {sorted(state['clients'])} != engine "
                             f"clients {sorted(self.names)}")
        for owned, names in zip(self.indices, self.groups, strict=True):
            part = {"round": state["round"], "clients": {n: state["clients"][n] for n in names}}
            self._call(owned[0], "load_state", part)
        self._take_snapshot(state)

    def close(self) -> None:
        self.executor.close()
