"""One worker of the parallel engine: a partial engine holding some clients.

A :class:`WorkerEngine` builds :class:`cosim.engine.backend.DistillationBackend`
with ``owned`` = its clients: the shared base models once, its clients'
adapters, projections, optimizer state and random streams, and the same data
and seeds as the full engine, so its results are bit for bit the serial
engine's (at the same torch thread count). It runs one call at a time.

:meth:`WorkerEngine.call` never raises: an exception of the engine comes back
as ``(False, exc)`` and the coordinator (:mod:`cosim.engine.parallel`)
re-raises it where the serial engine would have. So an exception that
escapes a call on the executor's side is the executor's (a lost worker).

The ``processes`` executor runs :func:`process_main` in a spawned process
that reads pickled calls from a pipe; the ``dask`` executor makes the
:class:`WorkerEngine` a Dask actor (:mod:`cosim.engine.parallel_executors`).
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from cosim.engine.config import DataConfig, DistillationConfig, EngineClientSpec


@dataclass(frozen=True)
class EngineSpec:
    """What every worker builds its engine from (picklable; sent once per worker)."""

    clients: tuple[EngineClientSpec, ...]
    data: DataConfig
    distillation: DistillationConfig
    seed: int
    threads: int
    hold_updates: bool = False


class WorkerEngine:
    """A partial engine with clients ``owned`` (names; see module docstring).

    Its calls take client indices, as the :class:`cosim.sim.backend.Backend` seam does."""

    def __init__(self, spec: EngineSpec, owned: list[str]) -> None:
        import torch

        from cosim.engine.backend import DistillationBackend

        # Intra-op threads decide the last bits of some reductions: the same in every engine.
        torch.set_num_threads(spec.threads)
        self.owned = list(owned)
        self.engine = DistillationBackend(
            list(spec.clients), spec.data, spec.distillation, spec.seed, owned=set(owned),
            hold_updates=spec.hold_updates,
        )

    def call(self, method: str, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """(True, result) of ``method``, or (False, the exception it raised)."""
        try:
            return True, getattr(self, "_" + method)(*args, **kwargs)
        except Exception as exc:  # re-raised by the coordinator
            return False, exc

    # ---- the calls ------------------------------------------------------
    def _update(self, client: int, round_index: int, downlink: bytes) -> tuple[Any, Any]:
        """apply_downlink (when non-empty) then local_update: (apply error or None, report)."""
        if downlink:
            try:
                self.engine.apply_downlink(client, downlink)
            except Exception as exc:  # raised at the caller's apply_downlink
                return exc, None
        return None, self.engine.local_update(client, round_index)

    def _apply_downlink(self, client: int, payload: bytes) -> None:
        self.engine.apply_downlink(client, payload)

    def _local_update(self, client: int, round_index: int) -> Any:
        return self.engine.local_update(client, round_index)

    def _encode_upload(self, client: int, budget_bits: float | None, k: int | None) -> Any:
        return self.engine.encode_upload(client, budget_bits=budget_bits, k=k)

    def _evaluate(self, client: int) -> Any:
        return self.engine.evaluate(client)

    def _commit_update(self, client: int) -> None:
        self.engine.commit_update(client)

    def _model_size(self, client: int) -> tuple[int, int]:
        return self.engine.model_size(client)

    def _state(self, client: int) -> dict[str, Any]:
        """The state of every client of this worker, by name (``client``: any of them)."""
        return self.engine.state_dict()

    def _load_state(self, client: int, state: dict[str, Any]) -> None:
        """Restore this worker's clients (``state`` holds exactly them, by name)."""
        self.engine.load_state_dict(state)


def process_main(conn: Connection, spec: EngineSpec, owned: list[str]) -> None:
    """Body of a ``processes`` worker: build, say ready, then serve calls until None.

    Messages are pickled explicitly (tensors as bytes, no shared-memory handles).
    Replies come in the order of the calls: ``(task id, (ok, value))``. Ctrl-C is
    ignored here: the run (the coordinator) stops cleanly and then closes the workers.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        engine = WorkerEngine(spec, owned)
    except Exception as exc:  # reported to the coordinator
        conn.send_bytes(pickle.dumps(("failed", exc)))
        return
    conn.send_bytes(pickle.dumps(("ready", None)))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the coordinator is gone
        if message is None:
            return
        task_id, method, args, kwargs = message
        reply = engine.call(method, *args, **kwargs)
        try:
            data = pickle.dumps((task_id, reply))
        except Exception as exc:  # an unpicklable result or exception
            data = pickle.dumps((task_id, (False, RuntimeError(f"{method}: {exc}"))))
        conn.send_bytes(data)
