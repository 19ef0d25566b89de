"""TbLog.rows_of (scans, grouped rows plus a scanned tail) agrees with a plain scan."""

from __future__ import annotations

import numpy as np

from cosim.wireless.tblog import TbLog


def _add(log: TbLog, transfers: np.ndarray) -> None:
    k = transfers.size
    z = np.zeros(k, dtype=np.int64)
    log.add(z, transfers, z, z + 1, 0, 0, np.ones((k, 1)), np.zeros((k, 1)), np.ones((k, 1)))


def test_rows_of_matches_a_scan_through_appends_and_compactions():
    rng = np.random.default_rng(3)
    log = TbLog(1, capacity=16)
    for step in range(300):
        _add(log, rng.integers(0, 40, rng.integers(0, 3000 if step % 50 == 0 else 60)))
        if step % 97 == 96:  # drop some transfers' rows
            log.compact(rng.random(log.n) < 0.5)
        for _ in range(rng.integers(0, 4)):
            t = int(rng.integers(0, 41))
            first = int(rng.integers(0, log.n + 2))
            lo = min(first, log.n)
            want = lo + np.flatnonzero(log.transfer[lo : log.n] == t)
            got = log.rows_of(t, first)
            np.testing.assert_array_equal(got, want)
    assert log._groups is not None  # the grouped path was exercised


def test_rows_of_with_wide_transfer_ids():
    log = TbLog(1)
    ids = np.array([5, 70_000, 5, 3, 70_000, 3], dtype=np.int64)
    _add(log, ids)
    for _ in range(2):  # a scan, then the grouped path (ids span over 2^16)
        for t in (3, 5, 70_000, 9):
            np.testing.assert_array_equal(log.rows_of(t), np.flatnonzero(ids == t))
    log.clear()
    assert log.n == 0 and log.rows_of(5).size == 0
