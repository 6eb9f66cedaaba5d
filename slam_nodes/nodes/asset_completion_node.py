"""asset_completion_node: whole 3D assets from partial observations, written once for every runtime.

Interface (DESIGN.md section 5, issue 8):
  inputs   points (sensor_msgs/PointCloud2, any sensor frame), detections
           (vision_msgs/Detection3DArray, when inputs.detections) - else class-agnostic
           proposals on the accumulated map; the sensor pose from /tf + /tf_static
           (frames.world_frame <- cloud frame at the cloud stamp) or from a PoseStamped topic
           (inputs.pose_topic, T_world_<inputs.pose_frame>, chained through /tf_static);
  outputs  ~/assets (visualization_msgs/MarkerArray, transient-local: one TRIANGLE_LIST per
           completed asset in world_frame, stamped with the latest cloud used), one Gazebo
           model folder per asset under outputs.output_dir (+ assets.json), /diagnostics
           (inputs, objects tracked, assets completed, fallbacks by reason, skipped messages);
  services ~/complete (std_srvs/Trigger): schedule a completion of every changed object.
Completion runs in the worker when requested by the timer (completion.period_s > 0), the
service, or `shutdown()` (end of a replay, node shutdown). Callbacks only convert and enqueue
(STYLE.md point 10); the worker transforms clouds to the world frame, accumulates per-object
points (ObjectAccumulator) and completes (AssetCompleter). An object is completed again only
after gaining completion.min_new_points points.

Threads: live runtimes call callbacks/timers/services from one thread and `process()` from
another; node state is guarded by `_lock`, completion by `_complete_lock` (held without
`_lock`, so callbacks keep enqueueing while an object completes).
"""

from __future__ import annotations

import collections
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam_nodes.errors import ConfigError, SlamNodesError
from slam_nodes.msgs.stamps import stamp_to_ns
from slam_nodes.nodes import diagnostics as diag
from slam_nodes.nodes.asset_config import NODE_NAME, AssetNodeConfig
from slam_nodes.runtime.interface import (
    DEFAULT_QOS,
    LATCHED_QOS,
    TF_QOS,
    NodeRuntime,
    ServiceResponse,
    sensor_qos_from_name,
)

NS = 1_000_000_000
POINTS, DETECTIONS = "points", "detections"
TF_CACHE_NS = 60 * NS  # moving TF edges kept this long (static ones always)


@dataclass
class _WorldScan:
    """A cloud in the world frame: points [N,3] metres, sensor origin [3], colours or None."""

    stamp_ns: int
    points: np.ndarray
    origin: np.ndarray
    colors: np.ndarray | None


class AssetCompletionNode:
    """Node logic; construct with a runtime and a validated config, then let the runtime spin.

    `completer`: an AssetCompleter (built from config.completion when None).
    """

    def __init__(self, runtime: NodeRuntime, config: AssetNodeConfig, completer=None) -> None:
        from slam_nodes.assets.observations import ObjectAccumulator
        from slam_nodes.msgs.geometry import TfBuffer

        self.rt, self.cfg, self.log = runtime, config, runtime.logger
        self.completer = completer if completer is not None else _build_completer(config)
        o = config.objects
        self._make_accumulator = lambda: ObjectAccumulator(
            o.box_margin, o.assoc_radius_m, o.max_points_per_object, o.floor_band_m,
            seed=config.completion.seed)
        self.accumulator = self._make_accumulator()
        self.tf = TfBuffer(tolerance_ns=0, cache_ns=TF_CACHE_NS)
        self.monitor = diag.InputMonitor(self.log)
        self.rng = np.random.default_rng(config.completion.seed)
        self.queue: collections.deque = collections.deque()  # (CloudScan, arrival ns)
        self.poses: list[tuple[int, np.ndarray]] = []  # pose-topic samples, sorted by stamp
        self.detections: list[tuple[int, str, list]] = []  # (stamp, frame, boxes in that frame)
        self.map_scans: collections.deque[_WorldScan] = collections.deque()
        self.map_points = 0
        self.assets: dict[str, object] = {}  # object id -> CompletedAsset
        self.completed_points: dict[str, int] = {}  # object id -> points at its completion
        self.folders: dict[str, Path] = {}
        self.fallbacks: collections.Counter = collections.Counter()
        self.export_failures = 0
        self.completions_run = 0
        self.objects_proposed = 0  # proposals at the last completion (without detections)
        self.scans_used = 0
        self.scans_seen = 0
        self.last_stamp_ns = 0
        self.last_completion_s = 0.0
        self._requested = False
        self._lock = threading.RLock()
        self._complete_lock = threading.Lock()
        self._declare_interface()

    # ------------------------------------------------------------------ set-up
    def _declare_interface(self) -> None:
        rt, cfg = self.rt, self.cfg
        sensor = sensor_qos_from_name(cfg.inputs.sensor_qos)
        self._sub(POINTS, "sensor_msgs/msg/PointCloud2", self._on_points, sensor)
        if cfg.inputs.detections:
            self._sub(DETECTIONS, "vision_msgs/msg/Detection3DArray", self._on_detections,
                      DEFAULT_QOS)
        if cfg.inputs.pose_topic:
            self._sub(cfg.inputs.pose_topic, "geometry_msgs/msg/PoseStamped", self._on_pose,
                      DEFAULT_QOS)
        else:
            rt.subscribe("/tf", "tf2_msgs/msg/TFMessage", self._on_tf(False), TF_QOS)
        rt.subscribe("/tf_static", "tf2_msgs/msg/TFMessage", self._on_tf(True), LATCHED_QOS)
        self.pub_assets = rt.publisher("~/assets", "visualization_msgs/msg/MarkerArray",
                                       LATCHED_QOS)
        self.pub_diag = rt.publisher("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray",
                                     DEFAULT_QOS)
        if cfg.completion.period_s > 0:
            rt.create_timer(int(cfg.completion.period_s * NS), self._request)
        rt.create_timer(int(cfg.outputs.diagnostics_period_s * NS), self._on_diag_timer)
        rt.create_service("~/complete", "std_srvs/srv/Trigger", self._srv_complete)
        rt.create_worker(self.process)
        rt.set_incompatible_handler(
            lambda topic, reason: self.monitor.skipped(topic, None,
                                                       f"incompatible publisher: {reason}"))

    def _sub(self, topic: str, typename: str, callback, qos) -> None:
        self.monitor.watch(topic)
        self.rt.subscribe(topic, typename, callback, qos)

    # ------------------------------------------------------------------ callbacks (cheap)
    def _arrived(self, topic: str, msg) -> int:
        now = self.rt.now_ns()
        with self._lock:
            self.monitor.received(topic, now)
        return stamp_to_ns(msg.header.stamp)

    def _on_points(self, msg) -> None:
        from slam_nodes.assets.offline import cloud_scan_from_msg

        stamp = self._arrived(POINTS, msg)
        with self._lock:
            self.scans_seen += 1
            if (self.scans_seen - 1) % self.cfg.inputs.scan_stride:
                return
        try:
            scan = cloud_scan_from_msg(msg)
        except (SlamNodesError, ValueError) as err:
            self.monitor.skipped(POINTS, stamp, f"conversion error: {err}")
            return
        n = self.cfg.inputs.max_points_per_scan
        if len(scan.points) > n:
            keep = np.sort(self.rng.choice(len(scan.points), n, replace=False))
            scan.points = scan.points[keep]
            scan.colors = None if scan.colors is None else scan.colors[keep]
        with self._lock:
            if len(self.queue) >= self.cfg.inputs.queue_size:
                old, _ = self.queue.popleft()
                self.monitor.skipped(POINTS, old.stamp_ns, "queue full (node slower than the "
                                     "input rate)")
            self.queue.append((scan, self.rt.now_ns()))

    def _on_detections(self, msg) -> None:
        from slam_nodes.assets.observations import detections_from_msg

        stamp = self._arrived(DETECTIONS, msg)
        try:
            boxes = detections_from_msg(msg)  # in the header frame; to world in the worker
        except (SlamNodesError, ValueError, AttributeError) as err:
            self.monitor.skipped(DETECTIONS, stamp, f"conversion error: {err}")
            return
        with self._lock:
            self.detections.append((stamp, msg.header.frame_id, boxes))
            self.detections.sort(key=lambda d: d[0])
            del self.detections[:-100]

    def _on_pose(self, msg) -> None:
        from slam_nodes.msgs.geometry import pose_stamped_from_msg

        topic = self.cfg.inputs.pose_topic
        stamp = self._arrived(topic, msg)
        try:
            _, frame, T = pose_stamped_from_msg(msg)
        except (SlamNodesError, ValueError) as err:
            self.monitor.skipped(topic, stamp, f"bad pose: {err}")
            return
        if frame and frame != self.cfg.frames.world_frame:
            self.monitor.skipped(topic, stamp, f"wrong frame: pose in {frame!r}, expected "
                                 f"frames.world_frame {self.cfg.frames.world_frame!r}")
            return
        with self._lock:
            if self.poses and stamp <= self.poses[-1][0]:
                self.poses = [p for p in self.poses if p[0] != stamp]
            self.poses.append((stamp, T))
            self.poses.sort(key=lambda p: p[0])
            del self.poses[:-10000]

    def _on_tf(self, static: bool):
        topic = "/tf_static" if static else "/tf"

        def callback(msg) -> None:
            try:
                with self._lock:
                    self.tf.add_msg(msg, static=static)
            except (SlamNodesError, ValueError) as err:
                self.monitor.skipped(topic, None, f"bad transform: {err}")

        return callback

    def _request(self) -> None:
        with self._lock:
            self._requested = True

    def _srv_complete(self, _request) -> ServiceResponse:
        with self._lock:
            self._requested = True
            n = (f"{len(self.accumulator.tracks)} objects tracked" if self.cfg.inputs.detections
                 else f"{len(self.map_scans)} clouds for proposals")
        return ServiceResponse(True, f"completion scheduled ({n}, {len(self.assets)} assets "
                               "so far)")

    # ------------------------------------------------------------------ worker (heavy)
    def process(self) -> bool:
        """Use one queued cloud, or run a requested completion; True while work remains."""
        with self._lock:
            if self.queue and self._use_head(drain=False):
                return True
            # queue empty, or its head waits for a pose: a requested completion runs meanwhile
            requested, self._requested = self._requested, False
        if requested:
            self.complete()
        return False

    def _use_head(self, drain: bool) -> bool:
        """Accumulate the oldest queued cloud (lock held); False when its pose is not there yet
        (kept queued unless `drain` or it waited longer than inputs.pose_wait_s since it arrived,
        by the runtime's clock)."""
        scan, arrived_ns = self.queue[0]
        T, reason = self._world_from_sensor(scan.frame_id, scan.stamp_ns, lenient=False)
        if T is None and reason == "wait":
            waited = self.rt.now_ns() - arrived_ns
            if not drain and waited < self.cfg.inputs.pose_wait_s * NS:
                return False
            T, reason = self._world_from_sensor(scan.frame_id, scan.stamp_ns, lenient=True)
        if T is None:
            self.queue.popleft()
            self.monitor.skipped(POINTS, scan.stamp_ns, "no pose: " + (
                f"none within inputs.pose_wait_s={self.cfg.inputs.pose_wait_s:g} s"
                if reason == "wait" else reason))
            return True
        self.queue.popleft()
        from slam_nodes.types.pose import transform_points

        ws = _WorldScan(scan.stamp_ns, transform_points(T, scan.points), T[:3, 3].copy(),
                        scan.colors)
        self.scans_used += 1
        self.last_stamp_ns = max(self.last_stamp_ns, scan.stamp_ns)
        if self.cfg.inputs.detections:
            boxes = self._boxes_at(scan.stamp_ns)
            if boxes:
                self.accumulator.add(ws.points, boxes, ws.origin, ws.colors)
        else:  # proposals are made on the map kept so far (bounded, oldest clouds dropped)
            self.map_scans.append(ws)
            self.map_points += len(ws.points)
            while self.map_points > self.cfg.objects.max_map_points and len(self.map_scans) > 1:
                self.map_points -= len(self.map_scans.popleft().points)
        return True

    def _world_from_sensor(self, frame: str, stamp: int,
                           lenient: bool) -> tuple[np.ndarray | None, str]:
        """(T_world_sensor, '') or (None, 'wait' | why it cannot be found).

        Strict (lenient False): TF must span `stamp` (interpolated, like tf2 refusing to
        extrapolate); the pose topic must have a sample at or after `stamp`. Lenient (after
        inputs.pose_wait_s, or at shutdown): TF may clamp and the nearest pose sample may be
        used, both within inputs.pose_tolerance_s."""
        from slam_nodes.msgs.geometry import TransformLookupError

        inp, world = self.cfg.inputs, self.cfg.frames.world_frame
        tol_ns = int(inp.pose_tolerance_s * NS)
        if not inp.pose_topic:
            self.tf.tolerance_ns = tol_ns if lenient else 0
            try:
                return self.tf.lookup(world, frame, stamp), ""
            except TransformLookupError as err:
                return None, "wait" if not lenient else f"no TF: {err}"
            finally:
                self.tf.tolerance_ns = 0
        if not self.poses or (not lenient and self.poses[-1][0] < stamp):
            return None, "wait"
        stamps = np.fromiter((p[0] for p in self.poses), np.int64, len(self.poses))
        i = int(np.argmin(np.abs(stamps - stamp)))
        gap = abs(int(stamps[i]) - stamp)
        if gap > tol_ns:
            return None, (f"nearest {inp.pose_topic} sample is {gap / 1e6:.1f} ms away "
                          f"(inputs.pose_tolerance_s={inp.pose_tolerance_s:g})")
        if frame == inp.pose_frame:
            return self.poses[i][1], ""
        try:
            return self.poses[i][1] @ self.tf.lookup(inp.pose_frame, frame, stamp), ""
        except TransformLookupError as err:
            return None, f"no /tf_static chain from {inp.pose_frame!r} to {frame!r}: {err}"

    def _boxes_at(self, stamp: int) -> list:
        """The latest detections at or before `stamp`, in the world frame."""
        from slam_nodes.assets.observations import Detection3D
        from slam_nodes.msgs.geometry import TransformLookupError

        older = [d for d in self.detections if d[0] <= stamp]
        if not older:
            return []
        det_stamp, frame, boxes = older[-1]
        world = self.cfg.frames.world_frame
        T = np.eye(4)
        if frame and frame != world:
            try:
                T = self.tf.lookup(world, frame, det_stamp)
            except TransformLookupError as err:
                self.monitor.skipped(DETECTIONS, det_stamp, f"no transform: {frame!r} to "
                                     f"{world!r}: {err}")
                return []
        return [Detection3D(T @ b.T_world_object, b.size_m, b.class_name, b.score,
                            b.object_id, b.stamp_ns) for b in boxes]

    # ------------------------------------------------------------------ completion
    def observations(self) -> list:
        """Current per-object observations (proposal mode: proposals on the map kept so far)."""
        with self._lock:
            if self.cfg.inputs.detections:
                return self.accumulator.observations()
            scans = list(self.map_scans)
        if not scans:
            return []
        from slam_nodes.assets.observations import propose_objects

        p = self.cfg.proposals
        allpts = np.concatenate([s.points for s in scans])
        boxes = propose_objects(allpts, p.distance_threshold_m, p.min_height_m, p.cluster_eps_m,
                                p.min_cluster_points, seed=self.cfg.completion.seed,
                                stamp_ns=scans[-1].stamp_ns)
        acc = self._make_accumulator()
        for s in scans:
            acc.add(s.points, boxes, s.origin, s.colors)
        return acc.observations()

    def complete(self, force: bool = False) -> list[str]:
        """Complete and export every object that gained completion.min_new_points points since
        its last completion (all of them when `force`); publish ~/assets; return the ids done."""
        import time

        from slam_nodes.assets.export import export_asset
        from slam_nodes.errors import ConversionError

        with self._complete_lock:
            t0 = time.perf_counter()
            observations = self.observations()
            done = []
            for obs in observations:
                last = self.completed_points.get(obs.object_id)
                if (not force and last is not None
                        and len(obs.points_m) - last < self.cfg.completion.min_new_points):
                    continue
                asset = self.completer.complete(obs)
                if asset.metadata.get("method") != "prior":
                    reason = str(asset.metadata.get("fallback_reason") or "unknown")
                    self.fallbacks[_reason_key(reason)] += 1
                    self.log.info("asset %s: %s fallback: %s", obs.object_id,
                                  asset.metadata.get("method"), reason)
                try:
                    exported = export_asset(asset, self.cfg.outputs.output_dir,
                                            splat=self.cfg.outputs.splat,
                                            splat_steps=self.cfg.outputs.splat_steps)
                except SlamNodesError as err:
                    self.export_failures += 1
                    self.log.error("asset %s: export failed: %s", obs.object_id, err)
                    exported = None
                with self._lock:
                    self.assets[obs.object_id] = asset
                    self.completed_points[obs.object_id] = len(obs.points_m)
                    if exported is not None:
                        self.folders[obs.object_id] = exported.folder
                done.append(obs.object_id)
            with self._lock:
                gone = set()
                if not self.cfg.inputs.detections:  # proposals are re-made: drop vanished ones
                    gone = set(self.assets) - {o.object_id for o in observations}
                    for key in gone:
                        self.assets.pop(key)
                        self.completed_points.pop(key, None)
                        self.folders.pop(key, None)
                changed = bool(done or gone) or self.completions_run == 0
                self.completions_run += 1
                self.objects_proposed = len(observations)
                self.last_completion_s = time.perf_counter() - t0
                assets = list(self.assets.values())
                stamp = self.last_stamp_ns
            if not changed:
                return done  # ~/assets is latched: nothing new to send
            self._write_summary()
            try:
                self._publish_assets(assets, stamp)
            except ConversionError as err:
                self.log.error("cannot publish ~/assets at %d ns: %s", stamp, err)
        return done

    def _publish_assets(self, assets: list, stamp: int) -> None:
        from slam_nodes.assets.markers import asset_marker
        from slam_nodes.msgs.markers import marker_array

        frame = self.cfg.frames.world_frame
        markers = [asset_marker(a, i, frame, stamp, self.cfg.outputs.marker_max_faces)
                   for i, a in enumerate(assets)]
        self.pub_assets.publish(marker_array(markers, clear_first=True, frame_id=frame,
                                             stamp_ns=stamp))

    def _write_summary(self) -> None:
        out = Path(self.cfg.outputs.output_dir)
        with self._lock:
            rows = [{"object_id": k, "class_name": a.class_name,
                     "method": a.metadata.get("method"),
                     "fallback_reason": a.metadata.get("fallback_reason"),
                     "points": self.completed_points.get(k),
                     "position_m": [float(v) for v in np.asarray(a.T_world_object)[:3, 3]],
                     "box_size_m": [float(v) for v in a.box_size_m],
                     "stamp_ns": int(a.stamp_ns),
                     "folder": str(self.folders[k]) if k in self.folders else None}
                    for k, a in self.assets.items()]
        try:
            out.mkdir(parents=True, exist_ok=True)
            tmp = out / "assets.json.tmp"
            tmp.write_text(json.dumps(rows, indent=2) + "\n")
            tmp.replace(out / "assets.json")
        except OSError as err:
            self.log.error("cannot write %s/assets.json: %s", out, err)

    def shutdown(self) -> list[str]:
        """End of input (replay end, node shutdown): use every queued cloud that has a pose,
        complete what changed, publish ~/assets and diagnostics; return the ids completed."""
        with self._lock:
            while self.queue:
                self._use_head(drain=True)
            self._requested = False
        done = self.complete()
        self._on_diag_timer()
        return done

    # ------------------------------------------------------------------ diagnostics
    def _on_diag_timer(self) -> None:
        with self._lock:
            now = self.rt.now_ns()
            inputs = self.cfg.inputs
            statuses = self.monitor.input_statuses(NODE_NAME, now,
                                                   int(inputs.silent_warning_s * NS),
                                                   self.rt.resolve, inputs.sensor_qos)
            tracked = (len(self.accumulator.tracks) if self.cfg.inputs.detections
                       else self.objects_proposed)
            values = {"objects_tracked": tracked, "assets_completed": len(self.assets),
                      "completions_run": self.completions_run, "scans_used": self.scans_used,
                      "queue": len(self.queue), "fallbacks": sum(self.fallbacks.values()),
                      "export_failures": self.export_failures,
                      "last_completion_s": f"{self.last_completion_s:.2f}"}
            values.update({f"fallback: {k}": v for k, v in sorted(self.fallbacks.items())})
            level = diag.WARN if self.export_failures else diag.OK
            message = f"{len(self.assets)} assets in {self.cfg.outputs.output_dir}"
            statuses.append((level, f"{NODE_NAME}: assets", message, values))
            self.pub_diag.publish(diag.diagnostic_array(now, statuses))


def _reason_key(reason: str) -> str:
    """A counter key for a fallback reason: numbers and lists dropped ('only # points')."""
    key = re.sub(r"\[[^\]]*\]", "", reason)
    key = re.sub(r"-?\d+(\.\d+)?", "#", key)
    return " ".join(key.replace(":", " ").split())[:60]


def _build_completer(config: AssetNodeConfig):
    from slam_nodes.assets.completion import AssetCompleter

    c = config.completion
    if c.threads:
        import torch

        torch.set_num_threads(c.threads)
    try:
        return AssetCompleter.from_weights(c.weights or None, num_samples=c.num_samples,
                                           refine_steps=c.refine_steps, mesh_res=c.mesh_res,
                                           min_points=c.min_points, seed=c.seed)
    except SlamNodesError as err:
        raise ConfigError(f"completion.weights: {err}") from err
