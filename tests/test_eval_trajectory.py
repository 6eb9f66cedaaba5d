"""ATE/RPE: equality with evo's command-line tools on real trajectories, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from slam_nodes.errors import EvalError
from slam_nodes.eval.trajectory import evaluate_trajectory
from slam_nodes.types import Trajectory, make_pose, read_tum
from slam_nodes.types.pose import quat_to_matrix

BIN = Path(sys.executable).parent


def _evo_cli(runs: list[tuple[str, tuple[str, ...]]], gt: Path, est: Path,
             tmp_path: Path) -> list[dict]:
    """Stats (metres / degrees) of evo's own CLI tools (name, extra args), started together
    and read back from their --save_results zips."""
    procs, outs = [], []
    for k, (tool, extra) in enumerate(runs):
        out = tmp_path / f"{tool}_{k}_{est.stem}.zip"
        cmd = [str(BIN / tool), "tum", str(gt), str(est), "-a", "--t_max_diff", "0.02",
               "--save_results", str(out), "--no_warnings", "--silent", *extra]
        home = tmp_path / f"home{k}"  # evo writes ~/.evo/settings.json: one HOME each
        home.mkdir()
        procs.append(subprocess.Popen(
            cmd, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            env={"HOME": str(home), "MPLBACKEND": "Agg", "PATH": str(BIN)}))
        outs.append(out)
    stats = []
    for proc, out in zip(procs, outs):
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err.decode()
        with zipfile.ZipFile(out) as zf:
            stats.append(json.loads(zf.read("stats.json")))
    return stats


@pytest.mark.parametrize(
    "gt_name, est_name, expect_pairs",
    [("fr2_desk_groundtruth.txt", "fr2_desk_ORB.txt", 2225),
     ("freiburg1_xyz-groundtruth.txt", "freiburg1_xyz-rgbdslam.txt", 786)],
)
def test_ate_and_frame_rpe_equal_evo_cli(shared_data, tmp_path, gt_name, est_name, expect_pairs):
    gt_path = shared_data / "evo_testdata" / gt_name
    est_path = shared_data / "evo_testdata" / est_name
    ape, rpe = _evo_cli([("evo_ape", ()), ("evo_rpe", ("--delta", "1", "--delta_unit", "f"))],
                        gt_path, est_path, tmp_path)
    result = evaluate_trajectory(read_tum(est_path), read_tum(gt_path))
    assert result.num_pairs == expect_pairs
    for key in ("rmse", "mean", "median", "max", "min", "std"):
        assert getattr(result.ate_cm, key) / 100 == pytest.approx(ape[key], abs=1e-6), key
    for key in ("rmse", "mean", "max"):
        assert getattr(result.rpe_frame_trans_cm, key) / 100 == pytest.approx(rpe[key], abs=1e-6)


def test_sim3_matches_reference_and_recovers_scale(shared_data):
    d = shared_data / "evo_testdata"
    gt = read_tum(d / "fr2_desk_groundtruth.txt")
    est = read_tum(d / "fr2_desk_ORB.txt")
    sim3 = evaluate_trajectory(est, gt, alignment="sim3")
    # README of evo_testdata: Sim3 RMSE 0.0062 m
    assert sim3.ate_cm.rmse == pytest.approx(0.62, abs=0.01)
    # a scaled copy of the estimate gives the same Sim(3) error and the inverse scale
    scaled = Trajectory(est.stamps_ns, est.poses.copy())
    scaled.poses[:, :3, 3] *= 2.5
    again = evaluate_trajectory(scaled, gt, alignment="sim3")
    assert again.ate_cm.rmse == pytest.approx(sim3.ate_cm.rmse, rel=1e-6)
    assert again.scale == pytest.approx(sim3.scale / 2.5, rel=1e-6)


def _circle(n: int = 200, dt_ns: int = 33_333_333, t0: int = 10**18) -> Trajectory:
    ang = np.linspace(0, 2 * np.pi, n)
    poses = np.stack([
        make_pose(quat_to_matrix([0, 0, np.sin(a / 2), np.cos(a / 2)]),
                  [np.cos(a), np.sin(a), 0.1 * a]) for a in ang
    ])
    return Trajectory(t0 + np.arange(n, dtype=np.int64) * dt_ns, poses)


def test_known_offset_and_rigid_motion():
    gt = _circle()
    # a rigidly moved copy: zero error after SE(3) alignment, large without
    T = make_pose(quat_to_matrix([0.1, 0.2, 0.3, 0.9]), [1.0, -2.0, 0.5])
    moved = Trajectory(gt.stamps_ns, np.einsum("ij,njk->nik", T, gt.poses))
    r = evaluate_trajectory(moved, gt)
    assert r.ate_cm.rmse < 1e-6
    assert r.rpe_trans_cm.rmse < 1e-6 and r.rpe_frame_rot_deg.max < 1e-5
    np.testing.assert_allclose(r.T_gt_est, np.linalg.inv(T), atol=1e-9)
    assert evaluate_trajectory(moved, gt, alignment="none").ate_cm.rmse > 100
    # one pose displaced by 3 cm along z, alignment off: max error 3 cm, rmse 3/sqrt(n)
    bumped = Trajectory(gt.stamps_ns, gt.poses.copy())
    bumped.poses[50, 2, 3] += 0.03
    r = evaluate_trajectory(bumped, gt, alignment="none")
    assert r.ate_cm.max == pytest.approx(3.0, abs=1e-9)
    assert r.ate_cm.rmse == pytest.approx(3.0 / np.sqrt(len(gt)), abs=1e-9)
    # RPE over 1 s (30 frames): the pairs spanning pose 50 see the 3 cm jump
    assert r.rpe_trans_cm.max == pytest.approx(3.0, abs=1e-6)


def test_association_window():
    gt = _circle()
    late = Trajectory(gt.stamps_ns + 15_000_000, gt.poses)  # 15 ms late: inside 20 ms
    assert evaluate_trajectory(late, gt).num_pairs == len(gt)
    with pytest.raises(EvalError, match="within 10.0 ms"):
        evaluate_trajectory(late, gt, max_diff_s=0.01)


@pytest.mark.parametrize(
    "make_est, message",
    [
        (lambda gt: Trajectory(gt.stamps_ns + 10**12, gt.poses), "do not overlap"),
        (lambda gt: Trajectory(gt.stamps_ns[:1], gt.poses[:1]), "single pose"),
        (lambda gt: Trajectory(gt.stamps_ns[:0], gt.poses[:0]), "empty"),
        (lambda gt: Trajectory(gt.stamps_ns, np.where(np.arange(len(gt))[:, None, None] == 7,
                                                       np.nan, gt.poses)), "NaN"),
    ],
    ids=["no-overlap", "single-pose", "empty", "nan"],
)
def test_bad_input_raises_clear_error(make_est, message):
    gt = _circle()
    with pytest.raises(EvalError, match=message):
        evaluate_trajectory(make_est(gt), gt)


def test_unsorted_duplicate_stamps_are_cleaned():
    gt = _circle()
    idx = np.r_[np.arange(len(gt))[::-1], 3]
    messy = Trajectory(gt.stamps_ns[idx], gt.poses[idx])
    assert evaluate_trajectory(messy, gt).ate_cm.rmse < 1e-6


def test_bag_pose_topics_equal_evo_cli(shared_data, tmp_path):
    """PoseStamped topics of a ROS 1 bag, read by our bag reader, give evo_ape bag's ATE."""
    from slam_nodes.eval.sources import load_trajectory

    bag = shared_data / "evo_testdata" / "ROS_example.bag"
    out = tmp_path / "bag.zip"
    evo = subprocess.Popen(  # runs while we read the bag ourselves
        [str(BIN / "evo_ape"), "bag", str(bag), "groundtruth", "ORB-SLAM", "-a",
         "--t_max_diff", "0.02", "--save_results", str(out), "--silent"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={"HOME": str(tmp_path), "MPLBACKEND": "Agg", "PATH": str(BIN)})
    gt = load_trajectory(bag, "groundtruth")
    est = load_trajectory(bag, "ORB-SLAM")
    assert (len(gt), len(est)) == (12765, 8362)
    result = evaluate_trajectory(est, gt)
    _, err = evo.communicate(timeout=180)
    assert evo.returncode == 0, err.decode()
    with zipfile.ZipFile(out) as zf:
        stats = json.loads(zf.read("stats.json"))
    assert result.ate_cm.rmse / 100 == pytest.approx(stats["rmse"], abs=1e-6)
    assert result.ate_cm.max / 100 == pytest.approx(stats["max"], abs=1e-6)


def test_tf_chain_matches_odometry_topic(shared_data):
    """odom->base_footprint from /tf and the /odom topic of the same (simulated) robot agree."""
    from slam_nodes.eval.sources import load_trajectory

    bag = shared_data / "evo_testdata" / "nav2_turtlebot.mcap"
    tf = load_trajectory(bag, "odom->base_footprint")
    odom = load_trajectory(bag, "/odom")
    assert len(odom) == 2639 and len(tf) > 500
    r = evaluate_trajectory(tf, odom, alignment="none")
    assert r.num_pairs > 0.9 * len(tf)
    assert r.ate_cm.rmse < 1.0  # same robot state, published by two paths
    with pytest.raises(EvalError, match="choose a pose topic"):
        load_trajectory(bag)
    with pytest.raises(EvalError, match="no topic"):
        load_trajectory(bag, "/nope")
