"""Per-round client selection at the server (a decision, no arithmetic elsewhere).

- ``all``: every client.
- ``random_fraction``: ``max(1, round(fraction · N))`` clients drawn without
  replacement from the round's own generator (common random numbers: the
  draw depends only on the scenario seed and the round).
- ``best_m``: the ``m`` clients with the highest current uplink SNR
  (channel-aware); ties broken by client index. A channel that gives rates
  but no SNR (a replayed rate trace: throughput log, Mahimahi, rate series)
  has no SNR to rank by, so ``best_m`` then raises
  :class:`~cosim.errors.ScenarioError` instead of silently picking by index.
"""

from __future__ import annotations

import numpy as np

from cosim.errors import ScenarioError
from cosim.sim.config import ServerConfig


def select_clients(
    config: ServerConfig, snr_db: np.ndarray, rng: np.random.Generator
) -> list[int]:
    """Indices of the clients taking part in a round, sorted ascending.

    Args:
        config: the scenario's ``server`` section.
        snr_db: current wideband uplink SNR per client [dB], shape ``[N]``.
        rng: the round's generator (used by ``random_fraction`` only).
    """
    n = int(snr_db.shape[0])
    if config.selection == "all":
        return list(range(n))
    if config.selection == "random_fraction":
        count = min(n, max(1, round(config.fraction * n)))
        return sorted(int(i) for i in rng.choice(n, size=count, replace=False))
    count = min(n, config.m)
    if np.isnan(snr_db).any():
        raise ScenarioError(
            "server.selection: best_m ranks clients by uplink SNR, but the channel gives "
            "no SNR (a replayed rate trace); use selection all or random_fraction, or an "
            "SNR trace"
        )
    # Stable sort on −SNR keeps the lower index first among equal SNRs.
    order = np.argsort(-snr_db, kind="stable")
    return sorted(int(i) for i in order[:count])
