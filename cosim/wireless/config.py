"""Configuration of the wireless model (``wireless:`` section of a scenario).

Frozen dataclasses mapped from YAML by :mod:`cosim.config.mapping`. Every field
has a default, so ``WirelessConfig()`` is a valid 20 MHz, 3.5 GHz UMa cell with
time-correlated Rayleigh fading, Shannon link abstraction and a
proportional-fair OFDMA scheduler. Per-client geometry (distance, speed) is not
here: it comes from the scenario's ``clients:`` list.

Validation (``__post_init__``) raises :class:`cosim.errors.ConfigFieldError`
naming the field, its value and what is allowed; a ``Literal[...]`` annotation
is the one list of a field's allowed values (:func:`cosim.config.checks.check_literals`).

The path-loss configs (``UMaPathLoss`` …) live beside their formulas, one model
per file, in :mod:`cosim.wireless.pathloss`; ``FadingConfig`` beside the fading
processes in :mod:`cosim.wireless.fading`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, get_args

from cosim.config.checks import (
    check_choice,
    check_int_range,
    check_literals,
    check_positive,
    check_range,
)
from cosim.errors import ConfigFieldError
from cosim.wireless.fading.config import FadingConfig
from cosim.wireless.pathloss import (
    PATH_LOSS_MODELS,
    LogDistancePathLoss,
    PathLossConfig,
    UMaPathLoss,
)


# --------------------------------------------------------------------------- link
@dataclass(frozen=True)
class ShannonLink:
    """Rate per RB ``B_rb · min(log2(1 + γ / Γ), η_max)`` [bit/s], Γ = 10^(snr_gap_db/10).

    ``bler`` is a fixed transport-block error probability (0: error-free).
    """

    model: Literal["shannon"] = "shannon"
    snr_gap_db: float = 0.0
    max_spectral_efficiency: float = 7.4063
    bler: float = 0.0

    def __post_init__(self) -> None:
        check_literals(self)
        check_range("snr_gap_db", self.snr_gap_db, 0.0, 30.0)
        check_positive("max_spectral_efficiency", self.max_spectral_efficiency)
        check_range("bler", self.bler, 0.0, 1.0, high_inclusive=False)


@dataclass(frozen=True)
class CqiTableLink:
    """TS 38.214 CQI table 1 efficiencies; highest CQI whose BLER at the current SNR <= target.

    BLER curve per CQI: ``1 / (1 + 9 exp(s (γ_dB − γ10_cqi)))``, 10 % at the
    CQI's threshold γ10 and slope ``bler_slope_per_db`` = s [1/dB].
    """

    model: Literal["cqi_table"] = "cqi_table"
    target_bler: float = 0.1
    bler_slope_per_db: float = 2.0

    def __post_init__(self) -> None:
        check_literals(self)
        check_range("target_bler", self.target_bler, 1e-6, 0.5)
        check_range("bler_slope_per_db", self.bler_slope_per_db, 0.1, 20.0)
        # Link adaptation switches to CQI q at γ_q = γ10_q + ln((1 − p) / (9 p)) / s [dB];
        # the CQI's efficiency must not exceed the Shannon capacity log2(1 + γ_q) there.
        from cosim.wireless.link import cqi_shannon_excess

        q, excess, thr_db = cqi_shannon_excess(self.target_bler, self.bler_slope_per_db)
        if excess > 0:
            raise ConfigFieldError(
                "link.target_bler",
                f"{self.target_bler!r} with bler_slope_per_db={self.bler_slope_per_db!r} selects "
                f"CQI {q} from {thr_db:.2f} dB, where it exceeds the Shannon capacity by "
                f"{excess:.3f} bit/s/Hz; use a smaller target_bler or a steeper slope",
            )


@dataclass(frozen=True)
class McsTableLink:
    """CQI/MCS tables with the standard transport block sizes (:mod:`cosim.wireless.mcs_tables`).

    ``table``: ``lte`` (TS 36.213 PUSCH), ``nr`` (TS 38.214 64QAM) or
    ``nr_256qam``. Link adaptation (the "PiroEW2010" AMC of ns-3 LENA): the
    reported spectral efficiency is ``s = log2(1 + γ / Γ)`` with the M-QAM gap
    ``Γ = −ln(5 · ber_target) / 1.5``; the CQI is the highest whose efficiency is
    below s, the MCS the highest whose efficiency is at most the CQI's, and the
    TB carries ``TBS(MCS, n_RB)`` bits. ``adaptation``: ``allocated`` picks the
    MCS from the SNR of the allocated RBs (the UE's power split over them);
    ``wideband`` from the SNR of a full-band sounding (LENA's SRS-based uplink
    AMC), so a UE on few RBs gains only decoding margin. A TB with MCS m fails
    with ``1 / (1 + 9 exp(s (γ_dB − γ10_m)))``, ``γ10_m = 10 log10(2^η_m − 1)
    + decoding_gap_db`` (η_m: the MCS's efficiency). NR: the REs per PRB are
    ``min(156, 12 · 14 − dmrs_re_per_rb − overhead_re_per_rb)``.
    ``csi_step_db`` > 0: the SNR that link adaptation sees is truncated toward
    zero to a multiple of it [dB] (a quantised CSI report; ns-3 LENA's FF MAC
    API carries the uplink SINR as S11.3 fixed point, i.e. 0.125 dB).
    """

    model: Literal["mcs_table"] = "mcs_table"
    table: Literal["lte", "nr", "nr_256qam"] = "nr"
    ber_target: float = 5e-5
    adaptation: Literal["allocated", "wideband"] = "allocated"
    decoding_gap_db: float = 1.5
    bler_slope_per_db: float = 2.0
    dmrs_re_per_rb: int = 12
    overhead_re_per_rb: int = 0
    csi_step_db: float = 0.0

    def __post_init__(self) -> None:
        check_literals(self)
        # Γ >= 1 (0 dB): −ln(5 BER) / 1.5 >= 1  ⇔  BER <= e^−1.5 / 5 = 0.0446
        check_range("ber_target", self.ber_target, 1e-12, math.exp(-1.5) / 5)
        check_range("decoding_gap_db", self.decoding_gap_db, 0.0, 20.0)
        check_range("bler_slope_per_db", self.bler_slope_per_db, 0.1, 20.0)
        check_int_range("dmrs_re_per_rb", self.dmrs_re_per_rb, 0, 72)
        check_choice("overhead_re_per_rb", self.overhead_re_per_rb, (0, 6, 12, 18))
        check_range("csi_step_db", self.csi_step_db, 0.0, 10.0)

    @property
    def gap(self) -> float:
        """AMC SNR gap Γ = −ln(5 · ber_target) / 1.5 (linear)."""
        return -math.log(5 * self.ber_target) / 1.5


LinkConfig = ShannonLink | CqiTableLink | McsTableLink
LINK_MODELS: tuple[type, ...] = get_args(LinkConfig)


@dataclass(frozen=True)
class UplinkPowerConfig:
    """UE transmit power (TS 38.213 §7.1.1 with Δ_TF = f = 0).

    On n RBs a UE sends ``P = min(P_max, P0 + 10 log10(2^μ n) + α · PL)`` [dBm]
    (``p0_dbm_per_rb`` = P0, ``None``: always P_max; PL includes shadowing;
    2^μ = ``rb_bandwidth_hz`` / 180 kHz), spread evenly over its RBs, so the SNR
    per RB is ``P − 10 log10 n − PL − noise per RB``. ``split_over_rbs: false``
    restores a fixed power spectral density (P_max over all RBs).
    """

    split_over_rbs: bool = True
    p0_dbm_per_rb: float | None = None
    alpha: float = 1.0

    def __post_init__(self) -> None:
        if self.p0_dbm_per_rb is not None:
            check_range("p0_dbm_per_rb", self.p0_dbm_per_rb, -202.0, 24.0)
        check_range("alpha", self.alpha, 0.0, 1.0)


# --------------------------------------------------------------------------- MAC, packets
@dataclass(frozen=True)
class MacConfig:
    """Slot timing, resource grid and scheduler.

    ``access``: ``ofdma`` (RBs shared among clients each slot), ``tdma`` (one
    client per slot gets every RB) or ``fdma`` (link l owns RBs
    ``[l·m, (l+1)·m)``, m = ⌊num_rbs / links⌋). OFDMA: K = min(backlogged
    links, ``max_ues_per_slot``, ⌊free RBs / min_rbs_per_ue⌋) links are served,
    each with a contiguous share of ⌊free / K⌋ RBs (fewer if that empties its
    buffer), chosen and ordered by the scheduler metric: round_robin and
    equal_share = longest-unserved first; proportional_fair = r / T with r the
    bits the link would send on its share (its power split over those RBs) and
    ``T ← (1 − pf_beta) T + pf_beta · r_served`` per slot; max_rate = r. RBs the
    shares leave over are dealt one at a time to the served links still short of
    their need, in round-robin order, except with ``equal_share`` (⌊N_RB / K⌋
    each, as ns-3 LENA's uplink schedulers; LENA uses ``min_rbs_per_ue: 3``).
    """

    slot_s: float = 1e-3
    num_rbs: int = 100
    rb_bandwidth_hz: float = 180e3
    access: Literal["ofdma", "tdma", "fdma"] = "ofdma"
    scheduler: Literal["round_robin", "equal_share", "proportional_fair", "max_rate"] = (
        "proportional_fair"
    )
    pf_beta: float = 0.01
    min_rbs_per_ue: int = 1
    max_ues_per_slot: int | None = None

    def __post_init__(self) -> None:
        check_literals(self)
        check_int_range("min_rbs_per_ue", self.min_rbs_per_ue, 1, self.num_rbs)
        if self.max_ues_per_slot is not None:
            check_int_range("max_ues_per_slot", self.max_ues_per_slot, 1)
        check_positive("slot_s", self.slot_s)
        check_int_range("num_rbs", self.num_rbs, 1)
        check_positive("rb_bandwidth_hz", self.rb_bandwidth_hz)
        check_range("pf_beta", self.pf_beta, 0.0, 1.0, low_inclusive=False, high_inclusive=False)


@dataclass(frozen=True)
class PacketConfig:
    """Segmentation and retransmissions.

    Payloads are cut into ``mtu_bytes`` packets. A failed transport block is
    retransmitted on the same RBs ``harq_rtt_slots`` later (synchronous,
    non-adaptive HARQ), at most ``harq_max_tx`` transmissions in all; after that
    its bytes are lost, or re-queued ahead of new data when
    ``arq_on_harq_failure``. ``harq_combining``: ``chase`` sums the SNRs of the
    attempts, ``none`` decodes each attempt alone. Headers: every packet carries
    ``header_bytes`` more on the air (L3/L2 per packet, e.g. IPv4 20 + UDP 8 +
    PDCP 2 = 30), every transport block ``tb_header_bytes`` (RLC/MAC per TB, e.g.
    LTE RLC UM 2); payload sizes and delivered bytes exclude both.
    """

    mtu_bytes: int = 1500
    harq_rtt_slots: int = 8
    harq_max_tx: int = 4
    arq_on_harq_failure: bool = True
    harq_combining: Literal["chase", "none"] = "chase"
    header_bytes: int = 0
    tb_header_bytes: int = 0

    def __post_init__(self) -> None:
        check_literals(self)
        check_int_range("mtu_bytes", self.mtu_bytes, 1)
        check_int_range("header_bytes", self.header_bytes, 0, 65_535)
        check_int_range("tb_header_bytes", self.tb_header_bytes, 0, 65_535)
        check_int_range("harq_rtt_slots", self.harq_rtt_slots, 1, 1024)
        check_int_range("harq_max_tx", self.harq_max_tx, 1, 64)


@dataclass(frozen=True)
class TrafficConfig:
    """Traffic of a wireless-only run (``cosim wireless``).

    Every client sends ``payload_bytes`` each ``period_s`` (one round), or keeps
    its buffer full when ``full_buffer``. The run lasts ``rounds`` periods, or
    ``duration_s`` when set. A transfer still running ``deadline_s`` after its
    start is cut off (``None``: no deadline).
    """

    payload_bytes: int = 100_000
    period_s: float = 1.0
    full_buffer: bool = False
    rounds: int = 10
    duration_s: float | None = None
    deadline_s: float | None = None

    def __post_init__(self) -> None:
        check_int_range("payload_bytes", self.payload_bytes, 1)
        check_positive("period_s", self.period_s)
        check_int_range("rounds", self.rounds, 1)
        if self.duration_s is not None:
            check_positive("duration_s", self.duration_s)
        if self.deadline_s is not None:
            check_positive("deadline_s", self.deadline_s)


# --------------------------------------------------------------------------- top level
@dataclass(frozen=True)
class WirelessConfig:
    """One base station and its clients' links.

    The channel's SNR [dB] = tx power [dBm] − path loss − shadowing + fading
    gain − (noise PSD [dBm/Hz] + noise figure + 10 log10(num_rbs · rb_bandwidth_hz)):
    the SNR per RB with the power spread over every RB, noise counted over
    the occupied RBs. On the uplink a UE on n RBs concentrates its power
    (``uplink_power``): its SNR per RB is 10 log10(num_rbs / n) dB higher (less
    under power control). The downlink keeps a fixed power spectral density.
    Uplink noise uses
    ``noise_figure_db`` (base station), downlink ``ue_noise_figure_db``.
    Clients without a configured distance are placed uniformly over the
    annulus ``[min_distance_m, cell_radius_m]``.
    """

    carrier_hz: float | None = 3.5e9
    bandwidth_hz: float = 20e6
    noise_psd_dbm_per_hz: float = -174.0
    noise_figure_db: float = 5.0
    ue_noise_figure_db: float = 9.0
    uplink_tx_power_dbm: float = 23.0
    downlink_tx_power_dbm: float = 46.0
    min_distance_m: float = 10.0
    cell_radius_m: float = 500.0
    path_loss: PathLossConfig = field(default_factory=UMaPathLoss)
    shadowing_std_db: float | None = None
    fading: FadingConfig = field(default_factory=FadingConfig)
    link: LinkConfig = field(default_factory=ShannonLink)
    uplink_power: UplinkPowerConfig = field(default_factory=UplinkPowerConfig)
    mac: MacConfig = field(default_factory=MacConfig)
    packets: PacketConfig = field(default_factory=PacketConfig)
    downlink: Literal["broadcast", "unicast"] = "broadcast"
    traffic: TrafficConfig = field(default_factory=TrafficConfig)
    channel_sample_every_slots: int = 10

    def __post_init__(self) -> None:
        check_literals(self)
        for name, value, models in (
            ("path_loss", self.path_loss, PATH_LOSS_MODELS),
            ("link", self.link, LINK_MODELS),
        ):
            if not isinstance(value, models):
                names = ", ".join(repr(m.model) for m in (c() for c in models))
                raise ConfigFieldError(f"{name}.model", f"must be one of {names}, got {value!r}")
        if self.carrier_hz is not None:
            check_range("carrier_hz", self.carrier_hz, 1e8, 1e11)
        check_positive("bandwidth_hz", self.bandwidth_hz)
        check_range("noise_psd_dbm_per_hz", self.noise_psd_dbm_per_hz, -250.0, -100.0)
        check_range("noise_figure_db", self.noise_figure_db, 0.0, 30.0)
        check_range("ue_noise_figure_db", self.ue_noise_figure_db, 0.0, 30.0)
        check_range("uplink_tx_power_dbm", self.uplink_tx_power_dbm, -50.0, 60.0)
        check_range("downlink_tx_power_dbm", self.downlink_tx_power_dbm, -50.0, 80.0)
        check_positive("min_distance_m", self.min_distance_m)
        check_positive("cell_radius_m", self.cell_radius_m)
        if self.cell_radius_m < self.min_distance_m:
            raise ConfigFieldError(
                "cell_radius_m",
                f"must be >= min_distance_m ({self.min_distance_m}), got {self.cell_radius_m!r}",
            )
        if self.shadowing_std_db is not None:
            check_range("shadowing_std_db", self.shadowing_std_db, 0.0, 30.0)
        check_int_range("channel_sample_every_slots", self.channel_sample_every_slots, 1)
        used = self.mac.num_rbs * self.mac.rb_bandwidth_hz
        if used > self.bandwidth_hz * (1 + 1e-9):
            raise ConfigFieldError(
                "mac.num_rbs",
                f"{self.mac.num_rbs} RBs x {self.mac.rb_bandwidth_hz:g} Hz = {used:g} Hz "
                f"exceeds bandwidth_hz {self.bandwidth_hz:g}",
            )
        if self.fading.subbands > self.mac.num_rbs:
            raise ConfigFieldError(
                "fading.subbands",
                f"must be <= mac.num_rbs ({self.mac.num_rbs}), got {self.fading.subbands}",
            )
        if self.carrier_hz is None:
            self._check_carrier_free()
        if isinstance(self.link, McsTableLink):
            self._check_mcs_table()

    def _check_mcs_table(self) -> None:
        """The LTE table's size limit, and no (CQI, n_RB) above the Shannon rate of its band."""
        from cosim.wireless.link import mcs_shannon_excess

        link, mac = self.link, self.mac
        assert isinstance(link, McsTableLink)
        if link.table == "lte" and mac.num_rbs > 110:
            raise ConfigFieldError(
                "mac.num_rbs", f"the LTE TBS table has 1..110 PRBs, got {mac.num_rbs}"
            )
        q, n, excess = mcs_shannon_excess(link, mac.num_rbs, mac.rb_bandwidth_hz, mac.slot_s)
        if excess > 0:
            raise ConfigFieldError(
                "link.ber_target",
                f"{link.ber_target!r}: table {link.table!r} with {n} RBs of "
                f"{mac.rb_bandwidth_hz:g} Hz in {mac.slot_s:g} s slots sends CQI {q}'s TB "
                f"{excess:.3f} bit/s/Hz above the Shannon capacity at its switching SNR; "
                "use a smaller ber_target (larger gap) or longer slots",
            )

    def _check_carrier_free(self) -> None:
        """Without a carrier, Doppler and carrier-dependent path loss are undefined."""
        fd = self.fading
        if fd.distribution != "none" and fd.correlation != "block" and fd.doppler_hz is None:
            raise ConfigFieldError(
                "carrier_hz",
                f"is needed to turn client speed into Doppler for fading.correlation="
                f"{fd.correlation!r}; set carrier_hz or fading.doppler_hz",
            )
        pl = self.path_loss
        needs = not (isinstance(pl, LogDistancePathLoss) and pl.reference_loss_db is not None)
        if needs:
            raise ConfigFieldError(
                "carrier_hz",
                f"is needed by path_loss.model={pl.model!r} "
                "(only log_distance with reference_loss_db works without it)",
            )

    @property
    def occupied_hz(self) -> float:
        """Bandwidth of the resource blocks, ``num_rbs · rb_bandwidth_hz`` [Hz]."""
        return self.mac.num_rbs * self.mac.rb_bandwidth_hz

    @property
    def noise_dbm(self) -> float:
        """Uplink noise power over the occupied RBs [dBm]."""
        return self.noise_psd_dbm_per_hz + self.noise_figure_db + 10 * math.log10(self.occupied_hz)

    @property
    def ue_noise_dbm(self) -> float:
        """Downlink (client receiver) noise power over the occupied RBs [dBm]."""
        return (
            self.noise_psd_dbm_per_hz + self.ue_noise_figure_db + 10 * math.log10(self.occupied_hz)
        )
