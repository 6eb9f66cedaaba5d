"""Procedural shapes: deterministic per seed, watertight, boxes centred, train/held-out seeds disjoint."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.assets.shapes import CATEGORIES, HELD_OUT_SEEDS, TRAIN_SEEDS, VALIDATION_SEEDS, make_shape, shape_mesh


@pytest.mark.parametrize("category", CATEGORIES)
def test_shape_box_and_mesh(category):
    shape = make_shape(category, 1_000_000)
    again = make_shape(category, 1_000_000)
    other = make_shape(category, 1_000_001)
    np.testing.assert_array_equal(shape.box_size_m, again.box_size_m)
    assert not np.allclose(shape.box_size_m, other.box_size_m)
    mesh = shape_mesh(shape, 40)
    assert mesh.is_watertight
    # the box is centred at the origin and matches the mesh extent within a voxel
    voxel = shape.box_size_m.max() * 1.1 / 39
    np.testing.assert_allclose(mesh.bounds.mean(0), 0.0, atol=1.5 * voxel)
    np.testing.assert_allclose(mesh.extents, shape.box_size_m, atol=2 * voxel)
    # colours: the origin-side surface colour differs from a far empty point? sdf sign is right
    assert shape.sdf(np.array([[0, 0, 10.0]]))[0] > 9
    assert (np.asarray(mesh.visual.vertex_colors)[:, :3] >= 0).all()


@pytest.mark.parametrize("category", CATEGORIES)
def test_box_is_tight(category):
    """The box defines the canonical frame and is the completer's evidence: its faces must lie on
    the surface within a small fraction of the 1% F-score threshold, and be centred."""
    shape = make_shape(category, 1_000_002)
    mesh = shape_mesh(shape, 64)
    size = shape.box_size_m.max()
    np.testing.assert_allclose(mesh.bounds[0], -shape.box_size_m / 2, atol=0.003 * size)
    np.testing.assert_allclose(mesh.bounds[1], shape.box_size_m / 2, atol=0.003 * size)


def test_seed_ranges_are_disjoint():
    assert TRAIN_SEEDS.stop <= HELD_OUT_SEEDS.start
    assert HELD_OUT_SEEDS.stop <= VALIDATION_SEEDS.start
