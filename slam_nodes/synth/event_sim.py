"""Event-camera simulator (ESIM-style), vectorised over pixels, looping over time sub-steps.

Input: log luminance images log(Y + eps) of the linear radiance (before any camera response),
rendered at sub-step times fine enough that the image moves less than about one pixel between
them. Between two sub-steps each pixel's log intensity is linearly interpolated; every crossing of
the pixel's reference level by its contrast threshold emits an event at the interpolated crossing
time, and the reference moves by one threshold (so the signed event sum times the threshold
tracks the log-intensity change to within one threshold).

Per-pixel thresholds: C_on, C_off ~ N(threshold, threshold_sigma), clipped to >= threshold_min,
fixed per sensor (seeded). Refractory period: an event closer than `refractory_s` to the pixel's
previous event is dropped (its crossing still moves the reference). Noise: shot-noise events of
random polarity at `shot_noise_hz` per pixel and leak (ON) events at `leak_hz` per pixel, at
uniformly random pixels and times; noise events do not move the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.types import EventBatch


@dataclass(frozen=True)
class EventConfig:
    """Event sensor parameters; the sensor shares the colour camera's pixels (DAVIS-like)."""

    threshold: float = 0.2
    threshold_sigma: float = 0.03
    threshold_min: float = 0.05
    refractory_s: float = 0.0001
    shot_noise_hz: float = 0.02
    leak_hz: float = 0.02
    log_eps: float = 0.001
    px_per_step: float = 1.0
    max_steps_per_frame: int = 48
    encoding: str = "mono"

    def __post_init__(self) -> None:
        if self.threshold <= 0 or self.threshold_min <= 0:
            raise ConfigError("events.threshold and threshold_min must be > 0")
        if self.px_per_step <= 0:
            raise ConfigError("events.px_per_step must be > 0")
        if self.encoding not in ("evt3", "mono", "dvs"):
            raise ConfigError(f"events.encoding must be evt3, mono or dvs, got {self.encoding!r}")


class EventSimulator:
    """Stateful per-pixel event generator for a `width` x `height` sensor."""

    def __init__(self, width: int, height: int, cfg: EventConfig, seed: int) -> None:
        self.width, self.height, self.cfg = int(width), int(height), cfg
        rng = np.random.default_rng([seed, 5])
        n = self.width * self.height
        self.c_on = np.maximum(rng.normal(cfg.threshold, cfg.threshold_sigma, n),
                               cfg.threshold_min).astype(np.float32)
        self.c_off = np.maximum(rng.normal(cfg.threshold, cfg.threshold_sigma, n),
                                cfg.threshold_min).astype(np.float32)
        self._noise_rng = np.random.default_rng([seed, 6])
        self._ref: np.ndarray | None = None
        self._prev: np.ndarray | None = None
        self._t_prev = 0
        self._last = np.full(n, np.iinfo(np.int64).min // 2, dtype=np.int64)

    @property
    def reference(self) -> np.ndarray:
        """Current per-pixel reference log intensity [H,W]."""
        if self._ref is None:
            raise RuntimeError("EventSimulator.reset() has not been called")
        return self._ref.reshape(self.height, self.width)

    def reset(self, log_image: np.ndarray, t_ns: int) -> None:
        """Start at log image [H,W] at time t_ns; the references take its values."""
        flat = np.asarray(log_image, dtype=np.float32).reshape(-1)
        self._ref = flat.copy()
        self._prev = flat.copy()
        self._t_prev = int(t_ns)

    def step(self, log_image: np.ndarray, t_ns: int) -> EventBatch:
        """Events in (t_prev, t_ns] from the previous log image to `log_image` [H,W]."""
        if self._prev is None or self._ref is None:
            self.reset(log_image, t_ns)
            return EventBatch.empty(self.width, self.height)
        cur = np.asarray(log_image, dtype=np.float32).reshape(-1)
        t0, t1 = self._t_prev, int(t_ns)
        if t1 <= t0:
            raise ValueError(f"event sub-steps must increase in time ({t0} -> {t1})")
        dt = t1 - t0
        prev, ref = self._prev, self._ref
        delta = cur - ref
        n_on = np.floor(delta / self.c_on)
        n_off = np.floor(-delta / self.c_off)
        n_on = np.where(delta > 0, n_on, 0).astype(np.int64)
        n_off = np.where(delta < 0, n_off, 0).astype(np.int64)
        slope = cur - prev
        ts, xs, ps = [], [], []
        for sign, counts, c in ((1, n_on, self.c_on), (-1, n_off, self.c_off)):
            pix = np.flatnonzero(counts)
            if len(pix) == 0:
                continue
            reps = counts[pix]
            pix_rep = np.repeat(pix, reps)
            # k = 1..n for each pixel, vectorised
            starts = np.cumsum(reps) - reps
            k = np.arange(len(pix_rep)) - np.repeat(starts, reps) + 1
            level = ref[pix_rep] + sign * k * c[pix_rep]
            frac = (level - prev[pix_rep]) / slope[pix_rep]
            frac = np.clip(frac, 0.0, 1.0)
            t = t0 + np.round(frac * dt).astype(np.int64)
            t = np.maximum(t, t0 + 1)
            ts.append(t)
            xs.append(pix_rep)
            ps.append(np.full(len(pix_rep), sign, dtype=np.int8))
            ref[pix] += sign * reps * c[pix]
        self._prev = cur.copy()
        self._t_prev = t1
        noise = self._noise(t0, t1)
        if noise is not None:
            ts.append(noise[0])
            xs.append(noise[1])
            ps.append(noise[2])
        if not ts:
            return EventBatch.empty(self.width, self.height)
        t = np.concatenate(ts)
        pix = np.concatenate(xs)
        p = np.concatenate(ps)
        order = np.lexsort((pix, t))  # by time, ties by pixel: deterministic
        t, pix, p = t[order], pix[order], p[order]
        if self.cfg.refractory_s > 0:
            keep = self._refractory(t, pix)
            t, pix, p = t[keep], pix[keep], p[keep]
        y, x = np.divmod(pix, self.width)
        return EventBatch(t, x, y, p, self.width, self.height)

    def _noise(self, t0: int, t1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        cfg = self.cfg
        rate = (cfg.shot_noise_hz + cfg.leak_hz) * self.width * self.height
        if rate <= 0:
            return None
        rng = self._noise_rng
        n = int(rng.poisson(rate * (t1 - t0) / 1e9))
        if n == 0:
            return None
        pix = rng.integers(0, self.width * self.height, n)
        t = t0 + 1 + rng.integers(0, t1 - t0, n)
        is_leak = rng.random(n) < cfg.leak_hz / (cfg.shot_noise_hz + cfg.leak_hz)
        p = np.where(is_leak | (rng.random(n) < 0.5), 1, -1).astype(np.int8)
        return t.astype(np.int64), pix, p

    def _refractory(self, t: np.ndarray, pix: np.ndarray) -> np.ndarray:
        """Keep-mask of time-sorted events that respect the refractory period per pixel.
        Events of one pixel are visited in rounds (the k-th event of each pixel in round k),
        so the loop runs over the largest per-pixel count of this step, not over events."""
        refr = int(self.cfg.refractory_s * 1e9)
        keep = np.zeros(len(t), dtype=bool)
        order = np.argsort(pix, kind="stable")  # stable: time order kept within a pixel
        sp = pix[order]
        first = np.r_[True, sp[1:] != sp[:-1]]
        group_start = np.maximum.accumulate(np.where(first, np.arange(len(sp)), 0))
        rank = np.arange(len(sp)) - group_start
        for r in range(int(rank.max()) + 1 if len(rank) else 0):
            sel = order[rank == r]
            ok = t[sel] - self._last[pix[sel]] >= refr
            kept = sel[ok]
            keep[kept] = True
            self._last[pix[kept]] = t[kept]
        return keep
