"""Mesh metrics on meshes with known answers, culling, depth L1 and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from slam_nodes.errors import EvalError
from slam_nodes.eval.mesh import clean_mesh, load_mesh, mesh_metrics, visible_mask
from slam_nodes.types import CameraModel, make_pose

N = 50_000  # samples per mesh: enough for +-0.5 % on the ratios checked here


def _plane(size: float = 1.0, step: float = 0.05, z: float = 0.0, hole=None) -> trimesh.Trimesh:
    """Square grid in the z plane over [0,size]^2; `hole` = (lo, hi) removes faces inside."""
    n = int(round(size / step)) + 1
    xs = np.linspace(0, size, n)
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    verts = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, z)], axis=1)
    idx = np.arange(n * n).reshape(n, n)
    a, b, c, d = idx[:-1, :-1], idx[1:, :-1], idx[1:, 1:], idx[:-1, 1:]
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3),
                            np.stack([a, c, d], -1).reshape(-1, 3)])
    if hole is not None:
        cen = verts[faces].mean(axis=1)
        lo, hi = hole
        inside = (cen[:, :2] > lo).all(axis=1) & (cen[:, :2] < hi).all(axis=1)
        faces = faces[~inside]
    return trimesh.Trimesh(verts, faces, process=False)


def test_shifted_copy_accuracy_equals_shift():
    gt = _plane()
    rec = _plane(z=0.02)  # 2 cm along the normal
    r = mesh_metrics(rec, gt, num_samples=N)
    # sample-to-sample distances: sqrt(shift^2 + lateral gap^2), gaps ~2 mm at this density
    assert r.accuracy_cm == pytest.approx(2.0, abs=0.03)
    assert r.completion_cm == pytest.approx(2.0, abs=0.03)
    assert r.completion_ratio_pct == pytest.approx(100.0)
    assert r.fscore_pct["1"] == 0.0 and r.fscore_pct["5"] == pytest.approx(100.0)
    assert not r.culled and r.depth_l1_cm is None
    same = mesh_metrics(gt, gt, num_samples=N)
    assert same.accuracy_cm < 0.3 and same.fscore_pct["1"] > 99.0


def test_hole_lowers_completion_ratio_by_its_area_share():
    gt = _plane()
    rec = _plane(hole=(0.3, 0.7))  # 0.4 m square hole in a 1 m^2 plane
    r = mesh_metrics(rec, gt, num_samples=N)
    # GT samples inside the hole farther than 5 cm from its rim: a (0.4 - 0.1)^2 square
    assert r.completion_ratio_pct == pytest.approx(100 * (1 - 0.3**2), abs=0.6)
    assert r.recall_pct["1"] == pytest.approx(100 * (1 - 0.38**2), abs=0.8)
    # the holed mesh itself lies on the GT: accuracy ~0, precision 100 %
    assert r.accuracy_cm < 0.3 and r.precision_pct["2"] == pytest.approx(100.0)
    # completion: mean distance of hole samples to the rim (square of side s: s/6), averaged
    # over the whole plane, plus the sampling floor (mean gap between two sample sets) elsewhere
    floor_cm = mesh_metrics(gt, gt, num_samples=N).completion_cm
    assert r.completion_cm == pytest.approx(0.16 * 40 / 6 + 0.84 * floor_cm, rel=0.03)


def _camera() -> CameraModel:
    return CameraModel.pinhole(160, 120, 100.0, 100.0, 79.5, 59.5)


def _look_down(x: float, y: float, height: float) -> np.ndarray:
    """Camera above the z=0 plane at (x, y, height) looking down -z (optical z -> world -z)."""
    R = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
    return make_pose(R, [x, y, height])


def test_culling_frustum_and_occlusion():
    cam = _camera()
    pose = _look_down(0.25, 0.5, 0.5)  # sees x in [-0.15, 0.65] at 0.5 m (fov 0.8 m)
    floor = _plane()
    pts = np.array([[0.25, 0.5, 0.0], [0.9, 0.5, 0.0], [0.25, 0.5, -0.2], [0.25, 0.5, 0.9]])
    seen = visible_mask(pts, pose[None], cam, floor, render_scale=1.0)
    # in view | outside frustum | behind the floor (occluded) | behind the camera
    assert seen.tolist() == [True, False, False, False]

    r = mesh_metrics(floor, floor, num_samples=N, poses=pose[None], camera=cam)
    assert r.culled
    # the camera sees x in [0, 0.65], y in [0.2, 0.8] of the unit plane: 0.65 * 0.6 = 39 %
    assert r.gt_seen_pct == pytest.approx(39.0, abs=1.5)
    assert r.depth_l1_cm == pytest.approx(0.0, abs=1e-4)
    # a reconstruction 1 cm above the floor: depth L1 is exactly 1 cm
    r = mesh_metrics(_plane(z=0.01), floor, num_samples=N, poses=pose[None], camera=cam)
    assert r.depth_l1_cm == pytest.approx(1.0, abs=1e-3)
    assert r.depth_coverage_pct == pytest.approx(100.0, abs=0.5)
    # reconstruction parts the camera never saw do not count against accuracy
    junk = trimesh.util.concatenate([floor, _plane(size=0.2, z=0.5).apply_translation([2, 2, 0])])
    assert mesh_metrics(junk, floor, num_samples=N, poses=pose[None], camera=cam).accuracy_cm < 0.5
    assert mesh_metrics(junk, floor, num_samples=N).accuracy_cm > 5.0


def test_bad_meshes(tmp_path):
    empty = trimesh.Trimesh(np.zeros((0, 3)), np.zeros((0, 3), dtype=int))
    with pytest.raises(EvalError, match="empty"):
        mesh_metrics(empty, _plane(), num_samples=100)
    degenerate = trimesh.Trimesh(np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0.0]]),
                                 np.array([[0, 1, 2], [0, 0, 1]]), process=False)
    with pytest.raises(EvalError, match="degenerate"):
        clean_mesh(degenerate)
    # degenerate faces mixed with good ones are dropped, not fatal
    plane = _plane()
    mixed = trimesh.Trimesh(plane.vertices, np.concatenate([plane.faces, [[0, 0, 1], [3, 3, 3]]]),
                            process=False)
    cleaned = clean_mesh(mixed)
    assert len(cleaned.faces) == len(plane.faces)
    with pytest.raises(EvalError, match="does not exist"):
        load_mesh(tmp_path / "missing.ply")
    bad = tmp_path / "bad.ply"
    bad.write_text("ply\nformat ascii 1.0\nelement vertex 3\nend_header\n1 2\n")
    with pytest.raises(EvalError):
        load_mesh(bad)
    # poses that see nothing of the GT
    far = _look_down(50.0, 50.0, 0.5)
    with pytest.raises(EvalError, match="culling"):
        mesh_metrics(plane, plane, num_samples=1000, poses=far[None], camera=_camera())


def test_mesh_round_trip_through_ply(tmp_path):
    plane = _plane(hole=(0.3, 0.7))
    path = tmp_path / "m.ply"
    plane.export(path)
    loaded = load_mesh(path)
    assert len(loaded.faces) == len(plane.faces)
    np.testing.assert_allclose(loaded.area, plane.area, rtol=1e-6)
