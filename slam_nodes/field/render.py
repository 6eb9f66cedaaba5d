"""Functional volume rendering of an SDF field (Co-SLAM style).

Conventions: a ray is ``origin + t * direction`` in the world frame (metres). For camera rays the
direction has camera-frame z = 1, so ``t`` is z-depth and compares directly with a depth image;
for LiDAR rays the direction is a unit vector and ``t`` is the range. A target ``t`` of 0 marks
a ray without a depth measurement. SDF values are in truncation units (sdf_m / truncation_m).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

Response = Callable[[torch.Tensor], torch.Tensor]


def sample_depths(target_t: torch.Tensor, near_m: float, far_m: float, n_uniform: int,
                  n_surface: int, surface_range_m: float, perturb: bool = True,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """Sorted sample depths along rays: stratified uniform samples in [near, far] plus
    `n_surface` evenly spaced samples within +-surface_range_m of the measured depth.

    target_t: [R] measured t (0 = none; those rays get the surface samples spread uniformly).
    Returns t: [R, n_uniform + n_surface] metres, ascending.
    """
    r = target_t.shape[0]
    dev, dt = target_t.device, target_t.dtype
    edges = torch.linspace(near_m, far_m, n_uniform + 1, device=dev, dtype=dt)
    lo, hi = edges[:-1], edges[1:]
    if perturb:
        u = torch.rand(r, n_uniform, device=dev, dtype=dt, generator=generator)
    else:
        u = torch.full((r, n_uniform), 0.5, device=dev, dtype=dt)
    t_uniform = lo + (hi - lo) * u
    if n_surface == 0:
        return t_uniform
    offsets = torch.linspace(-surface_range_m, surface_range_m, n_surface, device=dev, dtype=dt)
    t_surf = target_t[:, None] + offsets[None, :]
    spread = torch.linspace(near_m, far_m, n_surface, device=dev, dtype=dt)
    valid = target_t > 0
    t_surf = torch.where(valid[:, None], t_surf.clamp(min=near_m * 0.5), spread[None, :])
    return torch.sort(torch.cat([t_uniform, t_surf], dim=1), dim=1).values


def sdf_to_weights(sdf: torch.Tensor, t: torch.Tensor, truncation_m: float) -> torch.Tensor:
    """Rendering weights from SDF samples (Co-SLAM): sigmoid(s / tr) * sigmoid(-s / tr) with s in
    truncation units, so the bell has width ~tr^2 metres (1 cm for tr = 0.1 m); weights beyond the
    first front-to-back sign change + tr are cut (occluded surfaces), then normalised to sum 1.

    sdf, t: [R, S] (t ascending). Returns weights [R, S] (rows sum to 1, or 0 if all cut).
    """
    w = torch.sigmoid(sdf / truncation_m) * torch.sigmoid(-sdf / truncation_m)
    crossing = (sdf[:, 1:] * sdf[:, :-1]) < 0                      # [R, S-1]
    first = torch.argmax(crossing.to(torch.int8), dim=1)           # 0 when no crossing
    t_first = torch.gather(t, 1, first[:, None])
    has = crossing.any(dim=1, keepdim=True)
    limit = torch.where(has, t_first + truncation_m, t[:, -1:] + 1.0)
    w = w * (t < limit).to(w.dtype)
    return w / (w.sum(dim=1, keepdim=True) + 1e-8)


@dataclass
class RenderOutput:
    """Per-ray render results.

    rgb: [R, 3] in (0, 1) (radiance passed through `response`); depth: [R] metres (t units);
    sdf: [R, S] truncation units; t: [R, S] metres; weights: [R, S]; inside: [R, S] bool.
    """

    rgb: torch.Tensor | None
    depth: torch.Tensor
    sdf: torch.Tensor
    t: torch.Tensor
    weights: torch.Tensor
    inside: torch.Tensor


def render_rays(field: Callable, origins: torch.Tensor, dirs: torch.Tensor, t: torch.Tensor,
                truncation_m: float, with_color: bool = True, response: Response | None = None,
                inside_fn: Callable | None = None) -> RenderOutput:
    """Query `field(points [N,3], with_color) -> (sdf [N], radiance [N,3] | None)` at the samples
    and integrate colour and depth.

    origins, dirs: [R, 3] world frame; t: [R, S] metres. `response` maps integrated radiance
    [R, 3] to RGB [R, 3] (identity when None): the hook for a camera response function.
    `inside_fn(points [..., 3]) -> bool [...]` marks samples inside the field's bounds.
    """
    pts = _points(origins, dirs, t)
    sdf, rad = field(pts.reshape(-1, 3), with_color)
    return _integrate(pts, sdf, rad if with_color else None, t, truncation_m, response,
                      inside_fn)


def render_many(field: Callable, ray_sets: Sequence[tuple[torch.Tensor, torch.Tensor,
                                                         torch.Tensor, bool]],
                truncation_m: float, inside_fn: Callable | None = None
                ) -> list[RenderOutput]:
    """`render_rays` (no response) of several ray sets (origins [R_i, 3], dirs [R_i, 3], t
    [R_i, S_i], with_color) with one field query per colour setting instead of one per set:
    the same values, less per-call overhead and one backward graph (EN-SLAM's tracking renders
    depth rays, blur rays and event rays at every step). Sets without colour get rgb None."""
    pts = [_points(o, d, t) for o, d, t, _ in ray_sets]
    sdf: list = [None] * len(ray_sets)
    rad: list = [None] * len(ray_sets)
    for color in (False, True):
        ids = [i for i, s in enumerate(ray_sets) if s[3] == color]
        if not ids:
            continue
        flat = torch.cat([pts[i].reshape(-1, 3) for i in ids]) if len(ids) > 1 \
            else pts[ids[0]].reshape(-1, 3)
        s_all, r_all = field(flat, color)
        sizes = [pts[i].shape[0] * pts[i].shape[1] for i in ids]
        for i, s_i, r_i in zip(ids, s_all.split(sizes),
                               r_all.split(sizes) if color else [None] * len(ids)):
            sdf[i], rad[i] = s_i, r_i
    return [_integrate(p, s_i, r_i, rs[2], truncation_m, None, inside_fn)
            for p, s_i, r_i, rs in zip(pts, sdf, rad, ray_sets)]


def _points(origins: torch.Tensor, dirs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Sample points [R, S, 3] of world rays [R, 3] at t [R, S]."""
    return origins[:, None, :] + dirs[:, None, :] * t[..., None]


def _integrate(pts: torch.Tensor, sdf: torch.Tensor, rad: torch.Tensor | None, t: torch.Tensor,
               truncation_m: float, response: Response | None, inside_fn: Callable | None
               ) -> RenderOutput:
    """RenderOutput of field values sdf [R * S] and radiance [R * S, 3] (or None) at the
    samples pts [R, S, 3] of depths t [R, S]."""
    r, s = t.shape
    sdf = sdf.reshape(r, s)
    inside = inside_fn(pts) if inside_fn is not None else torch.ones_like(sdf, dtype=torch.bool)
    weights = sdf_to_weights(sdf, t, truncation_m)
    depth = (weights * t).sum(dim=1)
    rgb = None
    if rad is not None:
        rgb = (weights[..., None] * rad.reshape(r, s, 3)).sum(dim=1)
        if response is not None:
            rgb = response(rgb)
    return RenderOutput(rgb, depth, sdf, t, weights, inside)
