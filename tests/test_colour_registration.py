"""Colour-to-depth registration: exact on an analytic plane, a no-op for a registered pair,
and it lines 7-Scenes colour edges up with the depth discontinuities."""

from __future__ import annotations

import cv2
import numpy as np

from slam_nodes.io.colour_registration import register_colour_to_depth
from slam_nodes.io.datasets.sevenscenes import SevenScenesDataset
from slam_nodes.types import CameraModel

DEPTH_CAM = CameraModel.pinhole(160, 120, 146.0, 146.0, 80.0, 60.0)
RGB_CAM = CameraModel.pinhole(160, 120, 131.0, 131.0, 79.5, 59.5)
K_DEPTH, K_RGB = DEPTH_CAM.K, RGB_CAM.K
T_RGB_DEPTH = np.eye(4)
T_RGB_DEPTH[0, 3] = -0.025           # colour camera 2.5 cm along +x of the depth camera
PLANE_Z = 1.5


def _texture(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """uint8 [..., 3] smooth colour pattern of plane coordinates x, y (metres)."""
    c = np.stack([np.sin(9 * x), np.cos(7 * y), np.sin(5 * (x + y))], axis=-1)
    return np.round(127.5 + 120 * c).astype(np.uint8)


def _plane_image(K: np.ndarray, centre_m: np.ndarray) -> np.ndarray:
    """Image [120, 160, 3] of the textured plane z = PLANE_Z (depth frame) seen by a camera
    with intrinsics K at `centre_m` [3] (depth frame, axes parallel)."""
    v, u = np.mgrid[0:120, 0:160].astype(np.float64)
    dx, dy = (u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]
    s = PLANE_Z - centre_m[2]
    return _texture(centre_m[0] + dx * s, centre_m[1] + dy * s)


def test_registration_recovers_the_depth_cameras_view_of_a_plane():
    truth = _plane_image(K_DEPTH, np.zeros(3))
    raw = _plane_image(K_RGB, -T_RGB_DEPTH[:3, 3])
    depth = np.full((120, 160), PLANE_Z, np.float32)
    reg = register_colour_to_depth(raw, depth, DEPTH_CAM, RGB_CAM, T_RGB_DEPTH)
    err_raw = np.abs(raw.astype(float) - truth).mean()
    err_reg = np.abs(reg.astype(float) - truth).mean()
    assert err_raw > 20.0, err_raw
    assert err_reg < 2.0, err_reg             # bilinear resampling of a smooth texture
    # without depth the frame's median depth is used: the same plane here
    holes = depth.copy()
    holes[40:80, 50:110] = 0.0
    reg_holes = register_colour_to_depth(raw, holes, DEPTH_CAM, RGB_CAM, T_RGB_DEPTH)
    np.testing.assert_array_equal(reg_holes, reg)


def test_registered_pair_is_unchanged():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    depth = rng.uniform(0.5, 4.0, (120, 160)).astype(np.float32)
    out = register_colour_to_depth(rgb, depth, DEPTH_CAM, DEPTH_CAM, np.eye(4))
    np.testing.assert_array_equal(out, rgb)


def _edge_distance_px(depth: np.ndarray, rgb: np.ndarray) -> float:
    """Mean distance (px, capped at 10) from depth discontinuities (near side) to the nearest
    Canny edge of the colour image."""
    valid = depth > 0
    k = np.ones((3, 3), np.uint8)
    z_max = cv2.dilate(np.where(valid, depth, 0).astype(np.float32), k)
    z_min = cv2.erode(np.where(valid, depth, 1e9).astype(np.float32), k)
    span = z_max - z_min
    edge = valid & (span > 0.1 * depth) & (span < 1e8) & (depth - z_min < 0.5 * span)
    grey = cv2.GaussianBlur(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (5, 5), 1.2)
    far = (cv2.Canny(grey, 30, 90) == 0).astype(np.uint8)
    dist = np.minimum(cv2.distanceTransform(far, cv2.DIST_L2, 5), 10.0)
    return float(dist[edge].mean())


def test_7scenes_registered_colour_lines_up_with_depth_edges(shared_data):
    root = shared_data / "rgbd_7scenes_redkitchen"
    raw = next(iter(SevenScenesDataset(root).frames(1)))
    reg = next(iter(SevenScenesDataset(root, register_colour=True).frames(1)))
    np.testing.assert_array_equal(reg.depth, raw.depth)
    d_raw, d_reg = _edge_distance_px(raw.depth, raw.rgb), _edge_distance_px(reg.depth, reg.rgb)
    assert d_reg < d_raw - 1.0, (d_raw, d_reg)
