"""Rays of one observation in the rig frame, and the growable keyframe ray store.

`RaySet` holds rays in the *rig* frame (the tracked sensor: the camera when there is one, else
the LiDAR): origins [N, 3] and directions [N, 3] metres, target t [N] (z-depth for camera rays
with direction z = 1, range for unit LiDAR directions; 0 = no measurement), rgb [N, 3] in [0, 1]
and has_rgb [N] bool. World rays are ``T_world_rig`` applied to them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from slam_nodes.types import CameraModel, LidarScan


def rays_to_world(origins: torch.Tensor, dirs: torch.Tensor, T_world_rig: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """World origins and directions [N, 3] of rig-frame rays [N, 3] at one pose [4, 4]."""
    R = T_world_rig[:3, :3]
    return origins @ R.T + T_world_rig[:3, 3], dirs @ R.T


@dataclass
class RaySet:
    """Rays of one frame in the rig frame (see module docstring)."""

    origins: torch.Tensor
    dirs: torch.Tensor
    target_t: torch.Tensor
    rgb: torch.Tensor
    has_rgb: torch.Tensor

    def __len__(self) -> int:
        return self.target_t.shape[0]

    def select(self, idx: torch.Tensor) -> "RaySet":
        return RaySet(self.origins[idx], self.dirs[idx], self.target_t[idx], self.rgb[idx],
                      self.has_rgb[idx])

    def to_world(self, T_world_rig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """World origins and directions [N, 3] for one pose [4, 4] or per-ray poses [N, 4, 4]."""
        if T_world_rig.dim() == 2:
            return rays_to_world(self.origins, self.dirs, T_world_rig)
        R = T_world_rig[..., :3, :3]
        o = (R @ self.origins[..., None])[..., 0] + T_world_rig[..., :3, 3]
        return o, (R @ self.dirs[..., None])[..., 0]

    def endpoints(self, T_world_rig: torch.Tensor) -> torch.Tensor:
        """World points [M, 3] of the measured rays (target t > 0) at one pose [4, 4] or at
        per-ray poses [N, 4, 4]."""
        m = self.target_t > 0
        T = T_world_rig if T_world_rig.dim() == 2 else T_world_rig[m]
        o, d = self.select(m).to_world(T)
        return o + d * self.target_t[m][:, None]

    @staticmethod
    def concatenate(sets: list["RaySet"]) -> "RaySet":
        return RaySet(*(torch.cat([getattr(s, f) for s in sets]) for f in
                        ("origins", "dirs", "target_t", "rgb", "has_rgb")))


def camera_rays(camera: CameraModel, depth_m: np.ndarray | None, rgb: np.ndarray | None,
                edge_px: int, min_depth_m: float, max_depth_m: float,
                device: torch.device | str = "cpu") -> RaySet:
    """All pixels of an image pair (minus an `edge_px` border, see `interior_mask`) as
    camera-frame rays, row-major.

    depth_m: float32 [H, W] metres (0/NaN invalid) or None; rgb: uint8 [H, W, 3] or None.
    Depth outside [min_depth_m, max_depth_m] is treated as missing (target 0).
    """
    dirs = camera.ray_directions().reshape(-1, 3)
    n = dirs.shape[0]
    if depth_m is not None:
        d = np.nan_to_num(depth_m.reshape(-1).astype(np.float32), nan=0.0, posinf=0.0,
                          neginf=0.0)
        d = np.where((d >= min_depth_m) & (d <= max_depth_m), d, 0.0)
    else:
        d = np.zeros(n, np.float32)
    if rgb is not None:
        c = rgb.reshape(-1, 3).astype(np.float32) / 255.0
        has = np.ones(n, bool)
    else:
        c = np.zeros((n, 3), np.float32)
        has = np.zeros(n, bool)
    f = lambda a, dt=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dt,
                                                   device=device)
    rays = RaySet(torch.zeros(n, 3, device=device), f(dirs), f(d), f(c), f(has, torch.bool))
    if edge_px > 0:
        rays = rays.select(interior_mask(camera.height, camera.width, edge_px, device))
    return rays


def drop_depth_edges(depth_m: np.ndarray, jump_rel: float) -> np.ndarray:
    """Depth with edge pixels set to 0, for float32 [H, W] metres (0 = invalid): a pixel is
    dropped when the valid depths in its 3x3 neighbourhood span more than `jump_rel` times its
    own depth. Real depth cameras (Kinect, RealSense) interpolate "flying pixels" between
    foreground and background there; the synthetic camera drops the same pixels
    (slam_nodes.synth.camera_sim, `edge_jump_rel`). `jump_rel` <= 0: unchanged. A threshold
    that keeps real surfaces at any resolution: `plane_span_rel`.
    """
    from scipy.ndimage import maximum_filter, minimum_filter

    valid = depth_m > 0
    if jump_rel <= 0 or not valid.any():
        return depth_m
    z_max = maximum_filter(np.where(valid, depth_m, 0.0), size=3)
    z_min = minimum_filter(np.where(valid, depth_m, np.inf), size=3)
    edge = valid & ((z_max - z_min) > jump_rel * depth_m)
    return np.where(edge, 0.0, depth_m).astype(np.float32)


def plane_span_rel(focal_px: float, max_incidence_deg: float) -> float:
    """Largest depth span over a 3x3 pixel window, relative to the centre pixel's depth, of a
    plane seen at an incidence angle (view ray to surface normal) up to `max_incidence_deg`
    by a camera of focal length `focal_px` (pixels): the `jump_rel` of `drop_depth_edges`
    that drops discontinuities but keeps every real surface a sensor still measures.

    A ray at angle phi from the centre ray, in the plane of incidence, meets the plane at
    range r(phi) = r(0) cos(theta) / cos(theta + phi); the window reaches phi = +-alpha with
    alpha = sqrt(2) / f (half its diagonal), so the span is
    cos(theta) / cos(theta + alpha) - cos(theta) / cos(theta - alpha) (range ~ axial depth
    near the image centre). It grows as the pixels coarsen: 0.06 at f = 525 px (640x480,
    theta 85 deg; the fixed 5 % rule of the synthetic camera), 0.25 at 131 px (160x120),
    0.8 at 46 px (64x48, where a fixed 5 % also drops planes seen beyond ~40-50 deg). inf when
    theta + alpha reaches 90 deg (then no span tells an edge from a plane).
    """
    theta = np.radians(max_incidence_deg)
    alpha = np.sqrt(2.0) / focal_px
    if theta + alpha >= np.pi / 2:
        return float("inf")
    c = np.cos(theta)
    return float(c / np.cos(theta + alpha) - c / np.cos(theta - alpha))


def interior_mask(height: int, width: int, edge_px: int,
                  device: torch.device | str = "cpu") -> torch.Tensor:
    """Bool [H * W] over row-major pixels: True off an `edge_px` border (clamped so at least
    a 2-pixel-wide centre remains)."""
    e = max(0, min(edge_px, min(height, width) // 2 - 1))
    m = torch.zeros(height, width, dtype=torch.bool, device=device)
    m[e:height - e, e:width - e] = True
    return m.reshape(-1)


def lidar_rays(scan: LidarScan, T_rig_lidar: np.ndarray, min_range_m: float,
               max_range_m: float, device: torch.device | str = "cpu") -> RaySet:
    """LiDAR returns as rig-frame rays from the sensor origin along each beam (unit direction,
    target t = range in metres). Non-finite points and ranges outside the limits are dropped."""
    xyz = np.asarray(scan.xyz, dtype=np.float64)
    rng = np.linalg.norm(xyz, axis=1)
    keep = np.isfinite(rng) & (rng >= min_range_m) & (rng <= max_range_m)
    xyz, rng = xyz[keep], rng[keep]
    R, t = T_rig_lidar[:3, :3], T_rig_lidar[:3, 3]
    dirs = (xyz / rng[:, None]) @ R.T
    n = len(rng)
    f = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=torch.float32, device=device)
    return RaySet(f(np.broadcast_to(t, (n, 3))), f(dirs), f(rng), torch.zeros(n, 3, device=device),
                  torch.zeros(n, dtype=torch.bool, device=device))


class KeyframeRayStore:
    """Rays of all keyframes with their poses; grows by doubling (no fixed frame count).

    Each stored ray keeps its rig-frame geometry and the index of its keyframe; keyframe poses
    ``poses`` [K, 4, 4] (T_world_rig, float32) are what bundle adjustment refines.
    """

    _FIELDS = (("origins", (3,), torch.float32), ("dirs", (3,), torch.float32),
               ("target_t", (), torch.float32), ("rgb", (3,), torch.float32),
               ("has_rgb", (), torch.bool), ("kf", (), torch.int64))

    def __init__(self, device: torch.device | str = "cpu", initial_capacity: int = 4096) -> None:
        self.device = torch.device(device)
        self.n = 0
        self._cap = initial_capacity
        self._buf = {name: torch.zeros((initial_capacity, *shape), dtype=dt, device=self.device)
                     for name, shape, dt in self._FIELDS}
        self.poses = torch.zeros(0, 4, 4, device=self.device)
        self.stamps_ns: list[int] = []

    def __len__(self) -> int:
        return self.n

    @property
    def n_keyframes(self) -> int:
        return self.poses.shape[0]

    @property
    def nbytes(self) -> int:
        """Bytes held by the ray buffers and poses."""
        return sum(b.element_size() * b.numel() for b in self._buf.values()) + \
            self.poses.element_size() * self.poses.numel()

    def _grow(self, need: int) -> None:
        cap = self._cap
        while cap < need:
            cap *= 2
        if cap == self._cap:
            return
        for name, shape, dt in self._FIELDS:
            new = torch.zeros((cap, *shape), dtype=dt, device=self.device)
            new[: self.n] = self._buf[name][: self.n]
            self._buf[name] = new
        self._cap = cap

    def add(self, stamp_ns: int, T_world_rig: torch.Tensor, rays: RaySet) -> int:
        """Append a keyframe with pose [4, 4] and its rays; returns the keyframe index."""
        k = self.n_keyframes
        m = len(rays)
        self._grow(self.n + m)
        sl = slice(self.n, self.n + m)
        for name in ("origins", "dirs", "target_t", "rgb", "has_rgb"):
            self._buf[name][sl] = getattr(rays, name).to(self.device)
        self._buf["kf"][sl] = k
        self.n += m
        self.poses = torch.cat([self.poses, T_world_rig.detach().to(self.device)[None]])
        self.stamps_ns.append(int(stamp_ns))
        return k

    def rays(self, idx: torch.Tensor | None = None) -> tuple[RaySet, torch.Tensor]:
        """Stored rays (all, or rows `idx`) and their keyframe indices [M]."""
        b = {k: v[: self.n] for k, v in self._buf.items()}
        if idx is not None:
            b = {k: v[idx] for k, v in b.items()}
        return RaySet(b["origins"], b["dirs"], b["target_t"], b["rgb"], b["has_rgb"]), b["kf"]

    def endpoints_world(self, first_kf: int = 0) -> np.ndarray:
        """World points [M, 3] of measured rays of keyframes >= first_kf (for meshing)."""
        rays, kf = self.rays()
        m = kf >= first_kf
        return rays.select(m).endpoints(self.poses[kf[m]]).detach().cpu().numpy()

    def state_dict(self) -> dict:
        return {"n": self.n, "poses": self.poses.cpu(), "stamps_ns": list(self.stamps_ns),
                **{k: v[: self.n].cpu() for k, v in self._buf.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.n = 0
        self._cap = max(self._cap, 1)
        self._grow(int(state["n"]))
        for name, _, _ in self._FIELDS:
            self._buf[name][: state["n"]] = state[name].to(self.device)
        self.n = int(state["n"])
        self.poses = state["poses"].to(self.device)
        self.stamps_ns = list(state["stamps_ns"])
