"""RGB and depth sensor models applied to rendered radiance and depth.

RGB (per pixel and channel, linear radiance L averaged over the exposure window):
    x      = L * exposure_s * sensitivity_per_s            (normalised photo signal, 1 = full well)
    e      = x * full_well_e + N(0, sqrt(x * full_well_e)) (shot noise, electrons)
    v      = gain * e / full_well_e + N(0, gain * read_noise_e / full_well_e)
    I      = round(255 * crf(clip(v, 0, 1)))               (8-bit)
with the monotonic camera response curve crf(v) = (1 + a) v^(1/g) / (a + v^(1/g)) (a gamma curve
with a soft shoulder; crf(0) = 0, crf(1) = 1). Per-frame exposure and gain come from a lagged
auto-exposure or are fixed; both are ground truth.

Depth (Kinect/RealSense-like, float32 metres, 0 = invalid), rendered at the frame stamp:
    z_noisy = z + N(0, sigma(z)),  sigma(z) = a + b (z - z0)^2  (Nguyen et al. 2012 axial model,
    a = 0.0012 m, b = 0.0019 m^-1, z0 = 0.4 m), quantised to millimetres;
holes: out of [min_range, max_range]; pixels near depth discontinuities (a 3x3 neighbour differs
by more than `edge_jump_rel` * z) with probability `edge_dropout`; dark surfaces (albedo grey <
`dark_albedo`) with probability `dark_dropout`; grazing surfaces (|cos incidence| < `grazing_cos`);
random `random_dropout`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter, minimum_filter

from slam_nodes.errors import ConfigError
from slam_nodes.synth.render import luminance


@dataclass(frozen=True)
class RGBConfig:
    """Colour camera. Exposure: 'auto' (lagged auto-exposure aiming at `ae_target` mean signal)
    or 'fixed' (`exposure_s`, `gain`). Exposure is capped at `max_exposure_s` and 0.9 / rate."""

    rate_hz: float = 30.0
    width: int = 320
    height: int = 240
    hfov_deg: float = 70.0
    exposure_mode: str = "auto"
    exposure_s: float = 0.005
    gain: float = 1.0
    min_exposure_s: float = 0.0002
    max_exposure_s: float = 0.02
    max_gain: float = 8.0
    ae_target: float = 0.08
    ae_rate: float = 0.5
    sensitivity_per_s: float = 400.0
    full_well_e: float = 6000.0
    read_noise_e: float = 5.0
    crf_gamma: float = 2.2
    crf_shoulder: float = 0.6
    blur_px_per_sample: float = 1.0
    max_blur_samples: int = 15

    def __post_init__(self) -> None:
        if self.exposure_mode not in ("auto", "fixed"):
            raise ConfigError(f"rgb.exposure_mode must be 'auto' or 'fixed', got {self.exposure_mode!r}")
        if self.rate_hz <= 0 or self.width <= 0 or self.height <= 0:
            raise ConfigError("rgb rate_hz, width and height must be > 0")
        if not 0 < self.hfov_deg < 170:
            raise ConfigError(f"rgb.hfov_deg must be in (0, 170), got {self.hfov_deg}")

    @property
    def exposure_cap_s(self) -> float:
        return min(self.max_exposure_s, 0.9 / self.rate_hz)


@dataclass(frozen=True)
class DepthConfig:
    """Depth camera registered to the colour camera (same pixels, same stamps)."""

    min_range_m: float = 0.3
    max_range_m: float = 8.0
    noise_a_m: float = 0.0012
    noise_b_per_m: float = 0.0019
    noise_z0_m: float = 0.4
    edge_jump_rel: float = 0.05
    edge_dropout: float = 0.7
    dark_albedo: float = 0.06
    dark_dropout: float = 0.9
    grazing_cos: float = 0.12
    random_dropout: float = 0.002


def response_curve(v: np.ndarray, gamma: float = 2.2, shoulder: float = 0.6) -> np.ndarray:
    """Camera response: normalised irradiance v in [0,1] -> normalised intensity in [0,1]."""
    g = np.power(np.clip(v, 0.0, 1.0), 1.0 / gamma)
    return (1.0 + shoulder) * g / (shoulder + g)


def inverse_response(i: np.ndarray, gamma: float = 2.2, shoulder: float = 0.6) -> np.ndarray:
    """Inverse of `response_curve` (intensity in [0,1] -> normalised irradiance)."""
    i = np.clip(i, 0.0, 1.0)
    g = shoulder * i / (1.0 + shoulder - i)
    return np.power(g, gamma)


def auto_exposure(mean_radiance: np.ndarray, cfg: RGBConfig) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame (exposure_s [N], gain [N]) from each frame's mean linear radiance [N].

    'auto': the product exposure * gain follows the value that would bring the mean signal to
    `ae_target`, with a first-order lag of rate `ae_rate` per frame (in log space); exposure is
    used first, up to its cap, then gain up to `max_gain`. 'fixed': constant values.
    """
    n = len(mean_radiance)
    if cfg.exposure_mode == "fixed":
        e = min(cfg.exposure_s, cfg.exposure_cap_s)
        return np.full(n, e), np.full(n, float(cfg.gain))
    want = cfg.ae_target / (np.maximum(mean_radiance, 1e-6) * cfg.sensitivity_per_s)
    lo, hi = cfg.min_exposure_s, cfg.exposure_cap_s * cfg.max_gain
    log_want = np.log(np.clip(want, lo, hi))
    log_eg = np.empty(n)
    for i in range(n):  # one step per frame: a scalar recursion
        log_eg[i] = log_want[0] if i == 0 else log_eg[i - 1] + cfg.ae_rate * (log_want[i] - log_eg[i - 1])
    eg = np.exp(log_eg)
    exposure = np.clip(eg, cfg.min_exposure_s, cfg.exposure_cap_s)
    gain = np.clip(eg / exposure, 1.0, cfg.max_gain)
    return exposure, gain


def expose_rgb(radiance: np.ndarray, exposure_s: float, gain: float, cfg: RGBConfig,
               rng: np.random.Generator | None) -> np.ndarray:
    """uint8 [H,W,3] RGB image of mean linear radiance [H,W,3] (see module docstring).
    `rng` None gives the noiseless image."""
    x = radiance.astype(np.float32) * np.float32(exposure_s * cfg.sensitivity_per_s)
    if rng is not None:
        electrons = x * np.float32(cfg.full_well_e)
        electrons += rng.standard_normal(x.shape, dtype=np.float32) * np.sqrt(np.maximum(electrons, 0))
        v = electrons * np.float32(gain / cfg.full_well_e)
        v += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(
            gain * cfg.read_noise_e / cfg.full_well_e)
    else:
        v = x * np.float32(gain)
    out = response_curve(v, cfg.crf_gamma, cfg.crf_shoulder)
    return np.round(out * 255.0).astype(np.uint8)


def log_luminance(radiance: np.ndarray, eps: float) -> np.ndarray:
    """float32 log(luminance + eps) of linear radiance [...,3] (event-camera input)."""
    return np.log(luminance(radiance) + np.float32(eps))


def depth_sigma(z: np.ndarray, cfg: DepthConfig) -> np.ndarray:
    """Axial depth noise standard deviation (m) at depth z (m)."""
    return cfg.noise_a_m + cfg.noise_b_per_m * (z - cfg.noise_z0_m) ** 2


def simulate_depth(depth_true: np.ndarray, albedo: np.ndarray, cos_inc: np.ndarray,
                   cfg: DepthConfig, rng: np.random.Generator | None) -> np.ndarray:
    """Noisy float32 [H,W] depth in metres (mm-quantised, 0 = hole) from the exact depth
    [H,W], the surface albedo [H,W,3] and |cos incidence| [H,W]. `rng` None: noise-free and
    hole-free except for the range limits."""
    z = depth_true.astype(np.float32)
    valid = (z >= cfg.min_range_m) & (z <= cfg.max_range_m)
    if rng is not None:
        z = z + rng.standard_normal(z.shape, dtype=np.float32) * depth_sigma(z, cfg).astype(np.float32)
        zmax = maximum_filter(depth_true, size=3)
        zmin = minimum_filter(np.where(depth_true > 0, depth_true, np.inf), size=3)
        edge = (zmax - zmin) > cfg.edge_jump_rel * np.maximum(depth_true, 1e-3)
        u = rng.random(z.shape, dtype=np.float32)
        grey = luminance(albedo)
        drop = (edge & (u < cfg.edge_dropout)) | ((grey < cfg.dark_albedo) & (u < cfg.dark_dropout))
        drop |= cos_inc < cfg.grazing_cos
        drop |= rng.random(z.shape, dtype=np.float32) < cfg.random_dropout
        valid &= ~drop
    z = np.round(z * 1000.0) / 1000.0
    return np.where(valid & (z > 0), z, 0.0).astype(np.float32)
