"""What is in a bag: topics, types, counts, time span, rates, and event-camera statistics.

`summarize_bag(path)` streams the bag once (raw bytes for ordinary topics, decoded packets for
event topics) to find each topic's first/last log time and, for event topics
(`EVENT_TYPES`), the number of events, ON / OFF counts, trigger count and the first/last event
time. Event times are on the clock the decoder reports (slam_nodes.events): sensor time for
EVT3, host time for libcaer, per-event stamps for dvs_msgs. `scan=False` skips the pass (counts
and span from the bag's index only; rates then use the whole bag's span).

A bag that turns out damaged during the scan is summarised up to the damage; `error` holds the
reason. Packets the event decoder rejects are counted in `EventStats.skipped_packets`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from slam_nodes.errors import BagError, DecodeError
from slam_nodes.io.bag import open_bag

logger = logging.getLogger(__name__)

EVENT_TYPES = (
    "event_camera_msgs/msg/EventPacket",
    "event_array_msgs/msg/EventArray",
    "dvs_msgs/msg/EventArray",
)
NS_PER_S = 1_000_000_000


@dataclass
class EventStats:
    """Decoded-event totals of one topic (times int64 ns on the decoder's clock)."""

    events: int = 0
    on: int = 0
    off: int = 0
    triggers: int = 0
    first_event_ns: int | None = None
    last_event_ns: int | None = None
    skipped_packets: int = 0
    width: int = 0
    height: int = 0
    encodings: list[str] = field(default_factory=list)


@dataclass
class TopicSummary:
    """One topic: count (from the bag's index), messages read by the scan, first/last log time
    (ns), mean rate (Hz), messages skipped because they did not decode."""

    name: str
    typename: str
    count: int
    read: int = 0
    first_ns: int | None = None
    last_ns: int | None = None
    rate_hz: float | None = None
    skipped: int = 0
    events: EventStats | None = None


@dataclass
class BagSummary:
    """A whole bag (see module docstring). Times are int64 ns, duration in seconds."""

    path: str
    format: str
    ros_version: int
    start_ns: int
    end_ns: int
    duration_s: float
    message_count: int
    topics: list[TopicSummary]
    scanned: bool
    partial: bool = False
    damage: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def summarize_bag(path: str | Path, scan: bool = True, event_stats: bool = True,
                  progress: Callable[[int], None] | None = None) -> BagSummary:
    """Summary of the bag at `path`. `progress(n)` is called with the number of messages read
    since the last call (for a progress bar). Raises BagError only if the bag cannot be opened."""
    with open_bag(path) as bag:
        topics = {name: TopicSummary(info.name, info.typename, info.count)
                  for name, info in bag.topics.items()}
        summary = BagSummary(
            path=str(path), format=bag.format, ros_version=2 if bag.is_ros2 else 1,
            start_ns=bag.start_ns, end_ns=bag.end_ns, duration_s=bag.duration_ns / NS_PER_S,
            message_count=bag.message_count, topics=list(topics.values()), scanned=scan,
            partial=bag.partial, damage=list(bag.damage))
        if scan:
            try:
                _scan(bag, topics, event_stats, progress)
            except BagError as err:
                summary.error = str(err)
                logger.warning("%s", err)
            for topic, n in bag.skipped.items():
                topics[topic].skipped += n
        for t in topics.values():
            _fill_rate(t, summary)
    return summary


def _scan(bag, topics: dict[str, TopicSummary], event_stats: bool,
          progress: Callable[[int], None] | None) -> None:
    event_topics = [n for n, t in topics.items() if event_stats and t.typename in EVENT_TYPES]
    plain = [n for n in topics if n not in event_topics]
    pending = 0

    def tick() -> None:
        nonlocal pending
        pending += 1
        if progress is not None and pending >= 256:
            progress(pending)
            pending = 0

    if plain:
        for topic, stamp in bag.stamps(plain):
            _seen(topics[topic], stamp)
            tick()
    if event_topics:
        from slam_nodes.events import make_decoder

        decoders = {n: make_decoder(topics[n].typename, n) for n in event_topics}
        for n in event_topics:
            topics[n].events = EventStats()
        for m in bag.messages(event_topics):
            t = topics[m.topic]
            _seen(t, m.log_time_ns)
            _add_events(t.events, decoders[m.topic], m)
            tick()
    if progress is not None and pending:
        progress(pending)


def _seen(t: TopicSummary, stamp: int) -> None:
    t.read += 1
    t.first_ns = stamp if t.first_ns is None else min(t.first_ns, stamp)
    t.last_ns = stamp if t.last_ns is None else max(t.last_ns, stamp)


def _add_events(stats: EventStats, decoder, m) -> None:
    try:
        batch, triggers = decoder.decode(m.msg)
    except DecodeError as err:
        stats.skipped_packets += 1
        logger.warning("skipped an event packet on %s at log time %d ns (%s)", m.topic,
                       m.log_time_ns, err)
        return
    encoding = getattr(m.msg, "encoding", None)
    if encoding and encoding not in stats.encodings:
        stats.encodings.append(encoding)
    stats.width = stats.width or int(getattr(m.msg, "width", 0) or batch.width)
    stats.height = stats.height or int(getattr(m.msg, "height", 0) or batch.height)
    stats.events += len(batch)
    stats.on += batch.num_on
    stats.off += batch.num_off
    stats.triggers += len(triggers)
    if len(batch):
        lo, hi = int(batch.t.min()), int(batch.t.max())
        stats.first_event_ns = lo if stats.first_event_ns is None else min(stats.first_event_ns, lo)
        stats.last_event_ns = hi if stats.last_event_ns is None else max(stats.last_event_ns, hi)


def _fill_rate(t: TopicSummary, summary: BagSummary) -> None:
    """Mean rate: (count - 1) / (last - first) from the scan, else from the bag's span."""
    if t.first_ns is not None and t.last_ns is not None and t.last_ns > t.first_ns:
        t.rate_hz = (t.read - 1) * NS_PER_S / (t.last_ns - t.first_ns)
    elif not summary.scanned and summary.duration_s > 0 and t.count > 1:
        t.rate_hz = (t.count - 1) / summary.duration_s  # exact for a topic spanning the bag
