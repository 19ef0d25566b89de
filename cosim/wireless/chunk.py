"""A cached block of consecutive slots' channel, with everything the MAC derives from it.

The MAC asks the :class:`~cosim.wireless.channel.ChannelSource` for a block of
slots at a time and derives, vectorised over ``[slots, links, subbands]``:
linear SNR γ, the link adaptation's MCS and bits per RB, the transport-block
decoding draws u and, for a frequency-flat channel, whether a first
transmission fails (``u < BLER(mcs, γ)``). A downlink engine's extra broadcast
link gets, per slot and subband, the worst SNR of its current members.
"""

from __future__ import annotations

import numpy as np

from cosim.wireless import counter_rng
from cosim.wireless.channel import ChannelSource
from cosim.wireless.link import LinkModel


class ChannelChunk:
    """Slots ``c0 … c0 + n − 1`` of ``source``, as seen by ``n_links`` links."""

    def __init__(
        self,
        source: ChannelSource,
        link_model: LinkModel,
        decode_key: int,
        n_links: int,
        num_rbs: int,
        slot_s: float,
    ) -> None:
        self.source = source
        self.link_model = link_model
        self.decode_key = decode_key
        self.n_clients = source.n_clients
        self.L = n_links
        self.broadcast = n_links > source.n_clients
        self.num_rbs = num_rbs
        self.slot_s = slot_s
        self.rate_mode = source.kind == "rate"
        self.members: np.ndarray | None = None
        self.gain: np.ndarray | None = None  # linear SNR factor per client (power control)
        self.c0 = 0
        self.n = 0
        self.sample_every = 0  # record every n-th simulated slot's SNR (0: never)
        self.sampled: list[int] = []  # rows of the cache to record
        self.samples: list[tuple[np.ndarray, np.ndarray]] = []  # (slots, snr_db [n, n_clients])

    def index(self, slot: int, horizon: int | None, chunk_slots: int) -> int:
        """Row of ``slot`` in the cache, fetching ``min(chunk_slots, horizon − slot)`` slots
        from the source when it is not cached. Slots before the cache map to row 0."""
        k = slot - self.c0
        if 0 <= k < self.n:
            return k
        if k < 0 and self.n > 0:
            return 0
        n = chunk_slots if horizon is None else int(min(chunk_slots, max(1, horizon - slot)))
        self.fetch(slot, n)
        return 0

    def fetch(self, slot: int, n: int) -> None:
        """Ask the source for slots ``slot … slot + n − 1``."""
        self.flush_samples()
        block = self.source.block(slot, n)
        if block.first_slot != slot or block.n_slots != n:
            raise ValueError(
                f"channel source returned slots {block.first_slot}+{block.n_slots}, "
                f"asked for {slot}+{n}"
            )
        self.raw = block.values_3d()
        self.c0, self.n = slot, n
        slots = slot + np.arange(n)
        # one hashed index per (slot, link): slot · 2^16 + link (links < 2^16)
        u = counter_rng.uniform(self.decode_key, (slots[:, None] << 16) + np.arange(self.L))
        if block.decode_u is not None:
            u[:, : self.n_clients] = block.decode_u
        self.u = u
        self.derive()

    def flush_samples(self) -> None:
        """Move the rows noted in :attr:`sampled` to :attr:`samples` (before the cache changes)."""
        if self.sampled:
            rows = np.array(self.sampled)
            self.samples.append((self.c0 + rows, self._recorded(rows)))
            self.sampled = []

    def _recorded(self, rows: np.ndarray) -> np.ndarray:
        """What is recorded of cache ``rows``: SNR [dB], or under a rate source its rate
        [bit/s] with every RB, exactly as the source gave it (so replay is bit-exact)."""
        if self.rate_mode:
            return self.raw[rows, : self.n_clients, 0].copy()
        return self.snr_db[rows, : self.n_clients].copy()

    def recorded_at(self, slot: int) -> np.ndarray:
        """:meth:`_recorded` of one cached ``slot``, ``[n_clients]``."""
        return self._recorded(np.array([slot - self.c0]))[0]

    def take_samples(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Every recorded ``(slots [n], values [n, n_clients])`` so far (SNR [dB], or rate
        [bit/s] when :attr:`rate_mode`); clears the record."""
        self.flush_samples()
        out, self.samples = self.samples, []
        return out

    def set_members(self, members: np.ndarray | None) -> None:
        """Receivers of the broadcast link's current transfer (re-derives the cache)."""
        self.members = members
        if self.n > 0:
            self.derive()

    def derive(self) -> None:
        """γ, MCS, bits per RB [bit], first-transmission failures and SNR [dB] of the cache."""
        vals = self.raw
        if self.broadcast:
            members = self.members
            if members is None or not members.any():
                members = np.ones(self.n_clients, dtype=bool)
            worst = vals[:, members, :].min(axis=1, keepdims=True)
            vals = np.concatenate([vals, worst], axis=1)
        if self.rate_mode:
            self.gamma = np.full(vals.shape, np.inf)
            self.mcs = np.zeros(vals.shape, dtype=np.int8)
            self.bpr = vals * (self.slot_s / self.num_rbs)
            self.snr_db = np.full(vals.shape[:2], np.nan)
            self.fail0 = np.zeros(vals.shape[:2], dtype=bool)
            self.bpr1 = np.ascontiguousarray(self.bpr[:, :, 0])
            self.full1 = self.num_rbs * self.bpr1
            return
        self.gamma = 10 ** (vals / 10)
        if self.gain is not None:
            self.gamma[:, : self.n_clients] *= self.gain[None, :, None]
        self.mcs, self.bpr = self.link_model.adapt(self.gamma)
        if vals.shape[2] == 1:
            self.snr_db = vals[:, :, 0]  # the channel's SNR (before any power control)
            bler = self.link_model.bler(self.mcs[:, :, 0], self.gamma[:, :, 0])
            self.fail0 = self.u < bler
        else:
            self.snr_db = 10 * np.log10((10 ** (vals / 10)).mean(axis=2))
        self.bpr1 = np.ascontiguousarray(self.bpr[:, :, 0])
        # bits of a TB on every RB (flat channel; the single-link fast path)
        self.full1 = self.link_model.full_bits(self.mcs[:, :, 0], self.bpr1, self.num_rbs)
