"""Offline asset harvesting from a bag: points + poses (+ detections) -> completed asset folders.

Inputs read with `slam_nodes.io.bag.open_bag(path).messages(...)`:
- a PointCloud2 topic (`points_topic`, any sensor frame; optional packed 'rgb' field);
- poses of frame `pose_frame` (`pose_topic`, PoseStamped in the world frame, nearest stamp;
  the synthetic bags' /ground_truth/pose is T_map_camera_optical_frame), plus /tf_static
  (a `TfBuffer`) for T_pose_sensor;
- optionally vision_msgs/Detection3DArray boxes (`detections_topic`); without them, objects are
  proposed class-agnostically on the accumulated map (support plane + DBSCAN).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam_nodes.assets.observations import ObjectAccumulator, detections_from_msg, propose_objects
from slam_nodes.assets.types import AssetError, ObjectObservation
from slam_nodes.types.pose import make_pose, transform_points

logger = logging.getLogger(__name__)


@dataclass
class CloudScan:
    """One point cloud: stamp (int64 ns), sensor frame, points [N,3] float64 metres in that
    frame (finite only), colours [N,3] uint8 RGB or None."""

    stamp_ns: int
    frame_id: str
    points: np.ndarray
    colors: np.ndarray | None


def cloud_scan_from_msg(msg) -> CloudScan:
    """CloudScan of a sensor_msgs/PointCloud2 (optional packed 'rgb' field). Raises AssetError
    without x/y/z, ConversionError for an inconsistent layout."""
    from slam_nodes.msgs.pointcloud import cloud_fields, unpack_rgb
    from slam_nodes.msgs.stamps import stamp_to_ns

    f = cloud_fields(msg)
    if not {"x", "y", "z"} <= set(f):
        raise AssetError("PointCloud2 without x, y, z fields")
    pts = np.stack([f["x"], f["y"], f["z"]], 1).astype(np.float64)
    cols = unpack_rgb(f["rgb"]) if "rgb" in f else None
    ok = np.isfinite(pts).all(axis=1)
    return CloudScan(stamp_to_ns(msg.header.stamp), msg.header.frame_id, pts[ok], None if cols is None else cols[ok])


def _T_pose_sensor(static_tf, pose_frame: str, sensor_frame: str) -> np.ndarray:
    """T_pose_sensor from /tf_static (identity when the frames are the same)."""
    from slam_nodes.msgs.geometry import TransformLookupError

    if pose_frame == sensor_frame:
        return np.eye(4)
    try:
        return static_tf.lookup(pose_frame, sensor_frame, None)
    except TransformLookupError as err:
        raise AssetError(f"/tf_static does not connect pose frame {pose_frame!r} and sensor frame "
                         f"{sensor_frame!r}: {err}") from err


def detections_from_objects_json(path: str | Path) -> list:
    """Static world-frame boxes from a synthetic sequence's objects.json (slam_nodes.synth)."""
    import json

    from slam_nodes.assets.observations import Detection3D

    try:
        objects = json.loads(Path(path).read_text())["objects"]
        out = []
        for o in objects:
            T = make_pose(np.asarray(o["box_rotation"], float), np.asarray(o["box_centre"], float))
            out.append(Detection3D(T, np.asarray(o["box_size"], float), str(o["class"]), 1.0,
                                   f"{o['class']}_{o['id']}", 0))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise AssetError(f"cannot read objects file {path}: {err}") from err
    return out


def collect_observations(bag_path: str | Path, points_topic: str = "/points",
                         pose_topic: str = "/ground_truth/pose", detections_topic: str | None = None,
                         stride: int = 1, max_scans: int | None = None, seed: int = 0,
                         static_detections: list | None = None,
                         pose_frame: str = "camera_optical_frame") -> list[ObjectObservation]:
    """Accumulate per-object observations from a bag (see module docstring). `static_detections`
    (world-frame boxes, e.g. `detections_from_objects_json`) replace topic detections and proposals."""
    from slam_nodes.io.bag import open_bag
    from slam_nodes.msgs.geometry import TfBuffer, pose_stamped_from_msg

    with open_bag(bag_path) as bag:
        topics = set(bag.topics)
        for needed in (points_topic, pose_topic):
            if needed not in topics:
                raise AssetError(f"bag {bag_path} has no topic {needed} (topics: {sorted(topics)})")
        static_tf = TfBuffer()
        poses: list[tuple[int, np.ndarray]] = []
        det_msgs: list[tuple[int, list]] = []
        scans: list[CloudScan] = []
        wanted = [points_topic, pose_topic] + [t for t in ("/tf_static",) if t in topics]
        if detections_topic:
            if detections_topic not in topics:
                raise AssetError(f"bag {bag_path} has no detections topic {detections_topic}")
            wanted.append(detections_topic)
        n_points_msgs = 0
        for m in bag.messages(wanted):
            try:
                if m.topic == "/tf_static":
                    static_tf.add_msg(m.msg, static=True)
                elif m.topic == pose_topic:
                    stamp, _, T = pose_stamped_from_msg(m.msg)
                    poses.append((stamp, T))
                elif m.topic == detections_topic:
                    det_msgs.append((m.log_time_ns, detections_from_msg(m.msg)))
                else:
                    n_points_msgs += 1
                    if (n_points_msgs - 1) % stride == 0 and (max_scans is None or len(scans) < max_scans):
                        scans.append(cloud_scan_from_msg(m.msg))
            except Exception as err:  # noqa: BLE001 - one bad message is logged and skipped
                logger.warning("skipping %s message at %d: %s", m.topic, m.log_time_ns, err)
    if not poses or not scans:
        raise AssetError(f"bag {bag_path}: no usable poses ({len(poses)}) or scans ({len(scans)})")
    poses.sort(key=lambda p: p[0])
    stamps = [p[0] for p in poses]
    T_pose_sensor: dict[str, np.ndarray] = {}  # static: one /tf_static lookup per sensor frame

    def world_from(scan: CloudScan) -> tuple[np.ndarray, np.ndarray]:
        i = min(bisect_left(stamps, scan.stamp_ns), len(stamps) - 1)
        if i > 0 and abs(stamps[i - 1] - scan.stamp_ns) < abs(stamps[i] - scan.stamp_ns):
            i -= 1
        if scan.frame_id not in T_pose_sensor:
            T_pose_sensor[scan.frame_id] = _T_pose_sensor(static_tf, pose_frame, scan.frame_id)
        T = poses[i][1] @ T_pose_sensor[scan.frame_id]
        return transform_points(T, scan.points), T[:3, 3]

    acc = ObjectAccumulator(seed=seed)
    if static_detections is not None:
        for scan in scans:
            pts, origin = world_from(scan)
            acc.add(pts, static_detections, origin, scan.colors)
    elif det_msgs:
        det_stamps = [d[0] for d in det_msgs]
        for scan in scans:
            j = bisect_left(det_stamps, scan.stamp_ns + 1) - 1
            if j < 0:
                continue
            pts, origin = world_from(scan)
            acc.add(pts, det_msgs[j][1], origin, scan.colors)
    else:
        world = [world_from(s) for s in scans]
        allpts = np.concatenate([w[0] for w in world])
        rng = np.random.default_rng(seed)
        sub = allpts[rng.choice(len(allpts), min(len(allpts), 200_000), replace=False)]
        dets = propose_objects(sub, seed=seed)
        logger.info("proposed %d objects from %d map points", len(dets), len(sub))
        for (pts, origin), scan in zip(world, scans):
            acc.add(pts, dets, origin, scan.colors)
    return acc.observations()
