"""Link abstraction: SNR per resource block → bits per transport block, and block error rate.

Three models, chosen by ``link.model``:

* :class:`ShannonLinkModel` — ``bits = B_rb Δt min(log2(1 + γ/Γ), η_max)`` [bit]
  per RB per slot, with a fixed block error rate.
* :class:`CqiLinkModel` — TS 38.214 Table 5.2.2.1-2 (CQI table 1) spectral
  efficiencies × B_rb Δt per RB; link adaptation picks, per slot, the highest
  CQI whose BLER at the current SNR is at most ``target_bler``; a block with
  CQI q fails with ``BLER_q(γ) = 1 / (1 + 9 exp(s (γ_dB − γ10_q)))``.
* :class:`McsTableLinkModel` — CQI → MCS → transport block size from the
  standard tables (:mod:`cosim.wireless.mcs_tables`); one MCS per TB, chosen at
  the worst subband's SNR.

Per-element methods work on arrays ``[..., n_links, n_subbands]``; ``mcs`` is 0
for Shannon. :meth:`tb` sizes a TB on given RBs, :meth:`rate` the bits a link
would send on n RBs (flat channel).
"""

from __future__ import annotations

import math

import numpy as np

from cosim.wireless.config import CqiTableLink, LinkConfig, McsTableLink, ShannonLink
from cosim.wireless.mcs_tables import build_table

#: TS 38.214 Table 5.2.2.1-2 efficiency [bit/s/Hz] of CQI 1..15 (index 0 = out of range).
CQI_EFFICIENCY = np.array(
    [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
     2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]
)  # fmt: skip
#: SNR [dB] at 10 % BLER for CQI 1..15 in AWGN, as used by the Vienna LTE system-level
#: simulator's CQI mapping (Mehlführer et al., EUSIPCO 2009); index 0 unused.
CQI_SNR10_DB = np.array(
    [np.inf, -6.7, -4.7, -2.3, 0.2, 2.4, 4.3, 5.9, 8.1, 10.3, 11.7, 14.1, 16.3, 18.7, 21.0, 22.7]
)


def cqi_thresholds_db(target_bler: float, slope_per_db: float) -> np.ndarray:
    """SNR [dB] from which CQI 1..15 meet ``target_bler``: ``γ10 + ln((1 − p) / (9 p)) / s``."""
    return CQI_SNR10_DB[1:] + np.log((1 - target_bler) / (9 * target_bler)) / slope_per_db


def cqi_shannon_excess(target_bler: float, slope_per_db: float) -> tuple[int, float, float]:
    """Worst ``(cqi, η_q − log2(1 + γ_q), γ_q [dB])`` over CQIs at their switching SNR γ_q.

    Positive excess: that setting would send above the Shannon capacity.
    """
    thr = cqi_thresholds_db(target_bler, slope_per_db)
    excess = CQI_EFFICIENCY[1:] - np.log2(1 + 10 ** (thr / 10))
    i = int(np.argmax(excess))
    return i + 1, float(excess[i]), float(thr[i])


class ShannonLinkModel:
    """Shannon capacity with an SNR gap Γ and an efficiency cap; constant BLER."""

    fractional = True  # bits per TB are real-valued: the remainder carries to the next TB

    def __init__(self, cfg: ShannonLink, rb_bandwidth_hz: float, slot_s: float) -> None:
        self.gap = 10 ** (cfg.snr_gap_db / 10)
        self.eta_max = cfg.max_spectral_efficiency
        self.bits_scale = rb_bandwidth_hz * slot_s
        self.bler_const = cfg.bler
        # BLER independent of the SNR (and no MCS: code 0), or None
        self.fixed_bler: float | None = cfg.bler

    def adapt(self, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mcs, bits_per_rb)`` for linear SNR ``gamma``; bits [bit] per RB per slot."""
        return self.mcs_of(gamma), self._bits_rb(gamma)

    def _bits_rb(self, gamma: np.ndarray) -> np.ndarray:
        return self.bits_scale * np.minimum(np.log2(1 + gamma / self.gap), self.eta_max)

    def mcs_of(self, gamma: np.ndarray) -> np.ndarray:
        """The MCS code ``adapt`` gives (0: Shannon has none)."""
        return np.zeros(np.shape(gamma), dtype=np.int8)

    def full_bits(self, mcs: np.ndarray, bpr: np.ndarray, n_rbs: int) -> np.ndarray:
        """Bits of a TB on all ``n_rbs`` RBs of a flat channel."""
        return n_rbs * bpr

    def max_bits_per_rb(self) -> float:
        """Most bits one RB carries in a slot, at any SNR [bit]."""
        return self.bits_scale * self.eta_max

    def tb(
        self, gamma: np.ndarray, rbs: np.ndarray, mcs_wide: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(mcs [k, B], bits [k])`` of TBs on ``rbs[k, B]`` RBs at SNR ``gamma[k, B]``."""
        mcs, bpr = self.adapt(gamma)
        return mcs, (rbs * bpr).sum(axis=1)

    def rate(self, gamma: np.ndarray, n: int, mcs_wide: np.ndarray | None = None) -> np.ndarray:
        """Bits [bit] on ``n`` RBs at SNR ``gamma[k]`` (flat)."""
        return n * self._bits_rb(gamma)

    def bler(self, mcs: np.ndarray, gamma: np.ndarray) -> np.ndarray | float:
        """Block error probability (constant)."""
        return self.bler_const


class CqiLinkModel(ShannonLinkModel):
    """CQI table with a logistic BLER curve per CQI and BLER-targeting link adaptation."""

    def __init__(self, cfg: CqiTableLink, rb_bandwidth_hz: float, slot_s: float) -> None:
        self.slope = cfg.bler_slope_per_db
        self.fixed_bler = None
        self.thresholds_db = cqi_thresholds_db(cfg.target_bler, cfg.bler_slope_per_db)
        self.bits_per_rb = CQI_EFFICIENCY * rb_bandwidth_hz * slot_s

    def adapt(self, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cqi, bits_per_rb)``: highest CQI meeting the BLER target at ``gamma`` (0: none)."""
        with np.errstate(divide="ignore"):
            snr_db = 10 * np.log10(gamma)
        cqi = np.searchsorted(self.thresholds_db, snr_db, side="right").astype(np.int8)
        return cqi, self.bits_per_rb[cqi]

    def _bits_rb(self, gamma: np.ndarray) -> np.ndarray:
        return self.adapt(gamma)[1]

    def mcs_of(self, gamma: np.ndarray) -> np.ndarray:
        return self.adapt(gamma)[0]

    def max_bits_per_rb(self) -> float:
        return float(self.bits_per_rb.max())

    def bler(self, mcs: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """``BLER_q(γ)`` for CQI ``mcs`` (1 for CQI 0) at linear SNR ``gamma``."""
        with np.errstate(divide="ignore", over="ignore"):
            snr_db = 10 * np.log10(gamma)
            x = np.exp(self.slope * (snr_db - CQI_SNR10_DB[mcs]))
            return 1.0 / (1.0 + 9.0 * x)


class McsTableLinkModel:
    """CQI from ``s = log2(1 + γ/Γ)``, MCS from the CQI, TB size from the standard table.

    ``mcs`` is stored +1 (0: no MCS, nothing sent) so that it fits the TB log's
    non-negative codes; ``bits_per_rb`` is ``TBS(MCS, N) / N`` (for ranking).
    """

    fractional = False  # TB sizes are whole bytes

    def __init__(self, cfg: McsTableLink, num_rbs: int) -> None:
        self.fixed_bler: float | None = None
        t = build_table(cfg.table, num_rbs, dmrs_re_per_prb=cfg.dmrs_re_per_rb,
                        overhead_re_per_prb=cfg.overhead_re_per_rb)  # fmt: skip
        self.table = t
        self.num_rbs = num_rbs
        self.wideband = cfg.adaptation == "wideband"
        self.csi_step_db = cfg.csi_step_db
        self.slope = cfg.bler_slope_per_db
        # CQI q is reported from γ > Γ (2^η_q − 1), η_q its efficiency
        self.thresholds = cfg.gap * (2.0 ** t.cqi_efficiency[1:] - 1)
        self.code_of_cqi = (t.cqi_to_mcs + 1).astype(np.int8)  # MCS + 1, 0 for CQI 0
        with np.errstate(divide="ignore"):
            snr10 = 10 * np.log10(2.0**t.mcs_efficiency - 1) + cfg.decoding_gap_db
        self.snr10_db = np.concatenate([[np.inf], snr10])  # by code
        self.tbs = np.vstack([np.zeros((1, num_rbs + 1)), t.tbs_bits]).astype(np.float64)

    def select(self, gamma: np.ndarray) -> np.ndarray:
        """MCS code (MCS + 1, 0: none) for linear SNR ``gamma`` (strictly above the threshold),
        after truncating its dB value toward zero to a multiple of ``csi_step_db``."""
        if self.csi_step_db > 0:
            with np.errstate(divide="ignore"):
                db = np.trunc(10 * np.log10(gamma) / self.csi_step_db) * self.csi_step_db
            gamma = 10 ** (db / 10)
        return self.code_of_cqi[np.searchsorted(self.thresholds, gamma, side="left")]

    def adapt(self, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(code, bits_per_rb)`` at full band: ``TBS(MCS, N) / N``."""
        code = self.select(gamma)
        return code, self.tbs[code, self.num_rbs] / self.num_rbs

    def full_bits(self, mcs: np.ndarray, bpr: np.ndarray, n_rbs: int) -> np.ndarray:
        return self.tbs[mcs, n_rbs]

    def max_bits_per_rb(self) -> float:
        return float((self.tbs[:, 1:] / np.arange(1, self.num_rbs + 1)).max())

    def tb(
        self, gamma: np.ndarray, rbs: np.ndarray, mcs_wide: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """One MCS per TB, at the worst used subband (or the wideband MCS); bits ``TBS(m, n)``."""
        used = rbs > 0
        if self.wideband and mcs_wide is not None:
            code = np.where(used, mcs_wide, 127).min(axis=1)
        else:
            code = self.select(np.where(used, gamma, np.inf).min(axis=1))
        code = np.where(used.any(axis=1), code, 0).astype(np.int8)
        bits = self.tbs[code, rbs.sum(axis=1)]
        return np.repeat(code[:, None], rbs.shape[1], axis=1), bits

    def rate(self, gamma: np.ndarray, n: int, mcs_wide: np.ndarray | None = None) -> np.ndarray:
        code = mcs_wide if (self.wideband and mcs_wide is not None) else self.select(gamma)
        return self.tbs[code, n]

    def bler(self, mcs: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """``1 / (1 + 9 exp(s (γ_dB − γ10_m)))`` (1 for code 0)."""
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            snr_db = 10 * np.log10(gamma)
            x = np.exp(self.slope * (snr_db - self.snr10_db[mcs]))
            return np.where(mcs > 0, 1.0 / (1.0 + 9.0 * x), 1.0)


def mcs_shannon_excess(
    cfg: McsTableLink, num_rbs: int, rb_bandwidth_hz: float, slot_s: float
) -> tuple[int, int, float]:
    """Worst ``(cqi, n_RB, TBS/(n B Δt) − log2(1 + γ_q))`` over CQIs and RB counts.

    γ_q is the lowest SNR reporting CQI q; with ``wideband`` adaptation the TB is
    sent at an SNR at least that high, so the same bound holds.
    """
    model = McsTableLinkModel(cfg, num_rbs)
    n = np.arange(1, num_rbs + 1)
    codes = model.code_of_cqi[1:]
    eff = model.tbs[codes][:, 1:] / (n * rb_bandwidth_hz * slot_s)  # [cqi, n]
    cap = np.log2(1 + model.thresholds)[:, None]
    excess = eff - cap
    q, j = np.unravel_index(int(np.argmax(excess)), excess.shape)
    return int(q) + 1, int(n[j]), float(excess[q, j])


LinkModel = ShannonLinkModel | CqiLinkModel | McsTableLinkModel


def make_link(cfg: LinkConfig, rb_bandwidth_hz: float, slot_s: float, num_rbs: int) -> LinkModel:
    """The link model ``cfg`` describes."""
    if isinstance(cfg, ShannonLink):
        return ShannonLinkModel(cfg, rb_bandwidth_hz, slot_s)
    if isinstance(cfg, CqiTableLink):
        return CqiLinkModel(cfg, rb_bandwidth_hz, slot_s)
    return McsTableLinkModel(cfg, num_rbs)


def shannon_bits(gamma: float, n_rbs: int, rb_bandwidth_hz: float, slot_s: float) -> float:
    """Shannon capacity of n RBs at SNR γ per RB over one slot [bit] (for checks)."""
    return n_rbs * rb_bandwidth_hz * slot_s * math.log2(1 + gamma)
