"""Trajectories from bag pose topics: bad poses are logged skips naming topic and stamp."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from slam_nodes.errors import EvalError
from slam_nodes.eval.sources import load_trajectory
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.msgs.geometry import pose_stamped_to_msg
from slam_nodes.types import make_pose

T0 = 1_700_000_000_000_000_000
DT = 100_000_000


def test_bad_poses_in_a_bag_are_skipped_and_named(tmp_path, caplog):
    poses = [make_pose(np.eye(3), [0.1 * i, 0.0, 1.0]) for i in range(5)]
    with BagWriter(tmp_path / "bag") as bag:
        for i, T in enumerate(poses):
            msg = pose_stamped_to_msg(T, T0 + i * DT, "map")
            if i == 1:
                msg.pose.position.x = float("nan")
            if i == 3:
                q = msg.pose.orientation
                q.x = q.y = q.z = q.w = 0.0
            bag.write("/pose", T0 + i * DT + 7, msg)
    with caplog.at_level(logging.WARNING, logger="slam_nodes.eval.sources"):
        traj = load_trajectory(tmp_path / "bag")  # the only pose topic is found
    np.testing.assert_array_equal(traj.stamps_ns, [T0, T0 + 2 * DT, T0 + 4 * DT])
    np.testing.assert_allclose(traj.positions[:, 0], [0.0, 0.2, 0.4], atol=1e-12)
    for i in (1, 3):  # named by topic and log time
        assert f"/pose at {T0 + i * DT + 7} ns: skipped" in caplog.text
    with pytest.raises(EvalError, match="has no topic '/nope'"):
        load_trajectory(tmp_path / "bag", "/nope")


def test_topic_with_only_bad_poses_is_a_clear_error(tmp_path):
    with BagWriter(tmp_path / "bag") as bag:
        msg = pose_stamped_to_msg(np.eye(4), T0, "map")
        msg.pose.position.z = float("inf")
        bag.write("/pose", T0, msg)
    with pytest.raises(EvalError, match="no valid pose messages"):
        load_trajectory(tmp_path / "bag", "/pose")
