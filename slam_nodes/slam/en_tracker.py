"""EN-SLAM tracking: the core's pose optimisation (slam_nodes.slam.tracker) with the learned
camera response, the frame's log exposure, the blur-aware RGB term and event windows.

Frames: window rays are in the rig frame; poses T_world_rig [4, 4]; the frame context carries
stamps in int64 ns and exposures in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from slam_nodes.field.crf import CameraResponse
from slam_nodes.field.losses import rgb_loss
from slam_nodes.field.render import RenderOutput, render_many, render_rays, sample_depths
from slam_nodes.slam.blur import blur_rays, blur_samples, blurred_response, exposure_poses
from slam_nodes.slam.en_reference import end_image, reference_loss
from slam_nodes.slam.events import (EventCamera, EventLossParams, event_loss, event_samples,
                                    global_change, guide_depth, render_log_intensity,
                                    rendered_log_intensity, sample_window_pixels)
from slam_nodes.slam.geometry import to_torch_pose
from slam_nodes.slam.objective import RaySampling, ray_terms
from slam_nodes.slam.rays import RaySet, rays_to_world
from slam_nodes.slam.tracker import PosePrior, Tracker, TrackResult, sample_measured


@dataclass
class WindowTerm:
    """One event window ending at the pose being optimised: rig rays [N, 3] of its sampled
    event pixels, counts [N], the log intensity rendered at the fixed anchor pose [N], the
    sample depths t [N, S] (metres) placed by the surface guide near the end pose and the
    window's global change in events per pixel (slam_nodes.slam.events.global_change)."""

    origins: torch.Tensor
    dirs: torch.Tensor
    counts: torch.Tensor
    anchor_log: torch.Tensor
    t: torch.Tensor
    global_events: float = 0.0


@dataclass
class FrameContext:
    """What EnTracker needs beyond the core's rays: set by EnSlamSystem before each frame."""

    stamp_ns: int
    log_exposure: float = 0.0
    prev_stamp_ns: int | None = None
    T_prev: np.ndarray | None = None
    exposure_s: float = 0.0
    blur_px: float = 0.0                          # predicted image motion during the exposure
    event_trust: float = 1.0                      # factor on the event weight, [0, 1]
    reference_weight: float = 0.0                 # of the reference-frame term (en_reference)
    windows: list = field(default_factory=list)   # (T_anchor [4,4] np, counts [H,W] np,
    #                                               en_reference.ReferenceFrame or None)


def event_sampling(s: RaySampling) -> dict:
    """Render settings (kwargs of render_log_intensity) for event rays: the +-surface_range_m
    band around their surface guide only, no uniform samples along the ray (as the blur term
    does; rays without a guide get the band's samples spread over [near, far]).

    Measured (bench_enslam, 128x96, seeds 0-5, RGB-D-only and event mode stepped in turn),
    band only vs the earlier band + n_uniform / 2 uniform samples: CPU time per frame of event
    mode / RGB-D-only 1.38 / 1.42 / 1.28x vs 1.42 / 1.48 / 1.28x on room-blur / dark /
    normal, mean ATE 5.52 / 0.64 / 0.53 cm vs 6.11 / 0.67 / 0.55 cm (inside the seed noise;
    blur seeds 6-11: 6.78 vs 6.29 cm). At 64x48, where every frame started from the
    constant-velocity prediction, dropping the uniform samples had cost accuracy (room-blur
    seeds 0 / 1: 41.1 / 16.2 vs 7.10 / 3.89 cm, README's 64x48 cost row)."""
    return dict(truncation_m=s.truncation_m, near_m=s.near_m, far_m=s.far_m, n_uniform=0,
                n_surface=s.n_surface, surface_range_m=s.surface_range_m)


def prepare_windows(field_, crf: CameraResponse, cam: EventCamera, windows: list,
                    T_end: torch.Tensor, n_rays: int, event_share: float, edge_px: int,
                    sampling: RaySampling, rng: np.random.Generator) -> list[WindowTerm]:
    """WindowTerms of raw windows [(T_anchor np [4,4], counts [H, W], _)] (no gradient); the
    anchor rays of all windows share one guide pass and one render."""
    dev = T_end.device
    es = event_sampling(sampling)
    picked = []                     # (rig origins, rig dirs, anchor origins, dirs, counts)
    with torch.no_grad():
        for T_a, counts, _ in windows:
            idx = sample_window_pixels(counts, n_rays, event_share, rng, edge_px)
            if len(idx) == 0:
                continue
            o, d = cam.rig_rays(torch.as_tensor(idx, device=dev))
            c = torch.as_tensor(counts.reshape(-1)[idx], dtype=torch.float32, device=dev)
            picked.append((o, d, *rays_to_world(o, d, to_torch_pose(T_a, dev)), c,
                           global_change(counts, edge_px)))
        if not picked:
            return []
        oa = torch.cat([p[2] for p in picked])
        da = torch.cat([p[3] for p in picked])
        ga = guide_depth(field_, oa, da, es["truncation_m"], es["near_m"], es["far_m"])
        la, _ = render_log_intensity(field_, crf, oa, da, ga, **es)
        # the anchor's surface depth also guides the end pose's samples: between poses at
        # most a few frames apart the surface moves far less than the +-surface_range_m
        # band, and one guide pass instead of two keeps the event term cheap
        tb = event_samples(ga, es["near_m"], es["far_m"], es["n_uniform"], es["n_surface"],
                           es["surface_range_m"])
    sizes = [len(p[0]) for p in picked]
    return [WindowTerm(o, d, c, la_i, tb_i, g) for (o, d, _, _, c, g), la_i, tb_i in
            zip(picked, la.split(sizes), tb.split(sizes))]


def windows_loss(renders: list[RenderOutput], terms: list[WindowTerm], crf: CameraResponse,
                 params: EventLossParams, contrast) -> torch.Tensor:
    """Mean event loss of the window terms from renders (radiance, no response) of their
    rays (`rays_to_world` of origins, dirs) at the end pose at their sample depths t."""
    total = 0.0
    for w, out in zip(terms, renders):
        lb = rendered_log_intensity(crf, out)
        dl = lb - w.anchor_log + contrast * w.global_events
        total = total + event_loss(dl, w.counts, contrast, params)
    return total / max(len(terms), 1)


class EnTracker(Tracker):
    """The core's tracking scheme (Adam on a pose update, fixed ray batch, keep the best pose)
    with the CRF, the frame's log exposure, the blur-aware RGB term and event windows."""

    def __init__(self, base: Tracker, crf: CameraResponse | None, lr_exposure: float,
                 event_camera_fn, event_params: EventLossParams, event_weight: float,
                 event_n_rays: int, event_share: float, event_edge_px: int,
                 blur_n_samples: int, blur_n_rays: int, blur_min_px: float,
                 seed: int, reference_sigma_px: float, reference_huber: float) -> None:
        super().__init__(base.n_iters, base.n_rays, base.lr_rot, base.lr_trans, base.sampling,
                         base.weights, base.inlier_threshold_m, base.min_inlier_ratio)
        self.crf = crf
        self.lr_exposure = lr_exposure
        self.event_camera_fn = event_camera_fn
        self.event_params = event_params
        self.event_weight = event_weight
        self.event_n_rays, self.event_share = event_n_rays, event_share
        self.event_edge_px = event_edge_px
        self.blur_n_samples, self.blur_n_rays = blur_n_samples, blur_n_rays
        self.blur_min_px = blur_min_px
        self.rng = np.random.default_rng(seed)
        self.reference_sigma_px, self.reference_huber = reference_sigma_px, reference_huber
        self.context = FrameContext(0)
        self.best_log_exposure = 0.0

    def track(self, field_, rays: RaySet | None, T_init: torch.Tensor,
              generator: torch.Generator, n_iters: int | None = None,
              prior: PosePrior | None = None) -> TrackResult:
        """Optimise T_world_rig from T_init; `rays` None tracks from the event windows alone;
        `prior` as in Tracker.track."""
        ctx = self.context
        iters = self.n_iters if n_iters is None else n_iters
        dev = T_init.device
        cam = self.event_camera_fn()
        terms = []
        event_w = self.event_weight * ctx.event_trust
        if ctx.windows and cam is not None and event_w > 0:
            terms = prepare_windows(field_, self.crf, cam, ctx.windows, T_init,
                                    self.event_n_rays, self.event_share, self.event_edge_px,
                                    self.sampling, self.rng)
        contrast = self.crf.event.contrast.detach() if self.crf is not None else 0.25
        refs = []                  # (ReferenceFrame, synthetic end image, global change)
        if ctx.reference_weight > 0 and self.crf is not None:
            c = float(contrast)
            refs = [(r, end_image(r, counts, c, self.reference_sigma_px),
                     global_change(counts, self.event_edge_px))
                    for _, counts, r in ctx.windows if r is not None]
        batch = blur = None
        use_rgb = False
        if rays is not None:
            batch = sample_measured(rays, self.n_rays, generator)
            use_rgb = bool(batch.has_rgb.any()) and self.weights.rgb > 0
            blur_ok = (self.blur_n_samples > 1 and ctx.blur_px >= self.blur_min_px
                       and ctx.T_prev is not None and use_rgb)
            if blur_ok:
                cand = torch.nonzero((rays.target_t > 0) & rays.has_rgb)[:, 0]
                blur = rays.select(cand[torch.randint(len(cand), (min(self.blur_n_rays,
                                                                      len(cand)),),
                                                      generator=generator, device=dev)])
        if batch is None and not terms and not refs:
            return TrackResult(T_init, float("inf"), 0.0, False, 0)
        if use_rgb and self.crf is not None:
            e0 = self._initial_exposure(field_, batch, T_init)
            if e0 is not None:
                ctx.log_exposure = e0
        e = torch.tensor(float(ctx.log_exposure), device=dev,
                         requires_grad=self.crf is not None and use_rgb)
        extra = [{"params": [e], "lr": self.lr_exposure}] if e.requires_grad else []
        frozen = list(field_.parameters()) + (list(self.crf.parameters()) if self.crf else [])
        T_prev = None if ctx.T_prev is None else to_torch_pose(ctx.T_prev, dev)
        s = self.sampling
        # sample depths are fixed over the iterations (unperturbed): computed once
        main_color = use_rgb and blur is None     # with blur, the blur term is the colour term
        t_batch = None if batch is None else sample_depths(
            batch.target_t, s.near_m, s.far_m, s.n_uniform, s.n_surface, s.surface_range_m,
            perturb=False)
        t_blur = None if blur is None else blur_samples(blur.target_t, s.near_m, s.far_m,
                                                        s.n_surface, s.surface_range_m)

        def objective(T: torch.Tensor) -> torch.Tensor:
            # every term's rays go through one field query per colour setting (render_many)
            sets = []
            if batch is not None:
                sets.append((*batch.to_world(T), t_batch, main_color))
            if blur is not None:
                poses = exposure_poses(ctx.stamp_ns, ctx.exposure_s, self.blur_n_samples,
                                       ctx.prev_stamp_ns, T_prev, T)
                sets.append((*blur_rays(blur.origins, blur.dirs, poses),
                             t_blur.repeat(len(poses), 1), True))
            sets += [(*rays_to_world(w.origins, w.dirs, T), w.t, True) for w in terms]
            outs = iter(render_many(field_, sets, s.truncation_m, field_.inside))
            total = T.sum() * 0.0
            if batch is not None:
                out = next(outs)
                if main_color and self.crf is not None:
                    out.rgb = self.crf.rgb(out.rgb, e)
                total = total + ray_terms(field_, out, batch.target_t, batch.rgb,
                                          batch.has_rgb, s, self.weights, main_color,
                                          generator=generator).total
            if blur is not None:
                pred = blurred_response(next(outs).rgb, len(poses), self.crf, e)
                total = total + self.weights.rgb * rgb_loss(pred, blur.rgb)
            if terms:
                total = total + event_w * windows_loss(list(outs), terms, self.crf,
                                                       self.event_params, contrast)
            for r, img, g in refs:
                total = total + ctx.reference_weight / len(refs) * reference_loss(
                    r, img, T, float(contrast), g, self.reference_huber)
            return total

        loss, T_best, self.best_log_exposure = self.descend(
            T_init, objective, iters, frozen, extra, lambda: float(e.detach()),
            float(ctx.log_exposure), prior)
        finite = bool(torch.isfinite(T_best).all()) and loss < float("inf")
        if batch is None:          # events only: no depth to check inliers against
            return TrackResult(T_best, loss, float("nan"), finite, iters)
        inl = self.inlier_ratio(field_, batch, T_best)
        return TrackResult(T_best, loss, inl, finite and inl >= self.min_inlier_ratio, iters)

    @torch.no_grad()
    def _initial_exposure(self, field_, batch: RaySet, T: torch.Tensor) -> float | None:
        """Closed-form start for the frame's log exposure: the median over well-exposed pixels
        of f^-1(observed rgb) - log(rendered radiance) at the predicted pose. Auto-exposure
        can jump by more between frames than a few Adam steps move, so each frame starts
        here instead of at the previous frame's value."""
        m_ray = batch.has_rgb
        if int(m_ray.sum()) < 16:
            return None
        sub = batch.select(torch.nonzero(m_ray)[:128, 0])
        o, d = sub.to_world(T)
        s = self.sampling
        t = sample_depths(sub.target_t, s.near_m, s.far_m, s.n_uniform, s.n_surface,
                          s.surface_range_m, perturb=False)
        rad = render_rays(field_, o, d, t, s.truncation_m, True, None, None).rgb
        ok = (sub.rgb > 0.04) & (sub.rgb < 0.96) & (rad > 1e-3)
        if int(ok.sum()) < 16:
            return None
        diff = self.crf.curve.inverse(sub.rgb) - torch.log(rad.clamp_min(1e-6))
        return float(diff[ok].median())
