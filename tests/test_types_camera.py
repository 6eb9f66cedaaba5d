"""CameraModel projection / unprojection against OpenCV, for every ROS distortion model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slam_nodes.types import CameraModel

K = np.array([[520.0, 0.0, 321.3], [0.0, 518.0, 242.7], [0.0, 0.0, 1.0]])
PLUMB_BOB = np.array([0.12, -0.21, 0.0013, -0.0009, 0.08])
RATIONAL = np.array([0.35, -0.12, 0.0011, -0.0007, 0.02, 0.62, -0.05, 0.04])
EQUIDISTANT = np.array([0.08, -0.015, 0.004, -0.001])


def random_points(seed: int, n: int = 400, spread: float = 0.7) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.uniform(0.3, 6.0, n)
    xy = rng.uniform(-spread, spread, (n, 2)) * z[:, None]
    return np.column_stack([xy, z])


def cv2_project(model: str, D: np.ndarray, pts: np.ndarray) -> np.ndarray:
    if model == "equidistant":
        out, _ = cv2.fisheye.projectPoints(pts.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)
    else:
        out, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), K, D)
    return out.reshape(-1, 2)


@pytest.mark.parametrize("model,D", [("plumb_bob", PLUMB_BOB),
                                     ("rational_polynomial", RATIONAL),
                                     ("equidistant", EQUIDISTANT)])
def test_project_matches_opencv(model, D):
    cam = CameraModel(640, 480, K, model, D)
    pts = random_points(1)
    uv, inside = cam.project(pts)
    np.testing.assert_allclose(uv, cv2_project(model, D, pts), atol=1e-6)
    expected_inside = ((uv[:, 0] >= -0.5) & (uv[:, 0] < 639.5)
                       & (uv[:, 1] >= -0.5) & (uv[:, 1] < 479.5))
    np.testing.assert_array_equal(inside, expected_inside)
    assert 0 < inside.sum() < len(pts)  # the sample straddles the image border


@pytest.mark.parametrize("model,D", [("plumb_bob", PLUMB_BOB),
                                     ("rational_polynomial", RATIONAL),
                                     ("equidistant", EQUIDISTANT),
                                     ("none", np.zeros(0))])
def test_unproject_inverts_project(model, D):
    cam = CameraModel(640, 480, K, model, D)
    pts = random_points(2, spread=0.5)
    uv, inside = cam.project(pts)
    back = cam.unproject(uv[inside], pts[inside, 2])
    np.testing.assert_allclose(back, pts[inside], atol=1e-6 * pts[inside, 2:].max())


def test_distortion_changes_pixels():
    """A distorted model must not silently project like a pinhole."""
    pinhole = CameraModel(640, 480, K)
    pts = random_points(3)
    for model, D in [("plumb_bob", PLUMB_BOB), ("equidistant", EQUIDISTANT)]:
        diff = np.abs(CameraModel(640, 480, K, model, D).project(pts)[0]
                      - pinhole.project(pts)[0])
        assert diff.max() > 5.0


def test_points_behind_camera_are_outside():
    cam = CameraModel(640, 480, K, "plumb_bob", PLUMB_BOB)
    uv, inside = cam.project(np.array([[0.0, 0.0, -1.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(inside, [False, False, True])
    np.testing.assert_allclose(uv[2], [K[0, 2], K[1, 2]])


def test_depth_to_points_and_ray_directions():
    cam = CameraModel(8, 6, np.array([[10.0, 0, 3.5], [0, 10.0, 2.5], [0, 0, 1]]),
                      "plumb_bob", [0.05, 0, 0, 0, 0])
    depth = np.full((6, 8), 2.0, np.float32)
    depth[0, 0] = 0.0
    depth[1, 1] = np.nan
    pts = cam.depth_to_points(depth)
    assert len(pts) == 46
    np.testing.assert_allclose(pts[:, 2], 2.0)
    uv, _ = cam.project(pts)
    grid = cam.pixel_grid().reshape(6, 8, 2)
    valid = np.isfinite(depth) & (depth > 0)
    np.testing.assert_allclose(uv, grid[valid], atol=1e-6)
    with pytest.raises(ValueError, match="camera is 6x8"):
        cam.depth_to_points(np.ones((8, 6)))


def test_scaled_keeps_pixel_centres():
    cam = CameraModel.pinhole(640, 480, 500, 500, 319.5, 239.5)
    small = cam.scaled(0.25)
    assert (small.width, small.height) == (160, 120)
    # the centre of the image stays the centre; a ray through pixel (u, v) of the full image
    # goes through ((u + 0.5) / 4 - 0.5, (v + 0.5) / 4 - 0.5) of the small one
    pt = np.array([[0.3, -0.2, 2.0]])
    uv = cam.project(pt)[0][0]
    np.testing.assert_allclose(small.project(pt)[0][0], (uv + 0.5) / 4 - 0.5, atol=1e-9)
    assert (small.cx, small.cy) == (79.5, 59.5)


def test_invalid_cameras_raise():
    with pytest.raises(ValueError, match="distortion model"):
        CameraModel(640, 480, K, "kannala_brandt", EQUIDISTANT)
    with pytest.raises(ValueError, match="focal"):
        CameraModel(640, 480, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="positive"):
        CameraModel(0, 480, K)
    with pytest.raises(ValueError, match="finite"):
        CameraModel(640, 480, np.where(K == 520.0, np.nan, K))
    with pytest.raises(ValueError, match="finite"):
        CameraModel(640, 480, K, "plumb_bob", [np.inf, 0, 0, 0, 0])
    # 'none' with non-zero coefficients is upgraded to plumb_bob rather than ignored
    assert CameraModel(640, 480, K, "none", PLUMB_BOB).distortion_model == "plumb_bob"


def test_unproject_strong_distortion_where_opencv_alone_stops_short():
    """Wide-angle barrel distortion: cv2.undistortPoints' fixed-point iteration converges
    slowly near the fold of the radial profile; unproject must still invert project there."""
    Kw = np.array([[400.0, 0.0, 321.3], [0.0, 400.0, 242.7], [0.0, 0.0, 1.0]])
    D = np.array([-0.42, 0.18, 0.001, -0.001, -0.03])
    cam = CameraModel(640, 480, Kw, "plumb_bob", D)
    rng = np.random.default_rng(5)
    r = rng.uniform(0.0, 1.6, 2000)  # the radial profile folds over at r ~ 1.65
    phi = rng.uniform(0, 2 * np.pi, 2000)
    z = rng.uniform(0.5, 3.0, 2000)
    pts = np.column_stack([r * np.cos(phi) * z, r * np.sin(phi) * z, z])
    uv, _ = cam.project(pts)
    back = cam.unproject(uv, z)
    np.testing.assert_allclose(back, pts, atol=1e-8)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
    cv_only = cv2.undistortPoints(uv.reshape(-1, 1, 2), Kw, D, criteria=crit).reshape(-1, 2)
    assert np.abs(cv_only * z[:, None] - pts[:, :2]).max() > 1e-8  # the case is a real one
