"""Every bad input of issue 4 gets a TraceFormatError naming file, line and column."""

from __future__ import annotations

import re

import pytest

from cosim.channels.config import DriveTestColumns
from cosim.channels.formats import read_trace
from cosim.errors import TraceFormatError

DATETIME = DriveTestColumns(time="Timestamp", time_unit="datetime", value="SNR")

# (format, file name, content, expected line, expected column or None, message fragment)
CASES = [
    # an empty file
    ("native_csv", "t.csv", "", None, None, "empty file"),
    ("native_csv", "t.csv", "# only a comment\n\n", None, None, "empty file"),
    ("native_csv", "t.csv", "time_s,snr_db\n", 2, None, "no data rows"),
    ("throughput", "t.log", "", None, None, "empty file"),
    ("mahimahi", "t.up", "\n\n", None, None, "empty file"),
    ("drive_test", "d.csv", "", None, None, "empty file"),
    ("native_h5", "t.h5", "", None, None, "not an HDF5 file"),
    # a header that does not match the declared format
    ("native_csv", "t.csv", "time,snr_db\n0,1\n1,2\n", 1, 1, "first column must be 'time_s'"),
    ("native_csv", "t.csv", "time_s,snr\n0,1\n1,2\n", 1, 2, "snr_db[_<client>]"),
    ("native_csv", "t.csv", "time_s,snr_db_0,rate_bps_1\n0,1,2\n", 1, 3, "expected snr_db_"),
    ("native_csv", "t.csv", "time_s,snr_db_a,snr_db_a\n0,1,2\n", 1, 3, "duplicate client"),
    ("native_csv", "t.csv", "0,1\n1,2\n", 1, None, "no header"),
    ("throughput", "t.log", "time_s kbit/s\n0 1\n1 2\n", 1, 2, "header must be 'time_s Mbit/s'"),
    ("throughput", "t.log", "0 1 2\n1 2 3\n", 1, None, "a throughput log has two"),
    ("mahimahi", "t.up", "time_ms\n1\n2\n", 1, 1, "non-numeric value 'time_ms'"),
    ("drive_test", "d.csv", "Time,SNR\n0,1\n", 1, None, "no time column 'Timestamp'"),
    ("drive_test", "d.csv", "Timestamp,RSRP\n0,1\n", 1, None, "no value column 'SNR'"),
    # non-numeric values (and rows of the wrong shape)
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,abc\n", 3, 2, "non-numeric value 'abc'"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,\n", 3, 2, "missing value"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,2,3\n", 3, None, "3 fields, expected 2"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n\n2,3\n", 3, None, "blank line"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,\"2\"\n", 3, 2, "non-numeric"),
    ("throughput", "t.log", "0 1\n1 x\n", 2, 2, "non-numeric value 'x'"),
    ("mahimahi", "t.up", "1\n2\nthree\n", 3, 1, "non-numeric value 'three'"),
    ("mahimahi", "t.up", "1\n2.5\n3\n", 2, 1, "non-negative integer"),
    ("drive_test", "d.csv", "Timestamp,RSRP,SNR\n0,-90,1\n1,-91,n/a\n", 3, 3, "non-numeric"),
    ("drive_test", "d.csv", "Timestamp,SNR\n0,1\nyesterday,2\n", 3, 1, "non-numeric"),
    ("native_csv", "t.csv", b"time_s,snr_db\n0,1\n1,\xff\n", 3, None, "not UTF-8"),
    # NaN or inf
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,nan\n", 3, 2, "NaN value"),
    ("native_csv", "t.csv", "time_s,snr_db_0,snr_db_1\n0,1,2\n1,3,-inf\n", 3, 3, "infinite"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,1e999\n", 3, 2, "infinite"),
    ("throughput", "t.log", "0 1\ninf 2\n", 2, 1, "infinite"),
    ("mahimahi", "t.up", "1\nNaN\n", 2, 1, "NaN"),
    ("drive_test", "d.csv", "Timestamp,SNR\n0,1\n1,NaN\n", 3, 2, "NaN"),
    # time going backwards
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n2,1\n1,1\n", 4, 1, "time goes backwards"),
    ("throughput", "t.log", "0 1\n2 1\n1 1\n", 4 - 1, 1, "time goes backwards"),
    ("mahimahi", "t.up", "1\n5\n4\n", 3, 1, "time goes backwards"),
    ("drive_test", "d.csv", "Timestamp,SNR\n2024-05-02 10:00:01,1\n2024-05-02 10:00:00,2\n",
     3, 1, "time goes backwards"),
    # duplicate timestamps where not allowed (Mahimahi allows them)
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,1\n1,2\n", 4, 1, "duplicate timestamp"),
    ("throughput", "t.log", "0 1\n0 2\n", 2, 1, "duplicate timestamp"),
    ("drive_test", "d.csv", "Timestamp,SNR\n0,1\n0,2\n", 3, 1, "duplicate timestamp"),
    # a negative rate
    ("native_csv", "t.csv", "time_s,rate_bps\n0,1e6\n1,-5\n", 3, 2, "negative rate -5"),
    ("throughput", "t.log", "0 1\n1 -0.5\n", 2, 2, "negative rate -0.5"),
    ("mahimahi", "t.up", "-1\n2\n", 1, 1, "non-negative integer"),
    # SNR outside a sane range
    ("native_csv", "t.csv", "time_s,snr_db\n0,1\n1,95\n", 3, 2, "outside the sane range"),
    ("native_csv", "t.csv", "time_s,snr_db\n0,-120\n1,0\n", 2, 2, "outside the sane range"),
    ("drive_test", "d.csv", "Timestamp,SNR\n0,1\n1,-110\n", 3, 2, "outside the sane range"),
]


def _columns(fmt: str, content: str | bytes) -> DriveTestColumns | None:
    if fmt != "drive_test":
        return None
    text = content.decode("latin-1") if isinstance(content, bytes) else content
    return DATETIME if "2024-" in text else DriveTestColumns()


@pytest.mark.parametrize(("fmt", "name", "content", "line", "column", "fragment"), CASES)
def test_bad_input_names_file_line_column(write, fmt, name, content, line, column, fragment):
    path = write(name, content)
    with pytest.raises(TraceFormatError) as info:
        read_trace(path, fmt, columns=_columns(fmt, content))
    message = str(info.value)
    assert message.startswith(path)
    assert fragment in message
    if line is not None:
        assert f", line {line}" in message
    else:
        assert ", line" not in message or "empty" in message
    if column is not None:
        assert re.search(rf", column {column}\b", message)


def test_sane_range_can_be_lifted(write):
    path = write("t.csv", "time_s,snr_db\n0,1\n1,95\n")
    trace = read_trace(path, "native_csv", allow_out_of_range_snr=True)
    assert trace.values[:, 0].tolist() == [1.0, 95.0]


def test_hdf5_bad_values_name_dataset_row_and_column(tmp_path):
    import numpy as np

    from cosim.channels.native_h5 import H5Store, write_native_h5
    from cosim.channels.series import ChannelTrace

    values = np.zeros((5, 2))
    values[3, 1] = np.nan
    path = tmp_path / "t.h5"
    write_native_h5(ChannelTrace(np.arange(5.0), values, "snr_db", 5.0, ("a", "b")), path)
    with H5Store(path) as store, pytest.raises(TraceFormatError) as info:
        store.read(1, 0, 5)
    assert f"{path}, dataset /snr_db, row 4, column 2 ('b'): NaN value" in str(info.value)


def test_hdf5_time_going_backwards(tmp_path):
    import h5py
    import numpy as np

    from cosim.channels.native_h5 import H5Store, write_native_h5
    from cosim.channels.series import ChannelTrace

    path = tmp_path / "t.h5"
    write_native_h5(ChannelTrace(np.arange(4.0), np.zeros((4, 1)), "snr_db", 4.0), path)
    with h5py.File(path, "r+") as f:
        f["time_s"][2] = 0.5
    with pytest.raises(TraceFormatError, match=r"dataset /time_s, row 3: time goes backwards"):
        H5Store(path)
