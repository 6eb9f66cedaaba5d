"""rclpy adapter: runs node logic as a real ROS 2 node (`ros2 run slam_nodes en_slam_node`).

Thin on purpose. Messages cross as CDR bytes: subscriptions are created with `raw=True` and
decoded by rosbags; publishers publish rosbags-serialised bytes (rclpy accepts serialised
messages), so node logic sees the same rosbags objects as offline. Parameters come from
`--ros-args --params-file config/<set>.yaml` (declared from overrides). Timers use the node
clock, so `use_sim_time: true` follows /clock. One lock serialises callbacks, timers and
services; a worker thread runs the heavy `process()` (the node guards its own state).
"""

from __future__ import annotations

import importlib
import logging
import threading
from typing import Any

from slam_nodes.runtime.interface import (
    Durability,
    QoSProfile,
    Reliability,
    ServiceResponse,
    drain_workers,
)


def _ros_type(typename: str):
    pkg, kind, name = typename.split("/")
    return getattr(importlib.import_module(f"{pkg}.{kind}"), name)


def _ros_qos(qos: QoSProfile):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile as RosQoS, ReliabilityPolicy

    return RosQoS(
        history=HistoryPolicy.KEEP_LAST, depth=qos.depth,
        reliability=(ReliabilityPolicy.RELIABLE if qos.reliability is Reliability.RELIABLE
                     else ReliabilityPolicy.BEST_EFFORT),
        durability=(DurabilityPolicy.TRANSIENT_LOCAL
                    if qos.durability is Durability.TRANSIENT_LOCAL
                    else DurabilityPolicy.VOLATILE))


class _RosLogHandler(logging.Handler):
    def __init__(self, ros_logger) -> None:
        super().__init__()
        self.ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        level = {"DEBUG": "debug", "INFO": "info", "WARNING": "warning"}.get(
            record.levelname, "error")
        getattr(self.ros_logger, level)(record.getMessage())


class _Pub:
    def __init__(self, pub, typename: str) -> None:
        self.pub, self.typename, self.topic = pub, typename, pub.topic_name

    def publish(self, msg: Any) -> None:
        from slam_nodes.msgs.typestore import get_typestore

        self.pub.publish(bytes(get_typestore().serialize_cdr(msg, self.typename)))


class RclpyRuntime:
    """NodeRuntime on an rclpy Node."""

    def __init__(self, node) -> None:
        self.node = node
        self.node_name = node.get_name()
        self.namespace = node.get_namespace()
        self.lock = threading.RLock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._workers: list = []
        self._incompatible = None
        self._logger = logging.getLogger(f"slam_nodes.{self.node_name}")
        self._logger.addHandler(_RosLogHandler(node.get_logger()))
        self._logger.propagate = False

    @property
    def logger(self) -> logging.Logger:
        return self._logger

    def resolve(self, name: str) -> str:
        return self.node.resolve_topic_name(name)

    def _locked(self, fn):
        def call(*args):
            with self.lock:
                fn(*args)
            self._wake.set()
        return call

    def subscribe(self, topic, typename, callback, qos) -> None:
        from rclpy.event_handler import SubscriptionEventCallbacks

        from slam_nodes.msgs.typestore import get_typestore

        store = get_typestore()
        events = SubscriptionEventCallbacks(incompatible_qos=lambda event: self._report(
            topic, f"QoS mismatch on {self.resolve(topic)}: {event.last_policy_kind}"))
        self.node.create_subscription(
            _ros_type(typename), topic,
            self._locked(lambda raw: callback(store.deserialize_cdr(raw, typename))),
            _ros_qos(qos), raw=True, event_callbacks=events)

    def _report(self, topic: str, reason: str) -> None:
        self._logger.warning(reason)
        if self._incompatible is not None:
            with self.lock:
                self._incompatible(self.resolve(topic), reason)

    def publisher(self, topic, typename, qos) -> _Pub:
        return _Pub(self.node.create_publisher(_ros_type(typename), topic, _ros_qos(qos)),
                    typename)

    def create_timer(self, period_ns: int, callback) -> None:
        self.node.create_timer(period_ns / 1e9, self._locked(callback))

    def create_worker(self, process) -> None:
        self._workers.append(process)

    def create_service(self, name, srv_type, handler) -> None:
        def serve(request, response):
            with self.lock:
                result: ServiceResponse = handler(
                    request.data if srv_type.endswith("SetBool") else None)
            response.success, response.message = result.success, result.message
            return response

        self.node.create_service(_ros_type(srv_type), name, serve)

    def set_incompatible_handler(self, handler) -> None:
        self._incompatible = handler

    def parameter_overrides(self) -> dict[str, Any]:
        return {name: p.value for name, p in self.node.get_parameters_by_prefix("").items()}

    def now_ns(self) -> int:
        return self.node.get_clock().now().nanoseconds

    def worker_loop(self) -> None:
        drain_workers(self._workers, self._wake, self._stop)

    def stop(self) -> None:
        self._stop.set()


def _spin(node_name: str, build_logic, args: list[str] | None) -> int:
    """Run node logic `build_logic(runtime)` in an rclpy node until Ctrl-C or shutdown.

    The logic's `shutdown()` (when it has one) runs after spinning stops, so a node can flush
    its last outputs (e.g. the asset node's final completion).
    """
    import rclpy
    from rclpy.executors import ExternalShutdownException

    rclpy.init(args=args)
    node = rclpy.create_node(node_name, automatically_declare_parameters_from_overrides=True)
    runtime = RclpyRuntime(node)
    worker = threading.Thread(target=runtime.worker_loop, daemon=True)
    logic = None
    try:
        logic = build_logic(runtime)
        worker.start()
        rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        runtime.stop()
        if worker.is_alive():
            worker.join(timeout=5.0)
        if logic is not None and hasattr(logic, "shutdown"):
            logic.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def run_node(name: str, args: list[str] | None = None) -> int:
    """Run the package's node `name` (slam_nodes.nodes.registry) in rclpy, its params from
    the node's ROS parameters (`--ros-args --params-file FILE -p key:=value`)."""
    from slam_nodes.nodes.registry import get_node

    spec = get_node(name)
    return _spin(spec.name, lambda rt: spec.build(
        rt, spec.config_from_params(rt.parameter_overrides())), args)


def main(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run slam_nodes en_slam_node`; clean shutdown on Ctrl-C."""
    return run_node("en_slam_node", args)


def main_assets(args: list[str] | None = None) -> int:
    """Entry point of `ros2 run slam_nodes asset_completion_node`."""
    return run_node("asset_completion_node", args)
