"""geometry_msgs / tf2_msgs / nav_msgs / Imu conversions and TfBuffer, through real CDR bytes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from slam_nodes.errors import ConversionError
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
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import Trajectory, make_pose


def cdr(msg, typename):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, typename), typename)


def random_pose(rng) -> np.ndarray:
    return make_pose(Rotation.random(random_state=rng).as_matrix(), rng.normal(size=3))


def test_pose_and_transform_round_trip():
    rng = np.random.default_rng(0)
    for _ in range(5):
        T = random_pose(rng)
        back = pose_from_msg(cdr(pose_to_msg(T), "geometry_msgs/msg/Pose"))
        np.testing.assert_allclose(back, T, atol=1e-12)
        back = transform_from_msg(cdr(transform_to_msg(T), "geometry_msgs/msg/Transform"))
        np.testing.assert_allclose(back, T, atol=1e-12)


def test_pose_values_follow_ros_quaternion_order():
    T = make_pose(Rotation.from_euler("z", 90, degrees=True).as_matrix(), [1, 2, 3])
    msg = pose_to_msg(T)
    assert (msg.position.x, msg.position.y, msg.position.z) == (1, 2, 3)
    s = np.sqrt(0.5)
    np.testing.assert_allclose([msg.orientation.x, msg.orientation.y, msg.orientation.z,
                                msg.orientation.w], [0, 0, s, s], atol=1e-12)


def test_unnormalised_and_zero_quaternion():
    msg = pose_to_msg(np.eye(4))
    msg.orientation.w = 2.0  # not normalised: still identity
    np.testing.assert_allclose(pose_from_msg(msg), np.eye(4), atol=1e-12)
    msg.orientation.w = 0.0
    with pytest.raises(ConversionError, match="quaternion"):
        pose_from_msg(msg)
    with pytest.raises(ConversionError, match="NaN"):
        pose_to_msg(np.full((4, 4), np.nan))
    msg = pose_to_msg(np.eye(4))
    msg.position.y = np.inf
    with pytest.raises(ConversionError, match="position"):
        pose_from_msg(msg)
    tmsg = transform_to_msg(np.eye(4))
    tmsg.translation.x = np.nan
    with pytest.raises(ConversionError, match="translation"):
        transform_from_msg(tmsg)
    path = path_to_msg(Trajectory(np.array([1, 2]), np.stack([np.eye(4)] * 2)), "map")
    path.poses[1].pose.position.z = np.nan
    with pytest.raises(ConversionError, match="Path pose 1"):
        path_from_msg(path)


def test_pose_stamped_and_tf_message():
    rng = np.random.default_rng(1)
    T = random_pose(rng)
    stamp, frame, back = pose_stamped_from_msg(
        cdr(pose_stamped_to_msg(T, 1_600_000_000_000_000_001, "map"),
            "geometry_msgs/msg/PoseStamped"))
    assert (stamp, frame) == (1_600_000_000_000_000_001, "map")
    np.testing.assert_allclose(back, T, atol=1e-12)
    tfs = [StampedTransform("map", "odom", 5, random_pose(rng)),
           StampedTransform("odom", "base_link", 7, random_pose(rng))]
    out = tf_from_msg(cdr(tf_to_msg(tfs), "tf2_msgs/msg/TFMessage"))
    assert [(t.parent, t.child, t.stamp_ns) for t in out] == [("map", "odom", 5),
                                                            ("odom", "base_link", 7)]
    for a, b in zip(out, tfs):
        np.testing.assert_allclose(a.T_parent_child, b.T_parent_child, atol=1e-12)


def test_odometry_round_trip():
    rng = np.random.default_rng(2)
    cov = rng.normal(size=(6, 6))
    odom = OdometrySample(123, "odom", "base_link", random_pose(rng), np.array([1.0, 0, 0]),
                          np.array([0, 0, 0.5]), cov, cov.T)
    back = odometry_from_msg(cdr(odometry_to_msg(odom), "nav_msgs/msg/Odometry"))
    assert (back.stamp_ns, back.frame_id, back.child_frame_id) == (123, "odom", "base_link")
    np.testing.assert_allclose(back.T_frame_child, odom.T_frame_child, atol=1e-12)
    np.testing.assert_array_equal(back.linear_velocity, [1, 0, 0])
    np.testing.assert_array_equal(back.angular_velocity, [0, 0, 0.5])
    np.testing.assert_array_equal(back.pose_covariance, cov)
    np.testing.assert_array_equal(back.twist_covariance, cov.T)


def test_path_round_trip():
    rng = np.random.default_rng(3)
    traj = Trajectory(np.array([10, 20, 35]), np.stack([random_pose(rng) for _ in range(3)]))
    msg = cdr(path_to_msg(traj, "map"), "nav_msgs/msg/Path")
    assert msg.header.frame_id == "map" and msg.header.stamp.nanosec == 35
    back = path_from_msg(msg)
    np.testing.assert_array_equal(back.stamps_ns, traj.stamps_ns)
    np.testing.assert_allclose(back.poses, traj.poses, atol=1e-12)
    empty = path_from_msg(cdr(path_to_msg(Trajectory(np.zeros(0), np.zeros((0, 4, 4))), "map"),
                              "nav_msgs/msg/Path"))
    assert len(empty) == 0


def test_imu_round_trip_with_and_without_orientation():
    sample = ImuSample(99, np.array([0.1, -0.2, 0.3]), np.array([0.0, 0.1, 9.81]), None, "imu")
    msg = cdr(imu_to_msg(sample), "sensor_msgs/msg/Imu")
    assert msg.orientation_covariance[0] == -1
    back = imu_from_msg(msg)
    assert back.orientation is None and back.stamp_ns == 99 and back.frame_id == "imu"
    np.testing.assert_array_equal(back.angular_velocity, sample.angular_velocity)
    np.testing.assert_array_equal(back.linear_acceleration, sample.linear_acceleration)
    q = Rotation.from_euler("x", 30, degrees=True).as_quat()
    sample.orientation = q
    back = imu_from_msg(cdr(imu_to_msg(sample), "sensor_msgs/msg/Imu"))
    np.testing.assert_allclose(back.orientation, q, atol=1e-12)


# ---------------------------------------------------------------------------- TfBuffer
def _rz(deg: float, t) -> np.ndarray:
    return make_pose(Rotation.from_euler("z", deg, degrees=True).as_matrix(), t)


def test_tf_buffer_interpolates_one_edge():
    buf = TfBuffer()
    buf.add(StampedTransform("map", "base", 0, _rz(0, [0, 0, 0])))
    buf.add(StampedTransform("map", "base", 1000, _rz(90, [2, 0, 0])))
    T = buf.lookup("map", "base", 250)
    np.testing.assert_allclose(T, _rz(22.5, [0.5, 0, 0]), atol=1e-12)
    many = buf.lookup_many("map", "base", [0, 500, 1000])
    np.testing.assert_allclose(many[1], _rz(45, [1, 0, 0]), atol=1e-12)
    np.testing.assert_allclose(buf.lookup("base", "map", 500), np.linalg.inv(many[1]),
                               atol=1e-12)
    with pytest.raises(TransformLookupError, match="outside"):
        buf.lookup("map", "base", 1001)
    np.testing.assert_allclose(buf.lookup("map", "map", 5000), np.eye(4))
    buf.tolerance_ns = 5  # clamps to the last sample within the tolerance
    np.testing.assert_allclose(buf.lookup("map", "base", 1005), _rz(90, [2, 0, 0]), atol=1e-12)
    with pytest.raises(TransformLookupError, match="outside"):
        buf.lookup("map", "base", -6)


def test_tf_buffer_chains_static_and_dynamic_edges():
    rng = np.random.default_rng(4)
    T_odom_base = [random_pose(rng), random_pose(rng)]
    T_base_cam = random_pose(rng)
    T_base_lidar = random_pose(rng)
    T_map_odom = random_pose(rng)
    buf = TfBuffer()
    buf.add_msg(tf_to_msg([StampedTransform("base", "cam", 0, T_base_cam),
                           StampedTransform("base", "lidar", 0, T_base_lidar)]), static=True)
    buf.add(StampedTransform("map", "odom", 0, T_map_odom), static=True)
    for i, T in enumerate(T_odom_base):
        buf.add(StampedTransform("odom", "base", 100 * i, T))
    # sibling lookup through the common parent (static only: any stamp)
    np.testing.assert_allclose(buf.lookup("lidar", "cam", 10**12),
                               np.linalg.inv(T_base_lidar) @ T_base_cam, atol=1e-12)
    # full chain at a sample stamp
    np.testing.assert_allclose(buf.lookup("map", "cam", 100),
                               T_map_odom @ T_odom_base[1] @ T_base_cam, atol=1e-12)
    np.testing.assert_allclose(buf.lookup("cam", "map", 0),
                               np.linalg.inv(T_map_odom @ T_odom_base[0] @ T_base_cam),
                               atol=1e-12)
    assert buf.frames == {"map", "odom", "base", "cam", "lidar"}
    assert buf.chain("cam") == ["cam", "base", "odom", "map"]
    np.testing.assert_array_equal(buf.edge_stamps("base"), [0, 100])
    assert buf.is_static("cam") and not buf.is_static("base")
    assert len(buf.edge_stamps("nowhere")) == 0


def test_tf_buffer_errors():
    buf = TfBuffer()
    buf.add(StampedTransform("a", "b", 0, np.eye(4)), static=True)
    buf.add(StampedTransform("c", "d", 0, np.eye(4)), static=True)
    with pytest.raises(TransformLookupError, match="unknown TF frame 'x'"):
        buf.lookup("a", "x")
    with pytest.raises(TransformLookupError, match="no TF chain"):
        buf.lookup("a", "d")
    assert not buf.can_transform("b", "d") and buf.can_transform("b", "a")


def test_tf_buffer_cache_window_drops_old_samples():
    buf = TfBuffer(cache_ns=1000)
    for i in range(600):
        buf.add(StampedTransform("odom", "base", i * 10, _rz(0, [i, 0, 0])))
    stamps = buf.edge_stamps("base")
    assert stamps[0] == 5990 - 1000 and stamps[-1] == 5990
    np.testing.assert_allclose(buf.lookup("odom", "base", 5005)[0, 3], 500.5)
    with pytest.raises(TransformLookupError, match="outside"):
        buf.lookup("odom", "base", 4000)
