"""Open3D baselines on real 7-Scenes frames: ATE bounds, bag == folder, run-folder output."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.errors import EvalError
from slam_nodes.eval.baselines import run_open3d_odometry, run_open3d_slam
from slam_nodes.eval.rgbd_input import open_rgbd_input
from slam_nodes.eval.trajectory import evaluate_trajectory
from slam_nodes.types import Trajectory

N_FRAMES = 12
STRIDE = 3  # every 3rd frame (10 Hz): ~5 cm and 2 degrees of motion over the 12 frames
SCALE = 0.5  # 320x240


@pytest.fixture(scope="module")
def seven_scenes(shared_data):
    src = open_rgbd_input(shared_data / "rgbd_7scenes_redkitchen",
                          max_frames=N_FRAMES * STRIDE, scale=SCALE)
    return src, list(src.frames())[::STRIDE]


def _from_first(traj: Trajectory) -> Trajectory:
    """The trajectory re-based so that its first pose is the identity."""
    return Trajectory(traj.stamps_ns, np.linalg.inv(traj.poses[0]) @ traj.poses)


def _gt(src) -> Trajectory:
    return Trajectory(src.ground_truth.stamps_ns[::STRIDE][:N_FRAMES],
                      src.ground_truth.poses[::STRIDE][:N_FRAMES])


def _standing_still_cm(gt: Trajectory) -> float:
    """ATE RMSE (cm) of any constant trajectory after the best translation: the GT's spread."""
    p = gt.positions
    return 100 * float(np.sqrt(((p - p.mean(axis=0)) ** 2).sum(axis=1).mean()))


def test_open3d_slam_tracks_7scenes(seven_scenes):
    src, frames = seven_scenes
    assert src.camera.width == 320 and len(frames) == N_FRAMES
    result = run_open3d_slam(frames, src.camera, voxel_size_m=0.02,
                             block_count=10_000)  # 2 cm voxels need 1/8 of the 1 cm blocks
    gt = _gt(src)
    ate = evaluate_trajectory(result.trajectory, gt)
    assert ate.num_pairs == N_FRAMES and not result.lost
    # KinectFusion-derived GT (~1 cm): this TSDF-ICP baseline stays near it (0.72 cm measured),
    # where standing still scores 1.97 cm
    assert ate.ate_cm.rmse < 1.2
    assert ate.ate_cm.rmse < 0.6 * _standing_still_cm(gt)
    # the mesh lies where the depth says: vertices within the cameras' depth range
    mesh = result.mesh
    assert mesh is not None and len(mesh.faces) > 1000
    dist = np.linalg.norm(mesh.vertices - result.trajectory.positions[0], axis=1)
    assert np.percentile(dist, 95) < 3.5
    assert result.frames_per_s > 0


def test_open3d_odometry_tracks_7scenes(seven_scenes):
    src, frames = seven_scenes
    result = run_open3d_odometry(frames, src.camera, method="hybrid")
    gt = _gt(src)
    ate = evaluate_trajectory(result.trajectory, gt)
    assert ate.ate_cm.rmse < 1.0 and ate.ate_cm.rmse < 0.5 * _standing_still_cm(gt)
    assert result.mesh is None
    # without alignment, from the shared first pose: small drift, where standing still is far
    # off (this catches a pose chained the wrong way round, which alignment can hide)
    rebased_gt = _from_first(gt)
    drift = evaluate_trajectory(result.trajectory, rebased_gt, alignment="none").ate_cm
    still = Trajectory(gt.stamps_ns, np.repeat(np.eye(4)[None], N_FRAMES, 0))
    still_drift = evaluate_trajectory(still, rebased_gt, alignment="none").ate_cm
    assert drift.max < 3.0 and still_drift.max > 5.0  # measured 2.0 and 6.4 cm


def test_bag_input_equals_folder_input(shared_data, tmp_path, seven_scenes):
    from slam_nodes.io.datasets import open_dataset
    from slam_nodes.io.importer import import_dataset

    bag = tmp_path / "bag"
    import_dataset(open_dataset(shared_data / "rgbd_7scenes_redkitchen"), bag, max_frames=4)
    src_bag = open_rgbd_input(bag, scale=SCALE)
    frames_bag = list(src_bag.frames())
    _, frames_dir = seven_scenes
    assert len(frames_bag) == 4
    for fb, fd in zip(frames_bag, [frames_dir[0]]):
        assert fb.stamp_ns == fd.stamp_ns
        np.testing.assert_allclose(fb.depth, fd.depth, atol=1e-6)  # 16UC1 mm both ways
        assert np.array_equal(fb.rgb, fd.rgb)
    np.testing.assert_allclose(src_bag.ground_truth.positions,
                               seven_scenes[0].ground_truth.positions[:4], atol=1e-9)
    # the camera the eval command would cull with comes from the bag's CameraInfo
    from slam_nodes.eval.rgbd_input import camera_from_bag

    cam = camera_from_bag(bag)
    np.testing.assert_allclose(cam.K, seven_scenes[0].camera.scaled(1 / SCALE).K, atol=1e-9)
    # `slam-nodes eval --gt BAG` finds the bag's only pose topic (/ground_truth/pose)
    from slam_nodes.cli import main
    from slam_nodes.eval.report import read_metrics

    noisy = src_bag.ground_truth
    noisy.poses[:, 0, 3] += [0.0, 0.01, -0.01, 0.0]  # +-1 cm along x on two poses
    from slam_nodes.types import write_tum

    write_tum(tmp_path / "est.tum", noisy)
    assert main(["eval", "--est", str(tmp_path / "est.tum"), "--gt", str(bag), "--align", "none",
                 "--out", str(tmp_path / "ev"), "--no-figures"]) == 0
    ate = read_metrics(tmp_path / "ev")["trajectory"]["ate_cm"]
    assert ate["max"] == pytest.approx(1.0, abs=1e-6)
    assert ate["rmse"] == pytest.approx(np.sqrt(0.5), abs=1e-6)


def test_baseline_cli_writes_scored_run(shared_data, tmp_path, capsys):
    from slam_nodes.cli import main
    from slam_nodes.eval.report import read_metrics

    out = tmp_path / "run"
    code = main(["baseline", "open3d-odometry", str(shared_data / "rgbd_7scenes_redkitchen"),
                 "--out", str(out), "--max-frames", "6", "--scale", "0.25"])
    assert code == 0
    m = read_metrics(out)
    assert m["trajectory"]["num_pairs"] == 6 and m["trajectory"]["ate_cm"]["rmse"] < 3
    assert m["extra"]["frames"] == 6 and m["extra"]["frames_per_s"] > 0
    assert (out / "trajectory.tum").is_file() and (out / "config.yaml").is_file()
    import yaml

    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config["depth_max_m"] == 3.0 and config["depth_max_auto"] is True  # fits 7-Scenes
    assert main(["baseline", "open3d", str(tmp_path / "missing"), "--out", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("not a folder")
    assert main(["baseline", "open3d", str(shared_data / "rgbd_7scenes_redkitchen"), "--out",
                 str(tmp_path / "file" / "run"), "--max-frames", "2"]) == 2
    assert "cannot create output folder" in capsys.readouterr().err


def test_bad_baseline_input(seven_scenes):
    src, frames = seven_scenes
    with pytest.raises(EvalError, match="no frames"):
        run_open3d_slam(iter([]), src.camera)
    with pytest.raises(EvalError, match="voxel"):
        run_open3d_slam(frames[:1], src.camera, voxel_size_m=0)
    with pytest.raises(EvalError, match="differs"):
        run_open3d_slam(frames[:1], src.camera.scaled(0.5), extract_mesh=False)


def _frame(depth: np.ndarray):
    from slam_nodes.types import CameraModel, RGBDFrame

    h, w = depth.shape
    cam = CameraModel(width=w, height=h, K=np.array([[50.0, 0, w / 2], [0, 50.0, h / 2],
                                                     [0, 0, 1]]))
    return RGBDFrame(stamp_ns=0, camera=cam, rgb=None, depth=depth.astype(np.float32))


def test_auto_depth_max_fits_the_scene(seven_scenes):
    from slam_nodes.eval.baselines import auto_depth_max

    # 100 valid depths 0.05..5.0 m (+ invalid 0 / nan): the 95th percentile is ~4.75 m -> 5 m
    d = np.concatenate([np.linspace(0.05, 5.0, 100), [0.0, np.nan]]).reshape(2, 51)
    assert auto_depth_max([_frame(d)]) == 5.0
    assert auto_depth_max([_frame(d)], keep=0.5) == 3.0  # 2.5 m quantile, floored at 3 m
    assert auto_depth_max([_frame(d)], keep=0.5, floor_m=1.0) == 3.0  # ceil(2.525 / 0.5)
    assert auto_depth_max([_frame(np.full((2, 2), 3.5))]) == 3.5  # exact steps stay
    # 7-Scenes fits Open3D's 3 m default (99 % of its depth is under 3.1 m)
    assert auto_depth_max(seven_scenes[1]) == 3.0
    with pytest.raises(EvalError, match="no valid depth"):
        auto_depth_max([_frame(np.zeros((2, 2)))])
    with pytest.raises(EvalError, match="keep"):
        auto_depth_max([_frame(d)], keep=0.0)


def test_open3d_slam_synthetic_room_needs_its_depth_range(tmp_path):
    """Regression: Open3D's 3 m depth_max cut half of the synthetic room (median depth 3 m)
    and the baseline drifted by tens of cm even on slow motion; a depth_max fitting the room
    tracks it. (The fast hand-held segment of room-normal is left out: Open3D's tracker
    genuinely loses it, see the baselines module docstring.)"""
    from dataclasses import replace

    from slam_nodes.eval.baselines import auto_depth_max
    from slam_nodes.synth import generate
    from slam_nodes.synth.presets import get_preset

    slow = replace(get_preset("room-normal").trajectory, fast_segments=0)
    generate("room-normal", tmp_path, duration_s=1.5, events=None, lidar=None, imu=None,
             trajectory=slow, width=160, height=120)
    src = open_rgbd_input(tmp_path / "bag")
    frames = list(src.frames())
    depth_max = auto_depth_max(frames[:30])
    assert len(frames) == 45 and 4.5 <= depth_max <= 6.0  # measured 5.0 m

    def ate(d: float) -> float:
        result = run_open3d_slam(frames, src.camera, voxel_size_m=0.02, block_count=10_000,
                                 depth_max_m=d, extract_mesh=False)
        return evaluate_trajectory(result.trajectory, src.ground_truth).ate_cm.rmse

    assert ate(depth_max) < 4.0  # measured 1.8 cm
    short = ate(3.0)
    assert short > 20.0  # measured 37.6 cm (tracking fails on 24 of 45 frames)
    # near such failures a multi-threaded Open3D reduction made runs differ (18-61 cm);
    # single-threaded tracking (slam_nodes.open3d_threads) repeats bit for bit
    assert ate(3.0) == short
