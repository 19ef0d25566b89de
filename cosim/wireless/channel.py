"""The channel-source interface every channel model implements.

A *channel source* gives the wireless MAC, for a block of consecutive slots,
either the per-client SNR [dB] or the per-client achievable rate [bit/s]. The
simulated models (path loss + shadowing + fading, :mod:`cosim.wireless.simulated`)
and recorded-trace replay (:mod:`cosim.channels`) implement the same
:class:`ChannelSource`, so both drive the same scheduler, HARQ and packet code.

Contract for implementers
-------------------------
* Slot ``s`` spans ``[s · slot_s, (s + 1) · slot_s)``; the value for slot ``s``
  is the channel during that slot.
* :meth:`ChannelSource.block` is called for non-overlapping blocks in increasing
  slot order and may skip slots (idle time is never asked for); blocks usually
  reach a little past the last slot the run simulates. Values for a slot must not
  depend on how slots are batched into blocks; the simulated models make them
  a pure function of (seed, slot, client) — AR(1) fading only given which slots
  were simulated before — so any run is reproducible.
* ``snr_db`` has shape ``[n_slots, n_clients]`` (frequency-flat) or
  ``[n_slots, n_clients, n_subbands]``; subband ``b`` covers resource blocks
  ``b · num_rbs // n_subbands`` … ``(b + 1) · num_rbs // n_subbands − 1``.
* ``rate_bps`` (throughput-log traces) has the same shapes and is the rate a
  client would get with *all* resource blocks of the channel; the MAC gives a
  client with ``n`` of ``N`` RBs the share ``n / N`` of it and bypasses the link
  abstraction (and its BLER: such blocks always decode).
* ``decode_u`` (optional, ``[n_slots, n_clients]``, uniform in (0, 1)) are the
  draws that decide transport-block errors: a block sent by client ``c`` in slot
  ``s`` fails iff ``decode_u[s, c] < BLER``. When ``None`` the network uses its
  own draws, a pure function of (scenario seed, slot, client), so replaying a
  recorded SNR trace under the same scenario and seed reproduces every
  packet's delivery time exactly.

Record and replay
-----------------
:class:`cosim.wireless.network.WirelessNetwork` records the SNR of every slot it
simulates (decimated by ``channel_sample_every_slots``; set it to 1 for exact
replay) and of every slot asked for through ``current_snr_db``. For ``n_subbands
> 1`` it records ``10 log10`` of the mean linear SNR over subbands, so exact
replay needs a frequency-flat channel. The PF scheduler state and the HARQ
draws are re-derived from the scenario and seed, not recorded.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChannelBlock:
    """The channel during slots ``first_slot … first_slot + n_slots − 1``.

    Exactly one of ``snr_db`` [dB] and ``rate_bps`` [bit/s] is set; shapes in
    the module docstring. ``decode_u`` optionally overrides the network's own
    transport-block error draws.
    """

    first_slot: int
    snr_db: np.ndarray | None = None
    rate_bps: np.ndarray | None = None
    decode_u: np.ndarray | None = None

    def __post_init__(self) -> None:
        if (self.snr_db is None) == (self.rate_bps is None):
            raise ValueError("ChannelBlock needs exactly one of snr_db and rate_bps")
        values = self.values
        if values.ndim not in (2, 3):
            raise ValueError(f"ChannelBlock values must be 2-D or 3-D, got shape {values.shape}")
        if self.decode_u is not None and self.decode_u.shape != values.shape[:2]:
            raise ValueError(
                f"decode_u shape {self.decode_u.shape} != [n_slots, n_clients] {values.shape[:2]}"
            )

    @property
    def values(self) -> np.ndarray:
        """``snr_db`` or ``rate_bps``, whichever is set."""
        return self.snr_db if self.snr_db is not None else self.rate_bps  # type: ignore[return-value]

    @property
    def n_slots(self) -> int:
        """Number of slots in the block."""
        return int(self.values.shape[0])

    def values_3d(self) -> np.ndarray:
        """The values as ``[n_slots, n_clients, n_subbands]`` (float64)."""
        v = np.asarray(self.values, dtype=np.float64)
        return v[:, :, None] if v.ndim == 2 else v


class ChannelSource(ABC):
    """Something that yields the per-slot channel of ``n_clients`` links.

    Attributes set by subclasses: ``n_clients`` (links), ``n_subbands`` (1 for
    frequency-flat) and ``kind`` (``"snr"`` or ``"rate"``: which field of
    :class:`ChannelBlock` :meth:`block` fills).
    """

    n_clients: int
    n_subbands: int = 1
    kind: str = "snr"

    @abstractmethod
    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        """The channel for slots ``first_slot … first_slot + n_slots − 1`` (``n_slots >= 1``)."""

    def mean_snr_db(self) -> np.ndarray | None:
        """Long-term mean SNR per client [dB] (``[n_clients]``), or ``None`` if unknown."""
        return None
