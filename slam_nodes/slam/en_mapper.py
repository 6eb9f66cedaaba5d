"""EN-SLAM mapping: the core's bundle adjustment (slam_nodes.slam.mapper.Mapper, through its
extension hooks) with per-keyframe log exposures, the learned camera response and an event
term on the latest windows between tracked poses."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from slam_nodes.field.crf import estimate_contrast
from slam_nodes.slam.en_tracker import event_sampling
from slam_nodes.field.render import render_many
from slam_nodes.slam.events import (event_loss, event_samples, global_change, guide_depth,
                                    rendered_log_intensity, sample_window_pixels)
from slam_nodes.slam.geometry import to_torch_pose
from slam_nodes.slam.mapper import Mapper
from slam_nodes.slam.rays import KeyframeRayStore, RaySet, rays_to_world

if TYPE_CHECKING:
    from slam_nodes.slam.en_slam import EnSlamSystem


class EnMapper(Mapper):
    """The core's bundle adjustment with the CRF (per-keyframe log exposures, keyframe 0 the
    gauge), plus an event term on the latest windows between tracked poses that measures how
    well the map predicts events (the system's `event_fidelity`, see events.event_trust) and,
    with `events.map_weight` > 0, trains the field's radiance, the event gain and C."""

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
        self.contrast_set = False
        self._terms: list = []
        self._measure = False

    # ------------------------------------------------------------------ Mapper hooks
    def _begin(self, store: KeyframeRayStore, current: RaySet | None,
               optimize_current: bool) -> list[dict]:
        """Log exposures of keyframes 1.. (from the system's table) and of the current frame
        (from tracking) join this call's pose optimiser; the event windows are prepared."""
        sysm, crf = self.system, self.system.crf
        dev = store.poses.device
        k = store.n_keyframes
        kf_e = [sysm.exposures.get(s) for s in store.stamps_ns]
        self._e_kf = torch.tensor(kf_e[1:], device=dev, requires_grad=crf is not None and k > 1)
        self._e_c = torch.tensor(sysm.tracker.best_log_exposure, device=dev,
                                 requires_grad=crf is not None and current is not None and k > 0)
        self._zero_e = torch.zeros(1, device=dev)
        exp_params = [p for p in (self._e_kf, self._e_c) if p.requires_grad]
        self._terms = self._event_terms()
        self._measure = True
        return [{"params": exp_params, "lr": self.lr_exposure}] if exp_params else []

    def _extra_optimizers(self) -> list[torch.optim.Optimizer]:
        return [] if self.crf_optimizer is None else [self.crf_optimizer]

    def _response(self, kf: torch.Tensor | None, n_cur: int):
        crf = self.system.crf
        if crf is None:
            return None
        parts_e = []
        if kf is not None:
            parts_e.append(torch.cat([self._zero_e, self._e_kf])[kf])
        if n_cur > 0:
            parts_e.append(self._e_c.expand(n_cur))
        e_ray = torch.cat(parts_e)
        return lambda rad: crf.rgb(rad, e_ray)

    def _extra_loss(self) -> torch.Tensor | None:
        if not self._terms:
            return None
        w = self.system.en.events.map_weight
        if w <= 0:                # the term only measures the map's event fidelity
            if self._measure:
                with torch.no_grad():
                    self._event_term(self._terms)
            return None
        return w * self._event_term(self._terms)

    def _end(self, store: KeyframeRayStore) -> None:
        """Refined exposures back to the system's table and to tracking's next start."""
        sysm = self.system
        if sysm.crf is not None:
            for s, v in zip(store.stamps_ns[1:], self._e_kf.detach().cpu().tolist()):
                sysm.exposures.set(s, v)
            sysm.tracker.best_log_exposure = float(self._e_c.detach())
        self._terms = []

    def _event_terms(self) -> list:
        """Latest windows between tracked (fixed) poses: per window and end, world rays of the
        sampled pixels with the sample depths t [N, S] their surface guide places, and the
        counts. One guide pass covers all windows' ends."""
        sysm = self.system
        cam = sysm.event_camera
        ev = sysm.en.events
        if sysm.crf is None or cam is None or sysm.buffer is None or ev.map_windows <= 0:
            return []
        es = event_sampling(self.sampling)
        hist = sysm.history[-(ev.map_windows + 1):]
        picked = []
        for (t0, T0), (t1, T1) in zip(hist[:-1], hist[1:]):
            counts = sysm.buffer.window(t0, t1).counts
            idx = sample_window_pixels(counts, ev.map_n_rays, ev.event_share, sysm.rng,
                                       ev.edge_px)
            if len(idx) == 0:
                continue
            o, d = cam.rig_rays(torch.as_tensor(idx, device=sysm.device))
            ends = [rays_to_world(o, d, to_torch_pose(T_np, sysm.device)) for T_np in (T0, T1)]
            c = torch.as_tensor(counts.reshape(-1)[idx], device=sysm.device)
            picked.append((ends, c, global_change(counts, ev.edge_px)))
        if not picked:
            return []
        rays = [e for ends, _, _ in picked for e in ends]
        g = guide_depth(self.field, torch.cat([o for o, _ in rays]),
                        torch.cat([d for _, d in rays]), es["truncation_m"], es["near_m"],
                        es["far_m"])
        t = event_samples(g, es["near_m"], es["far_m"], es["n_uniform"], es["n_surface"],
                          es["surface_range_m"]).split([len(o) for o, _ in rays])
        return [([(*rays[2 * k], t[2 * k]), (*rays[2 * k + 1], t[2 * k + 1])], c, g_ev)
                for k, (_, c, g_ev) in enumerate(picked)]

    def _event_term(self, terms: list) -> torch.Tensor:
        sysm, crf = self.system, self.system.crf
        es = event_sampling(self.sampling)
        outs = render_many(self.field, [(o, d, t, True) for ends, _, _ in terms
                                        for o, d, t in ends], es["truncation_m"])
        logs = [rendered_log_intensity(crf, out) for out in outs]
        total = 0.0
        pairs = []
        for k, (_, c, g_ev) in enumerate(terms):
            dl = logs[2 * k + 1] - logs[2 * k]
            if not self.contrast_set:      # closed-form start for C (learned if map_weight > 0)
                c0 = estimate_contrast(dl.detach(), c - g_ev)
                if c0 is not None:
                    crf.event.set_contrast(float(np.clip(c0, 0.05, 1.0)))
                    self.contrast_set = True
            C = crf.event.contrast
            total = total + event_loss(dl + C * g_ev, c, C, sysm.event_params)
            pairs.append((dl.detach() + C.detach() * g_ev, C.detach() * c))
        if self._measure:                  # before this call trains on these windows
            self._measure = False
            self._update_fidelity(pairs)
        return total / len(terms)

    def _update_fidelity(self, pairs: list) -> None:
        """The system's `event_fidelity`: correlation of rendered changes with C x events on
        this call's window pixels, averaged with the previous value (halves each call)."""
        dl = torch.cat([p[0] for p in pairs]).double()
        ce = torch.cat([p[1] for p in pairs]).double()
        if len(dl) < 16 or float(dl.std()) == 0.0 or float(ce.std()) == 0.0:
            return
        r = float(torch.corrcoef(torch.stack([dl, ce]))[0, 1])
        old = self.system.event_fidelity
        self.system.event_fidelity = r if old is None else 0.5 * (old + r)
