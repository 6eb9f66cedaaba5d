"""en_slam_node: the EN-SLAM ROS 2 node's logic, written once for every runtime.

Interface (DESIGN.md section 5):
  inputs  rgb/image, rgb/camera_info, depth/image, depth/camera_info (sensor_msgs), events
          (EventPacket or dvs EventArray), points (PointCloud2) - which ones by `inputs.*`;
  outputs ~/odometry (nav_msgs/Odometry, odom frame), ~/pose (PoseStamped, map frame),
          ~/path (nav_msgs/Path, transient-local), /tf (map->odom, odom->body, each switchable,
          stamped `transform_tolerance_s` ahead of the latest pose, on a timer), ~/mesh
          (MarkerArray of changed blocks, rate-limited, triangle budget), ~/map_cloud
          (PointCloud2, transient-local), ~/render (Image, optional), /diagnostics;
  services ~/reset, ~/save_map (std_srvs/Trigger), ~/set_paused (std_srvs/SetBool).

Callbacks only convert and enqueue (STYLE.md point 10); `process()` does the heavy work and
runs in the runtime's worker. Every output carries the input's stamp, never the wall clock.
Threads: live runtimes call callbacks/timers from one thread and `process()` from another; the
node's state is guarded by `_lock` and the engine by `_engine_lock`, which the engine step
holds without blocking callbacks (the mesh timer skips a round while the engine is busy).

Frames are driven by camera images, or, in a LiDAR-only set (`inputs.points` without rgb or
depth), by each PointCloud2 sweep. The engine reports the rig pose T_world_rig with world = the
rig frame at the first frame; the rig is the camera optical frame, or the LiDAR frame in a
LiDAR-only set. With T_body_rig the configured extrinsic (frames.body_to_camera or
frames.body_to_lidar), the map frame is the body frame at the first frame:
T_map_body(t) = T_body_rig @ T_world_rig(t) @ inv(T_body_rig).
"""

from __future__ import annotations

import bisect
import collections
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from slam_nodes.errors import ConversionError, SlamNodesError
from slam_nodes.msgs.markers import marker_array
from slam_nodes.msgs.stamps import stamp_to_ns
from slam_nodes.nodes import diagnostics as diag
from slam_nodes.nodes.config import SlamNodeConfig
from slam_nodes.nodes.engine import SlamEngine, build_engine
from slam_nodes.nodes.mesh_blocks import MeshBlockPublisher
from slam_nodes.runtime.interface import (
    DEFAULT_QOS,
    LATCHED_QOS,
    TF_QOS,
    NodeRuntime,
    ServiceResponse,
    sensor_qos_from_name,
)
from slam_nodes.sync.approx import ApproximateTimePairer
from slam_nodes.types import LidarScan, RGBDFrame, Trajectory, invert_pose

NODE_NAME = "en_slam_node"
NS = 1_000_000_000
TOPIC_TYPES = {
    "rgb/image": "sensor_msgs/msg/Image",
    "rgb/camera_info": "sensor_msgs/msg/CameraInfo",
    "depth/image": "sensor_msgs/msg/Image",
    "depth/camera_info": "sensor_msgs/msg/CameraInfo",
    "points": "sensor_msgs/msg/PointCloud2",
}


@dataclass
class _Pending:
    """A frame to process: RGB and/or depth, a LiDAR-only sweep, or neither (an events-only
    step, see inputs.event_only_after_s)."""

    stamp_ns: int
    rgb: np.ndarray | None
    depth: np.ndarray | None
    scan: LidarScan | None = None  # a LiDAR-only frame


class EnSlamNode:
    """Node logic; construct with a runtime and a validated config, then let the runtime spin."""

    def __init__(self, runtime: NodeRuntime, config: SlamNodeConfig,
                 engine: SlamEngine | None = None) -> None:
        self.rt = runtime
        self.cfg = config
        self.log = runtime.logger
        config.validate()  # cross-section rules too, for configs built without from_dict
        self.last_scan = None
        self.engine = engine if engine is not None else build_engine(
            config.engine, events=config.inputs.events)
        T_body_cam, T_body_lidar = config.frames.T_body("camera"), config.frames.T_body("lidar")
        self.T_body_rig = T_body_lidar if config.lidar_only else T_body_cam
        self.T_rig_body = invert_pose(self.T_body_rig)
        self.T_cam_lidar = invert_pose(T_body_cam) @ T_body_lidar  # camera + LiDAR sets
        self.monitor = diag.InputMonitor(self.log)
        self.paused = False
        self.cameras: dict[str, Any] = {}
        self.events: list = []
        self.pairer = ApproximateTimePairer(("rgb", "depth"), int(config.sync.sync_slop_s * NS),
                                            config.sync.queue_size)
        self.queue: collections.deque[_Pending] = collections.deque()
        self._lock = threading.RLock()
        self._engine_lock = threading.Lock()
        self.blocks = MeshBlockPublisher(config.mesh.block_size_m, config.mesh.triangle_budget)
        self._reset_state()
        self._declare_interface()

    # ------------------------------------------------------------------ set-up
    def _reset_state(self) -> None:
        self.cam_stamps: list[int] = []
        self.cam_poses: list[np.ndarray] = []
        self.body_poses: list[np.ndarray] = []
        self.frames_done = 0
        self.tracking_lost = 0
        self.last_step = None
        self.last_frame_stamp: int | None = None
        self.last_queued_stamp: int | None = None
        self.mesh_dirty = False
        self._last_mesh = None
        self.body_frame = self.cfg.frames.body_frame

    def _declare_interface(self) -> None:
        rt, cfg = self.rt, self.cfg
        sensor = sensor_qos_from_name(cfg.inputs.sensor_qos)
        inputs = cfg.inputs
        if inputs.rgb:
            self._sub("rgb/image", self._on_rgb, sensor)
            self._sub("rgb/camera_info", self._on_info("rgb"), sensor)
        if inputs.depth:
            self._sub("depth/image", self._on_depth, sensor)
            self._sub("depth/camera_info", self._on_info("depth"), sensor)
        if inputs.events:
            from slam_nodes.events.decoder import make_decoder

            self._event_decoder = make_decoder(inputs.event_msg_type, rt.resolve("events"))
            self._sub("events", self._on_events, sensor, inputs.event_msg_type)
        if inputs.points:
            self._sub("points", self._on_points, sensor)
        self.pub_odom = rt.publisher("~/odometry", "nav_msgs/msg/Odometry", DEFAULT_QOS)
        self.pub_pose = rt.publisher("~/pose", "geometry_msgs/msg/PoseStamped", DEFAULT_QOS)
        self.pub_path = rt.publisher("~/path", "nav_msgs/msg/Path", LATCHED_QOS)
        self.pub_tf = rt.publisher("/tf", "tf2_msgs/msg/TFMessage", TF_QOS)
        self.pub_diag = rt.publisher("/diagnostics", "diagnostic_msgs/msg/DiagnosticArray",
                                     DEFAULT_QOS)
        if cfg.mesh.enabled:
            self.pub_mesh = rt.publisher("~/mesh", "visualization_msgs/msg/MarkerArray",
                                         DEFAULT_QOS)
            self.pub_cloud = rt.publisher("~/map_cloud", "sensor_msgs/msg/PointCloud2",
                                          LATCHED_QOS)
            rt.create_timer(int(cfg.mesh.publish_period_s * NS), self._on_mesh_timer)
        if cfg.outputs.render:
            self.pub_render = rt.publisher("~/render", "sensor_msgs/msg/Image", DEFAULT_QOS)
            rt.create_timer(int(cfg.outputs.render_period_s * NS), self._on_render_timer)
        rt.create_timer(int(NS / cfg.frames.tf_rate_hz), self._on_tf_timer)
        rt.create_timer(int(cfg.outputs.diagnostics_period_s * NS), self._on_diag_timer)
        rt.create_service("~/reset", "std_srvs/srv/Trigger", self._srv_reset)
        rt.create_service("~/save_map", "std_srvs/srv/Trigger", self._srv_save_map)
        rt.create_service("~/set_paused", "std_srvs/srv/SetBool", self._srv_set_paused)
        rt.create_worker(self.process)
        rt.set_incompatible_handler(self._on_incompatible)

    def _on_incompatible(self, topic: str, reason: str) -> None:
        for name in self.monitor.topics:
            if self.rt.resolve(name) == topic:
                self.monitor.skipped(name, None, f"incompatible publisher: {reason}")
                return
        self.monitor.skipped(topic, None, f"incompatible publisher: {reason}")

    def _sub(self, topic: str, callback, qos, typename: str | None = None) -> None:
        self.monitor.watch(topic)
        self.rt.subscribe(topic, typename or TOPIC_TYPES[topic], callback, qos)

    # ------------------------------------------------------------------ callbacks (cheap)
    def _on_rgb(self, msg) -> None:
        from slam_nodes.msgs.image import rgb_from_msg

        stamp = self._arrived("rgb/image", msg)
        try:
            rgb = rgb_from_msg(msg)
        except ConversionError as err:
            self.monitor.skipped("rgb/image", stamp, f"conversion error: {err}")
            return
        if not self.cfg.inputs.depth:
            self._enqueue(_Pending(stamp, rgb, None))
            return
        self._pair("rgb", stamp, rgb)

    def _on_depth(self, msg) -> None:
        from slam_nodes.msgs.image import depth_from_msg

        stamp = self._arrived("depth/image", msg)
        try:
            depth = depth_from_msg(msg)
        except ConversionError as err:
            self.monitor.skipped("depth/image", stamp, f"conversion error: {err}")
            return
        if not self.cfg.inputs.rgb:
            self._enqueue(_Pending(stamp, None, depth))
            return
        self._pair("depth", stamp, depth)

    def _on_info(self, which: str):
        topic = f"{which}/camera_info"

        def callback(msg) -> None:
            from slam_nodes.msgs.camera_info import camera_from_msg

            stamp = self._arrived(topic, msg)
            try:
                camera = camera_from_msg(msg)
                with self._lock:
                    self.cameras[which] = camera
            except (ConversionError, ValueError) as err:
                self.monitor.skipped(topic, stamp, f"bad camera_info: {err}")

        return callback

    def _on_events(self, msg) -> None:
        stamp = self._arrived("events", msg)
        try:
            batch, _triggers = self._event_decoder.decode(msg)
        except SlamNodesError as err:
            self.monitor.skipped("events", stamp, f"decode error: {err}")
            return
        if len(batch):
            with self._lock:
                self.events.append(batch)
                del self.events[:-1000]  # bounded when no frames consume them
                self._bridge_dropout(int(batch.t.max()))

    def _bridge_dropout(self, t_ns: int) -> None:
        """Events have reached event time t_ns: queue events-only steps (EN-SLAM engine only,
        not before the first frame) every `after` = inputs.event_only_after_s after the last
        queued frame, each once the events are `after` past it. The wait lets a camera frame
        stamped before the step arrive up to `after` behind the events and still be tracked
        (a step queued at the newest event's stamp had dropped, as out of order, the next
        frame of a 30 Hz stream arriving 40 ms late: tests/test_nodes_engine.py)."""
        after_ns = int(self.cfg.inputs.event_only_after_s * NS)
        if after_ns <= 0 or self.cfg.engine.name != "en_slam":
            return
        while self.last_queued_stamp is not None and t_ns - self.last_queued_stamp >= 2 * after_ns:
            self._enqueue(_Pending(self.last_queued_stamp + after_ns, None, None))

    def _on_points(self, msg) -> None:
        from slam_nodes.msgs.pointcloud import scan_from_msg

        stamp = self._arrived("points", msg)
        try:
            scan = scan_from_msg(msg)
        except ConversionError as err:
            self.monitor.skipped("points", stamp, f"conversion error: {err}")
            return
        if self.cfg.lidar_only:
            self._enqueue(_Pending(stamp, None, None, scan))
            return
        with self._lock:
            self.last_scan = scan

    def _arrived(self, topic: str, msg) -> int:
        now = self.rt.now_ns()
        with self._lock:
            self.monitor.received(topic, now)
        return stamp_to_ns(msg.header.stamp)

    def _pair(self, stream: str, stamp: int, item) -> None:
        with self._lock:
            self._pair_locked(stream, stamp, item)

    def _pair_locked(self, stream: str, stamp: int, item) -> None:
        pairs, drops = self.pairer.push(stream, stamp, item)
        for d in drops:
            self.monitor.skipped(f"{d.stream}/image", d.stamp_ns, f"sync: {d.reason}")
        for p in pairs:
            self._enqueue(_Pending(p.stamp_b_ns, p.a, p.b))  # depth stamp is the frame stamp

    def _enqueue(self, item: _Pending) -> None:
        with self._lock:
            if len(self.queue) >= self.cfg.sync.queue_size:
                old = self.queue.popleft()
                self.monitor.skipped("frames", old.stamp_ns, "processing queue full (node "
                                     "slower than the input rate)")
            # in stamp order: a late frame goes before a queued events-only step
            bisect.insort(self.queue, item, key=lambda p: p.stamp_ns)
            self.last_queued_stamp = max(item.stamp_ns, self.last_queued_stamp or item.stamp_ns)

    # ------------------------------------------------------------------ worker (heavy)
    def process(self) -> bool:
        """Process one queued frame; True when more are waiting."""
        with self._lock:
            if not self.queue:
                return False
            head = self.queue[0]
            if head.scan is None and _camera_of(head, self.cameras) not in self.cameras \
                    and len(self.queue) == 1:
                return False  # its CameraInfo may follow it; skipped once a newer frame waits
            item = self.queue.popleft()
            prepared = self._prepare(item)
        if prepared is not None:
            frame, frame_id = prepared
            try:
                with self._engine_lock:
                    result = self.engine.step(frame)
            except (SlamNodesError, ValueError, RuntimeError) as err:
                with self._lock:
                    self.monitor.skipped("frames", item.stamp_ns, f"engine error: {err}")
            else:
                with self._lock:
                    if getattr(result, "skipped", False) or result.T_world_cam is None:
                        self.monitor.skipped("frames", item.stamp_ns, "engine skipped: "
                                             f"{getattr(result, 'reason', '') or 'no pose'}")
                    else:
                        self._accept(item.stamp_ns, frame_id, result)
        with self._lock:
            return bool(self.queue)

    def _prepare(self, item: _Pending):
        """(RGBDFrame or LidarScan, its sensor frame id) to track, or None when the frame is
        skipped (reason counted)."""
        cfg = self.cfg
        if self.paused:
            self.monitor.skipped("frames", item.stamp_ns, "paused (~/set_paused)")
            return None
        if self.last_frame_stamp is not None and item.stamp_ns <= self.last_frame_stamp:
            self.monitor.skipped("frames", item.stamp_ns, "out of order: not after the last "
                                 "processed frame")
            return None
        if (cfg.inputs.max_frame_rate_hz > 0 and self.last_frame_stamp is not None
                and item.stamp_ns - self.last_frame_stamp < NS / cfg.inputs.max_frame_rate_hz):
            self.monitor.skipped("frames", item.stamp_ns, "rate limit: faster than "
                                 f"inputs.max_frame_rate_hz={cfg.inputs.max_frame_rate_hz:g}")
            return None
        if item.scan is not None:
            self.last_frame_stamp = item.stamp_ns
            return item.scan, item.scan.frame_id
        which = _camera_of(item, self.cameras)
        camera = self.cameras.get(which)
        if camera is None:
            self.monitor.skipped("frames", item.stamp_ns, f"no CameraInfo received yet on "
                                 f"{which}/camera_info (is it remapped and published?)")
            return None
        try:
            frame = self._make_frame(item, camera)
        except ValueError as err:
            self.monitor.skipped("frames", item.stamp_ns, f"bad frame: {err}")
            return None
        # claimed now so a later queued frame with an older stamp is rejected
        self.last_frame_stamp = item.stamp_ns
        return frame, camera.frame_id

    def _accept(self, stamp_ns: int, frame_id: str, result) -> None:
        self.frames_done += 1
        self.last_step = result
        if not result.tracking_ok:
            self.tracking_lost += 1
        if not self.body_frame:
            self.body_frame = frame_id
        T_world_rig = np.asarray(result.T_world_cam, dtype=np.float64)
        self.cam_stamps.append(stamp_ns)
        self.cam_poses.append(T_world_rig)
        self.body_poses.append(self.T_body_rig @ T_world_rig @ self.T_rig_body)
        self.mesh_dirty = True
        self._publish_pose_outputs(stamp_ns)

    def _make_frame(self, item: _Pending, camera) -> RGBDFrame:
        rgb, depth = item.rgb, item.depth
        shape = (camera.height, camera.width)
        if depth is not None:
            if depth.shape != shape:
                raise ValueError(f"depth image is {depth.shape[1]}x{depth.shape[0]} but "
                                 f"depth/camera_info says {camera.width}x{camera.height}")
            depth = np.where(depth > self.cfg.inputs.max_depth_m, 0, depth).astype(np.float32)
        if rgb is not None and rgb.shape[:2] != shape:
            import cv2

            rgb = cv2.resize(rgb, (camera.width, camera.height), interpolation=cv2.INTER_AREA)
        frame = RGBDFrame(item.stamp_ns, camera, rgb, depth)
        if self.last_scan is not None:
            # the LiDAR sweep (LidarScan, sensor frame) that arrived since the previous frame;
            # handed over once, so a 10 Hz LiDAR is not reused by three 30 Hz frames
            frame.extra["scan"] = self.last_scan
            frame.extra["T_rig_lidar"] = self.T_cam_lidar
            self.last_scan = None
        if self.events:
            from slam_nodes.types import EventBatch

            frame.extra["events"] = EventBatch.concatenate(self.events).sorted()
            self.events = []
        return frame

    # ------------------------------------------------------------------ outputs
    def _publish_pose_outputs(self, stamp_ns: int) -> None:
        from slam_nodes.msgs.geometry import (
            OdometrySample,
            odometry_to_msg,
            path_to_msg,
            pose_stamped_to_msg,
        )

        f = self.cfg.frames
        T_map_body = self.body_poses[-1]
        self.pub_pose.publish(pose_stamped_to_msg(T_map_body, stamp_ns, f.map_frame))
        odom = OdometrySample(stamp_ns, f.odom_frame if f.publish_odom_body else f.map_frame,
                              self.body_frame, T_map_body)
        if len(self.body_poses) > 1:
            dt = (stamp_ns - self.cam_stamps[-2]) / NS
            delta = invert_pose(self.body_poses[-2]) @ T_map_body
            odom.linear_velocity = delta[:3, 3] / dt
        self.pub_odom.publish(odometry_to_msg(odom))
        n = self.cfg.outputs.path_max_poses
        traj = Trajectory(np.asarray(self.cam_stamps[-n:]), np.asarray(self.body_poses[-n:]))
        self.pub_path.publish(path_to_msg(traj, f.map_frame, stamp_ns))

    def _on_tf_timer(self) -> None:
        with self._lock:
            self._tf_locked()

    def _tf_locked(self) -> None:
        from slam_nodes.msgs.geometry import StampedTransform, tf_to_msg

        if not self.body_poses:
            return
        f = self.cfg.frames
        stamp = self.cam_stamps[-1] + int(f.transform_tolerance_s * NS)
        out = []
        if f.publish_odom_body:
            if f.publish_map_odom:
                out.append(StampedTransform(f.map_frame, f.odom_frame, stamp, np.eye(4)))
            out.append(StampedTransform(f.odom_frame, self.body_frame, stamp,
                                        self.body_poses[-1]))
        elif f.publish_map_odom:
            out.append(StampedTransform(f.map_frame, self.body_frame, stamp, self.body_poses[-1]))
        if out:
            self.pub_tf.publish(tf_to_msg(out))

    def _on_mesh_timer(self) -> None:
        with self._lock:
            if not self.mesh_dirty and not self.blocks.pending and not self.blocks.deleted:
                return
            stamp = self.cam_stamps[-1] if self.cam_stamps else 0
            dirty = self.mesh_dirty
        mesh = None
        if dirty:
            if not self._engine_lock.acquire(blocking=False):
                return  # the engine is busy tracking: try again next period
            try:
                mesh = self.engine.mesh()
            finally:
                self._engine_lock.release()
        with self._lock:
            if dirty:
                self.mesh_dirty = False
            self._publish_mesh(mesh, stamp)

    def _publish_mesh(self, mesh, stamp: int) -> None:
        if mesh is not None:
            self._last_mesh = mesh  # world frame, for ~/render
            mesh = _to_map(mesh, self.T_body_rig)
        markers = self.blocks.update(mesh, stamp, self.cfg.frames.map_frame)
        if markers:
            self.pub_mesh.publish(marker_array(markers))
        if mesh is not None and len(mesh.vertices):
            from slam_nodes.msgs.pointcloud import points_to_msg

            step = max(1, int(np.ceil(len(mesh.vertices) / self.cfg.mesh.map_cloud_max_points)))
            self.pub_cloud.publish(points_to_msg(
                mesh.vertices[::step], stamp, self.cfg.frames.map_frame,
                None if mesh.colors is None else mesh.colors[::step]))

    def _on_render_timer(self) -> None:
        """~/render: the engine's own rendering when it has one, else the map mesh ray-cast
        from the latest camera pose (stamped with that frame's stamp)."""
        from slam_nodes.msgs.image import rgb_to_msg
        from slam_nodes.nodes.map_render import render_mesh

        with self._lock:
            if not self.cam_poses:
                return
            T, stamp = self.cam_poses[-1], self.cam_stamps[-1]
            camera = self.cameras.get("rgb") or self.cameras.get("depth")
            mesh = self._last_mesh
        render = getattr(self.engine, "render", None)
        try:
            if render is not None:
                if not self._engine_lock.acquire(blocking=False):
                    return
                try:
                    rgb = render(T, camera)
                finally:
                    self._engine_lock.release()
            else:
                rgb = None if mesh is None else render_mesh(mesh, T, camera)
        except (SlamNodesError, ValueError, RuntimeError) as err:
            self.log.warning("render failed at %d ns: %s", stamp, err)
            return
        if rgb is not None:
            self.pub_render.publish(rgb_to_msg(np.asarray(rgb), stamp, camera.frame_id))

    def _on_diag_timer(self) -> None:
        with self._lock:
            self._diag_locked()

    def _diag_locked(self) -> None:
        now = self.rt.now_ns()
        inputs = self.cfg.inputs
        statuses = self.monitor.input_statuses(NODE_NAME, now, int(inputs.silent_warning_s * NS),
                                               self.rt.resolve, inputs.sensor_qos)
        step = self.last_step
        track_values = {"frames": self.frames_done, "tracking_lost": self.tracking_lost,
                        "paused": self.paused, "queue": len(self.queue)}
        if step is not None:
            track_values["loss"] = f"{float(step.loss):.5f}"
            track_values.update({f"time_{k}_ms": f"{v:.1f}" for k, v in
                                 dict(step.timings_ms).items()})
        level = diag.OK if step is None or step.tracking_ok else diag.WARN
        state = "waiting for frames" if step is None else (
            "tracking" if step.tracking_ok else "tracking lost (holding motion model)")
        statuses.append((level, f"{NODE_NAME}: tracking", state, track_values))
        self.pub_diag.publish(diag.diagnostic_array(now, statuses))

    # ------------------------------------------------------------------ services
    def _srv_reset(self, _request) -> ServiceResponse:
        with self._engine_lock, self._lock:
            self.engine.reset()
            self.pairer.reset()
            self.queue.clear()
            self._reset_state()
            self.blocks.reset()
        return ServiceResponse(True, "map and trajectory cleared")

    def _srv_set_paused(self, value) -> ServiceResponse:
        with self._lock:
            self.paused = bool(value)
        return ServiceResponse(True, "paused" if self.paused else "running")

    def _srv_save_map(self, _request) -> ServiceResponse:
        try:
            with self._engine_lock, self._lock:
                files = self.save_map(Path(self.cfg.outputs.map_save_dir))
        except (OSError, SlamNodesError) as err:
            return ServiceResponse(False, f"save failed: {err}")
        return ServiceResponse(True, "wrote " + ", ".join(str(p) for p in files))

    # ------------------------------------------------------------------ results
    def camera_trajectory(self) -> Trajectory:
        """T_world_rig of every processed frame: the camera optical frame, or the LiDAR frame in
        a LiDAR-only set (world = that frame at the first frame)."""
        if not self.cam_poses:
            return Trajectory(np.zeros(0, np.int64), np.zeros((0, 4, 4)))
        return Trajectory(np.asarray(self.cam_stamps), np.asarray(self.cam_poses))

    def save_map(self, directory: Path) -> list[Path]:
        """Write mesh.ply (world frame), trajectory.tum (T_world_rig) and the engine's
        checkpoint under `directory`; return the files written."""
        from slam_nodes.types import write_tum

        directory.mkdir(parents=True, exist_ok=True)
        files = []
        traj_path = directory / "trajectory.tum"
        refined = getattr(self.engine, "trajectory", None)  # bundle-adjusted, when offered
        traj = refined() if refined is not None and self.cam_poses else self.camera_trajectory()
        write_tum(traj_path, traj)
        files.append(traj_path)
        mesh = self.engine.mesh()
        if mesh is not None and len(mesh.faces):
            files.append(write_mesh_ply(directory / "mesh.ply", mesh))
        files.extend(self.engine.save(directory / "checkpoint"))
        return files


def _camera_of(item: _Pending, cameras: dict) -> str:
    """Which CameraInfo a camera frame needs: 'depth' when it has depth, 'rgb' when it has
    only colour; an events-only step takes the depth camera's when one was received."""
    if item.depth is not None or (item.rgb is None and "depth" in cameras):
        return "depth"
    return "rgb"


def _to_map(mesh, T_map_world: np.ndarray):
    from slam_nodes.nodes.engine import MeshData
    from slam_nodes.types import transform_points

    if np.allclose(T_map_world, np.eye(4)):
        return mesh
    return MeshData(transform_points(T_map_world, mesh.vertices.astype(np.float64)).astype(
        np.float32), mesh.faces, mesh.colors)


def write_mesh_ply(path: Path, mesh) -> Path:
    """Write a MeshData as binary PLY with trimesh (atomic: temp file then rename)."""
    import trimesh

    colors = None if mesh.colors is None else np.concatenate(
        [mesh.colors, np.full((len(mesh.colors), 1), 255, np.uint8)], axis=1)
    tm = trimesh.Trimesh(mesh.vertices, mesh.faces, vertex_colors=colors, process=False)
    tmp = path.with_suffix(".tmp.ply")
    tm.export(tmp)
    tmp.replace(path)
    return path
