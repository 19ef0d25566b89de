"""Export the channel realisation of a run (its HDF5 trace's ``channel`` table) as a trace.

The run trace stores long-format samples ``(time_s, client, snr_db, rate_bps)``,
written by the wireless network for every slot it simulated (every
``channel_sample_every_slots``-th slot; 1 makes replay exact): the SNR [dB]
under an SNR channel, or, when the run replayed a rate trace, the rate [bit/s]
with every RB (the SNR is then NaN). The export is an SNR or a rate trace
accordingly, and pivots the samples to one column per client on the union of
sample times;
a client without a sample at some time holds its previous one (zero-order
hold, which is what replay would have done), and before its first sample
it takes that first sample. The last sample holds for one slot.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from cosim.channels.location import trace_error
from cosim.channels.series import ChannelTrace, infer_end_s
from cosim.errors import TraceFormatError


def _slot_s(config: dict[str, Any]) -> float | None:
    """``wireless.mac.slot_s`` of a resolved config, if present."""
    node: Any = config
    for key in ("wireless", "mac", "slot_s"):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    try:
        value = float(node)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def pivot_samples(
    time_s: np.ndarray, client: np.ndarray, snr_db: np.ndarray, n_clients: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Long samples → ``(times (n,), snr (n, C))`` with per-client zero-order hold.

    Args:
        time_s, client, snr_db: (m,) samples; a repeated (time, client) keeps
            the last one.
        n_clients: C (default ``max(client) + 1``).
    """
    times, t_index = np.unique(time_s, return_inverse=True)
    n_c = int(client.max()) + 1 if n_clients is None else n_clients
    grid = np.full((times.shape[0], n_c), np.nan)
    grid[t_index, client] = snr_db
    for c in range(n_c):
        column = grid[:, c]
        known = np.flatnonzero(~np.isnan(column))
        if known.size == 0:
            continue
        # Index of the latest known sample at or before each row (first one before it).
        latest = np.maximum.accumulate(np.where(~np.isnan(column), np.arange(column.size), -1))
        grid[:, c] = column[np.where(latest >= 0, latest, known[0])]
    return times, grid


def record_run(run_path: str | os.PathLike[str]) -> ChannelTrace:
    """The uplink SNR (or replayed rate) realisation of a run as a native trace (C = clients).

    Raises:
        TraceFormatError: not a run trace, or it holds no channel samples, or
            a client never got one.
    """
    from cosim.trace.reader import read_trace as read_run

    run = read_run(run_path, tables=["channel"])
    table = run["channel"]
    path = str(run_path)
    if table.shape[0] == 0:
        raise trace_error(
            path, "the run trace has no channel samples (table /channel is empty)"
        )
    client = table["client"].to_numpy(dtype=np.int64)
    if client.min() < 0:
        raise trace_error(path, f"/channel has a negative client index {client.min()}")
    time_s = table["time_s"].to_numpy(dtype=np.float64)
    snr = table["snr_db"].to_numpy(dtype=np.float64)
    rate = table["rate_bps"].to_numpy(dtype=np.float64) if "rate_bps" in table else \
        np.full(snr.shape, np.nan)
    # A run replaying a rate trace records rates (its SNR is NaN): export those.
    is_rate = bool(np.isnan(snr).all() and np.isfinite(rate).any())
    value, what = (rate, "rate") if is_rate else (snr, "SNR")
    bad = np.flatnonzero(~np.isfinite(time_s) | ~np.isfinite(value))
    if bad.size:
        raise TraceFormatError(
            f"{path}, dataset /channel, row {int(bad[0]) + 1}: non-finite time or {what} "
            f"({time_s[bad[0]]}, {value[bad[0]]})"
        )
    times, grid = pivot_samples(time_s, client, value)
    missing = np.flatnonzero(np.isnan(grid[0]))
    if missing.size:
        raise trace_error(path, f"client {int(missing[0])} has no channel sample in the run")
    slot = _slot_s(run.config)
    end = float(times[-1] + slot) if slot else (
        infer_end_s(times, path) if times.size > 1 else float(times[-1] + 1e-3)
    )
    seed = run.attrs.get("seed", "?")
    scenario = run.attrs.get("scenario_path", "?")
    provenance = (
        f"recorded by 'cosim trace record' from run {path} (scenario {scenario}, seed {seed}); "
        + ("uplink rate [bit/s] with every RB per client, as the run replayed it" if is_rate
           else "uplink wideband SNR [dB] per client")
    )
    return ChannelTrace(
        times, grid, "rate_bps" if is_rate else "snr_db", end,
        tuple(str(c) for c in range(grid.shape[1])), path, provenance,
    )
