"""End to end with the real engine (tiny SLMs) through the real console script."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from cosim.trace.reader import read_trace
from tests.conftest import cosim_command
from tests.sim.conftest import TINY_REAL
from tests.sim.test_protocol import check_event_order

pytestmark = pytest.mark.slow


def test_cosim_run_cli_writes_a_consistent_trace(tmp_path: Path) -> None:
    scenario = tmp_path / "tiny.yaml"
    scenario.write_text(TINY_REAL.replace("output: {plots: false}", "output: {plots: true}"))
    out = tmp_path / "run.h5"
    proc = subprocess.run(
        [*cosim_command(), "run", str(scenario), "--out", str(out), "--no-progress"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "status     completed" in proc.stdout
    trace = read_trace(out)
    assert trace.status == "completed"
    check_event_order(trace)

    events, transfers, packets = trace["events"], trace["transfers"], trace["packets"]
    encodes = events[events["kind"] == "encode"].set_index(["round", "client"])
    uplinks = transfers[transfers["direction"] == "ul"]
    assert len(uplinks) == 4  # 2 clients × 2 rounds
    for row in uplinks.itertuples():
        # The bytes the wireless model carried are the bytes the engine produced.
        assert row.size_bytes == encodes.loc[(row.round, row.client), "bytes"]
        sent = packets[packets["transfer"] == row.transfer]["size_bytes"].sum()
        assert sent == row.size_bytes
    rounds = trace["rounds"]
    assert rounds["uplink_bytes"].sum() == uplinks["delivered_bytes"].sum()
    metrics = trace["metrics"]
    assert len(metrics) == 2 * 2 * 2  # rounds × clients × splits
    assert np.isfinite(metrics["perplexity"]).all()
    plots = sorted(p.name for p in (tmp_path / "run_plots").glob("*.png"))
    assert plots == [
        "accuracy_by_client_strength.png", "accuracy_vs_time.png",
        "accuracy_vs_uplink_bytes.png", "k_vs_snr.png", "round_latency_cdf.png",
    ]
    assert (tmp_path / "run_plots" / "k_vs_snr.pdf").is_file()
    assert "plots      " in proc.stdout
    assert not (tmp_path / "run.h5.ckpt").exists()  # a finished run removes its checkpoint


def test_lower_snr_gives_smaller_k_inside_a_run(tmp_path: Path) -> None:
    """Four identical clients at growing distance on a fading-free channel: k falls with SNR."""
    clients = "\n".join(
        f"  - {{name: c{d}, model: {{preset: tiny-llama, lora_rank: 4}}, domain: kjv/law, "
        f"distance_m: {d}, device: laptop}}"
        for d in (30, 120, 250, 450)
    )
    text = TINY_REAL.split("clients:\n")[0] + "clients:\n" + clients + "\n" + \
        "wireless:" + TINY_REAL.split("wireless:")[1]
    text = text.replace("round_deadline_s: 0.6", "round_deadline_s: 0.012")
    scenario = tmp_path / "k.yaml"
    scenario.write_text(text)
    out = tmp_path / "k.h5"
    proc = subprocess.run(
        [*cosim_command(), "run", str(scenario), "--out", str(out), "--no-progress",
         "--set", "distillation.rounds=1"],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    events = read_trace(out)["events"]
    encodes = events[events["kind"] == "encode"].sort_values("client")
    snr = encodes["snr_db"].to_numpy()
    k = encodes["k"].to_numpy()
    assert np.all(np.diff(snr) < 0)  # farther → lower SNR
    assert np.all(np.diff(k) <= 0), k  # lower SNR → k no larger
    assert k[-1] < k[0], k
