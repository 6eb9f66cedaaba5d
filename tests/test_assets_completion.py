"""Completion of a half-observed held-out car beats both baselines; confidence and alternatives."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.assets.baselines import mirror_baseline, observed_only_baseline
from slam_nodes.assets.completion import AssetCompleter, stretch_to_box
from slam_nodes.assets.metrics import completion_scores
from slam_nodes.assets.shapes import HELD_OUT_SEEDS, make_shape, shape_mesh
from slam_nodes.assets.synthetic import observe


@pytest.fixture(scope="module")
def car_case():
    shape = make_shape("car", HELD_OUT_SEEDS[0] + 3)
    gt = shape_mesh(shape, 56)
    # one sensor at the front-left: front, left side and roof seen; back and right side hidden
    obs = observe(shape, [(40, 25)], n_rays=3000, mesh=gt, seed=0, object_id="car")
    return shape, gt, obs


def test_half_observed_car_completion_beats_baselines(car_case):
    shape, gt, obs = car_case
    completer = AssetCompleter.from_weights(seed=0)
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "prior" and asset.metadata["fallback_reason"] is None
    assert asset.mesh.is_watertight
    ours = completion_scores(asset.mesh, gt, obs.points_m)
    base_obs = completion_scores(observed_only_baseline(obs.points_m, obs.box_size_m), gt, obs.points_m)
    base_mir = completion_scores(mirror_baseline(obs.points_m, obs.box_size_m), gt, obs.points_m)
    assert ours.chamfer_l1_x1000 < base_obs.chamfer_l1_x1000
    assert ours.chamfer_l1_x1000 < base_mir.chamfer_l1_x1000
    assert ours.fscore_hidden > max(base_obs.fscore_hidden, base_mir.fscore_hidden)
    assert asset.metadata["symmetry_points"] > 0  # the left side, mirrored, shapes the right side
    # the field is cut to the (tight) box: the mesh never leaves it
    assert np.all(np.abs(asset.mesh.bounds) <= obs.box_size_m / 2 + 1e-6)
    assert ours.box_size_error < 0.05
    # confidence: observed vertices 1, completed ones lower on average; k ranked alternatives
    assert 0.05 < asset.vertex_observed.mean() < 0.95
    assert np.all(asset.vertex_confidence[asset.vertex_observed] == 1.0)
    assert asset.vertex_confidence[~asset.vertex_observed].mean() < 1.0
    scores = [a.score for a in asset.alternatives]
    assert len(scores) == completer.num_samples and scores == sorted(scores)
    assert min(asset.metadata["candidate_scores"]) <= scores[0]


def test_stretch_to_box_moves_only_the_unseen_side():
    axes = np.linspace(-0.6, 0.6, 7)
    verts = np.stack(np.meshgrid(axes, axes, axes, indexing="ij"), -1).reshape(-1, 3)
    # observed: x only up to 0.2 (the +x side unseen), y and z out to the box faces
    observed = np.array([[-0.6, -0.8, -0.8], [0.2, 0.8, 0.8]])
    out = stretch_to_box(verts, observed)
    seen = verts[:, 0] <= 0.2
    np.testing.assert_array_equal(out[seen], verts[seen])
    np.testing.assert_allclose(out[:, 0].max(), 0.8)  # unseen +x side reaches the box face
    assert np.all(np.diff(np.unique(out[:, 0])) > 0)  # monotonic: order (and watertightness) kept
    np.testing.assert_array_equal(out[:, 1:], verts[:, 1:])  # y, z seen to the faces: untouched
