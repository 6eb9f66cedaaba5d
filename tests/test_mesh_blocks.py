"""Block-wise marching cubes on analytic SDFs: accuracy, observed-region culling, dirty blocks."""

from __future__ import annotations

import numpy as np

from slam_nodes.mesh.blocks import BlockMesher

R = 0.5
C1 = np.array([0.0, 0.0, 0.0])
C2 = np.array([1.5, 0.0, 0.0])
BOUNDS = np.array([[-1.0, -1.0, -1.0], [2.5, 1.0, 1.0]])


def two_spheres(p: np.ndarray) -> np.ndarray:
    return np.minimum(np.linalg.norm(p - C1, axis=1), np.linalg.norm(p - C2, axis=1)) - R


def sphere_points(center, n=4000, seed=0):
    v = np.random.default_rng(seed).normal(size=(n, 3))
    return center + R * v / np.linalg.norm(v, axis=1, keepdims=True)


def test_only_observed_surface_is_meshed_and_accurate():
    m = BlockMesher(BOUNDS, 0.05, 8, 0.1, two_spheres, lambda p: np.clip(p * 0 + 0.5, 0, 1))
    dirty = m.observe(sphere_points(C1))
    assert dirty
    changed = m.update()
    assert set(changed) == dirty
    mesh = m.to_trimesh()
    v = np.asarray(mesh.vertices)
    r = np.linalg.norm(v - C1, axis=1)
    assert np.abs(r - R).max() < 0.01                      # on the first sphere
    assert np.all(v[:, 0] < 1.0)                            # the unseen sphere is not meshed
    area = mesh.area
    assert abs(area - 4 * np.pi * R * R) / (4 * np.pi * R * R) < 0.05   # closed, complete
    assert np.all(np.asarray(mesh.visual.vertex_colors)[:, :3] == 128)


def test_new_observations_remesh_only_their_blocks():
    m = BlockMesher(BOUNDS, 0.05, 8, 0.1, two_spheres)
    m.observe(sphere_points(C1))
    first = m.update()
    dirty = m.observe(sphere_points(C2, seed=1))
    second = m.update()
    assert set(second) == dirty
    assert not (set(first) & set(second)) or all(k[0] >= 2 for k in set(first) & set(second))
    assert m.update() == {}                                 # nothing observed since: no work
    full = m.update(full=True)
    assert set(full) >= {k for k, b in m.blocks.items()}
    v = np.asarray(m.to_trimesh().vertices)
    assert (v[:, 0] > 1.0).any() and (v[:, 0] < 0.6).any()  # both spheres now


def test_points_outside_bounds_are_ignored():
    m = BlockMesher(BOUNDS, 0.05, 8, 0.1, two_spheres)
    assert m.observe(np.array([[10.0, 0, 0], [np.nan, 0, 0]])) == set()
    assert m.update() == {}
    assert len(m.to_trimesh().faces) == 0
