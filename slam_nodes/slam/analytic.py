"""A small analytic scene for tests and benchmarks: a textured box room with a sphere in it,
rendered exactly (ray casting in closed form) for pinhole cameras and LiDARs.

World frame: the room spans `room_min_m`..`room_max_m`; the sphere has `sphere_center_m` and
`sphere_radius_m`. Colour is a smooth procedural texture of the world position (so photometric
terms carry information). Also provides the exact signed distance of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slam_nodes.types import CameraModel, LidarScan, RGBDFrame, make_pose


@dataclass(frozen=True)
class BoxRoomScene:
    room_min_m: np.ndarray = field(default_factory=lambda: np.array([-2.0, -1.5, -2.0]))
    room_max_m: np.ndarray = field(default_factory=lambda: np.array([2.0, 1.5, 2.5]))
    sphere_center_m: np.ndarray = field(default_factory=lambda: np.array([0.3, 0.2, 1.2]))
    sphere_radius_m: float = 0.45

    def texture(self, p: np.ndarray) -> np.ndarray:
        """RGB [N, 3] in [0, 1] at world points [N, 3]."""
        s = np.sin(3.0 * p) * 0.5 + 0.5
        chk = np.floor(p * 2 + 0.25).sum(axis=1) % 2   # checker edges off the walls
        return np.clip(0.15 + 0.5 * s[:, [0, 1, 2]] * 0.8 + 0.25 * chk[:, None], 0, 1)

    def cast(self, origins: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        """Ray parameter t [N] of the first hit of rays o + t d from inside the room."""
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (self.room_min_m - origins) / dirs
            t2 = (self.room_max_m - origins) / dirs
        tfar = np.where(dirs > 0, t2, np.where(dirs < 0, t1, np.inf))
        t_room = tfar.min(axis=1)
        oc = origins - self.sphere_center_m
        b = (oc * dirs).sum(1)
        a = (dirs * dirs).sum(1)
        c = (oc * oc).sum(1) - self.sphere_radius_m ** 2
        disc = b * b - a * c
        with np.errstate(invalid="ignore"):
            t_s = (-b - np.sqrt(np.maximum(disc, 0))) / a
        hit = (disc > 0) & (t_s > 0)
        return np.where(hit & (t_s < t_room), t_s, t_room)

    def sdf(self, p: np.ndarray) -> np.ndarray:
        """Signed distance [N] (metres, positive in free space) at world points [N, 3]."""
        d_room = np.minimum(p - self.room_min_m, self.room_max_m - p).min(axis=1)
        d_sph = np.linalg.norm(p - self.sphere_center_m, axis=1) - self.sphere_radius_m
        return np.minimum(d_room, d_sph)

    def render(self, camera: CameraModel, T_world_cam: np.ndarray, stamp_ns: int = 0
               ) -> RGBDFrame:
        """Exact RGB-D frame (depth = z in the camera frame)."""
        d_cam = camera.ray_directions().reshape(-1, 3)
        R, t = T_world_cam[:3, :3], T_world_cam[:3, 3]
        d_w = d_cam @ R.T
        o = np.broadcast_to(t, d_w.shape)
        z = self.cast(o, d_w)
        rgb = self.texture(o + d_w * z[:, None])
        h, w = camera.height, camera.width
        return RGBDFrame(int(stamp_ns), camera,
                         (rgb.reshape(h, w, 3) * 255 + 0.5).astype(np.uint8),
                         z.reshape(h, w).astype(np.float32))

    def lidar_scan(self, T_world_lidar: np.ndarray, n_azimuth: int = 360,
                   elevations_deg: tuple = (-15, -10, -5, 0, 5, 10, 15), stamp_ns: int = 0
                   ) -> LidarScan:
        """Exact scan of a spinning multi-beam LiDAR (REP-103 frame) at T_world_lidar."""
        az = np.linspace(0, 2 * np.pi, n_azimuth, endpoint=False)
        el = np.deg2rad(np.asarray(elevations_deg, dtype=np.float64))
        A, E = np.meshgrid(az, el)
        d = np.stack([np.cos(E) * np.cos(A), np.cos(E) * np.sin(A), np.sin(E)], -1).reshape(-1, 3)
        R, t = T_world_lidar[:3, :3], T_world_lidar[:3, 3]
        d_w = d @ R.T
        r = self.cast(np.broadcast_to(t, d_w.shape), d_w)
        ring = np.repeat(np.arange(len(el)), n_azimuth).astype(np.uint16)
        return LidarScan(int(stamp_ns), d * r[:, None], ring=ring)


def orbit_trajectory(n_frames: int, radius_m: float = 0.3, step_deg: float = 1.5,
                     height_m: float = 0.0) -> list[np.ndarray]:
    """Camera poses T_world_cam (optical frame looking along +z, slowly panning about the
    vertical axis y while moving on a small circle)."""
    poses = []
    for i in range(n_frames):
        a = np.deg2rad(step_deg * i)
        R = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
        t = np.array([radius_m * np.sin(a * 2), height_m + 0.05 * np.sin(a * 3),
                      -0.5 + radius_m * (1 - np.cos(a * 2))])
        poses.append(make_pose(R, t))
    return poses
