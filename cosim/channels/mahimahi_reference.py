"""A plain, line-by-line port of Mahimahi's link queue (what exact replay is tested against).

Follows ``LinkQueue`` in mahimahi's ``src/frontend/link_queue.cc``
(``read_packet``, ``rationalize``, ``use_a_delivery_opportunity``,
``next_delivery_time``) with a simulated millisecond clock instead of
``timestamp()``:

* opportunity ``k`` of the schedule fires at ``schedule[k] + base`` [ms];
  after the last one, ``base += schedule[-1]`` (the trace loops with its last
  timestamp as the period);
* a packet read at wall time ``t`` [ms] is stamped ``now = ⌊t⌋``;
  ``rationalize(now)`` first spends every opportunity at ``<= now`` on packets
  already queued, then the packet is queued (so it can use only opportunities
  at ``> now``);
* an opportunity carries 1500 bytes; a packet that finishes mid-opportunity
  hands the surplus to the next queued packet; with the queue empty the rest
  of the opportunity is lost;
* a packet departs at the time of the opportunity that carried its last byte.

It is deliberately slow (one Python step per opportunity) and lives in the
package so that the tests and ``benchmarks/traces.py`` share it.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence

PACKET_SIZE = 1500


class ReferenceLinkQueue:
    """Mahimahi's ``LinkQueue`` on a simulated clock (times in ms)."""

    def __init__(self, schedule_ms: Sequence[int], repeat: bool = True) -> None:
        self.schedule = [int(v) for v in schedule_ms]
        if not self.schedule or self.schedule[-1] == 0:
            raise ValueError("a Mahimahi schedule needs a last timestamp > 0")
        self.repeat = repeat
        self.next_delivery = 0
        self.base = 0
        self.queue: deque[list[int]] = deque()  # [packet id, bytes left]
        self.in_transit: list[int] | None = None
        self.departures: dict[int, int] = {}
        self._ids = 0

    def next_delivery_time(self) -> int:
        return self.schedule[self.next_delivery] + self.base

    def use_a_delivery_opportunity(self) -> None:
        self.next_delivery = (self.next_delivery + 1) % len(self.schedule)
        if self.next_delivery == 0:
            if not self.repeat:
                raise RuntimeError("LinkQueue: reached end of link recording")
            self.base += self.schedule[-1]

    def rationalize(self, now: int) -> None:
        """Run the link up to ``now`` [ms]."""
        while self.next_delivery_time() <= now:
            this_delivery_time = self.next_delivery_time()
            bytes_left = PACKET_SIZE
            self.use_a_delivery_opportunity()
            while bytes_left > 0:
                if self.in_transit is None:
                    if not self.queue:
                        break
                    self.in_transit = self.queue.popleft()
                self.in_transit[1] -= bytes_left
                bytes_left = 0
                if self.in_transit[1] <= 0:
                    bytes_left = -self.in_transit[1]
                    self.departures[self.in_transit[0]] = this_delivery_time
                    self.in_transit = None

    def read_packet(self, t_ms: float, size: int) -> int:
        """Queue a packet of ``size`` bytes at wall time ``t_ms``; returns its id."""
        if size > PACKET_SIZE:
            raise ValueError("packet size is greater than maximum")
        self.rationalize(math.floor(t_ms))
        pid = self._ids
        self._ids += 1
        self.queue.append([pid, size])
        return pid

    def run_until_empty(self) -> None:
        """Advance the clock opportunity by opportunity until every packet has left."""
        while self.queue or self.in_transit is not None:
            self.rationalize(self.next_delivery_time())


def reference_departures_ms(
    schedule_ms: Sequence[int],
    transfers: Sequence[tuple[float, int]],
    packet_bytes: int = PACKET_SIZE,
) -> list[list[int]]:
    """Departure time [ms] of every packet of each ``(arrival_ms, n_bytes)`` transfer.

    Transfers arrive in the given (non-decreasing) order on one link; each is
    cut into ``⌈n_bytes / packet_bytes⌉`` packets queued at its arrival.
    """
    link = ReferenceLinkQueue(schedule_ms)
    ids: list[list[int]] = []
    for arrival_ms, n_bytes in transfers:
        sizes = [min(packet_bytes, n_bytes - k) for k in range(0, n_bytes, packet_bytes)]
        ids.append([link.read_packet(arrival_ms, s) for s in sizes])
    link.run_until_empty()
    return [[link.departures[p] for p in group] for group in ids]
