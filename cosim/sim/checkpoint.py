"""Checkpoints at round boundaries, and resuming a run from one.

A checkpoint ``RUN.h5.ckpt`` sits next to the trace and is replaced
atomically (write to a temporary file, fsync, rename) every
``output.checkpoint_every_rounds`` rounds. It holds:

- the round to run next and the simulated clock;
- the trace's row count per table at that moment (resume cuts the trace
  back to them, dropping rows of a round that was cut short);
- the protocol state: busy clients, the server's random generator, each
  client's last applied downlink, and every transfer submitted so far;
- the engine state (:mod:`cosim.engine.state`): adapters, optimizer
  moments, projections, client random generators.

The wireless model is not serialised: its randomness is a pure function of
(seed, slot, client), so replaying the recorded transfer submissions on a
freshly built network reproduces its scheduler, HARQ and EWMA state exactly.
Loading uses ``torch.load(weights_only=True)``: no code in a checkpoint runs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import simpy

from cosim.errors import OutputError, TraceFormatError
from cosim.wireless.network import WirelessNetwork

FORMAT_VERSION = 1


def checkpoint_path(trace_path: Path) -> Path:
    """Where the checkpoint of ``trace_path`` lives."""
    return trace_path.with_name(trace_path.name + ".ckpt")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` to ``path``."""
    import torch

    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save({"format": FORMAT_VERSION, **state}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports ENOSPC as RuntimeError
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write checkpoint: {exc}") from None


def load_checkpoint(path: Path, resolved_config_json: str) -> dict[str, Any]:
    """Read a checkpoint and check it belongs to the run being resumed.

    Raises:
        TraceFormatError: missing, unreadable, of another format, or written
            for a different resolved configuration.
    """
    import pickle

    import torch

    if not path.is_file():
        raise TraceFormatError(f"{path}: no checkpoint to resume from")
    try:
        state = torch.load(path, weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError, ValueError) as exc:
        raise TraceFormatError(f"{path}: unreadable checkpoint ({exc})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise TraceFormatError(f"{path}: not a cosim checkpoint of format {FORMAT_VERSION}")
    if json.loads(state["config_json"]) != json.loads(resolved_config_json):
        raise TraceFormatError(f"{path}: checkpoint was written for a different configuration")
    return state


def replay_network(
    env: simpy.Environment,
    network: WirelessNetwork,
    submissions: list[tuple[str, tuple[int, ...], int, float | None, int, float]],
    until_s: float,
) -> None:
    """Rebuild ``network``'s state at ``until_s`` by resubmitting every past transfer."""

    def resubmit() -> Any:
        for direction, clients, size, deadline, round_index, time_s in submissions:
            if time_s > env.now:
                yield env.timeout(time_s - env.now)
            if direction == "ul":
                network.uplink(clients[0], size, deadline, round=round_index)
            else:
                network.downlink(list(clients), size, deadline, round=round_index)

    env.process(resubmit())
    env.run(until=until_s)
    while env.peek() <= until_s:  # what ended exactly at the boundary, as in the original
        env.step()
    network.channel_rows()  # those samples are in the trace already
