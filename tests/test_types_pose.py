"""Pose helpers, Trajectory interpolation and TUM files (checked against evo's reader)."""

from __future__ import annotations

import numpy as np
import pytest
from evo.tools.file_interface import read_tum_trajectory_file
from scipy.spatial.transform import Rotation

from slam_nodes.errors import DatasetError
from slam_nodes.types import (
    Trajectory,
    invert_pose,
    make_pose,
    matrix_to_quat,
    pose_from_tq,
    pose_to_tq,
    quat_to_matrix,
    read_tum,
    transform_points,
    write_tum,
)
from slam_nodes.types.pose import rotation_angle

TUM_FILES = ["freiburg1_xyz-groundtruth.txt", "fr2_desk_ORB.txt", "V102.txt",
             "georeferenced.tum"]


def random_poses(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    R = Rotation.random(n, random_state=rng).as_matrix()
    T = np.zeros((n, 4, 4))
    T[:, :3, :3] = R
    T[:, :3, 3] = rng.normal(size=(n, 3))
    T[:, 3, 3] = 1
    return T


def test_invert_and_transform_points():
    T = random_poses(5)
    np.testing.assert_allclose(invert_pose(T), np.linalg.inv(T), atol=1e-12)
    pts = np.random.default_rng(1).normal(size=(10, 3))
    moved = transform_points(T[0], pts)
    homo = np.c_[pts, np.ones(10)] @ T[0].T
    np.testing.assert_allclose(moved, homo[:, :3], atol=1e-12)
    assert transform_points(T[0], pts.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(transform_points(invert_pose(T[0]), moved), pts, atol=1e-12)


def test_quaternion_order_and_sign():
    # 90 degrees about z in (x, y, z, w) order
    q = np.array([0, 0, np.sqrt(0.5), np.sqrt(0.5)])
    np.testing.assert_allclose(quat_to_matrix(q), [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(2 * q), quat_to_matrix(q), atol=1e-12)
    R = random_poses(50)[:, :3, :3]
    quats = matrix_to_quat(R)
    assert np.all(quats[:, 3] >= 0)
    np.testing.assert_allclose(np.linalg.norm(quats, axis=1), 1, atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(quats), R, atol=1e-12)
    with pytest.raises(ValueError):
        quat_to_matrix(np.zeros(4))


def test_tq_round_trip_and_rotation_angle():
    T = random_poses(20, seed=2)
    t, q = pose_to_tq(T)
    np.testing.assert_allclose(pose_from_tq(t, q), T, atol=1e-12)
    np.testing.assert_allclose(make_pose(T[3, :3, :3], T[3, :3, 3]), T[3])
    angles = np.array([0.0, 0.3, 1.5, np.pi - 1e-6])
    R = Rotation.from_rotvec(angles[:, None] * np.array([[0, 1, 0]])).as_matrix()
    np.testing.assert_allclose(rotation_angle(R), angles, atol=1e-6)


def test_trajectory_interpolation():
    T0 = make_pose(np.eye(3), [0, 0, 0])
    T1 = make_pose(Rotation.from_euler("x", 60, degrees=True).as_matrix(), [3, 0, -3])
    traj = Trajectory([100, 400], np.stack([T0, T1]))
    out = traj.interpolate(np.array([100, 200, 400]))
    np.testing.assert_allclose(out[1, :3, 3], [1, 0, -1])
    np.testing.assert_allclose(out[1, :3, :3],
                               Rotation.from_euler("x", 20, degrees=True).as_matrix(), atol=1e-12)
    np.testing.assert_allclose(out[[0, 2]], traj.poses, atol=1e-12)
    with pytest.raises(ValueError, match="outside"):
        traj.interpolate(np.array([401]))
    with pytest.raises(ValueError, match="stamps but"):
        Trajectory([1, 2, 3], np.stack([T0, T1]))


@pytest.mark.parametrize("name", TUM_FILES)
def test_read_tum_matches_evo(shared_data, name):
    path = shared_data / "evo_testdata" / name
    ours = read_tum(path)
    ref = read_tum_trajectory_file(str(path))
    assert len(ours) == ref.num_poses > 10
    np.testing.assert_allclose(ours.stamps_ns / 1e9, ref.timestamps, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ours.positions, ref.positions_xyz, atol=1e-9)
    np.testing.assert_allclose(ours.poses[:, :3, :3], np.array(ref.poses_se3)[:, :3, :3],
                               atol=1e-9)


@pytest.mark.parametrize("name", TUM_FILES)
def test_write_tum_is_read_back_by_evo(shared_data, tmp_path, name):
    ours = read_tum(shared_data / "evo_testdata" / name)
    out = tmp_path / "traj.tum"
    write_tum(out, ours)
    ref = read_tum_trajectory_file(str(out))
    np.testing.assert_allclose(ref.positions_xyz, ours.positions, atol=1e-8)
    np.testing.assert_allclose(np.array(ref.poses_se3), ours.poses, atol=1e-8)
    again = read_tum(out)
    np.testing.assert_array_equal(again.stamps_ns, ours.stamps_ns)  # ns-exact stamps


def test_tum_stamps_are_exact(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("# c\n1305031102.175304 0 0 0 0 0 0 1\n"
                    "1.706282470098386526e+09 1 2 3 0 0 0 2\n")
    traj = read_tum(path)
    np.testing.assert_array_equal(traj.stamps_ns, [1305031102175304000, 1706282470098386526])
    np.testing.assert_allclose(traj.poses[1, :3, :3], np.eye(3))  # quaternion normalised
    neg = Trajectory([-500_000_000, 1], np.stack([np.eye(4)] * 2))
    write_tum(tmp_path / "n.txt", neg)
    np.testing.assert_array_equal(read_tum(tmp_path / "n.txt").stamps_ns, neg.stamps_ns)


@pytest.mark.parametrize("text,match", [
    ("1 2 3\n", "expected 8 columns"),
    ("1 0 0 0 0 0 0 x\n", "could not convert"),
    ("1 nan 0 0 0 0 0 1\n", "NaN"),
    ("nan 0 0 0 0 0 0 1\n", "bad timestamp"),
    ("1.2.3 0 0 0 0 0 0 1\n", "bad timestamp"),
    ("+-1 0 0 0 0 0 0 1\n", "bad timestamp"),
    ("1 0 0 0 0 0 0 1\n2 0 0 0 0 0 0 0\n", "zero quaternion at pose 1"),
])
def test_bad_tum_files_raise(tmp_path, text, match):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(DatasetError, match=match):
        read_tum(path)
    with pytest.raises(DatasetError, match="cannot read"):
        read_tum(tmp_path / "missing.txt")


def test_seconds_text_to_ns_exact_and_typed_errors():
    from slam_nodes.errors import SlamNodesError
    from slam_nodes.types import InvalidValueError
    from slam_nodes.types.pose import seconds_text_to_ns

    assert seconds_text_to_ns("1305031102.175304") == 1305031102175304000
    assert seconds_text_to_ns("1.706282470098386526e+09") == 1706282470098386526
    assert seconds_text_to_ns("-0.5") == -500_000_000
    assert seconds_text_to_ns("+2") == 2_000_000_000
    assert seconds_text_to_ns(".25") == 250_000_000
    for bad in ("", "-", "abc", "1.2.3", "+-1", "inf", "1_0"):
        with pytest.raises(InvalidValueError, match="bad timestamp"):
            seconds_text_to_ns(bad)
    # typed for the CLI, still a ValueError for callers that catch that
    with pytest.raises(SlamNodesError):
        Trajectory([1, 2], np.eye(4)[None])
    with pytest.raises(ValueError, match="2 stamps but 1 poses"):
        Trajectory([1, 2], np.eye(4)[None])
