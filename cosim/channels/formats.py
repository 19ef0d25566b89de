"""One entry point per direction for every trace format: detect, open, read, write.

Large native CSVs are converted once into a chunked HDF5 cache: text cannot be
read from the middle, yet replay needs random access (each client may sit at
its own offset, and looping jumps back to the start), and re-parsing gigabytes
of text on every run would dominate its cost. Files up to
:data:`IN_MEMORY_BYTES` are simply loaded. The other text formats hold one
series each and are loaded (a one-hour Mahimahi trace at 1 ms is 29 MB as a
rate series).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from cosim.channels.config import TRACE_FORMATS, DriveTestColumns
from cosim.channels.drivetest import read_drive_test
from cosim.channels.location import require_file, trace_error
from cosim.channels.mahimahi import read_mahimahi, write_mahimahi
from cosim.channels.native_csv import iter_native_csv, read_native_csv, write_native_csv
from cosim.channels.native_h5 import H5Store, NativeH5Writer, write_native_h5
from cosim.channels.series import ChannelTrace, SampleStore
from cosim.channels.textio import WHITESPACE, scan_header
from cosim.channels.throughput import read_throughput, write_throughput
from cosim.errors import OutputError

IN_MEMORY_BYTES = 64 * 2**20
CACHE_CHUNK_ROWS = 65536
_CACHE_VERSION = "1"


def detect_format(path: str | os.PathLike[str]) -> str:
    """Guess a file's trace format (rules in ``TraceReplayConfig.format``)."""
    path = str(path)
    suffix = Path(path).suffix.lower()
    if suffix in (".h5", ".hdf5"):
        return "native_h5"
    head = scan_header(path, sep="auto", has_header=None)
    first = [n.lower() for n in head.names]
    if head.header_line is not None:
        if first and first[0] == "time_s" and head.sep == WHITESPACE:
            return "throughput"
        if first and first[0] == "time_s":
            if len(first) == 2 and first[1] in ("mbit/s", "mbit_s", "mbps"):
                return "throughput"
            return "native_csv"
        return "drive_test"
    if head.n_fields == 1:
        return "mahimahi"
    if head.n_fields == 2 and head.sep == WHITESPACE:
        return "throughput"
    if suffix == ".csv":
        return "native_csv"
    return "throughput" if head.n_fields == 2 else "native_csv"


def _check_format(fmt: str) -> str:
    if fmt not in TRACE_FORMATS:
        raise trace_error(fmt, f"unknown trace format; formats: {', '.join(TRACE_FORMATS[1:])}")
    return fmt


def read_trace(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    columns: DriveTestColumns | None = None,
    allow_out_of_range_snr: bool = False,
    throughput_convention: str = "hold",
) -> ChannelTrace:
    """Load any trace fully into memory (for conversion, info and small files)."""
    path = str(path)
    fmt = detect_format(path) if _check_format(fmt) == "auto" else fmt
    allow = allow_out_of_range_snr
    if fmt == "native_csv":
        return read_native_csv(path, allow_out_of_range_snr=allow)
    if fmt == "native_h5":
        with H5Store(path, allow_out_of_range_snr=allow) as store:
            return store.load()
    if fmt == "throughput":
        return read_throughput(path, throughput_convention)
    if fmt == "mahimahi":
        return read_mahimahi(path)
    return read_drive_test(path, columns or DriveTestColumns(), allow_out_of_range_snr=allow)


def _cache_path(path: str, cache_dir: str | None, allow: bool) -> Path:
    stat = os.stat(path)
    parts = [os.path.abspath(path), str(stat.st_size), str(stat.st_mtime_ns), str(allow)]
    key = "|".join([_CACHE_VERSION, *parts])
    root = cache_dir or os.environ.get("COSIM_CACHE_DIR") or "~/.cache/cosim/channels"
    name = f"{Path(path).stem}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.h5"
    return Path(root).expanduser() / name


def csv_to_h5_cache(path: str, cache_dir: str | None, *, allow: bool = False) -> Path:
    """Convert a native CSV to HDF5 in chunks (once; reused while the CSV is unchanged)."""
    target = _cache_path(path, cache_dir, allow)
    if target.is_file():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{target.parent}: cannot create trace cache ({exc})") from None
    layout, blocks = iter_native_csv(
        path, allow_out_of_range_snr=allow, chunk_rows=CACHE_CHUNK_ROWS
    )
    partial = target.with_suffix(f".{os.getpid()}.part")
    writer = NativeH5Writer(partial, layout.quantity, layout.labels, provenance=f"cache of {path}")
    try:
        for time_s, values in blocks:
            writer.append(time_s, values)
        writer.close()
    except BaseException:
        writer._file.close()
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, target)
    return target


def open_store(
    path: str | os.PathLike[str],
    fmt: str = "auto",
    *,
    columns: DriveTestColumns | None = None,
    allow_out_of_range_snr: bool = False,
    cache_dir: str | None = None,
    throughput_convention: str = "hold",
) -> SampleStore:
    """Open a trace for replay: HDF5 (and big native CSVs, via the cache) stream; the rest load."""
    path = str(path)
    require_file(path)
    fmt = detect_format(path) if _check_format(fmt) == "auto" else fmt
    allow = allow_out_of_range_snr
    if fmt == "native_h5":
        return H5Store(path, allow_out_of_range_snr=allow)
    if fmt == "native_csv" and os.path.getsize(path) > IN_MEMORY_BYTES:
        return H5Store(csv_to_h5_cache(path, cache_dir, allow=allow), allow_out_of_range_snr=allow)
    return read_trace(path, fmt, columns=columns, allow_out_of_range_snr=allow,
                      throughput_convention=throughput_convention)


WRITE_FORMATS = ("native_csv", "native_h5", "throughput", "mahimahi")


def write_trace(trace: ChannelTrace, path: str | os.PathLike[str], fmt: str) -> None:
    """Write ``trace`` in ``fmt`` (throughput and Mahimahi: rate traces, first column).

    Raises:
        ValueError: the format cannot hold this trace (SNR as Mahimahi, …).
        OutputError: the file cannot be written.
    """
    if fmt not in WRITE_FORMATS:
        raise ValueError(f"cannot write {fmt!r}; formats: {', '.join(WRITE_FORMATS)}")
    try:
        if fmt == "native_csv":
            comments = tuple(trace.provenance.splitlines())
            write_native_csv(trace, path, comments=comments)
        elif fmt == "native_h5":
            write_native_h5(trace, path)
        elif fmt == "throughput":
            write_throughput(trace, path)
        else:
            write_mahimahi(trace, path)
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc})") from None


__all__ = [
    "IN_MEMORY_BYTES",
    "WRITE_FORMATS",
    "csv_to_h5_cache",
    "detect_format",
    "open_store",
    "read_trace",
    "write_trace",
]
