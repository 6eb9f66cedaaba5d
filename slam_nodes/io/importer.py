"""Convert a dataset folder (TUM RGB-D, 7-Scenes, KITTI odometry) into a rosbag2 MCAP bag.

Topics written (message stamps = the dataset's stamps; bag log time = message stamp):

  RGB-D datasets                                   LiDAR datasets (KITTI)
  /camera/rgb/image         sensor_msgs/Image rgb8  /points   sensor_msgs/PointCloud2
  /camera/depth/image       sensor_msgs/Image 16UC1 (x y z intensity float32, frame velodyne)
                            (millimetres; or 32FC1 metres)
  /camera/rgb/camera_info   sensor_msgs/CameraInfo
  /camera/depth/camera_info sensor_msgs/CameraInfo
  /ground_truth/pose        geometry_msgs/PoseStamped, frame "map": T_map_sensor
  /tf_static                tf2_msgs/TFMessage, one message at the first stamp

RGB-D: colour and depth share the dataset's camera frame "camera_optical_frame" (the readers
give one registered camera), and /tf_static holds camera_link -> camera_optical_frame with the
usual optical rotation (z forward, x right, y down in a REP-103 x-forward body). LiDAR:
/tf_static holds base_link -> velodyne (identity). The ground-truth pose is that of the sensor
frame (camera_optical_frame or velodyne) in "map".

Ground truth kept: samples from the last one at or before the first written frame to the first
one at or after the last written frame (so it covers the frames for interpolation). They are
also written beside the bag's storage as `<BAG>/groundtruth.tum` (TUM format, seconds);
`ros2 bag` and rosbags ignore extra files in a bag folder.

Sensor topics are recorded with the sensor-data QoS (best effort), /tf_static transient local.
Precision: 16UC1 depth is rounded to whole millimetres (TUM's 1/5000 m steps are lost; use
depth_encoding="32FC1" to keep them).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.io.datasets import DatasetReader
from slam_nodes.types import Trajectory, write_tum

RGB_TOPIC = "/camera/rgb/image"
DEPTH_TOPIC = "/camera/depth/image"
RGB_INFO_TOPIC = "/camera/rgb/camera_info"
DEPTH_INFO_TOPIC = "/camera/depth/camera_info"
POINTS_TOPIC = "/points"
GT_TOPIC = "/ground_truth/pose"
TF_STATIC_TOPIC = "/tf_static"
MAP_FRAME = "map"
GT_FILENAME = "groundtruth.tum"
# T_camera_link_optical: optical z (forward) = body x, optical x (right) = -body y, y (down) = -z
R_LINK_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass
class ImportResult:
    """What `import_dataset` wrote: the bag folder, frame and pose counts, per-topic counts,
    and the TUM ground-truth file (None when the dataset has no ground truth)."""

    bag_path: Path
    frames: int
    ground_truth_poses: int
    topic_counts: dict[str, int]
    ground_truth_path: Path | None


def import_dataset(reader: DatasetReader, out: str | Path, max_frames: int | None = None,
                   depth_encoding: str = "16UC1", overwrite: bool = False,
                   compression: str | None = None,
                   progress: Callable[[int], None] | None = None) -> ImportResult:
    """Write the frames of `reader` (the first `max_frames`) and its ground truth into the bag
    folder `out` (see module docstring). `progress(1)` is called after each frame."""
    if depth_encoding not in ("16UC1", "32FC1"):
        raise DatasetError(f"depth_encoding must be 16UC1 or 32FC1, got {depth_encoding!r}")
    if max_frames is not None and max_frames < 1:
        raise DatasetError(f"max_frames must be at least 1, got {max_frames}")
    out = Path(out)
    stamps: list[int] = []
    gt = reader.ground_truth
    gt_written: list[int] = []
    with BagWriter(out, overwrite=overwrite, compression=compression) as bag:
        _add_topics(bag, reader.kind, gt is not None)
        gt_next = 0
        for frame in reader.frames(max_frames):
            if not stamps:
                _write_tf_static(bag, reader, frame)
                if gt is not None:  # start at the last GT sample at or before the first frame
                    gt_next = max(int(np.searchsorted(gt.stamps_ns, frame.stamp_ns, "right")) - 1,
                                  0)
            stamps.append(frame.stamp_ns)
            if gt is not None:
                gt_next = _write_gt(bag, gt, gt_next, frame.stamp_ns, gt_written)
            _write_frame(bag, reader.kind, frame, depth_encoding)
            if progress is not None:
                progress(1)
        if gt is not None and stamps and gt_next < len(gt):
            # up to and including the first sample at or after the last frame
            last = int(np.searchsorted(gt.stamps_ns, stamps[-1], "left"))
            _write_gt(bag, gt, gt_next, int(gt.stamps_ns[min(last, len(gt) - 1)]), gt_written)
    if not stamps:
        shutil.rmtree(out, ignore_errors=True)  # an empty bag is no use; do not leave one
        raise DatasetError(f"{reader.root}: no frames were imported")
    gt_path = None
    if gt is not None:
        gt_path = out / GT_FILENAME
        idx = np.asarray(gt_written, dtype=np.int64)
        write_tum(gt_path, Trajectory(gt.stamps_ns[idx], gt.poses[idx]))
    return ImportResult(out, len(stamps), len(gt_written), dict(bag.counts), gt_path)


def _add_topics(bag: BagWriter, kind: str, has_gt: bool) -> None:
    if kind == "rgbd":
        bag.add_topic(RGB_TOPIC, "sensor_msgs/msg/Image", "sensor")
        bag.add_topic(DEPTH_TOPIC, "sensor_msgs/msg/Image", "sensor")
        bag.add_topic(RGB_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", "sensor")
        bag.add_topic(DEPTH_INFO_TOPIC, "sensor_msgs/msg/CameraInfo", "sensor")
    elif kind == "lidar":
        bag.add_topic(POINTS_TOPIC, "sensor_msgs/msg/PointCloud2", "sensor")
    else:
        raise DatasetError(f"cannot import a dataset of kind {kind!r}")
    if has_gt:
        bag.add_topic(GT_TOPIC, "geometry_msgs/msg/PoseStamped")
    bag.add_topic(TF_STATIC_TOPIC, "tf2_msgs/msg/TFMessage", "transient_local")


def _write_tf_static(bag: BagWriter, reader: DatasetReader, first_frame) -> None:
    from slam_nodes.msgs.geometry import StampedTransform, tf_to_msg

    stamp = first_frame.stamp_ns
    if reader.kind == "rgbd":
        T = np.eye(4)
        T[:3, :3] = R_LINK_OPTICAL
        edge = StampedTransform("camera_link", first_frame.camera.frame_id, stamp, T)
    else:
        edge = StampedTransform("base_link", first_frame.frame_id, stamp, np.eye(4))
    bag.write(TF_STATIC_TOPIC, stamp, tf_to_msg([edge]))


def _write_gt(bag: BagWriter, gt: Trajectory, start: int, until_ns: int,
              written: list[int]) -> int:
    """Write GT samples start.. with stamps <= until_ns; returns the next index."""
    from slam_nodes.msgs.geometry import pose_stamped_to_msg

    k = start
    while k < len(gt) and gt.stamps_ns[k] <= until_ns:
        stamp = int(gt.stamps_ns[k])
        bag.write(GT_TOPIC, stamp, pose_stamped_to_msg(gt.poses[k], stamp, MAP_FRAME))
        written.append(k)
        k += 1
    return k


def _write_frame(bag: BagWriter, kind: str, frame, depth_encoding: str) -> None:
    stamp = frame.stamp_ns
    if kind == "lidar":
        from slam_nodes.msgs.pointcloud import scan_to_msg

        bag.write(POINTS_TOPIC, stamp, scan_to_msg(frame))
        return
    from slam_nodes.msgs.camera_info import camera_to_msg
    from slam_nodes.msgs.image import depth_to_msg, rgb_to_msg

    cam = frame.camera
    info = camera_to_msg(cam, stamp)
    if frame.rgb is not None:
        bag.write(RGB_INFO_TOPIC, stamp, info)
        bag.write(RGB_TOPIC, stamp, rgb_to_msg(frame.rgb, stamp, cam.frame_id))
    if frame.depth is not None:
        bag.write(DEPTH_INFO_TOPIC, stamp, info)
        bag.write(DEPTH_TOPIC, stamp, depth_to_msg(frame.depth, stamp, cam.frame_id,
                                                   depth_encoding))
