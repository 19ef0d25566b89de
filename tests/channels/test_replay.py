"""Replay as a channel source: assignment, interpolation, looping, offsets, scaling, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.channels import formats
from cosim.channels.config import TraceReplayConfig
from cosim.channels.native_csv import write_native_csv
from cosim.channels.native_h5 import write_native_h5
from cosim.channels.replay import ReplaySource, build_replay_source
from cosim.channels.series import ChannelTrace
from cosim.errors import TraceFormatError
from cosim.wireless.channel import ChannelSource

# 10 samples every 10 ms; client series c has value 10·c + k at sample k.
TIMES = np.arange(10) * 0.01
VALUES = np.arange(10)[:, None] + 10.0 * np.arange(3)[None, :]


@pytest.fixture(params=["h5", "csv"])
def trace_path(request, tmp_path) -> str:
    trace = ChannelTrace(TIMES, VALUES, "snr_db", 0.1, ("a", "b", "c"))
    if request.param == "h5":
        path = tmp_path / "t.h5"
        write_native_h5(trace, path)
    else:
        path = tmp_path / "t.csv"
        write_native_csv(trace, path)
    return str(path)


def _source(path: str, n_clients: int = 3, slot_s: float = 0.005, **kw) -> ReplaySource:
    return build_replay_source(TraceReplayConfig(trace=path, **kw), n_clients, slot_s)


def test_is_a_channel_source_with_snr_blocks(trace_path):
    src = _source(trace_path)
    assert isinstance(src, ChannelSource)
    assert (src.kind, src.n_clients, src.n_subbands) == ("snr", 3, 1)
    block = src.block(4, 3)
    assert block.first_slot == 4 and block.rate_bps is None
    assert block.snr_db.shape == (3, 3)


def test_zero_order_hold(trace_path):
    # Slot s starts at 5 ms · s, so sample k = s // 2.
    got = _source(trace_path).block(0, 20).snr_db
    k = np.arange(20) // 2
    np.testing.assert_array_equal(got, VALUES[k])


def test_linear_interpolation(trace_path):
    got = _source(trace_path, interpolation="linear", loop=False).block(0, 20).snr_db
    expected = np.minimum(np.arange(20) / 2, 9)[:, None] + 10.0 * np.arange(3)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_linear_interpolation_wraps_to_the_first_sample_when_looping(trace_path):
    got = _source(trace_path, interpolation="linear").block(19, 1).snr_db
    # Half-way between sample 9 (value 9) and the wrapped sample 0 (value 0).
    np.testing.assert_allclose(got[0], [4.5, 14.5, 24.5], atol=1e-12)


def test_looping_wraps_with_the_trace_period(trace_path):
    src = _source(trace_path)
    np.testing.assert_array_equal(src.block(20, 20).snr_db, src.block(0, 20).snr_db)
    np.testing.assert_array_equal(src.block(1000, 7).snr_db, src.block(0, 7).snr_db)


def test_values_do_not_depend_on_block_batching(trace_path):
    src = _source(trace_path, interpolation="linear")
    whole = src.block(3, 50).snr_db
    pieces = np.concatenate([_source(trace_path, interpolation="linear").block(s, 1).snr_db
                             for s in range(3, 53)])
    np.testing.assert_array_equal(whole, pieces)


def test_past_the_end_without_looping_names_the_file(trace_path):
    src = _source(trace_path, loop=False)
    src.block(0, 20)
    # A block that starts inside the trace may overrun it (MAC prefetch): last sample held.
    np.testing.assert_array_equal(src.block(18, 4).snr_db, VALUES[[9, 9, 9, 9]])
    with pytest.raises(TraceFormatError, match=r"trace too short: it ends at 0.1 s") as info:
        src.block(20, 2)
    assert str(info.value).startswith(trace_path)
    assert "client 0" in str(info.value) and "slot 20" in str(info.value)
    if trace_path.endswith(".csv"):
        assert "line 11" in str(info.value)


def test_too_short_checked_up_front_when_duration_known(trace_path):
    cfg = TraceReplayConfig(trace=trace_path, loop=False, offset_step_s=0.03)
    build_replay_source(cfg, 3, 0.005, required_duration_s=0.04)
    with pytest.raises(TraceFormatError, match=r"client 2 needs 0\.11 s"):
        build_replay_source(cfg, 3, 0.005, required_duration_s=0.05)


def test_per_client_offsets_from_a_single_series(tmp_path):
    path = tmp_path / "one.h5"
    write_native_h5(ChannelTrace(TIMES, VALUES[:, :1], "snr_db", 0.1), path)
    src = build_replay_source(
        TraceReplayConfig(trace=str(path), offsets_s=(0.0, 0.02, 0.095)), 3, 0.01
    )
    got = src.block(0, 3).snr_db
    np.testing.assert_array_equal(got, [[0, 2, 9], [1, 3, 0], [2, 4, 1]])


def test_offset_step_and_client_columns(trace_path):
    src = _source(trace_path, n_clients=2, slot_s=0.01, offset_step_s=0.05, client_columns=(2, 0))
    np.testing.assert_array_equal(src.block(0, 2).snr_db, [[20, 5], [21, 6]])


def test_one_file_per_client(tmp_path):
    paths = []
    for c in range(2):
        path = tmp_path / f"c{c}.csv"
        write_native_csv(ChannelTrace(TIMES, VALUES[:, c : c + 1], "snr_db", 0.1), path)
        paths.append(str(path))
    src = build_replay_source(TraceReplayConfig(traces=tuple(paths)), 2, 0.01)
    np.testing.assert_array_equal(src.block(0, 10).snr_db, VALUES[:, :2])


def test_snr_scale_and_offset(trace_path):
    src = _source(trace_path, snr_scale=2.0, snr_offset_db=-3.0)
    np.testing.assert_array_equal(src.block(0, 2).snr_db, 2 * VALUES[[0, 0]] - 3)
    np.testing.assert_array_equal(src.mean_snr_db(), 2 * VALUES.mean(axis=0) - 3)


def test_rate_traces_give_rate_blocks(write):
    path = write("t.log", "time_s Mbit/s\n0 1\n1 2.5\n")
    src = build_replay_source(TraceReplayConfig(trace=path, rate_scale=2.0), 2, 0.5)
    block = src.block(0, 4)
    assert src.kind == "rate" and block.snr_db is None and src.mean_snr_db() is None
    np.testing.assert_array_equal(block.rate_bps, [[2e6, 2e6], [2e6, 2e6], [5e6, 5e6],
                                                   [5e6, 5e6]])


def test_times_before_the_first_sample_hold_it(tmp_path):
    path = tmp_path / "late.h5"
    write_native_h5(ChannelTrace([1.0, 2.0], [[3.0], [4.0]], "snr_db", 3.0), path)
    src = build_replay_source(TraceReplayConfig(trace=str(path), loop=False), 1, 0.5)
    np.testing.assert_array_equal(src.block(0, 6).snr_db[:, 0], [3, 3, 3, 3, 4, 4])


def test_assignment_errors(trace_path):
    with pytest.raises(TraceFormatError, match="3 series for 4 clients"):
        _source(trace_path, n_clients=4)
    with pytest.raises(TraceFormatError, match="client 1 asks for series 3"):
        _source(trace_path, n_clients=2, client_columns=(0, 3))
    with pytest.raises(TraceFormatError, match="offsets_s has 1 entries for 3 clients"):
        _source(trace_path, offsets_s=(0.0,))


def test_missing_file_is_a_trace_error(tmp_path):
    with pytest.raises(TraceFormatError, match="no such file"):
        _source(str(tmp_path / "nope.h5"))


def test_relative_paths_resolve_against_the_scenario_directory(tmp_path):
    write_native_h5(ChannelTrace(TIMES, VALUES, "snr_db", 0.1), tmp_path / "t.h5")
    src = build_replay_source(TraceReplayConfig(trace="t.h5"), 3, 0.01, base_dir=tmp_path)
    np.testing.assert_array_equal(src.block(0, 1).snr_db, VALUES[:1])


def test_streamed_window_matches_in_memory_replay(tmp_path):
    """A small window forces refills, wrap-arounds and direct reads; values must not change."""
    rng = np.random.default_rng(3)
    n, c = 997, 4
    times = np.cumsum(rng.uniform(0.5e-3, 1.5e-3, n))
    trace = ChannelTrace(times, rng.normal(10, 5, (n, c)), "snr_db", times[-1] + 1e-3)
    path = tmp_path / "r.h5"
    write_native_h5(trace, path)
    offsets = np.array([0.0, 0.1, 0.55, 0.9])
    for interpolation in ("zoh", "linear"):
        kwargs = dict(loop=True, interpolation=interpolation)
        memory = ReplaySource([trace], [(0, i) for i in range(c)], offsets, 1e-3, **kwargs)
        store = formats.open_store(path)
        streamed = ReplaySource([store], [(0, i) for i in range(c)], offsets, 1e-3,
                                window_rows=64, **kwargs)
        slot = 0
        for size in rng.integers(1, 200, 40):
            np.testing.assert_array_equal(
                streamed.block(slot, int(size)).snr_db, memory.block(slot, int(size)).snr_db
            )
            slot += int(size) + int(rng.integers(0, 300))
        streamed.close()


def test_big_native_csv_goes_through_the_hdf5_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "IN_MEMORY_BYTES", 10)
    monkeypatch.setattr(formats, "CACHE_CHUNK_ROWS", 3)
    csv = tmp_path / "big.csv"
    write_native_csv(ChannelTrace(TIMES, VALUES, "snr_db", 0.1), csv)
    cfg = TraceReplayConfig(trace=str(csv), cache_dir=str(tmp_path / "cache"))
    src = build_replay_source(cfg, 3, 0.01)
    np.testing.assert_array_equal(src.block(0, 10).snr_db, VALUES)
    cached = list((tmp_path / "cache").glob("big-*.h5"))
    assert len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    build_replay_source(cfg, 3, 0.01)  # reused, not rebuilt
    assert cached[0].stat().st_mtime_ns == stamp


def test_big_native_csv_errors_keep_their_line_numbers(tmp_path, monkeypatch):
    monkeypatch.setattr(formats, "IN_MEMORY_BYTES", 10)
    monkeypatch.setattr(formats, "CACHE_CHUNK_ROWS", 3)
    csv = tmp_path / "big.csv"
    lines = ["time_s,snr_db"] + [f"{k},{k}" for k in range(10)]
    lines[8] = "7,abc"
    csv.write_text("\n".join(lines) + "\n")
    cfg = TraceReplayConfig(trace=str(csv), cache_dir=str(tmp_path / "cache"))
    with pytest.raises(TraceFormatError, match=r"line 9, column 2 \('snr_db'\): non-numeric"):
        build_replay_source(cfg, 1, 0.01)
    assert not list((tmp_path / "cache").glob("*.h5"))


def test_uniform_grid_rows_match_binary_search(tmp_path):
    """The arithmetic row look-up of uniformly sampled traces equals searchsorted's."""
    from cosim.channels.replay import uniform_step

    n = 5000
    times = np.arange(n) * 1e-3 + 0.25
    assert uniform_step(times) == pytest.approx(1e-3)
    assert uniform_step(np.array([0.0, 1.0, 2.5])) is None
    trace = ChannelTrace(times, np.arange(n, dtype=float)[:, None], "snr_db", times[-1] + 1e-3)
    offsets = np.array([0.0, 0.0005, 1.2345, 4.999])
    for loop in (True, False):
        fast = ReplaySource([trace], [(0, 0)] * 4, offsets, 1e-4, loop=loop)
        slow = ReplaySource([trace], [(0, 0)] * 4, offsets, 1e-4, loop=loop)
        for group in slow._groups:
            group.step = None
        # Slot times 0.1 ms apart hit every sample boundary, exactly and between.
        np.testing.assert_array_equal(fast.block(0, 50_000).snr_db,
                                      slow.block(0, 50_000).snr_db)


def test_streaming_replay_memory_stays_bounded(tmp_path):
    """Replaying a 24 MB (float64) trace through 4096-row windows allocates ~1 MB at a time."""
    import tracemalloc

    from cosim.channels.native_h5 import NativeH5Writer

    n, c = 150_000, 20
    path = tmp_path / "big.h5"
    rng = np.random.default_rng(0)
    with NativeH5Writer(path, "snr_db", tuple(map(str, range(c))), dtype="float32") as w:
        for start in range(0, n, 50_000):
            w.append(np.arange(start, start + 50_000) * 1e-3,
                     rng.normal(10, 3, (50_000, c)).astype(np.float32))
    store = formats.open_store(path)
    src = ReplaySource([store], [(0, i) for i in range(c)], np.arange(c) * 7.0, 1e-3,
                       window_rows=4096)
    tracemalloc.start()
    checksum = 0.0
    for first in range(0, n, 256):
        checksum += float(src.block(first, 256).snr_db.sum())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    src.close()
    # Windows 20 x 4096 x 8 B = 0.66 MB plus per-block temporaries; the data is 24 MB.
    assert peak < 4e6, peak
    assert np.isfinite(checksum)
