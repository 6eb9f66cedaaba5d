"""Completion of a half-observed held-out car beats both baselines; confidence and alternatives."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.assets.baselines import mirror_baseline, observed_only_baseline
from slam_nodes.assets.completion import AssetCompleter
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
    assert ours.fscore_hidden > base_obs.fscore_hidden
    assert ours.box_size_error < 0.05
    # confidence: observed vertices 1, completed ones lower on average; k-1 ranked alternatives
    assert 0.05 < asset.vertex_observed.mean() < 0.95
    assert np.all(asset.vertex_confidence[asset.vertex_observed] == 1.0)
    assert asset.vertex_confidence[~asset.vertex_observed].mean() < 1.0
    scores = [a.score for a in asset.alternatives]
    assert len(scores) == completer.num_samples and scores == sorted(scores)
    assert min(asset.metadata["candidate_scores"]) <= scores[0]
