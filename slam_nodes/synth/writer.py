"""Write a synthetic sequence: a rosbag2 MCAP plus ground-truth files beside it.

Output folder layout (`generate(..., out_dir)`):
    bag/                    rosbag2 MCAP (topics below)
    gt_camera.tum           T_map_camera_optical_frame at every camera frame stamp
    gt_event_camera.tum     T_map_event_camera_optical_frame at 200 Hz (same pose as the camera)
    gt_lidar.tum            T_map_lidar at every sweep start stamp
    gt_base_link.tum        T_map_base_link at 200 Hz
    gt_imu.tum, imu_gt.csv  T_map_imu and noise-free gyro/accel + biases at the IMU stamps
    photometry.csv          frame, stamp_ns, exposure_s, gain, illumination, blur_samples
    crf.json                camera response curve (parameters and a 256-entry table)
    scene.ply               the whole scene mesh (face colours = mean albedo)
    objects.json, objects/  objects: id, class, box centre/size/rotation, mesh file (PLY)
    sequence.json           config, camera, extrinsics, message counts, timings

Bag topics (DESIGN.md section 5): /camera/rgb/image (rgb8), /camera/rgb/camera_info,
/camera/depth/image (16UC1 mm, registered to the colour camera), /camera/depth/camera_info,
/events (event_camera_msgs/EventPacket 'mono' or 'evt3', or dvs_msgs/EventArray),
/points (PointCloud2 with intensity, ring, t), /imu (sensor_msgs/Imu, no orientation),
/tf_static (base_link -> camera_optical_frame, -> event_camera_optical_frame, -> lidar, -> imu),
/ground_truth/pose (PoseStamped in 'map').
Messages are written in stamp order (a short reorder buffer), with log time = header stamp.
"""

from __future__ import annotations

import heapq
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.synth.camera_sim import response_curve
from slam_nodes.synth.config import SequenceConfig
from slam_nodes.synth.presets import get_preset
from slam_nodes.synth.sequence import (NS, Sequence, SynthEvents, SynthFrame, SynthImu, SynthScan,
                                       build_sequence)
from slam_nodes.types import CameraModel, EventBatch, Trajectory, write_tum

logger = logging.getLogger(__name__)

CAMERA_FRAME = "camera_optical_frame"
EVENT_FRAME = "event_camera_optical_frame"
BASE_FRAME = "base_link"
MAP_FRAME = "map"
TOPICS = {
    "rgb": ("/camera/rgb/image", "sensor_msgs/msg/Image", "sensor"),
    "rgb_info": ("/camera/rgb/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
    "depth": ("/camera/depth/image", "sensor_msgs/msg/Image", "sensor"),
    "depth_info": ("/camera/depth/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
    "events": ("/events", "event_camera_msgs/msg/EventPacket", "sensor"),
    "points": ("/points", "sensor_msgs/msg/PointCloud2", "sensor"),
    "tf_static": ("/tf_static", "tf2_msgs/msg/TFMessage", "transient_local"),
    "gt_pose": ("/ground_truth/pose", "geometry_msgs/msg/PoseStamped", None),
    "imu": ("/imu", "sensor_msgs/msg/Imu", "sensor"),
}
GT_RATE_HZ = 200.0
_REORDER_NS = NS // 2


@dataclass
class SequenceInfo:
    """What `generate` wrote. counts: messages per topic; timings_s: seconds per stage
    (scene, plan, render, events, camera, lidar, encode, write, ground_truth, total)."""

    out_dir: Path
    bag_path: Path
    config: SequenceConfig
    camera: CameraModel
    num_frames: int
    num_events: int
    num_scans: int
    counts: dict[str, int] = field(default_factory=dict)
    timings_s: dict[str, float] = field(default_factory=dict)


class _OrderedBag:
    """Buffers serialised messages and writes them to a BagWriter in (stamp, order) order."""

    def __init__(self, bag, timings: dict[str, float]) -> None:
        self.bag, self.timings = bag, timings
        self._heap: list[tuple[int, int, str, bytes]] = []
        self._seq = 0
        self._latest = -(2**62)

    def put(self, topic: str, stamp_ns: int, msg, typename: str) -> None:
        t = time.perf_counter()
        data = self.bag.typestore.serialize_cdr(msg, typename)
        self.timings["encode"] = self.timings.get("encode", 0.0) + time.perf_counter() - t
        self.put_cdr(topic, stamp_ns, data)

    def put_cdr(self, topic: str, stamp_ns: int, data: bytes) -> None:
        heapq.heappush(self._heap, (int(stamp_ns), self._seq, topic, data))
        self._seq += 1
        self._latest = max(self._latest, int(stamp_ns))
        self._flush(self._latest - _REORDER_NS)

    def _flush(self, before_ns: int | None) -> None:
        t = time.perf_counter()
        while self._heap and (before_ns is None or self._heap[0][0] < before_ns):
            stamp, _, topic, data = heapq.heappop(self._heap)
            self.bag.write_cdr(topic, stamp, data)
        self.timings["write"] = self.timings.get("write", 0.0) + time.perf_counter() - t

    def finish(self) -> None:
        self._flush(None)


def _resolve(preset: str | SequenceConfig, seed: int | None, overrides: dict) -> SequenceConfig:
    cfg = get_preset(preset) if isinstance(preset, str) else preset
    if not isinstance(cfg, SequenceConfig):
        raise ConfigError(f"expected a preset name or SequenceConfig, got {type(preset).__name__}")
    if seed is not None:
        overrides = {**overrides, "seed": int(seed)}
    return cfg.with_overrides(**overrides)


def generate(preset: str | SequenceConfig, out_dir: str | Path, seed: int | None = 0,
             progress: Callable[[int, int], None] | None = None, nthreads: int = 0,
             workers: int = 2, overwrite: bool = False, **overrides) -> SequenceInfo:
    """Render preset (name or config) into `out_dir` (bag + ground truth; see module docstring).

    overrides: SequenceConfig fields (duration_s, scene, ...) or width / height / rate_hz.
    progress(done, total) is called after each render sample; workers / nthreads: render
    threads and Open3D threads per render (see build_sequence). Raises ConfigError for bad
    options and BagError when the bag cannot be written (an existing bag needs overwrite).
    """
    from slam_nodes.io.bag_writer import BagWriter

    t_start = time.perf_counter()
    cfg = _resolve(preset, seed, overrides)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seq = build_sequence(cfg, nthreads=nthreads, workers=workers)
    timings = seq.timings_s
    total = len(seq.plan.sample_ns)
    done = [0]

    def tick(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(done[0], total)

    counts = {"frames": 0, "events": 0, "scans": 0}
    bag_path = out / "bag"
    with BagWriter(bag_path, overwrite=overwrite) as bag:
        ob = _OrderedBag(bag, timings)
        _add_topics(bag, cfg)
        _write_static(ob, seq)
        for item in seq.items(tick):
            if isinstance(item, SynthFrame):
                _write_frame(ob, seq, item)
                counts["frames"] += 1
            elif isinstance(item, SynthEvents):
                counts["events"] += _write_events(ob, seq, item)
            elif isinstance(item, SynthScan):
                _write_scan(ob, seq, item)
                counts["scans"] += 1
            elif isinstance(item, SynthImu):
                _write_imu(ob, seq, item)
        ob.finish()
        msg_counts = dict(bag.counts)
    t = time.perf_counter()
    _write_ground_truth(out, seq, msg_counts)
    timings["ground_truth"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t_start
    _write_json(out / "sequence.json", _sequence_json(seq, msg_counts, timings, counts))
    return SequenceInfo(out, bag_path, cfg, seq.camera, counts["frames"], counts["events"],
                        counts["scans"], msg_counts, dict(timings))


# ------------------------------------------------------------------------------ bag messages
def _add_topics(bag, cfg: SequenceConfig) -> None:
    keys = ["rgb", "rgb_info", "tf_static", "gt_pose"]
    if cfg.depth is not None:
        keys += ["depth", "depth_info"]
    if cfg.lidar is not None:
        keys.append("points")
    if cfg.imu is not None:
        keys.append("imu")
    for key in keys:
        name, typename, qos = TOPICS[key]
        bag.add_topic(name, typename, qos_profile=qos)
    if cfg.events is not None:
        typename = "dvs_msgs/msg/EventArray" if cfg.events.encoding == "dvs" else TOPICS["events"][1]
        bag.add_topic(TOPICS["events"][0], typename, qos_profile="sensor")


def _write_static(ob: _OrderedBag, seq: Sequence) -> None:
    from slam_nodes.msgs.geometry import StampedTransform, tf_to_msg

    stamp = seq.config.start_ns
    tfs = [StampedTransform(BASE_FRAME, CAMERA_FRAME, stamp, seq.T_base_cam),
           StampedTransform(BASE_FRAME, EVENT_FRAME, stamp, seq.T_base_cam)]
    if seq.config.lidar is not None:
        tfs.append(StampedTransform(BASE_FRAME, seq.config.lidar.frame_id, stamp, seq.T_base_lidar))
    if seq.config.imu is not None:
        tfs.append(StampedTransform(BASE_FRAME, seq.config.imu.frame_id, stamp, seq.T_base_imu))
    name, typename, _ = TOPICS["tf_static"]
    ob.put(name, stamp, tf_to_msg(tfs), typename)


def _write_frame(ob: _OrderedBag, seq: Sequence, frame: SynthFrame) -> None:
    from slam_nodes.msgs import camera_to_msg, depth_to_msg, pose_stamped_to_msg, rgb_to_msg

    t = time.perf_counter()
    stamp = frame.stamp_ns
    info = camera_to_msg(seq.camera, stamp)  # depth is registered to colour: one CameraInfo serves both
    msgs = [("rgb", rgb_to_msg(frame.rgb, stamp, CAMERA_FRAME)),
            ("rgb_info", info),
            ("gt_pose", pose_stamped_to_msg(frame.T_world_cam, stamp, MAP_FRAME))]
    if frame.depth is not None:
        msgs += [("depth", depth_to_msg(frame.depth, stamp, CAMERA_FRAME, "16UC1")),
                 ("depth_info", info)]
    ob.timings["encode"] = ob.timings.get("encode", 0.0) + time.perf_counter() - t
    for key, msg in msgs:
        name, typename, _ = TOPICS[key]
        ob.put(name, stamp, msg, typename)


def _write_events(ob: _OrderedBag, seq: Sequence, item: SynthEvents) -> int:
    from slam_nodes.events import dvs_event_array_cdr, event_packet_msg

    batch = item.events
    if len(batch) == 0:
        return 0
    t = time.perf_counter()
    stamp = int(batch.t[0])
    encoding = seq.config.events.encoding
    name = TOPICS["events"][0]
    if encoding == "dvs":
        data = dvs_event_array_cdr(batch, stamp, EVENT_FRAME)
        ob.timings["encode"] = ob.timings.get("encode", 0.0) + time.perf_counter() - t
        ob.put_cdr(name, stamp, data)
        return len(batch)
    if encoding == "evt3":  # EVT3 carries sensor time: µs since the camera started
        batch = EventBatch(batch.t - seq.config.start_ns, batch.x, batch.y, batch.p,
                           batch.width, batch.height)
    msg = event_packet_msg(batch, encoding, stamp, EVENT_FRAME)
    ob.timings["encode"] = ob.timings.get("encode", 0.0) + time.perf_counter() - t
    ob.put(name, stamp, msg, TOPICS["events"][1])
    return len(batch)


def _write_scan(ob: _OrderedBag, seq: Sequence, item: SynthScan) -> None:
    from slam_nodes.msgs import scan_to_msg

    t = time.perf_counter()
    msg = scan_to_msg(item.sim.scan)
    ob.timings["encode"] = ob.timings.get("encode", 0.0) + time.perf_counter() - t
    name, typename, _ = TOPICS["points"]
    ob.put(name, item.sim.scan.stamp_ns, msg, typename)


def _write_imu(ob: _OrderedBag, seq: Sequence, item: SynthImu) -> None:
    from slam_nodes.msgs.geometry import ImuSample, imu_to_msg

    r = item.readings
    name, typename, _ = TOPICS["imu"]
    frame_id = seq.config.imu.frame_id
    for k in range(len(r.stamps_ns)):  # one message per reading (200 Hz), not per point
        t = time.perf_counter()
        msg = imu_to_msg(ImuSample(int(r.stamps_ns[k]), r.gyro[k], r.accel[k], None, frame_id))
        ob.timings["encode"] = ob.timings.get("encode", 0.0) + time.perf_counter() - t
        ob.put(name, int(r.stamps_ns[k]), msg, typename)


# ------------------------------------------------------------------------------ ground truth
def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=_json_default) + "\n")
    tmp.replace(path)


def _json_default(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def _write_ground_truth(out: Path, seq: Sequence, counts: dict[str, int]) -> None:
    cfg, plan = seq.config, seq.plan
    write_tum(out / "gt_camera.tum", Trajectory(plan.frame_ns, seq.camera_poses(plan.frame_ns)))
    span_end = cfg.start_ns + int(round(cfg.duration_s * NS))
    dense = np.arange(cfg.start_ns, span_end + 1, int(NS / GT_RATE_HZ), dtype=np.int64)
    base = seq.trajectory.poses(dense)
    write_tum(out / "gt_base_link.tum", Trajectory(dense, base))
    if cfg.events is not None:
        write_tum(out / "gt_event_camera.tum", Trajectory(dense, base @ seq.T_base_cam))
    if cfg.lidar is not None and len(plan.scan_ns):
        write_tum(out / "gt_lidar.tum", Trajectory(plan.scan_ns, seq.lidar_poses(plan.scan_ns)))
    imu = seq.imu_readings()
    if imu is not None:
        write_tum(out / "gt_imu.tum", Trajectory(imu.stamps_ns, seq.imu_poses(imu.stamps_ns)))
        table = np.column_stack([imu.gyro_true, imu.accel_true, imu.gyro_bias, imu.accel_bias])
        rows = ["stamp_ns,wx,wy,wz,ax,ay,az,bwx,bwy,bwz,bax,bay,baz"]
        rows += [f"{int(s)}," + ",".join(f"{v:.9g}" for v in row)
                 for s, row in zip(imu.stamps_ns, table)]
        (out / "imu_gt.csv").write_text("\n".join(rows) + "\n")
    lines = ["frame,stamp_ns,exposure_s,gain,illumination"]
    for i, stamp in enumerate(plan.frame_ns):
        lines.append(f"{i},{int(stamp)},{plan.exposure_s[i]:.9f},{plan.gain[i]:.6f},"
                     f"{plan.illumination[i]:.6f}")
    (out / "photometry.csv").write_text("\n".join(lines) + "\n")
    r = cfg.rgb
    _write_json(out / "crf.json", {
        "model": "I = (1 + a) v^(1/g) / (a + v^(1/g)), v = gain * exposure_s * sensitivity_per_s * radiance",
        "gamma": r.crf_gamma, "shoulder": r.crf_shoulder, "sensitivity_per_s": r.sensitivity_per_s,
        "table_v": np.linspace(0, 1, 256), "table_i": response_curve(np.linspace(0, 1, 256),
                                                                     r.crf_gamma, r.crf_shoulder)})
    seq.scene.mesh().export(out / "scene.ply")
    obj_dir = out / "objects"
    obj_dir.mkdir(exist_ok=True)
    objects = []
    for inst in seq.scene.objects:
        fname = f"{inst.instance_id:03d}_{inst.class_name}.ply"
        inst.mesh().export(obj_dir / fname)
        objects.append({"id": inst.instance_id, "class": inst.class_name,
                        "box_centre": inst.box_centre, "box_size": inst.box_size,
                        "box_rotation": inst.box_rotation, "mesh": f"objects/{fname}"})
    structure = [{"id": i.instance_id, "class": i.class_name} for i in seq.scene.instances
                 if i.is_structure]
    _write_json(out / "objects.json", {"frame": MAP_FRAME, "objects": objects,
                                       "structure": structure})


def _sequence_json(seq: Sequence, counts: dict[str, int], timings: dict[str, float],
                   totals: dict[str, int]) -> dict:
    cfg, cam = seq.config, seq.camera
    return {
        "config": cfg.to_dict(),
        "camera": {"width": cam.width, "height": cam.height, "K": cam.K, "frame_id": CAMERA_FRAME},
        "frames": {"map": MAP_FRAME, "base": BASE_FRAME, "camera": CAMERA_FRAME,
                   "event_camera": EVENT_FRAME, "lidar": cfg.lidar.frame_id if cfg.lidar else None,
                   "imu": cfg.imu.frame_id if cfg.imu else None},
        "T_base_camera": seq.T_base_cam, "T_base_lidar": seq.T_base_lidar,
        "T_base_imu": seq.T_base_imu,
        "topics": {key: name for key, (name, _, _) in TOPICS.items()},
        "message_counts": counts,
        "num_frames": totals["frames"], "num_events": totals["events"], "num_scans": totals["scans"],
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
