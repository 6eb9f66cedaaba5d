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

__all__ = ["register_colour_to_depth"]


def register_colour_to_depth(rgb: np.ndarray, depth_m: np.ndarray, K_depth: np.ndarray,
                             K_rgb: np.ndarray, T_rgb_depth: np.ndarray) -> np.ndarray:
    """Colour image uint8 [H, W, 3] resampled into the depth image's pixels [H, W].

    rgb: uint8 [Hc, Wc, 3] of the colour camera (intrinsics K_rgb [3, 3], pixels);
    depth_m: float32 [H, W] metres in the depth camera (K_depth [3, 3]), 0 = invalid;
    T_rgb_depth: [4, 4] pose of the depth camera's optical frame in the colour camera's
    (a point X_depth maps to X_rgb = R X_depth + t, metres). Colour sampled outside the
    colour image repeats its border.
    """
    import cv2

    h, w = depth_m.shape
    valid = depth_m > 0
    z = np.where(valid, depth_m, np.median(depth_m[valid]) if valid.any() else 1.0)
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    x = (u - K_depth[0, 2]) / K_depth[0, 0] * z
    y = (v - K_depth[1, 2]) / K_depth[1, 1] * z
    pts = np.stack([x, y, z], axis=-1) @ T_rgb_depth[:3, :3].T + T_rgb_depth[:3, 3]
    zc = np.maximum(pts[..., 2], 1e-6)
    map_u = (K_rgb[0, 0] * pts[..., 0] / zc + K_rgb[0, 2]).astype(np.float32)
    map_v = (K_rgb[1, 1] * pts[..., 1] / zc + K_rgb[1, 2]).astype(np.float32)
    return cv2.remap(rgb, map_u, map_v, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
