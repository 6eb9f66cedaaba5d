"""Colour-to-depth registration: resample a colour image into the depth camera's pixels.

A depth camera and a colour camera that are not registered (e.g. Kinect v1 raw frames, as in
Microsoft 7-Scenes) see the scene with different intrinsics and from centres a few cm apart, so
the colour at a depth pixel belongs to another surface point: about 25 px off at 640x480 in
7-Scenes. Each depth pixel is back-projected with its depth, moved into the colour camera by
the fixed extrinsic T_rgb_depth and projected with the colour intrinsics; the colour is sampled
there (bilinear). Pixels without depth use the frame's median depth (the parallax error is
then f * baseline * |1/z - 1/z_median|, about a pixel at 1-3 m for a 2.5 cm baseline).
"""

from __future__ import annotations

import numpy as np

from slam_nodes.types import CameraModel

__all__ = ["register_colour_to_depth"]


def register_colour_to_depth(rgb: np.ndarray, depth_m: np.ndarray, depth_cam: CameraModel,
                             rgb_cam: CameraModel, T_rgb_depth: np.ndarray) -> np.ndarray:
    """Colour image uint8 [H, W, 3] resampled into the depth image's pixels [H, W].

    rgb: uint8 [Hc, Wc, 3] of the colour camera `rgb_cam`; depth_m: float32 [H, W] metres
    (axial) of the depth camera `depth_cam`, 0 = invalid; T_rgb_depth: [4, 4] pose of the depth
    camera's optical frame in the colour camera's (a point X_depth maps to X_rgb = R X_depth +
    t, metres). Colour sampled outside the colour image repeats its border.
    """
    import cv2

    h, w = depth_m.shape
    valid = depth_m > 0
    z = np.where(valid, depth_m, np.median(depth_m[valid]) if valid.any() else 1.0)
    pts = (depth_cam.ray_directions() * z[..., None]).reshape(-1, 3)
    uv, _ = rgb_cam.project(pts @ T_rgb_depth[:3, :3].T + T_rgb_depth[:3, 3])
    uv = uv.reshape(h, w, 2).astype(np.float32)
    return cv2.remap(rgb, uv[..., 0], uv[..., 1], cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)
