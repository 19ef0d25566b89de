"""The backend interface the co-simulator drives (DESIGN.md section 4).

The SimPy processes only ever see :class:`Backend`; the concrete engine
(:class:`cosim.engine.backend.DistillationBackend`) is plugged in by the
runner. This module imports neither torch nor simpy, so the simulation logic
stays free of torch, the engine may implement the interface without pulling
in the simulator, and tests drive the protocol with a scripted backend of
known sizes and FLOPs (``tests/sim/conftest.py``).

One round, as the simulator calls it::

    local_update(c, r)                    -> UpdateLike   (FLOPs for the compute model)
    encode_upload(c, budget_bits=B | k=k) -> UploadLike   (real bytes)
    aggregate({c: bytes, ...}, r)         -> (downlink bytes, AggregationLike)
    apply_downlink(c, bytes)
    evaluate(c)                           -> [MetricLike, ...]

The optional hints ``prepare_updates`` and ``prepare_evaluation`` let a
parallel backend (:mod:`cosim.engine.parallel`) start the round's
independent client work at once; the calls themselves still come in
simulated-time order.

Clients are int indices ``c``: a client's position in the scenario's
expanded client list, the same index the simulator, the wireless model and the
trace use. Every per-client key or field crossing this seam is such an index
(``aggregate``'s received payloads, the report's included and excluded
clients); a backend that knows its clients by name maps the index itself.

The backend keeps no "last downlink" for the caller: whoever drives the
rounds holds the downlink that ``aggregate`` returned and sends it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Protocol


class UpdateLike(Protocol):
    """What the protocol reads from a local update."""

    flops: float
    loss: float
    skipped: bool
    reason: str
    wall_s: float


class UploadLike(Protocol):
    """What the protocol reads from an encoded upload.

    ``below_k_min``: the budget afforded no whole token record (an empty
    ``data`` is then a miss, not a method that uploads nothing).
    """

    data: bytes
    n_tokens: int
    k_mean: float
    flops: float
    below_k_min: bool


class MetricLike(Protocol):
    """One evaluation row."""

    split: str
    loss: float
    perplexity: float
    accuracy: float


class AggregationLike(Protocol):
    """What one aggregation merged and excluded (client index → reason)."""

    included: list[int]
    excluded: dict[int, str]


class Backend(ABC):
    """local_update → encode_upload → aggregate → apply_downlink → evaluate."""

    @abstractmethod
    def local_update(self, client: int, round_index: int) -> UpdateLike:
        """Train ``client`` for round ``round_index`` (toward the knowledge it applied last)."""

    @abstractmethod
    def encode_upload(
        self, client: int, *, budget_bits: float | None = None, k: int | None = None
    ) -> UploadLike:
        """Encode the client's upload within ``budget_bits`` [bit] (or with a fixed ``k``).

        Raises FloatingPointError on non-finite logits (the caller drops the upload).
        """

    @abstractmethod
    def aggregate(
        self, received: dict[int, bytes], round_index: int
    ) -> tuple[bytes, AggregationLike]:
        """Merge what arrived (client index → whole payload or prefix) into the downlink
        and a report.

        Payloads that do not decode, or whose key is no client index, are
        excluded in the report, never raised.
        """

    @abstractmethod
    def apply_downlink(self, client: int, payload: bytes) -> None:
        """Install a downlink on ``client``; an empty payload is ignored."""

    @abstractmethod
    def evaluate(self, client: int) -> list[MetricLike]:
        """Metric rows of ``client`` (e.g. own-domain and union splits).

        A backend that holds updates (see :meth:`commit_update`) scores the model
        as it was before an update not yet committed.
        """

    def commit_update(self, client: int) -> None:
        """The simulated compute of ``client``'s last ``local_update`` has finished.

        The co-simulation calls this at ``compute_done``. A backend built to hold
        updates (the real engine under ``cosim run``) keeps scoring the model as it
        was before that update until then, so an evaluation at simulated time t
        never sees training that finishes after t. Uploads are encoded only after
        the commit. The default does nothing.
        """
        return

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """The backend's mutable state at a round boundary (for checkpoints)."""

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` on an identically built backend."""

    def model_size(self, client: int) -> tuple[int, int]:
        """(parameters, trainable parameters) of ``client``'s model; (−1, −1) if unknown."""
        return -1, -1

    # ---- optional hints: a parallel backend starts work early; results never change
    def prepare_updates(self, round_index: int, downlinks: dict[int, bytes]) -> None:
        """Announce that each client (index) will next ``apply_downlink`` its payload
        (when non-empty), then ``local_update(client, round_index)``.

        A backend that runs clients in parallel may start these now; the
        calls that follow must return what they would have without the hint.
        The default does nothing.
        """
        return

    def prepare_evaluation(self, clients: list[int]) -> None:
        """Announce that ``evaluate`` follows for each of ``clients``, with no
        other call for them in between. The default does nothing."""
        return

    def close(self) -> None:
        """Release workers or other resources (the run is over). The default has none."""
        return
