"""sensor_msgs/CameraInfo <-> CameraModel through real CDR bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.camera_info import camera_from_msg, camera_to_msg
from slam_nodes.msgs.stamps import stamp_to_ns
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import CameraModel

INFO = "sensor_msgs/msg/CameraInfo"


def cdr(msg):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, INFO), INFO)


def _camera(model: str, D) -> CameraModel:
    K = np.array([[525.0, 0, 319.5], [0, 523.0, 239.5], [0, 0, 1]])
    return CameraModel(640, 480, K, model, np.asarray(D, float), "rgb_optical")


@pytest.mark.parametrize("model,D", [
    ("plumb_bob", [0.1, -0.25, 0.001, -0.002, 0.05]),
    ("rational_polynomial", [0.1, -0.25, 0.001, -0.002, 0.05, 0.01, -0.02, 0.003]),
    ("equidistant", [0.05, -0.01, 0.002, -0.0005]),
])
def test_round_trip_keeps_model_and_projection(model, D):
    cam = _camera(model, D)
    msg = cdr(camera_to_msg(cam, 42))
    assert stamp_to_ns(msg.header.stamp) == 42 and msg.header.frame_id == "rgb_optical"
    np.testing.assert_array_equal(msg.p.reshape(3, 4)[:, :3], cam.K)
    np.testing.assert_array_equal(msg.p.reshape(3, 4)[:, 3], 0)
    np.testing.assert_array_equal(msg.r.reshape(3, 3), np.eye(3))
    back = camera_from_msg(msg)
    assert (back.width, back.height, back.distortion_model) == (640, 480, model)
    np.testing.assert_array_equal(back.K, cam.K)
    np.testing.assert_array_equal(back.D, cam.D)
    pts = np.random.default_rng(0).uniform([-1, -1, 1], [1, 1, 4], (50, 3))
    np.testing.assert_allclose(back.project(pts)[0], cam.project(pts)[0], atol=1e-9)


def test_undistorted_camera_writes_plumb_bob_zeros():
    cam = CameraModel.pinhole(320, 240, 300, 301, 160, 120, "depth")
    msg = cdr(camera_to_msg(cam, 0))
    assert msg.distortion_model == "plumb_bob"
    np.testing.assert_array_equal(msg.d, np.zeros(5))
    back = camera_from_msg(msg)
    assert not back.is_distorted and back.frame_id == "depth"


def test_binning_and_roi_follow_image_geometry():
    cam = _camera("plumb_bob", [0.1, 0, 0, 0, 0])
    msg = camera_to_msg(cam, 0)
    msg.roi.x_offset, msg.roi.y_offset, msg.roi.width, msg.roi.height = 100, 40, 400, 300
    msg.binning_x, msg.binning_y = 2, 2
    back = camera_from_msg(cdr(msg))
    assert (back.width, back.height) == (200, 150)
    assert back.fx == pytest.approx(262.5) and back.fy == pytest.approx(261.5)
    assert back.cx == pytest.approx((319.5 - 100) / 2) and back.cy == pytest.approx(99.75)
    # a point seen at full-res pixel (u, v) lands at ((u - x0) / 2, (v - y0) / 2) when binned
    pt = np.array([[0.2, -0.1, 2.0]])
    uv_full = cam.project(pt)[0][0]
    uv_bin = back.project(pt)[0][0]
    np.testing.assert_allclose(uv_bin, [(uv_full[0] - 100) / 2, (uv_full[1] - 40) / 2])


def test_bad_camera_info_raises():
    cam = _camera("plumb_bob", [0, 0, 0, 0, 0])
    msg = camera_to_msg(cam, 0)
    msg.k = np.zeros(9)
    with pytest.raises(ConversionError, match="uncalibrated"):
        camera_from_msg(msg)
    msg = camera_to_msg(cam, 0)
    msg.distortion_model = "double_sphere"
    with pytest.raises(ConversionError, match="double_sphere"):
        camera_from_msg(msg)
    msg = camera_to_msg(cam, 0)
    msg.roi.x_offset, msg.roi.width = 600, 100
    with pytest.raises(ConversionError, match="outside"):
        camera_from_msg(msg)


def test_projection_matches_cv2_after_round_trip():
    cam = camera_from_msg(cdr(camera_to_msg(
        _camera("plumb_bob", [-0.28, 0.07, 0.0002, 0.0001, 0.0]), 0)))
    pts = np.random.default_rng(3).uniform([-1, -0.8, 1], [1, 0.8, 3], (200, 3))
    ref, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), cam.K, cam.D)
    np.testing.assert_allclose(cam.project(pts)[0], ref.reshape(-1, 2), atol=1e-6)


def test_rectified_uses_p_without_distortion():
    cam = _camera("plumb_bob", [0.1, -0.2, 0, 0, 0])
    msg = camera_to_msg(cam, 0)
    P = np.array([[500.0, 0, 300, -30.0], [0, 500.0, 250, 0], [0, 0, 1, 0]])
    msg.p = P.reshape(-1)
    rect = camera_from_msg(cdr(msg), rectified=True)
    assert not rect.is_distorted and rect.distortion_model == "none"
    np.testing.assert_array_equal(rect.K, P[:, :3])
    raw = camera_from_msg(cdr(msg))
    assert raw.is_distorted and raw.fx == 525.0



def test_ros1_camera_info_from_ros1_bytes():
    """ROS 1 bags decode CameraInfo with upper-case D, K, R, P."""
    from rosbags.typesys import Stores
    from rosbags.typesys import get_typestore as rosbags_store

    ros1 = rosbags_store(Stores.ROS1_NOETIC)
    types = ros1.types
    cam = _camera("plumb_bob", [0.1, -0.25, 0.001, -0.002, 0.05])
    msg = types["sensor_msgs/msg/CameraInfo"](
        header=types["std_msgs/msg/Header"](
            seq=3, stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=2),
            frame_id="rgb_optical"),
        height=480, width=640, distortion_model="plumb_bob", D=cam.D, K=cam.K.reshape(-1),
        R=np.eye(3).reshape(-1), P=np.c_[cam.K, np.zeros(3)].reshape(-1), binning_x=0,
        binning_y=0, roi=types["sensor_msgs/msg/RegionOfInterest"](
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))
    back = ros1.deserialize_ros1(ros1.serialize_ros1(msg, INFO), INFO)
    out = camera_from_msg(back)
    np.testing.assert_array_equal(out.K, cam.K)
    np.testing.assert_array_equal(out.D, cam.D)
    assert out.frame_id == "rgb_optical" and out.distortion_model == "plumb_bob"
