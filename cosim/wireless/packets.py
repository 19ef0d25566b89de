"""Packets and transfer results, derived from the transport-block log when a transfer ends.

A payload of S bytes is cut into ``⌈S / mtu⌉`` packets (the last one shorter),
each with ``header_bytes`` more on the air.
Transport blocks carry byte ranges that need not align with packets, so a
packet's record is the combination of every TB overlapping it:

* ``first_tx_s`` = start of the earliest such TB's first transmission [s];
* delivered iff the successful TBs cover all of its bytes, at the latest
  decoding time of those TBs, ``delivery_s = (done_slot + 1) · slot_s`` [s];
* ``attempts`` = the most transmissions any of its bytes needed (HARQ
  transmissions plus those of earlier ARQ-failed TBs);
* ``lost`` = not delivered (HARQ gave up without ARQ, or the transfer ended first).

``delivered_bytes`` of a transfer counts the longest prefix of whole delivered
packets: the payload codec decodes any prefix of whole records.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cosim.wireless.tblog import OK, TbLog


@dataclass(frozen=True)
class PacketRecords:
    """Per-packet arrays, all of shape ``[n_packets]``; times [s], NaN when it never happened."""

    seq: np.ndarray
    size_bytes: np.ndarray
    enqueue_s: np.ndarray
    first_tx_s: np.ndarray
    delivery_s: np.ndarray
    attempts: np.ndarray
    lost: np.ndarray

    def __len__(self) -> int:
        return int(self.seq.shape[0])


@dataclass(frozen=True)
class TransferResult:
    """Outcome of one uplink or downlink transfer (the value of its SimPy event).

    ``clients`` holds one client, or the members of a broadcast. Times are
    simulated seconds; ``deadline_s`` is absolute (``None``: no deadline).
    ``complete``: every byte delivered; ``cut_off``: ended by its deadline.
    ``energy_j`` [J]: radiated transmit energy, ``Σ_TB P(n_RB) · Δt · n_tx`` with
    ``P(n)`` the UE's power on n RBs (P_max, or less under power control) or, for
    a fixed power spectral density (downlink), ``P_max · n / N_RB``.
    """

    transfer: int
    direction: str
    clients: tuple[int, ...]
    round: int
    size_bytes: int
    delivered_bytes: int
    start_s: float
    end_s: float
    deadline_s: float | None
    complete: bool
    cut_off: bool
    packets: PacketRecords
    energy_j: float = 0.0

    @property
    def client(self) -> int:
        """The (first) client of the transfer."""
        return self.clients[0]

    @property
    def duration_s(self) -> float:
        """``end_s − start_s`` [s]."""
        return self.end_s - self.start_s


def packet_records(
    log: TbLog,
    rows: np.ndarray,
    n_bytes: int,
    mtu: int,
    enqueue_s: float,
    slot_s: float,
    header_bytes: int = 0,
) -> PacketRecords:
    """Records of the ``⌈n_bytes / mtu⌉`` packets of a transfer whose TBs are ``rows``.

    ``n_bytes`` and ``mtu`` count air bytes (payload + ``header_bytes`` per packet);
    ``size_bytes`` is each packet's payload.
    """
    n_pk = -(-n_bytes // mtu)
    seq = np.arange(n_pk, dtype=np.int64)
    air = np.minimum(mtu, n_bytes - seq * mtu).astype(np.int64)
    size = np.maximum(air - header_bytes, 0)
    first_tx = np.full(n_pk, np.inf)
    delivery = np.full(n_pk, -np.inf)
    cover = np.zeros(n_pk, dtype=np.int64)
    attempts = np.zeros(n_pk, dtype=np.int64)
    start = log.start[rows]
    end = start + log.length[rows]
    inside = (log.length[rows] > 0) & (start < n_bytes)
    rows, start, end = rows[inside], start[inside], np.minimum(end[inside], n_bytes)
    if rows.size:
        first_pk = start // mtu
        count = (end - 1) // mtu - first_pk + 1
        rep = np.repeat(np.arange(rows.size), count)
        offset = np.arange(rep.size) - np.repeat(np.cumsum(count) - count, count)
        pk = first_pk[rep] + offset
        overlap = np.minimum(end[rep], (pk + 1) * mtu) - np.maximum(start[rep], pk * mtu)
        r = rows[rep]
        np.minimum.at(first_tx, pk, log.first_slot[r] * slot_s)
        np.maximum.at(attempts, pk, log.prior[r] + log.ntx[r])
        ok = log.state[r] == OK
        np.add.at(cover, pk[ok], overlap[ok])
        np.maximum.at(delivery, pk[ok], (log.done_slot[r[ok]] + 1) * slot_s)
    delivered = cover >= air
    first_tx[~np.isfinite(first_tx)] = np.nan
    delivery = np.where(delivered, delivery, np.nan)
    return PacketRecords(
        seq=seq,
        size_bytes=size,
        enqueue_s=np.full(n_pk, enqueue_s),
        first_tx_s=first_tx,
        delivery_s=delivery,
        attempts=attempts,
        lost=~delivered,
    )


def delivered_prefix_bytes(packets: PacketRecords) -> int:
    """Bytes in the longest prefix of delivered packets."""
    lost = np.flatnonzero(packets.lost)
    upto = int(lost[0]) if lost.size else len(packets)
    return int(packets.size_bytes[:upto].sum())
