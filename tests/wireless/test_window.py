"""The multi-slot window path gives exactly what slot-by-slot stepping gives."""

from __future__ import annotations

import numpy as np
import pytest
import simpy

import cosim.wireless.mac as mac
import cosim.wireless.window as window
from cosim.wireless.config import (
    CqiTableLink,
    MacConfig,
    McsTableLink,
    PacketConfig,
    ShannonLink,
    UplinkPowerConfig,
    WirelessConfig,
)
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.tblog import TbLog

CONFIGS = {
    "shannon-arq": WirelessConfig(
        link=ShannonLink(bler=0.3),
        packets=PacketConfig(harq_max_tx=2, arq_on_harq_failure=True),
    ),
    # no HARQ: a failed TB's bytes are re-queued at once (the slot after is not steady)
    "shannon-arq-1tx": WirelessConfig(
        link=ShannonLink(bler=0.3),
        packets=PacketConfig(harq_max_tx=1, arq_on_harq_failure=True),
    ),
    "shannon-lost": WirelessConfig(
        link=ShannonLink(bler=0.2), packets=PacketConfig(harq_max_tx=2, arq_on_harq_failure=False)
    ),
    "cqi-chase": WirelessConfig(link=CqiTableLink(target_bler=0.1)),
    "lte-equal-share": WirelessConfig(
        link=McsTableLink(table="lte", csi_step_db=0.125),
        mac=MacConfig(scheduler="equal_share", min_rbs_per_ue=3),
        packets=PacketConfig(mtu_bytes=1472, header_bytes=30, tb_header_bytes=2),
    ),
    "nr-round-robin": WirelessConfig(
        link=McsTableLink(table="nr_256qam"), mac=MacConfig(scheduler="round_robin")
    ),
}
#: cases whose slots are never steady: 100 UEs but 33 shares of 3 RBs (K < E)
NEVER_STEADY = {("lte-equal-share", 100)}


def run(
    cfg: WirelessConfig, n: int, windows: bool, monkeypatch, sizes: list[int] | None = None
) -> tuple[list, int, list]:
    """Results, slots done by the multi-slot paths, and every TB row (columns of the TB log
    each time rows are dropped, and at the end)."""
    calls = []
    tbs: list[np.ndarray] = []

    def rows(log: TbLog) -> None:
        n = log.n
        tbs.append(np.hstack([log.ints[:, :n].T, log.state[:n, None], log.rbs[:n],
                              log.mcs[:n], log.acc[:n]]))  # fmt: skip

    def snapshot(method):
        def wrapped(log, *args):
            rows(log)
            return method(log, *args)

        return wrapped

    monkeypatch.setattr(TbLog, "compact", snapshot(TbLog.compact))
    monkeypatch.setattr(TbLog, "clear", snapshot(TbLog.clear))

    def patched(eng, s, stop):
        out = window.run_window(eng, s, stop) if windows else window.NOT_STEADY
        calls.append(out[0])
        return out

    monkeypatch.setattr(mac, "run_window", patched)
    rng = np.random.default_rng(5)
    d = rng.uniform(30, 450, n)
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, d, np.full(n, 2.0), np.random.default_rng(9))
    results = []

    def client(c: int):
        for r in range(3):  # three rounds, sizes differing by client
            yield env.timeout(max(0.0, 0.15 * r - env.now))
            size = 2000 + 900 * c if sizes is None else sizes[c]
            results.append((yield net.uplink(c, size, round_index=r)))

    for c in range(n):
        env.process(client(c))
    env.run(until=2.0)
    rows(net.uplink_engine.tbs)
    results += net.close()
    return results, sum(calls), tbs


def assert_same_runs(on: list, tbs_on: list, off: list, tbs_off: list) -> None:
    """Every TB row (byte range, slots, RBs, SNR) and every transfer's end, bytes, packet
    delivery times and attempts are equal in the two runs of :func:`run`."""
    assert len(tbs_on) == len(tbs_off)
    for a, b in zip(tbs_on, tbs_off, strict=True):
        np.testing.assert_array_equal(a, b)
    key = lambda r: (r.client, r.round)  # noqa: E731
    on, off = sorted(on, key=key), sorted(off, key=key)
    assert [key(r) for r in on] == [key(r) for r in off]
    for a, b in zip(on, off, strict=True):
        assert a.end_s == b.end_s and a.delivered_bytes == b.delivered_bytes
        np.testing.assert_array_equal(a.packets.delivery_s, b.packets.delivery_s)
        np.testing.assert_array_equal(a.packets.attempts, b.packets.attempts)


CASES = [
    pytest.param(name, n, marks=() if n == 37 and "shannon" in name else pytest.mark.slow)
    for name in CONFIGS
    for n in (37, 100)
]


@pytest.mark.parametrize(("name", "n"), CASES)
def test_windows_change_nothing(name, n, monkeypatch):
    """Three rounds of uploads of different sizes by 37 or 100 UEs, with HARQ, ARQ or
    losses, CQI or MCS/TBS links: every TB and every transfer's end, bytes, packet
    delivery times and attempts are equal with and without the multi-slot paths
    (steady windows, a link alone)."""
    cfg = CONFIGS[name]
    on, slots_in_windows, tbs_on = run(cfg, n, True, monkeypatch)
    off, _, tbs_off = run(cfg, n, False, monkeypatch)
    assert (slots_in_windows > 0) == ((name, n) not in NEVER_STEADY)
    assert_same_runs(on, tbs_on, off, tbs_off)


ALONE = {
    "split": WirelessConfig(link=ShannonLink(bler=0.2)),
    "arq-1tx": CONFIGS["shannon-arq-1tx"],
    "tdma": WirelessConfig(link=ShannonLink(bler=0.2), mac=MacConfig(access="tdma")),
    "fixed-psd": WirelessConfig(
        link=CqiTableLink(target_bler=0.1), uplink_power=UplinkPowerConfig(split_over_rbs=False)
    ),
}


@pytest.mark.parametrize("name", ALONE)
def test_a_link_alone_changes_nothing(name, monkeypatch):
    """One UE's upload outlasts the others' by far, so it runs alone on the whole band
    (HARQ retransmissions included) with the power split, with a fixed power spectral
    density and under TDMA: TBs and results are equal with and without the multi-slot
    paths."""
    sizes = [150_000] + [3000] * 7
    on, slots_fast, tbs_on = run(ALONE[name], 8, True, monkeypatch, sizes)
    off, _, tbs_off = run(ALONE[name], 8, False, monkeypatch, sizes)
    assert slots_fast > 100
    assert_same_runs(on, tbs_on, off, tbs_off)


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=() if "shannon" in n else pytest.mark.slow) for n in CONFIGS]
)
def test_transfers_closing_together_change_nothing(name, monkeypatch):
    """37 uploads of one size start together each round, so several transfers finish in
    the same HARQ round trip of a window: their ends and packet times are still those of
    slot-by-slot stepping."""
    sizes = [3000] * 37
    on, slots_in_windows, tbs_on = run(CONFIGS[name], 37, True, monkeypatch, sizes)
    off, _, tbs_off = run(CONFIGS[name], 37, False, monkeypatch, sizes)
    assert slots_in_windows > 0
    assert_same_runs(on, tbs_on, off, tbs_off)
