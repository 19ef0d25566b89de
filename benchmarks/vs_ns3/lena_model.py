"""Closed form of LENA's uplink on the matched scenario, checked against the ns-3 CSVs.

README.md here lists the LENA facts that set the uplink throughput (RB allocation,
link adaptation, TBS). This script turns them into numbers and compares them with every
UE of every committed reference (``ns3_reference_N*.csv``, ``ns3_reference_srs_N*.csv``):
the MCS ns-3 chose and its MAC throughput (``mac_ok_bps``). If the facts are complete,
both agree exactly (MAC throughput up to the TTI count in the window).

Per UE i (d_i, N UEs, 100 RBs, 1 ms TTIs):
  rbPerFlow = max(3, ⌊100 / N⌋); served per TTI K = min(N, ⌊100 / rbPerFlow⌋)
  SINR_dB  = 23 − 10 log10(n) − (38.2 + 30 log10 d_i) + 116.45, with n = rbPerFlow
             (PUSCH CQI) or n = 100 (SRS CQI); −116.45 dBm = −174 + 5 + 10 log10(180 kHz)
  the FF-API carries the SINR as S11.3 fixed point: ⌊8 · SINR_dB⌋ / 8
  s = log2(1 + γ / Γ), Γ = −ln(5 · 5e-5) / 1.5;  CQI = max{c : eff_CQI[c] < s}
  MCS = max{m ≤ 28 : eff_MCS[m] ≤ eff_CQI[CQI]};  I_TBS = TS 36.213 Table 8.6.1-1
  MAC bit/s = TBS(I_TBS, rbPerFlow) · (K / N) · 1000

Usage: ``.venv/bin/python benchmarks/vs_ns3/lena_model.py`` (exit 1 on any mismatch).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

from cosim.wireless.tbs import LTE_TBS

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from compare import read_ns3_csv  # noqa: E402  (sibling script, not a package)

#: LteAmc SpectralEfficiencyForCqi (index = CQI; 0 = out of range).
EFF_CQI = (0.0, 0.15, 0.23, 0.38, 0.6, 0.88, 1.18, 1.48, 1.91, 2.41, 2.73, 3.32, 3.9, 4.52,
           5.12, 5.55)  # fmt: skip
#: LteAmc SpectralEfficiencyForMcs (index = MCS 0..28).
EFF_MCS = (0.15, 0.19, 0.23, 0.31, 0.38, 0.49, 0.6, 0.74, 0.88, 1.03, 1.18, 1.33, 1.48, 1.7,
           1.91, 2.16, 2.41, 2.57, 2.73, 3.03, 3.32, 3.61, 3.9, 4.21, 4.52, 4.82, 5.12, 5.33,
           5.55)  # fmt: skip
#: LteAmc McsToItbsUl (TS 36.213 Table 8.6.1-1).
ITBS_UL = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21,
           22, 23, 24, 25, 26)  # fmt: skip
GAP = -math.log(5 * 5e-5) / 1.5
NOISE_PER_RB_DBM = -174.0 + 5.0 + 10 * math.log10(180e3)
NUM_RBS = 100


def lena_mcs(sinr_db: float) -> int | None:
    """MCS the LENA uplink scheduler picks for a reported SINR (None: CQI 0, not served)."""
    q = math.floor(8 * sinr_db) / 8  # LteFfConverter::double2fpS11dot3 truncates
    s = math.log2(1 + 10 ** (q / 10) / GAP)
    cqi = 0
    while cqi < 15 and EFF_CQI[cqi + 1] < s:
        cqi += 1
    if cqi == 0:
        return None
    mcs = 0
    while mcs < 28 and EFF_MCS[mcs + 1] <= EFF_CQI[cqi]:
        mcs += 1
    return mcs


def predict(distances_m: np.ndarray, ul_cqi: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-UE MCS and MAC throughput [bit/s] of the closed form."""
    n = len(distances_m)
    rb = max(3, NUM_RBS // n)
    share = min(n, NUM_RBS // rb) / n
    sounded = rb if ul_cqi == "pusch" else NUM_RBS
    mcs = np.zeros(n)
    bps = np.zeros(n)
    for i, d in enumerate(distances_m):
        sinr = 23.0 - 10 * math.log10(sounded) - (38.2 + 30 * math.log10(d)) - NOISE_PER_RB_DBM
        m = lena_mcs(sinr)
        mcs[i] = np.nan if m is None else m
        bps[i] = 0.0 if m is None else LTE_TBS[rb - 1, ITBS_UL[m]] * share * 1000
    return mcs, bps


def main() -> int:
    ok = True
    for ul_cqi, pattern in (("pusch", "ns3_reference_N*.csv"), ("srs", "ns3_reference_srs_N*.csv")):
        for path in sorted(HERE.glob(pattern), key=lambda p: int(p.stem.rsplit("N", 1)[1])):
            ns3 = read_ns3_csv(path)
            mcs, bps = predict(ns3.distances_m, ul_cqi)
            mcs_bad = int(np.sum(mcs != ns3.mean_mcs))
            rel = np.abs(bps / ns3.mac_bps - 1)
            ok &= mcs_bad == 0 and rel.max() < 0.01
            print(f"{path.name:28s} {len(mcs):3d} UEs: MCS differs for {mcs_bad}, "
                  f"MAC throughput max |closed form / ns-3 - 1| = {rel.max():.2e}")  # fmt: skip
    print("closed form reproduces ns-3" if ok else "closed form does NOT reproduce ns-3")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
