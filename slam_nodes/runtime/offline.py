"""Offline runtime: drives node logic from recorded messages in log-time order, with sim time.

`OfflineRuntime` implements `NodeRuntime` without threads, so replays are deterministic: for
each recorded message at log time t, it first fires every timer due at or before t (in due-time
order, the clock set to each due time), then sets the clock to t, delivers the message to the
matching subscriptions, and runs the node's workers until they have nothing left. Everything the
node publishes is handed to `on_publish(topic, typename, qos, stamp_ns, msg)` (the replay
writes it into a bag). Messages whose type differs from the subscription's are not delivered
(ROS 2 would not match them either); the node's incompatibility handler is told once per topic.
"""

from __future__ import annotations

import heapq
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from slam_nodes.errors import ConfigError
from slam_nodes.runtime.interface import QoSProfile, ServiceResponse, resolve_name

logger = logging.getLogger(__name__)


@dataclass
class _Subscription:
    topic: str
    typename: str
    callback: Callable[[Any], None]
    qos: QoSProfile


class OfflinePublisher:
    def __init__(self, runtime: "OfflineRuntime", topic: str, typename: str,
                 qos: QoSProfile) -> None:
        self.runtime, self.topic, self.typename, self.qos = runtime, topic, typename, qos
        self.count = 0

    def publish(self, msg: Any) -> None:
        msgtype = getattr(msg, "__msgtype__", self.typename)
        if msgtype != self.typename:
            raise ConfigError(f"publisher {self.topic} is {self.typename}, got {msgtype}")
        self.count += 1
        if self.runtime.on_publish is not None:
            self.runtime.on_publish(self.topic, self.typename, self.qos,
                                    self.runtime.now_ns(), msg)


class OfflineRuntime:
    """NodeRuntime for replays and tests (see module doc)."""

    def __init__(self, node_name: str, namespace: str = "/",
                 remappings: dict[str, str] | None = None,
                 parameters: dict[str, Any] | None = None,
                 on_publish: Callable[..., None] | None = None) -> None:
        self.node_name = node_name
        self.namespace = namespace
        self.remappings = dict(remappings or {})
        self._parameters = dict(parameters or {})
        self.on_publish = on_publish
        self._subs: dict[str, list[_Subscription]] = {}
        self._timers: list[tuple[int, int, int, Callable[[], None]]] = []  # heap
        self._timer_seq = 0
        self._workers: list[Callable[[], bool]] = []
        self.services: dict[str, tuple[str, Callable[[Any], ServiceResponse]]] = {}
        self.publishers: dict[str, OfflinePublisher] = {}
        self._incompatible_handler: Callable[[str, str], None] | None = None
        self._reported_incompatible: set[str] = set()
        self._now_ns: int | None = None
        self._logger = logging.getLogger(f"slam_nodes.{node_name}")

    # ------------------------------------------------------------------ NodeRuntime
    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def resolve(self, name: str) -> str:
        return resolve_name(name, self.node_name, self.namespace, self.remappings)

    def subscribe(self, topic, typename, callback, qos) -> None:
        full = self.resolve(topic)
        self._subs.setdefault(full, []).append(_Subscription(full, typename, callback, qos))

    def publisher(self, topic, typename, qos) -> OfflinePublisher:
        full = self.resolve(topic)
        pub = self.publishers.get(full)
        if pub is None:
            pub = self.publishers[full] = OfflinePublisher(self, full, typename, qos)
        elif pub.typename != typename:
            raise ConfigError(f"topic {full} published as both {pub.typename} and {typename}")
        return pub

    def create_timer(self, period_ns: int, callback) -> None:
        if period_ns <= 0:
            raise ConfigError(f"timer period must be > 0 ns, got {period_ns}")
        self._timer_seq += 1
        # first due one period after the clock starts; stored as (due, seq, period, callback)
        self._timers.append((period_ns, self._timer_seq, period_ns, callback))

    def create_worker(self, process) -> None:
        self._workers.append(process)

    def create_service(self, name, srv_type, handler) -> None:
        if srv_type not in ("std_srvs/srv/Trigger", "std_srvs/srv/SetBool"):
            raise ConfigError(f"service {name}: only std_srvs Trigger/SetBool are offered")
        self.services[self.resolve(name)] = (srv_type, handler)

    def set_incompatible_handler(self, handler: Callable[[str, str], None]) -> None:
        self._incompatible_handler = handler

    def parameter_overrides(self) -> dict[str, Any]:
        return dict(self._parameters)

    def now_ns(self) -> int:
        return 0 if self._now_ns is None else self._now_ns

    # ------------------------------------------------------------------ driving
    def call_service(self, name: str, request: Any = None) -> ServiceResponse:
        """Call a service the node offers (Trigger: request None; SetBool: a bool)."""
        full = self.resolve(name)
        if full not in self.services:
            raise ConfigError(f"no service {full}; offered: {sorted(self.services)}")
        return self.services[full][1](request)

    def _start_clock(self, t_ns: int) -> None:
        self._now_ns = t_ns
        self._timers = [(t_ns + due, seq, period, cb) for due, seq, period, cb in self._timers]
        heapq.heapify(self._timers)

    def advance_to(self, t_ns: int) -> None:
        """Fire the timers due at or before `t_ns` (clock set to each due time), then set the
        clock to `t_ns`. A clock that would go backwards stays where it is."""
        if self._now_ns is None:
            self._start_clock(t_ns)
        while self._timers and self._timers[0][0] <= t_ns:
            due, seq, period, cb = heapq.heappop(self._timers)
            self._now_ns = max(self._now_ns, due)
            cb()
            self.run_workers()
            heapq.heappush(self._timers, (due + period, seq, period, cb))
        self._now_ns = max(self._now_ns, t_ns)

    def run_workers(self) -> None:
        for work in self._workers:
            while work():
                pass

    def deliver(self, topic: str, typename: str, log_time_ns: int, msg: Any) -> int:
        """Advance the clock to `log_time_ns` and hand `msg` to the subscriptions of `topic`;
        return how many callbacks received it."""
        self.advance_to(log_time_ns)
        delivered = 0
        for sub in self._subs.get(topic, ()):
            if sub.typename != typename:
                if topic not in self._reported_incompatible:
                    self._reported_incompatible.add(topic)
                    reason = (f"topic {topic} carries {typename} but the node subscribes "
                              f"with {sub.typename}; messages are not delivered")
                    logger.warning(reason)
                    if self._incompatible_handler is not None:
                        self._incompatible_handler(topic, reason)
                continue
            sub.callback(msg)
            delivered += 1
        self.run_workers()
        return delivered

    def subscribed_topics(self) -> dict[str, str]:
        return {t: subs[0].typename for t, subs in self._subs.items()}

    def spin_messages(self, messages: Iterable, rate: float | None = None,
                      on_message: Callable[[int], None] | None = None) -> int:
        """Deliver (topic, typename, log_time_ns, msg) records in order; `rate` > 0 paces them
        at that multiple of real time (None: as fast as possible). Returns messages read."""
        wall0 = sim0 = None
        n = 0
        for topic, typename, log_time_ns, msg in messages:
            if rate:
                if wall0 is None:
                    wall0, sim0 = time.monotonic(), log_time_ns
                ahead = (log_time_ns - sim0) / 1e9 / rate - (time.monotonic() - wall0)
                if ahead > 0:
                    time.sleep(ahead)
            self.deliver(topic, typename, log_time_ns, msg)
            n += 1
            if on_message is not None:
                on_message(n)
        return n

    def flush(self, extra_ns: int = 0) -> None:
        """Fire every timer once more at the current clock + `extra_ns` (end of a replay), so
        the last pose, mesh and diagnostics are published."""
        if self._now_ns is None:
            return
        end = self._now_ns + extra_ns
        self.advance_to(end)
        for _due, _seq, _period, cb in sorted(self._timers, key=lambda x: x[1]):
            cb()
            self.run_workers()
