"""Configuration of trace replay (a scenario's ``channel:`` section when it names a trace).

A scenario switches to a recorded trace with one key; the rest is optional::

    channel:
      trace: channels/ped_umi_3p5ghz.csv    # or traces: [a.csv, b.csv, ...] (one per client)
      loop: false
      interpolation: linear
      offset_step_s: 5.0                    # client i starts i * 5 s into the trace

Field names map 1:1 onto :class:`TraceReplayConfig` (the generic YAML mapper
needs no special case). :func:`cosim.channels.replay.build_replay_source`
turns it into a :class:`cosim.wireless.channel.ChannelSource`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

from cosim.config.checks import (
    check_choice,
    check_int_range,
    check_literals,
    check_non_negative,
    check_positive,
)
from cosim.errors import ConfigFieldError

TimeUnit = Literal["s", "ms", "us", "datetime"]
ValueUnit = Literal["dB", "linear", "bit/s", "kbit/s", "Mbit/s", "Gbit/s"]
VALUE_UNITS: tuple[str, ...] = get_args(ValueUnit)


@dataclass(frozen=True)
class DriveTestColumns:
    """Column mapping of a drive-test CSV (``channel.columns`` in a scenario).

    Attributes:
        preset: a named mapping for a known export layout; its settings fill
            every field left at its default here. ``g_nettrack_dl`` /
            ``g_nettrack_ul`` / ``g_nettrack_snr``: G-NetTrack Pro exports
            (e.g. the Raca et al. 5G/4G drive-test datasets): columns
            ``Timestamp,Longitude,Latitude,Speed,…,RSRP,RSRQ,SNR,CQI,DL_bitrate,
            UL_bitrate,…``, time ``2019.12.16_13.40.04`` (``%Y.%m.%d_%H.%M.%S``),
            bit rates in kbit/s, SNR in dB, one row a second (rows sharing a
            second are averaged).
        time: header name of the time column.
        time_unit: ``s``/``ms``/``us`` for numbers, ``datetime`` for date-times
            (ISO 8601 like ``2024-05-02 10:00:00.500``, or ``time_format``).
        time_format: strftime-style format of ``datetime`` cells, e.g.
            ``%Y.%m.%d_%H.%M.%S``; empty: ISO 8601.
        value: header name of the SNR or rate column.
        value_unit: ``dB`` or ``linear`` (an SNR), or ``bit/s``, ``kbit/s``,
            ``Mbit/s``, ``Gbit/s`` (a rate).
        separator: ``comma``, ``semicolon``, ``tab`` or ``whitespace``.
        duplicates: rows sharing a timestamp are an ``error``, or merged by
            their ``mean`` (of SNR [dB] or rate [bit/s]) or the ``last`` row.
    """

    time: str = "Timestamp"
    time_unit: TimeUnit = "s"
    value: str = "SNR"
    value_unit: ValueUnit = "dB"
    separator: Literal["comma", "semicolon", "tab", "whitespace"] = "comma"
    duplicates: Literal["error", "mean", "last"] = "error"
    time_format: str = ""
    preset: str = ""

    def __post_init__(self) -> None:
        if self.preset:
            check_choice("preset", self.preset, tuple(DRIVE_TEST_PRESETS))
            defaults = DriveTestColumns()
            for key, value in DRIVE_TEST_PRESETS[self.preset].items():
                if getattr(self, key) == getattr(defaults, key):
                    object.__setattr__(self, key, value)
        if self.time_format and "%" not in self.time_format:
            raise ConfigFieldError(
                "time_format", f"must be a strftime format such as '%Y.%m.%d_%H.%M.%S', "
                f"got {self.time_format!r}"
            )
        if self.time_format and self.time_unit != "datetime":
            raise ConfigFieldError("time_format", "applies to time_unit: datetime only, "
                                   f"time_unit is {self.time_unit!r}")
        if not self.time.strip():
            raise ConfigFieldError("time", "must name the time column, got ''")
        if not self.value.strip():
            raise ConfigFieldError("value", "must name the value column, got ''")
        check_literals(self)


_G_NETTRACK = {"time": "Timestamp", "time_unit": "datetime",
               "time_format": "%Y.%m.%d_%H.%M.%S", "separator": "comma", "duplicates": "mean"}
#: Named column mappings (``columns.preset``); see :class:`DriveTestColumns`.
DRIVE_TEST_PRESETS: dict[str, dict[str, str]] = {
    "g_nettrack_dl": {**_G_NETTRACK, "value": "DL_bitrate", "value_unit": "kbit/s"},
    "g_nettrack_ul": {**_G_NETTRACK, "value": "UL_bitrate", "value_unit": "kbit/s"},
    "g_nettrack_snr": {**_G_NETTRACK, "value": "SNR", "value_unit": "dB"},
}


TraceFormat = Literal["auto", "native_csv", "native_h5", "throughput", "mahimahi", "drive_test"]
TRACE_FORMATS: tuple[str, ...] = get_args(TraceFormat)


@dataclass(frozen=True)
class TraceReplayConfig:
    """Replay recorded per-client SNR [dB] or rate [bit/s] series as the channel.

    Attributes:
        model: discriminator (always ``"trace"``).
        trace: one trace file shared by all clients (see ``client_columns``
            and the offsets), relative to the scenario file's directory.
        traces: alternatively, one file per client (client i replays
            ``traces[i]``, column ``client_columns[i]`` or 0).
        format: ``native_csv``, ``native_h5``, ``throughput`` (Pensieve
            ``time_s Mbit/s``), ``mahimahi``, ``drive_test`` (with
            ``columns``), or ``auto``: ``.h5``/``.hdf5`` → native_h5; a CSV
            whose header starts with ``time_s`` → native_csv (or throughput for
            ``time_s,Mbit/s``), other CSVs → drive_test; other files with one
            integer per line → mahimahi, with two numbers → throughput.
        client_columns: series (0-based column) each client replays; default
            client i → column i, or column 0 for every client when the trace
            has a single series.
        offsets_s: per-client start time in the trace [s] (one per client);
            default ``i · offset_step_s``.
        offset_step_s: start-time step between consecutive clients [s].
        loop: past the trace's end, wrap around to its start; when false,
            asking for time past the end raises ``TraceFormatError``.
        interpolation: ``zoh`` (hold each sample until the next) or
            ``linear`` (linear in dB, or in bit/s, between samples).
        snr_scale, snr_offset_db: SNR replayed = ``snr_scale · SNR + snr_offset_db`` [dB].
        rate_scale: rate replayed = ``rate_scale · rate`` [bit/s].
        allow_out_of_range_snr: accept SNRs outside [-80, 80] dB.
        columns: column mapping of a ``drive_test`` log.
        throughput_convention: what a throughput-log row means: ``hold``
            (its value holds until the next row) or ``pensieve`` (it covers
            the interval ending at its time, and the trace loops with period
            ``t_last − t_first``, as Pensieve's simulator replays it).
        cache_dir: where native CSVs over 64 MiB are converted once to
            chunked HDF5 (default ``$COSIM_CACHE_DIR`` or ``~/.cache/cosim/channels``).
    """

    model: Literal["trace"] = "trace"
    trace: str = ""
    traces: tuple[str, ...] = ()
    format: TraceFormat = "auto"
    client_columns: tuple[int, ...] = ()
    offsets_s: tuple[float, ...] = ()
    offset_step_s: float = 0.0
    loop: bool = True
    interpolation: Literal["zoh", "linear"] = "zoh"
    snr_scale: float = 1.0
    snr_offset_db: float = 0.0
    rate_scale: float = 1.0
    allow_out_of_range_snr: bool = False
    columns: DriveTestColumns = field(default_factory=DriveTestColumns)
    cache_dir: str | None = None
    throughput_convention: Literal["hold", "pensieve"] = "hold"

    def __post_init__(self) -> None:
        check_literals(self)
        if bool(self.trace) == bool(self.traces):
            raise ConfigFieldError(
                "trace", "set exactly one of trace (one file) and traces (one file per client)"
            )
        for i, path in enumerate(self.traces):
            if not path:
                raise ConfigFieldError(f"traces[{i}]", "must be a file path, got ''")
        for i, col in enumerate(self.client_columns):
            check_int_range(f"client_columns[{i}]", col, 0)
        for i, offset in enumerate(self.offsets_s):
            check_non_negative(f"offsets_s[{i}]", offset)
        check_non_negative("offset_step_s", self.offset_step_s)
        if self.offsets_s and self.offset_step_s:
            raise ConfigFieldError("offset_step_s", "set offsets_s or offset_step_s, not both")
        check_positive("snr_scale", self.snr_scale)
        if not math.isfinite(self.snr_offset_db):
            raise ConfigFieldError("snr_offset_db", f"must be finite, got {self.snr_offset_db!r}")
        check_positive("rate_scale", self.rate_scale)

    def offset_of(self, client: int) -> float:
        """Start time of ``client`` in the trace [s]."""
        return self.offsets_s[client] if self.offsets_s else client * self.offset_step_s
