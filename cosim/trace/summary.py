"""A one-screen human summary of a run trace (``cosim inspect``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from cosim.trace.reader import RunTrace


def _fmt_bytes(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def summarize(trace: RunTrace) -> str:
    """Config, rounds, clients, bytes and final metrics as plain text."""
    a = trace.attrs
    cfg = trace.config
    versions = f"schema {a.get('schema_version')}, cosim {a.get('cosim_version')}"
    end = a.get("end_wall_time", "") or "(unfinished)"
    lines = [
        f"trace      {trace.path}",
        f"status     {trace.status} ({versions})",
        f"command    {a.get('command', '')}  scenario {a.get('scenario_path', '')}"
        f"  seed {a.get('seed')}",
        f"wall time  {a.get('start_wall_time', '')} → {end}",
    ]
    dist = cfg.get("distillation", {})
    clients = trace["clients"]
    rounds = trace["rounds"]
    transfers = trace["transfers"]
    if dist and (len(rounds) or a.get("command") in ("run", "engine")):
        # A wireless-only trace has no method and no rounds (its config has defaults only).
        lines.append(f"method     {dist.get('method')}  rounds {len(rounds)} of "
                     f"{dist.get('rounds')} planned")
    if len(clients):
        lines.append(f"clients    {len(clients)}")
        for row in clients.itertuples():
            lines.append(
                f"  {row.client:>3} {row.name:<16} {row.model:<16} {row.domain or '-':<22}"
                f" {row.distance_m:8.1f} m  {row.device}"
            )
    if len(rounds):
        lat = (rounds["end_s"] - rounds["start_s"]).to_numpy()
        lines.append(
            f"rounds     {len(rounds)}  latency p50 {np.median(lat):.3f} s  "
            f"p95 {np.percentile(lat, 95):.3f} s  simulated end {rounds['end_s'].max():.3f} s"
        )
        lines.append(
            f"bytes      uplink {_fmt_bytes(rounds['uplink_bytes'].sum())}  "
            f"downlink {_fmt_bytes(rounds['downlink_bytes'].sum())}  "
            f"uploads missed {int(rounds['n_missed'].sum())}"
            f"  cut off with some records delivered {int(rounds['n_partial'].sum())}"
        )
    elif len(transfers):
        ul = transfers[transfers["direction"] == "ul"]
        delivered = _fmt_bytes(ul["delivered_bytes"].sum())
        offered = _fmt_bytes(ul["size_bytes"].sum())
        lines.append(
            f"transfers  {len(transfers)}  uplink delivered {delivered} of {offered}"
            f"  complete {int(ul['complete'].sum())}/{len(ul)}"
        )
    packets = trace["packets"]
    if len(packets):
        lost = int(packets["lost"].sum())
        sent = packets[packets["attempts"] > 0]
        tx = f"{sent['attempts'].mean():.2f}" if len(sent) else "-"
        lines.append(
            f"packets    {len(packets)}  lost {lost}  never sent {len(packets) - len(sent)}"
            f"  transmissions per sent packet {tx}"
        )
    metrics = trace["metrics"]
    if len(metrics):
        last = metrics[metrics["round"] == metrics["round"].max()]
        r = int(last["round"].iloc[0])
        when = "before training" if r < 0 else f"after round {r + 1} of {len(rounds)}"
        lines.append(f"metrics    {when} (accuracy: next-token top-1; perplexity):")
        table = last.pivot_table(
            index="client", columns="split", values=["perplexity", "accuracy"], aggfunc="mean"
        )
        lines.extend("  " + line for line in _frame_text(table).splitlines())
    return "\n".join(lines)


def _frame_text(frame: pd.DataFrame) -> str:
    with pd.option_context("display.width", 120, "display.precision", 4):
        return frame.to_string()
