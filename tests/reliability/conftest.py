"""Helpers for the reliability tests: exact trace comparison and a consistency check."""

from __future__ import annotations

from pathlib import Path

from cosim.trace import identity
from cosim.trace.reader import RunTrace

WALL_CLOCK_ATTRS = frozenset({"start_wall_time", "end_wall_time"})


def trace_differences(a: Path, b: Path, ignore_attrs: frozenset[str] = WALL_CLOCK_ATTRS
                      ) -> list[str]:
    """Every difference between two HDF5 traces (:func:`cosim.trace.identity.trace_differences`:
    every dataset bit for bit, every attribute), leaving out only the wall-clock times."""
    return identity.trace_differences(a, b, ignore_attrs)


def round_consistency_problems(trace: RunTrace, evaluate_every: int, n_rounds_total: int,
                               n_clients: int) -> list[str]:
    """Check that every round in ``rounds`` has its complete set of rows elsewhere.

    For each committed round r: events hold ``round_start``, ``aggregate`` and
    ``round_end`` of r; every uplink/downlink transfer of r has its packets
    (as many rows as its packet count, their bytes summing to its size); the
    delivered uplink bytes equal ``rounds.uplink_bytes``; each uplink transfer
    matches an ``uplink_start`` event of the same size; and an evaluated round
    has ``n_clients × splits`` metric rows. Rows of rounds beyond the last
    committed one may exist only partially and are not checked.
    """
    problems: list[str] = []
    rounds, events = trace["rounds"], trace["events"]
    transfers, packets, metrics = trace["transfers"], trace["packets"], trace["metrics"]
    if list(rounds["round"]) != list(range(len(rounds))):
        problems.append(f"rounds are not 0..n-1: {list(rounds['round'])}")
    splits = metrics["split"].nunique() if len(metrics) else 0
    for r in rounds["round"]:
        ev = events[events["round"] == r]
        for kind in ("round_start", "aggregate", "round_end"):
            if (ev["kind"] == kind).sum() != 1:
                problems.append(f"round {r}: {(ev['kind'] == kind).sum()} '{kind}' events")
        tr = transfers[transfers["round"] == r]
        for row in tr.itertuples():
            pk = packets[packets["transfer"] == row.transfer]
            if pk["size_bytes"].sum() != row.size_bytes:
                problems.append(f"round {r} transfer {row.transfer}: packets carry "
                                f"{pk['size_bytes'].sum()} of {row.size_bytes} bytes")
            if list(pk["seq"]) != list(range(len(pk))):
                problems.append(f"round {r} transfer {row.transfer}: packet seqs {list(pk['seq'])}")
        ul = tr[tr["direction"] == "ul"]
        row_r = rounds[rounds["round"] == r].iloc[0]
        if ul["delivered_bytes"].sum() != row_r["uplink_bytes"]:
            problems.append(f"round {r}: uplink bytes {ul['delivered_bytes'].sum()} vs "
                            f"{row_r['uplink_bytes']}")
        starts = ev[ev["kind"] == "uplink_start"]
        if sorted(zip(starts["client"], starts["bytes"], strict=True)) != sorted(
            zip(ul["client"], ul["size_bytes"], strict=True)
        ):
            problems.append(f"round {r}: uplink_start events do not match uplink transfers")
        evaluated = r == n_rounds_total - 1 or (r + 1) % evaluate_every == 0
        n_metrics = int((metrics["round"] == r).sum())
        if evaluated and (splits == 0 or n_metrics != n_clients * splits):
            problems.append(f"round {r}: {n_metrics} metric rows for {n_clients} clients")
        if not evaluated and n_metrics:
            problems.append(f"round {r}: metrics rows for a round that is not evaluated")
    return problems

