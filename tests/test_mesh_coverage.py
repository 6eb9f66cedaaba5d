"""ObservedVoxels: the observed region kept for meshing (set semantics, order, round trip)."""

from __future__ import annotations

import numpy as np

from slam_nodes.mesh.blocks import BlockMesher
from slam_nodes.mesh.coverage import ObservedVoxels


def test_set_semantics_insertion_order_and_centres():
    obs = ObservedVoxels(np.array([-1.0, -2.0, 0.5]), 0.1)
    pts = np.array([[0.01, 0.02, 0.03], [0.04, 0.05, 0.06], [-0.95, -1.95, 0.55],
                    [np.nan, 0.0, 0.0], [5.0, -7.0, 3.33]])
    assert obs.add(pts) == 3                       # two points share a voxel, NaN ignored
    assert obs.add(pts[:3]) == 0 and len(obs) == 3  # revisiting adds nothing
    c = obs.centres()
    # each centre is the centre of the voxel of one of the points
    idx = lambda p: np.floor((p - obs.origin) / 0.1).astype(int)
    assert {tuple(idx(p)) for p in c} == {tuple(idx(p)) for p in pts[[0, 2, 4]]}
    assert np.allclose((c - obs.origin) / 0.1 % 1.0, 0.5)
    assert obs.add(np.array([[0.01, 0.02, 0.23]])) == 1
    assert np.allclose(obs.centres(3), [[0.05, 0.05, 0.25]])
    assert np.array_equal(ObservedVoxels.from_state_dict(obs.state_dict()).centres(), obs.centres())


def test_many_additions_match_a_python_set():
    rng = np.random.default_rng(0)
    obs = ObservedVoxels(np.zeros(3), 0.05)
    ref = set()
    for _ in range(20):
        p = rng.normal(size=(500, 3))
        new = obs.add(p)
        keys = {tuple(k) for k in np.floor(p / 0.05).astype(int)}
        assert new == len(keys - ref)
        ref |= keys
    assert {tuple(k) for k in np.floor(obs.centres() / 0.05).astype(int)} == ref
    assert len(obs) == len(ref)


def test_centres_mark_the_same_voxels_in_a_block_mesher():
    bounds = np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    pts = np.random.default_rng(1).uniform(-1, 1, size=(300, 3))
    a = BlockMesher(bounds, 0.1, 4, 0.0, lambda p: p[:, 0])
    b = BlockMesher(bounds, 0.1, 4, 0.0, lambda p: p[:, 0])
    obs = ObservedVoxels(bounds[0], 0.1)
    obs.add(pts)
    assert a.observe(pts) == b.observe(obs.centres())
    assert np.array_equal(a.observed, b.observed)
