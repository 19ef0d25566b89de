"""Checkpoints at round boundaries, and resuming a run from one.

A checkpoint ``RUN.h5.ckpt`` sits next to the trace and is replaced
atomically (write to a temporary file, fsync, rename) every
``output.checkpoint_every_rounds`` rounds. It holds:

- the round to run next and the simulated clock;
- the trace's row count per table at that moment (resume cuts the trace
  back to them, dropping rows of a round that was cut short);
- the journal of the engine's answers so far, the last downlink and each
  client's last applied downlink (:mod:`cosim.sim.journal`);
- the engine state (:mod:`cosim.engine.state`): adapters, optimizer
  moments, projections, client random generators.

Neither the wireless model nor the round protocol is serialised: a resume
reruns the unchanged protocol from round 0 with the journal answering for the
engine (:class:`cosim.sim.journal.JournaledBackend`), which rebuilds the
network's scheduler, HARQ and EWMA state, the busy clients and the server's
random generator exactly (the wireless randomness is a pure function of
seed, slot and client). Loading uses ``torch.load(weights_only=True)``: no
code in a checkpoint runs.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from pathlib import Path
from typing import Any

from cosim.errors import OutputError, TraceFormatError

# 2: the engine journal replaced the protocol state and the transfer submissions.
# 3: the journal names clients by int index (calls, applied downlinks, aggregation reports).
FORMAT_VERSION = 3


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


# What JournaledBackend needs to replay.
_JOURNAL_KEYS = ("calls", "applied", "downlink")


def load_checkpoint(path: Path, resolved_config_json: str) -> dict[str, Any]:
    """Read a checkpoint and check it belongs to the run being resumed.

    ``torch.load(weights_only=True)`` unpickles plain containers and tensors
    only, so a crafted checkpoint runs no code; its structure (format version,
    keys and their types) is checked before anything uses it.

    Raises:
        TraceFormatError: missing, unreadable, of another format, malformed,
            or written for a different resolved configuration (one line).
    """
    import torch

    if not path.is_file():
        raise TraceFormatError(f"{path}: no checkpoint to resume from")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's multi-line weights-only notices
            state = torch.load(path, weights_only=True)
    except Exception as exc:  # torch reports damage as any of a dozen exception types
        raise TraceFormatError(
            f"{path}: unreadable checkpoint ({type(exc).__name__}: {_first_line(exc)})"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT_VERSION:
        raise TraceFormatError(f"{path}: not a cosim checkpoint of format {FORMAT_VERSION}")
    problem = _structure_problem(state)
    if problem:
        raise TraceFormatError(f"{path}: damaged checkpoint ({problem})")
    try:
        stored = json.loads(state["config_json"])
    except ValueError:
        raise TraceFormatError(f"{path}: damaged checkpoint (config_json is not JSON)") from None
    if stored != json.loads(resolved_config_json):
        raise TraceFormatError(f"{path}: checkpoint was written for a different configuration")
    return state


def _structure_problem(state: dict[str, Any]) -> str:
    """What is wrong with a checkpoint's top-level structure, or ''."""
    expected: dict[str, type | tuple[type, ...]] = {
        "config_json": str, "next_round": int, "now_s": (int, float), "rows": dict,
        "journal": dict, "engine": (dict, type(None)),
    }
    for key, types in expected.items():
        if key not in state:
            return f"missing '{key}'"
        if not isinstance(state[key], types) or isinstance(state[key], bool):
            return f"'{key}' is a {type(state[key]).__name__}"
    if state["next_round"] < 0 or not math.isfinite(state["now_s"]) or state["now_s"] < 0:
        return "negative round or time"
    rows = state["rows"]
    if not all(isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in rows.items()):
        return "'rows' is not a table -> row count mapping"
    missing = [k for k in _JOURNAL_KEYS if k not in state["journal"]]
    if missing:
        return f"engine journal lacks {', '.join(missing)}"
    journal = state["journal"]
    if not (isinstance(journal["calls"], list) and isinstance(journal["applied"], dict)
            and isinstance(journal["downlink"], str)):
        return "engine journal is not (calls list, applied mapping, downlink text)"
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in journal["applied"]):
        return "engine journal's applied downlinks are not keyed by client index"
    return ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else "no detail")[:200]
