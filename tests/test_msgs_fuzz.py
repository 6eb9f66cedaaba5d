"""Malformed messages raise ConversionError (never IndexError, ValueError, cv2.error, ...), so
callers can log topic + stamp and skip them."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.camera_info import camera_from_msg
from slam_nodes.msgs.image import (
    COLOUR_ENCODINGS,
    DEPTH_ENCODINGS,
    depth_from_msg,
    rgb_from_msg,
)
from slam_nodes.msgs.pointcloud import scan_from_msg
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class

small = st.integers(0, 12)


def _outcome(fn, msg):
    """Run fn(msg): a value or ConversionError are fine; anything else fails the test."""
    try:
        return fn(msg)
    except ConversionError:
        return None


@settings(max_examples=150, deadline=None)
@given(encoding=st.sampled_from(COLOUR_ENCODINGS + DEPTH_ENCODINGS + ("", "64FC1")),
       h=small, w=small, step=st.integers(0, 60), n=st.integers(0, 400), big=st.booleans())
def test_raw_images(encoding, h, w, step, n, big):
    msg = msg_class("sensor_msgs/msg/Image")(
        header=make_header(0, "c"), height=h, width=w, encoding=encoding, is_bigendian=big,
        step=step, data=np.arange(n, dtype=np.uint8))
    _outcome(rgb_from_msg, msg)
    _outcome(depth_from_msg, msg)


@settings(max_examples=100, deadline=None)
@given(fmt=st.sampled_from(["jpeg", "png", "bgr8; jpeg compressed bgr8", "16UC1; png compressed",
                            "16UC1; compressedDepth png", "32FC1; compressedDepth",
                            "16UC1; compressedDepth rvl", "32FC1; compressedDepth rvl", "tiff",
                            ""]),
       data=st.binary(max_size=64))
def test_compressed_garbage(fmt, data):
    msg = msg_class("sensor_msgs/msg/CompressedImage")(
        header=make_header(0, "c"), format=fmt, data=np.frombuffer(data, np.uint8))
    _outcome(rgb_from_msg, msg)
    _outcome(depth_from_msg, msg)


@settings(max_examples=150, deadline=None)
@given(fields=st.lists(st.tuples(st.sampled_from(["x", "y", "z", "intensity", "t", "time",
                                                  "timestamp", "ring", "rgb"]),
                                 st.integers(0, 40), st.integers(0, 10), st.integers(0, 3)),
                       max_size=6),
       h=st.integers(0, 3), w=small, point_step=st.integers(0, 40), row_step=st.integers(0, 200),
       n=st.integers(0, 500), big=st.booleans())
def test_point_clouds(fields, h, w, point_step, row_step, n, big):
    PointField = msg_class("sensor_msgs/msg/PointField")
    msg = msg_class("sensor_msgs/msg/PointCloud2")(
        header=make_header(0, "l"), height=h, width=w,
        fields=[PointField(name=a, offset=o, datatype=d, count=c) for a, o, d, c in fields],
        is_bigendian=big, point_step=point_step, row_step=row_step,
        data=np.arange(n, dtype=np.uint8), is_dense=False)
    scan = _outcome(scan_from_msg, msg)
    if scan is not None:
        assert np.isfinite(scan.xyz).all()


@settings(max_examples=100, deadline=None)
@given(model=st.sampled_from(["plumb_bob", "rational_polynomial", "equidistant", "", "x"]),
       k=st.lists(st.floats(-1e3, 1e3) | st.just(np.nan), min_size=9, max_size=9),
       d=st.lists(st.floats(-1, 1) | st.just(np.inf), max_size=9), w=st.integers(0, 100), h=st.integers(0, 100),
       roi=st.tuples(small, small, small, small), binning=st.tuples(small, small))
def test_camera_infos(model, k, d, w, h, roi, binning):
    msg = msg_class("sensor_msgs/msg/CameraInfo")(
        header=make_header(0, "c"), height=h, width=w, distortion_model=model,
        d=np.array(d, float), k=np.array(k, float), r=np.eye(3).reshape(-1), p=np.zeros(12),
        binning_x=binning[0], binning_y=binning[1],
        roi=msg_class("sensor_msgs/msg/RegionOfInterest")(
            x_offset=roi[0], y_offset=roi[1], height=roi[2], width=roi[3], do_rectify=False))
    cam = _outcome(camera_from_msg, msg)
    if cam is not None:  # a model that was accepted is usable
        assert np.isfinite(cam.K).all() and np.isfinite(cam.D).all()
        assert cam.fx > 0 and cam.fy > 0 and cam.width > 0 and cam.height > 0
