"""Cyclone DDS runtime: joins a ROS 2 graph on Cyclone DDS with no ROS install.

Topics are `rt/<fully qualified name>` with ROS 2 type names (runtime/dds_types.py); payloads are
rosbags CDR bytes written with `ddspy_write` and taken raw with `ddspy_take`. QoS: our
QoSProfile mapped to DDS reliability / durability / KEEP_LAST depth, as rmw_cyclonedds maps
rclpy's profiles, so RViz and ros2 CLI subscribers match. Incompatible QoS offered or requested
by a peer is reported (log + the node's incompatibility handler) naming the topic and policy.

Threads: `spin()` runs in the caller's thread: it waits on the readers, delivers messages to the
callbacks and fires timers (ROS time = wall clock, or /clock when `use_sim_time`); a worker
thread runs the node's heavy `process()` (the node guards its own state; callbacks and timers
are serialised by one lock here).
Services are not offered over raw DDS (DESIGN.md section 5); they are logged as unavailable.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from slam_nodes.errors import ConfigError
from slam_nodes.runtime.dds_types import cdr_bytes, dds_topic_name, idl_type
from slam_nodes.runtime.interface import (
    Durability,
    QoSProfile,
    Reliability,
    ServiceResponse,
    drain_workers,
    resolve_name,
)

logger = logging.getLogger(__name__)

# cyclonedds QoS policy ids (dds_qos_policy_id_t) named in incompatibility reports
_POLICY_NAMES = {2: "DURABILITY", 11: "RELIABILITY", 13: "HISTORY", 4: "DEADLINE",
                 7: "OWNERSHIP", 8: "LIVELINESS", 23: "DATA_REPRESENTATION"}


def loopback_config() -> str:
    """CYCLONEDDS_URI text that keeps traffic on 127.0.0.1 (unicast discovery, no multicast)."""
    return ("<CycloneDDS><Domain><General><Interfaces><NetworkInterface address=\"127.0.0.1\"/>"
            "</Interfaces><AllowMulticast>false</AllowMulticast></General><Discovery>"
            "<ParticipantIndex>auto</ParticipantIndex><MaxAutoParticipantIndex>60"
            "</MaxAutoParticipantIndex><Peers><Peer address=\"127.0.0.1\"/></Peers></Discovery>"
            "</Domain></CycloneDDS>")


def dds_qos(qos: QoSProfile):
    """cyclonedds Qos of a QoSProfile (what rmw_cyclonedds sets for the same rclpy profile)."""
    from cyclonedds.core import Policy, Qos
    from cyclonedds.util import duration

    rel = (Policy.Reliability.Reliable(max_blocking_time=duration(milliseconds=100))
           if qos.reliability is Reliability.RELIABLE else Policy.Reliability.BestEffort)
    dur = (Policy.Durability.TransientLocal if qos.durability is Durability.TRANSIENT_LOCAL
           else Policy.Durability.Volatile)
    return Qos(rel, dur, Policy.History.KeepLast(qos.depth))


@dataclass
class _Reader:
    topic: str
    typename: str
    reader: Any
    callbacks: list


class DdsPublisher:
    def __init__(self, runtime: "DdsRuntime", topic: str, typename: str, writer) -> None:
        self.runtime, self.topic, self.typename, self.writer = runtime, topic, typename, writer
        self.count = 0

    def publish(self, msg: Any) -> None:
        from cyclonedds._clayer import ddspy_write

        data = cdr_bytes(msg, self.typename)
        ret = ddspy_write(self.writer._ref, data)
        if ret < 0:
            self.runtime.logger.warning("DDS write on %s failed (code %d)", self.topic, ret)
            return
        self.count += 1


class DdsRuntime:
    """NodeRuntime over Cyclone DDS (see module doc)."""

    def __init__(self, node_name: str, domain_id: int = 0, namespace: str = "/",
                 remappings: dict[str, str] | None = None,
                 parameters: dict[str, Any] | None = None, use_sim_time: bool = False) -> None:
        from cyclonedds.domain import DomainParticipant

        self.node_name = node_name
        self.namespace = namespace
        self.remappings = dict(remappings or {})
        self._parameters = dict(parameters or {})
        self.participant = DomainParticipant(int(domain_id))
        self.lock = threading.RLock()
        self._readers: dict[str, _Reader] = {}
        self._topics: dict[str, Any] = {}
        self.publishers: dict[str, DdsPublisher] = {}
        self._timers: list[list] = []  # [next_due_ns, period_ns, callback]
        self._workers: list[Callable[[], bool]] = []
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._incompatible_handler: Callable[[str, str], None] | None = None
        self.incompatible: collections.deque = collections.deque(maxlen=100)
        self._reported: set[tuple[str, str]] = set()
        self._sim_time_ns: int | None = None
        self.use_sim_time = use_sim_time
        self._logger = logging.getLogger(f"slam_nodes.{node_name}")
        self._waitset = None
        if use_sim_time:
            self.subscribe("/clock", "rosgraph_msgs/msg/Clock", self._on_clock,
                           QoSProfile(Reliability.BEST_EFFORT, Durability.VOLATILE, 1))

    # ------------------------------------------------------------------ NodeRuntime
    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def resolve(self, name: str) -> str:
        return resolve_name(name, self.node_name, self.namespace, self.remappings)

    def _topic(self, full: str, typename: str):
        from cyclonedds.topic import Topic

        topic = self._topics.get(full)
        if topic is None:
            topic = self._topics[full] = Topic(self.participant, dds_topic_name(full),
                                               idl_type(typename))
        elif topic.data_type is not idl_type(typename):
            raise ConfigError(f"topic {full} used with two types")
        return topic

    def subscribe(self, topic, typename, callback, qos) -> None:
        from cyclonedds.core import Listener
        from cyclonedds.sub import DataReader

        full = self.resolve(topic)
        if full in self._readers:
            self._readers[full].callbacks.append(callback)
            return
        listener = Listener(on_requested_incompatible_qos=lambda _r, status: self.incompatible
                            .append((full, "requested", status.last_policy_id)))
        reader = DataReader(self.participant, self._topic(full, typename), qos=dds_qos(qos),
                            listener=listener)
        self._readers[full] = _Reader(full, typename, reader, [callback])
        self._waitset = None  # rebuilt with the new reader

    def publisher(self, topic, typename, qos) -> DdsPublisher:
        from cyclonedds.core import Listener
        from cyclonedds.pub import DataWriter

        full = self.resolve(topic)
        if full in self.publishers:
            return self.publishers[full]
        listener = Listener(on_offered_incompatible_qos=lambda _w, status: self.incompatible
                            .append((full, "offered", status.last_policy_id)))
        writer = DataWriter(self.participant, self._topic(full, typename), qos=dds_qos(qos),
                            listener=listener)
        pub = self.publishers[full] = DdsPublisher(self, full, typename, writer)
        return pub

    def create_timer(self, period_ns: int, callback) -> None:
        if period_ns <= 0:
            raise ConfigError(f"timer period must be > 0 ns, got {period_ns}")
        self._timers.append([None, int(period_ns), callback])

    def create_worker(self, process) -> None:
        self._workers.append(process)

    def create_service(self, name, srv_type, handler) -> None:
        self.logger.debug("service %s (%s) is not offered over raw DDS", self.resolve(name),
                          srv_type)

    def set_incompatible_handler(self, handler) -> None:
        self._incompatible_handler = handler

    def parameter_overrides(self) -> dict[str, Any]:
        return dict(self._parameters)

    def now_ns(self) -> int:
        if self.use_sim_time:
            return self._sim_time_ns or 0
        return time.time_ns()

    def call_service(self, name: str, request: Any = None) -> ServiceResponse:
        raise ConfigError("services are not offered over raw DDS; use the rclpy runtime")

    # ------------------------------------------------------------------ spinning
    def _on_clock(self, msg) -> None:
        from slam_nodes.msgs.stamps import stamp_to_ns

        self._sim_time_ns = stamp_to_ns(msg.clock)

    def _build_waitset(self):
        from cyclonedds.core import ReadCondition, SampleState, ViewState, InstanceState, WaitSet

        ws = WaitSet(self.participant)
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        for r in self._readers.values():
            ws.attach(ReadCondition(r.reader, mask))
        self._waitset = ws
        return ws

    def spin_once(self, timeout_s: float = 0.05) -> int:
        """Wait up to `timeout_s` for data, deliver it, fire due timers; return messages taken."""
        from cyclonedds._clayer import ddspy_take
        from cyclonedds.core import InstanceState, SampleState, ViewState

        from slam_nodes.msgs.typestore import get_typestore

        ws = self._waitset or self._build_waitset()
        due = self._next_due_ns()
        wait_ns = int(timeout_s * 1e9)
        if due is not None:
            wait_ns = max(0, min(wait_ns, due - time.time_ns()))
        if self._readers:
            ws.wait(wait_ns)
        else:
            time.sleep(wait_ns / 1e9)
        store = get_typestore()
        mask = SampleState.Any | ViewState.Any | InstanceState.Any
        n = 0
        for r in list(self._readers.values()):
            got = ddspy_take(r.reader._ref, mask, 64)
            if isinstance(got, int):
                continue
            for data, info in got:
                if not info.valid_data:
                    continue
                try:
                    msg = store.deserialize_cdr(bytes(data), r.typename)
                except Exception as err:  # noqa: BLE001 - generated deserialisers raise many
                    self.logger.warning("undecodable %s message on %s: %s", r.typename,
                                        r.topic, err)
                    continue
                n += 1
                with self.lock:
                    for cb in r.callbacks:
                        cb(msg)
        if n:
            self._wake.set()
        self._report_incompatible()
        self._fire_timers()
        return n

    def _next_due_ns(self) -> int | None:
        dues = [t[0] for t in self._timers if t[0] is not None]
        return min(dues) if dues else None

    def _fire_timers(self) -> None:
        now = time.time_ns()
        for timer in self._timers:
            if timer[0] is None:
                timer[0] = now + timer[1]
            elif now >= timer[0]:
                timer[0] = max(timer[0] + timer[1], now)
                with self.lock:
                    timer[2]()

    def _report_incompatible(self) -> None:
        while self.incompatible:
            topic, side, policy = self.incompatible.popleft()
            policy_name = _POLICY_NAMES.get(policy, f"policy {policy}")
            if (topic, policy_name) in self._reported:
                continue
            self._reported.add((topic, policy_name))
            reason = (f"QoS mismatch on {topic}: a peer's {policy_name} is incompatible with "
                      f"what this node {side}")
            self.logger.warning(reason)
            if self._incompatible_handler is not None:
                with self.lock:
                    self._incompatible_handler(topic, reason)

    def _worker_loop(self) -> None:
        drain_workers(self._workers, self._wake, self._stop)

    def spin(self, duration_s: float | None = None) -> None:
        """Spin until `stop()`, Ctrl-C or `duration_s` seconds (wall clock)."""
        worker = threading.Thread(target=self._worker_loop, name="slam-worker", daemon=True)
        worker.start()
        end = None if duration_s is None else time.monotonic() + duration_s
        try:
            while not self._stop.is_set() and (end is None or time.monotonic() < end):
                self.spin_once(0.05)
        finally:
            self._stop.set()
            worker.join(timeout=5.0)

    def stop(self) -> None:
        self._stop.set()
