"""`slam-nodes eval` end to end: run folders, reports, figures, --compare, and exit codes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from slam_nodes.cli import main
from slam_nodes.eval.report import read_metrics
from slam_nodes.types import Trajectory, make_pose, read_tum, write_tum


def _down_poses(n: int = 40) -> Trajectory:
    """Cameras 0.3 m above the z=0 plane looking down, moving along x, 30 Hz."""
    R = np.diag([1.0, -1.0, -1.0])
    poses = np.stack([make_pose(R, [0.3 + 0.01 * i, 0.5 + 0.1 * np.sin(i / 6), 0.3 + 0.002 * i])
                      for i in range(n)])
    return Trajectory(10**18 + np.arange(n, dtype=np.int64) * 33_333_333, poses)


def test_eval_run_folder_with_mesh_and_compare(tmp_path, capsys):
    gt = _down_poses()
    gt_path = tmp_path / "gt.tum"
    write_tum(gt_path, gt)
    floor = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]], [[0, 1, 2], [0, 2, 3]])
    floor.export(tmp_path / "gt.ply")
    runs = []
    for name, shift_m in (("good", 0.0), ("drift", 0.02)):
        run = tmp_path / name
        run.mkdir()
        est = Trajectory(gt.stamps_ns, gt.poses.copy())
        est.poses[:, 0, 3] += shift_m * np.linspace(-1, 1, len(gt)) ** 2  # bends: not alignable
        write_tum(run / "trajectory.tum", est)
        floor.copy().apply_translation([0, 0, shift_m]).export(run / "mesh.ply")
        (run / "metrics.json").write_text(json.dumps({"extra": {"frames_per_s": 7.0}}))
        code = main(["eval", "--est", str(run), "--gt", str(gt_path),
                     "--gt-mesh", str(tmp_path / "gt.ply"), "--samples", "20000",
                     "--camera", "160", "120", "100", "100", "79.5", "59.5"]
                    + (["--no-figures"] if name == "drift" else []))  # figures checked once
        assert code == 0
        runs.append(run)
    good, drift = read_metrics(runs[0]), read_metrics(runs[1])
    assert good["trajectory"]["ate_cm"]["rmse"] < 1e-4
    assert drift["trajectory"]["ate_cm"]["rmse"] > 0.3
    assert good["mesh"]["culled"] and 30 < good["mesh"]["gt_seen_pct"] < 80
    assert drift["mesh"]["depth_l1_cm"] == pytest.approx(2.0, abs=0.01)
    assert drift["mesh"]["accuracy_cm"] == pytest.approx(2.0, abs=0.1)
    assert good["mesh"]["fscore_pct"]["1"] > 95
    assert good["extra"] == {"frames_per_s": 7.0}  # the producer's numbers are kept
    for fig in ("traj_top", "traj_side", "ate_time", "axis_error", "mesh_error"):
        assert (runs[0] / "figures" / f"{fig}.png").stat().st_size > 5000
    report = (runs[0] / "report.md").read_text()
    assert "| ATE (cm) |" in report and "figures/mesh_error.png" in report
    assert "figures/" not in (runs[1] / "report.md").read_text()
    # the trajectory in the run folder is untouched; its copy elsewhere round-trips
    out = tmp_path / "elsewhere"
    assert main(["eval", "--est", str(runs[1] / "trajectory.tum"), "--gt", str(gt_path),
                 "--out", str(out), "--no-figures"]) == 0
    np.testing.assert_allclose(read_tum(out / "trajectory.tum").poses,
                               read_tum(runs[1] / "trajectory.tum").poses, atol=1e-9)

    capsys.readouterr()
    assert main(["eval", "--compare", str(runs[0]), str(runs[1]),
                 "--out", str(tmp_path / "cmp")]) == 0
    table = (tmp_path / "cmp" / "compare.md").read_text()
    row = next(line for line in table.splitlines() if line.startswith("| drift"))
    assert f"{drift['trajectory']['ate_cm']['rmse']:.2f}" in row
    assert "frames_per_s" in table
    assert (tmp_path / "cmp" / "compare.png").stat().st_size > 5000


def test_eval_bad_input_exit_code(tmp_path, capsys):
    gt = _down_poses()
    write_tum(tmp_path / "gt.tum", gt)
    write_tum(tmp_path / "late.tum", Trajectory(gt.stamps_ns + 10**13, gt.poses))
    assert main(["eval", "--est", str(tmp_path / "late.tum"), "--gt", str(tmp_path / "gt.tum"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "do not overlap" in capsys.readouterr().err
    (tmp_path / "nan.tum").write_text("1.0 nan 0 0 0 0 0 1\n2.0 0 0 0 0 0 0 1\n")
    assert main(["eval", "--est", str(tmp_path / "nan.tum"), "--gt", str(tmp_path / "gt.tum"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "NaN" in capsys.readouterr().err
    assert main(["eval", "--compare", str(tmp_path), "--out", str(tmp_path / "c")]) == 2
    assert "metrics.json" in capsys.readouterr().err
    write_tum(tmp_path / "one.tum", Trajectory(gt.stamps_ns[:1], gt.poses[:1]))
    assert main(["eval", "--est", str(tmp_path / "one.tum"), "--gt", str(tmp_path / "gt.tum"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "single pose" in capsys.readouterr().err
    assert main(["eval", "--est", str(tmp_path / "missing.tum"), "--gt",
                 str(tmp_path / "gt.tum"), "--out", str(tmp_path / "o")]) == 2
    assert "missing.tum does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("not a folder")
    assert main(["eval", "--est", str(tmp_path / "gt.tum"), "--gt", str(tmp_path / "gt.tum"),
                 "--out", str(tmp_path / "file" / "o")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


@pytest.mark.parametrize("mesh_ply, message", [
    ("ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\nproperty float y\n"
     "property float z\nelement face 0\nproperty list uchar int vertex_indices\nend_header\n",
     "not a triangle mesh|empty"),
    ("ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nproperty float y\n"
     "property float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
     "0 0 0\n1 0 0\n2 0 0\n3 0 1 2\n", "degenerate"),
], ids=["empty-mesh", "degenerate-mesh"])
def test_eval_bad_mesh_is_one_line_exit_2(tmp_path, capsys, mesh_ply, message):
    """One `error:` line, exit 2; main() returning means no exception escaped."""
    import re

    gt = _down_poses()
    write_tum(tmp_path / "gt.tum", gt)
    (tmp_path / "bad.ply").write_text(mesh_ply)
    floor = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]], [[0, 1, 2], [0, 2, 3]])
    floor.export(tmp_path / "gt.ply")
    capsys.readouterr()
    assert main(["eval", "--est", str(tmp_path / "gt.tum"), "--gt", str(tmp_path / "gt.tum"),
                 "--mesh", str(tmp_path / "bad.ply"), "--gt-mesh", str(tmp_path / "gt.ply"),
                 "--out", str(tmp_path / "o"), "--no-figures"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and re.search(message, errors[0]), err


def test_mesh_in_the_estimates_own_frame_is_brought_to_gt(tmp_path):
    """A SLAM system's world is its first camera: origin alignment puts its mesh on the GT."""
    from slam_nodes.eval.evaluate import evaluate_to_dir
    from slam_nodes.types import invert_pose

    gt = _down_poses()
    write_tum(tmp_path / "gt.tum", gt)
    floor = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0.0]], [[0, 1, 2], [0, 2, 3]])
    floor.export(tmp_path / "gt.ply")
    to_own = invert_pose(gt.poses[0])  # world -> first camera
    run = tmp_path / "run"
    run.mkdir()
    write_tum(run / "trajectory.tum", Trajectory(gt.stamps_ns, to_own @ gt.poses))
    floor.copy().apply_transform(to_own).export(run / "mesh.ply")
    kwargs = dict(est=run, gt=tmp_path / "gt.tum", gt_mesh=tmp_path / "gt.ply",
                  num_samples=20_000, figures=False)
    aligned = evaluate_to_dir(run, **kwargs)["mesh"]
    assert aligned["accuracy_cm"] < 0.5 and aligned["fscore_pct"]["1"] > 95
    as_is = evaluate_to_dir(run, mesh_alignment="none", **kwargs)["mesh"]
    assert as_is["accuracy_cm"] > 20
