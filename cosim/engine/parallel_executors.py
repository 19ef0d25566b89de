"""Where the parallel engine's workers live: local processes or a Dask cluster.

An :class:`Executor` holds ``n`` workers, each a
:class:`cosim.engine.parallel_worker.WorkerEngine` of some clients. Worker
``w`` runs its calls one at a time, in the order they were submitted.
``submit`` returns a handle at once; ``result`` waits for it and returns the
worker's ``(ok, value)``. Either raises :class:`WorkerLost` when the worker
is gone (process died, Dask worker lost); ``restart`` builds a fresh worker
for the same clients, which the coordinator then restores.

Dask is imported only by :class:`DaskExecutor` (the optional ``dask`` extra).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
from abc import ABC, abstractmethod
from typing import Any

from cosim.engine.config import ParallelConfig
from cosim.engine.parallel_worker import EngineSpec, WorkerEngine, process_main
from cosim.errors import CosimError, ScenarioError

log = logging.getLogger("cosim")


class WorkerLost(Exception):  # noqa: N818 (an event the coordinator recovers from)
    """A worker died or became unreachable; its clients' state is gone."""


class Executor(ABC):
    """``n`` workers; per-worker FIFO execution (see module docstring)."""

    n: int

    @abstractmethod
    def submit(self, worker: int, method: str, *args: Any, **kwargs: Any) -> Any:
        """Queue ``method(*args, **kwargs)`` on ``worker``; a handle for :meth:`result`."""

    @abstractmethod
    def result(self, handle: Any) -> tuple[bool, Any]:
        """Wait for a submitted call: ``(ok, value)``; :class:`WorkerLost` if its worker died."""

    @abstractmethod
    def restart(self, worker: int, owned: list[str]) -> None:
        """Replace a lost ``worker`` by a fresh engine of ``owned`` (state as built)."""

    @abstractmethod
    def close(self) -> None:
        """Stop every worker."""


class ProcessExecutor(Executor):
    """``n`` spawned local processes, one engine each, talking over pipes."""

    def __init__(self, spec: EngineSpec, groups: list[list[str]]) -> None:
        self.spec = spec
        self.n = len(groups)
        self._ctx = multiprocessing.get_context("spawn")
        self._procs: list[Any] = [None] * self.n
        self._conns: list[Any] = [None] * self.n
        self._next_id = 0
        self._replies: list[dict[int, tuple[bool, Any]]] = [{} for _ in range(self.n)]
        try:
            for w, owned in enumerate(groups):
                self._start(w, owned)
            for w in range(self.n):
                self._await_ready(w)
        except BaseException:
            self.close()
            raise

    def _start(self, w: int, owned: list[str]) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=process_main, args=(child, self.spec, owned),
                                 name=f"cosim-engine-{w}", daemon=True)
        proc.start()
        child.close()
        self._procs[w], self._conns[w] = proc, parent
        self._replies[w] = {}

    def _await_ready(self, w: int) -> None:
        try:
            status, exc = pickle.loads(self._conns[w].recv_bytes())
        except (EOFError, OSError):
            raise CosimError(f"engine worker {w} exited while building its clients "
                             f"(exit code {self._procs[w].exitcode})") from None
        if status != "ready":
            raise exc

    def submit(self, worker: int, method: str, *args: Any, **kwargs: Any) -> Any:
        task_id = self._next_id
        self._next_id += 1
        try:
            self._conns[worker].send_bytes(pickle.dumps((task_id, method, args, kwargs)))
        except (OSError, ValueError):
            raise WorkerLost(f"engine worker {worker} is gone") from None
        return worker, task_id

    def result(self, handle: Any) -> tuple[bool, Any]:
        worker, task_id = handle
        replies = self._replies[worker]
        while task_id not in replies:
            try:
                got_id, reply = pickle.loads(self._conns[worker].recv_bytes())
            except (EOFError, OSError):
                code = self._procs[worker].exitcode
                raise WorkerLost(f"engine worker {worker} is gone (exit code {code})") from None
            replies[got_id] = reply
        return replies.pop(task_id)

    def restart(self, worker: int, owned: list[str]) -> None:
        old = self._procs[worker]
        if old is not None:
            if old.is_alive():
                old.kill()
            old.join(timeout=10)
        log.warning("engine worker %d was lost; rebuilding its %d clients", worker, len(owned))
        self._start(worker, owned)
        self._await_ready(worker)

    def pids(self) -> list[int]:
        """Process id of each worker (tests kill one)."""
        return [p.pid for p in self._procs]

    def close(self) -> None:
        for conn in self._conns:
            if conn is not None:
                with contextlib.suppress(OSError, ValueError):
                    conn.send_bytes(pickle.dumps(None))
        for proc in self._procs:
            if proc is not None:
                proc.join(timeout=10)
                if proc.is_alive():
                    proc.kill()
                    proc.join(timeout=5)
        for conn in self._conns:
            if conn is not None:
                conn.close()
        self._conns = [None] * self.n
        self._procs = [None] * self.n


class DaskExecutor(Executor):
    """One :class:`WorkerEngine` Dask actor per group, on the workers of a cluster.

    ``address`` null: a ``LocalCluster`` of ``workers`` single-threaded worker
    processes, closed with the run. Group ``w`` lives on the ``w``-th worker
    (sorted by address, wrapping around); a restarted group goes to a live one.
    """

    def __init__(self, config: ParallelConfig, spec: EngineSpec,
                 groups: list[list[str]]) -> None:
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise ScenarioError("engine.parallel.executor: dask needs the optional 'dask' "
                                "extra (pip install 'cosim[dask]')") from None
        self.spec = spec
        self.n = len(groups)
        self.cluster = None
        if config.address is None:
            self.cluster = LocalCluster(n_workers=self.n, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=logging.ERROR)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(config.address, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise ScenarioError(f"engine.parallel.address: no Dask scheduler at "
                                    f"{config.address!r} ({exc})") from None
        self._actors: list[Any] = [None] * self.n
        try:
            futures = [self._submit_actor(w, owned) for w, owned in enumerate(groups)]
            self._actors = [f.result() for f in futures]
        except BaseException:
            self.close()
            raise

    def _workers(self) -> list[str]:
        workers = sorted(self.client.scheduler_info()["workers"])
        if not workers:
            raise CosimError("the Dask cluster has no workers")
        return workers

    def _submit_actor(self, w: int, owned: list[str]) -> Any:
        workers = self._workers()
        return self.client.submit(WorkerEngine, self.spec, owned, actor=True, pure=False,
                                  workers=[workers[w % len(workers)]],
                                  allow_other_workers=False)

    def submit(self, worker: int, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._actors[worker].call(method, *args, **kwargs)
        except Exception as exc:  # engine errors come back as values
            raise WorkerLost(f"engine worker {worker}: {type(exc).__name__}: {exc}") from None

    def result(self, handle: Any) -> tuple[bool, Any]:
        try:
            return handle.result()
        except Exception as exc:  # engine errors come back as values
            raise WorkerLost(f"Dask engine worker lost: {type(exc).__name__}: {exc}") from None

    def restart(self, worker: int, owned: list[str]) -> None:
        log.warning("Dask engine worker %d was lost; rebuilding its %d clients on a live "
                    "worker", worker, len(owned))
        self._actors[worker] = self._submit_actor(worker, owned).result()

    def close(self) -> None:
        self._actors = [None] * self.n
        try:
            self.client.close()
        finally:
            if self.cluster is not None:
                self.cluster.close()


def make_executor(config: ParallelConfig, spec: EngineSpec, groups: list[list[str]]) -> Executor:
    """The executor of ``config.executor`` (``processes`` or ``dask``)."""
    if config.executor == "processes":
        return ProcessExecutor(spec, groups)
    if config.executor == "dask":
        return DaskExecutor(config, spec, groups)
    raise ValueError(f"executor: no parallel executor for {config.executor!r}")
