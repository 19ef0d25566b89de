"""The round protocol with a scripted backend: exact timing, deadlines, late clients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosim.scenario import LoadedScenario, parse_scenario
from cosim.sim.runner import run_scenario
from cosim.trace.reader import read_trace
from tests.sim.conftest import DETERMINISTIC, ScriptedBackend


def _loaded(text: str, overrides: list[str] | None = None) -> LoadedScenario:
    overrides = overrides or []
    return LoadedScenario(parse_scenario(text, "t.yaml", overrides), text, None, tuple(overrides))


def _run(tmp_path: Path, text: str, backend: ScriptedBackend, overrides=None):
    out = tmp_path / "run.h5"
    run_scenario(_loaded(text, overrides), out, progress=False, plots=False, backend=backend)
    return read_trace(out)


def test_round_times_equal_hand_computed_airtimes_and_compute(tmp_path: Path) -> None:
    """250 B per 1 ms slot both ways (capped Shannon, 10 RBs × 100 kHz × 2 bit/s/Hz).

    Round 0: compute 1500 FLOP / 1000 FLOP/s = 1.5 s, encode 0.25 s, uplink of
    1030 B = ⌈1030/250⌉ = 5 slots → ends 1.755 s. Round 1: downlink 480 B =
    2 slots (1.755 → 1.757), compute + encode 1.75 s → 3.507, uplink 5 slots → 3.512.
    """
    trace = _run(tmp_path, DETERMINISTIC, ScriptedBackend())
    rounds = trace["rounds"]
    np.testing.assert_allclose(rounds["start_s"], [0.0, 1.755], atol=1e-9)
    np.testing.assert_allclose(rounds["end_s"], [1.755, 3.512], atol=1e-9)
    events = trace["events"]
    client = events[events["client"] == 0]
    log = [(round(t, 9), k) for t, k in zip(client["time_s"], client["kind"], strict=True)]
    assert log == [
        (0.0, "compute_start"), (1.5, "compute_done"), (1.75, "encode"),
        (1.75, "uplink_start"), (1.755, "uplink_done"),
        (1.755, "downlink_start"), (1.757, "downlink_done"), (1.757, "compute_start"),
        (3.257, "compute_done"), (3.507, "encode"), (3.507, "uplink_start"),
        (3.512, "uplink_done"),
    ]  # fmt: skip
    transfers = trace["transfers"]
    assert list(transfers["direction"]) == ["ul", "dl", "ul"]
    assert list(transfers["size_bytes"]) == [1030, 480, 1030]
    packets = trace["packets"]
    assert packets.groupby("transfer")["size_bytes"].sum().tolist() == [1030, 480, 1030]
    assert list(rounds["uplink_bytes"]) == [1030, 1030]
    assert list(rounds["downlink_bytes"]) == [0, 480]


def test_deadline_cuts_uplink_and_delivers_the_whole_packets_prefix(tmp_path: Path) -> None:
    """Deadline 1.752 s: the uplink starts at 1.75 s, so 2 slots = 500 B = 5 packets arrive."""
    backend = ScriptedBackend()
    trace = _run(tmp_path, DETERMINISTIC, backend, ["server.round_deadline_s=1.752"])
    rounds = trace["rounds"]
    # Round 1 starts at 1.752 s and its compute alone (1.5 s) overruns its deadline.
    assert list(rounds["n_partial"]) == [1, 0]
    assert list(rounds["n_missed"]) == [0, 1]
    assert list(rounds["uplink_bytes"]) == [500, 0]
    assert backend.received[0] == {0: b"a" * 500}
    events = trace["events"]
    assert "uplink_partial" in set(events["kind"])
    np.testing.assert_allclose(rounds["end_s"].iloc[0], 1.752, atol=1e-9)


def test_client_computing_past_the_deadline_is_late_and_missed(tmp_path: Path) -> None:
    backend = ScriptedBackend(update_flops=3000.0)  # 3 s of compute, deadline 2 s
    trace = _run(tmp_path, DETERMINISTIC, backend,
                 ["server.round_deadline_s=2.0", "distillation.rounds=3"])
    rounds = trace["rounds"]
    assert rounds["n_missed"].iloc[0] == 1
    assert backend.received[0] == {}
    kinds = list(trace["events"]["kind"])
    assert "late" in kinds
    assert "busy" in kinds  # still computing round 0 when round 1 starts
    # The late work never reached the engine's encoder.
    assert ("encode_upload", 0, 0) not in backend.calls


def test_event_order_is_consistent(tmp_path: Path) -> None:
    trace = _run(tmp_path, DETERMINISTIC, ScriptedBackend(), ["distillation.rounds=3"])
    check_event_order(trace)


def check_event_order(trace) -> None:
    """downlink done < compute done < uplink start < uplink done ≤ deadline, or a recorded miss."""
    events = trace["events"]
    rounds = trace["rounds"].set_index("round")
    for (rnd, client), rows in events[events["client"] >= 0].groupby(["round", "client"]):
        times = {k: t for k, t in zip(rows["kind"], rows["time_s"], strict=True)}
        deadline = rounds.loc[rnd, "deadline_s"]
        if "downlink_done" in times and "compute_done" in times:
            assert times["downlink_done"] < times["compute_done"]
        if "uplink_start" in times:
            assert times["compute_done"] <= times["uplink_start"]
            ended = [k for k in ("uplink_done", "uplink_partial", "uplink_missed") if k in times]
            assert len(ended) == 1, rows
            assert times["uplink_start"] <= times[ended[0]]
            if np.isfinite(deadline):
                assert times[ended[0]] <= deadline + 1e-9
        else:
            misses = {"late", "update_skipped", "downlink_missed", "encode", "no_budget"}
            recorded = misses & set(times)
            assert recorded, (rnd, client, times)


@pytest.mark.parametrize("selection", ["all", "random_fraction", "best_m"])
def test_selection_policies_run(tmp_path: Path, selection: str) -> None:
    text = DETERMINISTIC.replace(
        "  - {name: a, distance_m: 10, device: unit}",
        "  - {name: a, distance_m: 10, device: unit}\n  - {name: b, distance_m: 40, device: unit}",
    )
    trace = _run(tmp_path, text, ScriptedBackend(),
                 [f"server.selection={selection}", "server.fraction=0.5", "server.m=1"])
    n_selected = list(trace["rounds"]["n_selected"])
    assert n_selected == ([2, 2] if selection == "all" else [1, 1])
    if selection == "best_m":  # client a is nearer: higher SNR
        uploads = trace["events"][trace["events"]["kind"] == "uplink_start"]
        assert set(uploads["client"]) == {0}


def test_updates_are_committed_at_compute_done_so_evaluation_is_causal(tmp_path: Path) -> None:
    """A client still computing when its round is evaluated is scored without the update:
    the protocol commits an update only when its simulated compute finishes."""
    order: list[tuple[str, int, float]] = []

    class Recording(ScriptedBackend):
        def commit_update(self, client: int) -> None:
            order.append(("commit", client, self.round))

        def evaluate(self, client: int):
            order.append(("evaluate", client, self.round))
            return super().evaluate(client)

        def local_update(self, client: int, round_index: int):
            order.append(("update", client, round_index))
            return super().local_update(client, round_index)

    backend = Recording(update_flops=3000.0)  # 3 s of compute, deadline 2 s: spans a round end
    trace = _run(tmp_path, DETERMINISTIC, backend,
                 ["server.round_deadline_s=2.0", "distillation.rounds=3"])
    done = trace["events"].query("kind == 'compute_done'")
    assert len(done) == sum(1 for call, _, _ in order if call == "commit") > 0
    # Per client, updates and commits alternate; an evaluation between an update and its
    # commit happened while that update was still running in simulated time.
    pending: dict[int, bool] = {}
    evaluated_while_pending = 0
    for call, client, _ in order:
        if call == "update":
            assert not pending.get(client), "an update started before the last one finished"
            pending[client] = True
        elif call == "commit":
            assert pending.get(client), "a commit without an update"
            pending[client] = False
        elif pending.get(client):
            evaluated_while_pending += 1
    assert evaluated_while_pending > 0  # the 3 s compute spans the round-0 evaluation
