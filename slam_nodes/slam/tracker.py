"""Frame-to-model tracking: optimise one rig pose against the field on sampled rays."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slam_nodes.field.field import SdfField
from slam_nodes.field.losses import LossWeights
from slam_nodes.slam.geometry import apply_delta
from slam_nodes.slam.objective import RaySampling, ray_objective
from slam_nodes.slam.rays import RaySet


@dataclass
class TrackResult:
    """T_world_rig: [4, 4] best pose; loss: its objective; inlier_ratio: share of measured
    rays whose rendered depth is within the threshold; ok: quality check passed."""

    T_world_rig: torch.Tensor
    loss: float
    inlier_ratio: float
    ok: bool
    iters: int


class Tracker:
    """Adam on a left-multiplied axis-angle + translation update, keeping the lowest-loss pose.

    n_rays rays with measured depth are drawn per iteration; the field is frozen.
    """

    def __init__(self, n_iters: int, n_rays: int, lr_rot: float, lr_trans: float,
                 sampling: RaySampling, weights: LossWeights, inlier_threshold_m: float,
                 min_inlier_ratio: float) -> None:
        self.n_iters = n_iters
        self.n_rays = n_rays
        self.lr_rot = lr_rot
        self.lr_trans = lr_trans
        self.sampling = sampling
        self.weights = weights
        self.inlier_threshold_m = inlier_threshold_m
        self.min_inlier_ratio = min_inlier_ratio

    def track(self, field: SdfField, rays: RaySet, T_init: torch.Tensor,
              generator: torch.Generator, n_iters: int | None = None) -> TrackResult:
        """Optimise T_world_rig [4, 4] from T_init against `rays` (rig frame)."""
        iters = self.n_iters if n_iters is None else n_iters
        measured = torch.nonzero(rays.target_t > 0)[:, 0]
        dev = T_init.device
        w = torch.zeros(3, device=dev, requires_grad=True)
        dt = torch.zeros(3, device=dev, requires_grad=True)
        opt = torch.optim.Adam([{"params": [w], "lr": self.lr_rot},
                                {"params": [dt], "lr": self.lr_trans}])
        best = (float("inf"), T_init.detach().clone())
        grads = [p.requires_grad for p in field.parameters()]
        for p in field.parameters():
            p.requires_grad_(False)
        try:
            # one batch for all iterations, so losses of different poses are comparable
            pick = measured[torch.randint(len(measured), (min(self.n_rays, len(measured)),),
                                          generator=generator, device=measured.device)]
            batch = rays.select(pick)
            for it in range(iters + 1):
                T = apply_delta(T_init, w, dt)
                o, d = batch.to_world(T)
                res = ray_objective(field, o, d, batch.target_t, batch.rgb, batch.has_rgb,
                                    self.sampling, self.weights, generator=generator,
                                    perturb=False)
                loss = float(res.total.detach())
                if loss < best[0]:
                    best = (loss, T.detach().clone())
                if it == iters:
                    break
                opt.zero_grad(set_to_none=True)
                res.total.backward()
                opt.step()
        finally:
            for p, g in zip(field.parameters(), grads):
                p.requires_grad_(g)
        loss, T_best = best
        inl = self.inlier_ratio(field, batch, T_best)
        ok = bool(torch.isfinite(T_best).all()) and loss < float("inf") and \
            inl >= self.min_inlier_ratio
        return TrackResult(T_best, loss, inl, ok, iters)

    def inlier_ratio(self, field: SdfField, rays: RaySet, T: torch.Tensor) -> float:
        """Share of measured endpoints (o + t d at pose T) where the map's |SDF| is below the
        inlier threshold: a direct geometric agreement test of frame and map."""
        with torch.no_grad():
            o, d = rays.to_world(T)
            pts = o + d * rays.target_t[:, None]
            sdf_m = field(pts, False)[0] * self.sampling.truncation_m
            ok = (sdf_m.abs() < self.inlier_threshold_m) & field.inside(pts)
        return float(ok.float().mean()) if len(ok) else 0.0
