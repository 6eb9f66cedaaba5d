"""Approximate-time pairing of two stamped streams (RGB and depth), like message_filters'
ApproximateTime policy restricted to two inputs.

Rules, all on int64 ns stamps:
  - a message is paired with the other stream's message nearest in time, if within `slop_ns`;
  - a pair is emitted only once no later message could give a closer partner (the partner
    stream already holds a message at or after this one's stamp), so the result does not depend
    on arrival interleaving, only on stamps;
  - a message whose stamp is not after the last emitted pair of its stream is dropped as
    "out of order" (or "duplicate stamp" when equal); one that can no longer find a partner
    within the slop is dropped as "no partner within sync_slop"; one superseded by a later
    message of its own stream closer to the same partner is dropped as "superseded";
  - each queue holds at most `queue_size` messages (oldest dropped as "queue overflow").
Every drop is returned to the caller with its stream, stamp and reason, for logs and diagnostics.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from slam_nodes.errors import ConfigError


@dataclass(frozen=True)
class Drop:
    stream: str
    stamp_ns: int
    reason: str


@dataclass(frozen=True)
class Pair:
    """Matched messages: `first` from stream A, `second` from stream B, with their stamps."""

    stamp_a_ns: int
    a: Any
    stamp_b_ns: int
    b: Any


class ApproximateTimePairer:
    """Pairs messages of streams `names[0]` and `names[1]` by nearest stamp within `slop_ns`."""

    def __init__(self, names: tuple[str, str], slop_ns: int, queue_size: int = 10) -> None:
        if slop_ns < 0:
            raise ConfigError(f"sync slop must be >= 0 ns, got {slop_ns}")
        if queue_size < 1:
            raise ConfigError(f"sync queue size must be >= 1, got {queue_size}")
        self.names = names
        self.slop_ns = int(slop_ns)
        self.queue_size = int(queue_size)
        self._stamps: dict[str, list[int]] = {n: [] for n in names}
        self._items: dict[str, list[Any]] = {n: [] for n in names}
        self._last: dict[str, int | None] = {n: None for n in names}

    def reset(self) -> None:
        for n in self.names:
            self._stamps[n].clear()
            self._items[n].clear()
            self._last[n] = None

    def push(self, stream: str, stamp_ns: int, item: Any) -> tuple[list[Pair], list[Drop]]:
        """Add one message; return the pairs now complete and the messages dropped."""
        if stream not in self._stamps:
            raise ConfigError(f"unknown sync stream {stream!r}; expected one of {self.names}")
        drops: list[Drop] = []
        last = self._last[stream]
        stamps, items = self._stamps[stream], self._items[stream]
        if last is not None and stamp_ns <= last:
            reason = "duplicate stamp" if stamp_ns == last else "out of order"
            return [], [Drop(stream, stamp_ns, reason)]
        i = bisect.bisect_left(stamps, stamp_ns)
        if i < len(stamps) and stamps[i] == stamp_ns:
            return [], [Drop(stream, stamp_ns, "duplicate stamp")]
        stamps.insert(i, stamp_ns)
        items.insert(i, item)
        while len(stamps) > self.queue_size:
            drops.append(Drop(stream, stamps.pop(0), "queue overflow"))
            items.pop(0)
        pairs: list[Pair] = []
        while True:
            step = self._match_oldest(drops)
            if step is None:
                break
            pairs.append(step)
        return pairs, drops

    def _match_oldest(self, drops: list[Drop]) -> Pair | None:
        a_name, b_name = self.names
        if not self._stamps[a_name] or not self._stamps[b_name]:
            return None
        # the oldest queued message overall decides
        s, p = (a_name, b_name) if self._stamps[a_name][0] <= self._stamps[b_name][0] \
            else (b_name, a_name)
        xs, ps = self._stamps[s], self._stamps[p]
        x = xs[0]
        j = min(range(len(ps)), key=lambda k: (abs(ps[k] - x), ps[k]))
        if abs(ps[j] - x) > self.slop_ns:
            if ps[-1] > x + self.slop_ns:
                drops.append(Drop(s, x, "no partner within sync_slop"))
                xs.pop(0)
                self._items[s].pop(0)
                return self._match_oldest(drops)
            return None
        if ps[-1] < x:
            return None  # a later partner message could still be closer
        if len(xs) > 1 and abs(xs[1] - ps[j]) < abs(x - ps[j]):
            drops.append(Drop(s, x, "superseded"))
            xs.pop(0)
            self._items[s].pop(0)
            return self._match_oldest(drops)
        for _ in range(j):
            drops.append(Drop(p, ps.pop(0), "no partner within sync_slop"))
            self._items[p].pop(0)
        x_item = self._items[s].pop(0)
        xs.pop(0)
        p_stamp, p_item = ps.pop(0), self._items[p].pop(0)
        self._last[s], self._last[p] = x, p_stamp
        if s == a_name:
            return Pair(x, x_item, p_stamp, p_item)
        return Pair(p_stamp, p_item, x, x_item)
