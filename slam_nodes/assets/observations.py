"""Object observations: 3D detections (vision_msgs or the built-in proposal) and per-object
accumulation of points, colours and sensor origins in each object's frame over time.

Frames: input points are in a fixed frame ("world", e.g. map); each detection carries
T_world_object (box centre, z up) and full box extents in metres.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.assets.types import ObjectObservation
from slam_nodes.types.pose import invert_pose, make_pose, transform_points

logger = logging.getLogger(__name__)

# typical box extents (x forward, y left, z up), metres, for naming class-agnostic proposals
SIZE_PRIORS_M = {"car": (4.4, 1.8, 1.45), "pedestrian": (0.35, 0.8, 1.75), "furniture": (0.8, 1.0, 0.8),
                 "barrel": (0.58, 0.58, 0.88), "cone": (0.4, 0.4, 0.7), "box": (0.7, 0.6, 0.6)}


@dataclass
class Detection3D:
    """One 3D box: T_world_object [4,4] float64, size_m [3] full extents, class, score, id, stamp."""

    T_world_object: np.ndarray
    size_m: np.ndarray
    class_name: str
    score: float = 1.0
    object_id: str = ""
    stamp_ns: int = 0


def detections_from_msg(msg, T_world_frame: np.ndarray | None = None) -> list[Detection3D]:
    """vision_msgs/msg/Detection3DArray -> detections in the world frame (the best hypothesis
    names the class; T_world_frame maps the message's header frame to world, identity if None)."""
    from slam_nodes.errors import ConversionError
    from slam_nodes.msgs.geometry import pose_from_msg
    from slam_nodes.msgs.stamps import stamp_to_ns

    T = np.eye(4) if T_world_frame is None else np.asarray(T_world_frame, float)
    stamp = stamp_to_ns(msg.header.stamp)
    out = []
    for det in msg.detections:
        best = max(det.results, key=lambda r: r.hypothesis.score, default=None)
        size = np.array([det.bbox.size.x, det.bbox.size.y, det.bbox.size.z], float)
        try:
            T_frame_object = pose_from_msg(det.bbox.center)
        except ConversionError as err:
            logger.warning("skipping detection %r at %d: %s", det.id, stamp, err)
            continue
        out.append(Detection3D(T @ T_frame_object, size,
                               best.hypothesis.class_id if best is not None else "unknown",
                               float(best.hypothesis.score) if best is not None else 0.0,
                               det.id, stamp))
    return out


def guess_class(size_m: np.ndarray, max_log_ratio: float = 0.45) -> str:
    """Name a class-agnostic box by the closest size prior (yaw-agnostic in x/y); 'unknown' if far."""
    s = np.asarray(size_m, float)
    best, best_d = "unknown", np.inf
    for name, prior in SIZE_PRIORS_M.items():
        p = np.asarray(prior)
        d = min(np.abs(np.log(s / p)).max(), np.abs(np.log(s / p[[1, 0, 2]])).max())
        if d < best_d:
            best, best_d = name, d
    return best if best_d <= max_log_ratio else "unknown"


def propose_objects(points_world: np.ndarray, distance_threshold_m: float = 0.05, min_height_m: float = 0.08,
                    cluster_eps_m: float = 0.3, min_cluster_points: int = 30, seed: int = 0,
                    stamp_ns: int = 0) -> list[Detection3D]:
    """Class-agnostic proposals: RANSAC support plane (open3d segment_plane), points above it
    clustered with DBSCAN (open3d cluster_dbscan), one box per cluster: z along the plane normal,
    yaw from the cluster's principal axis in the plane, bottom on the plane."""
    import open3d as o3d

    pts = np.asarray(points_world, float)
    pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < max(3, min_cluster_points):
        return []
    o3d.utility.random.seed(seed)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    (a, b, c, d), _ = pcd.segment_plane(distance_threshold_m, 3, 200)
    n = np.array([a, b, c])
    scale = np.linalg.norm(n)
    n, d = n / scale, d / scale
    if n[2] < 0:
        n, d = -n, -d
    height = pts @ n + d
    above = pts[height > min_height_m]
    if len(above) < min_cluster_points:
        return []
    labels = np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(above)).cluster_dbscan(
        cluster_eps_m, min_points=8))
    # plane basis: e1, e2 in the plane, n up
    e1 = np.cross(n, [0, 1.0, 0] if abs(n[1]) < 0.9 else [1.0, 0, 0])
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(n, e1)
    out = []
    for k in range(labels.max() + 1 if len(labels) else 0):
        cl = above[labels == k]
        if len(cl) < min_cluster_points:
            continue
        uv = np.stack([cl @ e1, cl @ e2], 1)
        cov = np.cov((uv - uv.mean(0)).T)
        w, v = np.linalg.eigh(cov)
        major = v[:, 1]
        ax = major[0] * e1 + major[1] * e2
        ay = np.cross(n, ax)
        R = np.stack([ax, ay, n], 1)
        local = cl @ R
        lo, hi = local.min(0), local.max(0)
        lo[2] = -d  # bottom on the support plane (plane: n.p + d = 0)
        T = make_pose(R, R @ ((lo + hi) / 2))
        size = hi - lo
        out.append(Detection3D(T, size, guess_class(size), 0.5, f"proposal_{k}", stamp_ns))
    return out


@dataclass
class _Track:
    det: Detection3D
    points: list = field(default_factory=list)
    colors: list = field(default_factory=list)
    origins: list = field(default_factory=list)
    n: int = 0


class ObjectAccumulator:
    """Accumulates, per object, the points inside its (inflated) box in the object frame.

    Points within `floor_band_m` of the box bottom (the ground it stands on) are dropped.
    Detections are associated to tracks by id when given, else by nearest centre within
    `assoc_radius_m` and the same class; the latest box replaces the track's box. Points are kept
    up to `max_points_per_object` (random subsample of the excess, seeded).
    """

    def __init__(self, box_margin: float = 0.1, assoc_radius_m: float = 1.0, max_points_per_object: int = 20000,
                 floor_band_m: float = 0.03, seed: int = 0):
        self.box_margin = box_margin
        self.floor_band_m = floor_band_m
        self.assoc_radius_m = assoc_radius_m
        self.max_points = max_points_per_object
        self.rng = np.random.default_rng(seed)
        self.tracks: dict[str, _Track] = {}

    def _associate(self, det: Detection3D) -> str:
        if det.object_id:
            return det.object_id
        c = det.T_world_object[:3, 3]
        best, best_d = None, self.assoc_radius_m
        for key, tr in self.tracks.items():
            dist = float(np.linalg.norm(tr.det.T_world_object[:3, 3] - c))
            if tr.det.class_name == det.class_name and dist < best_d:
                best, best_d = key, dist
        return best or f"object_{len(self.tracks)}"

    def add(self, points_world: np.ndarray, detections: list[Detection3D], sensor_origin_world: np.ndarray,
            colors: np.ndarray | None = None) -> None:
        """Add one scan/frame: points [N,3] world, colours [N,3] uint8 or None, sensor origin [3]."""
        pts = np.asarray(points_world, float).reshape(-1, 3)
        ok = np.isfinite(pts).all(axis=1)
        pts = pts[ok]
        cols = None if colors is None else np.asarray(colors)[ok]
        for det in detections:
            if not (np.isfinite(det.size_m).all() and np.isfinite(det.T_world_object).all()):
                logger.warning("skipping detection %s at %d: non-finite box", det.object_id, det.stamp_ns)
                continue
            key = self._associate(det)
            tr = self.tracks.setdefault(key, _Track(det))
            tr.det = Detection3D(det.T_world_object, det.size_m, det.class_name, det.score, key, det.stamp_ns)
            T_obj_world = invert_pose(det.T_world_object)
            local = transform_points(T_obj_world, pts)
            half = np.maximum(det.size_m, 1e-3) / 2
            inside = (np.abs(local) <= half * (1 + self.box_margin) + 0.02).all(axis=1)
            # the support surface the object stands on: drop a band at the box bottom
            inside &= local[:, 2] > -half[2] + self.floor_band_m
            if not inside.any():
                continue
            tr.points.append(local[inside])
            tr.origins.append(np.repeat(transform_points(T_obj_world, np.asarray(sensor_origin_world)[None]),
                                        int(inside.sum()), 0))
            if cols is not None:
                tr.colors.append(cols[inside])
            tr.n += int(inside.sum())
            if tr.n > self.max_points:
                self._subsample(tr)

    def _subsample(self, tr: _Track) -> None:
        pts, org = np.concatenate(tr.points), np.concatenate(tr.origins)
        keep = self.rng.choice(len(pts), self.max_points, replace=False)
        tr.points, tr.origins = [pts[keep]], [org[keep]]
        if tr.colors:
            tr.colors = [np.concatenate(tr.colors)[keep]] if sum(map(len, tr.colors)) == len(pts) else []
        tr.n = self.max_points

    def observations(self) -> list[ObjectObservation]:
        """One ObjectObservation per track (points in the object frame of its latest box)."""
        out = []
        for key, tr in self.tracks.items():
            pts = np.concatenate(tr.points) if tr.points else np.zeros((0, 3))
            org = np.concatenate(tr.origins) if tr.origins else None
            cols = np.concatenate(tr.colors) if tr.colors and sum(map(len, tr.colors)) == len(pts) else None
            out.append(ObjectObservation(key, tr.det.class_name, np.asarray(tr.det.size_m, float), pts, cols, org,
                                         tr.det.T_world_object, tr.det.stamp_ns))
        return out
