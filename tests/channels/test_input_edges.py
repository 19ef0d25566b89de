"""Smaller input cases of issue 12 item 8: warnings, gzip, non-files, float ms stamps."""

from __future__ import annotations

import gzip
import os
import re
import warnings

import numpy as np
import pytest

from cosim.channels.formats import open_store, read_trace
from cosim.errors import TraceFormatError


def test_bad_cell_in_a_big_file_raises_without_a_pandas_warning(tmp_path):
    rows = ["time_s,snr_db", *(f"{i * 0.001:.3f},10" for i in range(300_000))]
    rows[200_001] = "200.000,abc"  # mixed types in one of pandas' internal chunks
    path = tmp_path / "bad.csv"
    path.write_text("\n".join(rows) + "\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(TraceFormatError, match=r"line 200002, column 2.*'abc'"):
            read_trace(path)
    assert [str(w.message) for w in caught] == []


@pytest.mark.parametrize("name, text", [
    ("t.log", "0 1.5\n1 2.5\n2 3.5\n"),
    ("m.mahi", "0\n3\n3\n7\n"),
    ("n.csv", "# provenance: x\ntime_s,snr_db_0,snr_db_1\n0,1,2\n0.5,3,4\n"),
])
def test_gzip_is_read_transparently(tmp_path, name, text):
    plain = tmp_path / name
    plain.write_text(text)
    packed = tmp_path / (name + ".gz")
    packed.write_bytes(gzip.compress(text.encode()))
    a, b = read_trace(plain), read_trace(packed)
    np.testing.assert_array_equal(a.time_s, b.time_s)
    np.testing.assert_array_equal(a.values, b.values)
    assert a.end_s == b.end_s


def test_corrupt_gzip_is_a_trace_error(tmp_path):
    path = tmp_path / "t.gz"
    path.write_bytes(gzip.compress(b"0 1\n1 2\n" * 1000)[:40])
    with pytest.raises(TraceFormatError, match=r"t\.gz"):
        read_trace(path)


def test_directory_and_fifo_are_named_as_such(tmp_path):
    with pytest.raises(TraceFormatError, match="is a directory"):
        open_store(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(TraceFormatError, match="not a regular file"):
        open_store(fifo)
    with pytest.raises(TraceFormatError, match="no such file"):
        open_store(tmp_path / "missing.csv")


@pytest.mark.parametrize("stamp", ["1e5", "62479.0", "7.5"])
def test_mahimahi_stamps_must_be_written_as_integers(write, stamp):
    path = write("m.mahi", f"1\n2\n{stamp}\n")
    wanted = re.escape(f"line 3, column 1: '{stamp}' is not a non-negative integer")
    with pytest.raises(TraceFormatError, match=wanted):
        read_trace(path, "mahimahi")


def test_drive_test_row_shorter_than_the_header_names_the_missing_cell(tmp_path):
    """A first data row with fewer fields than the header (found by the deep fuzzer):
    pandas sized the table by that row and lost the mapped column (a KeyError)."""
    from cosim.channels.config import DriveTestColumns

    path = tmp_path / "log.csv"
    path.write_text(",Timestamp,SNR\n1,0\n2,1,5\n")
    columns = DriveTestColumns(time="Timestamp", value="SNR")
    with pytest.raises(TraceFormatError, match=r"line 2, column 3 \('SNR'\): missing value"):
        read_trace(path, "drive_test", columns=columns)
    path.write_text(",Timestamp,SNR\n1,0,5\n2,1,6\n")
    assert read_trace(path, "drive_test", columns=columns).values.ravel().tolist() == [5.0, 6.0]
