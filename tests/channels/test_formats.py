"""Readers and writers of every format: layouts, units, round trips, detection."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from cosim.channels.config import DriveTestColumns
from cosim.channels.drivetest import read_drive_test
from cosim.channels.formats import detect_format, read_trace, write_trace
from cosim.channels.mahimahi import (
    OPPORTUNITY_BPS,
    read_mahimahi,
    read_mahimahi_timestamps,
    trace_to_timestamps,
)
from cosim.channels.native_h5 import H5Store, write_native_h5
from cosim.channels.series import ChannelTrace
from cosim.errors import TraceFormatError


def _random_trace(rng: np.random.Generator, n: int = 200, c: int = 3) -> ChannelTrace:
    times = np.cumsum(rng.uniform(1e-4, 1e-2, n))
    values = rng.normal(5, 20, (n, c)).clip(-79, 79)
    return ChannelTrace(times, values, "snr_db", times[-1] + 1e-3, tuple("abc"[:c]))


# ------------------------------------------------------------------ native CSV
def test_native_csv_round_trip_is_bit_exact(tmp_path):
    trace = _random_trace(np.random.default_rng(0))
    path = tmp_path / "t.csv"
    write_trace(trace, path, "native_csv")
    back = read_trace(path)
    np.testing.assert_array_equal(back.time_s, trace.time_s)
    np.testing.assert_array_equal(back.values, trace.values)
    assert back.columns == ("a", "b", "c") and back.quantity == "snr_db"


def test_native_csv_layout_details(write):
    text = "# provenance: hand-made\r\n\r\ntime_s,snr_db\r\n0,1.5\r\n0.5,2\r\n1,-3\r\n\r\n\r\n"
    trace = read_trace(write("t.csv", text))
    np.testing.assert_array_equal(trace.time_s, [0, 0.5, 1])
    np.testing.assert_array_equal(trace.values[:, 0], [1.5, 2, -3])
    assert trace.end_s == 1.5  # last sample held for the previous spacing
    assert trace.meta["last_line"] == "6"


def test_native_csv_rate_columns(write):
    trace = read_trace(write("t.csv", "time_s,rate_bps_ue1,rate_bps_ue2\n0,1e6,2e6\n1,0,3e6\n"))
    assert trace.quantity == "rate_bps" and trace.columns == ("ue1", "ue2")


def test_single_sample_has_no_duration(write):
    with pytest.raises(TraceFormatError, match=r"line 2: a trace needs at least two samples"):
        read_trace(write("t.csv", "time_s,snr_db\n0,1\n"))


# ------------------------------------------------------------------ native HDF5
def test_native_h5_round_trip_and_attributes(tmp_path):
    trace = _random_trace(np.random.default_rng(1))
    path = tmp_path / "t.h5"
    write_native_h5(trace, path)
    with H5Store(path) as store:
        assert store.end_s == trace.end_s and store.columns == trace.columns
        np.testing.assert_array_equal(store.read(1, 10, 20), trace.values[10:20, 1])
        np.testing.assert_allclose(store.column_mean, trace.values.mean(axis=0))
    with h5py.File(path) as f:
        assert f["snr_db"].attrs["units"] == "dB" and f["time_s"].attrs["units"] == "s"
        assert f["snr_db"].chunks[1] == 1
    np.testing.assert_array_equal(read_trace(path).values, trace.values)


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda f: f.attrs.__setitem__("format", "other"), "attribute format is 'other'"),
        (lambda f: f.attrs.__setitem__("quantity", "power"), "quantity must be snr_db"),
        (lambda f: f.__delitem__("time_s"), "missing dataset /time_s"),
        (lambda f: f.attrs.__setitem__("end_s", 0.0), "attribute end_s 0.0 must be after"),
    ],
)
def test_native_h5_structure_errors(tmp_path, mutate, fragment):
    path = tmp_path / "t.h5"
    write_native_h5(_random_trace(np.random.default_rng(2), n=5), path)
    with h5py.File(path, "r+") as f:
        mutate(f)
    with pytest.raises(TraceFormatError, match=fragment):
        read_trace(path)


# ------------------------------------------------------------------ throughput logs
@pytest.mark.parametrize(
    "text",
    ["0 1.5\n1 2\n", "time_s Mbit/s\n0 1.5\n1 2\n", "time_s,Mbit/s\n0,1.5\n1,2\n",
     "  0\t1.5\n1   2\n"],
)
def test_throughput_layouts(write, text):
    trace = read_trace(write("t.log", text), "throughput")
    assert trace.quantity == "rate_bps"
    np.testing.assert_array_equal(trace.values[:, 0], [1.5e6, 2e6])
    assert trace.end_s == 2.0


def test_throughput_round_trip(tmp_path):
    trace = ChannelTrace([0.0, 0.7, 1.9], [[1.25e6], [0.0], [3.3e6]], "rate_bps", 2.5)
    write_trace(trace, tmp_path / "t.log", "throughput")
    back = read_trace(tmp_path / "t.log", "throughput")
    np.testing.assert_array_equal(back.values, trace.values)
    np.testing.assert_array_equal(back.time_s, trace.time_s)


# ------------------------------------------------------------------ Mahimahi
def test_mahimahi_opportunities_become_1ms_rate_bins(write):
    trace = read_mahimahi(write("t.up", "1\n1\n3\n4\n"))
    # Period 4 ms; bin b = (t - 1) mod 4 counts the opportunities of t.
    np.testing.assert_array_equal(trace.values[:, 0] / OPPORTUNITY_BPS, [2, 0, 1, 1])
    np.testing.assert_allclose(trace.time_s, [0, 1e-3, 2e-3, 3e-3])
    assert trace.end_s == pytest.approx(4e-3)
    assert OPPORTUNITY_BPS == 12e6


def test_mahimahi_timestamp_zero_wraps_to_the_last_bin(write):
    trace = read_mahimahi(write("t.up", "0\n2\n"))
    np.testing.assert_array_equal(trace.values[:, 0] / OPPORTUNITY_BPS, [0, 2])


def test_mahimahi_round_trip_is_exact(write, tmp_path):
    rng = np.random.default_rng(4)
    stamps = np.sort(rng.integers(1, 5000, 3000))
    stamps[-1] = 5000
    path = write("t.up", "".join(f"{s}\n" for s in stamps))
    write_trace(read_trace(path, "mahimahi"), tmp_path / "back.up", "mahimahi")
    np.testing.assert_array_equal(read_mahimahi_timestamps(tmp_path / "back.up")[0], stamps)


def test_rate_to_mahimahi_credits_bytes_per_millisecond():
    # 6 Mbit/s = one 1500-byte packet every 2 ms, for 10 ms.
    trace = ChannelTrace([0.0, 0.005], [[6e6], [6e6]], "rate_bps", 0.010)
    np.testing.assert_array_equal(trace_to_timestamps(trace), [2, 4, 6, 8, 10])


def test_snr_traces_cannot_become_mahimahi(tmp_path):
    trace = ChannelTrace([0.0, 1.0], [[1.0], [2.0]], "snr_db", 2.0)
    with pytest.raises(ValueError, match="holds SNR"):
        write_trace(trace, tmp_path / "x.up", "mahimahi")


# ------------------------------------------------------------------ drive-test CSV
DRIVE = (
    "Timestamp;Operator;RSRP;SNR;CQI;UL_bitrate\n"
    "2024-05-02 10:00:00.000;Voda fone;-95;12.5;11;18250\n"
    "2024-05-02 10:00:00.500;Voda fone;-97;10.1;10;15100\n"
    "2024-05-02 10:00:01.000;x;-99;8;9;0\n"
)


def test_drive_test_snr_with_datetimes(write):
    cols = DriveTestColumns(time_unit="datetime", separator="semicolon")
    trace = read_drive_test(write("d.csv", DRIVE), cols)
    np.testing.assert_allclose(trace.time_s, [0, 0.5, 1.0])
    np.testing.assert_array_equal(trace.values[:, 0], [12.5, 10.1, 8])
    assert trace.quantity == "snr_db" and trace.columns == ("SNR",)


def test_drive_test_rate_in_kbit_per_s(write):
    cols = DriveTestColumns(time_unit="datetime", separator="semicolon", value="UL_bitrate",
                            value_unit="kbit/s")
    trace = read_drive_test(write("d.csv", DRIVE), cols)
    assert trace.quantity == "rate_bps"
    np.testing.assert_array_equal(trace.values[:, 0], [18.25e6, 15.1e6, 0])


def test_drive_test_numeric_time_units_and_linear_snr(write):
    path = write("d.csv", "t_ms,snr_lin\n0,1\n250,10\n500,100\n")
    trace = read_drive_test(path, DriveTestColumns(time="t_ms", time_unit="ms",
                                                   value="snr_lin", value_unit="linear"))
    np.testing.assert_allclose(trace.time_s, [0, 0.25, 0.5])
    np.testing.assert_allclose(trace.values[:, 0], [0, 10, 20])


@pytest.mark.parametrize(("how", "expected"), [("mean", [2.0, 5.0]), ("last", [3.0, 5.0])])
def test_drive_test_duplicate_policies(write, how, expected):
    path = write("d.csv", "Timestamp,SNR\n0,1\n0,3\n1,5\n")
    trace = read_drive_test(path, DriveTestColumns(duplicates=how))
    np.testing.assert_array_equal(trace.values[:, 0], expected)


def test_drive_test_columns_validation():
    with pytest.raises(ValueError, match="time_unit: must be one of"):
        DriveTestColumns(time_unit="h")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="value: must name the value column"):
        DriveTestColumns(value=" ")


# ------------------------------------------------------------------ detection
@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("a.csv", "time_s,snr_db\n0,1\n", "native_csv"),
        ("a.csv", "time_s,Mbit/s\n0,1\n", "throughput"),
        ("a.log", "time_s Mbit/s\n0 1\n", "throughput"),
        ("a.log", "0 1\n1 2\n", "throughput"),
        ("a.up", "1\n2\n", "mahimahi"),
        ("a.csv", "Timestamp,SNR\n0,1\n", "drive_test"),
    ],
)
def test_detect_format(write, name, text, fmt):
    assert detect_format(write(name, text)) == fmt


def test_detect_hdf5_by_suffix(tmp_path):
    assert detect_format(tmp_path / "x.h5") == "native_h5"


def test_sparse_mahimahi_stays_small(write):
    # A day-long period with three opportunities: samples only where the rate changes,
    # plus one at P − 2 ms so that a native CSV (last spacing held) still ends at P.
    trace = read_mahimahi(write("t.up", "5\n5\n7\n86400000\n"))
    assert trace.n_samples == 7 and trace.end_s == pytest.approx(86400.0)
    np.testing.assert_allclose(trace.time_s * 1e3, [0, 4, 5, 6, 7, 86_399_998, 86_399_999],
                               atol=1e-6)
    np.testing.assert_array_equal(trace.values[:, 0] / OPPORTUNITY_BPS, [0, 2, 0, 1, 0, 0, 1])


def test_too_long_for_mahimahi():
    trace = ChannelTrace([0.0, 1e6], [[1e6], [1e6]], "rate_bps", 2e6)
    with pytest.raises(ValueError, match="too long to write as a Mahimahi trace"):
        trace_to_timestamps(trace)


def test_hdf5_declaring_too_many_samples(tmp_path):
    path = tmp_path / "huge.h5"
    with h5py.File(path, "w") as f:  # declared, never written: the file stays tiny
        f.attrs.update(format="cosim-channel-trace", quantity="snr_db")
        f.create_dataset("time_s", shape=(300_000_000,), dtype="f8", chunks=(1 << 16,))
        f.create_dataset("snr_db", shape=(300_000_000, 1), dtype="f4", chunks=(1 << 16, 1))
    assert path.stat().st_size < 100_000
    with pytest.raises(TraceFormatError, match="300000000 samples; replay keeps the time axis"):
        read_trace(path)
