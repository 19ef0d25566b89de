"""Exact Mahimahi replay: completion times equal Mahimahi's own link queue (issue 12 item 1).

The reference (:mod:`cosim.channels.mahimahi_reference`) is a line-by-line
port of mahimahi's ``LinkQueue``; the network under test replays the trace
through :mod:`cosim.channels.linkqueue` inside a SimPy run with any MAC slot
length. Times are compared after rounding to whole ms (every departure is an
opportunity at a whole ms of trace time).
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cosim.channels.config import TraceReplayConfig
from cosim.channels.linkqueue import MahimahiLinks, MahimahiSchedule
from cosim.channels.mahimahi_reference import reference_departures_ms
from cosim.channels.replay import build_replay_source
from cosim.errors import TraceFormatError
from cosim.wireless.config import MacConfig, WirelessConfig
from cosim.wireless.network import WirelessNetwork

SLOTS_S = (0.125e-3, 0.25e-3, 0.5e-3, 1e-3, 2e-3)


@st.composite
def schedules(draw) -> list[int]:
    """Random non-decreasing Mahimahi timestamps, lines at 0 and repeats included."""
    stamps = sorted(draw(st.lists(st.integers(0, 40), min_size=1, max_size=40)))
    if stamps[-1] == 0:
        stamps[-1] = draw(st.integers(1, 40))
    return sorted(stamps)


def _write(tmp_path, stamps: list[int]) -> str:
    path = tmp_path / "link.mahi"
    path.write_text("".join(f"{v}\n" for v in stamps))
    return str(path)


def _network_departures(path: str, slot_s: float, transfers, n_clients: int = 1):
    cfg = WirelessConfig(mac=MacConfig(slot_s=slot_s))
    source = build_replay_source(TraceReplayConfig(trace=path), n_clients, slot_s)
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, np.full(n_clients, 100.0), np.zeros(n_clients),
                          np.random.default_rng(0), uplink_source=source)
    out = []

    def client():
        for t0, n_bytes in transfers:
            if env.now < t0:
                yield env.timeout(t0 - env.now)
            out.append((yield net.uplink(0, n_bytes)))

    env.process(client())
    env.run()
    return out


@settings(max_examples=60, deadline=None)
@given(stamps=schedules(), t0_ms=st.floats(0, 200, allow_nan=False),
       n_bytes=st.integers(1, 60_000), slot_s=st.sampled_from(SLOTS_S))
def test_completion_is_the_opportunity_mahimahi_uses(tmp_path_factory, stamps, t0_ms, n_bytes,
                                                     slot_s):
    # Within 1 ns below a whole ms counts as that ms (float round-off; stated convention).
    assume(np.ceil(t0_ms) - t0_ms > 1e-6 or t0_ms == np.floor(t0_ms))
    path = _write(tmp_path_factory.mktemp("m"), stamps)
    [result] = _network_departures(path, slot_s, [(t0_ms / 1e3, n_bytes)])
    [ref] = reference_departures_ms(stamps, [(t0_ms, n_bytes)])
    assert result.complete
    assert round(result.end_s * 1e3) == ref[-1]
    assert abs(result.end_s * 1e3 - ref[-1]) < 1e-6
    assert np.round(result.packets.delivery_s * 1e3).astype(int).tolist() == ref
    # Alone on its link: the ⌈N/1500⌉-th opportunity after ⌊t0⌋ ms (looping included).
    sched = MahimahiSchedule(np.array(stamps), loop=True)
    g = int(sched.count_upto(int(np.floor(t0_ms + 1e-6)))) + -(-n_bytes // 1500) - 1
    assert int(sched.time_of(np.array([g]))[0]) == ref[-1]


@settings(max_examples=40, deadline=None)
@given(stamps=schedules(), slot_s=st.sampled_from(SLOTS_S),
       transfers=st.lists(st.tuples(st.floats(0, 30, allow_nan=False), st.integers(1, 9000)),
                          min_size=2, max_size=5))
def test_back_to_back_transfers_share_opportunities_like_mahimahi(tmp_path_factory, stamps,
                                                                  slot_s, transfers):
    """Submitted without waiting: surplus bytes of an opportunity carry to the next transfer."""
    transfers = sorted(transfers)
    assume(all(np.ceil(t) - t > 1e-6 or t == np.floor(t) for t, _ in transfers))
    path = _write(tmp_path_factory.mktemp("m"), stamps)
    cfg = WirelessConfig(mac=MacConfig(slot_s=slot_s))
    source = build_replay_source(TraceReplayConfig(trace=path), 1, slot_s)
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, np.array([50.0]), np.zeros(1), np.random.default_rng(0),
                          uplink_source=source)
    events = []

    def submit(t0_ms: float, n_bytes: int):
        yield env.timeout(t0_ms / 1e3)
        events.append(net.uplink(0, n_bytes))

    for t0, n in transfers:
        env.process(submit(t0, n))
    env.run()
    ref = reference_departures_ms(stamps, transfers)
    got = sorted((ev.value for ev in events), key=lambda r: r.start_s)
    for result, want in zip(got, ref, strict=True):
        assert np.round(result.packets.delivery_s * 1e3).astype(int).tolist() == want


def test_hand_example_with_a_zero_line_and_looping():
    # Lines 0, 2, 2, 5: period 5 ms; the line at 0 fires at 5, 10, … (never at 0 for t0 >= 0).
    links = MahimahiLinks([MahimahiSchedule(np.array([0, 2, 2, 5]), loop=True)], np.zeros(1))
    # 4000 B at t0 = 1.7 ms: ⌊t0⌋ = 1 → opportunities at 2, 2, 5 (3 × 1500 >= 4000).
    sent = links.send(0, 1.7e-3, 4000, None, 1500)
    assert sent.end_s == pytest.approx(5e-3)
    # The next 1000 B at 5.2 ms find 500 B of the 5 ms opportunity lost (queue was empty
    # after it) ... the line at 0 of loop 1 also fires at 5: both are spent by 5 ms, so
    # the next ones are 7, 7.
    sent = links.send(0, 5.2e-3, 2000, None, 1500)
    assert np.round(sent.delivery_s * 1e3).tolist() == [7.0, 7.0]
    assert reference_departures_ms([0, 2, 2, 5], [(1.7, 4000), (5.2, 2000)]) == [
        [2, 2, 5], [7, 7]]


def test_deadline_cuts_and_frees_the_link():
    links = MahimahiLinks([MahimahiSchedule(np.arange(1, 11), loop=True)], np.zeros(1))
    # 1 opportunity per ms; 6000 B (4 packets) at 0 with a deadline at 2.5 ms: 2 delivered.
    sent = links.send(0, 0.0, 6000, 2.5e-3, 1500)
    assert sent.cut_off and sent.end_s == pytest.approx(2.5e-3)
    assert np.isnan(sent.delivery_s).tolist() == [False, False, True, True]
    # The cut bytes leave the queue: a transfer at 2.6 ms uses the opportunity at 3 ms.
    assert links.send(0, 2.6e-3, 1500, None, 1500).end_s == pytest.approx(3e-3)
    # Full buffer: everything the opportunities in (⌊t0⌋, ⌊d⌋] carry.
    sent = links.send(0, 4.2e-3, None, 9.0e-3, 1500)
    assert sent.n_bytes == 5 * 1500 and sent.cut_off


def test_offsets_shift_each_client_in_its_trace():
    links = MahimahiLinks([MahimahiSchedule(np.array([3, 10]), loop=True)] * 2,
                          np.array([0.0, 0.004]))
    assert links.send(0, 0.0, 100, None, 1500).end_s == pytest.approx(3e-3)
    # Client 1 is 4 ms in: its next opportunity is at trace 10 ms = simulated 6 ms.
    assert links.send(1, 0.0, 100, None, 1500).end_s == pytest.approx(6e-3)


def test_no_loop_past_the_end_names_the_file(tmp_path):
    path = _write(tmp_path, [1, 2, 3])
    with pytest.raises(TraceFormatError, match="line 3: trace too short"):
        build_replay_source(TraceReplayConfig(trace=path, loop=False), 1, 1e-3,
                            required_duration_s=0.01)
    source = build_replay_source(TraceReplayConfig(trace=path, loop=False), 1, 1e-3)
    with pytest.raises(TraceFormatError, match="trace too short"):
        source.link_queue.send(0, 0.0, 6000, None, 1500)


def test_rate_scale_and_linear_are_rejected_for_mahimahi(tmp_path):
    path = _write(tmp_path, [1, 2, 3])
    with pytest.raises(TraceFormatError, match="rate_scale"):
        build_replay_source(TraceReplayConfig(trace=path, rate_scale=2.0), 1, 1e-3)
    with pytest.raises(TraceFormatError, match="linear"):
        build_replay_source(TraceReplayConfig(trace=path, interpolation="linear"), 1, 1e-3)


def test_rate_view_matches_the_legacy_rate_series(tmp_path):
    from cosim.channels.mahimahi import read_mahimahi

    stamps = [0, 0, 2, 2, 2, 5, 9, 9]
    path = _write(tmp_path, stamps)
    trace = read_mahimahi(path)
    src = build_replay_source(TraceReplayConfig(trace=path), 1, 0.25e-3)
    rates = src.block(0, 200).rate_bps[:, 0]
    ms_bin = (np.arange(200) // 4) % 9  # 0.25 ms slots, period 9 ms
    k = np.searchsorted(np.round(trace.time_s * 1e3), ms_bin, "right") - 1
    # The lines at 0 first fire at 9 ms, with the lines at 9: the same as the rate series.
    assert np.array_equal(rates, trace.values[k, 0])


@settings(max_examples=30, deadline=None)
@given(stamps=schedules(), fmt=st.sampled_from(["native_csv", "native_h5"]))
def test_mahimahi_to_rate_to_mahimahi_is_byte_exact(tmp_path_factory, stamps, fmt):
    """Lines at 0 ms included (issue 12 item 7); the CSV keeps the period too."""
    from cosim.channels.formats import read_trace, write_trace

    tmp = tmp_path_factory.mktemp("rt")
    src = _write(tmp, stamps)
    assume(stamps[-1] >= 2 or fmt == "native_h5")  # a 1 ms CSV series has no spacing
    mid = str(tmp / ("rate.h5" if fmt == "native_h5" else "rate.csv"))
    write_trace(read_trace(src), mid, fmt)
    back = str(tmp / "back.mahi")
    write_trace(read_trace(mid), back, "mahimahi")
    assert (tmp / "back.mahi").read_bytes() == (tmp / "link.mahi").read_bytes()


@settings(max_examples=40, deadline=None)
@given(stamps=schedules(), t0_ms=st.floats(0, 50, allow_nan=False),
       n_bytes=st.integers(1, 20_000), header=st.integers(0, 60))
def test_packet_headers_ride_on_the_link(stamps, t0_ms, n_bytes, header):
    """With header_bytes h, Mahimahi queues packets of payload + h bytes (MTU 1400)."""
    assume(np.ceil(t0_ms) - t0_ms > 1e-6 or t0_ms == np.floor(t0_ms))
    links = MahimahiLinks([MahimahiSchedule(np.array(stamps), loop=True)], np.zeros(1))
    sent = links.send(0, t0_ms / 1e3, n_bytes, None, 1400, header)
    sizes = [min(1400, n_bytes - k) + header for k in range(0, n_bytes, 1400)]
    ref = reference_departures_ms(stamps, [(t0_ms, sum(sizes))], packet_bytes=1500)
    # Byte stream: the last packet leaves with the last byte of the total.
    assert round(sent.end_s * 1e3) == ref[0][-1]
