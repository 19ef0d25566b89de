"""Record a run's channel, summarise traces, the ``cosim trace`` subcommands, the config."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from cosim.channels import info as info_mod
from cosim.channels.config import TraceReplayConfig
from cosim.channels.formats import read_trace
from cosim.channels.info import format_summary, sparkline, summarize
from cosim.channels.record import pivot_samples, record_run
from cosim.channels.series import ChannelTrace
from cosim.cli.channels import add_parser
from cosim.errors import TraceFormatError, UsageError
from cosim.trace.writer import TraceWriter


def _run_trace(path, rows: dict | None, slot_s: float = 1e-3) -> str:
    config = {"wireless": {"mac": {"slot_s": slot_s}}}
    with TraceWriter(path, scenario_yaml="name: t\n", resolved_config=config, seed=5,
                     command="wireless", scenario_path="t.yaml") as trace:
        if rows is not None:
            rows = {"rate_bps": np.full(len(rows["time_s"]), np.nan), **rows}
            trace.append("channel", rows)
        trace.flush()
    return str(path)


def test_pivot_holds_each_clients_last_sample():
    times, grid = pivot_samples(
        np.array([0.0, 0.0, 1.0, 2.0, 2.0]), np.array([0, 1, 0, 1, 0]),
        np.array([1.0, 10.0, 2.0, 30.0, 3.0]),
    )
    np.testing.assert_array_equal(times, [0, 1, 2])
    np.testing.assert_array_equal(grid, [[1, 10], [2, 10], [3, 30]])


def test_pivot_backfills_before_a_clients_first_sample():
    _, grid = pivot_samples(np.array([0.0, 1.0]), np.array([0, 1]), np.array([1.0, 7.0]))
    np.testing.assert_array_equal(grid, [[1, 7], [1, 7]])


def test_record_run_exports_the_channel_table(tmp_path):
    t = np.repeat(np.arange(4) * 1e-3, 2)
    c = np.tile([0, 1], 4)
    snr = np.arange(8) * 1.25 - 3
    run = _run_trace(tmp_path / "run.h5", {"time_s": t, "client": c, "snr_db": snr})
    trace = record_run(run)
    np.testing.assert_array_equal(trace.time_s, np.arange(4) * 1e-3)
    np.testing.assert_array_equal(trace.values, snr.reshape(4, 2))
    assert trace.end_s == pytest.approx(4e-3)  # last sample holds one slot
    assert "seed 5" in trace.provenance and "run.h5" in trace.provenance


def test_record_run_without_channel_samples(tmp_path):
    run = _run_trace(tmp_path / "run.h5", None)
    with pytest.raises(TraceFormatError, match="no channel samples"):
        record_run(run)


def test_record_of_a_non_trace(write):
    with pytest.raises(TraceFormatError):
        record_run(write("x.h5", "not hdf5"))


def test_sparkline_scales_to_min_max():
    line, lo, hi = sparkline(np.array([0.0, 1.0, 2.0, 7.0]))
    assert line == "▁▂▃█" and (lo, hi) == (0.0, 7.0)
    assert sparkline(np.array([3.0, 3.0]))[0] == "▄▄"


def test_summary_values(tmp_path):
    values = np.column_stack([np.arange(100.0) - 50, np.full(100, 2.0)])
    trace = ChannelTrace(np.arange(100) * 0.1, values, "snr_db", 10.0, ("x", "y"))
    s = summarize(trace, width=10)
    assert (s.n_samples, s.duration_s, s.spacing_s) == (100, 10.0, pytest.approx(0.1))
    assert s.mean == pytest.approx(values.mean())
    assert s.p50 == pytest.approx(np.percentile(values, 50))
    assert s.column_mean == pytest.approx((-0.5, 2.0)) and s.subsample == 1
    assert len(s.sparkline) == 10 and s.sparkline[0] == "▁" and s.sparkline[-1] == "█"
    text = format_summary(s)
    assert "SNR [dB], 2 series: x, y" in text and "duration 10 s" in text


def test_summary_subsamples_percentiles_of_big_traces(monkeypatch):
    monkeypatch.setattr(info_mod, "PERCENTILE_SAMPLES", 50)
    monkeypatch.setattr(info_mod, "BLOCK_ROWS", 7)
    trace = ChannelTrace(np.arange(100.0), np.arange(100.0)[:, None], "snr_db", 100.0)
    s = summarize(trace)
    assert s.subsample == 2 and s.mean == pytest.approx(49.5)
    assert "every 2th row" in format_summary(s)


def _cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(list(argv))
    return args.handler(args)


def test_cli_record_info_convert(tmp_path, capsys):
    t = np.repeat(np.arange(50) * 1e-3, 3)
    c = np.tile([0, 1, 2], 50)
    snr = np.random.default_rng(0).normal(10, 3, 150)
    run = _run_trace(tmp_path / "run.h5", {"time_s": t, "client": c, "snr_db": snr})
    out = tmp_path / "rec.h5"
    assert _cli("trace", "record", run, "--out", str(out)) == 0
    np.testing.assert_array_equal(read_trace(out).values, snr.reshape(50, 3))
    assert _cli("trace", "info", str(out)) == 0
    text = capsys.readouterr().out
    assert "3 series" in text and "duration 0.05 s" in text and "provenance: recorded" in text
    assert _cli("trace", "convert", str(out), "--to", "native_csv", "--out",
                str(tmp_path / "rec.csv")) == 0
    np.testing.assert_array_equal(read_trace(tmp_path / "rec.csv").values, snr.reshape(50, 3))
    assert _cli("trace", "info", str(tmp_path / "rec.csv"), "--json") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["columns"] == ["0", "1", "2"] and summary["quantity"] == "snr_db"


def test_cli_convert_drive_test_to_throughput(write, tmp_path):
    path = write("d.csv", "time,UL\n0,1000\n1,2000\n")
    out = tmp_path / "t.log"
    assert _cli("trace", "convert", path, "--from", "drive_test", "--time-column", "time",
                "--value-column", "UL", "--value-unit", "kbit/s", "--to", "throughput",
                "--out", str(out)) == 0
    assert out.read_text().splitlines() == ["time_s Mbit/s", "0.0 1.0", "1.0 2.0"]


def test_cli_errors(write, tmp_path):
    snr = write("s.csv", "time_s,snr_db\n0,1\n1,2\n")
    with pytest.raises(TraceFormatError, match="cannot write as mahimahi"):
        _cli("trace", "convert", snr, "--to", "mahimahi", "--out", str(tmp_path / "x.up"))
    with pytest.raises(UsageError, match="pass --to"):
        _cli("trace", "record", snr, "--out", str(tmp_path / "x.bin"))


# ------------------------------------------------------------------ config
def test_config_requires_exactly_one_source():
    with pytest.raises(ValueError, match="set exactly one of trace"):
        TraceReplayConfig()
    with pytest.raises(ValueError, match="set exactly one of trace"):
        TraceReplayConfig(trace="a.csv", traces=("b.csv",))


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"offsets_s": (0.0, -1.0)}, r"offsets_s\[1\]: must be >= 0, got -1.0"),
        ({"offset_step_s": -2.0}, "offset_step_s: must be >= 0"),
        ({"offsets_s": (1.0,), "offset_step_s": 1.0}, "not both"),
        ({"snr_scale": 0.0}, "snr_scale: must be > 0"),
        ({"rate_scale": -1.0}, "rate_scale: must be > 0"),
        ({"interpolation": "cubic"}, "interpolation: must be one of"),
        ({"format": "pcap"}, "format: must be one of"),
        ({"client_columns": (-1,)}, r"client_columns\[0\]: must be >= 0"),
        ({"snr_offset_db": float("nan")}, "snr_offset_db: must be finite"),
    ],
)
def test_config_validation_names_the_field(kwargs, fragment):
    with pytest.raises(ValueError, match=fragment):
        TraceReplayConfig(trace="a.csv", **kwargs)


def test_config_maps_from_yaml():
    from cosim.config.mapping import build
    from cosim.config.yaml_source import load_yaml_text

    text = (
        "trace: channels/ped_umi_3p5ghz.csv\nloop: false\ninterpolation: linear\n"
        "offsets_s: [0, 2.5]\ncolumns: {time: Time, time_unit: ms, value: UL, "
        "value_unit: Mbit/s}\n"
    )
    source = load_yaml_text(text, "s.yaml")
    cfg = build(TraceReplayConfig, source.data, source)
    assert cfg.loop is False and cfg.offsets_s == (0.0, 2.5) and cfg.offset_of(1) == 2.5
    assert cfg.columns.value_unit == "Mbit/s" and cfg.columns.time == "Time"
