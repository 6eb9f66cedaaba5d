"""Shape completion metrics on meshes in the metric object frame.

Distances are divided by the object size (the largest box extent), so Chamfer-L1 x1000 and the
F-score threshold ("1% of object size") compare objects of any scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class CompletionScores:
    """Chamfer-L1 x1000 (size-normalised), F-scores at `tau` (fraction of size) for the whole
    shape and for the ground truth's observed and hidden parts, and the box-size error (relative,
    max over axes)."""

    chamfer_l1_x1000: float
    fscore: float
    fscore_observed: float
    fscore_hidden: float
    box_size_error: float


def sample_mesh(mesh, n: int, seed: int = 0) -> np.ndarray:
    """n surface points [n,3] of a trimesh, deterministic for a seed."""
    import trimesh

    return trimesh.sample.sample_surface(mesh, n, seed=seed)[0]


def _fscore(pred_to_gt: np.ndarray, gt_to_pred: np.ndarray, tau: float) -> float:
    if len(pred_to_gt) == 0 or len(gt_to_pred) == 0:
        return 0.0
    p, r = float((pred_to_gt < tau).mean()), float((gt_to_pred < tau).mean())
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def completion_scores(pred_mesh, gt_mesh, observed_points_m: np.ndarray, tau: float = 0.01,
                      n: int = 40000, observed_radius: float = 0.03) -> CompletionScores:
    """Score a completed mesh against the ground-truth mesh (both metres, object frame).

    GT surface points within `observed_radius` x size of an observed point form the observed part,
    the rest the hidden part; predicted points take the part of their nearest GT point.
    """
    gt_ext = gt_mesh.bounds[1] - gt_mesh.bounds[0]
    size = float(gt_ext.max())
    pred = sample_mesh(pred_mesh, n, 1) / size
    gt = sample_mesh(gt_mesh, n, 2) / size
    d_pg, nn_g = cKDTree(gt).query(pred)
    d_gp, _ = cKDTree(pred).query(gt)
    cd = 0.5 * (d_pg.mean() + d_gp.mean()) * 1000
    gt_observed = cKDTree(np.asarray(observed_points_m) / size).query(gt)[0] < observed_radius
    pred_observed = gt_observed[nn_g]
    pred_ext = pred_mesh.bounds[1] - pred_mesh.bounds[0]
    return CompletionScores(
        chamfer_l1_x1000=float(cd), fscore=_fscore(d_pg, d_gp, tau),
        fscore_observed=_fscore(d_pg[pred_observed], d_gp[gt_observed], tau),
        fscore_hidden=_fscore(d_pg[~pred_observed], d_gp[~gt_observed], tau),
        box_size_error=float(np.max(np.abs(pred_ext - gt_ext) / gt_ext)))
