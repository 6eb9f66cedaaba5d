"""EN-SLAM: the SLAM core plus a learned camera response, event windows and a blur-aware RGB
term in the same field. Built by `build_en_slam_system(config)`.

Composition (the core is reused, not copied): `EnSlamSystem` subclasses `SlamSystem` and swaps
in `EnTracker` (same `track` signature as the core's Tracker, so the core's step, recovery and
keyframe logic run unchanged) and `EnMapper` (same `optimise` signature as the core's Mapper).
What they add:
- the colour head's output is scene radiance; RGB = CRF(radiance, frame log exposure)
  (slam_nodes.field.crf). Tracking optimises the frame's log exposure with its pose; mapping
  refines keyframe exposures, the curve, the event gain and the contrast threshold C;
- event windows from each of the last `window_frames` tracked frames to the current frame
  (temporal aggregation): rendered log-intensity change between the fixed anchor pose and the
  pose being optimised vs C x accumulated events (slam_nodes.slam.events);
- blur-aware RGB for exposures >= `blur.min_exposure_s` (slam_nodes.slam.blur) with poses
  interpolated on SE(3) between the previous and the current frame;
- event-only tracking when a frame brings no usable depth/colour (RGB dropped out, dark) but
  events cover the interval: the pose is then constrained by events alone;
- a bounded event buffer with a counted rate cap (EventWindowBuffer.stats).
Inputs to `step`: RGBDFrame / LidarScan / core Observation, an `EventBatch` (from EventPacket or
dvs EventArray through slam_nodes.events.make_decoder), or `EnObservation` holding both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from slam_nodes.field.crf import CameraResponse, ExposureTable, estimate_contrast
from slam_nodes.field.losses import rgb_loss
from slam_nodes.field.render import render_rays, sample_depths
from slam_nodes.slam.blur import blurred_rgb, exposure_poses
from slam_nodes.slam.en_config import EnSlamConfig, load_en_slam_config
from slam_nodes.slam.events import (EventCamera, EventLossParams, EventWindowBuffer,
                                    event_loss, guide_depth, render_log_intensity,
                                    sample_window_pixels)
from slam_nodes.slam.geometry import apply_delta, to_numpy_pose, to_torch_pose
from slam_nodes.slam.mapper import Mapper
from slam_nodes.slam.objective import RaySampling, ray_objective
from slam_nodes.slam.rays import KeyframeRayStore, RaySet
from slam_nodes.slam.system import Observation, SlamSystem, StepResult, _FrameRecord
from slam_nodes.slam.tracker import Tracker, TrackResult
from slam_nodes.types import EventBatch, LidarScan, RGBDFrame, invert_pose

logger = logging.getLogger(__name__)


@dataclass
class EnObservation:
    """A core observation (RGB-D and/or LiDAR, may be None) and/or events up to stamp_ns."""

    stamp_ns: int
    core: Observation | RGBDFrame | LidarScan | None = None
    events: EventBatch | None = None


@dataclass
class WindowTerm:
    """One event window ending at the pose being optimised: rig rays [N, 3] of its sampled
    event pixels, counts [N], the log intensity rendered at the fixed anchor pose [N] and the
    surface guide t [N] near the end pose."""

    origins: torch.Tensor
    dirs: torch.Tensor
    counts: torch.Tensor
    anchor_log: torch.Tensor
    guide_t: torch.Tensor


@dataclass
class FrameContext:
    """What EnTracker needs beyond the core's rays: set by EnSlamSystem before each frame."""

    stamp_ns: int
    log_exposure: float = 0.0
    prev_stamp_ns: int | None = None
    T_prev: np.ndarray | None = None
    exposure_s: float = 0.0
    windows: list = field(default_factory=list)   # (T_anchor [4,4] np, counts [H,W] np)


def _sampling_for_events(s: RaySampling) -> dict:
    # event rays have a surface guide, so fewer uniform samples do (cost: EN-SLAM must stay
    # within 1.5x of the RGB-D per-frame time)
    return dict(truncation_m=s.truncation_m, near_m=s.near_m, far_m=s.far_m,
                n_uniform=max(4, s.n_uniform // 2), n_surface=s.n_surface,
                surface_range_m=s.surface_range_m)


def prepare_windows(field_, crf: CameraResponse, cam: EventCamera, windows: list,
                    T_end: torch.Tensor, n_rays: int, event_share: float, edge_px: int,
                    sampling: RaySampling, rng: np.random.Generator) -> list[WindowTerm]:
    """WindowTerms of raw windows [(T_anchor np [4,4], counts [H, W])] (no gradient)."""
    out = []
    dev = T_end.device
    es = _sampling_for_events(sampling)
    with torch.no_grad():
        for T_a, counts in windows:
            idx = sample_window_pixels(counts, n_rays, event_share, rng, edge_px)
            if len(idx) == 0:
                continue
            idx_t = torch.as_tensor(idx, device=dev)
            o, d = cam.rig_rays(idx_t)
            Ta = to_torch_pose(T_a, dev)
            oa, da = o @ Ta[:3, :3].T + Ta[:3, 3], d @ Ta[:3, :3].T
            ga = guide_depth(field_, oa, da, es["truncation_m"], es["near_m"], es["far_m"])
            la, _ = render_log_intensity(field_, crf, oa, da, ga, **es)
            # the anchor's surface depth also guides the end pose's samples: between poses at
            # most a few frames apart the surface moves far less than the +-surface_range_m
            # band, and one guide pass instead of two keeps the event term cheap
            gb = ga
            c = torch.as_tensor(counts.reshape(-1)[idx], dtype=torch.float32, device=dev)
            out.append(WindowTerm(o, d, c, la, gb))
    return out


def windows_loss(field_, crf: CameraResponse, terms: list[WindowTerm], T: torch.Tensor,
                 sampling: RaySampling, params: EventLossParams, contrast) -> torch.Tensor:
    """Mean event loss of the window terms with their end at pose T [4, 4]."""
    es = _sampling_for_events(sampling)
    total = T.sum() * 0.0
    for w in terms:
        o, d = w.origins @ T[:3, :3].T + T[:3, 3], w.dirs @ T[:3, :3].T
        lb, _ = render_log_intensity(field_, crf, o, d, w.guide_t, **es)
        total = total + event_loss(lb - w.anchor_log, w.counts, contrast, params)
    return total / max(len(terms), 1)


class EnTracker(Tracker):
    """The core's tracking scheme (Adam on a pose update, fixed ray batch, keep the best pose)
    with the CRF, the frame's log exposure, the blur-aware RGB term and event windows."""

    def __init__(self, base: Tracker, crf: CameraResponse | None, lr_exposure: float,
                 event_camera_fn, event_params: EventLossParams, event_weight: float,
                 event_n_rays: int, event_share: float, event_edge_px: int,
                 blur_n_samples: int, blur_n_rays: int, blur_min_exposure_s: float,
                 seed: int) -> None:
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
        self.blur_min_exposure_s = blur_min_exposure_s
        self.rng = np.random.default_rng(seed)
        self.context = FrameContext(0)
        self.best_log_exposure = 0.0

    def track(self, field_, rays: RaySet | None, T_init: torch.Tensor,
              generator: torch.Generator, n_iters: int | None = None) -> TrackResult:
        """Optimise T_world_rig from T_init; `rays` None tracks from the event windows alone."""
        ctx = self.context
        iters = self.n_iters if n_iters is None else n_iters
        dev = T_init.device
        cam = self.event_camera_fn()
        terms = []
        if ctx.windows and cam is not None and self.event_weight > 0:
            terms = prepare_windows(field_, self.crf, cam, ctx.windows, T_init,
                                    self.event_n_rays, self.event_share, self.event_edge_px,
                                    self.sampling, self.rng)
        batch = blur = None
        use_rgb = False
        if rays is not None:
            measured = torch.nonzero(rays.target_t > 0)[:, 0]
            pick = measured[torch.randint(len(measured), (min(self.n_rays, len(measured)),),
                                          generator=generator, device=dev)]
            batch = rays.select(pick)
            use_rgb = bool(batch.has_rgb.any()) and self.weights.rgb > 0
            blur_ok = (self.blur_n_samples > 1 and ctx.exposure_s >= self.blur_min_exposure_s
                       and ctx.T_prev is not None and use_rgb)
            if blur_ok:
                cand = torch.nonzero((rays.target_t > 0) & rays.has_rgb)[:, 0]
                blur = rays.select(cand[torch.randint(len(cand), (min(self.blur_n_rays,
                                                                      len(cand)),),
                                                      generator=generator, device=dev)])
        if batch is None and not terms:
            return TrackResult(T_init, float("inf"), 0.0, False, 0)
        if use_rgb and self.crf is not None:
            e0 = self._initial_exposure(field_, batch, T_init)
            if e0 is not None:
                ctx.log_exposure = e0
        w = torch.zeros(3, device=dev, requires_grad=True)
        dt = torch.zeros(3, device=dev, requires_grad=True)
        e = torch.tensor(float(ctx.log_exposure), device=dev,
                         requires_grad=self.crf is not None and use_rgb)
        groups = [{"params": [w], "lr": self.lr_rot}, {"params": [dt], "lr": self.lr_trans}]
        if e.requires_grad:
            groups.append({"params": [e], "lr": self.lr_exposure})
        opt = torch.optim.Adam(groups)
        frozen = list(field_.parameters()) + (list(self.crf.parameters()) if self.crf else [])
        grads = [p.requires_grad for p in frozen]
        for p in frozen:
            p.requires_grad_(False)
        contrast = self.crf.event.contrast.detach() if self.crf is not None else 0.25
        T_prev = None if ctx.T_prev is None else to_torch_pose(ctx.T_prev, dev)
        best = (float("inf"), T_init.detach().clone(), float(ctx.log_exposure))
        try:
            for it in range(iters + 1):
                T = apply_delta(T_init, w, dt)
                total = T.sum() * 0.0
                if batch is not None:
                    o, d = batch.to_world(T)
                    resp = (lambda rad: self.crf.rgb(rad, e)) if self.crf is not None else None
                    res = ray_objective(field_, o, d, batch.target_t, batch.rgb, batch.has_rgb,
                                        self.sampling, self.weights, with_color=blur is None,
                                        response=resp, generator=generator, perturb=False)
                    total = total + res.total
                if blur is not None:
                    poses = exposure_poses(ctx.stamp_ns, ctx.exposure_s, self.blur_n_samples,
                                           ctx.prev_stamp_ns, T_prev, T)
                    s = self.sampling
                    pred = blurred_rgb(field_, self.crf, blur.origins, blur.dirs, blur.target_t,
                                       poses, e, s.truncation_m, s.near_m, s.far_m,
                                       s.n_uniform, s.n_surface, s.surface_range_m)
                    total = total + self.weights.rgb * rgb_loss(pred, blur.rgb)
                if terms:
                    total = total + self.event_weight * windows_loss(
                        field_, self.crf, terms, T, self.sampling, self.event_params, contrast)
                loss = float(total.detach())
                if loss < best[0]:
                    best = (loss, T.detach().clone(), float(e.detach()))
                if it == iters:
                    break
                opt.zero_grad(set_to_none=True)
                total.backward()
                opt.step()
        finally:
            for p, g in zip(frozen, grads):
                p.requires_grad_(g)
        loss, T_best, self.best_log_exposure = best
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


class EnMapper(Mapper):
    """The core's bundle adjustment with the CRF (per-keyframe log exposures, keyframe 0 the
    gauge), plus an event term on the latest windows between tracked poses that trains the
    field's radiance, the event gain and the contrast threshold C."""

    def __init__(self, base: Mapper, system: "EnSlamSystem", lr_curve: float,
                 lr_exposure: float, lr_contrast: float) -> None:
        self.__dict__.update(base.__dict__)       # same field, optimiser and settings
        self.system = system
        self.lr_exposure = lr_exposure
        crf = system.crf
        self.crf_optimizer = None
        if crf is not None:
            self.crf_optimizer = torch.optim.Adam([
                {"params": list(crf.curve.parameters()), "lr": lr_curve},
                {"params": [crf.event.log_gain, crf.event.log_contrast], "lr": lr_contrast}])
        self._contrast_set = False

    def optimise(self, store: KeyframeRayStore, current: RaySet | None,
                 T_current: torch.Tensor | None, n_iters: int, generator: torch.Generator,
                 optimize_current: bool = True) -> tuple[float, torch.Tensor | None]:
        sysm, crf = self.system, self.system.crf
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
        kf_e = [sysm.exposures.get(s) for s in store.stamps_ns]
        e_kf = torch.tensor(kf_e[1:], device=dev, requires_grad=crf is not None and k > 1)
        e_c = torch.tensor(sysm.tracker.best_log_exposure, device=dev,
                           requires_grad=crf is not None and current is not None and k > 0)
        pose_params = ([w_kf, t_kf] if opt_poses else []) + ([w_c, t_c] if opt_cur else [])
        exp_params = [p for p in (e_kf, e_c) if p.requires_grad]
        pose_opt = None
        groups = []
        if pose_params:
            groups += [{"params": [p for p in pose_params if p is w_kf or p is w_c],
                        "lr": self.lr_pose_rot},
                       {"params": [p for p in pose_params if p is t_kf or p is t_c],
                        "lr": self.lr_pose_trans}]
        if exp_params:
            groups.append({"params": exp_params, "lr": self.lr_exposure})
        if groups:
            pose_opt = torch.optim.Adam(groups)
        terms = self._event_terms()
        zero = torch.zeros(1, 3, device=dev)
        zero_e = torch.zeros(1, device=dev)
        loss = float("nan")
        for _ in range(n_iters):
            parts_o, parts_d, parts, parts_e = [], [], [], []
            if k > 0 and n_kf > 0 and len(store) > 0:
                idx = torch.randint(len(store), (n_kf,), generator=generator, device=dev)
                rays, kf = store.rays(idx)
                poses = apply_delta(store.poses, torch.cat([zero, w_kf]), torch.cat([zero, t_kf]))
                o, d = rays.to_world(poses[kf])
                parts_o.append(o)
                parts_d.append(d)
                parts.append(rays)
                parts_e.append(torch.cat([zero_e, e_kf])[kf])
            if n_cur > 0:
                idx = torch.randint(len(current), (n_cur,), generator=generator, device=dev)
                rays = current.select(idx)
                o, d = rays.to_world(apply_delta(T_current, w_c, t_c))
                parts_o.append(o)
                parts_d.append(d)
                parts.append(rays)
                parts_e.append(e_c.expand(n_cur))
            batch = RaySet.concatenate(parts)
            e_ray = torch.cat(parts_e)
            resp = (lambda rad: crf.rgb(rad, e_ray)) if crf is not None else None
            res = ray_objective(self.field, torch.cat(parts_o), torch.cat(parts_d),
                                batch.target_t, batch.rgb, batch.has_rgb, self.sampling,
                                self.weights, True, self.smooth_grid_size,
                                self.smooth_spacing_m, response=resp, generator=generator)
            total = res.total
            if terms:
                total = total + sysm.en.events.map_weight * self._event_term(terms)
            self.optimizer.zero_grad(set_to_none=True)
            for o_ in (pose_opt, self.crf_optimizer):
                if o_ is not None:
                    o_.zero_grad(set_to_none=True)
            total.backward()
            for o_ in (self.optimizer, pose_opt, self.crf_optimizer):
                if o_ is not None:
                    o_.step()
            loss = float(total.detach())
        with torch.no_grad():
            if opt_poses:
                store.poses = apply_delta(store.poses, torch.cat([zero, w_kf]),
                                          torch.cat([zero, t_kf])).detach()
            T_out = None
            if T_current is not None:
                T_out = apply_delta(T_current, w_c, t_c).detach() if opt_cur else T_current
        if crf is not None:
            for s, v in zip(store.stamps_ns[1:], e_kf.detach().cpu().tolist()):
                sysm.exposures.set(s, v)
            sysm.tracker.best_log_exposure = float(e_c.detach())
        return loss, T_out

    def _event_terms(self) -> list:
        """Latest windows between tracked (fixed) poses: per window and end, world rays of the
        sampled pixels with their surface guide, and the counts."""
        sysm = self.system
        cam = sysm.event_camera
        ev = sysm.en.events
        if sysm.crf is None or cam is None or sysm.buffer is None or ev.map_windows <= 0:
            return []
        es = _sampling_for_events(self.sampling)
        hist = sysm.history[-(ev.map_windows + 1):]
        out = []
        for (t0, T0), (t1, T1) in zip(hist[:-1], hist[1:]):
            counts = sysm.buffer.window(t0, t1).counts
            idx = sample_window_pixels(counts, ev.map_n_rays, ev.event_share, sysm.rng,
                                       ev.edge_px)
            if len(idx) == 0:
                continue
            o, d = cam.rig_rays(torch.as_tensor(idx, device=sysm.device))
            ends = []
            for T_np in (T0, T1):
                T = to_torch_pose(T_np, sysm.device)
                ow, dw = o @ T[:3, :3].T + T[:3, 3], d @ T[:3, :3].T
                g = guide_depth(self.field, ow, dw, es["truncation_m"], es["near_m"],
                                es["far_m"])
                ends.append((ow, dw, g))
            c = torch.as_tensor(counts.reshape(-1)[idx], device=sysm.device)
            out.append((ends, c))
        return out

    def _event_term(self, terms: list) -> torch.Tensor:
        sysm, crf = self.system, self.system.crf
        es = _sampling_for_events(self.sampling)
        total = 0.0
        for ends, c in terms:
            logs = [render_log_intensity(self.field, crf, ow, dw, g, **es)[0]
                    for ow, dw, g in ends]
            dl = logs[1] - logs[0]
            if not self._contrast_set:      # closed-form start for C, then learned with the map
                c0 = estimate_contrast(dl.detach(), c)
                if c0 is not None:
                    crf.event.set_contrast(float(np.clip(c0, 0.05, 1.0)))
                    self._contrast_set = True
            total = total + event_loss(dl, c, crf.event.contrast, sysm.event_params)
        return total / len(terms)


class EnSlamSystem(SlamSystem):
    """EN-SLAM on top of SlamSystem; build with `build_en_slam_system`."""

    def __init__(self, config: EnSlamConfig, event_camera: EventCamera | None = None,
                 initial_T_world_cam: np.ndarray | None = None) -> None:
        super().__init__(config.slam, initial_T_world_cam)
        self.en = config
        c, ev = config.crf, config.events
        self.crf = CameraResponse(c.n_knots, c.log_min, c.log_max, c.init_gamma, c.event_eps,
                                  ev.init_contrast).to(self.device) if c.enabled else None
        self.exposures = ExposureTable()
        self.event_camera = event_camera
        if event_camera is not None and ev.T_rig_event is not None:
            event_camera.T_rig_event = np.asarray(ev.T_rig_event, dtype=np.float64).reshape(4, 4)
        self.buffer: EventWindowBuffer | None = None
        self.history: list[tuple[int, np.ndarray]] = []
        self._prev_frame_log: tuple | None = None
        self._c_sums = [0.0, 0.0]
        self.rng = np.random.default_rng(config.slam.seed)
        self.event_params = EventLossParams(ev.huber_delta, ev.deadzone, ev.no_event_weight)
        use_events = ev.enabled and self.crf is not None
        b = config.blur
        self.tracker = EnTracker(
            self.tracker, self.crf, c.lr_exposure, lambda: self.event_camera, self.event_params,
            ev.weight if use_events else 0.0, ev.n_rays, ev.event_share, ev.edge_px,
            b.n_samples if (b.enabled and self.crf is not None) else 1, b.n_rays,
            b.min_exposure_s, config.slam.seed)

    def _init_field(self, bounds_m: np.ndarray) -> None:
        super()._init_field(bounds_m)
        c, ev = self.en.crf, self.en.events
        self.mapper = EnMapper(self.mapper, self, c.lr_curve, c.lr_exposure, ev.lr_contrast)

    # ------------------------------------------------------------------ events
    def push_events(self, batch: EventBatch) -> int:
        """Buffer decoded events (EventPacket / dvs EventArray via make_decoder)."""
        if not self.en.events.enabled or len(batch) == 0:
            return 0
        if self.buffer is None:
            w = batch.width or (self.event_camera.camera.width if self.event_camera else 0)
            h = batch.height or (self.event_camera.camera.height if self.event_camera else 0)
            ev = self.en.events
            self.buffer = EventWindowBuffer(w, h, ev.max_rate_eps, ev.max_events,
                                            seed=self.config.seed)
        return self.buffer.push(batch)

    def _windows(self, stamp: int) -> list:
        """Raw windows (T_anchor, counts) from the last `window_frames` tracked frames."""
        ev = self.en.events
        if self.buffer is None or self.event_camera is None or not ev.enabled:
            return []
        out = []
        for t_a, T_a in self.history[-ev.window_frames:]:
            if t_a >= stamp:
                continue
            win = self.buffer.window(t_a, stamp)
            if win.n_events > 0:
                out.append((T_a, win.counts))
        return out

    # ------------------------------------------------------------------ main entry
    def step(self, observation) -> StepResult:
        """Process an observation (see module docstring); events are buffered first."""
        obs, events = observation, None
        if isinstance(observation, EventBatch):
            obs, events = None, observation
        elif isinstance(observation, EnObservation):
            obs, events = observation.core, observation.events
        if events is not None:
            self.push_events(events)
        if obs is None:
            stamp = int(observation.stamp_ns) if isinstance(observation, EnObservation) \
                else (int(events.t[-1]) if len(events) else None)
            if stamp is None:
                return StepResult(0, self._T_last, False, float("nan"), skipped=True,
                                  reason="empty event batch")
            return self._event_only(stamp, "events without a frame")
        core = self._as_observation(obs)
        stamp = int(core.stamp_ns)
        if self.event_camera is None and core.rgbd is not None:
            self.event_camera = EventCamera(core.rgbd.camera, np.eye(4) if
                                            self.en.events.T_rig_event is None else
                                            np.asarray(self.en.events.T_rig_event).reshape(4, 4))
        ctx = FrameContext(stamp, self.tracker.best_log_exposure)
        if self.history:
            ctx.prev_stamp_ns, ctx.T_prev = self.history[-1]
        if core.rgbd is not None:
            ctx.exposure_s = float(core.rgbd.exposure_s or self.en.blur.exposure_s)
        if self.field is not None:
            ctx.windows = self._windows(stamp)
        self.tracker.context = ctx
        result = super().step(core)
        if result.skipped and "valid depth" in result.reason and self.field is not None:
            return self._event_only(stamp, result.reason)
        if result.tracking_ok and not result.skipped:
            self.exposures.set(stamp, self.tracker.best_log_exposure)
            if core.rgbd is not None:
                self._contrast_from_frames(core.rgbd, stamp, self.tracker.best_log_exposure)
            self._record(stamp, result.T_world_cam)
        return result

    @torch.no_grad()
    def _contrast_from_frames(self, frame: RGBDFrame, stamp: int, log_exposure: float) -> None:
        """Sensor-level estimate of the contrast threshold C when the event camera shares the
        frame's pixels (DAVIS-like: same size, identity extrinsic): least squares of the
        linearised frame-to-frame log-intensity change (inverse CRF, exposure removed) against
        the accumulated events, summed over frames. Preferred to the map-based estimate because
        a coarse map renders attenuated contrast, which biases C low; once it is active C is no
        longer learned by gradient."""
        cam = self.event_camera
        if self.crf is None or self.buffer is None or frame.rgb is None or cam is None:
            return
        h, w = frame.camera.height, frame.camera.width
        if (cam.camera.width, cam.camera.height) != (w, h) or \
                (self.buffer.width, self.buffer.height) != (w, h) or \
                not np.allclose(cam.T_rig_event, np.eye(4)):
            return
        rgb = torch.as_tensor(frame.rgb.reshape(-1, 3) / 255.0, dtype=torch.float32,
                              device=self.device)
        ll = self.crf.event_log(self.crf.radiance(rgb, log_exposure)).cpu().numpy()
        ll = ll.reshape(h, w)
        valid = ((frame.rgb > 10) & (frame.rgb < 245)).all(axis=-1)
        prev = self._prev_frame_log
        self._prev_frame_log = (stamp, ll, valid)
        if prev is None:
            return
        counts = self.buffer.window(prev[0], stamp).counts
        m = valid & prev[2] & (counts != 0)
        self._c_sums[0] += float(((ll - prev[1])[m] * counts[m]).sum())
        self._c_sums[1] += float((counts[m] ** 2).sum())
        if self._c_sums[1] > 200 and self._c_sums[0] > 0:
            self.crf.event.set_contrast(float(np.clip(self._c_sums[0] / self._c_sums[1],
                                                      0.05, 1.0)))
            self.crf.event.log_contrast.requires_grad_(False)
            if isinstance(self.mapper, EnMapper):
                self.mapper._contrast_set = True

    def _record(self, stamp: int, T: np.ndarray) -> None:
        self.history.append((stamp, T.copy()))
        keep = max(self.en.events.window_frames, self.en.events.map_windows) + 1
        if len(self.history) > keep:
            self.history = self.history[-keep:]
            if self.buffer is not None:
                self.buffer.prune(self.history[0][0])

    def _event_only(self, stamp: int, why: str) -> StepResult:
        """Track from event windows alone (no usable frame): pose only, no mapping."""
        t0 = time.perf_counter()
        if self.field is None or self._T_last is None or \
                (self._last_stamp is not None and stamp <= self._last_stamp):
            return self._skip(stamp, f"{why}; no map or stale stamp for event-only tracking", t0)
        windows = self._windows(stamp)
        n_ev = sum(int(np.abs(c).sum()) for _, c in windows)
        if n_ev < self.en.events.event_only_min_events:
            return self._skip(stamp, f"{why}; only {n_ev} events: frame skipped", t0)
        ctx = FrameContext(stamp, self.tracker.best_log_exposure, windows=windows)
        self.tracker.context = ctx
        T_pred = self._velocity @ self._T_last
        res = self.tracker.track(self.field, None, to_torch_pose(T_pred, self.device),
                                 self.generator)
        T = to_numpy_pose(res.T_world_rig)
        if res.ok:
            self._velocity = T @ invert_pose(self._T_last)
            self._T_last = T
            self._last_stamp = stamp
            kf = self.store.n_keyframes - 1
            T_kf = to_numpy_pose(self.store.poses[kf])
            self.frames.append(_FrameRecord(stamp, kf, invert_pose(T_kf) @ T, True))
            self._record(stamp, T)
        ms = (time.perf_counter() - t0) * 1e3
        return StepResult(stamp, T, res.ok, res.loss, {"tracking": ms, "total": ms},
                          reason=f"{why}; event-only tracking over {len(windows)} window(s)")

    def event_stats(self):
        """The event buffer's counters (BufferStats) or None before the first events."""
        return None if self.buffer is None else self.buffer.stats


def build_en_slam_system(config: EnSlamConfig | dict | str | None = None,
                         preset: str | None = None, event_camera: EventCamera | None = None,
                         initial_T_world_cam: np.ndarray | None = None) -> EnSlamSystem:
    """The factory: an EnSlamSystem from an EnSlamConfig, a dict, a YAML path or a preset."""
    if not isinstance(config, EnSlamConfig):
        config = load_en_slam_config(config, preset)
    return EnSlamSystem(config, event_camera, initial_T_world_cam)
