"""Mapping: optimise the field and the keyframe poses (bundle adjustment) on stored rays."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from slam_nodes.field.field import SdfField
from slam_nodes.field.losses import LossWeights
from slam_nodes.slam.geometry import apply_delta
from slam_nodes.slam.objective import RaySampling, ray_objective
from slam_nodes.slam.rays import KeyframeRayStore, RaySet


@dataclass
class FieldTargets:
    """A previous field's SDF (truncation units) [P] and radiance [P, 3] at world points
    [P, 3] (metres): the map that `Mapper.optimise(targets=...)` carries into a new field, e.g.
    when the scene bounds grow and the hash grid is rebuilt (SlamSystem._grow_bounds).

    The keyframe store holds a sparse share of the keyframes' pixels only, while the old field
    also learnt from every mapped frame's full image; fitting the new field to the old one
    where it was observed keeps that, instead of re-learning from the store alone.
    """

    points: torch.Tensor
    sdf: torch.Tensor
    radiance: torch.Tensor

    @classmethod
    def sample(cls, field: SdfField, centres_m: torch.Tensor, jitter_m: float, copies: int,
               generator: torch.Generator, chunk: int = 65536) -> "FieldTargets":
        """`field`'s values at `copies` points per centre [M, 3] (uniform within +-jitter_m per
        axis, e.g. the truncation band around observed surface voxels), keeping points inside
        its bounds."""
        dev = centres_m.device
        c = centres_m.repeat(copies, 1)
        pts = c + (torch.rand(c.shape, generator=generator, device=dev) * 2 - 1) * jitter_m
        pts = pts[field.inside(pts)]
        sdf, rad = [], []
        with torch.no_grad():
            for i in range(0, len(pts), chunk):
                s, r = field(pts[i:i + chunk], True)
                sdf.append(s)
                rad.append(r)
        if not sdf:
            z = torch.zeros(0, device=dev)
            return cls(pts, z, torch.zeros(0, 3, device=dev))
        return cls(pts, torch.cat(sdf), torch.cat(rad))

    def loss(self, field: SdfField, n: int, truncation_m: float, weights: LossWeights,
             generator: torch.Generator) -> torch.Tensor:
        """Weighted squared SDF (metres, as the ray objective's band term) and colour error of
        `field` against the targets at `n` random target points."""
        idx = torch.randint(len(self.points), (n,), generator=generator,
                            device=self.points.device)
        sdf, rad = field(self.points[idx], True)
        sdf_err = ((sdf - self.sdf[idx]) * truncation_m) ** 2
        return weights.sdf * sdf_err.mean() + weights.rgb * ((rad - self.radiance[idx]) ** 2).mean()


class Mapper:
    """Joint optimisation of the field and keyframe poses (Co-SLAM's global BA).

    Each iteration draws `n_rays` rays: a `current_ray_fraction` share from the current frame,
    the rest uniformly from all stored keyframe rays. Keyframe 0 stays fixed (gauge); the other
    keyframes and the current frame get per-pose axis-angle + translation updates when
    `optimize_poses` is set. The field's Adam state persists across calls.
    """

    def __init__(self, field: SdfField, n_rays: int, current_ray_fraction: float,
                 lr_grid: float, lr_decoder: float, lr_pose_rot: float, lr_pose_trans: float,
                 optimize_poses: bool, sampling: RaySampling, weights: LossWeights,
                 smooth_grid_size: int, smooth_spacing_m: float) -> None:
        self.field = field
        self.n_rays = n_rays
        self.current_ray_fraction = current_ray_fraction
        self.lr_pose_rot = lr_pose_rot
        self.lr_pose_trans = lr_pose_trans
        self.optimize_poses = optimize_poses
        self.sampling = sampling
        self.weights = weights
        self.smooth_grid_size = smooth_grid_size
        self.smooth_spacing_m = smooth_spacing_m
        grid_params = list(field.grid.parameters())
        ids = {id(p) for p in grid_params}
        dec_params = [p for p in field.parameters() if id(p) not in ids]
        self.optimizer = torch.optim.Adam([{"params": grid_params, "lr": lr_grid},
                                           {"params": dec_params, "lr": lr_decoder}],
                                          betas=(0.9, 0.99))

    def optimise(self, store: KeyframeRayStore, current: RaySet | None,
                 T_current: torch.Tensor | None, n_iters: int, generator: torch.Generator,
                 optimize_current: bool = True, targets: FieldTargets | None = None
                 ) -> tuple[float, torch.Tensor | None]:
        """Run `n_iters` iterations; updates the field and store.poses in place.

        current: rays of the frame being mapped (rig frame) with pose T_current [4, 4], or None.
        targets: a previous field's values the field is also fitted to (n_rays points per
        iteration), see FieldTargets.
        Returns (last loss, refined T_current or None).
        """
        dev = store.poses.device
        k = store.n_keyframes
        n_cur = 0 if current is None else int(round(self.n_rays * self.current_ray_fraction))
        n_kf = self.n_rays - n_cur if len(store) > 0 else self.n_rays
        if current is not None and len(store) == 0:
            n_cur = self.n_rays
        opt_poses = self.optimize_poses and k > 1
        w_kf = torch.zeros(max(k - 1, 0), 3, device=dev, requires_grad=opt_poses)
        t_kf = torch.zeros(max(k - 1, 0), 3, device=dev, requires_grad=opt_poses)
        opt_cur = self.optimize_poses and optimize_current and current is not None and k > 0
        w_c = torch.zeros(3, device=dev, requires_grad=opt_cur)
        t_c = torch.zeros(3, device=dev, requires_grad=opt_cur)
        pose_params = ([w_kf, t_kf] if opt_poses else []) + ([w_c, t_c] if opt_cur else [])
        groups = []
        if pose_params:
            groups += [{"params": [p for p in pose_params if p is w_kf or p is w_c],
                        "lr": self.lr_pose_rot},
                       {"params": [p for p in pose_params if p is t_kf or p is t_c],
                        "lr": self.lr_pose_trans}]
        groups += self._begin(store, current, optimize_current)
        pose_opt = torch.optim.Adam(groups) if groups else None
        optimizers = [o for o in (self.optimizer, pose_opt, *self._extra_optimizers())
                      if o is not None]
        zero = torch.zeros(1, 3, device=dev)
        loss = float("nan")
        for _ in range(n_iters):
            parts_o, parts_d, parts = [], [], []
            kf = None
            if k > 0 and n_kf > 0 and len(store) > 0:
                idx = torch.randint(len(store), (n_kf,), generator=generator, device=dev)
                rays, kf = store.rays(idx)
                poses = apply_delta(store.poses, torch.cat([zero, w_kf]), torch.cat([zero, t_kf]))
                o, d = rays.to_world(poses[kf])
                parts_o.append(o)
                parts_d.append(d)
                parts.append(rays)
            if n_cur > 0:
                idx = torch.randint(len(current), (n_cur,), generator=generator, device=dev)
                rays = current.select(idx)
                o, d = rays.to_world(apply_delta(T_current, w_c, t_c))
                parts_o.append(o)
                parts_d.append(d)
                parts.append(rays)
            batch = RaySet.concatenate(parts)
            res = ray_objective(self.field, torch.cat(parts_o), torch.cat(parts_d),
                                batch.target_t, batch.rgb, batch.has_rgb, self.sampling,
                                self.weights, True, self.smooth_grid_size,
                                self.smooth_spacing_m, response=self._response(kf, n_cur),
                                generator=generator)
            total = res.total
            extra = self._extra_loss()
            if extra is not None:
                total = total + extra
            if targets is not None and len(targets.points) > 0:
                total = total + targets.loss(self.field, self.n_rays,
                                             self.sampling.truncation_m, self.weights, generator)
            for o_ in optimizers:
                o_.zero_grad(set_to_none=True)
            total.backward()
            for o_ in optimizers:
                o_.step()
            loss = float(total.detach())
        with torch.no_grad():
            if opt_poses:
                store.poses = apply_delta(store.poses, torch.cat([zero, w_kf]),
                                          torch.cat([zero, t_kf])).detach()
            T_out = None
            if T_current is not None:
                T_out = apply_delta(T_current, w_c, t_c).detach() if opt_cur else T_current
        self._end(store)
        return loss, T_out

    def fit_targets(self, targets: FieldTargets, n_iters: int, n_points: int,
                    generator: torch.Generator) -> float:
        """Fit the field alone to `targets` for `n_iters` steps of `n_points` random target points
        (point queries, no rendering: a fraction of an `optimise` iteration's cost); returns the
        last loss (nan when there are no targets)."""
        loss = float("nan")
        if len(targets.points) == 0:
            return loss
        for _ in range(n_iters):
            total = targets.loss(self.field, n_points, self.sampling.truncation_m, self.weights,
                                 generator)
            self.optimizer.zero_grad(set_to_none=True)
            total.backward()
            self.optimizer.step()
            loss = float(total.detach())
        return loss

    # ------------------------------------------------------------------ extension hooks
    # A subclass adds per-ray colour responses, extra parameters and extra loss terms to the
    # same loop (slam_nodes.slam.en_mapper.EnMapper); the core's versions add nothing.
    def _begin(self, store: KeyframeRayStore, current: RaySet | None,
               optimize_current: bool) -> list[dict]:
        """Called once per `optimise` before the loop; returns extra Adam parameter groups
        optimised with the poses for this call only."""
        return []

    def _extra_optimizers(self) -> list[torch.optim.Optimizer]:
        """Persistent optimisers stepped with the field's each iteration."""
        return []

    def _response(self, kf: torch.Tensor | None, n_cur: int):
        """Colour response for this iteration's batch (`ray_objective(response=...)`):
        kf [n_kf] keyframe index of each keyframe ray (None without), then n_cur current rays."""
        return None

    def _extra_loss(self) -> torch.Tensor | None:
        """A term added to the iteration's objective (None: nothing)."""
        return None

    def _end(self, store: KeyframeRayStore) -> None:
        """Called once after the loop and the pose write-back."""
