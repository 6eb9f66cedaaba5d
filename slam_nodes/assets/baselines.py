"""Completion baselines: a GridPull-style grid SDF fit of the observed points, and mirror symmetry.

Both work in the canonical frame of the object's box (`samples.to_canonical`) and return a
watertight trimesh in the metric object frame. The grid fit is also the "observed-only" fallback.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from slam_nodes.assets.meshing import mesh_from_grid
from slam_nodes.assets.samples import CANON_HALF, from_canonical, to_canonical


def _sample_grid(grid: torch.Tensor, pts: torch.Tensor) -> torch.Tensor:
    """Trilinear lookup of grid [R,R,R] (ij = xyz over [-1,1]^3) at points [N,3] -> [N]."""
    g = pts.flip(-1).view(1, 1, 1, -1, 3)  # grid_sample wants (x=W=k, y=H=j, z=D=i)
    return F.grid_sample(grid[None, None], g, align_corners=True, padding_mode="border").view(-1)


def grid_sdf_fit(points_m: np.ndarray, box_size_m: np.ndarray, res: int = 32, steps: int = 150,
                 lr: float = 0.02, seed: int = 0) -> tuple[object, np.ndarray]:
    """Fit a dense SDF grid to points by pulling (GridPull, Chen et al. 2023, without a network).

    Queries q near the points are pulled along the field's gradient, q - f(q) grad f / |grad f|,
    and must land on their nearest observed point; an eikonal term and a Laplacian smoothness term
    regularise the grid, initialised to a sphere inscribed in the box; the grid's
    outer shell (outside the box) is kept positive. Returns (mesh in metres,
    grid [res,res,res] canonical SDF).
    """
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pc = to_canonical(points_m, box_size_m)
    tree = cKDTree(pc)
    axes = torch.linspace(-1, 1, res)
    xyz = torch.stack(torch.meshgrid(axes, axes, axes, indexing="ij"), -1)
    grid = (xyz.norm(dim=-1) - CANON_HALF).clone().requires_grad_(True)
    opt = torch.optim.Adam([grid], lr=lr)
    # the box is known: the grid's outer shell (outside the box) stays empty space
    shell = (xyz.abs() > 0.9).any(dim=-1)
    sigma = np.maximum(tree.query(pc, k=min(16, len(pc)))[0][:, -1], 0.02)
    pts_t = torch.as_tensor(pc, dtype=torch.float32)
    for _ in range(steps):
        i = rng.integers(0, len(pc), 2048)
        q = pc[i] + rng.normal(0, 1, (len(i), 3)) * sigma[i, None]
        q = np.clip(q, -0.99, 0.99)
        target = pts_t[torch.as_tensor(tree.query(q)[1])]
        qt = torch.as_tensor(q, dtype=torch.float32).requires_grad_(True)
        f = _sample_grid(grid, qt)
        g = torch.autograd.grad(f.sum(), qt, create_graph=True)[0]
        pulled = qt - f[:, None] * g / g.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        lap = (grid[1:-1, 1:-1, 1:-1] * 6 - grid[2:, 1:-1, 1:-1] - grid[:-2, 1:-1, 1:-1] - grid[1:-1, 2:, 1:-1]
               - grid[1:-1, :-2, 1:-1] - grid[1:-1, 1:-1, 2:] - grid[1:-1, 1:-1, :-2])
        loss = ((pulled - target).norm(dim=-1).mean() + _sample_grid(grid, pts_t).abs().mean()
                + 0.01 * ((g.norm(dim=-1) - 1) ** 2).mean() + 0.1 * lap.pow(2).mean()
                + F.relu(0.05 - grid[shell]).mean())
        opt.zero_grad()
        loss.backward()
        opt.step()
    values = grid.detach().numpy()
    spacing = np.full(3, 2.0 / (res - 1))
    mesh = mesh_from_grid(values, np.full(3, -1.0), spacing)
    if mesh is not None:
        mesh.vertices = from_canonical(mesh.vertices, box_size_m)
    return mesh, values


def mirror_points(points_m: np.ndarray, axis: int = 1) -> np.ndarray:
    """Points [N,3] plus their reflection across the object frame's plane normal to `axis` (y: left-right)."""
    m = np.asarray(points_m).copy()
    m[:, axis] *= -1
    return np.concatenate([points_m, m])


def observed_only_baseline(points_m: np.ndarray, box_size_m: np.ndarray, seed: int = 0):
    """Baseline 1: grid SDF fit of the observed points only -> mesh (metres)."""
    return grid_sdf_fit(points_m, box_size_m, seed=seed)[0]


def mirror_baseline(points_m: np.ndarray, box_size_m: np.ndarray, seed: int = 0):
    """Baseline 2: observed points mirrored left-right (y), then the grid SDF fit -> mesh (metres)."""
    return grid_sdf_fit(mirror_points(points_m), box_size_m, seed=seed)[0]
