"""Typed configuration of one synthetic sequence (scene, motion, sensors, lighting, mounts).

Frames: base_link is the body (REP-103); sensor mounts are given in base_link. The colour
camera, the registered depth camera and the event camera share one optical frame and one pixel
array (as in a DAVIS or an aligned RealSense stream).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.synth.camera_sim import DepthConfig, RGBConfig
from slam_nodes.synth.event_sim import EventConfig
from slam_nodes.synth.imu_sim import ImuConfig
from slam_nodes.synth.lidar_sim import LidarConfig
from slam_nodes.synth.trajectories import TrajectoryConfig
from slam_nodes.types import CameraModel

DEFAULT_START_NS = 1_700_000_000_000_000_000

#: rotation taking optical-frame vectors (x right, y down, z forward) to base_link (x fwd, z up)
R_BASE_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


@dataclass(frozen=True)
class LightingConfig:
    """Global illumination over time: `level` times a product of smooth steps.

    `changes` steps happen at seeded times; each multiplies the light by a factor drawn
    log-uniformly from `factor_range`, over `change_duration_s` (a logistic ramp).
    """

    level: float = 1.0
    changes: int = 0
    factor_range: tuple[float, float] = (0.3, 3.0)
    change_duration_s: float = 0.4

    def __post_init__(self) -> None:
        if self.level <= 0 or self.change_duration_s <= 0:
            raise ConfigError("lighting.level and change_duration_s must be > 0")
        if not 0 < self.factor_range[0] <= self.factor_range[1]:
            raise ConfigError(f"lighting.factor_range must be 0 < low <= high, got {self.factor_range}")


class LightingSchedule:
    """illumination(t_s) for a LightingConfig, a duration and a seed."""

    def __init__(self, cfg: LightingConfig, duration_s: float, seed: int) -> None:
        rng = np.random.default_rng([seed, 7])
        self.cfg = cfg
        n = max(0, int(cfg.changes))
        self.times = np.sort(rng.uniform(0.15, 0.85, n)) * duration_s
        lo, hi = np.log(cfg.factor_range[0]), np.log(cfg.factor_range[1])
        self.log_factors = rng.uniform(lo, hi, n)

    def __call__(self, t_s: np.ndarray | float) -> np.ndarray:
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        tau = self.cfg.change_duration_s / 8.0
        steps = 1.0 / (1.0 + np.exp(-np.clip((t[:, None] - self.times) / tau, -50, 50)))
        return self.cfg.level * np.exp(steps @ self.log_factors)


@dataclass(frozen=True)
class MountConfig:
    """Sensor positions in base_link (metres); cameras look along base_link +x, the LiDAR and
    the IMU have base_link's orientation."""

    camera_xyz: tuple[float, float, float] = (0.05, 0.0, 0.0)
    lidar_xyz: tuple[float, float, float] = (0.0, 0.0, 0.12)
    imu_xyz: tuple[float, float, float] = (0.0, 0.02, -0.03)

    def T_base_camera(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, :3] = R_BASE_OPTICAL
        T[:3, 3] = self.camera_xyz
        return T

    def T_base_lidar(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, 3] = self.lidar_xyz
        return T

    def T_base_imu(self) -> np.ndarray:
        T = np.eye(4)
        T[:3, 3] = self.imu_xyz
        return T


@dataclass(frozen=True)
class SequenceConfig:
    """Everything that defines a synthetic sequence; same config and seed -> same bytes."""

    name: str
    scene: str = "room"
    duration_s: float = 5.0
    seed: int = 0
    start_ns: int = DEFAULT_START_NS
    trajectory: TrajectoryConfig = field(default_factory=TrajectoryConfig)
    rgb: RGBConfig = field(default_factory=RGBConfig)
    depth: DepthConfig | None = field(default_factory=DepthConfig)
    events: EventConfig | None = field(default_factory=EventConfig)
    lidar: LidarConfig | None = field(default_factory=LidarConfig)
    imu: ImuConfig | None = field(default_factory=ImuConfig)
    lighting: LightingConfig = field(default_factory=LightingConfig)
    mount: MountConfig = field(default_factory=MountConfig)
    difficulty: str = "easy"
    description: str = ""

    def __post_init__(self) -> None:
        if self.duration_s <= 0:
            raise ConfigError(f"duration_s must be > 0, got {self.duration_s}")
        if self.duration_s * self.rgb.rate_hz < 2:
            raise ConfigError("a sequence needs at least two camera frames; raise duration_s")

    def camera(self) -> CameraModel:
        """The shared pinhole camera of the colour/depth/event streams."""
        w, h = self.rgb.width, self.rgb.height
        f = (w / 2.0) / np.tan(np.deg2rad(self.rgb.hfov_deg) / 2.0)
        return CameraModel.pinhole(w, h, f, f, (w - 1) / 2.0, (h - 1) / 2.0,
                                   frame_id="camera_optical_frame")

    def with_overrides(self, **overrides) -> "SequenceConfig":
        """Copy with top-level fields replaced (None disables an optional sensor: depth,
        events, lidar, imu); `width`, `height` and `rate_hz` go to the cameras. Unknown keys
        raise ConfigError."""
        top = {f.name for f in dataclasses.fields(self)}
        rgb_keys = {"width", "height", "rate_hz"}
        cfg = self
        rgb_over = {k: v for k, v in overrides.items() if k in rgb_keys}
        rest = {k: v for k, v in overrides.items() if k not in rgb_keys}
        unknown = set(rest) - top
        if unknown:
            raise ConfigError(f"unknown sequence options {sorted(unknown)}; known: {sorted(top | rgb_keys)}")
        if rgb_over:
            cfg = dataclasses.replace(cfg, rgb=dataclasses.replace(cfg.rgb, **rgb_over))
        return dataclasses.replace(cfg, **rest)

    def to_dict(self) -> dict:
        """Plain-data form (written as config.json beside the bag)."""
        return dataclasses.asdict(self)
