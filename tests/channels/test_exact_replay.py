"""Record a simulated run's channel, replay it: every packet is delivered at the same time.

DESIGN.md section 3 / issue 4 item 4. The network re-derives its HARQ draws
from (seed, slot, client), so with the uplink SNR of every simulated slot
recorded (``channel_sample_every_slots: 1``) the replayed run must match the
original bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
import simpy

from cosim.channels.config import TraceReplayConfig
from cosim.channels.formats import write_trace
from cosim.channels.record import record_run
from cosim.channels.replay import build_replay_source
from cosim.trace.writer import TraceWriter
from cosim.wireless.channel import ChannelSource
from cosim.wireless.config import CqiTableLink, FadingConfig, ShannonLink, WirelessConfig
from cosim.wireless.network import WirelessNetwork

DISTANCES = np.array([40.0, 120.0, 260.0, 420.0])
SPEEDS = np.array([1.5, 3.0, 0.0, 30.0])
# (client, start [s], payload [bytes], deadline after start [s])
TRANSFERS = [(0, 0.0, 60_000, 0.3), (1, 0.002, 150_000, 0.4), (2, 0.0105, 40_000, 0.2),
             (3, 0.05, 200_000, 0.15), (0, 0.31, 90_000, None), (2, 0.4, 20_000, 0.1)]


def _run(cfg: WirelessConfig, source: ChannelSource | None = None):
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, DISTANCES, SPEEDS, np.random.default_rng(11),
                          uplink_source=source)
    results = {}

    def send(i: int, client: int, start: float, size: int, deadline: float | None):
        yield env.timeout(start)
        net.current_snr_db()  # a CSI query, recorded too
        results[i] = yield net.uplink(
            client, size, deadline_s=None if deadline is None else start + deadline
        )

    for i, transfer in enumerate(TRANSFERS):
        env.process(send(i, *transfer))
    env.run(until=1.0)
    return results, net.channel_rows()


def _record(tmp_path, cfg: WirelessConfig, rows: dict) -> str:
    run = tmp_path / "run.h5"
    with TraceWriter(run, scenario_yaml="", resolved_config={"wireless": {"mac": {
            "slot_s": cfg.mac.slot_s}}}, seed=11, command="wireless") as trace:
        trace.append("channel", rows)
    out = tmp_path / "recorded.h5"
    write_trace(record_run(run), out, "native_h5")
    return str(out)


@pytest.mark.parametrize(
    "link",
    [ShannonLink(bler=0.1), CqiTableLink()],
    ids=["shannon-bler0.1", "cqi-table"],
)
@pytest.mark.parametrize("loop", [True, False])
def test_replaying_a_recorded_run_reproduces_every_delivery_time(tmp_path, link, loop):
    cfg = WirelessConfig(link=link, channel_sample_every_slots=1,
                         fading=FadingConfig(correlation="jakes"))
    original, rows = _run(cfg)
    assert len(original) == len(TRANSFERS)
    path = _record(tmp_path, cfg, rows)
    source = build_replay_source(TraceReplayConfig(trace=path, loop=loop), len(DISTANCES),
                                 cfg.mac.slot_s)
    replayed, _ = _run(cfg, source)
    n_packets = 0
    for i in original:
        a, b = original[i], replayed[i]
        assert (a.end_s, a.delivered_bytes, a.complete) == (b.end_s, b.delivered_bytes,
                                                             b.complete)
        np.testing.assert_array_equal(a.packets.delivery_s, b.packets.delivery_s)
        np.testing.assert_array_equal(a.packets.first_tx_s, b.packets.first_tx_s)
        np.testing.assert_array_equal(a.packets.attempts, b.packets.attempts)
        n_packets += len(a.packets)
    assert n_packets > 100


def test_a_shifted_trace_changes_the_timings(tmp_path):
    """The check above can fail: replaying with a 3 dB lower SNR changes delivery times."""
    cfg = WirelessConfig(link=CqiTableLink(), channel_sample_every_slots=1)
    original, rows = _run(cfg)
    path = _record(tmp_path, cfg, rows)
    source = build_replay_source(TraceReplayConfig(trace=path, snr_offset_db=-3.0),
                                 len(DISTANCES), cfg.mac.slot_s)
    replayed, _ = _run(cfg, source)
    assert any(
        not np.array_equal(original[i].packets.delivery_s, replayed[i].packets.delivery_s,
                           equal_nan=True)
        for i in original
    )


@pytest.mark.parametrize("fmt", ["native_h5", "native_csv"])
def test_a_run_replaying_a_rate_trace_records_rates_and_replays_bit_exactly(tmp_path, fmt):
    """Issue 12 item 4: the run stores the replayed rates; record → replay is bit-exact."""
    rng = np.random.default_rng(3)
    t = np.sort(rng.uniform(0, 2.0, 60))
    t[0] = 0.0
    rates = rng.uniform(0.2e6, 20e6, (60, len(DISTANCES)))
    (tmp_path / "tput.csv").write_text(
        "time_s," + ",".join(f"rate_bps_{c}" for c in range(len(DISTANCES))) + "\n"
        + "".join(f"{float(a)!r}," + ",".join(repr(float(v)) for v in row) + "\n"
                  for a, row in zip(t, rates, strict=True))
    )
    cfg = WirelessConfig(channel_sample_every_slots=1)
    source = build_replay_source(TraceReplayConfig(trace=str(tmp_path / "tput.csv")),
                                 len(DISTANCES), cfg.mac.slot_s)
    original, rows = _run(cfg, source)
    assert np.isnan(rows["snr_db"]).all() and np.isfinite(rows["rate_bps"]).all()
    run = tmp_path / "run.h5"
    with TraceWriter(run, scenario_yaml="", resolved_config={"wireless": {"mac": {
            "slot_s": cfg.mac.slot_s}}}, seed=11, command="wireless") as trace:
        trace.append("channel", rows)
    recorded = record_run(run)
    assert recorded.quantity == "rate_bps"
    out = tmp_path / ("rec.h5" if fmt == "native_h5" else "rec.csv")
    write_trace(recorded, out, fmt)
    replay = build_replay_source(TraceReplayConfig(trace=str(out)), len(DISTANCES),
                                 cfg.mac.slot_s)
    replayed, _ = _run(cfg, replay)
    n_packets = 0
    for i in original:
        a, b = original[i], replayed[i]
        assert (a.end_s, a.delivered_bytes, a.complete) == (b.end_s, b.delivered_bytes,
                                                             b.complete)
        np.testing.assert_array_equal(a.packets.delivery_s, b.packets.delivery_s)
        n_packets += len(a.packets)
    assert n_packets > 100
