"""Differentiable camera response functions (EN-SLAM): scene radiance -> RGB and -> event log
intensity, so one radiance field explains both sensors.

The field's colour head outputs linear scene *radiance* r in (0, 1) (one value per channel, in
the field's arbitrary units). Two sensors look at it:

- the RGB camera: ``rgb = f(log r + e_k)`` per channel, where ``e_k`` is frame k's log exposure
  (exposure time x gain x any global illumination change the static field cannot hold) and ``f``
  a learned monotonic response curve (`ResponseCurve`);
- the event camera: ``L = log(g * Y(r) + eps)`` with ``Y`` the Rec. 601 luma of r, a learned
  log gain ``log g`` and a fixed ``eps`` (the log offset DVS pixels apply to dark signal); it has
  no exposure. Events measure changes of L in steps of the contrast threshold C, which is a
  learned scalar here (`EventResponse.contrast`), initialised from the published 0.2-0.5 range
  and refined with the map (or set in closed form by `estimate_contrast`).

Design choices (EN-SLAM's code is unpublished; these are ours):
- the curve acts on *log* irradiance, so an exposure change is a pure shift of its input, which
  keeps exposure and curve shape separable;
- monotonicity by construction: knot values are a normalised cumulative sum of softplus
  increments (strictly increasing), linear between knots and linearly extrapolated beyond the
  ends, so the curve is strictly increasing on all of R and its inverse exists everywhere;
- gauge: the curve reaches 1 at ``log_max`` (saturation) and the first frame's exposure is held
  at 0 by the caller, which fixes the otherwise free shift between radiance scale and exposure;
- one curve shared by the three channels (a colour camera's channels share a transfer curve;
  white balance would be a per-channel shift of e_k and is not modelled).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from slam_nodes.errors import ConfigError

#: Rec. 601 luma weights (the synthetic generator and most DVS-style grey conversions use them)
LUMA = (0.299, 0.587, 0.114)


def _inverse_softplus(y: torch.Tensor) -> torch.Tensor:
    return y + torch.log(-torch.expm1(-y))


class ResponseCurve(nn.Module):
    """Monotonic piecewise-linear curve f: log irradiance u -> normalised intensity.

    n_knots knots evenly spaced on [log_min, log_max]; f(log_max) = 1. Initialised to a gamma
    curve ``f(u) = exp((u - log_max) / init_gamma)`` (i.e. ``I = x^(1/gamma)``).
    """

    def __init__(self, n_knots: int = 24, log_min: float = -9.0, log_max: float = 1.0,
                 init_gamma: float = 2.2) -> None:
        super().__init__()
        if n_knots < 3 or not log_max > log_min or init_gamma <= 0:
            raise ConfigError(f"invalid response curve: n_knots={n_knots}, "
                              f"log range [{log_min}, {log_max}], gamma={init_gamma}")
        self.log_min, self.log_max = float(log_min), float(log_max)
        knots = torch.linspace(log_min, log_max, n_knots, dtype=torch.float64)
        self.register_buffer("knots", knots.float())
        v = torch.exp((knots - log_max) / init_gamma)
        inc = torch.cat([v[:1], v[1:] - v[:-1]])
        self.raw = nn.Parameter(_inverse_softplus(inc).float())

    def values(self) -> torch.Tensor:
        """Knot values [K], strictly increasing, last = 1."""
        v = torch.cumsum(nn.functional.softplus(self.raw), dim=0)
        return v / v[-1]

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """f(u) for log irradiance u [...] (any shape); differentiable in u and the curve."""
        v = self.values()
        k = self.knots
        step = (self.log_max - self.log_min) / (len(k) - 1)
        pos = ((u - self.log_min) / step)
        # segment index clamped to the end segments: linear extrapolation beyond the range
        i = pos.detach().floor().clamp(0, len(k) - 2).long()
        frac = pos - i.to(pos.dtype)
        v0, v1 = v[i], v[i + 1]
        return v0 + (v1 - v0) * frac

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """u = f^-1(y) for intensities y [...] (exact inverse of `forward`, also beyond the
        knot range by the same linear extrapolation)."""
        v = self.values()
        i = (torch.searchsorted(v.detach().contiguous(), y.detach().contiguous()) - 1)
        i = i.clamp(0, len(v) - 2)
        v0, v1 = v[i], v[i + 1]
        step = (self.log_max - self.log_min) / (len(v) - 1)
        return self.log_min + (i.to(y.dtype) + (y - v0) / (v1 - v0)) * step


class EventResponse(nn.Module):
    """Event-camera log intensity of radiance and the (learned) contrast threshold C.

    eps: additive dark offset inside the log (the generator uses 1e-3 on its radiance scale);
    init_contrast: initial C (log-intensity change per event).
    """

    def __init__(self, eps: float = 1e-3, init_contrast: float = 0.25) -> None:
        super().__init__()
        if eps <= 0 or init_contrast <= 0:
            raise ConfigError(f"event response needs eps > 0 and contrast > 0, got {eps}, "
                              f"{init_contrast}")
        self.eps = float(eps)
        self.log_gain = nn.Parameter(torch.zeros(()))
        self.log_contrast = nn.Parameter(torch.tensor(math.log(init_contrast)))
        self.register_buffer("luma", torch.tensor(LUMA))

    @property
    def contrast(self) -> torch.Tensor:
        """C > 0 (scalar tensor)."""
        return self.log_contrast.exp()

    def forward(self, radiance: torch.Tensor) -> torch.Tensor:
        """Log intensity [...] of radiance [..., 3]."""
        y = (radiance * self.luma).sum(dim=-1)
        return torch.log(y * self.log_gain.exp() + self.eps)

    @torch.no_grad()
    def set_contrast(self, value: float) -> None:
        if not value > 0 or not math.isfinite(value):
            raise ValueError(f"contrast threshold must be finite and > 0, got {value}")
        self.log_contrast.fill_(math.log(value))


class CameraResponse(nn.Module):
    """Both sensors' responses, optimised with the map: `rgb(radiance, log_exposure)` and
    `event_log(radiance)`. Per-frame exposures live outside (see ExposureTable) so the module
    has a fixed parameter set."""

    def __init__(self, n_knots: int = 24, log_min: float = -9.0, log_max: float = 1.0,
                 init_gamma: float = 2.2, event_eps: float = 1e-3,
                 init_contrast: float = 0.25) -> None:
        super().__init__()
        self.curve = ResponseCurve(n_knots, log_min, log_max, init_gamma)
        self.event = EventResponse(event_eps, init_contrast)

    def rgb(self, radiance: torch.Tensor, log_exposure: torch.Tensor | float) -> torch.Tensor:
        """RGB [R, 3] (normalised, 1 = saturation; not clamped, so gradients never vanish) of
        radiance [R, 3] > 0 at log exposure [R] or scalar."""
        e = torch.as_tensor(log_exposure, dtype=radiance.dtype, device=radiance.device)
        if e.dim() == 1:
            e = e[:, None]
        return self.curve(torch.log(radiance.clamp_min(1e-6)) + e)

    def radiance(self, rgb: torch.Tensor, log_exposure: torch.Tensor | float) -> torch.Tensor:
        """Inverse of `rgb`: radiance [R, 3] of intensities [R, 3] at log exposure [R] / scalar."""
        e = torch.as_tensor(log_exposure, dtype=rgb.dtype, device=rgb.device)
        if e.dim() == 1:
            e = e[:, None]
        return torch.exp(self.curve.inverse(rgb) - e)

    def event_log(self, radiance: torch.Tensor) -> torch.Tensor:
        return self.event(radiance)


class ExposureTable:
    """Per-frame log exposures keyed by frame stamp (int64 ns); growable, float64 on the host.

    The first frame added is the gauge (its exposure stays 0, see module docstring)."""

    def __init__(self) -> None:
        self._values: dict[int, float] = {}
        self.gauge_ns: int | None = None

    def __len__(self) -> int:
        return len(self._values)

    def __contains__(self, stamp_ns: int) -> bool:
        return int(stamp_ns) in self._values

    def set(self, stamp_ns: int, log_exposure: float) -> None:
        s = int(stamp_ns)
        if self.gauge_ns is None:
            self.gauge_ns = s
        if s == self.gauge_ns:
            log_exposure = 0.0
        if not math.isfinite(log_exposure):
            raise ValueError(f"non-finite log exposure for stamp {s}")
        self._values[s] = float(log_exposure)

    def get(self, stamp_ns: int, default: float = 0.0) -> float:
        return self._values.get(int(stamp_ns), default)

    def items(self) -> list[tuple[int, float]]:
        """(stamp_ns, log exposure) sorted by stamp."""
        return sorted(self._values.items())

    def state_dict(self) -> dict:
        return {"values": dict(self._values), "gauge_ns": self.gauge_ns}

    def load_state_dict(self, state: dict) -> None:
        self._values = {int(k): float(v) for k, v in state["values"].items()}
        self.gauge_ns = state["gauge_ns"]


def estimate_contrast(delta_log: torch.Tensor, counts: torch.Tensor, min_events: int = 16
                      ) -> float | None:
    """Closed-form least-squares contrast threshold: argmin_C sum (delta_log - C * counts)^2
    over pixels with events, i.e. C = <dL, E> / <E, E>. None when too few events or C <= 0.

    delta_log, counts: [N] rendered log-intensity change and signed event counts."""
    m = counts != 0
    if int(m.sum()) < min_events:
        return None
    e = counts[m].double()
    c = float((delta_log[m].double() * e).sum() / (e * e).sum())
    return c if c > 0 and math.isfinite(c) else None
