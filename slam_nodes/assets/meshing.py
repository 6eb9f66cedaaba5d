"""Marching cubes on an SDF callable into a watertight, coloured trimesh (metres, object frame)."""

from __future__ import annotations

import logging
from typing import Callable

import numpy as np

logger = logging.getLogger(__name__)


def grid_points(lo: np.ndarray, hi: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Regular grid over the box [lo, hi] (metres): points [res^3, 3] (ij order) and voxel size [3]."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    axes = [np.linspace(lo[i], hi[i], res) for i in range(3)]
    pts = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return pts, (hi - lo) / (res - 1)


def mesh_from_grid(values: np.ndarray, lo: np.ndarray, spacing: np.ndarray,
                   color_fn: Callable[[np.ndarray], np.ndarray] | None = None):
    """Mesh the zero level of an SDF grid [R,R,R] (negative inside) sampled from corner `lo`.

    The grid is padded with a positive shell so the surface is always closed (watertight).
    Returns a trimesh.Trimesh, or None when the grid has no zero crossing.
    """
    import trimesh
    from skimage.measure import marching_cubes

    vol = np.pad(np.asarray(values, np.float32), 1, constant_values=float(np.abs(values).max() + 1.0))
    if not (vol.min() < 0.0 < vol.max()):
        return None
    verts, faces, _, _ = marching_cubes(vol, level=0.0, spacing=tuple(float(s) for s in spacing))
    verts = verts + np.asarray(lo) - np.asarray(spacing)
    # skimage's faces wind so normals point toward decreasing values (inside); flip to outward
    mesh = trimesh.Trimesh(verts, faces[:, ::-1], process=True)
    if color_fn is not None and len(mesh.vertices):
        rgb = np.clip(np.asarray(color_fn(np.asarray(mesh.vertices))), 0.0, 1.0)
        alpha = np.ones((len(rgb), 1))
        mesh.visual.vertex_colors = (np.hstack([rgb, alpha]) * 255).astype(np.uint8)
    return mesh


def mesh_from_sdf(sdf_fn: Callable[[np.ndarray], np.ndarray], lo, hi, res: int,
                  color_fn: Callable[[np.ndarray], np.ndarray] | None = None, chunk: int = 65536):
    """Evaluate `sdf_fn` (points [N,3] -> [N]) on a res^3 grid over [lo, hi] and mesh the zero level."""
    pts, spacing = grid_points(lo, hi, res)
    vals = np.concatenate([np.asarray(sdf_fn(pts[i:i + chunk])) for i in range(0, len(pts), chunk)])
    return mesh_from_grid(vals.reshape(res, res, res), np.asarray(lo, float), spacing, color_fn)
