"""Wireless-only runs: rows in the trace schema, and the ``cosim wireless`` command."""

from __future__ import annotations

import argparse
from dataclasses import replace

import numpy as np

from cosim.cli.wireless import add_parser
from cosim.sim.wireless_only import run_wireless
from cosim.trace.reader import read_trace
from cosim.trace.recorder import MemorySink, Recorder
from cosim.trace.schema import TABLES
from cosim.wireless.config import TrafficConfig, WirelessConfig
from cosim.wireless.placement import place_distances


def run(traffic: TrafficConfig, n: int = 6):
    cfg = replace(WirelessConfig(channel_sample_every_slots=20), traffic=traffic)
    rng = np.random.default_rng(3)
    sink = MemorySink()
    summary = run_wireless(cfg, rng.uniform(30, 400, n), np.full(n, 1.0), rng, Recorder(sink))
    return summary, sink.tables


def test_periodic_payloads_produce_schema_rows():
    summary, tables = run(TrafficConfig(payload_bytes=40_000, period_s=0.2, rounds=3))
    for name in ("channel", "transfers", "packets", "events"):
        assert set(tables[name]) == {c.name for c in TABLES[name]}, name
    tr = tables["transfers"]
    assert summary.transfers == tr["transfer"].size == 18  # 6 clients × 3 rounds
    assert sorted(set(tr["round"])) == [0, 1, 2]
    assert np.all(tr["direction"] == "ul")
    np.testing.assert_allclose(np.sort(tr["start_s"])[::6], [0.0, 0.2, 0.4])
    pk = tables["packets"]
    assert pk["seq"].size == 18 * 27  # ⌈40 000 / 1500⌉ = 27 packets each
    done = tr["complete"]
    assert summary.complete == done.sum() and np.all(tr["delivered_bytes"][done] == 40_000)
    assert tables["channel"]["snr_db"].size > 0


def test_full_buffer_traffic_fills_each_period():
    summary, tables = run(TrafficConfig(full_buffer=True, period_s=0.05, rounds=2), n=3)
    tr = tables["transfers"]
    assert tr["transfer"].size == 6 and not tr["complete"].any()
    np.testing.assert_allclose(np.sort(tr["end_s"]), [0.05] * 3 + [0.1] * 3)
    assert summary.delivered_bytes > 0


def test_placement_is_uniform_in_area():
    cfg = WirelessConfig(min_distance_m=10.0, cell_radius_m=500.0)
    d = place_distances(cfg, [None] * 20_000, np.random.default_rng(0))
    assert d.min() >= 10 and d.max() <= 500
    # P(d ≤ r) = (r² − r0²) / (R² − r0²); at r = 250: 0.2496; binomial 5 SE = 0.015
    assert abs(np.mean(d <= 250) - (250**2 - 100) / (500**2 - 100)) < 0.015
    assert place_distances(cfg, [42.0], np.random.default_rng(0))[0] == 42.0


def test_cli_writes_an_hdf5_trace(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: w\nseed: 4\nclients:\n  - name: a\n    count: 3\n    distance_m: 100\n"
        "wireless:\n  traffic: {payload_bytes: 20000, period_s: 0.1, rounds: 2}\n"
    )
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    out = tmp_path / "run.h5"
    args = parser.parse_args(
        ["wireless", str(scenario), "--out", str(out), "--set", "wireless.mac.scheduler=max_rate"]
    )
    assert args.handler(args) == 0
    trace = read_trace(out)
    assert trace.status == "completed"
    assert len(trace["transfers"]) == 6
    assert trace.config["wireless"]["mac"]["scheduler"] == "max_rate"
    assert len(trace["packets"]) == 6 * 14
    clients = trace["clients"]  # filled although no model is built
    assert list(clients["client"]) == [0, 1, 2]
    assert list(clients["name"]) == ["a-0", "a-1", "a-2"]
    np.testing.assert_allclose(clients["distance_m"], 100.0)
    assert list(clients["n_params"]) == [-1, -1, -1]


def test_cli_wireless_imports_neither_torch_nor_transformers(tmp_path):
    """The wireless model never needs them (slow to import, large)."""
    import subprocess
    import sys

    scenario = tmp_path / "s.yaml"
    scenario.write_text(
        "name: w\nseed: 4\nclients:\n  - name: a\n    count: 2\n    distance_m: 100\n"
        "wireless:\n  traffic: {payload_bytes: 2000, period_s: 0.1, rounds: 1}\n"
    )
    code = (
        "import sys; from cosim.cli import main\n"
        f"rc = main(['wireless', {str(scenario)!r}, '--out', {str(tmp_path / 'r.h5')!r}])\n"
        "bad = [m for m in ('torch', 'transformers') if m in sys.modules]\n"
        "print('LOADED', bad); sys.exit(rc or bool(bad))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "LOADED []" in proc.stdout
