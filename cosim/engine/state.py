"""Save and restore the distillation engine's mutable state (for resume).

What changes during a run, per client: its LoRA adapter, its hidden
projection, its optimizer's moments and step counts, its random generator,
and its round counter; plus the backend's round counter. Everything else
(models, data, public batches) is rebuilt deterministically from the
scenario and seed. A client's global knowledge is restored by the caller
re-applying the last downlink it received (the caller keeps downlinks, not
the engine), before :func:`load_engine_state` (which then overwrites any
adapter weights a FedAvg downlink installed).

The state holds only tensors, numbers, strings, lists and dicts, so it
round-trips through ``torch.save`` / ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cosim.engine.backend import DistillationBackend


def engine_state(backend: DistillationBackend) -> dict[str, Any]:
    """A snapshot of ``backend``'s mutable state (tensors are copies)."""
    clients: dict[str, Any] = {}
    for name, st in backend.clients.items():
        projection = st.trainer.projection
        clients[name] = {
            "adapter": st.model.adapter_state(),
            "projection": (
                {k: v.detach().clone() for k, v in projection.state_dict().items()}
                if projection is not None else None
            ),
            "optimizer": st.trainer.optimizer.state_dict(),
            "rng": st.rng.bit_generator.state,
            "round": st.round,
            # weights before an update still running in simulated time (else None)
            "held": ([w.clone() for w in backend.held[name]] if name in backend.held
                     else None),
        }
    return {"round": backend.round, "clients": clients}


def load_engine_state(backend: DistillationBackend, state: dict[str, Any]) -> None:
    """Restore a snapshot taken by :func:`engine_state` on an identically built backend."""
    if set(state["clients"]) != set(backend.clients):
        raise ValueError(
            f"checkpoint clients {sorted(state['clients'])} != engine clients "
            f"{sorted(backend.clients)}"
        )
    backend.round = int(state["round"])
    for name, saved in state["clients"].items():
        st = backend.clients[name]
        st.model.load_adapter_state(saved["adapter"])
        if saved["projection"] is not None and st.trainer.projection is not None:
            st.trainer.projection.load_state_dict(saved["projection"])
        st.trainer.optimizer.load_state_dict(saved["optimizer"])
        st.rng.bit_generator.state = saved["rng"]
        st.round = int(saved["round"])
        held = saved.get("held")
        if held is None:
            backend.held.pop(name, None)
        else:
            backend.held[name] = [w.clone() for w in held]
