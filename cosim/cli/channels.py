"""``cosim trace record | convert | info``: export, convert and summarise channel traces.

Registered by :func:`add_parser`; the handlers import the trace modules
lazily so other subcommands stay fast to start.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from typing import TYPE_CHECKING

from cosim.errors import TraceFormatError, UsageError

READ_FORMATS = ("auto", "native_csv", "native_h5", "throughput", "mahimahi", "drive_test")
WRITE_FORMATS = ("native_csv", "native_h5", "throughput", "mahimahi")
DRIVE_TEST_PRESET_NAMES = ("g_nettrack_dl", "g_nettrack_ul", "g_nettrack_snr")

if TYPE_CHECKING:
    from cosim.channels.series import ChannelTrace


def _add_input_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="from_format", choices=READ_FORMATS, default="auto",
                   help="input format (default: guessed from the file)")
    p.add_argument("--allow-out-of-range-snr", action="store_true",
                   help="accept SNRs outside [-80, 80] dB")
    p.add_argument("--throughput-convention", default="hold", choices=("hold", "pensieve"),
                   help="throughput-log rows hold until the next row (hold) or cover the "
                   "interval ending at their time (pensieve)")
    g = p.add_argument_group("drive-test column mapping (--from drive_test)")
    g.add_argument("--time-column", default="Timestamp", help="time column name")
    g.add_argument("--time-unit", default="s", choices=("s", "ms", "us", "datetime"))
    g.add_argument("--value-column", default="SNR", help="SNR or rate column name")
    g.add_argument("--value-unit", default="dB",
                   choices=("dB", "linear", "bit/s", "kbit/s", "Mbit/s", "Gbit/s"))
    g.add_argument("--separator", default="comma",
                   choices=("comma", "semicolon", "tab", "whitespace"))
    g.add_argument("--duplicates", default="error", choices=("error", "mean", "last"),
                   help="rows sharing a timestamp")
    g.add_argument("--time-format", default="",
                   help="strftime format of date-times, e.g. '%%Y.%%m.%%d_%%H.%%M.%%S' "
                   "(default ISO 8601)")
    g.add_argument("--preset", default="", choices=("", *DRIVE_TEST_PRESET_NAMES),
                   help="named mapping of a known export layout (fills unset options)")


def _read(args: argparse.Namespace, path: str) -> ChannelTrace:
    from cosim.channels.config import DriveTestColumns
    from cosim.channels.formats import read_trace

    try:
        columns = DriveTestColumns(
            time=args.time_column, time_unit=args.time_unit, value=args.value_column,
            value_unit=args.value_unit, separator=args.separator, duplicates=args.duplicates,
            time_format=args.time_format, preset=args.preset,
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return read_trace(
        path, args.from_format, columns=columns,
        allow_out_of_range_snr=args.allow_out_of_range_snr,
        throughput_convention=args.throughput_convention,
    )


def _write(trace: ChannelTrace, out: str, fmt: str) -> None:
    from cosim.channels.formats import write_trace

    try:
        write_trace(trace, out, fmt)
    except ValueError as exc:
        raise TraceFormatError(f"{out}: cannot write as {fmt}: {exc}") from None


def _out_format(out: str, given: str | None) -> str:
    if given:
        return given
    suffix = os.path.splitext(out)[1].lower()
    return {".h5": "native_h5", ".hdf5": "native_h5", ".csv": "native_csv"}.get(suffix, "")


def _record(args: argparse.Namespace) -> int:
    from cosim.channels.record import record_run

    fmt = _out_format(args.out, args.to)
    if not fmt:
        raise UsageError(f"cannot tell the format of {args.out!r}; pass --to")
    _write(record_run(args.run), args.out, fmt)
    print(f"wrote {args.out} ({fmt})")
    return 0


def _convert(args: argparse.Namespace) -> int:
    trace = _read(args, args.input)
    _write(trace, args.out, args.to)
    print(f"wrote {args.out} ({args.to}, {trace.n_columns} series, {trace.duration_s:g} s)")
    return 0


def _info(args: argparse.Namespace) -> int:
    from cosim.channels.formats import open_store
    from cosim.channels.info import format_summary, summarize

    if args.from_format in ("auto", "native_h5", "native_csv"):
        store = open_store(args.file, args.from_format,
                           allow_out_of_range_snr=args.allow_out_of_range_snr,
                           throughput_convention=args.throughput_convention)
    else:
        store = _read(args, args.file)
    try:
        summary = summarize(store)
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    if args.json:
        print(json.dumps(dataclasses.asdict(summary), ensure_ascii=False))
    else:
        print(format_summary(summary))
    return 0


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    """Register ``cosim trace`` and its subcommands."""
    trace = subparsers.add_parser(
        "trace", help="record, convert and inspect channel traces",
        description="Channel traces: export a run's channel, convert formats, summarise.",
    )
    sub = trace.add_subparsers(dest="trace_command", metavar="SUBCOMMAND")
    sub.required = True

    p = sub.add_parser("record", help="export the channel realisation of a run trace",
                       description="Export the per-client SNR of a run (its /channel table).")
    p.add_argument("run", metavar="RUN.h5", help="run trace written by cosim run/wireless")
    p.add_argument("--out", required=True, help="output trace (.h5 or .csv)")
    p.add_argument("--to", choices=("native_h5", "native_csv"), default=None,
                   help="output format (default: from the --out suffix)")
    p.set_defaults(handler=_record)

    p = sub.add_parser("convert", help="convert a trace between formats",
                       description="Convert a channel trace. Throughput and Mahimahi outputs "
                       "need a rate trace and take its first series.")
    p.add_argument("input", metavar="IN")
    p.add_argument("--to", required=True, choices=WRITE_FORMATS, help="output format")
    p.add_argument("--out", required=True, help="output file")
    _add_input_options(p)
    p.set_defaults(handler=_convert)

    p = sub.add_parser("info", help="summarise a trace",
                       description="Duration, series, mean and percentiles, and a sparkline.")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    _add_input_options(p)
    p.set_defaults(handler=_info)
