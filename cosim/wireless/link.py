"""Link abstraction: SNR per resource block → bits per slot, and transport-block error rate.

Two models, chosen by ``link.model``:

* :class:`ShannonLinkModel` — ``bits = B_rb Δt min(log2(1 + γ/Γ), η_max)`` [bit]
  per RB per slot, with a fixed block error rate.
* :class:`CqiLinkModel` — TS 38.214 Table 5.2.2.1-2 (CQI table 1) spectral
  efficiencies; link adaptation picks, per slot, the highest CQI whose BLER at
  the current SNR is at most ``target_bler``; a block with CQI q fails with
  ``BLER_q(γ) = 1 / (1 + 9 exp(s (γ_dB − γ10_q)))``.

Both work on arrays ``[..., n_links, n_subbands]``; ``mcs`` is 0 for Shannon.
"""

from __future__ import annotations

import numpy as np

from cosim.wireless.config import CqiTableLink, LinkConfig, ShannonLink

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


class ShannonLinkModel:
    """Shannon capacity with an SNR gap Γ and an efficiency cap; constant BLER."""

    def __init__(self, cfg: ShannonLink, rb_bandwidth_hz: float, slot_s: float) -> None:
        self.gap = 10 ** (cfg.snr_gap_db / 10)
        self.eta_max = cfg.max_spectral_efficiency
        self.bits_scale = rb_bandwidth_hz * slot_s
        self.bler_const = cfg.bler

    def adapt(self, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(mcs, bits_per_rb)`` for linear SNR ``gamma``; bits [bit] per RB per slot."""
        eff = np.minimum(np.log2(1 + gamma / self.gap), self.eta_max)
        return np.zeros(gamma.shape, dtype=np.int8), self.bits_scale * eff

    def bler(self, mcs: np.ndarray, gamma: np.ndarray) -> np.ndarray | float:
        """Block error probability (constant)."""
        return self.bler_const


class CqiLinkModel:
    """CQI table with a logistic BLER curve per CQI and BLER-targeting link adaptation."""

    def __init__(self, cfg: CqiTableLink, rb_bandwidth_hz: float, slot_s: float) -> None:
        self.slope = cfg.bler_slope_per_db
        p = cfg.target_bler
        # Solve BLER_q(γ) = p for γ: γ = γ10_q + ln((1 − p) / (9 p)) / s.
        self.thresholds_db = CQI_SNR10_DB[1:] + np.log((1 - p) / (9 * p)) / self.slope
        self.bits_per_rb = CQI_EFFICIENCY * rb_bandwidth_hz * slot_s

    def adapt(self, gamma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cqi, bits_per_rb)``: highest CQI meeting the BLER target at ``gamma`` (0: none)."""
        with np.errstate(divide="ignore"):
            snr_db = 10 * np.log10(gamma)
        cqi = np.searchsorted(self.thresholds_db, snr_db, side="right").astype(np.int8)
        return cqi, self.bits_per_rb[cqi]

    def bler(self, mcs: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        """``BLER_q(γ)`` for CQI ``mcs`` (1 for CQI 0) at linear SNR ``gamma``."""
        with np.errstate(divide="ignore", over="ignore"):
            snr_db = 10 * np.log10(gamma)
            x = np.exp(self.slope * (snr_db - CQI_SNR10_DB[mcs]))
            return 1.0 / (1.0 + 9.0 * x)


LinkModel = ShannonLinkModel | CqiLinkModel


def make_link(cfg: LinkConfig, rb_bandwidth_hz: float, slot_s: float) -> LinkModel:
    """The link model ``cfg`` describes."""
    if isinstance(cfg, ShannonLink):
        return ShannonLinkModel(cfg, rb_bandwidth_hz, slot_s)
    return CqiLinkModel(cfg, rb_bandwidth_hz, slot_s)
