"""Input statistics and diagnostic_msgs/DiagnosticArray building for the nodes.

Per input topic: messages received, arrival rate over the last `window_ns` of the runtime clock
(sim time when replaying), skipped messages by reason, and how long the topic has been silent.
Skips are also logged (first few per topic and reason, naming topic and stamp).
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass, field

from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class

OK, WARN, ERROR = 0, 1, 2
MAX_SKIP_LOGS = 5


@dataclass
class TopicStats:
    topic: str
    received: int = 0
    arrivals_ns: collections.deque = field(default_factory=lambda: collections.deque(maxlen=400))
    skipped: collections.Counter = field(default_factory=collections.Counter)
    last_arrival_ns: int | None = None
    peak_rate_hz: float = 0.0

    def rate_hz(self, now_ns: int, window_ns: int) -> float:
        """Messages per second over the last `window_ns` before `now_ns`."""
        recent = [t for t in self.arrivals_ns if now_ns - window_ns < t <= now_ns]
        return len(recent) / (window_ns / 1e9) if recent else 0.0


class InputMonitor:
    """Counts, rates and skip reasons of a node's inputs."""

    def __init__(self, logger: logging.Logger, window_ns: int = 1_000_000_000) -> None:
        self.logger = logger
        self.window_ns = int(window_ns)
        self.topics: dict[str, TopicStats] = {}
        self._logged: collections.Counter = collections.Counter()
        self._warned_silent: set[str] = set()

    def watch(self, topic: str) -> None:
        self.topics.setdefault(topic, TopicStats(topic))

    def received(self, topic: str, now_ns: int) -> None:
        """Count one arrival on `topic` at runtime time `now_ns` (the first one starts the
        monitor's clock when no earlier reading did)."""
        if self.start_ns is None:
            self.start_ns = int(now_ns)
        st = self.topics.setdefault(topic, TopicStats(topic))
        st.received += 1
        st.arrivals_ns.append(int(now_ns))
        st.last_arrival_ns = int(now_ns)
        st.peak_rate_hz = max(st.peak_rate_hz, st.rate_hz(now_ns, self.window_ns))

    def skipped(self, topic: str, stamp_ns: int | None, reason: str) -> None:
        """Count and (the first few times per topic and reason) log a skipped message."""
        st = self.topics.setdefault(topic, TopicStats(topic))
        key = reason.split(":")[0]
        st.skipped[key] += 1
        self._logged[(topic, key)] += 1
        n = self._logged[(topic, key)]
        if n <= MAX_SKIP_LOGS:
            stamp = "?" if stamp_ns is None else f"{stamp_ns / 1e9:.6f}"
            more = " (further ones counted in /diagnostics)" if n == MAX_SKIP_LOGS else ""
            self.logger.warning("skipped message on %s stamped %s s: %s%s", topic, stamp,
                                reason, more)

    def silent(self, now_ns: int, after_ns: int) -> list[tuple[str, float]]:
        """(topic, seconds silent) of watched topics silent for more than `after_ns`.

        A topic never heard from counts from the runtime's first clock reading (`start_ns`)."""
        out = []
        for st in self.topics.values():
            last = st.last_arrival_ns if st.last_arrival_ns is not None else self.start_ns
            if last is not None and now_ns - last > after_ns:
                out.append((st.topic, (now_ns - last) / 1e9))
        return out

    start_ns: int | None = None

    def input_statuses(self, node_name: str, now_ns: int, silent_after_ns: int, resolve,
                       sensor_qos: str) -> list[tuple[int, str, str, dict]]:
        """One (level, name, message, values) per watched input for `diagnostic_array`.

        A topic silent for more than `silent_after_ns` is WARN with the fix (remapping, driver,
        QoS against `sensor_qos`), logged once per silence; one with skipped messages is WARN
        with their count. `resolve(topic)` gives the full topic name."""
        if self.start_ns is None:  # nothing heard yet: silence counts from here
            self.start_ns = int(now_ns)
        silent = dict(self.silent(now_ns, silent_after_ns))
        statuses = []
        for topic, st in sorted(self.topics.items()):
            full = resolve(topic)
            values = {"received": st.received,
                      "rate_hz": f"{st.rate_hz(now_ns, self.window_ns):.1f}",
                      "peak_rate_hz": f"{st.peak_rate_hz:.1f}"}
            values.update({f"skipped: {k}": v for k, v in sorted(st.skipped.items())})
            level, message = OK, "ok"
            if topic in silent:
                level = WARN
                message = (f"topic {full} silent for {silent[topic]:.1f} s - check the "
                           f"remapping ({topic}:=<your topic>; `ros2 topic list`), that the "
                           f"driver publishes, and its QoS (`ros2 topic info -v {full}` vs "
                           f"inputs.sensor_qos={sensor_qos})")
                if topic not in self._warned_silent:  # once per silence, not every period
                    self._warned_silent.add(topic)
                    self.logger.warning(message)
            else:
                self._warned_silent.discard(topic)
                if st.skipped:
                    level, message = WARN, f"{sum(st.skipped.values())} messages skipped"
            statuses.append((level, f"{node_name}: input {topic}", message, values))
        return statuses


def diagnostic_array(stamp_ns: int, statuses: list[tuple[int, str, str, dict]]):
    """diagnostic_msgs/DiagnosticArray of (level, name, message, {key: value}) tuples."""
    Status = msg_class("diagnostic_msgs/msg/DiagnosticStatus")
    KeyValue = msg_class("diagnostic_msgs/msg/KeyValue")
    out = []
    for level, name, message, values in statuses:
        out.append(Status(level=level, name=name,
                          message=message, hardware_id="",
                          values=[KeyValue(key=str(k), value=str(v)) for k, v in values.items()]))
    return msg_class("diagnostic_msgs/msg/DiagnosticArray")(header=make_header(stamp_ns, ""),
                                                           status=out)
