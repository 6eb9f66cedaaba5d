"""Dataset readers: 7-Scenes on the real redkitchen frames; TUM RGB-D and KITTI odometry on
small folders built in tmp_path from the real 7-Scenes images and KITTI scans."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slam_nodes.errors import DatasetError
from slam_nodes.io.datasets import (
    DATASETS,
    DatasetReader,
    KittiOdometryDataset,
    SevenScenesDataset,
    TumRgbdDataset,
    guess_dataset_kind,
    open_dataset,
)
from slam_nodes.io.datasets.tum import associate, tum_camera
from slam_nodes.types import invert_pose, make_pose, read_tum, write_tum
from slam_nodes.types.pose import Trajectory, quat_to_matrix

SEVEN = "rgbd_7scenes_redkitchen"


def test_7scenes_frames_depth_colour_and_poses(shared_data):
    root = shared_data / SEVEN
    reader = open_dataset(root)
    assert isinstance(reader, SevenScenesDataset) and isinstance(reader, DatasetReader)
    assert len(reader) == 75 and reader.kind == "rgbd"
    assert (reader.camera.fx, reader.camera.fy, reader.camera.cx, reader.camera.cy) == (
        585.0, 585.0, 320.0, 240.0)
    frames = list(reader.frames(max_frames=3))
    assert [f.stamp_ns for f in frames] == [0, 33_333_333, 66_666_667]
    for i, frame in enumerate(frames):
        raw = cv2.imread(str(root / f"frame-{i:06d}.depth.png"), cv2.IMREAD_UNCHANGED)
        valid = (raw != 65535) & (raw != 0)
        assert 0.5 < valid.mean() < 1.0
        np.testing.assert_allclose(frame.depth[valid], raw[valid] / 1000.0, rtol=1e-7)
        assert np.all(frame.depth[~valid] == 0)
        bgr = cv2.imread(str(root / f"frame-{i:06d}.color.jpg"))
        np.testing.assert_array_equal(frame.rgb, bgr[:, :, ::-1])
    gt = reader.ground_truth
    assert len(gt) == 75
    np.testing.assert_array_equal(gt.poses[10], np.loadtxt(root / "frame-000010.pose.txt"))
    # the README's TUM copy of the same poses (t = i / 30 s)
    tum = read_tum(root / "groundtruth_tum.txt")
    assert np.abs(tum.stamps_ns - gt.stamps_ns).max() < 1000
    np.testing.assert_allclose(tum.positions, gt.positions, atol=1e-6)


def test_7scenes_lost_poses_are_left_out(shared_data, tmp_path):
    root = shared_data / SEVEN
    for i in range(3):
        for ext in ("color.jpg", "depth.png"):
            (tmp_path / f"frame-{i:06d}.{ext}").symlink_to(root / f"frame-{i:06d}.{ext}")
        (tmp_path / f"frame-{i:06d}.pose.txt").write_text(
            (root / f"frame-{i:06d}.pose.txt").read_text() if i != 1 else
            "-inf -inf -inf -inf\n" * 4)
    reader = SevenScenesDataset(tmp_path)
    assert len(reader) == 3 and len(list(reader.frames())) == 3
    assert list(reader.ground_truth.stamps_ns) == [0, 66_666_667]


def build_tum_folder(shared_data, root, n: int = 5):
    """A TUM-layout folder made of real 7-Scenes frames: depth in 1/5000 m, colour stamps at
    30 Hz, depth 7 ms later (plus a stray depth image 0.5 s away), mocap at the colour stamps."""
    src = shared_data / SEVEN
    (root / "rgb").mkdir(parents=True)
    (root / "depth").mkdir()
    t0 = 1305031102.175304
    rgb_lines, depth_lines, poses, stamps = ["# color images"], ["# depth maps"], [], []
    for i in range(n):
        t = t0 + i / 30
        colour = cv2.imread(str(src / f"frame-{i:06d}.color.jpg"))
        cv2.imwrite(str(root / f"rgb/{t:.6f}.png"), colour)
        mm = cv2.imread(str(src / f"frame-{i:06d}.depth.png"), cv2.IMREAD_UNCHANGED)
        tum_depth = np.where(mm == 65535, 0, mm.astype(np.uint32) * 5).astype(np.uint16)
        cv2.imwrite(str(root / f"depth/{t + 0.007:.6f}.png"), tum_depth)
        rgb_lines.append(f"{t:.6f} rgb/{t:.6f}.png")
        depth_lines.append(f"{t + 0.007:.6f} depth/{t + 0.007:.6f}.png")
        poses.append(np.loadtxt(src / f"frame-{i:06d}.pose.txt"))
        stamps.append(int(f"{t:.6f}".replace(".", "")) * 1000)  # exactly as written
    depth_lines.append(f"{t0 + 10:.6f} depth/none.png")
    (root / "rgb.txt").write_text("\n".join(rgb_lines) + "\n")
    (root / "depth.txt").write_text("\n".join(depth_lines) + "\n")
    write_tum(root / "groundtruth.txt", Trajectory(np.array(stamps), np.stack(poses)))
    return stamps


def test_tum_reader_associates_and_scales_depth(shared_data, tmp_path):
    root = tmp_path / "rgbd_dataset_freiburg1_xyz"
    stamps = build_tum_folder(shared_data, root)
    assert guess_dataset_kind(root) == "tum"
    reader = open_dataset(root)
    assert isinstance(reader, TumRgbdDataset) and len(reader) == 5
    cam = reader.camera
    assert (cam.fx, cam.fy, cam.cx, cam.cy) == (517.3, 516.5, 318.6, 255.3)
    assert cam.distortion_model == "plumb_bob" and cam.D[0] == pytest.approx(0.2624)
    frames = list(reader.frames())
    assert [f.stamp_ns for f in frames] == stamps
    for i, f in enumerate(frames):
        raw = cv2.imread(str(root / f.extra["depth_file"]), cv2.IMREAD_UNCHANGED)
        np.testing.assert_allclose(f.depth, raw / 5000.0, rtol=1e-7)
        assert f.extra["depth_file"].startswith(f"depth/{stamps[i] / 1e9 + 0.007:.6f}"[:16])
    # 7-Scenes rotations are orthonormal only to ~1e-4; TUM quaternions are unit
    expected = np.loadtxt(shared_data / SEVEN / "frame-000003.pose.txt")
    np.testing.assert_allclose(reader.ground_truth.poses[3][:3, 3], expected[:3, 3], atol=1e-9)
    np.testing.assert_allclose(reader.ground_truth.poses[3], expected, atol=1e-4)
    # other folder names get the ROS default camera
    assert (tum_camera(tmp_path / "my_seq").fx, tum_camera(tmp_path / "my_seq").cx) == (525, 319.5)
    with pytest.raises(DatasetError, match="no colour/depth pair"):
        TumRgbdDataset(root, max_dt_s=0.001)


def test_associate_nearest_unique_within_limit():
    a = np.array([0, 100, 200, 300, 1000])
    b = np.array([5, 95, 96, 290, 2000])
    # 100 and 200 both nearest to b=96..: each b used once, the closer a wins; 1000 unmatched
    assert associate(a, b, max_dt_ns=20) == [(0, 0), (1, 2), (3, 3)]
    assert associate(a, np.array([], dtype=np.int64), 20) == []


def test_kitti_sequence_with_times_calib_and_poses(shared_data, tmp_path):
    seq = tmp_path / "sequences" / "07"
    (seq / "velodyne").mkdir(parents=True)
    src = sorted((shared_data / "lidar_scans/kitti_patchworkpp").glob("*.bin"))[:3]
    for k, f in enumerate(src):
        (seq / "velodyne" / f"{k:06d}.bin").symlink_to(f)
    (seq / "times.txt").write_text("0.000000e+00\n1.036090e-01\n2.072160e-01\n")
    Tr = make_pose(quat_to_matrix([0.5, -0.5, 0.5, -0.5]), [0.1, -0.2, -0.3])  # velo -> cam
    (seq / "calib.txt").write_text("P0: " + " ".join(["0"] * 12) + "\nTr: "
                                   + " ".join(f"{v:.12g}" for v in Tr[:3].ravel()) + "\n")
    P = [make_pose(np.eye(3), [0, 0, 0.8 * k]) for k in range(3)]  # camera forward = +z
    (tmp_path / "poses").mkdir()
    (tmp_path / "poses" / "07.txt").write_text(
        "\n".join(" ".join(f"{v:.12g}" for v in p[:3].ravel()) for p in P) + "\n")
    assert guess_dataset_kind(seq) == "kitti"
    reader = open_dataset(seq)
    assert isinstance(reader, KittiOdometryDataset) and reader.kind == "lidar"
    scans = list(reader.frames())
    assert [s.stamp_ns for s in scans] == [0, 103_609_000, 207_216_000]
    assert [len(s) for s in scans] == [f.stat().st_size // 16 for f in src]
    gt = reader.ground_truth
    np.testing.assert_array_equal(gt.stamps_ns, [s.stamp_ns for s in scans])
    for k in range(3):
        np.testing.assert_allclose(gt.poses[k], invert_pose(Tr) @ P[k] @ Tr, atol=1e-9)
    # the camera moved 0.8 m along its z: in velodyne terms that is 0.8 m along Tr^-1 z
    np.testing.assert_allclose(np.linalg.norm(gt.positions[2] - gt.positions[1]), 0.8, atol=1e-9)


def test_kitti_folder_of_bins_without_poses(shared_data):
    reader = open_dataset(shared_data / "lidar_scans/kitti_patchworkpp", "kitti")
    assert len(reader) == 6 and reader.ground_truth is None
    stamps = [s.stamp_ns for s in reader.frames(max_frames=2)]
    assert stamps == [0, 100_000_000]  # 10 Hz when there is no times.txt


def test_dataset_errors(tmp_path, shared_data):
    assert set(DATASETS) == {"tum", "7scenes", "kitti"}
    with pytest.raises(DatasetError, match="cannot tell"):
        guess_dataset_kind(tmp_path)
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "nope")
    with pytest.raises(DatasetError, match="unknown dataset kind"):
        open_dataset(tmp_path, "euroc")
    with pytest.raises(DatasetError, match="rgb.txt is missing"):
        TumRgbdDataset(tmp_path)
    with pytest.raises(DatasetError, match="no frame-"):
        SevenScenesDataset(tmp_path)
    with pytest.raises(DatasetError, match="max_frames"):
        list(open_dataset(shared_data / SEVEN).frames(max_frames=-1))
