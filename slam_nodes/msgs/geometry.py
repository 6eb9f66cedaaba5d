"""geometry_msgs, tf2_msgs, nav_msgs and sensor_msgs/Imu <-> poses, trajectories and samples.

Poses are 4x4 float64 `T_a_b` (points in b to a), time is int64 ns (DESIGN.md section 4).
Quaternions are normalised on read; a zero or non-finite quaternion, and a non-finite position,
translation, velocity or IMU vector, raise ConversionError.
For a /tf transform from `parent` (header.frame_id) to `child` (child_frame_id) the matrix is
T_parent_child; an Odometry's pose is T_frame_child (header.frame_id <- child_frame_id), its twist
is in the child frame (REP-105 / nav_msgs convention).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.stamps import make_header, stamp_to_ns
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types.pose import Trajectory, matrix_to_quat, pose_from_tq

logger = logging.getLogger(__name__)


@dataclass
class StampedTransform:
    """One TF edge at one time: T_parent_child [4,4] float64, stamp in int64 ns."""

    parent: str
    child: str
    stamp_ns: int
    T_parent_child: np.ndarray


@dataclass
class ImuSample:
    """One IMU reading in the IMU frame.

    angular_velocity: [3] rad/s; linear_acceleration: [3] m/s^2 (gravity included, as
    sensor_msgs/Imu defines it); orientation: [4] quaternion (x, y, z, w) or None when the sensor
    gives none (orientation_covariance[0] == -1, REP-145).
    """

    stamp_ns: int
    angular_velocity: np.ndarray
    linear_acceleration: np.ndarray
    orientation: np.ndarray | None = None
    frame_id: str = "imu"


@dataclass
class OdometrySample:
    """nav_msgs/Odometry content: T_frame_child [4,4], twist of child in the child frame.

    linear_velocity [3] m/s, angular_velocity [3] rad/s; covariances [6,6] in the ROS order
    (x, y, z, rot x, rot y, rot z).
    """

    stamp_ns: int
    frame_id: str
    child_frame_id: str
    T_frame_child: np.ndarray
    linear_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    angular_velocity: np.ndarray = field(default_factory=lambda: np.zeros(3))
    pose_covariance: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))
    twist_covariance: np.ndarray = field(default_factory=lambda: np.zeros((6, 6)))


# ---------------------------------------------------------------------------- Pose / Transform
def _quat_of(q) -> np.ndarray:
    quat = np.array([q.x, q.y, q.z, q.w], dtype=np.float64)
    norm = np.linalg.norm(quat)
    if not np.isfinite(norm) or norm < 1e-12:
        raise ConversionError(f"invalid quaternion {quat.tolist()}")
    return quat / norm


def _check_pose(T: np.ndarray) -> np.ndarray:
    T = np.asarray(T, dtype=np.float64)
    if T.shape != (4, 4):
        raise ConversionError(f"pose must be a 4x4 matrix, got shape {T.shape}")
    if not np.all(np.isfinite(T)):
        raise ConversionError("pose contains NaN or infinite values")
    return T


def _vec3(msg, what: str = "vector") -> np.ndarray:
    v = np.array([msg.x, msg.y, msg.z], dtype=np.float64)
    if not np.isfinite(v).all():
        raise ConversionError(f"{what} {v.tolist()} is not finite")
    return v


def pose_from_msg(msg) -> np.ndarray:
    """4x4 float64 of a geometry_msgs/Pose."""
    return pose_from_tq(_vec3(msg.position, "position"), _quat_of(msg.orientation))


def pose_to_msg(T: np.ndarray):
    """geometry_msgs/Pose of a 4x4 pose."""
    T = _check_pose(T)
    q = matrix_to_quat(T[:3, :3])
    return msg_class("geometry_msgs/msg/Pose")(
        position=msg_class("geometry_msgs/msg/Point")(x=T[0, 3], y=T[1, 3], z=T[2, 3]),
        orientation=msg_class("geometry_msgs/msg/Quaternion")(x=q[0], y=q[1], z=q[2], w=q[3]),
    )


def transform_from_msg(msg) -> np.ndarray:
    """4x4 float64 of a geometry_msgs/Transform."""
    return pose_from_tq(_vec3(msg.translation, "translation"), _quat_of(msg.rotation))


def transform_to_msg(T: np.ndarray):
    """geometry_msgs/Transform of a 4x4 pose."""
    T = _check_pose(T)
    q = matrix_to_quat(T[:3, :3])
    return msg_class("geometry_msgs/msg/Transform")(
        translation=msg_class("geometry_msgs/msg/Vector3")(x=T[0, 3], y=T[1, 3], z=T[2, 3]),
        rotation=msg_class("geometry_msgs/msg/Quaternion")(x=q[0], y=q[1], z=q[2], w=q[3]),
    )


def pose_stamped_from_msg(msg) -> tuple[int, str, np.ndarray]:
    """(stamp_ns, frame_id, T_frame_body) of a geometry_msgs/PoseStamped."""
    return stamp_to_ns(msg.header.stamp), msg.header.frame_id, pose_from_msg(msg.pose)


def pose_stamped_to_msg(T: np.ndarray, stamp_ns: int, frame_id: str):
    """geometry_msgs/PoseStamped of T_frame_body."""
    return msg_class("geometry_msgs/msg/PoseStamped")(
        header=make_header(stamp_ns, frame_id), pose=pose_to_msg(T))


# ---------------------------------------------------------------------------- TF
def stamped_transform_from_msg(msg) -> StampedTransform:
    """StampedTransform of a geometry_msgs/TransformStamped."""
    return StampedTransform(msg.header.frame_id, msg.child_frame_id,
                            stamp_to_ns(msg.header.stamp), transform_from_msg(msg.transform))


def stamped_transform_to_msg(tf: StampedTransform):
    """geometry_msgs/TransformStamped of a StampedTransform."""
    return msg_class("geometry_msgs/msg/TransformStamped")(
        header=make_header(tf.stamp_ns, tf.parent), child_frame_id=tf.child,
        transform=transform_to_msg(tf.T_parent_child))


def tf_from_msg(msg) -> list[StampedTransform]:
    """StampedTransforms of a tf2_msgs/TFMessage."""
    return [stamped_transform_from_msg(t) for t in msg.transforms]


def tf_to_msg(transforms: list[StampedTransform]):
    """tf2_msgs/TFMessage of StampedTransforms."""
    return msg_class("tf2_msgs/msg/TFMessage")(
        transforms=[stamped_transform_to_msg(t) for t in transforms])


# ---------------------------------------------------------------------------- nav_msgs
def _cov(values, name: str) -> np.ndarray:
    cov = np.asarray(values, dtype=np.float64)
    if cov.size != 36:
        raise ConversionError(f"{name} covariance must have 36 values, got {cov.size}")
    return cov.reshape(6, 6)


def _vec3_msg(v) -> object:
    v = np.asarray(v, dtype=np.float64).reshape(3)
    return msg_class("geometry_msgs/msg/Vector3")(x=v[0], y=v[1], z=v[2])


def odometry_from_msg(msg) -> OdometrySample:
    """OdometrySample of a nav_msgs/Odometry."""
    return OdometrySample(
        stamp_ns=stamp_to_ns(msg.header.stamp), frame_id=msg.header.frame_id,
        child_frame_id=msg.child_frame_id, T_frame_child=pose_from_msg(msg.pose.pose),
        linear_velocity=_vec3(msg.twist.twist.linear),
        angular_velocity=_vec3(msg.twist.twist.angular),
        pose_covariance=_cov(msg.pose.covariance, "pose"),
        twist_covariance=_cov(msg.twist.covariance, "twist"),
    )


def odometry_to_msg(odom: OdometrySample):
    """nav_msgs/Odometry of an OdometrySample."""
    return msg_class("nav_msgs/msg/Odometry")(
        header=make_header(odom.stamp_ns, odom.frame_id), child_frame_id=odom.child_frame_id,
        pose=msg_class("geometry_msgs/msg/PoseWithCovariance")(
            pose=pose_to_msg(odom.T_frame_child),
            covariance=_cov(odom.pose_covariance, "pose").reshape(-1).copy()),
        twist=msg_class("geometry_msgs/msg/TwistWithCovariance")(
            twist=msg_class("geometry_msgs/msg/Twist")(
                linear=_vec3_msg(odom.linear_velocity),
                angular=_vec3_msg(odom.angular_velocity)),
            covariance=_cov(odom.twist_covariance, "twist").reshape(-1).copy()),
    )


def path_from_msg(msg) -> Trajectory:
    """Trajectory (T_frame_body, stamps of each pose) of a nav_msgs/Path."""
    n = len(msg.poses)
    stamps = np.fromiter((stamp_to_ns(p.header.stamp) for p in msg.poses), np.int64, n)
    t = np.array([[p.pose.position.x, p.pose.position.y, p.pose.position.z]
                  for p in msg.poses], dtype=np.float64).reshape(n, 3)
    if not np.isfinite(t).all():
        bad = int(np.flatnonzero(~np.isfinite(t).all(axis=1))[0])
        raise ConversionError(f"Path pose {bad} has a non-finite position")
    q = np.array([_quat_of(p.pose.orientation) for p in msg.poses]).reshape(n, 4)
    poses = pose_from_tq(t, q) if n else np.zeros((0, 4, 4))
    return Trajectory(stamps, poses)


def path_to_msg(trajectory: Trajectory, frame_id: str, stamp_ns: int | None = None):
    """nav_msgs/Path of a Trajectory (poses in `frame_id`); the header stamp defaults to the
    last pose's stamp (0 for an empty trajectory)."""
    if stamp_ns is None:
        stamp_ns = int(trajectory.stamps_ns[-1]) if len(trajectory) else 0
    t = trajectory.poses[:, :3, 3]
    q = matrix_to_quat(trajectory.poses[:, :3, :3]) if len(trajectory) else np.zeros((0, 4))
    Pose = msg_class("geometry_msgs/msg/Pose")
    Point = msg_class("geometry_msgs/msg/Point")
    Quat = msg_class("geometry_msgs/msg/Quaternion")
    PoseStamped = msg_class("geometry_msgs/msg/PoseStamped")
    poses = [
        PoseStamped(header=make_header(int(s), frame_id),
                    pose=Pose(position=Point(x=ti[0], y=ti[1], z=ti[2]),
                              orientation=Quat(x=qi[0], y=qi[1], z=qi[2], w=qi[3])))
        for s, ti, qi in zip(trajectory.stamps_ns, t.tolist(), q.tolist())
    ]
    return msg_class("nav_msgs/msg/Path")(header=make_header(stamp_ns, frame_id), poses=poses)


# ---------------------------------------------------------------------------- IMU
def imu_from_msg(msg) -> ImuSample:
    """ImuSample of a sensor_msgs/Imu (orientation None when covariance[0] == -1 or q = 0)."""
    orientation = None
    q = msg.orientation
    has_q = np.asarray(msg.orientation_covariance).reshape(-1)[0] != -1
    if has_q and (q.x or q.y or q.z or q.w):
        orientation = _quat_of(q)
    return ImuSample(stamp_to_ns(msg.header.stamp), _vec3(msg.angular_velocity),
                     _vec3(msg.linear_acceleration), orientation, msg.header.frame_id)


def imu_to_msg(sample: ImuSample):
    """sensor_msgs/Imu of an ImuSample (unknown covariances written as 0, no orientation as
    orientation_covariance[0] = -1)."""
    cov_q = np.zeros(9)
    if sample.orientation is None:
        q = np.array([0.0, 0.0, 0.0, 1.0])
        cov_q[0] = -1.0
    else:
        q = np.asarray(sample.orientation, dtype=np.float64).reshape(4)
    return msg_class("sensor_msgs/msg/Imu")(
        header=make_header(sample.stamp_ns, sample.frame_id),
        orientation=msg_class("geometry_msgs/msg/Quaternion")(x=q[0], y=q[1], z=q[2], w=q[3]),
        orientation_covariance=cov_q,
        angular_velocity=_vec3_msg(sample.angular_velocity),
        angular_velocity_covariance=np.zeros(9),
        linear_acceleration=_vec3_msg(sample.linear_acceleration),
        linear_acceleration_covariance=np.zeros(9),
    )


# ---------------------------------------------------------------------------- TfBuffer
class TransformLookupError(ConversionError):
    """A transform is not in the TfBuffer: unknown frame, no chain, or a stamp out of range."""


def _slerp(q0: np.ndarray, q1: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Spherical interpolation of unit quaternions [N,4] by alpha [N] in [0, 1]."""
    dot = np.sum(q0 * q1, axis=1)
    q1 = np.where(dot[:, None] < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1.0 - alpha, np.sin((1.0 - alpha) * theta) / safe)
    w1 = np.where(small, alpha, np.sin(alpha * theta) / safe)
    q = w0[:, None] * q0 + w1[:, None] * q1
    return q / np.linalg.norm(q, axis=1, keepdims=True)


class _Edge:
    """The time series of one parent -> child transform (or a static one)."""

    def __init__(self, parent: str, static: bool, cache_ns: int | None = None) -> None:
        self.parent = parent
        self.static = static
        self.cache_ns = cache_ns
        self._samples: list[tuple[int, np.ndarray, np.ndarray]] = []
        self._arrays: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def add(self, stamp_ns: int, T: np.ndarray) -> None:
        """Add sample T_parent_child [4,4] at stamp_ns (a static edge keeps only the last)."""
        t, q = T[:3, 3].copy(), matrix_to_quat(T[:3, :3])
        if self.static:
            self._samples = [(stamp_ns, t, q)]
        else:
            self._samples.append((stamp_ns, t, q))
            if self.cache_ns is not None and len(self._samples) % 256 == 0:
                self._arrays = None
                self.arrays()  # prunes samples older than the cache window
        self._arrays = None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(stamps int64 ns [N], translations [N,3] m, quaternions xyzw [N,4]) sorted by time,
        samples older than the cache window dropped."""
        if self._arrays is None:
            self._samples.sort(key=lambda s: s[0])
            if self.cache_ns is not None and not self.static:
                newest = self._samples[-1][0]
                first = next(i for i, s in enumerate(self._samples)
                             if s[0] >= newest - self.cache_ns)
                del self._samples[:first]
            self._arrays = (np.array([s[0] for s in self._samples], dtype=np.int64),
                            np.array([s[1] for s in self._samples]),
                            np.array([s[2] for s in self._samples]))
        return self._arrays

    def at(self, stamps_ns: np.ndarray | None, tolerance_ns: int, child: str) -> np.ndarray:
        """T_parent_child [N,4,4] at stamps (None: the latest sample, N = 1)."""
        stamps, t, q = self.arrays()
        if self.static or stamps_ns is None or len(stamps) == 1:
            if not self.static and stamps_ns is not None:
                gap = np.abs(stamps_ns - stamps[0])
                if np.any(gap > tolerance_ns):
                    raise TransformLookupError(
                        f"{self.parent} -> {child}: one sample at {stamps[0]} ns, asked for "
                        f"{int(stamps_ns[np.argmax(gap)])} ns (tolerance {tolerance_ns} ns)")
            n = 1 if stamps_ns is None else len(stamps_ns)
            return np.repeat(pose_from_tq(t[-1], q[-1])[None], n, axis=0)
        lo, hi = stamps[0] - tolerance_ns, stamps[-1] + tolerance_ns
        bad = (stamps_ns < lo) | (stamps_ns > hi)
        if np.any(bad):
            raise TransformLookupError(
                f"{self.parent} -> {child}: stamp {int(stamps_ns[bad][0])} ns outside the "
                f"buffered span [{stamps[0]}, {stamps[-1]}] ns (tolerance {tolerance_ns} ns)")
        q_stamps = np.clip(stamps_ns, stamps[0], stamps[-1])
        i = np.clip(np.searchsorted(stamps, q_stamps, side="right") - 1, 0, len(stamps) - 2)
        dt = (stamps[i + 1] - stamps[i]).astype(np.float64)
        alpha = np.where(dt > 0, (q_stamps - stamps[i]) / np.where(dt > 0, dt, 1.0), 1.0)
        trans = t[i] + alpha[:, None] * (t[i + 1] - t[i])
        return pose_from_tq(trans, _slerp(q[i], q[i + 1], alpha))


class TfBuffer:
    """A small time-indexed transform tree, like tf2's buffer without ROS.

    Add /tf and /tf_static transforms (`add`, `add_msg`), then `lookup(target, source, stamp)`
    gives T_target_source (points in `source` to `target`), interpolating each edge (linear
    translation, slerp rotation) and chaining through the common ancestor. Each child frame has
    one parent; a new parent replaces the old edge (as tf2 does, with a warning in the log).
    """

    def __init__(self, tolerance_ns: int = 0, cache_ns: int | None = None) -> None:
        """tolerance_ns: how far outside an edge's buffered span a lookup may clamp.
        cache_ns: keep only the last cache_ns of each moving edge (None: keep everything, for
        offline bag replay; a live node uses e.g. 10 s like tf2)."""
        self.tolerance_ns = int(tolerance_ns)
        self.cache_ns = None if cache_ns is None else int(cache_ns)
        self._edges: dict[str, _Edge] = {}

    def add(self, tf: StampedTransform, static: bool = False) -> None:
        """Add one transform; static ones hold at every time."""
        if tf.parent == tf.child:
            raise ConversionError(f"transform from {tf.parent!r} to itself")
        T = _check_pose(tf.T_parent_child)
        edge = self._edges.get(tf.child)
        if edge is None or edge.parent != tf.parent or edge.static != static:
            if edge is not None:
                logger.warning(
                    "TF frame %r changes parent %r -> %r at %d ns", tf.child, edge.parent,
                    tf.parent, tf.stamp_ns)
            edge = self._edges[tf.child] = _Edge(tf.parent, static, self.cache_ns)
        edge.add(int(tf.stamp_ns), T)

    def add_msg(self, msg, static: bool = False) -> None:
        """Add every transform of a tf2_msgs/TFMessage (static for /tf_static)."""
        for tf in tf_from_msg(msg):
            self.add(tf, static)

    @property
    def frames(self) -> set[str]:
        """All frame names known to the buffer."""
        return set(self._edges) | {e.parent for e in self._edges.values()}

    def chain(self, frame: str) -> list[str]:
        """[frame, parent, grandparent, ..., root] in the tree as it is now."""
        return self._chain(frame)

    def edge_stamps(self, child: str) -> np.ndarray:
        """int64 stamps [M] buffered for the edge parent -> `child` (sorted; empty if none)."""
        edge = self._edges.get(child)
        return edge.arrays()[0] if edge is not None else np.zeros(0, np.int64)

    def is_static(self, child: str) -> bool:
        """Whether the edge parent -> `child` was added as static."""
        edge = self._edges.get(child)
        return bool(edge is not None and edge.static)

    def _chain(self, frame: str) -> list[str]:
        """[frame, parent, grandparent, ..., root]."""
        chain = [frame]
        while chain[-1] in self._edges:
            chain.append(self._edges[chain[-1]].parent)
            if len(chain) > len(self._edges) + 1:
                raise TransformLookupError(f"TF tree has a cycle through {frame!r}")
        return chain

    def _to_ancestor(self, chain: list[str], stamps: np.ndarray | None) -> np.ndarray:
        """T_ancestor_frame [N,4,4] along chain[0] -> chain[-1]."""
        n = 1 if stamps is None else len(stamps)
        T = np.repeat(np.eye(4)[None], n, axis=0)
        for child in chain[:-1]:
            T = self._edges[child].at(stamps, self.tolerance_ns, child) @ T
        return T

    def lookup_many(self, target: str, source: str, stamps_ns) -> np.ndarray:
        """T_target_source [N,4,4] at int64 ns stamps [N]."""
        stamps = np.asarray(stamps_ns, dtype=np.int64).reshape(-1)
        return self._lookup(target, source, stamps)

    def lookup(self, target: str, source: str, stamp_ns: int | None = None) -> np.ndarray:
        """T_target_source [4,4] at stamp_ns (None: each edge's latest sample)."""
        stamps = None if stamp_ns is None else np.array([stamp_ns], dtype=np.int64)
        return self._lookup(target, source, stamps)[0]

    def can_transform(self, target: str, source: str, stamp_ns: int | None = None) -> bool:
        """True when `lookup(target, source, stamp_ns)` would succeed."""
        try:
            self.lookup(target, source, stamp_ns)
        except TransformLookupError:
            return False
        return True

    def _lookup(self, target: str, source: str, stamps: np.ndarray | None) -> np.ndarray:
        known = self.frames
        for frame in (target, source):
            if frame not in known:
                raise TransformLookupError(f"unknown TF frame {frame!r}; known: {sorted(known)}")
        n = 1 if stamps is None else len(stamps)
        if target == source:
            return np.repeat(np.eye(4)[None], n, axis=0)
        up_source, up_target = self._chain(source), self._chain(target)
        common = next((f for f in up_source if f in set(up_target)), None)
        if common is None:
            raise TransformLookupError(
                f"no TF chain between {target!r} and {source!r} (roots {up_target[-1]!r} "
                f"and {up_source[-1]!r})")
        T_c_source = self._to_ancestor(up_source[: up_source.index(common) + 1], stamps)
        T_c_target = self._to_ancestor(up_target[: up_target.index(common) + 1], stamps)
        return np.linalg.solve(T_c_target, T_c_source)
