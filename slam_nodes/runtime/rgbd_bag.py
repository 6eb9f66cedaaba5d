"""Write an RGB-D sequence (frames + optional ground truth) as a rosbag2 MCAP bag the node reads.

Topics (the node's defaults, so no remapping is needed):
  /rgb/image, /depth/image (sensor_msgs/Image rgb8 / 16UC1 mm or 32FC1 m),
  /rgb/camera_info, /depth/camera_info (sensor_msgs/CameraInfo, one per frame),
  /ground_truth/pose (geometry_msgs/PoseStamped T_world_cam, frame 'world').
Every message is logged at its frame's stamp (plus `log_delay_ns`), as a driver would record.
Used by the demo and by tests; real bags come from `ros2 bag record`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np

from slam_nodes.types import RGBDFrame

GT_FRAME = "world"


def write_rgbd_bag(path: str | Path, frames: Iterable[RGBDFrame],
                   gt_poses: Iterable[np.ndarray] | None = None, *,
                   depth_encoding: str = "16UC1", log_delay_ns: int = 0,
                   overwrite: bool = True) -> Path:
    """Write `frames` (and T_world_cam ground truth, one per frame) to a bag at `path`."""
    from slam_nodes.io.bag_writer import BagWriter
    from slam_nodes.msgs.camera_info import camera_to_msg
    from slam_nodes.msgs.geometry import pose_stamped_to_msg
    from slam_nodes.msgs.image import depth_to_msg, rgb_to_msg

    gt_iter = iter(gt_poses) if gt_poses is not None else None
    with BagWriter(path, overwrite=overwrite) as bag:
        for topic, typename, qos in (
                ("/rgb/image", "sensor_msgs/msg/Image", "sensor"),
                ("/rgb/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
                ("/depth/image", "sensor_msgs/msg/Image", "sensor"),
                ("/depth/camera_info", "sensor_msgs/msg/CameraInfo", "sensor"),
                ("/ground_truth/pose", "geometry_msgs/msg/PoseStamped", None)):
            if topic == "/ground_truth/pose" and gt_iter is None:
                continue
            bag.add_topic(topic, typename, qos)
        for frame in frames:
            t = int(frame.stamp_ns)
            log_t = t + int(log_delay_ns)
            cam = frame.camera
            info = camera_to_msg(cam, t)
            if frame.rgb is not None:
                bag.write("/rgb/camera_info", log_t, info)
                bag.write("/rgb/image", log_t, rgb_to_msg(frame.rgb, t, cam.frame_id))
            if frame.depth is not None:
                bag.write("/depth/camera_info", log_t, info)
                bag.write("/depth/image", log_t,
                          depth_to_msg(frame.depth, t, cam.frame_id, depth_encoding))
            if gt_iter is not None:
                bag.write("/ground_truth/pose", log_t,
                          pose_stamped_to_msg(np.asarray(next(gt_iter)), t, GT_FRAME))
    return Path(path)
