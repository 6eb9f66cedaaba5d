"""Synthetic IMU: readings consistent with the ground-truth trajectory and the noise model."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.spatial.transform import Rotation

from slam_nodes.synth.imu_sim import ImuConfig, simulate_imu
from slam_nodes.synth.presets import get_preset
from slam_nodes.synth.sequence import build_sequence


def _sequence(preset: str):
    cfg = dataclasses.replace(get_preset(preset), duration_s=3.0, events=None, lidar=None,
                              depth=None).with_overrides(width=32, height=24)
    return build_sequence(cfg, workers=1, nthreads=1)


def test_gyro_integrates_to_ground_truth_rotation():
    seq = _sequence("room-normal")
    r = seq.imu_readings()
    poses = seq.imu_poses(r.stamps_ns)
    dt = 1.0 / seq.config.imu.rate_hz
    R = poses[0, :3, :3].copy()
    for k in range(len(r.stamps_ns) - 1):  # midpoint rule on the exact rates
        w = 0.5 * (r.gyro_true[k] + r.gyro_true[k + 1])
        R = R @ Rotation.from_rotvec(w * dt).as_matrix()
    err = Rotation.from_matrix(R.T @ poses[-1, :3, :3]).magnitude()
    total = Rotation.from_matrix(poses[0, :3, :3].T @ poses[-1, :3, :3]).magnitude()
    assert total > 0.1  # the rig did rotate
    assert err < 0.01 * max(total, 1.0)


def test_accelerometer_measures_gravity_and_motion():
    seq = _sequence("yard-normal")  # planar robot: z stays 0, roll/pitch tiny
    r = seq.imu_readings()
    poses = seq.imu_poses(r.stamps_ns)
    # specific force in the world = R f = a_world + (0, 0, g)
    f_world = np.einsum("nij,nj->ni", poses[:, :3, :3], r.accel_true)
    assert np.allclose(f_world[:, 2], 9.80665, atol=0.05)
    # horizontal part equals the finite-difference acceleration of the GT positions
    p = poses[:, :3, 3]
    dt = 1.0 / seq.config.imu.rate_hz
    a_fd = (p[2:] - 2 * p[1:-1] + p[:-2]) / dt**2
    np.testing.assert_allclose(f_world[1:-1, :2], a_fd[:, :2], atol=0.02)


def test_noise_matches_density():
    cfg = ImuConfig(rate_hz=400.0, gyro_bias_walk=0.0, accel_bias_walk=0.0)
    stamps = np.arange(4000, dtype=np.int64) * 2_500_000

    def still(t):
        return np.repeat(np.eye(4)[None], len(t), axis=0)

    r = simulate_imu(still, stamps, cfg, np.random.default_rng(0))
    gyro_noise = r.gyro - r.gyro_true - r.gyro_bias
    accel_noise = r.accel - r.accel_true - r.accel_bias
    assert np.allclose(r.accel_true, [0, 0, 9.80665])
    np.testing.assert_allclose(gyro_noise.std(axis=0), cfg.gyro_noise_density * np.sqrt(400), rtol=0.05)
    np.testing.assert_allclose(accel_noise.std(axis=0), cfg.accel_noise_density * np.sqrt(400), rtol=0.05)
