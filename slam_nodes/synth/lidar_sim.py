"""Spinning multi-beam LiDAR simulator.

The sensor (REP-103 frame: x forward, y left, z up) spins once per 1 / rate_hz. Column c of a
sweep starting at t0 fires at t0 + c / (columns * rate_hz) at azimuth 2 pi c / columns
(counter-clockwise from +x, seen from above); all `beams` fire together with elevations evenly
spread over `vfov_deg`. Each column is cast from the sensor pose at its own time, so sweeps carry
the motion distortion of a real spinning sensor; each point is expressed in the sensor frame at
its own time (`time_ns`), as drivers publish them (not de-skewed). Ring 0 is the lowest beam.

Range noise: N(0, range_noise_m). Dropouts: random `dropout`, grazing incidence (|cos| <
`grazing_cos`), dark surfaces (albedo grey < `dark_albedo`) with `dark_dropout`, and ranges
outside [min_range_m, max_range_m]. Intensity: 255 * albedo grey * |cos incidence|.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.synth.render import Renderer, luminance
from slam_nodes.types import LidarScan


@dataclass(frozen=True)
class LidarConfig:
    """Spinning LiDAR parameters (angles in degrees, ranges in metres)."""

    rate_hz: float = 10.0
    beams: int = 32
    columns: int = 1024
    vfov_deg: tuple[float, float] = (-25.0, 15.0)
    min_range_m: float = 0.3
    max_range_m: float = 60.0
    range_noise_m: float = 0.01
    dropout: float = 0.01
    grazing_cos: float = 0.05
    dark_albedo: float = 0.03
    dark_dropout: float = 0.5
    frame_id: str = "lidar"

    def __post_init__(self) -> None:
        if self.rate_hz <= 0 or self.beams <= 0 or self.columns <= 0:
            raise ConfigError("lidar rate_hz, beams and columns must be > 0")
        if not self.vfov_deg[0] < self.vfov_deg[1]:
            raise ConfigError(f"lidar.vfov_deg must be (low, high), got {self.vfov_deg}")


@dataclass
class SimulatedScan:
    """A LidarScan plus its exact ground truth: points_world_true float64 [N,3] (noise-free hit
    points in the world frame) and instance uint16 [N]."""

    scan: LidarScan
    points_world_true: np.ndarray
    instance: np.ndarray


def beam_directions(cfg: LidarConfig) -> np.ndarray:
    """Unit directions [columns, beams, 3] in the sensor frame."""
    az = 2 * np.pi * np.arange(cfg.columns) / cfg.columns
    el = np.deg2rad(np.linspace(cfg.vfov_deg[0], cfg.vfov_deg[1], cfg.beams))
    ca, sa = np.cos(az)[:, None], np.sin(az)[:, None]
    ce, se = np.cos(el)[None, :], np.sin(el)[None, :]
    return np.stack([ca * ce, sa * ce, np.broadcast_to(se, (cfg.columns, cfg.beams))], axis=-1)


def simulate_scan(renderer: Renderer, pose_fn: Callable[[np.ndarray], np.ndarray], start_ns: int,
                  cfg: LidarConfig, rng: np.random.Generator | None,
                  illumination: float = 1.0) -> SimulatedScan:
    """One sweep starting at `start_ns`; `pose_fn(stamps_ns [N]) -> T_world_lidar [N,4,4]`.
    `rng` None gives a noise-free, dropout-free sweep (range limits still apply)."""
    col_t = start_ns + np.round(np.arange(cfg.columns) * 1e9 / (cfg.columns * cfg.rate_hz)).astype(np.int64)
    poses = pose_fn(col_t)  # [C,4,4]
    dirs_s = beam_directions(cfg)  # [C,B,3]
    dirs_w = np.einsum("cij,cbj->cbi", poses[:, :3, :3], dirs_s).reshape(-1, 3)
    origins = np.repeat(poses[:, :3, 3], cfg.beams, axis=0)
    hits = renderer.cast(origins.astype(np.float32), dirs_w.astype(np.float32))
    _, albedo, cos_inc = renderer.shade(hits, dirs_w.astype(np.float32), illumination)
    r_true = np.where(hits.hit, hits.t, 0.0).astype(np.float64)
    valid = hits.hit & (r_true >= cfg.min_range_m) & (r_true <= cfg.max_range_m)
    grey = luminance(albedo)
    r = r_true.copy()
    if rng is not None:
        r += rng.standard_normal(len(r)) * cfg.range_noise_m
        u = rng.random(len(r))
        drop = (u < cfg.dropout) | (cos_inc < cfg.grazing_cos)
        drop |= (grey < cfg.dark_albedo) & (rng.random(len(r)) < cfg.dark_dropout)
        valid &= ~drop
    idx = np.flatnonzero(valid)
    xyz = dirs_s.reshape(-1, 3)[idx] * r[idx, None]
    ring = np.tile(np.arange(cfg.beams, dtype=np.uint16), cfg.columns)[idx]
    time_ns = np.repeat(col_t, cfg.beams)[idx]
    intensity = (255.0 * grey * cos_inc)[idx].astype(np.float32)
    points_true = origins[idx] + dirs_w[idx] * r_true[idx, None]
    scan = LidarScan(int(start_ns), xyz, intensity, ring, time_ns, cfg.frame_id)
    return SimulatedScan(scan, points_true, hits.instance[idx])
