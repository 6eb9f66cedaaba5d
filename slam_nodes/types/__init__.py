"""Sensor and geometry types shared by every part of slam_nodes (no ROS, SI units)."""

from slam_nodes.types.camera import CameraModel
from slam_nodes.types.errors import InvalidValueError
from slam_nodes.types.pose import (
    Trajectory,
    invert_pose,
    make_pose,
    matrix_to_quat,
    nearest_pose,
    pose_from_tq,
    pose_to_tq,
    quat_to_matrix,
    read_tum,
    transform_points,
    write_tum,
)
from slam_nodes.types.sensors import EventBatch, LidarScan, RGBDFrame, TriggerEvents

__all__ = [
    "CameraModel", "EventBatch", "InvalidValueError", "LidarScan", "RGBDFrame", "Trajectory",
    "TriggerEvents",
    "invert_pose", "make_pose", "matrix_to_quat", "nearest_pose", "pose_from_tq",
    "pose_to_tq", "quat_to_matrix", "read_tum", "transform_points", "write_tum",
]
