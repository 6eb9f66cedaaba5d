"""sensor_msgs/CameraInfo <-> CameraModel.

Reads ROS 2 messages (fields d, k, r, p) and ROS 1 ones as rosbags decodes them from ROS 1 bags
(D, K, R, P).

The model describes the image as published: binning and a region of interest in the message are
applied to K the way image_geometry's PinholeCameraModel does (cx' = (cx - x_offset) / binning_x,
fx' = fx / binning_x, same for y; the image size becomes roi size / binning). Distortion
coefficients act on normalised coordinates and are unchanged by either.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types.camera import MODELS, CameraModel

#: distortion model names some drivers write, mapped to the ROS names
_MODEL_ALIASES = {"": "none", "fisheye": "equidistant", "radtan": "plumb_bob"}


def _field(msg, name: str):
    """A CameraInfo matrix field by its ROS 2 (lower-case) or ROS 1 (upper-case) name."""
    value = getattr(msg, name, None)
    if value is None:
        value = getattr(msg, name.upper(), None)
    if value is None:
        raise ConversionError(f"{type(msg).__name__} has no field {name!r} or {name.upper()!r}")
    return value


def camera_from_msg(msg, rectified: bool = False) -> CameraModel:
    """CameraModel (K, D, distortion_model, size, frame_id) of a sensor_msgs/CameraInfo.

    rectified: describe the rectified image (image_rect topics) instead of the raw one: the
    intrinsics are P's left 3x3 block and there is no distortion.
    Raises ConversionError for an uncalibrated camera (K all zero), an unknown distortion model,
    or a region of interest outside the image.
    """
    d, k, p = (_field(msg, name) for name in ("d", "k", "p"))
    name = str(msg.distortion_model).strip()
    model = _MODEL_ALIASES.get(name, name)
    if model not in MODELS:
        raise ConversionError(
            f"CameraInfo ({msg.header.frame_id!r}) has unsupported distortion model {name!r}; "
            f"supported: {MODELS}"
        )
    if rectified:
        K = np.asarray(p, dtype=np.float64).reshape(3, 4)[:, :3].copy()
        model = "none"
    else:
        K = np.asarray(k, dtype=np.float64).reshape(3, 3).copy()
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ConversionError(
            f"CameraInfo ({msg.header.frame_id!r}, {msg.width}x{msg.height}) is uncalibrated: "
            f"fx={K[0, 0]}, fy={K[1, 1]}"
        )
    width, height = int(msg.width), int(msg.height)
    roi = msg.roi
    if roi.width or roi.height or roi.x_offset or roi.y_offset:
        roi_w = int(roi.width) or width - int(roi.x_offset)
        roi_h = int(roi.height) or height - int(roi.y_offset)
        if roi.x_offset + roi_w > width or roi.y_offset + roi_h > height:
            raise ConversionError(
                f"CameraInfo ({msg.header.frame_id!r}) roi {roi.x_offset},{roi.y_offset} "
                f"{roi_w}x{roi_h} lies outside the {width}x{height} image"
            )
        K[0, 2] -= roi.x_offset
        K[1, 2] -= roi.y_offset
        width, height = roi_w, roi_h
    bx, by = max(int(msg.binning_x), 1), max(int(msg.binning_y), 1)
    if bx > 1 or by > 1:
        K[0, :] /= bx
        K[1, :] /= by
        width, height = width // bx, height // by
    D = np.zeros(0) if rectified else np.asarray(d, dtype=np.float64)
    try:
        return CameraModel(width, height, K, model, D, msg.header.frame_id)
    except ValueError as err:
        raise ConversionError(f"CameraInfo ({msg.header.frame_id!r}): {err}") from err


def camera_to_msg(camera: CameraModel, stamp_ns: int):
    """sensor_msgs/CameraInfo of a CameraModel: P = [K | 0], R = I, no binning, full roi."""
    P = np.zeros((3, 4))
    P[:, :3] = camera.K
    model = camera.distortion_model
    D = camera.D
    if model == "none":
        model, D = "plumb_bob", np.zeros(5)
    return msg_class("sensor_msgs/msg/CameraInfo")(
        header=make_header(stamp_ns, camera.frame_id),
        height=camera.height, width=camera.width, distortion_model=model,
        d=np.asarray(D, dtype=np.float64).copy(), k=camera.K.reshape(-1).copy(),
        r=np.eye(3).reshape(-1), p=P.reshape(-1), binning_x=0, binning_y=0,
        roi=msg_class("sensor_msgs/msg/RegionOfInterest")(
            x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
    )
