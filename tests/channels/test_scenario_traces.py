"""Traces in scenarios: the shipped real recordings, and ``loop: false`` in ``cosim wireless``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cosim.channels.formats import read_trace
from cosim.cli import main
from cosim.scenario import load_scenario

REPO = Path(__file__).resolve().parents[2]
NORWAY = REPO / "channels" / "hsdpa_norway"
REAL = ["norway_bus_1", "norway_car_2", "norway_ferry_2", "norway_metro_2", "norway_train_1",
        "norway_tram_10"]


def test_real_traces_are_shipped_with_licence_and_provenance():
    assert "MIT License" in (NORWAY / "LICENSE").read_text(encoding="utf-8")
    assert "Riiser" in (NORWAY / "PROVENANCE.md").read_text(encoding="utf-8")
    readme = (REPO / "channels" / "README.md").read_text(encoding="utf-8")
    for name in REAL:
        row = next(line for line in readme.splitlines() if f"`hsdpa_norway/{name}`" in line)
        assert "recorded" in row and "MIT" in row
        for convention in ("hold", "pensieve"):
            trace = read_trace(NORWAY / name, throughput_convention=convention)
            assert trace.duration_s > 60 and (trace.values >= 0).all()


def test_trace_replay_scenario_replays_one_real_trace_per_client():
    loaded = load_scenario(REPO / "scenarios" / "trace_replay.yaml")
    channel = loaded.config.channel
    assert channel is not None and channel.throughput_convention == "pensieve"
    assert [Path(p).name for p in channel.traces] == REAL
    assert len(loaded.config.expanded_clients()) == len(REAL)


SCENARIO = """\
name: short
seed: 1
clients:
  - {{name: a, model: {{preset: tiny-llama}}, domain: kjv/law, distance_m: 50}}
channel: {{trace: t.csv, loop: false}}
wireless:
  traffic: {{payload_bytes: 2000, period_s: 0.5, duration_s: {duration}}}
data: {{domains: [kjv/law], seq_len: 64, eval_tokens: 512}}
distillation: {{rounds: 10, public_tokens_per_round: 64}}
server: {{round_deadline_s: 2.0}}
"""


@pytest.mark.parametrize("duration, ok", [(2.5, True), (3.5, False)])
def test_cosim_wireless_checks_loop_false_against_the_traffic_horizon(tmp_path, capsys,
                                                                      duration, ok):
    # A 3 s trace: 10 rounds × 2 s deadline = 20 s would wrongly be required; the traffic
    # runs 2.5 s (fits) or 3.5 s (does not).
    times = np.arange(30) * 0.1
    (tmp_path / "t.csv").write_text(
        "time_s,snr_db\n" + "".join(f"{t:.1f},10\n" for t in times), encoding="utf-8")
    (tmp_path / "s.yaml").write_text(SCENARIO.format(duration=duration), encoding="utf-8")
    code = main(["wireless", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "w.h5")])
    err = capsys.readouterr().err
    if ok:
        assert code == 0, err
    else:
        assert code != 0 and "trace too short" in err and "needs 3.5 s" in err


def test_cosim_wireless_replays_a_mahimahi_trace_exactly(tmp_path, capsys):
    """End to end: every uplink transfer ends on a whole ms of the trace (an opportunity)."""
    from cosim.trace.reader import read_trace as read_run

    (tmp_path / "b.mahi").write_bytes((REPO / "channels" / "bursty_vehicular.mahi").read_bytes())
    (tmp_path / "s.yaml").write_text(
        SCENARIO.format(duration=2.0).replace("{trace: t.csv, loop: false}",
                                              "{trace: b.mahi, offset_step_s: 0.0005}")
        .replace("- {name: a,", "- {count: 3, name: a,"),
        encoding="utf-8")
    code = main(["wireless", str(tmp_path / "s.yaml"), "--out", str(tmp_path / "w.h5")])
    assert code == 0, capsys.readouterr().err
    run = read_run(tmp_path / "w.h5", tables=["transfers", "clients"])
    done = run["transfers"][run["transfers"]["complete"]]
    assert len(done) > 0
    offsets_ms = run["transfers"].loc[done.index, "client"].to_numpy() * 0.5
    ends_ms = done["end_s"].to_numpy() * 1e3 + offsets_ms
    np.testing.assert_allclose(ends_ms, np.round(ends_ms), atol=1e-6)
