"""Differential test: the vectorised MAC against the per-slot, per-client reference.

:mod:`cosim.wireless.reference_mac` holds a straightforward pure-Python
implementation of the same model (its own link abstraction, PF averages,
buffer-aware OFDMA allocation, synchronous HARQ and packet bookkeeping; the
benchmark ``benchmarks/wireless.py`` times it too). On a small cell both must
deliver every packet at exactly the same time.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from cosim.wireless.config import MacConfig
from cosim.wireless.reference_mac import (
    REFERENCE_CONFIG,
    check_supported,
    compare,
    geometry,
    reference_run,
    run_uploads,
)


@pytest.mark.parametrize("payload", [7_000, 40_000])
@pytest.mark.parametrize("rebase_every", [None, 40], ids=["pf-plain", "pf-rebased"])
def test_vectorised_engine_matches_the_reference(payload, rebase_every, monkeypatch):
    if rebase_every is not None:  # PF averages rescaled every 40 slots (normally ~23 000)
        import cosim.wireless.scheduler as scheduler

        init = scheduler.PfAverage.__init__

        def short_span(self, n_links, beta):
            init(self, n_links, beta)
            self.max_span = rebase_every

        monkeypatch.setattr(scheduler.PfAverage, "__init__", short_span)
    results, net = run_uploads(REFERENCE_CONFIG, *geometry(8), payload)
    busy = net.uplink_engine.slots_simulated
    ref = reference_run(payload, net)
    assert compare(results, ref) == 8 * -(-payload // 1500)
    engine = net.uplink_engine
    retransmitted = (engine.tbs.ntx[: engine.tbs.n] > 1).sum()
    assert retransmitted > 0 and busy > 50  # HARQ and many slots exercised


def test_steady_windows_match_the_reference(monkeypatch):
    """100 clients on 100 RBs: every backlogged link gets a 1-RB share each slot, so most
    slots go through the multi-slot window path (cosim.wireless.window); delivery times
    must still equal the per-slot reference's."""
    import cosim.wireless.mac as mac
    import cosim.wireless.window as window

    done = []

    def counted(eng, s, stop):
        n, finished = window.run_window(eng, s, stop)
        done.append(n)
        return n, finished

    monkeypatch.setattr(mac, "run_window", counted)
    payload = 30_000
    results, net = run_uploads(REFERENCE_CONFIG, *geometry(100), payload)
    busy = net.uplink_engine.slots_simulated
    ref = reference_run(payload, net)
    assert compare(results, ref) == 100 * -(-payload // 1500)
    assert sum(done) > busy / 3  # a third of the busy slots or more came in windows
    assert (net.uplink_engine.tbs.ntx[: net.uplink_engine.tbs.n] > 1).any()


def test_the_reference_refuses_what_it_does_not_model():
    with pytest.raises(ValueError, match=r"mac.scheduler='max_rate' \(needs 'proportional_fair'\)"):
        check_supported(replace(REFERENCE_CONFIG, mac=MacConfig(scheduler="max_rate")))
    check_supported(REFERENCE_CONFIG)


def test_a_wrong_delivery_time_is_reported():
    results, net = run_uploads(REFERENCE_CONFIG, *geometry(2), 3_000)
    ref = reference_run(3_000, net)
    ref[1][0] += REFERENCE_CONFIG.mac.slot_s
    with pytest.raises(AssertionError, match="client 1: delivery times differ at packets"):
        compare(results, ref)
