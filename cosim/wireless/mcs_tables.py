"""CQI and MCS tables of LTE (TS 36.213) and NR (TS 38.214), and the TBS of every (MCS, n_RB).

A table set gives, per CQI, a spectral efficiency [bit/s/Hz] (what the
receiver reports) and, per MCS, a modulation order Q_m, an efficiency used to
map a CQI onto an MCS, and the transport block size for n resource blocks:

* ``lte``: CQI: TS 36.213 Table 7.2.3-1 (rounded as in R1-081483). MCS: PUSCH Table 8.6.1-1 (I_MCS →
  I_TBS, Q_m) with the TBS from Table 7.1.7.2.1-1; the MCS efficiencies used to
  map a CQI onto an MCS are those of 3GPP R1-081483 (as in ns-3 LENA's AMC).
* ``nr``: CQI: TS 38.214 Table 5.2.2.1-2. MCS: Table 5.1.3.1-1 (Q_m, R·1024),
  efficiency Q_m · R; TBS by the §5.1.3.2 procedure (:mod:`cosim.wireless.tbs`).
* ``nr_256qam``: CQI Table 5.2.2.1-3, MCS Table 5.1.3.1-2.

CQI → MCS (as LENA's ``GetMcsFromCqi``): the highest MCS whose efficiency is
at most the CQI's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.wireless.tbs import LTE_MAX_PRB, LTE_TBS, nr_re_per_prb, nr_tbs

#: TS 36.213 Table 7.2.3-1 = TS 38.214 Table 5.2.2.1-2, CQI 0..15 [bit/s/Hz] (0: out of range).
CQI_TABLE_1 = np.array(
    [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
     2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]
)  # fmt: skip
#: TS 38.214 Table 5.2.2.1-3 (256QAM), CQI 0..15 [bit/s/Hz].
CQI_TABLE_2 = np.array(
    [0.0, 0.1523, 0.3770, 0.8770, 1.4766, 1.9141, 2.4063, 2.7305, 3.3223, 3.9023,
     4.5234, 5.1152, 5.5547, 6.2266, 6.9141, 7.4063]
)  # fmt: skip
#: CQI 0..15 efficiencies of R1-081483 (Table 7.2.3-1 rounded to 2 decimals), paired with
#: :data:`LTE_MCS_EFFICIENCY` so that CQI q maps onto I_MCS 2(q − 1) (as in ns-3 LENA).
CQI_TABLE_LTE = np.array(
    [0.0, 0.15, 0.23, 0.38, 0.6, 0.88, 1.18, 1.48, 1.91, 2.41, 2.73, 3.32, 3.9, 4.52, 5.12, 5.55]
)
#: TS 36.213 Table 8.6.1-1: I_TBS of PUSCH I_MCS 0..28.
LTE_UL_ITBS = np.array(
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22,
     23, 24, 25, 26]
)  # fmt: skip
#: Q_m of PUSCH I_MCS 0..28 (Table 8.6.1-1).
LTE_UL_QM = np.array([2] * 11 + [4] * 10 + [6] * 8)
#: 3GPP R1-081483 efficiency of I_MCS 0..28 [bit/s/Hz] (rounded to 2 decimals).
LTE_MCS_EFFICIENCY = np.array(
    [0.15, 0.19, 0.23, 0.31, 0.38, 0.49, 0.6, 0.74, 0.88, 1.03, 1.18, 1.33, 1.48, 1.7, 1.91,
     2.16, 2.41, 2.57, 2.73, 3.03, 3.32, 3.61, 3.9, 4.21, 4.52, 4.82, 5.12, 5.33, 5.55]
)  # fmt: skip
#: TS 38.214 Table 5.1.3.1-1 (64QAM): (Q_m, R · 1024) of MCS 0..28.
NR_MCS_TABLE_1 = np.array(
    [(2, 120), (2, 157), (2, 193), (2, 251), (2, 308), (2, 379), (2, 449), (2, 526), (2, 602),
     (2, 679), (4, 340), (4, 378), (4, 434), (4, 490), (4, 553), (4, 616), (4, 658), (6, 438),
     (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772), (6, 822), (6, 873),
     (6, 910), (6, 948)], dtype=np.float64,
)  # fmt: skip
#: TS 38.214 Table 5.1.3.1-2 (256QAM): (Q_m, R · 1024) of MCS 0..27.
NR_MCS_TABLE_2 = np.array(
    [(2, 120), (2, 193), (2, 308), (2, 449), (2, 602), (4, 378), (4, 434), (4, 490), (4, 553),
     (4, 616), (4, 658), (6, 466), (6, 517), (6, 567), (6, 616), (6, 666), (6, 719), (6, 772),
     (6, 822), (6, 873), (8, 682.5), (8, 711), (8, 754), (8, 797), (8, 841), (8, 885),
     (8, 916.5), (8, 948)], dtype=np.float64,
)  # fmt: skip
TABLES = ("lte", "nr", "nr_256qam")


@dataclass(frozen=True)
class McsTable:
    """One table set, sized for ``num_rbs`` RBs.

    ``cqi_efficiency[q]`` (q = 0..15), ``mcs_efficiency[m]``, ``qm[m]``,
    ``cqi_to_mcs[q]`` (−1 for CQI 0) and ``tbs_bits[m, n]`` [bit] for n = 0..num_rbs RBs.
    """

    name: str
    cqi_efficiency: np.ndarray
    mcs_efficiency: np.ndarray
    qm: np.ndarray
    cqi_to_mcs: np.ndarray
    tbs_bits: np.ndarray


def build_table(
    name: str, num_rbs: int, symbols: int = 14, dmrs_re_per_prb: int = 12,
    overhead_re_per_prb: int = 0,
) -> McsTable:  # fmt: skip
    """The table set ``name`` for up to ``num_rbs`` RBs (NR: REs per PRB from the overheads)."""
    if name == "lte":
        if num_rbs > LTE_MAX_PRB:
            raise ValueError(f"the LTE TBS table stops at {LTE_MAX_PRB} PRBs, got {num_rbs}")
        cqi, eff, qm = CQI_TABLE_LTE, LTE_MCS_EFFICIENCY, LTE_UL_QM
        tbs = np.zeros((eff.size, num_rbs + 1), dtype=np.int64)
        tbs[:, 1:] = LTE_TBS[:num_rbs, LTE_UL_ITBS].T
    else:
        cqi, rows = (CQI_TABLE_1, NR_MCS_TABLE_1) if name == "nr" else (CQI_TABLE_2, NR_MCS_TABLE_2)
        qm, rate = rows[:, 0].astype(np.int64), rows[:, 1] / 1024
        eff = qm * rate
        re = nr_re_per_prb(symbols, dmrs_re_per_prb, overhead_re_per_prb)
        pairs = zip(qm, rate, strict=True)
        tbs = np.array(
            [[nr_tbs(re * n, r, int(q)) for n in range(num_rbs + 1)] for q, r in pairs],
            dtype=np.int64,
        )
    # the highest MCS with efficiency <= the CQI's, at least MCS 0 (NR's efficiencies are
    # not monotone: MCS 17 of Table 5.1.3.1-1 is below MCS 16)
    fits = [np.flatnonzero(eff <= e + 1e-12) for e in cqi[1:]]
    cqi_to_mcs = np.array([-1] + [int(f.max()) if f.size else 0 for f in fits], dtype=np.int64)
    return McsTable(name, cqi, eff, np.asarray(qm), cqi_to_mcs, tbs)
