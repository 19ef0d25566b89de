"""Invariants over random configurations and traffic (hypothesis).

Every combination of scheduler, access, subbands, link model, HARQ/ARQ setting
and random transfers with deadlines must run to the end and give consistent
results: whole-packet prefixes, times in order, deadlines respected, and no TB
carrying more than the Shannon capacity of its RBs.
"""

from __future__ import annotations

import numpy as np
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from cosim.wireless.config import (
    CqiTableLink,
    FadingConfig,
    MacConfig,
    PacketConfig,
    ShannonLink,
    WirelessConfig,
)
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.tblog import OK

configs = st.builds(
    lambda sched, access, subbands, link, rtt, max_tx, arq, corr, mtu: WirelessConfig(
        mac=MacConfig(num_rbs=24, rb_bandwidth_hz=180e3, scheduler=sched, access=access),
        fading=FadingConfig(correlation=corr, subbands=subbands),
        link=link,
        packets=PacketConfig(
            mtu_bytes=mtu, harq_rtt_slots=rtt, harq_max_tx=max_tx, arq_on_harq_failure=arq
        ),
        channel_sample_every_slots=5,
    ),
    st.sampled_from(["round_robin", "proportional_fair", "max_rate"]),
    st.sampled_from(["ofdma", "tdma"]),
    st.sampled_from([1, 3]),
    st.sampled_from([ShannonLink(bler=0.0), ShannonLink(bler=0.3), CqiTableLink()]),
    st.integers(1, 8),
    st.integers(1, 3),
    st.booleans(),
    st.sampled_from(["block", "jakes", "ar1"]),
    st.sampled_from([100, 1500]),
)
transfers = st.lists(
    st.tuples(
        st.integers(0, 3),  # client
        st.floats(0.0, 0.05),  # start [s]
        st.integers(1, 30_000),  # bytes
        st.one_of(st.none(), st.floats(0.0005, 0.2)),  # deadline after start [s]
        st.booleans(),  # downlink?
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=30, deadline=None)
@given(cfg=configs, plan=transfers, seed=st.integers(0, 2**16))
def test_random_runs_are_consistent(cfg, plan, seed):
    env = simpy.Environment()
    dist = np.array([30.0, 150.0, 300.0, 480.0])
    net = WirelessNetwork(env, cfg, dist, np.array([0.0, 2.0, 10.0, 30.0]),
                          np.random.default_rng(seed))  # fmt: skip
    results = []

    def send(client, start, size, deadline, down):
        yield env.timeout(start)
        dl = None if deadline is None else start + deadline
        if down:
            rs = yield net.downlink([client, (client + 1) % 4], size, dl)
            results.extend(rs)
        else:
            results.append((yield net.uplink(client, size, dl)))

    for item in plan:
        env.process(send(*item))
    env.run(until=3.0)
    results.extend(net.close())
    assert len(results) >= len(plan)
    for r in results:
        p = r.packets
        assert p.size_bytes.sum() == r.size_bytes
        assert 0 <= r.delivered_bytes <= r.size_bytes
        assert r.complete == (r.delivered_bytes == r.size_bytes)
        prefix = np.cumsum(p.size_bytes)
        assert r.delivered_bytes == 0 or r.delivered_bytes in prefix
        if r.deadline_s is not None:
            assert r.end_s <= max(r.deadline_s, r.start_s) + 1e-9
        ok = ~p.lost
        assert np.all(p.first_tx_s[ok] >= r.start_s - 1e-9)
        assert np.all(p.delivery_s[ok] > p.first_tx_s[ok])
        assert np.all(p.delivery_s[ok] <= r.end_s + 1e-9)
        assert np.all(p.attempts[ok] >= 1)
    for eng in (net.uplink_engine, net.downlink_engine):
        log = eng.tbs
        n = log.n
        first = log.ntx[:n] == 1
        cap = (log.rbs[:n] * np.log2(1 + log.acc[:n])).sum(axis=1) * 180e3 * 1e-3
        assert np.all(8 * log.length[:n][first] <= cap[first] + 8)  # + < 8 bits carried over
        # every transmission (first and HARQ) in a slot fits the 24 RBs together
        rep = np.repeat(np.arange(n), log.ntx[:n])
        nth = np.arange(rep.size) - np.repeat(np.cumsum(log.ntx[:n]) - log.ntx[:n], log.ntx[:n])
        slots = log.first_slot[:n][rep] + nth * cfg.packets.harq_rtt_slots
        used = np.bincount(slots, weights=log.rbs[:n].sum(axis=1)[rep])
        assert np.all(used <= 24)
        assert np.all(log.length[:n][log.state[:n] == OK] > 0)
