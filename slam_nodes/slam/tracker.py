"""Frame-to-model tracking: optimise one rig pose against the field on sampled rays."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from slam_nodes.field.field import SdfField
from slam_nodes.field.losses import LossWeights
from slam_nodes.slam.geometry import apply_delta
from slam_nodes.slam.objective import RaySampling, ray_objective
from slam_nodes.slam.rays import RaySet


@dataclass
class TrackResult:
    """T_world_rig: [4, 4] best pose; loss: its objective (with the prior's penalty when one
    was given); inlier_ratio: share of measured rays whose rendered depth is within the
    threshold; ok: quality check passed; iters: descent steps run (0: the objective had no
    term to track with)."""

    T_world_rig: torch.Tensor
    loss: float
    inlier_ratio: float
    ok: bool
    iters: int


@dataclass(frozen=True)
class PosePrior:
    """A Gaussian prior on the pose update away from the optimisation's start (a measured
    pose, e.g. depth odometry's): penalty = scale * (|w|^2 / sigma_rot_rad^2 + |dt|^2 /
    sigma_m^2) for the update (w rad, dt m) of `slam_nodes.slam.geometry.apply_delta`, where
    scale is the ray objective at the start (detached): a pose one sigma away costs as much
    as the whole ray loss did there, whatever the loss weights. A sigma of 0 leaves that part
    free. Adam moves each parameter by about its learning rate per step, so sigmas well below
    the tracker's lr_rot / lr_trans make every moved iterate cost more than the start, and the
    start is returned (measured on the demo's bag, cpu-lite, lr 3e-3: sigmas of 2 mm / 2 mrad
    gave exactly the odometry's trajectory)."""

    sigma_rot_rad: float
    sigma_m: float

    def penalty(self, w: torch.Tensor, dt: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
        """The prior term (scalar tensor) of update w [3], dt [3] at loss scale `scale`."""
        total = w.sum() * 0.0
        if self.sigma_rot_rad > 0:
            total = total + (w * w).sum() / self.sigma_rot_rad ** 2
        if self.sigma_m > 0:
            total = total + (dt * dt).sum() / self.sigma_m ** 2
        return scale * total


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
              generator: torch.Generator, n_iters: int | None = None,
              prior: PosePrior | None = None) -> TrackResult:
        """Optimise T_world_rig [4, 4] from T_init against `rays` (rig frame); `prior` holds
        the pose near T_init (a measured start)."""
        iters = self.n_iters if n_iters is None else n_iters
        # one batch for all iterations, so losses of different poses are comparable
        batch = sample_measured(rays, self.n_rays, generator)

        def objective(T: torch.Tensor) -> torch.Tensor:
            o, d = batch.to_world(T)
            return ray_objective(field, o, d, batch.target_t, batch.rgb, batch.has_rgb,
                                 self.sampling, self.weights, generator=generator,
                                 perturb=False).total

        loss, T_best, _ = self.descend(T_init, objective, iters, field.parameters(),
                                       prior=prior)
        inl = self.inlier_ratio(field, batch, T_best)
        ok = bool(torch.isfinite(T_best).all()) and loss < float("inf") and \
            inl >= self.min_inlier_ratio
        return TrackResult(T_best, loss, inl, ok, iters)

    def descend(self, T_init: torch.Tensor, objective: Callable[[torch.Tensor], torch.Tensor],
                iters: int, frozen: Iterable[torch.nn.Parameter],
                extra_groups: Sequence[dict] = (), snapshot: Callable[[], Any] | None = None,
                initial: Any = None, prior: PosePrior | None = None
                ) -> tuple[float, torch.Tensor, Any]:
        """Adam on a left-multiplied axis-angle + translation update of T_init [4, 4] (and on
        `extra_groups`, Adam parameter groups) minimising objective(T) -> scalar tensor (plus
        `prior`'s penalty on the update, scaled by the objective at T_init) for `iters` steps,
        with `frozen` parameters' gradients off meanwhile.

        Returns (lowest loss, its pose [4, 4], snapshot() taken at that iteration), where the
        third item is `initial` if no iteration had a finite loss.
        """
        dev = T_init.device
        w = torch.zeros(3, device=dev, requires_grad=True)
        dt = torch.zeros(3, device=dev, requires_grad=True)
        opt = torch.optim.Adam([{"params": [w], "lr": self.lr_rot},
                                {"params": [dt], "lr": self.lr_trans}, *extra_groups])
        best = (float("inf"), T_init.detach().clone(), initial)
        frozen = list(frozen)
        grads = [p.requires_grad for p in frozen]
        for p in frozen:
            p.requires_grad_(False)
        scale = None
        try:
            for it in range(iters + 1):
                T = apply_delta(T_init, w, dt)
                total = objective(T)
                if prior is not None:
                    if scale is None:
                        scale = total.detach()
                    total = total + prior.penalty(w, dt, scale)
                loss = float(total.detach())
                if loss < best[0]:
                    best = (loss, T.detach().clone(), None if snapshot is None else snapshot())
                if it == iters:
                    break
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
        finally:
            for p, g in zip(frozen, grads):
                p.requires_grad_(g)
        return best

    def inlier_ratio(self, field: SdfField, rays: RaySet, T: torch.Tensor) -> float:
        """Share of measured endpoints (o + t d at pose T) where the map's |SDF| is below the
        inlier threshold: a direct geometric agreement test of frame and map."""
        with torch.no_grad():
            o, d = rays.to_world(T)
            pts = o + d * rays.target_t[:, None]
            sdf_m = field(pts, False)[0] * self.sampling.truncation_m
            ok = (sdf_m.abs() < self.inlier_threshold_m) & field.inside(pts)
        return float(ok.float().mean()) if len(ok) else 0.0


def sample_measured(rays: RaySet, n: int, generator: torch.Generator) -> RaySet:
    """min(n, measured) rays drawn with replacement among those with measured depth."""
    measured = torch.nonzero(rays.target_t > 0)[:, 0]
    pick = measured[torch.randint(len(measured), (min(n, len(measured)),),
                                  generator=generator, device=measured.device)]
    return rays.select(pick)
