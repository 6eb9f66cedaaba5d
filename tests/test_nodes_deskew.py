"""De-skewing a LiDAR sweep (nodes/deskew.py): a sweep fired from a sensor moving with constant
twist, each point in the sensor frame at its own time, is put back in the frame at the stamp."""

from __future__ import annotations

import numpy as np
from scipy.linalg import expm

from slam_nodes.nodes.deskew import deskew_scan
from slam_nodes.types import LidarScan, invert_pose, transform_points

DT_NS = 100_000_000  # 10 Hz


def _motion(fraction: float, omega, v) -> np.ndarray:
    """T_{s(t0)}_{s(t0 + fraction * dt)} of a constant twist: angular rate `omega` (rad per dt)
    and linear rate `v` (m per dt) in the sensor frame, the exact SE(3) exponential."""
    xi = np.zeros((4, 4))
    xi[:3, :3] = [[0, -omega[2], omega[1]], [omega[2], 0, -omega[0]], [-omega[1], omega[0], 0]]
    xi[:3, 3] = v
    return expm(fraction * xi)


def _sweep(rotvec, trans, n=2000, seed=0):
    """(skewed LidarScan, true points in the frame at the stamp) of a static world."""
    rng = np.random.default_rng(seed)
    world = rng.uniform(-20, 20, (n, 3))  # in the sensor frame at the stamp
    stamp = 1_700_000_000_000_000_000
    times = stamp + np.sort(rng.integers(0, DT_NS, n))
    skewed = np.empty_like(world)
    for i, t in enumerate(times):
        T = _motion((t - stamp) / DT_NS, rotvec, trans)  # sensor at t_i seen from t0
        skewed[i] = transform_points(invert_pose(T), world[i:i + 1])[0]
    return LidarScan(stamp, skewed, time_ns=times), world


def test_deskew_recovers_the_sweep_of_a_turning_robot():
    rotvec, trans = [0.0, 0.0, 0.15], [0.12, 0.01, 0.0]  # ~1.2 m/s, ~86 deg/s yaw
    scan, truth = _sweep(rotvec, trans)
    before = np.linalg.norm(scan.xyz - truth, axis=1).max()
    fixed = deskew_scan(scan, _motion(1.0, rotvec, trans), DT_NS)
    after = np.linalg.norm(fixed.xyz - truth, axis=1)
    assert before > 1.0  # the skew is large at 20 m
    # the rotation vector / translation split bends the arc into a chord: for 12 cm along a
    # 0.15 rad turn that is v * theta / 8 = 2.3 mm at mid-sweep, against 4 m of skew at 20 m
    assert after.max() < 0.003, after.max()
    assert np.array_equal(fixed.time_ns, scan.time_ns) and fixed.stamp_ns == scan.stamp_ns


def test_deskew_is_exact_for_pure_translation_and_a_no_op_without_times():
    scan, truth = _sweep([0, 0, 0], [0.3, -0.1, 0.02])
    fixed = deskew_scan(scan, _motion(1.0, [0, 0, 0], [0.3, -0.1, 0.02]), DT_NS)
    assert np.abs(fixed.xyz - truth).max() < 1e-5
    plain = LidarScan(scan.stamp_ns, scan.xyz)
    assert deskew_scan(plain, _motion(1.0, [0, 0, 0.1], [0.1, 0, 0]), DT_NS) is plain
