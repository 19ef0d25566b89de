"""The traces in channels/: readable, documented, and reproducible by their script."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from cosim.channels.config import TraceReplayConfig
from cosim.channels.formats import read_trace
from cosim.channels.replay import build_replay_source

CHANNELS = Path(__file__).resolve().parents[2] / "channels"
SHIPPED = ["ped_umi_3p5ghz.csv", "vehicular_30mps.csv", "cell_edge_static.csv",
           "bursty_vehicular.mahi"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_trace_is_small_documented_and_replayable(name):
    path = CHANNELS / name
    assert path.stat().st_size < 300_000
    readme = (CHANNELS / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith(f"| `{name}`"))
    assert "cosim:" in row and "seed" in row
    trace = read_trace(path)
    assert np.isfinite(trace.values).all() and trace.duration_s >= 9.9
    src = build_replay_source(TraceReplayConfig(trace=str(path)), 2, 1e-3)
    assert np.isfinite(src.block(0, 100).values).all()


def test_make_traces_reproduces_the_shipped_files(tmp_path):
    spec = importlib.util.spec_from_file_location("make_traces", CHANNELS / "make_traces.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(tmp_path)
    for name in SHIPPED:
        assert (tmp_path / name).read_bytes() == (CHANNELS / name).read_bytes(), name


def _blocks() -> list[str]:
    text = (CHANNELS / "README.md").read_text(encoding="utf-8")
    return [b.split("\n", 1)[1] for b in text.split("```")[1::2]]


def test_readme_examples_parse(tmp_path, monkeypatch):
    import yaml

    from cosim.channels.config import DriveTestColumns

    blocks = _blocks()
    native = next(b for b in blocks if b.startswith("# provenance"))
    throughput = next(b for b in blocks if b.startswith("time_s Mbit/s"))
    mahimahi = next(b for b in blocks if b.startswith("3\n3\n"))
    drive = next(b for b in blocks if b.startswith("Timestamp,RSRP"))
    mapping = next(b for b in blocks if "format: drive_test" in b)
    snippet = next(b for b in blocks if b.startswith("import h5py"))
    scenario = yaml.safe_load(next(b for b in blocks if b.startswith("channel:\n  trace: chan")))
    for name, text, fmt in [("n.csv", native, "native_csv"), ("t.log", throughput, "throughput"),
                            ("m.up", mahimahi, "mahimahi")]:
        (tmp_path / name).write_text(text)
        assert read_trace(tmp_path / name, fmt).n_samples >= 3
    (tmp_path / "d.csv").write_text(drive)
    columns = DriveTestColumns(**yaml.safe_load(mapping)["channel"]["columns"])
    assert read_trace(tmp_path / "d.csv", "drive_test", columns=columns).quantity == "rate_bps"
    monkeypatch.chdir(tmp_path)
    exec(snippet, {})
    assert read_trace(tmp_path / "tiny.h5").values[:, 0].tolist() == [12.3, 12.1, 11.9]
    TraceReplayConfig(**{k: tuple(v) if isinstance(v, list) else v
                         for k, v in scenario["channel"].items()})
