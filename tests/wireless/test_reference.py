"""Differential test: the vectorised MAC against the per-slot, per-client reference.

``benchmarks/wireless.py`` holds a straightforward pure-Python implementation
of the same model (its own Jakes sums, link abstraction, PF averages,
buffer-aware OFDMA allocation, synchronous HARQ and packet bookkeeping). On a
small cell both must deliver every packet at exactly the same time.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "wireless.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("wireless_bench", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.mark.parametrize("payload", [7_000, 40_000])
@pytest.mark.parametrize("rebase_every", [None, 40], ids=["pf-plain", "pf-rebased"])
def test_vectorised_engine_matches_the_reference(bench, payload, rebase_every, monkeypatch):
    if rebase_every is not None:  # PF averages rescaled every 40 slots (normally ~23 000)
        import cosim.wireless.scheduler as scheduler

        init = scheduler.PfAverage.__init__

        def short_span(self, n_links, beta):
            init(self, n_links, beta)
            self.max_span = rebase_every

        monkeypatch.setattr(scheduler.PfAverage, "__init__", short_span)
    results, busy, _, net = bench.fast_run(payload, n_clients=8)
    ref = bench.reference_run(payload, net)
    assert bench.compare(results, ref) == 8 * -(-payload // 1500)
    engine = net.uplink_engine
    retransmitted = (engine.tbs.ntx[: engine.tbs.n] > 1).sum()
    assert retransmitted > 0 and busy > 50  # HARQ and many slots exercised


def test_steady_windows_match_the_reference(bench, monkeypatch):
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
    results, busy, _, net = bench.fast_run(payload, n_clients=100)
    ref = bench.reference_run(payload, net)
    assert bench.compare(results, ref) == 100 * -(-payload // 1500)
    assert sum(done) > busy / 3  # a third of the busy slots or more came in windows
    assert (net.uplink_engine.tbs.ntx[: net.uplink_engine.tbs.n] > 1).any()
