"""The rendering objective shared by tracking and mapping: render world rays through the field
and combine the weighted Co-SLAM losses."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slam_nodes.field.field import SdfField
from slam_nodes.field.losses import (LossWeights, depth_loss, rgb_loss, s3im_loss,
                                     sdf_losses, smoothness_loss)
from slam_nodes.field.render import RenderOutput, Response, render_rays, sample_depths


@dataclass(frozen=True)
class RaySampling:
    """Sample counts and ranges along rays (metres)."""

    truncation_m: float
    n_uniform: int
    n_surface: int
    surface_range_m: float
    near_m: float
    far_m: float


@dataclass
class ObjectiveResult:
    """total: scalar loss; terms: float value of each weighted term; render: per-ray output."""

    total: torch.Tensor
    terms: dict
    render: RenderOutput


def ray_objective(field: SdfField, origins: torch.Tensor, dirs: torch.Tensor,
                  target_t: torch.Tensor, rgb: torch.Tensor, has_rgb: torch.Tensor,
                  sampling: RaySampling, weights: LossWeights, with_color: bool = True,
                  smooth_grid_size: int = 0, smooth_spacing_m: float = 0.05,
                  response: Response | None = None,
                  generator: torch.Generator | None = None,
                  perturb: bool = True) -> ObjectiveResult:
    """Weighted loss of world rays [R, 3] against measured t [R] (0 = none) and rgb [R, 3].

    Colour is used only where has_rgb [R] is set (LiDAR rays carry none); the smoothness term is
    added when smooth_grid_size > 0 and weights.smooth > 0. `perturb` jitters the uniform
    samples (mapping); tracking uses fixed samples so losses of different poses compare.
    """
    t = sample_depths(target_t, sampling.near_m, sampling.far_m, sampling.n_uniform,
                      sampling.n_surface, sampling.surface_range_m, perturb, generator)
    use_color = with_color and bool(has_rgb.any()) and weights.rgb > 0
    out = render_rays(field, origins, dirs, t, sampling.truncation_m, use_color, response,
                      field.inside)
    return ray_terms(field, out, target_t, rgb, has_rgb, sampling, weights, use_color,
                     smooth_grid_size, smooth_spacing_m, generator)


def ray_terms(field: SdfField, out: RenderOutput, target_t: torch.Tensor, rgb: torch.Tensor,
              has_rgb: torch.Tensor, sampling: RaySampling, weights: LossWeights,
              use_color: bool, smooth_grid_size: int = 0, smooth_spacing_m: float = 0.05,
              generator: torch.Generator | None = None) -> ObjectiveResult:
    """The weighted losses of `ray_objective` from a render `out` of its rays (out.rgb after
    the response, used only when `use_color`), for callers that render several ray sets in
    one field query (slam_nodes.field.render.render_many)."""
    sdf_l, fs_l = sdf_losses(out.sdf, out.t, target_t, sampling.truncation_m, out.inside)
    terms = {"sdf": weights.sdf * sdf_l, "free_space": weights.free_space * fs_l,
             "depth": weights.depth * depth_loss(out.depth, target_t)}
    if use_color:
        terms["rgb"] = weights.rgb * rgb_loss(out.rgb, rgb, has_rgb)
        if weights.s3im > 0 and bool(has_rgb.all()):
            terms["s3im"] = weights.s3im * s3im_loss(out.rgb, rgb, generator=generator)
    if smooth_grid_size > 0 and weights.smooth > 0:
        terms["smooth"] = weights.smooth * smoothness_loss(
            field.sdf, field.bounds, smooth_grid_size, smooth_spacing_m, generator)
    total = sum(terms.values())
    return ObjectiveResult(total, {k: float(v.detach()) for k, v in terms.items()}, out)
