"""The backend interface the co-simulator drives (DESIGN.md section 4).

The SimPy processes only ever see this Protocol; the concrete engine
(:class:`cosim.engine.backend.DistillationBackend`) is plugged in by the
runner. This keeps the simulation logic free of torch, and lets tests drive
the protocol with a scripted backend of known sizes and FLOPs.
"""

from __future__ import annotations

from typing import Any, Protocol


class UpdateLike(Protocol):
    """What the protocol reads from a local update."""

    flops: float
    loss: float
    skipped: bool
    reason: str
    wall_s: float


class UploadLike(Protocol):
    """What the protocol reads from an encoded upload."""

    data: bytes
    n_tokens: int
    k_mean: float
    flops: float


class MetricLike(Protocol):
    """One evaluation row."""

    split: str
    loss: float
    perplexity: float
    accuracy: float


class AggregationLike(Protocol):
    """What the last aggregation merged and excluded."""

    included: list[str]
    excluded: dict[str, str]


class Backend(Protocol):
    """local_update → encode_upload → aggregate → apply_downlink → evaluate."""

    last_aggregation: Any

    def local_update(self, client: str, round_index: int) -> UpdateLike: ...

    def encode_upload(
        self, client: str, *, budget_bits: float | None = None, k: int | None = None
    ) -> UploadLike:
        """Encode the client's upload; FloatingPointError on non-finite logits."""
        ...

    def aggregate(self, received: dict[str, bytes], round_index: int | None = None) -> bytes: ...

    def apply_downlink(self, client: str, payload: bytes) -> None: ...

    def evaluate(self, client: str) -> list[Any]: ...
