"""Random bytes and random CSV fed to every reader: a trace or TraceFormatError, nothing else."""

from __future__ import annotations

import os
import tempfile

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cosim.channels.config import DriveTestColumns
from cosim.channels.formats import read_trace
from cosim.channels.series import ChannelTrace
from cosim.errors import TraceFormatError

FORMATS = ("native_csv", "native_h5", "throughput", "mahimahi", "drive_test")
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

_cells = st.one_of(
    st.integers(-10**6, 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "abc", "1e999", "0x10", "1_0",
                     "\"3\"", "2024-05-02 10:00:00", "-0", "+5", ".5", "5.", "#", "\x00"]),
)
_names = st.sampled_from(
    ["time_s", "snr_db", "snr_db_0", "snr_db_1", "rate_bps", "rate_bps_a", "Timestamp", "SNR",
     "Mbit/s", "x", ""]
)


@st.composite
def random_csv(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from([",", " ", "\t", ";"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    width = draw(st.integers(1, 4))
    lines = []
    if draw(st.booleans()):
        lines.append("# comment")
    if draw(st.booleans()):
        lines.append(sep.join(draw(st.lists(_names, min_size=1, max_size=width + 1))))
    for _ in range(draw(st.integers(0, 8))):
        row_width = draw(st.sampled_from([width, width, width, width - 1, width + 1]))
        lines.append(sep.join(draw(st.lists(_cells, min_size=max(row_width, 0),
                                            max_size=max(row_width, 0)))))
    end = newline if draw(st.booleans()) else ""
    return newline.join(lines) + end


MAPPINGS = (
    DriveTestColumns(),
    DriveTestColumns(time="time_s", time_unit="datetime", value="Mbit/s", value_unit="Mbit/s"),
    DriveTestColumns(time="x", time_unit="ms", value="SNR", value_unit="linear",
                     separator="whitespace", duplicates="mean"),
    DriveTestColumns(time="Timestamp", value="snr_db", separator="semicolon", duplicates="last"),
)


def _check_outcome(path: str, fmt: str, columns: DriveTestColumns = MAPPINGS[0]) -> None:
    try:
        trace = read_trace(path, fmt, columns=columns)
    except TraceFormatError as exc:
        assert str(exc)
        return
    assert isinstance(trace, ChannelTrace)
    assert np.isfinite(trace.values).all() and np.isfinite(trace.time_s).all()
    assert (np.diff(trace.time_s) > 0).all() and trace.end_s > trace.time_s[-1]


def _roundtrip(content: bytes, suffix: str, fmt: str,
               columns: DriveTestColumns = MAPPINGS[0]) -> None:
    fd, path = tempfile.mkstemp(suffix=suffix)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        _check_outcome(path, fmt, columns)
    finally:
        os.unlink(path)


@SETTINGS
@given(content=st.binary(max_size=300), fmt=st.sampled_from((*FORMATS, "auto")))
def test_random_bytes(content: bytes, fmt: str) -> None:
    _roundtrip(content, ".h5" if fmt == "native_h5" else ".dat", fmt)


@SETTINGS
@given(content=random_csv(), fmt=st.sampled_from((*FORMATS, "auto")),
       columns=st.sampled_from(MAPPINGS))
def test_random_csv(content: str, fmt: str, columns: DriveTestColumns) -> None:
    _roundtrip(content.encode("utf-8"), ".csv", fmt, columns)


@SETTINGS
@given(
    prefix=st.sampled_from([b"\x89HDF\r\n\x1a\n", b"time_s,snr_db\n", b"1\n", b"0 1\n"]),
    content=st.binary(max_size=200),
    fmt=st.sampled_from(FORMATS),
)
def test_plausible_prefix_then_garbage(prefix: bytes, content: bytes, fmt: str) -> None:
    _roundtrip(prefix + content, ".h5" if fmt == "native_h5" else ".csv", fmt)


@st.composite
def random_h5(draw: st.DrawFn) -> dict:
    """A valid HDF5 file with a random (often wrong) cosim-trace-like structure."""
    n = draw(st.integers(0, 6))
    floats = st.floats(allow_nan=True, allow_infinity=True, width=32)
    return {
        "format": draw(st.sampled_from(["cosim-channel-trace", "other", b"cosim-channel-trace"])),
        "quantity": draw(st.sampled_from(["snr_db", "rate_bps", "power", 3])),
        "end_s": draw(st.one_of(st.none(), floats)),
        "columns": draw(st.sampled_from(['["a", "b"]', "[1]", "not json", "{}", "[]"])),
        "time": draw(st.one_of(
            st.lists(floats, min_size=n, max_size=n),
            st.just([[0.0, 1.0]]), st.just(["a", "b"]), st.just([]),
        )),
        "values": draw(st.one_of(
            st.lists(st.lists(floats, min_size=2, max_size=2), min_size=n, max_size=n),
            st.lists(floats, min_size=n, max_size=n), st.just([[1, 2]]), st.just([["x"]]),
        )),
        "dataset": draw(st.sampled_from(["snr_db", "rate_bps", "other"])),
    }


@SETTINGS
@given(spec=random_h5())
def test_random_hdf5_structures(spec: dict) -> None:
    import h5py

    fd, path = tempfile.mkstemp(suffix=".h5")
    os.close(fd)
    try:
        with h5py.File(path, "w") as f:
            for key in ("format", "quantity", "end_s", "columns"):
                if spec[key] is not None:
                    f.attrs[key] = spec[key]
            f["time_s"] = spec["time"] if spec["time"] else np.zeros(0)
            f[spec["dataset"]] = spec["values"] if spec["values"] else np.zeros((0, 1))
        _check_outcome(path, "native_h5")
    finally:
        os.unlink(path)
