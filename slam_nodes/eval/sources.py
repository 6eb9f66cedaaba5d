"""Where trajectories to evaluate come from: TUM files, run folders, or a pose topic in a bag.

`load_trajectory(path, topic)`:
- a run folder (see `slam_nodes.eval`): its trajectory.tum;
- a text file (.txt, .tum, or anything that is not a bag): TUM format `t tx ty tz qx qy qz qw`;
- a bag (rosbag2 folder, .mcap, .db3, ROS 1 .bag), read with `slam_nodes.io.bag.open_bag`:
  - a topic of geometry_msgs/PoseStamped, PoseWithCovarianceStamped, TransformStamped or
    nav_msgs/Odometry: one pose per message, stamped with its header stamp;
  - a nav_msgs/Path topic: the poses of its last message;
  - a TF chain written `PARENT->CHILD` (e.g. `odom->base_footprint`): T_parent_child from /tf
    and /tf_static, sampled at the stamps of the chain's least frequent moving edge.
  With no topic, the bag's only pose-like topic is used (EvalError lists them when ambiguous).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from slam_nodes.errors import EvalError, SlamNodesError
from slam_nodes.types.pose import Trajectory, read_tum

logger = logging.getLogger(__name__)

RUN_TRAJECTORY = "trajectory.tum"
BAG_SUFFIXES = (".bag", ".mcap", ".db3")
POSE_TYPES = (
    "geometry_msgs/msg/PoseStamped",
    "geometry_msgs/msg/PoseWithCovarianceStamped",
    "geometry_msgs/msg/TransformStamped",
    "nav_msgs/msg/Odometry",
    "nav_msgs/msg/Path",
)
TF_TOPICS = ("/tf", "/tf_static")


def is_bag(path: str | Path) -> bool:
    """True for a rosbag2 folder (metadata.yaml) or a .bag / .mcap / .db3 file."""
    path = Path(path)
    if path.is_dir():
        return (path / "metadata.yaml").is_file() or any(
            p.suffix in (".mcap", ".db3") for p in path.iterdir())
    return path.suffix.lower() in BAG_SUFFIXES


def load_trajectory(path: str | Path, topic: str | None = None) -> Trajectory:
    """Trajectory (int64 ns, T_world_body) from a TUM file, a run folder or a bag topic."""
    path = Path(path)
    if not path.exists():
        raise EvalError(f"trajectory source {path} does not exist")
    if path.is_dir() and (path / RUN_TRAJECTORY).is_file():
        return _read_tum(path / RUN_TRAJECTORY)
    if is_bag(path):
        return trajectory_from_bag(path, topic)
    if path.is_dir():
        raise EvalError(f"{path} is neither a run folder (no {RUN_TRAJECTORY}) nor a bag")
    return _read_tum(path)


def _read_tum(path: Path) -> Trajectory:
    try:
        return read_tum(path)
    except SlamNodesError as err:
        raise EvalError(f"cannot read trajectory {path}: {err}") from err


def trajectory_from_bag(path: str | Path, topic: str | None = None) -> Trajectory:
    """Trajectory of a pose topic or a `PARENT->CHILD` TF chain in a bag (see module doc)."""
    from slam_nodes.io.bag import open_bag

    try:
        with open_bag(path) as bag:
            topics = {name: info.typename for name, info in bag.topics.items()}
            if topic is not None and "->" in topic:
                return _tf_chain(bag, topic, topics)
            if topic is None:
                candidates = sorted(t for t, ty in topics.items() if ty in POSE_TYPES)
                if len(candidates) != 1:
                    raise EvalError(
                        f"{path}: choose a pose topic (--gt-topic / --est-topic): "
                        f"pose topics {candidates or 'none'}; or a TF chain PARENT->CHILD")
                topic = candidates[0]
            if topic not in topics:
                raise EvalError(f"{path} has no topic {topic!r}; topics: {sorted(topics)}")
            typename = topics[topic]
            if typename not in POSE_TYPES:
                raise EvalError(f"{path}: topic {topic} is {typename}, not one of {POSE_TYPES}")
            return _pose_topic(bag, topic, typename)
    except SlamNodesError as err:
        if isinstance(err, EvalError):
            raise
        raise EvalError(f"cannot read trajectory from bag {path}: {err}") from err


def _pose_topic(bag, topic: str, typename: str) -> Trajectory:
    from slam_nodes.msgs import geometry
    from slam_nodes.msgs.stamps import stamp_to_ns

    stamps: list[int] = []
    poses: list[np.ndarray] = []
    last_path = None
    for m in bag.messages([topic]):
        try:
            if typename == "nav_msgs/msg/Path":
                last_path = m.msg
                continue
            stamp = stamp_to_ns(m.msg.header.stamp)
            if typename == "geometry_msgs/msg/PoseStamped":
                T = geometry.pose_from_msg(m.msg.pose)
            elif typename == "geometry_msgs/msg/TransformStamped":
                T = geometry.transform_from_msg(m.msg.transform)
            else:  # PoseWithCovarianceStamped, Odometry
                T = geometry.pose_from_msg(m.msg.pose.pose)
        except SlamNodesError as err:
            logger.warning("%s at %d ns: skipped bad pose (%s)", topic, m.log_time_ns, err)
            continue
        if not np.isfinite(T).all():
            logger.warning("%s at %d ns: skipped pose with NaN/inf", topic, m.log_time_ns)
            continue
        stamps.append(stamp)
        poses.append(T)
    if typename == "nav_msgs/msg/Path":
        if last_path is None:
            raise EvalError(f"topic {topic} has no messages")
        return geometry.path_from_msg(last_path)
    if not poses:
        raise EvalError(f"topic {topic} has no valid pose messages")
    return Trajectory(np.asarray(stamps, dtype=np.int64), np.stack(poses))


def _tf_chain(bag, spec: str, topics: dict[str, str]) -> Trajectory:
    """T_parent_child over time from /tf (+ /tf_static)."""
    from slam_nodes.msgs.geometry import TfBuffer, tf_from_msg

    parent, _, child = (s.strip() for s in spec.partition("->"))
    if not parent or not child:
        raise EvalError(f"TF chain must be written PARENT->CHILD, got {spec!r}")
    present = [t for t in TF_TOPICS if t in topics]
    if "/tf" not in present:
        raise EvalError(f"bag has no /tf topic for the TF chain {spec}")
    buffer = TfBuffer()
    edge_stamps: dict[str, list[int]] = {}
    for m in bag.messages(present):
        static = m.topic == "/tf_static"
        try:
            transforms = tf_from_msg(m.msg)
        except SlamNodesError as err:
            logger.warning("%s at %d ns: skipped bad TF message (%s)", m.topic, m.log_time_ns, err)
            continue
        for tf in transforms:
            try:
                buffer.add(tf, static=static)
            except SlamNodesError as err:
                logger.warning("%s at %d ns: skipped transform %s->%s (%s)", m.topic,
                               m.log_time_ns, tf.parent, tf.child, err)
                continue
            if not static:
                edge_stamps.setdefault(tf.child, []).append(int(tf.stamp_ns))
    # moving edges on the path child -> ... -> parent (or below the common ancestor)
    chain_frames = set(buffer.chain(child)) | set(buffer.chain(parent))
    moving = {f: np.unique(np.asarray(s, dtype=np.int64))
              for f, s in edge_stamps.items() if f in chain_frames}
    if not moving:
        raise EvalError(f"TF chain {spec}: no moving transform links {parent!r} and {child!r}")
    lo = max(s[0] for s in moving.values())
    hi = min(s[-1] for s in moving.values())
    sparsest = min(moving.values(), key=len)
    stamps = sparsest[(sparsest >= lo) & (sparsest <= hi)]
    if len(stamps) == 0:
        raise EvalError(f"TF chain {spec}: its moving edges do not overlap in time")
    try:
        poses = buffer.lookup_many(parent, child, stamps)
    except SlamNodesError as err:
        raise EvalError(f"TF chain {spec}: {err}") from err
    return Trajectory(stamps, poses)
