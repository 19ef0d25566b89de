"""A slow, plain-Python reference of the uplink MAC, for differential checks only.

Per slot and per client in pure Python, written for obviousness, not speed
(some 10⁴ client-slots per second against the vectorised engine's millions):
the same model as :class:`cosim.wireless.mac.MacEngine` re-done from the
channel parameters up — the UE's power split over its RBs in a Shannon link,
proportional-fair OFDMA shares with round-robin dealing of spare RBs,
synchronous HARQ and packet bookkeeping. Only the inputs are shared with the
engine: the mean SNRs, the fading process (checked against closed forms in
``tests/wireless/test_closed_forms.py``) and the decoding key; the decoding
draw is hashed here independently of :mod:`cosim.wireless.counter_rng`, so a
slip in either shows up.

Used by ``tests/wireless/test_reference.py`` (both must deliver every packet
in the same slot) and ``benchmarks/wireless.py`` (the speed-up figure). It
covers the configurations :func:`check_supported` accepts and nothing else.

    results, net = run_uploads(REFERENCE_CONFIG, *geometry(8), payload=7_000)
    assert compare(results, reference_run(payload=7_000, net=net)) == 8 * 5
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import simpy

from cosim.wireless.config import (
    FadingConfig,
    MacConfig,
    PacketConfig,
    ShannonLink,
    WirelessConfig,
)
from cosim.wireless.network import WirelessNetwork
from cosim.wireless.packets import TransferResult

#: Seed of the reference workload (geometry and the network's random draws).
SEED = 2024

#: 100 RBs, proportional fair, time-correlated Rayleigh fading, Shannon link with
#: a 10 % block error rate, synchronous HARQ (RTT 8 slots, 4 transmissions), lost
#: bytes not re-queued.
REFERENCE_CONFIG = WirelessConfig(
    mac=MacConfig(num_rbs=100, rb_bandwidth_hz=180e3, scheduler="proportional_fair"),
    fading=FadingConfig(distribution="rayleigh", correlation="jakes"),
    link=ShannonLink(bler=0.1),
    packets=PacketConfig(harq_rtt_slots=8, harq_max_tx=4, arq_on_harq_failure=False),
    channel_sample_every_slots=10,
)


def check_supported(cfg: WirelessConfig) -> None:
    """Raise ValueError naming each setting :func:`reference_run` does not model."""
    mac, pk, pw, fd = cfg.mac, cfg.packets, cfg.uplink_power, cfg.fading
    wanted = {
        "mac.access": (mac.access, "ofdma"),
        "mac.scheduler": (mac.scheduler, "proportional_fair"),
        "mac.min_rbs_per_ue": (mac.min_rbs_per_ue, 1),
        "mac.max_ues_per_slot": (mac.max_ues_per_slot, None),
        "link.model": (cfg.link.model, "shannon"),
        "fading.distribution": (fd.distribution, "rayleigh"),
        "fading.subbands": (fd.subbands, 1),
        "uplink_power.split_over_rbs": (pw.split_over_rbs, True),
        "uplink_power.p0_dbm_per_rb": (pw.p0_dbm_per_rb, None),
        "packets.arq_on_harq_failure": (pk.arq_on_harq_failure, False),
        "packets.header_bytes": (pk.header_bytes, 0),
        "packets.tb_header_bytes": (pk.tb_header_bytes, 0),
    }
    bad = [f"{k}={v!r} (needs {w!r})" for k, (v, w) in wanted.items() if v != w]
    if bad:
        raise ValueError("the reference MAC does not model " + ", ".join(bad))


def geometry(
    n_clients: int, cfg: WirelessConfig = REFERENCE_CONFIG
) -> tuple[np.ndarray, np.ndarray]:
    """Client distances [m] (uniform over the cell's annulus area, seed :data:`SEED`) and
    speeds [m/s] (3 each)."""
    rng = np.random.default_rng(SEED)
    r0, r1 = cfg.min_distance_m, cfg.cell_radius_m
    d = np.sqrt(rng.uniform(size=n_clients) * (r1**2 - r0**2) + r0**2)
    return d, np.full(n_clients, 3.0)


def run_uploads(
    cfg: WirelessConfig,
    distances_m: np.ndarray,
    speeds_mps: np.ndarray,
    payload: int,
    starts: list[float] | None = None,
    horizon: float | None = None,
) -> tuple[list[TransferResult], WirelessNetwork]:
    """The vectorised model: every client uploads ``payload`` bytes at each time in
    ``starts`` [s] (default: once at 0), until ``horizon`` [s] or all are done."""
    env = simpy.Environment()
    net = WirelessNetwork(env, cfg, distances_m, speeds_mps, np.random.default_rng(SEED))
    results: list[TransferResult] = []

    def client(c: int):
        for t in starts or [0.0]:
            if t > env.now:
                yield env.timeout(t - env.now)
            results.append((yield net.uplink(c, payload)))

    for c in range(len(distances_m)):
        env.process(client(c))
    env.run(until=horizon)
    return results, net


def _splitmix(z: int) -> int:
    m = 0xFFFFFFFFFFFFFFFF
    z = (z + 0x9E3779B97F4A7C15) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    return z ^ (z >> 31)


def _uniform(key: int, index: int) -> float:
    """The decoding draw of (slot, link), hashed as in cosim.wireless.counter_rng."""
    z = _splitmix((key & 0xFFFFFFFFFFFFFFFF) ^ index)
    return ((z >> 11) + 0.5) * 2.0**-53


@dataclass
class _Tb:
    client: int
    start: int
    length: int
    first_slot: int
    rbs: int
    ntx: int = 1


def reference_run(payload: int, net: WirelessNetwork) -> dict[int, list[float]]:
    """Per-slot, per-client pure Python of the same model; packet delivery times per client [s].

    Every client of ``net`` uploads ``payload`` bytes from slot 0. Reads only
    parameters from ``net`` (its config, mean SNRs, the fading process, the
    decoding key) so that both start from the same random draws; a lost packet's
    time is NaN.
    """
    cfg = net.config
    check_supported(cfg)
    mac, pk, link = cfg.mac, cfg.packets, cfg.link
    src = net.uplink_source
    mean_db = [float(x) for x in src.mean_snr_db()]
    # The fading gains come from the model's process (checked against closed forms
    # in tests/wireless/test_closed_forms.py); everything after them is re-done here.
    fading = src.process
    key = net.uplink_engine.chunk.decode_key
    n, nrb, slot = net.n_clients, mac.num_rbs, mac.slot_s
    gap = 10 ** (link.snr_gap_db / 10)
    need = [payload] * n
    carry = [0.0] * n  # TB capacity below one byte, carried to the next TB [bit]
    rr_next = 0  # round-robin position: spare RBs are dealt from here on
    sent = [0] * n
    avg = [1.0] * n  # PF average T [bit/slot]
    beta = mac.pf_beta
    harq: dict[tuple[int, int], _Tb] = {}  # (process, client) → TB awaiting retransmission
    delivered: list[list[tuple[int, int, int]]] = [[] for _ in range(n)]  # (start, end, slot)
    lost: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    resolved = [0] * n
    s = 0
    while any(r < payload for r in resolved):
        p = s % pk.harq_rtt_slots
        gammas = []
        h_slot = fading.samples(s, 1)[0, :, 0].tolist()
        for c in range(n):
            h = h_slot[c]
            g_db = 10 * math.log10(h.real**2 + h.imag**2)
            gammas.append(10 ** ((mean_db[c] + g_db) / 10))

        def bits_on(c: int, rbs: int, gammas: list[float] = gammas) -> float:
            # the UE's power split over its rbs RBs: SNR per RB × nrb / rbs
            eff = min(math.log2(1 + gammas[c] * (nrb / rbs) / gap), link.max_spectral_efficiency)
            return rbs * (mac.rb_bandwidth_hz * slot * eff)

        bits = [0.0] * n
        free = nrb
        busy_proc = set()
        for c in range(n):  # synchronous HARQ: retransmit on the same RBs
            tb = harq.get((p, c))
            if tb is None:
                continue
            busy_proc.add(c)
            free -= tb.rbs
            tb.ntx += 1
            bits[c] = 8 * tb.length
            if _uniform(key, (s << 16) + c) >= link.bler:
                delivered[c].append((tb.start, tb.start + tb.length, s))
                resolved[c] += tb.length
                del harq[(p, c)]
            elif tb.ntx >= pk.harq_max_tx:
                lost[c].append((tb.start, tb.start + tb.length))
                resolved[c] += tb.length
                del harq[(p, c)]
        # OFDMA shares: K backlogged links, ⌊free / K⌋ RBs each, ranked by PF on the
        # share's rate; spare RBs are dealt one at a time, in round-robin order from
        # rr_next, to the links still short of their need
        elig = [c for c in range(n) if need[c] > 0 and c not in busy_proc]
        grants: list[tuple[int, int]] = []
        if elig and free > 0:
            k = min(len(elig), free)  # at least one RB each
            share = free // k
            rate = {c: bits_on(c, share) for c in elig}
            order = sorted((c for c in elig if rate[c] > 0), key=lambda c: -rate[c] / avg[c])
            order = order[:k]
            want = [math.ceil(need[c] * 8 * share / rate[c]) for c in order]
            got = [min(share, w) for w in want]
            left = free - sum(got)
            by_pos = sorted(range(len(order)), key=lambda i: (order[i] - rr_next) % n)
            while left > 0:
                short = [i for i in by_pos if got[i] < want[i]]
                if not short:
                    break
                for i in short[:left]:
                    got[i] += 1
                left -= min(left, len(short))
            grants = [(c, g) for c, g in zip(order, got, strict=True) if g > 0]
        sent_new = []
        for c, rbs in grants:
            cap_bits = bits_on(c, rbs) + carry[c]
            cap = int(cap_bits // 8)
            nbytes = min(cap, need[c])
            carry[c] = cap_bits - 8 * cap if nbytes == cap else 0.0
            if nbytes <= 0:
                continue
            sent_new.append(c)
            tb = _Tb(c, sent[c], nbytes, s, rbs)
            sent[c] += nbytes
            need[c] -= nbytes
            bits[c] = 8 * nbytes
            if _uniform(key, (s << 16) + c) >= link.bler:
                delivered[c].append((tb.start, tb.start + nbytes, s))
                resolved[c] += nbytes
            else:
                harq[(p, c)] = tb
        if sent_new:  # resume the round-robin order after the last link served
            rr_next = (max(sent_new, key=lambda c: (c - rr_next) % n) + 1) % n
        for c in range(n):
            avg[c] = (1 - beta) * avg[c] + beta * bits[c]
        s += 1
    out: dict[int, list[float]] = {}
    mtu = pk.mtu_bytes
    for c in range(n):
        times = []
        for j in range(math.ceil(payload / mtu)):
            a, b = j * mtu, min((j + 1) * mtu, payload)
            if any(x < b and y > a for x, y in lost[c]):
                times.append(math.nan)
                continue
            last = max(sl for x, y, sl in delivered[c] if x < b and y > a)
            times.append((last + 1) * slot)
        out[c] = times
    return out


def compare(results: list[TransferResult], ref: dict[int, list[float]]) -> int:
    """Check identical delivery times; returns the number of packets compared."""
    n = 0
    for r in results:
        got = r.packets.delivery_s
        want = np.array(ref[r.client])
        if not np.array_equal(got, want, equal_nan=True):
            bad = np.flatnonzero(~((got == want) | (np.isnan(got) & np.isnan(want))))
            raise AssertionError(
                f"client {r.client}: delivery times differ at packets {bad[:5]}: "
                f"{got[bad[:5]]} vs {want[bad[:5]]}"
            )
        n += got.size
    return n
