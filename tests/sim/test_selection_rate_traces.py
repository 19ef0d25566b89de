"""Client selection under a replayed rate trace (no SNR): best_m is rejected clearly."""

from __future__ import annotations

import numpy as np
import pytest

from cosim.errors import ScenarioError
from cosim.sim.config import ServerConfig
from cosim.sim.selection import select_clients


def test_best_m_ranks_by_snr():
    cfg = ServerConfig(selection="best_m", m=2)
    assert select_clients(cfg, np.array([1.0, 9.0, 5.0, 9.0]), np.random.default_rng(0)) == [1, 3]


def test_best_m_without_snr_is_rejected_not_index_order():
    cfg = ServerConfig(selection="best_m", m=2)
    with pytest.raises(ScenarioError, match="best_m ranks clients by uplink SNR"):
        select_clients(cfg, np.full(4, np.nan), np.random.default_rng(0))


@pytest.mark.parametrize("selection", ["all", "random_fraction"])
def test_other_selections_do_not_need_snr(selection):
    cfg = ServerConfig(selection=selection, fraction=0.5)
    chosen = select_clients(cfg, np.full(4, np.nan), np.random.default_rng(0))
    assert len(chosen) == (4 if selection == "all" else 2)
