"""Helpers for the wireless tests: channel sources with known values."""

from __future__ import annotations

import numpy as np

from cosim.wireless.channel import ChannelBlock, ChannelSource


class ConstantSource(ChannelSource):
    """Every slot, client ``c`` has SNR ``snr_db[c]`` (a deterministic channel)."""

    kind = "snr"

    def __init__(self, snr_db: list[float] | np.ndarray, n_subbands: int = 1) -> None:
        self.snr = np.asarray(snr_db, dtype=np.float64)
        self.n_clients = int(self.snr.shape[0])
        self.n_subbands = n_subbands
        self.requests: list[tuple[int, int]] = []

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        self.requests.append((first_slot, n_slots))
        vals = np.broadcast_to(self.snr[None, :, None], (n_slots, self.n_clients, self.n_subbands))
        return ChannelBlock(first_slot, snr_db=vals.copy())


class ArraySource(ChannelSource):
    """Replays ``values[slot, client(, subband)]`` (SNR [dB] or rate [bit/s])."""

    def __init__(self, values: np.ndarray, kind: str = "snr") -> None:
        v = np.asarray(values, dtype=np.float64)
        self.values = v if v.ndim == 3 else v[:, :, None]
        self.n_clients = int(self.values.shape[1])
        self.n_subbands = int(self.values.shape[2])
        self.kind = kind

    def block(self, first_slot: int, n_slots: int) -> ChannelBlock:
        v = self.values[first_slot : first_slot + n_slots]
        if v.shape[0] != n_slots:
            raise IndexError(f"slots {first_slot}+{n_slots} beyond {self.values.shape[0]}")
        if self.kind == "snr":
            return ChannelBlock(first_slot, snr_db=v)
        return ChannelBlock(first_slot, rate_bps=v)
