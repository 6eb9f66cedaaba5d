"""IMU simulator: gyroscope and accelerometer readings from the analytic trajectory.

The IMU frame is mounted at `T_base_imu` (REP-103 axes). At each stamp t:
    omega = log(R(t - h)^T R(t + h)) / (2 h)                    body angular rate (rad/s)
    a_w   = (p(t + h) - 2 p(t) + p(t - h)) / h^2                world acceleration (m/s^2)
    f     = R(t)^T (a_w - g),  g = (0, 0, -9.80665)             specific force (sensor_msgs/Imu)
with h = 1 ms on the IMU's own pose (so lever-arm effects are exact). Noise (Kalibr/IMU
datasheet convention): white noise of density `gyro_noise_density` (rad/s/sqrt(Hz)) and
`accel_noise_density` (m/s^2/sqrt(Hz)), discrete sigma = density * sqrt(rate); biases start at
N(0, *_bias_sigma) and random-walk with density `*_bias_walk` per sqrt(s).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from slam_nodes.errors import ConfigError

GRAVITY = np.array([0.0, 0.0, -9.80665])


@dataclass(frozen=True)
class ImuConfig:
    """IMU rate and noise (defaults close to a consumer MEMS IMU such as a BMI088)."""

    rate_hz: float = 200.0
    gyro_noise_density: float = 2.4e-4
    accel_noise_density: float = 1.8e-3
    gyro_bias_sigma: float = 1e-3
    accel_bias_sigma: float = 2e-2
    gyro_bias_walk: float = 2e-5
    accel_bias_walk: float = 3e-4
    frame_id: str = "imu"

    def __post_init__(self) -> None:
        if self.rate_hz <= 0:
            raise ConfigError(f"imu.rate_hz must be > 0, got {self.rate_hz}")


@dataclass
class ImuReadings:
    """stamps_ns int64 [N]; gyro, accel float64 [N,3] (noisy, IMU frame); gyro_true,
    accel_true [N,3] noise- and bias-free; gyro_bias, accel_bias [N,3]."""

    stamps_ns: np.ndarray
    gyro: np.ndarray
    accel: np.ndarray
    gyro_true: np.ndarray
    accel_true: np.ndarray
    gyro_bias: np.ndarray
    accel_bias: np.ndarray


def simulate_imu(pose_fn: Callable[[np.ndarray], np.ndarray], stamps_ns: np.ndarray,
                 cfg: ImuConfig, rng: np.random.Generator | None, h_ns: int = 1_000_000) -> ImuReadings:
    """Readings at `stamps_ns` of an IMU whose pose is `pose_fn(stamps) -> T_world_imu`.
    `rng` None: exact readings, zero bias."""
    t = np.asarray(stamps_ns, dtype=np.int64)
    before, now, after = pose_fn(t - h_ns), pose_fn(t), pose_fn(t + h_ns)
    h = h_ns / 1e9
    rel = np.einsum("nji,njk->nik", before[:, :3, :3], after[:, :3, :3])
    gyro_true = Rotation.from_matrix(rel).as_rotvec() / (2 * h)
    a_world = (after[:, :3, 3] - 2 * now[:, :3, 3] + before[:, :3, 3]) / h**2
    accel_true = np.einsum("nji,nj->ni", now[:, :3, :3], a_world - GRAVITY)
    n = len(t)
    if rng is None:
        zero = np.zeros((n, 3))
        return ImuReadings(t, gyro_true, accel_true, gyro_true, accel_true, zero, zero.copy())
    dt = 1.0 / cfg.rate_hz
    g_bias = rng.normal(0, cfg.gyro_bias_sigma, 3) + np.cumsum(
        rng.normal(0, cfg.gyro_bias_walk * np.sqrt(dt), (n, 3)), axis=0)
    a_bias = rng.normal(0, cfg.accel_bias_sigma, 3) + np.cumsum(
        rng.normal(0, cfg.accel_bias_walk * np.sqrt(dt), (n, 3)), axis=0)
    gyro = gyro_true + g_bias + rng.normal(0, cfg.gyro_noise_density * np.sqrt(cfg.rate_hz), (n, 3))
    accel = accel_true + a_bias + rng.normal(0, cfg.accel_noise_density * np.sqrt(cfg.rate_hz), (n, 3))
    return ImuReadings(t, gyro, accel, gyro_true, accel_true, g_bias, a_bias)
