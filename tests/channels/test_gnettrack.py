"""G-NetTrack drive-test exports load as exported (issue 12 item 5)."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.channels.config import DriveTestColumns, TraceReplayConfig
from cosim.channels.formats import read_trace
from cosim.channels.info import summarize
from cosim.channels.replay import build_replay_source
from cosim.errors import ConfigFieldError, TraceFormatError

# The layout of G-NetTrack Pro exports (Raca et al. 5G/4G datasets); '-' in unused columns.
LOG = """\
Timestamp,Longitude,Latitude,Speed,Operatorname,CellID,NetworkMode,RSRP,RSRQ,SNR,CQI,RSSI,\
DL_bitrate,UL_bitrate,State,NRxRSRP,NRxRSRQ
2019.12.16_13.40.04,-8.50316,51.89217,0,A,2,5G,-91,-11,5.0,12,-81,1200,40,D,-,-
2019.12.16_13.40.05,-8.50316,51.89217,0,A,2,5G,-92,-11,4.0,12,-81,2400,80,D,-,-
2019.12.16_13.40.05,-8.50317,51.89218,1,A,2,5G,-92,-11,6.0,12,-81,3600,80,D,-,-
2019.12.16_13.40.07,-8.50318,51.89219,2,A,2,LTE,-95,-12,2.0,10,-84,600,20,D,-95,-12
"""


def test_preset_reads_downlink_bitrate_with_the_g_nettrack_clock(write):
    path = write("gnt.csv", LOG)
    trace = read_trace(path, "drive_test", columns=DriveTestColumns(preset="g_nettrack_dl"))
    # Seconds since the first row; the two rows in second 5 are averaged (kbit/s → bit/s).
    np.testing.assert_array_equal(trace.time_s, [0.0, 1.0, 3.0])
    np.testing.assert_array_equal(trace.values[:, 0], [1.2e6, 3.0e6, 0.6e6])
    # Last row held for the previous spacing (2 s): (1.2·1 + 3.0·2 + 0.6·2) / 5 = 1.68 Mbit/s.
    assert summarize(trace).mean == pytest.approx(1.68e6)
    snr = read_trace(path, "drive_test", columns=DriveTestColumns(preset="g_nettrack_snr"))
    np.testing.assert_array_equal(snr.values[:, 0], [5.0, 5.0, 2.0])


def test_explicit_fields_override_the_preset(write):
    path = write("gnt.csv", LOG)
    cols = DriveTestColumns(preset="g_nettrack_dl", value="UL_bitrate", duplicates="last")
    trace = read_trace(path, "drive_test", columns=cols)
    np.testing.assert_array_equal(trace.values[:, 0], [40e3, 80e3, 20e3])


def test_time_format_without_preset_and_in_a_scenario(write):
    path = write("gnt.csv", LOG)
    cfg = TraceReplayConfig(trace=path, format="drive_test", columns=DriveTestColumns(
        time_unit="datetime", time_format="%Y.%m.%d_%H.%M.%S", value="DL_bitrate",
        value_unit="kbit/s", duplicates="mean"))
    src = build_replay_source(cfg, 1, 0.5)
    assert (src.block(0, 8).rate_bps[:, 0] / 1e6).tolist() == [1.2, 1.2, 3, 3, 3, 3, 0.6, 0.6]


def test_iso_default_names_the_time_format_option(write):
    path = write("gnt.csv", LOG)
    with pytest.raises(TraceFormatError, match=r"line 2, column 1.*set columns\.time_format"):
        read_trace(path, "drive_test", columns=DriveTestColumns(
            time_unit="datetime", value="DL_bitrate", value_unit="kbit/s"))


def test_bad_preset_and_time_format_are_config_errors():
    with pytest.raises(ConfigFieldError, match="preset"):
        DriveTestColumns(preset="gnettrack")
    with pytest.raises(ConfigFieldError, match="time_format"):
        DriveTestColumns(time_unit="datetime", time_format="YYYY.MM.DD")
    with pytest.raises(ConfigFieldError, match="time_format"):
        DriveTestColumns(time_unit="s", time_format="%S")
