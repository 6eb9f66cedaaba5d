"""Named sequence presets (DEV-Indoors-like variants normal / blur / dark, an outdoor yard, and
tiny ones for tests). Each preset is a function of nothing returning a fresh SequenceConfig."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from slam_nodes.errors import ConfigError
from slam_nodes.synth.camera_sim import DepthConfig, RGBConfig
from slam_nodes.synth.config import LightingConfig, MountConfig, SequenceConfig
from slam_nodes.synth.event_sim import EventConfig
from slam_nodes.synth.lidar_sim import LidarConfig
from slam_nodes.synth.trajectories import TrajectoryConfig


def room_normal() -> SequenceConfig:
    return SequenceConfig(
        name="room-normal", scene="room", duration_s=10.0,
        rgb=RGBConfig(width=320, height=240),
        difficulty="easy",
        description="indoor room, hand-held, bright steady light, short exposures (sharp)",
    )


def room_blur() -> SequenceConfig:
    base = room_normal()
    return replace(
        base, name="room-blur",
        trajectory=TrajectoryConfig(speed_mps=0.8, yaw_amp_deg=35.0, pitch_amp_deg=10.0,
                                    fast_segments=2, fast_gain=2.5, fast_duration_s=1.2),
        rgb=replace(base.rgb, exposure_mode="fixed", exposure_s=0.025, max_exposure_s=0.03,
                    sensitivity_per_s=100.0, max_blur_samples=21),
        lighting=LightingConfig(level=0.1),
        difficulty="hard",
        description="indoor room, fast hand-held motion, dim light, fixed 25 ms exposure (motion blur)",
    )


def room_dark() -> SequenceConfig:
    base = room_normal()
    return replace(
        base, name="room-dark",
        rgb=replace(base.rgb, max_exposure_s=0.015, max_gain=8.0),
        lighting=LightingConfig(level=0.004, changes=3, factor_range=(0.25, 4.0),
                                change_duration_s=0.5),
        events=EventConfig(shot_noise_hz=0.1, leak_hz=0.05),
        difficulty="hard",
        description="indoor room, low light with 3 lighting changes, auto-exposure at its limits "
                    "(15 ms, gain up to 8): dark, noisy frames",
    )


def room_tiny() -> SequenceConfig:
    return SequenceConfig(
        name="room-tiny", scene="room", duration_s=1.0,
        rgb=RGBConfig(width=80, height=60),
        lidar=LidarConfig(beams=16, columns=256),
        difficulty="easy",
        description="1 s, 80x60 room with events and a 16-beam LiDAR, for tests",
    )


def _robot_mount() -> MountConfig:
    return MountConfig(camera_xyz=(0.25, 0.0, 0.8), lidar_xyz=(0.0, 0.0, 1.1))


def yard_normal() -> SequenceConfig:
    return SequenceConfig(
        name="yard-normal", scene="yard", duration_s=10.0,
        trajectory=TrajectoryConfig(style="robot", speed_mps=1.0, fast_segments=1, fast_gain=1.8),
        rgb=RGBConfig(width=320, height=240, hfov_deg=80.0),
        depth=DepthConfig(max_range_m=10.0),
        mount=_robot_mount(),
        difficulty="medium",
        description="outdoor courtyard, wheeled robot, sunlight, parked vehicles and pedestrians",
    )


def yard_tiny() -> SequenceConfig:
    return replace(yard_normal(), name="yard-tiny", duration_s=1.0,
                   rgb=RGBConfig(width=80, height=60, hfov_deg=80.0),
                   lidar=LidarConfig(beams=16, columns=256), difficulty="easy",
                   description="1 s, 80x60 yard with events and a 16-beam LiDAR, for tests")


PRESETS: dict[str, Callable[[], SequenceConfig]] = {
    "room-tiny": room_tiny,
    "room-normal": room_normal,
    "room-blur": room_blur,
    "room-dark": room_dark,
    "yard-tiny": yard_tiny,
    "yard-normal": yard_normal,
}


def get_preset(name: str) -> SequenceConfig:
    """A fresh SequenceConfig of preset `name`; ConfigError lists the known names."""
    try:
        return PRESETS[name]()
    except KeyError as err:
        raise ConfigError(f"unknown synth preset {name!r}; known: {', '.join(PRESETS)}") from err


def describe(cfg: SequenceConfig) -> str:
    """One line: sensors, size and difficulty of a config."""
    r = cfg.rgb
    sensors = [f"rgb+depth {r.width}x{r.height}@{r.rate_hz:g}Hz" if cfg.depth else
               f"rgb {r.width}x{r.height}@{r.rate_hz:g}Hz"]
    if cfg.events:
        sensors.append(f"events ({cfg.events.encoding}, C={cfg.events.threshold:g})")
    if cfg.lidar:
        sensors.append(f"lidar {cfg.lidar.beams}x{cfg.lidar.columns}@{cfg.lidar.rate_hz:g}Hz")
    if cfg.imu:
        sensors.append(f"imu@{cfg.imu.rate_hz:g}Hz")
    return (f"{cfg.scene}, {cfg.duration_s:g} s, {cfg.trajectory.style}; {', '.join(sensors)}; "
            f"difficulty {cfg.difficulty}: {cfg.description}")
