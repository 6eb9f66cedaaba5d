"""Smooth, seeded body trajectories: hand-held and wheeled-robot styles with fast segments.

A trajectory gives `T_world_base` [4,4] (REP-103 body: x forward, y left, z up) at any time in
int64 ns. Positions follow a loop around the scene's `NavArea` ellipse (inside it for rooms,
along its rim for yards); orientation is the path heading plus sums of sinusoids.

Fast segments: the path is driven by a warped time s(t) whose rate ds/dt rises smoothly from 1
to `fast_gain` inside each segment (a tanh window, integrated in closed form), so speeds and
angular rates multiply by `fast_gain` there without discontinuities.

Hand-held adds vertical bobbing, look-around yaw/pitch, roll and a small 4-9 Hz tremor;
robot style stays on the ground (z = 0) with its heading along the path and slight vibration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from slam_nodes.errors import ConfigError
from slam_nodes.synth.scenes import NavArea
from slam_nodes.types import Trajectory

STYLES = ("handheld", "robot")


@dataclass(frozen=True)
class TrajectoryConfig:
    """Motion style and strength.

    style: 'handheld' or 'robot'. speed_mps: mean speed along the loop.
    yaw_amp_deg, pitch_amp_deg, roll_amp_deg: amplitude of the look-around sinusoids.
    fast_segments: number of fast segments; fast_gain: speed factor inside them;
    fast_duration_s: length of each. tremor_deg / tremor_m: hand tremor amplitude.
    """

    style: str = "handheld"
    speed_mps: float = 0.5
    yaw_amp_deg: float = 25.0
    pitch_amp_deg: float = 8.0
    roll_amp_deg: float = 4.0
    fast_segments: int = 1
    fast_gain: float = 2.0
    fast_duration_s: float = 1.0
    tremor_deg: float = 0.15
    tremor_m: float = 0.001

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise ConfigError(f"trajectory style {self.style!r} not in {STYLES}")
        if self.speed_mps <= 0 or self.fast_gain <= 0 or self.fast_duration_s <= 0:
            raise ConfigError("trajectory speed_mps, fast_gain and fast_duration_s must be > 0")


def _log_cosh(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(x, -x) - np.log(2.0)


class SmoothTrajectory:
    """Seeded analytic trajectory; `poses(stamps_ns)` is vectorised and deterministic."""

    def __init__(self, nav: NavArea, config: TrajectoryConfig, duration_s: float, seed: int,
                 start_ns: int = 0) -> None:
        rng = np.random.default_rng([seed, 3])
        self.config = config
        self.nav = nav
        self.start_ns = int(start_ns)
        self.duration_s = float(duration_s)
        c = config
        self._ramp_s = 0.25
        n_fast = max(0, int(c.fast_segments))
        if n_fast:
            slots = np.linspace(0.0, duration_s, n_fast + 2)[1:-1]
            jitter = rng.uniform(-0.2, 0.2, n_fast) * duration_s / (n_fast + 1)
            starts = np.clip(slots + jitter - c.fast_duration_s / 2, 0.0, None)
        else:
            starts = np.zeros(0)
        self._fast = [(a, a + c.fast_duration_s) for a in starts]
        radii = np.asarray(nav.radii_xy, dtype=float)
        if nav.rim_only:
            self._r_mean, self._r_amp = 1.0, 0.06
        else:
            self._r_mean, self._r_amp = 0.6, 0.25
        mean_radius = float(np.mean(radii)) * self._r_mean
        self._omega = c.speed_mps / max(mean_radius, 0.1)  # rad/s of the loop angle
        self._theta0 = rng.uniform(0, 2 * np.pi)
        self._direction = 1.0 if rng.uniform() < 0.5 else -1.0

        def waves(n: int, f_lo: float, f_hi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            f = rng.uniform(f_lo, f_hi, n)
            a = rng.uniform(0.5, 1.0, n)
            return 2 * np.pi * f, a / a.sum(), rng.uniform(0, 2 * np.pi, n)

        self._w_radius = waves(2, 0.03, 0.08)
        self._w_height = waves(2, 0.1, 0.3)
        self._w_yaw = waves(3, 0.08, 0.25)
        self._w_pitch = waves(2, 0.1, 0.3)
        self._w_roll = waves(2, 0.1, 0.35)
        self._w_tremor = [waves(3, 4.0, 9.0) for _ in range(6)]

    # ------------------------------------------------------------------ time warp
    def warped_time(self, t_s: np.ndarray) -> np.ndarray:
        """s(t) in seconds: t plus the extra progress of the fast segments."""
        t = np.asarray(t_s, dtype=float)
        s = t.copy()
        g, tau = self.config.fast_gain, self._ramp_s
        for a, b in self._fast:
            # integral of 0.5 * (tanh((t-a)/tau) - tanh((t-b)/tau)) from 0 to t
            def F(x: np.ndarray) -> np.ndarray:
                return 0.5 * tau * (_log_cosh((x - a) / tau) - _log_cosh((x - b) / tau))
            s += (g - 1.0) * (F(t) - F(np.zeros_like(t)))
        return s

    @staticmethod
    def _sum(w: tuple[np.ndarray, np.ndarray, np.ndarray], s: np.ndarray) -> np.ndarray:
        omega, amp, phase = w
        return np.sin(np.outer(s, omega) + phase) @ amp

    def _position(self, s: np.ndarray, t: np.ndarray) -> np.ndarray:
        nav, c = self.nav, self.config
        theta = self._theta0 + self._direction * self._omega * s
        r = self._r_mean + self._r_amp * self._sum(self._w_radius, s)
        xy = np.asarray(nav.centre_xy) + np.asarray(nav.radii_xy) * (r[:, None] * np.stack(
            [np.cos(theta), np.sin(theta)], axis=1))
        if c.style == "robot":
            z = np.zeros_like(s)
        else:
            lo, hi = nav.height_range_m
            z = (lo + hi) / 2 + (hi - lo) / 2 * 0.8 * self._sum(self._w_height, s)
        pos = np.concatenate([xy, z[:, None]], axis=1)
        if c.style == "handheld":
            tremor = np.stack([self._sum(self._w_tremor[i], t) for i in range(3)], axis=1)
            pos += c.tremor_m * tremor
        return pos

    def poses(self, stamps_ns: np.ndarray) -> np.ndarray:
        """T_world_base [N,4,4] at `stamps_ns` (int64 ns; any value, before or after the span)."""
        t = (np.atleast_1d(np.asarray(stamps_ns, dtype=np.int64)) - self.start_ns) / 1e9
        s = self.warped_time(t)
        pos = self._position(s, t)
        eps = 1e-3
        ahead = self._position(s + eps, t) - self._position(s - eps, t)
        heading = np.arctan2(ahead[:, 1], ahead[:, 0])
        c = self.config
        deg = np.pi / 180
        if c.style == "handheld":
            yaw = heading + c.yaw_amp_deg * deg * self._sum(self._w_yaw, s)
            pitch = (5.0 + c.pitch_amp_deg * self._sum(self._w_pitch, s)) * deg  # +: looks down
            roll = c.roll_amp_deg * deg * self._sum(self._w_roll, s)
            tremor = np.stack([self._sum(self._w_tremor[i], t) for i in range(3, 6)], axis=1)
            yaw += c.tremor_deg * deg * tremor[:, 0]
            pitch += c.tremor_deg * deg * tremor[:, 1]
            roll += c.tremor_deg * deg * tremor[:, 2]
        else:
            yaw = heading
            pitch = c.pitch_amp_deg * deg * 0.05 * self._sum(self._w_pitch, t * 7.0)
            roll = c.roll_amp_deg * deg * 0.05 * self._sum(self._w_roll, t * 7.0)
        R = Rotation.from_euler("ZYX", np.stack([yaw, pitch, roll], axis=1)).as_matrix()
        T = np.zeros((len(t), 4, 4))
        T[:, :3, :3] = R
        T[:, :3, 3] = pos
        T[:, 3, 3] = 1.0
        return T

    def trajectory(self, stamps_ns: np.ndarray, T_base_sensor: np.ndarray | None = None) -> Trajectory:
        """Trajectory of the base (or of a sensor mounted at `T_base_sensor`) at `stamps_ns`."""
        poses = self.poses(stamps_ns)
        if T_base_sensor is not None:
            poses = poses @ T_base_sensor
        return Trajectory(np.asarray(stamps_ns, dtype=np.int64), poses)


def pose_rates(poses_fn, stamps_ns: np.ndarray, h_ns: int = 1_000_000) -> tuple[np.ndarray, np.ndarray]:
    """(angular speed rad/s [N], linear speed m/s [N]) of a pose function at `stamps_ns` by
    central differences over +-h_ns."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    a, b = poses_fn(stamps - h_ns), poses_fn(stamps + h_ns)
    dt = 2 * h_ns / 1e9
    rel = np.einsum("nji,njk->nik", a[:, :3, :3], b[:, :3, :3])
    cos = np.clip((np.trace(rel, axis1=1, axis2=2) - 1) / 2, -1, 1)
    return np.arccos(cos) / dt, np.linalg.norm(b[:, :3, 3] - a[:, :3, 3], axis=1) / dt
