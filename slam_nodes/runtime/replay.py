"""Replay a bag through en_slam_node offline: the library side of `slam-nodes replay`.

Writes into `out_dir`:
  out/            rosbag2 MCAP bag (out/out.mcap + metadata.yaml) of everything the node
                  published, stamped with sim time (`ros2 bag play`, `evo_traj bag2` read it);
  trajectory.tum  T_world_cam of every processed frame (world = first camera frame);
  mesh.ply        the map mesh (world frame), when the engine has one;
  config.yaml     the node parameters used (ROS 2 params-file format);
  summary.json    counts, skipped messages by reason, frames/s;
  metrics.json, report.md (+ figures) from slam_nodes.eval when the bag holds ground truth.
Ctrl-C (KeyboardInterrupt) stops the replay, still closes the bag and writes the files for what
was processed, then re-raises. Replays are deterministic on CPU (no threads, sim time only).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from slam_nodes.errors import BagError
from slam_nodes.nodes.config import SlamNodeConfig, save_node_config
from slam_nodes.nodes.en_slam_node import NODE_NAME, EnSlamNode
from slam_nodes.runtime.interface import Durability, QoSProfile, Reliability
from slam_nodes.runtime.offline import OfflineRuntime

logger = logging.getLogger(__name__)

GT_TOPIC = "/ground_truth/pose"
OUT_BAG = "out"


@dataclass
class ReplayResult:
    out_dir: Path
    messages: int
    frames: int
    wall_s: float
    bag: Path
    trajectory: Path
    mesh: Path | None
    metrics: dict | None = None
    skipped: dict = field(default_factory=dict)
    interrupted: bool = False


def _qos_name(qos: QoSProfile) -> str | None:
    if qos.durability is Durability.TRANSIENT_LOCAL:
        return "transient_local"
    if qos.reliability is Reliability.BEST_EFFORT:
        return "sensor"
    return None


def replay_bag(bag_path: str | Path, config: SlamNodeConfig, out_dir: str | Path, *,
               rate: float | None = None, remappings: dict[str, str] | None = None,
               progress: bool = False, gt_topic: str = GT_TOPIC, evaluate: bool = True,
               figures: bool = False, engine=None) -> ReplayResult:
    """Replay `bag_path` through en_slam_node with `config`; see the module doc."""
    from slam_nodes.io.bag import open_bag
    from slam_nodes.io.bag_writer import BagWriter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_node_config(out / "config.yaml", config)

    def record(topic, typename, qos, stamp_ns, msg) -> None:
        if topic not in bag_out.counts:
            bag_out.add_topic(topic, typename, _qos_name(qos))
        bag_out.write(topic, stamp_ns, msg)

    runtime = OfflineRuntime(NODE_NAME, remappings=remappings, on_publish=record)
    node = EnSlamNode(runtime, config, engine)  # engines import heavy libraries: before the bag
    bag_out = BagWriter(out / OUT_BAG, overwrite=True)
    t0 = time.perf_counter()
    interrupted = False
    n = 0
    try:
        with open_bag(bag_path) as bag:
            wanted = [t for t in runtime.subscribed_topics() if t in bag.topics]
            if not wanted:
                raise BagError(f"{bag_path}: none of the node's topics "
                               f"{sorted(runtime.subscribed_topics())} is in the bag (topics: "
                               f"{sorted(bag.topics)}); remap them with --remap FROM:=TO")
            has_gt = gt_topic in bag.topics
            total = sum(bag.topics[t].count for t in wanted)
            bar = _progress(total, progress)
            try:
                n = runtime.spin_messages(
                    ((m.topic, m.typename, m.log_time_ns, m.msg) for m in bag.messages(wanted)),
                    rate=rate, on_message=lambda _i: bar.update(1))
                runtime.flush(extra_ns=1)
            except KeyboardInterrupt:
                interrupted = True
            finally:
                bar.close()
    finally:
        bag_out.close()
    wall = time.perf_counter() - t0
    files = node.save_map(out)
    mesh_path = out / "mesh.ply" if (out / "mesh.ply") in files else None
    skipped = {topic: dict(st.skipped) for topic, st in node.monitor.topics.items()
               if st.skipped}
    summary = {"bag": str(bag_path), "messages": n, "frames": node.frames_done,
               "tracking_lost": node.tracking_lost, "wall_s": round(wall, 3),
               "frames_per_s": round(node.frames_done / wall, 3) if wall > 0 else None,
               "engine": config.engine.name, "skipped": skipped, "interrupted": interrupted,
               "published": {t: p.count for t, p in sorted(runtime.publishers.items())}}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    metrics = None
    if evaluate and has_gt and node.frames_done >= 2 and not interrupted:
        from slam_nodes.eval.evaluate import evaluate_to_dir

        camera = node.cameras.get("depth") or node.cameras.get("rgb")
        metrics = evaluate_to_dir(out, est=out, gt=bag_path, gt_topic=gt_topic, camera=camera,
                                  name=Path(bag_path).name, figures=figures)
    result = ReplayResult(out, n, node.frames_done, wall, bag_out.path, out / "trajectory.tum",
                          mesh_path, metrics, skipped, interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="msg", disable=not enabled, desc="replay")
