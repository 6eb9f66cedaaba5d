"""ROS message <-> slam_nodes type conversions, in one place, shared by bag replay and live nodes.

Messages are rosbags typestore objects (see `typestore.get_typestore`), never rclpy types.
Modules: `image` (Image, CompressedImage), `camera_info` (CameraInfo), `geometry` (Pose,
Transform, TFMessage, PoseStamped, Odometry, Path, Imu, TfBuffer), `pointcloud` (PointCloud2),
`markers` (Marker / MarkerArray meshes). Importing this package imports numpy, scipy and
rosbags; cv2 is imported on first use (non-rgb8 colour, compressed images).
"""

from slam_nodes.msgs.camera_info import camera_from_msg, camera_to_msg
from slam_nodes.msgs.geometry import (
    ImuSample,
    OdometrySample,
    StampedTransform,
    TfBuffer,
    TransformLookupError,
    imu_from_msg,
    imu_to_msg,
    odometry_from_msg,
    odometry_to_msg,
    path_from_msg,
    path_to_msg,
    pose_from_msg,
    pose_stamped_from_msg,
    pose_stamped_to_msg,
    pose_to_msg,
    tf_from_msg,
    tf_to_msg,
    transform_from_msg,
    transform_to_msg,
)
from slam_nodes.msgs.image import (
    depth_from_msg,
    depth_to_compressed_msg,
    depth_to_msg,
    rgb_from_msg,
    rgb_to_compressed_msg,
    rgb_to_msg,
)
from slam_nodes.msgs.markers import (
    delete_all_marker,
    delete_marker,
    marker_array,
    marker_to_mesh,
    mesh_to_marker,
)
from slam_nodes.msgs.pointcloud import (
    cloud_fields,
    points_from_msg,
    points_to_msg,
    scan_from_msg,
    scan_to_msg,
)
from slam_nodes.msgs.stamps import make_header, ns_to_stamp, stamp_to_ns
from slam_nodes.msgs.typestore import get_typestore, msg_class

__all__ = [
    "ImuSample", "OdometrySample", "StampedTransform", "TfBuffer", "TransformLookupError",
    "camera_from_msg", "camera_to_msg", "cloud_fields", "delete_all_marker", "delete_marker",
    "marker_array", "marker_to_mesh", "mesh_to_marker", "points_from_msg", "points_to_msg",
    "scan_from_msg", "scan_to_msg", "depth_from_msg", "depth_to_compressed_msg",
    "depth_to_msg", "get_typestore", "imu_from_msg", "imu_to_msg", "make_header", "msg_class",
    "ns_to_stamp", "odometry_from_msg", "odometry_to_msg", "path_from_msg", "path_to_msg",
    "pose_from_msg", "pose_stamped_from_msg", "pose_stamped_to_msg", "pose_to_msg",
    "rgb_from_msg", "rgb_to_compressed_msg", "rgb_to_msg", "stamp_to_ns", "tf_from_msg",
    "tf_to_msg", "transform_from_msg", "transform_to_msg",
]
