"""Pinhole camera with ROS CameraInfo distortion models.

Frames: points are in the camera's optical frame (x right, y down, z forward), metres.
Pixels are (u, v) with (0, 0) at the centre of the top-left pixel, as in OpenCV and ROS.
Supported `distortion_model`s (sensor_msgs/distortion_models.hpp):
  - "plumb_bob" (k1, k2, p1, p2, k3) and "rational_polynomial" (k1, k2, p1, p2, k3, k4, k5, k6),
    the OpenCV radial-tangential model;
  - "equidistant" (k1, k2, k3, k4), the OpenCV fisheye model;
  - "none" or empty D: no distortion.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from slam_nodes.types.errors import InvalidValueError

RADTAN_MODELS = ("plumb_bob", "rational_polynomial")
MODELS = (*RADTAN_MODELS, "equidistant", "none")


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics of one camera.

    width, height: image size in pixels.
    K: [3,3] intrinsic matrix (fx, fy, cx, cy in pixels).
    distortion_model: one of MODELS.
    D: distortion coefficients in the order ROS CameraInfo uses.
    frame_id: the optical frame name (e.g. "camera_color_optical_frame").
    """

    width: int
    height: int
    K: np.ndarray
    distortion_model: str = "none"
    D: np.ndarray = field(default_factory=lambda: np.zeros(0))
    frame_id: str = "camera_optical_frame"

    def __post_init__(self) -> None:
        K = np.asarray(self.K, dtype=np.float64).reshape(3, 3)
        D = np.asarray(self.D, dtype=np.float64).reshape(-1)
        model = self.distortion_model or "none"
        if model not in MODELS:
            raise InvalidValueError(
                f"unsupported distortion model {model!r}; expected one of {MODELS}")
        if self.width <= 0 or self.height <= 0:
            raise InvalidValueError(
                f"camera size must be positive, got {self.width}x{self.height}")
        if not (np.isfinite(K).all() and np.isfinite(D).all()):
            raise InvalidValueError(
                f"camera intrinsics must be finite, got K={K.tolist()} D={D.tolist()}")
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise InvalidValueError(
                f"focal lengths must be positive, got fx={K[0, 0]} fy={K[1, 1]}")
        if model == "none" and np.any(D != 0):
            model = "plumb_bob"
        object.__setattr__(self, "K", K)
        object.__setattr__(self, "D", D)
        object.__setattr__(self, "distortion_model", model)

    @classmethod
    def pinhole(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float,
                frame_id: str = "camera_optical_frame") -> "CameraModel":
        """Undistorted pinhole camera."""
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return cls(width, height, K, "none", np.zeros(0), frame_id)

    @property
    def fx(self) -> float:
        """Focal length along x, pixels."""
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        """Focal length along y, pixels."""
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        """Principal point x, pixels (pixel centres at integers, ROS/OpenCV convention)."""
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        """Principal point y, pixels."""
        return float(self.K[1, 2])

    @property
    def is_distorted(self) -> bool:
        """True when the model has a non-zero distortion coefficient."""
        return self.distortion_model != "none" and bool(np.any(self.D != 0))

    def scaled(self, factor: float) -> "CameraModel":
        """The same camera with images resized by `factor` (e.g. 0.25 for 640x480 -> 160x120)."""
        K = self.K.copy()
        K[0, 0] *= factor
        K[1, 1] *= factor
        # pixel centres: u' + 0.5 = (u + 0.5) * factor
        K[0, 2] = (K[0, 2] + 0.5) * factor - 0.5
        K[1, 2] = (K[1, 2] + 0.5) * factor - 0.5
        return replace(self, width=int(round(self.width * factor)),
                       height=int(round(self.height * factor)), K=K)

    # ------------------------------------------------------------------ projection
    def distort_normalized(self, xy: np.ndarray) -> np.ndarray:
        """Apply distortion to normalised image coordinates [N,2] (x/z, y/z)."""
        xy = np.asarray(xy, dtype=np.float64)
        if not self.is_distorted:
            return xy
        x, y = xy[:, 0], xy[:, 1]
        r2 = x * x + y * y
        if self.distortion_model == "equidistant":
            k = np.zeros(4)
            k[: min(4, len(self.D))] = self.D[:4]
            r = np.sqrt(r2)
            theta = np.arctan(r)
            t2 = theta * theta
            theta_d = theta * (1 + t2 * (k[0] + t2 * (k[1] + t2 * (k[2] + t2 * k[3]))))
            scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0)
            return xy * scale[:, None]
        d = np.zeros(8)
        d[: min(8, len(self.D))] = self.D[:8]
        k1, k2, p1, p2, k3, k4, k5, k6 = d
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return np.stack([xd, yd], axis=1)

    def project(self, points_cam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixels [N,2] of camera-frame points [N,3] and a mask [N] of points in front of the
        camera (z > 0) that land inside the image."""
        pts = np.asarray(points_cam, dtype=np.float64).reshape(-1, 3)
        z = pts[:, 2]
        front = z > 1e-9
        xy = pts[:, :2] / np.where(front, z, 1.0)[:, None]
        xy = self.distort_normalized(xy)
        uv = xy * [self.fx, self.fy] + [self.cx, self.cy]
        inside = (
            front
            & (uv[:, 0] >= -0.5) & (uv[:, 0] < self.width - 0.5)
            & (uv[:, 1] >= -0.5) & (uv[:, 1] < self.height - 0.5)
        )
        return uv, inside

    def undistort_pixels(self, uv: np.ndarray) -> np.ndarray:
        """Normalised undistorted coordinates [N,2] (x/z, y/z) of pixels [N,2].

        OpenCV's iterative undistortion gives the start, then a few Newton steps on
        `distort_normalized` make the result the exact inverse of `project` (to ~1e-12) even
        where OpenCV's fixed-point iteration stops early (strong distortion, image corners).
        """
        uv = np.asarray(uv, dtype=np.float64).reshape(-1, 2)
        xy_d = (uv - [self.cx, self.cy]) / [self.fx, self.fy]
        if not self.is_distorted or len(uv) == 0:
            return xy_d
        import cv2

        pts = uv.reshape(-1, 1, 2)
        criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-12)
        if self.distortion_model == "equidistant":
            D = np.zeros(4)
            D[: min(4, len(self.D))] = self.D[:4]
            xy = cv2.fisheye.undistortPoints(pts, self.K, D, criteria=criteria)
        else:
            xy = cv2.undistortPoints(pts, self.K, self.D, criteria=criteria)
        xy = xy.reshape(-1, 2).astype(np.float64)
        return self._newton_undistort(xy, xy_d)

    def _newton_undistort(self, xy: np.ndarray, xy_d: np.ndarray, iters: int = 8) -> np.ndarray:
        """Refine undistorted xy [N,2] so that distort_normalized(xy) = xy_d.

        Newton steps with a central-difference Jacobian; a point takes a step only where it
        lowers that point's residual, so pixels without a true preimage (beyond the fold of a
        strong radial distortion) keep their best estimate instead of diverging.
        """
        eps = 1e-7
        dx, dy = np.array([[eps, 0.0]]), np.array([[0.0, eps]])
        residual = self.distort_normalized(xy) - xy_d
        err = np.linalg.norm(residual, axis=1)
        for _ in range(iters):
            if err.max() < 1e-14:
                break
            jx = (self.distort_normalized(xy + dx) - self.distort_normalized(xy - dx)) / (2 * eps)
            jy = (self.distort_normalized(xy + dy) - self.distort_normalized(xy - dy)) / (2 * eps)
            det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
            safe = np.where(np.abs(det) > 1e-12, det, np.inf)
            step = np.stack([(jy[:, 1] * residual[:, 0] - jy[:, 0] * residual[:, 1]) / safe,
                             (-jx[:, 1] * residual[:, 0] + jx[:, 0] * residual[:, 1]) / safe],
                            axis=1)
            candidate = xy - step
            new_residual = self.distort_normalized(candidate) - xy_d
            new_err = np.linalg.norm(new_residual, axis=1)
            better = new_err < err
            xy = np.where(better[:, None], candidate, xy)
            residual = np.where(better[:, None], new_residual, residual)
            err = np.where(better, new_err, err)
        return xy

    def unproject(self, uv: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """Camera-frame points [N,3] of pixels [N,2] with z-depth [N] in metres."""
        xy = self.undistort_pixels(uv)
        z = np.asarray(depth, dtype=np.float64).reshape(-1, 1)
        return np.concatenate([xy * z, z], axis=1)

    def pixel_grid(self) -> np.ndarray:
        """Pixel centres [H*W, 2] (u, v) in row-major order."""
        v, u = np.mgrid[0 : self.height, 0 : self.width]
        return np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float64)

    def ray_directions(self) -> np.ndarray:
        """Camera-frame ray directions [H, W, 3] with z = 1 (so depth * dir is the point)."""
        xy = self.undistort_pixels(self.pixel_grid())
        dirs = np.concatenate([xy, np.ones((len(xy), 1))], axis=1)
        return dirs.reshape(self.height, self.width, 3)

    def depth_to_points(self, depth_m: np.ndarray) -> np.ndarray:
        """Camera-frame points [M,3] of the valid (> 0, finite) pixels of a depth image [H,W]."""
        depth = np.asarray(depth_m)
        if depth.shape != (self.height, self.width):
            raise InvalidValueError(
                f"depth is {depth.shape}, camera is {self.height}x{self.width}")
        valid = np.isfinite(depth) & (depth > 0)
        return self.ray_directions()[valid] * depth[valid][:, None]
