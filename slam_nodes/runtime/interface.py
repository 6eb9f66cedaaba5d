"""The small runtime interface node logic talks to (DESIGN.md section 2: one node, several
runtimes).

Node logic (slam_nodes.nodes) never imports rclpy or cyclonedds: it receives a `NodeRuntime`
and uses it to subscribe, publish, run timers, read parameters, offer services, log and read
the clock. Three runtimes implement it: the offline bag executor (`runtime.offline`), the Cyclone
DDS runtime (`runtime.dds`) and the rclpy adapter (`runtime.ros`).

Messages crossing this interface are rosbags typestore objects (`slam_nodes.msgs.typestore`),
named by their ROS 2 type name ('sensor_msgs/msg/Image'). Time is int64 nanoseconds of the
runtime's clock: sim time (the bag's clock) offline, ROS time live.

Topic names follow ROS 2: absolute ('/diagnostics'), relative to the namespace ('rgb/image') or
private to the node ('~/odometry'); `resolve_name` expands them and applies remappings.
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from slam_nodes.errors import ConfigError


class Reliability(enum.Enum):
    RELIABLE = "reliable"
    BEST_EFFORT = "best_effort"


class Durability(enum.Enum):
    VOLATILE = "volatile"
    TRANSIENT_LOCAL = "transient_local"


@dataclass(frozen=True)
class QoSProfile:
    """A ROS 2 QoS profile (history is always KEEP_LAST with `depth`), mirroring rclpy.qos."""

    reliability: Reliability = Reliability.RELIABLE
    durability: Durability = Durability.VOLATILE
    depth: int = 10

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ConfigError(f"QoS history depth must be >= 1, got {self.depth}")

    def compatible_with_subscription(self, sub: "QoSProfile") -> str | None:
        """None when a publisher with this QoS can serve subscription `sub`, else the reason
        (the DDS request/offer rules: a reliable reader needs a reliable writer, a
        transient-local reader needs a transient-local writer)."""
        if sub.reliability is Reliability.RELIABLE and self.reliability is Reliability.BEST_EFFORT:
            return "subscription requests RELIABLE but the publisher offers BEST_EFFORT"
        if (sub.durability is Durability.TRANSIENT_LOCAL
                and self.durability is Durability.VOLATILE):
            return "subscription requests TRANSIENT_LOCAL but the publisher offers VOLATILE"
        return None


# rclpy.qos.qos_profile_sensor_data: best effort, volatile, depth 5
SENSOR_QOS = QoSProfile(Reliability.BEST_EFFORT, Durability.VOLATILE, 5)
# rclpy's default for create_publisher(..., 10)
DEFAULT_QOS = QoSProfile(Reliability.RELIABLE, Durability.VOLATILE, 10)
# latched topics (path, map cloud): late subscribers get the last message
LATCHED_QOS = QoSProfile(Reliability.RELIABLE, Durability.TRANSIENT_LOCAL, 1)
# tf2_ros TransformBroadcaster
TF_QOS = QoSProfile(Reliability.RELIABLE, Durability.VOLATILE, 100)


def sensor_qos_from_name(name: str) -> QoSProfile:
    """'best_effort' -> SENSOR_QOS, 'reliable' -> reliable with the same depth."""
    if name == "best_effort":
        return SENSOR_QOS
    if name == "reliable":
        return QoSProfile(Reliability.RELIABLE, Durability.VOLATILE, SENSOR_QOS.depth)
    raise ConfigError(f"sensor QoS must be 'best_effort' or 'reliable', got {name!r}")


@dataclass(frozen=True)
class ServiceResponse:
    """std_srvs/Trigger and std_srvs/SetBool response: success flag and a message."""

    success: bool
    message: str = ""


class Publisher(Protocol):
    topic: str

    def publish(self, msg: Any) -> None:
        """Publish one rosbags message object."""


class NodeRuntime(Protocol):
    """What node logic may ask of a runtime."""

    node_name: str
    namespace: str

    def resolve(self, name: str) -> str:
        """Fully qualified name of a topic or service after remapping (see resolve_name)."""

    def subscribe(self, topic: str, typename: str, callback: Callable[[Any], None],
                  qos: QoSProfile) -> None:
        """Call `callback(msg)` for each message on `topic`. Callbacks convert and enqueue only."""

    def publisher(self, topic: str, typename: str, qos: QoSProfile) -> Publisher:
        """A publisher on `topic` with type `typename`."""

    def create_timer(self, period_ns: int, callback: Callable[[], None]) -> None:
        """Call `callback()` every `period_ns` of the runtime's clock (sim time offline)."""

    def create_worker(self, process: Callable[[], bool]) -> None:
        """Run `process()` (returns True while work remains) outside the callbacks: in a thread
        live, inline after each delivered message offline (deterministic)."""

    def create_service(self, name: str, srv_type: str,
                       handler: Callable[[Any], ServiceResponse]) -> None:
        """Offer service `name` of `srv_type` ('std_srvs/srv/Trigger' handlers get None,
        'std_srvs/srv/SetBool' handlers get the bool)."""

    def set_incompatible_handler(self, handler: Callable[[str, str], None]) -> None:
        """`handler(topic, reason)` is called when a publisher on a subscribed topic cannot be
        matched (wrong type, QoS mismatch), so the node can report it in diagnostics."""

    def parameter_overrides(self) -> dict[str, Any]:
        """Parameter values given to this node (flat, dotted names like 'sync.sync_slop_s')."""

    def now_ns(self) -> int:
        """The runtime's clock in ns (sim time when replaying)."""

    @property
    def logger(self) -> logging.Logger:
        """Logger named after the node."""


def resolve_name(name: str, node_name: str, namespace: str = "/",
                 remappings: dict[str, str] | None = None) -> str:
    """Fully qualified topic/service name (ROS 2 rules) after remapping.

    '~/x' -> '<ns>/<node>/x'; 'x' -> '<ns>/x'; '/x' stays. Remapping keys may be given in
    either the written or the resolved form (like `--ros-args -r rgb/image:=/cam/image`).
    """
    if not name:
        raise ConfigError("empty topic name")
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    remappings = remappings or {}
    if name in remappings:
        name = remappings[name]
    if name.startswith("~"):
        full = f"{ns}/{node_name}{name[1:]}"
    elif name.startswith("/"):
        full = name
    else:
        full = f"{ns}/{name}"
    full = full.replace("//", "/")
    if full in remappings:
        full = remappings[full]
        if not full.startswith("/"):
            full = f"{ns}/{full}"
    return full


def parse_remappings(items: list[str] | None) -> dict[str, str]:
    """{'from': 'to'} of command-line items 'from:=to'."""
    out: dict[str, str] = {}
    for item in items or []:
        src, sep, dst = item.partition(":=")
        if not sep or not src or not dst:
            raise ConfigError(f"remapping {item!r} must look like 'from:=to'")
        out[src] = dst
    return out


def drain_workers(workers: list[Callable[[], bool]], wake: threading.Event,
                  stop: threading.Event) -> None:
    """The worker thread of a live runtime: whenever `wake` is set (or every 0.1 s), run each
    worker until it returns False (no more queued work), until `stop` is set."""
    while not stop.is_set():
        wake.wait(0.1)
        wake.clear()
        for work in workers:
            more = True
            while more and not stop.is_set():
                more = work()
