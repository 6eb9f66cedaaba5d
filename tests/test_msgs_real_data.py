"""Conversions checked on real recordings from ../shared/data: a TurtleBot 4 rosbag2 MCAP
(nav2, simulated robot, real ROS 2 message bytes), 7-Scenes RGB-D frames (Kinect v1) and a
Velodyne HDL-32E scan."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from mcap.reader import make_reader

from slam_nodes.msgs.geometry import StampedTransform, TfBuffer, odometry_from_msg
from slam_nodes.msgs.image import (
    depth_from_msg,
    depth_to_compressed_msg,
    depth_to_msg,
    rgb_from_msg,
)
from slam_nodes.msgs.pointcloud import scan_from_msg
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import get_typestore, msg_class

SECONDS_READ = 20  # of the 97 s bag, to keep the test fast


@pytest.fixture(scope="module")
def turtlebot(shared_data):
    """(TfBuffer of /tf + /tf_static, list of /odom OdometrySamples) for the first 20 s."""
    store = get_typestore()
    buf, odoms = TfBuffer(), []
    with open(shared_data / "evo_testdata" / "nav2_turtlebot.mcap", "rb") as f:
        reader = make_reader(f)
        start = reader.get_summary().statistics.message_start_time
        for schema, channel, message in reader.iter_messages(
                topics=["/tf", "/tf_static", "/odom"],
                ending_before=start + SECONDS_READ * 1_000_000_000):
            msg = store.deserialize_cdr(message.data, schema.name)
            if channel.topic == "/odom":
                odoms.append(odometry_from_msg(msg))
            else:
                buf.add_msg(msg, static=channel.topic == "/tf_static")
    return buf, odoms


def test_tf_matches_odometry_messages(turtlebot):
    """The diff-drive controller publishes the same pose on /odom and as TF odom->base_link."""
    buf, odoms = turtlebot
    assert len(odoms) > 400
    stamps = np.array([o.stamp_ns for o in odoms])
    poses = np.stack([o.T_frame_child for o in odoms])
    assert {o.frame_id for o in odoms} == {"odom"}
    assert {o.child_frame_id for o in odoms} == {"base_link"}
    travelled = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1).sum()
    assert travelled > 0.1  # the robot moves in this window
    looked_up = buf.lookup_many("odom", "base_link", stamps)
    np.testing.assert_allclose(looked_up, poses, atol=1e-9)


def test_tf_interpolation_on_real_motion(turtlebot):
    """Rebuild odom->base_link from every other TF sample; interpolating at the dropped stamps
    must land within millimetres of the recorded poses."""
    _, odoms = turtlebot
    sparse = TfBuffer()
    for o in odoms[::2]:
        sparse.add(StampedTransform("odom", "base_link", o.stamp_ns, o.T_frame_child))
    held_out = odoms[1:-1:2]
    est = sparse.lookup_many("odom", "base_link", [o.stamp_ns for o in held_out])
    truth = np.stack([o.T_frame_child for o in held_out])
    err = np.linalg.norm(est[:, :3, 3] - truth[:, :3, 3], axis=1)
    assert err.max() < 5e-3
    step = np.linalg.norm(np.diff(truth[:, :3, 3], axis=0), axis=1)
    assert err.mean() < 0.5 * step.mean()  # better than snapping to a neighbour


def test_static_chain_to_camera_optical_frame(turtlebot):
    """The OAK-D looks forward: its optical z axis is base_link's x axis (REP-103/optical)."""
    buf, odoms = turtlebot
    T = buf.lookup("base_link", "oakd_rgb_camera_optical_frame", odoms[0].stamp_ns)
    np.testing.assert_allclose(T[:3, :3] @ [0, 0, 1], [1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(T[:3, :3] @ [1, 0, 0], [0, -1, 0], atol=1e-6)  # x right
    assert 0.05 < T[2, 3] < 0.5  # mounted above base_link
    # through the dynamic edge: camera in odom at two stamps differs by the robot's motion
    s0, s1 = odoms[0].stamp_ns, odoms[-1].stamp_ns
    T0 = buf.lookup("odom", "oakd_rgb_camera_optical_frame", s0)
    T1 = buf.lookup("odom", "oakd_rgb_camera_optical_frame", s1)
    np.testing.assert_allclose(T1 @ np.linalg.inv(T0),
                               odoms[-1].T_frame_child @ np.linalg.inv(odoms[0].T_frame_child),
                               atol=1e-9)


@pytest.fixture(scope="module")
def kitchen(shared_data):
    folder = shared_data / "rgbd_7scenes_redkitchen"
    return (folder / "frame-000000.color.jpg").read_bytes(), \
        (folder / "frame-000000.depth.png").read_bytes()


def _compressed(data: bytes, fmt: str):
    return msg_class("sensor_msgs/msg/CompressedImage")(
        header=make_header(0, "kinect"), format=fmt, data=np.frombuffer(data, np.uint8))


def test_real_jpeg_compressed_image(kitchen):
    jpg, _ = kitchen
    rgb = rgb_from_msg(_compressed(jpg, "bgr8; jpeg compressed bgr8"))
    ref = cv2.imdecode(np.frombuffer(jpg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1]
    assert rgb.shape == (480, 640, 3)
    np.testing.assert_array_equal(rgb, ref)


def test_real_depth_png_and_round_trips(kitchen):
    _, png = kitchen
    mm = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_UNCHANGED)
    expected = np.where((mm == 0) | (mm == 65535), 0, mm / 1000.0).astype(np.float32)
    depth = depth_from_msg(_compressed(png, "16UC1; png compressed "))
    np.testing.assert_allclose(depth, expected, rtol=1e-7)
    assert 0.2 < np.median(depth[depth > 0]) < 4.0  # a kitchen at Kinect range
    store = get_typestore()
    for msg, typename in [
        (depth_to_msg(depth, 1, "kinect", "16UC1"), "sensor_msgs/msg/Image"),
        (depth_to_compressed_msg(depth, 1, "kinect", "16UC1"),
         "sensor_msgs/msg/CompressedImage"),
        (depth_to_compressed_msg(depth, 1, "kinect", "16UC1", codec="rvl"),
         "sensor_msgs/msg/CompressedImage"),
    ]:
        back = store.deserialize_cdr(store.serialize_cdr(msg, typename), typename)
        np.testing.assert_allclose(depth_from_msg(back), expected, rtol=1e-7)


def test_real_velodyne_pcd_bytes_as_pointcloud2(shared_data):
    """An HDL-32E scan's PCD payload is a packed x y z intensity float32 record per point, the
    same bytes a PointCloud2 carries; our reading must agree with Open3D's PCD reader."""
    import open3d as o3d

    path = shared_data / "lidar_scans" / "hdl32_fast_gicp_pcd" / "251370668.pcd"
    raw = path.read_bytes()
    header, _, payload = raw.partition(b"DATA binary\n")
    assert b"FIELDS x y z intensity" in header and b"SIZE 4 4 4 4" in header
    n = len(payload) // 16
    PointField = msg_class("sensor_msgs/msg/PointField")
    msg = msg_class("sensor_msgs/msg/PointCloud2")(
        header=make_header(5, "velodyne"), height=1, width=n,
        fields=[PointField(name=c, offset=4 * i, datatype=7, count=1)
                for i, c in enumerate(["x", "y", "z", "intensity"])],
        is_bigendian=False, point_step=16, row_step=16 * n,
        data=np.frombuffer(payload[: 16 * n], np.uint8), is_dense=False)
    store = get_typestore()
    typename = "sensor_msgs/msg/PointCloud2"
    scan = scan_from_msg(store.deserialize_cdr(store.serialize_cdr(msg, typename), typename))
    ref = np.asarray(o3d.io.read_point_cloud(str(path)).points)
    assert len(scan) == len(ref) == 69088
    np.testing.assert_allclose(scan.xyz, ref, atol=1e-6)
    assert scan.intensity is not None and scan.intensity.max() > 0
    assert scan.frame_id == "velodyne" and scan.time_ns is None
