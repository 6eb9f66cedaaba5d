"""Synthetic partial observations of procedural shapes by ray casting (open3d RaycastingScene)."""

from __future__ import annotations

import numpy as np

from slam_nodes.assets.shapes import ProceduralShape, shape_mesh
from slam_nodes.assets.types import ObjectObservation


def view_direction(azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Unit vector from the object centre toward the sensor (object frame, z up)."""
    az, el = np.deg2rad(azimuth_deg), np.deg2rad(elevation_deg)
    return np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def raycast_points(mesh, origins: np.ndarray, dirs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cast rays [R,3]+[R,3] at `mesh`; returns hit points [H,3] and the hit-ray indices [H]."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    rays = o3d.core.Tensor(np.hstack([origins, dirs]).astype(np.float32))
    t_hit = scene.cast_rays(rays)["t_hit"].numpy()
    hit = np.isfinite(t_hit)
    return origins[hit] + dirs[hit] * t_hit[hit, None], np.nonzero(hit)[0]


def observe(shape: ProceduralShape, views: list[tuple[float, float]], n_rays: int = 4000,
            distance_m: float | None = None, noise_m: float = 0.0, seed: int = 0,
            mesh=None, object_id: str = "obj") -> ObjectObservation:
    """Observe `shape` from sensors at (azimuth, elevation) degrees, each casting `n_rays` rays
    uniformly into the cone that covers the object's box. Returns points, colours, ray origins."""
    rng = np.random.default_rng(seed)
    mesh = mesh if mesh is not None else shape_mesh(shape, 64)
    radius = float(np.linalg.norm(shape.box_size_m) / 2)
    dist = distance_m or 3.0 * radius + 1.0
    pts, origins = [], []
    for az, el in views:
        o = view_direction(az, el) * dist
        fwd = -o / dist
        half_angle = np.arcsin(min(radius / dist, 0.99))
        # uniform directions in the cone around fwd
        cos_t = rng.uniform(np.cos(half_angle), 1.0, n_rays)
        phi = rng.uniform(0, 2 * np.pi, n_rays)
        a = np.cross(fwd, [0, 0, 1.0]) if abs(fwd[2]) < 0.9 else np.cross(fwd, [1.0, 0, 0])
        a /= np.linalg.norm(a)
        b = np.cross(fwd, a)
        sin_t = np.sqrt(1 - cos_t**2)
        d = fwd * cos_t[:, None] + (a * np.cos(phi)[:, None] + b * np.sin(phi)[:, None]) * sin_t[:, None]
        p, _ = raycast_points(mesh, np.repeat(o[None], n_rays, 0), d)
        pts.append(p)
        origins.append(np.repeat(o[None], len(p), 0))
    pts, origins = np.concatenate(pts), np.concatenate(origins)
    colors = (shape.color(pts) * 255).astype(np.uint8)
    if noise_m > 0:
        pts = pts + rng.normal(0, noise_m, pts.shape)
    return ObjectObservation(object_id=object_id, class_name=shape.category, box_size_m=shape.box_size_m.copy(),
                             points_m=pts, colors=colors, ray_origins_m=origins)
