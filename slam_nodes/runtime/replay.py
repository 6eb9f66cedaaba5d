"""Replay a bag through a node offline: the library side of `slam-nodes replay`.

`replay_bag` drives en_slam_node and writes into `out_dir`:
  out/            rosbag2 MCAP bag (out/out.mcap + metadata.yaml) of everything the node
                  published, stamped with sim time (`ros2 bag play`, `evo_traj bag2` read it);
  trajectory.tum  T_world_rig of every processed frame (the camera optical frame, or the LiDAR
                  frame in a LiDAR-only set; world = that frame at the first frame);
  mesh.ply        the map mesh (world frame), when the engine has one;
  config.yaml     the node parameters used (ROS 2 params-file format);
  summary.json    counts, skipped messages by reason, frames/s;
  metrics.json, report.md (+ figures) from slam_nodes.eval when ground truth is available (the
                  bag's ground-truth topic, or a TUM file / bag given as `gt`).
`replay_assets` drives asset_completion_node and writes out/, config.yaml, summary.json and the
node's asset folders + assets.json (under the config's outputs.output_dir).
Ctrl-C (KeyboardInterrupt) stops a replay, still closes the bag and writes the files for what
was processed, then re-raises. Replays are deterministic on CPU (no threads, sim time only).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from slam_nodes.errors import BagError
from slam_nodes.nodes.asset_config import AssetNodeConfig
from slam_nodes.nodes.config import SlamNodeConfig
from slam_nodes.nodes.registry import get_node
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


@dataclass
class AssetReplayResult:
    """What `replay_assets` did: clouds used, and assets.json's rows (one per asset)."""

    out_dir: Path
    messages: int
    scans_used: int
    wall_s: float
    bag: Path
    assets: list
    skipped: dict = field(default_factory=dict)
    interrupted: bool = False


def _qos_name(qos: QoSProfile) -> str | None:
    if qos.durability is Durability.TRANSIENT_LOCAL:
        return "transient_local"
    if qos.reliability is Reliability.BEST_EFFORT:
        return "sensor"
    return None


class _Recorder:
    """on_publish callback writing every published message into a rosbag2 MCAP (sim time)."""

    def __init__(self) -> None:
        self.bag = None

    def open(self, path: Path) -> None:
        from slam_nodes.io.bag_writer import BagWriter

        self.bag = BagWriter(path, overwrite=True)

    def __call__(self, topic, typename, qos, stamp_ns, msg) -> None:
        if self.bag is None:
            return
        if topic not in self.bag.counts:
            self.bag.add_topic(topic, typename, _qos_name(qos))
        self.bag.write(topic, stamp_ns, msg)


def _start(node_name: str, config, out_dir: str | Path, remappings: dict[str, str] | None,
           build) -> tuple[Path, _Recorder, OfflineRuntime, object]:
    """(out folder, recorder, runtime, node): out_dir created with config.yaml in it, the node
    built on an offline runtime by `build(runtime)` (engines import heavy libraries: before the
    output bag is opened, so a failed build leaves none) and its output bag opened."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    get_node(node_name).save_config(out / "config.yaml", config)
    recorder = _Recorder()
    runtime = OfflineRuntime(node_name, remappings=remappings, on_publish=recorder)
    node = build(runtime)
    recorder.open(out / OUT_BAG)
    return out, recorder, runtime, node


def _drive(bag_path: str | Path, runtime: OfflineRuntime, rate: float | None,
           progress: bool, required: tuple[str, ...] = ()) -> tuple[int, bool, set[str]]:
    """Deliver the bag's messages on the node's topics in log-time order, then fire the timers
    once more; return (messages delivered, interrupted by Ctrl-C, the bag's topics).

    BagError when the bag has none of the node's topics or lacks a `required` one (node-relative
    names, resolved with the runtime's remappings)."""
    from slam_nodes.io.bag import open_bag

    with open_bag(bag_path) as bag:
        wanted = [t for t in runtime.subscribed_topics() if t in bag.topics]
        missing = [runtime.resolve(t) for t in required if runtime.resolve(t) not in bag.topics]
        if not wanted or missing:
            what = (f"the node's topics {sorted(missing)} are" if missing else
                    f"none of the node's topics {sorted(runtime.subscribed_topics())} is")
            raise BagError(f"{bag_path}: {what} not in the bag (topics: {sorted(bag.topics)});"
                           " remap them with --remap FROM:=TO")
        bar = _progress(sum(bag.topics[t].count for t in wanted), progress)
        count = [0]

        def tick(_i: int) -> None:
            count[0] += 1
            bar.update(1)

        try:
            runtime.spin_messages(
                ((m.topic, m.typename, m.log_time_ns, m.msg) for m in bag.messages(wanted)),
                rate=rate, on_message=tick)
            runtime.flush(extra_ns=1)
        except KeyboardInterrupt:
            return count[0], True, set(bag.topics)
        finally:
            bar.close()
        return count[0], False, set(bag.topics)


def replay_bag(bag_path: str | Path, config: SlamNodeConfig, out_dir: str | Path, *,
               rate: float | None = None, remappings: dict[str, str] | None = None,
               progress: bool = False, gt_topic: str = GT_TOPIC, gt: str | Path | None = None,
               evaluate: bool = True, figures: bool = False, engine=None) -> ReplayResult:
    """Replay `bag_path` through en_slam_node with `config`; see the module doc.

    gt: ground truth to score against, a TUM file or a bag (its `gt_topic`); None: the replayed
    bag's `gt_topic`, scored when the bag has it. A LiDAR-only set's trajectory is the LiDAR's,
    so score it against the LiDAR's ground truth (a synthetic sequence's gt_lidar.tum).
    """
    from slam_nodes.nodes.en_slam_node import NODE_NAME, EnSlamNode

    out, recorder, runtime, node = _start(NODE_NAME, config, out_dir, remappings,
                                          lambda rt: EnSlamNode(rt, config, engine))
    t0 = time.perf_counter()
    try:
        n, interrupted, topics = _drive(bag_path, runtime, rate, progress)
    finally:
        recorder.bag.close()
    wall = time.perf_counter() - t0
    files = node.save_map(out)
    mesh_path = out / "mesh.ply" if (out / "mesh.ply") in files else None
    skipped = _skipped(node.monitor)
    _write_summary(out, {
        "bag": str(bag_path), "messages": n, "frames": node.frames_done,
        "tracking_lost": node.tracking_lost, "wall_s": round(wall, 3),
        "frames_per_s": round(node.frames_done / wall, 3) if wall > 0 else None,
        "engine": config.engine.name, "skipped": skipped, "interrupted": interrupted,
        "published": {t: p.count for t, p in sorted(runtime.publishers.items())}})
    metrics = None
    has_gt = gt is not None or gt_topic in topics
    if evaluate and has_gt and node.frames_done >= 2 and not interrupted:
        from slam_nodes.eval.evaluate import evaluate_to_dir
        from slam_nodes.eval.sources import is_bag

        camera = node.cameras.get("depth") or node.cameras.get("rgb")
        source = bag_path if gt is None else gt
        metrics = evaluate_to_dir(out, est=out, gt=source,
                                  gt_topic=gt_topic if is_bag(source) else None, camera=camera,
                                  name=Path(bag_path).name, figures=figures)
    result = ReplayResult(out, n, node.frames_done, wall, recorder.bag.path,
                          out / "trajectory.tum", mesh_path, metrics, skipped, interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return result


def replay_assets(bag_path: str | Path, config: AssetNodeConfig, out_dir: str | Path, *,
                  rate: float | None = None, remappings: dict[str, str] | None = None,
                  progress: bool = False) -> AssetReplayResult:
    """Replay `bag_path` through asset_completion_node with `config`; at the end of the bag
    (or on Ctrl-C) the node's shutdown completes what changed, publishes ~/assets and writes
    the assets under config.outputs.output_dir. See the module doc for `out_dir`."""
    from slam_nodes.nodes.asset_completion_node import NODE_NAME, AssetCompletionNode

    out, recorder, runtime, node = _start(NODE_NAME, config, out_dir, remappings,
                                          lambda rt: AssetCompletionNode(rt, config))
    t0 = time.perf_counter()
    try:
        n, interrupted, _topics = _drive(bag_path, runtime, rate, progress, required=("points",))
        node.shutdown()  # its last completion is published into the output bag
    finally:
        recorder.bag.close()
    wall = time.perf_counter() - t0
    assets_json = Path(config.outputs.output_dir) / "assets.json"
    rows = json.loads(assets_json.read_text()) if assets_json.is_file() else []
    skipped = _skipped(node.monitor)
    _write_summary(out, {
        "bag": str(bag_path), "messages": n, "scans_used": node.scans_used,
        "assets": len(rows), "wall_s": round(wall, 3), "skipped": skipped,
        "interrupted": interrupted,
        "published": {t: p.count for t, p in sorted(runtime.publishers.items())}})
    result = AssetReplayResult(out, n, node.scans_used, wall, recorder.bag.path, rows, skipped,
                               interrupted)
    if interrupted:
        raise KeyboardInterrupt
    return result


def _skipped(monitor) -> dict:
    return {topic: dict(st.skipped) for topic, st in monitor.topics.items() if st.skipped}


def _write_summary(out: Path, summary: dict) -> None:
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="msg", disable=not enabled, desc="replay")
