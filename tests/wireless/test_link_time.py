"""No link time is lost: long transfers, capped driver runs, fractional bits per slot."""

from __future__ import annotations

import pytest

import cosim.wireless.network as network
from tests.wireless.conftest import ConstantSource, grid_config, make_network


@pytest.mark.parametrize("deadline", [None, 50.0])
def test_capped_driver_runs_skip_no_slot(monkeypatch, deadline):
    """A transfer needing 3000 slots (250 B per slot at the 2 b/s/Hz cap) ends at 3.0 s
    although the driver stops every 100 slots and an unrelated event is pending at 40 s
    (the old driver slept until that event and skipped every slot in between)."""
    monkeypatch.setattr(network, "MAX_RUN_SLOTS", 100)
    env, net = make_network(grid_config(), ConstantSource([30.0]))
    env.timeout(40.0)  # someone else's event, far ahead
    ev = net.uplink(0, 250 * 3000, deadline_s=deadline)
    env.run(until=ev)
    assert ev.value.complete
    assert ev.value.end_s == pytest.approx(3.0)
    assert ev.value.delivered_bytes == 250 * 3000


def test_fractional_bits_carry_over_to_the_next_tb():
    """0.125 ms slots, one RB of 100 kHz at the 2 b/s/Hz cap: 25 bits per slot. Rounding
    each TB down to whole bytes would send 3 bytes (24 bits) a slot, −8 kbit/s (4 %);
    with the remainder carried over, 8000 slots (1 s) carry exactly 25 · 8000 bits."""
    from dataclasses import replace

    from cosim.wireless.config import MacConfig

    cfg = grid_config()
    cfg = replace(cfg, bandwidth_hz=100e3,
                  mac=MacConfig(slot_s=0.125e-3, num_rbs=1, rb_bandwidth_hz=100e3))  # fmt: skip
    env, net = make_network(cfg, ConstantSource([30.0]))
    ev = net.uplink(0, None, deadline_s=1.0)
    env.run(until=ev)
    log = net.uplink_engine.tbs
    assert 8 * int(log.length[: log.n].sum()) == 25 * 8000
