"""EN-SLAM: the SLAM core plus a learned camera response, event windows and a blur-aware RGB
term in the same field. Built by `build_en_slam_system(config)`.

Composition (the core is reused, not copied): `EnSlamSystem` subclasses `SlamSystem` and swaps
in `EnTracker` (slam_nodes.slam.en_tracker: same `track` signature as the core's Tracker and
the same `Tracker.descend` loop, so the core's step, recovery and keyframe logic run unchanged)
and `EnMapper` (slam_nodes.slam.en_mapper: the core's `Mapper.optimise` loop through its
extension hooks). What they add:
- the colour head's output is scene radiance; RGB = CRF(radiance, frame log exposure)
  (slam_nodes.field.crf). Tracking optimises the frame's log exposure with its pose; mapping
  refines keyframe exposures, the curve, the event gain and the contrast threshold C;
- event windows from each of the last `window_frames` tracked frames to the current frame
  (temporal aggregation): rendered log-intensity change between the fixed anchor pose and the
  pose being optimised vs C x accumulated events (slam_nodes.slam.events), weighted in frame
  tracking by how well the map predicts events (`event_fidelity`, measured in mapping);
- in event-only steps (`events.event_only_reference_weight`), and in frame tracking only when
  `events.reference_weight` > 0 (off by default, see EventsConfig), the same windows against
  the anchor frame's *measured* log image and depth (reference-frame term,
  slam_nodes.slam.en_reference), which does not depend on the map's colour, when the event
  sensor shares the RGB-D pixels;
- blur-aware RGB when the predicted image motion during the exposure reaches
  `blur.min_blur_px` (slam_nodes.slam.blur) with poses
  interpolated on SE(3) between the previous and the current frame;
- event-only tracking when a frame brings no usable depth/colour, or none comes (RGB dropped
  out, dark), but events cover the interval: the motion model's prediction, refined by the
  events under a prior that holds it near there (`_event_only`);
- a bounded event buffer with a counted rate cap (EventWindowBuffer.stats).
Inputs to `step`: RGBDFrame / LidarScan / core Observation, an `EventBatch` (from EventPacket or
dvs EventArray through slam_nodes.events.make_decoder), or `EnObservation` holding both.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import torch

from slam_nodes.field.crf import CameraResponse, ExposureTable
from slam_nodes.slam.blur import predicted_blur_px
from slam_nodes.slam.en_config import EnSlamConfig, load_en_slam_config
from slam_nodes.slam.en_mapper import EnMapper
from slam_nodes.slam.en_reference import (ReferenceFrame, frame_log_image, make_reference,
                                           shares_pixels)
from slam_nodes.slam.en_tracker import EnTracker, FrameContext
from slam_nodes.slam.events import (ContrastEstimate, EventCamera, EventLossParams,
                                    EventWindowBuffer, event_trust)
from slam_nodes.slam.geometry import to_numpy_pose, to_torch_pose
from slam_nodes.slam.system import Observation, SlamSystem, StepResult
from slam_nodes.slam.tracker import PosePrior
from slam_nodes.types import EventBatch, LidarScan, RGBDFrame, invert_pose

logger = logging.getLogger(__name__)


@dataclass
class EnObservation:
    """A core observation (RGB-D and/or LiDAR, may be None) and/or events up to stamp_ns."""

    stamp_ns: int
    core: Observation | RGBDFrame | LidarScan | None = None
    events: EventBatch | None = None


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
        self.references: dict[int, ReferenceFrame] = {}   # tracked frames by stamp (ns)
        self._prev_frame_log: tuple | None = None
        self.contrast_estimate = ContrastEstimate()
        self.event_fidelity: float | None = None      # measured by EnMapper
        self.rng = np.random.default_rng(config.slam.seed)
        self.event_params = EventLossParams(ev.huber_delta, ev.deadzone, ev.no_event_weight)
        use_events = ev.enabled and self.crf is not None
        b = config.blur
        self.tracker = EnTracker(
            self.tracker, self.crf, c.lr_exposure, lambda: self.event_camera, self.event_params,
            ev.weight if use_events else 0.0, ev.n_rays, ev.event_share, ev.edge_px,
            b.n_samples if (b.enabled and self.crf is not None) else 1, b.n_rays,
            b.min_blur_px, config.slam.seed, ev.reference_sigma_px, ev.huber_delta)

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

    def _windows(self, stamp: int, from_reference: bool = False) -> list:
        """Raw windows (T_anchor, counts, ReferenceFrame or None) from the last
        `window_frames` tracked frames; with `from_reference` also one from the latest frame
        that left a reference (en_reference), however far back, when none of those is it."""
        ev = self.en.events
        if self.buffer is None or self.event_camera is None or not ev.enabled:
            return []
        anchors = [(t, T, self.references.get(t)) for t, T in self.history[-ev.window_frames:]]
        latest = self._latest_reference() if from_reference else None
        if latest is not None and all(t != latest.stamp_ns for t, _, _ in anchors):
            anchors.insert(0, (latest.stamp_ns, to_numpy_pose(latest.T_world_rig), latest))
        out = []
        for t_a, T_a, ref in anchors:
            if t_a >= stamp:
                continue
            win = self.buffer.window(t_a, stamp)
            if win.n_events > 0:
                out.append((T_a, win.counts, ref))
        return out

    def _event_trust(self) -> float:
        """Factor on the event weight in tracking from the map's measured event fidelity
        (events.event_trust), for frame and event-only tracking alike."""
        ev = self.en.events
        return event_trust(self.event_fidelity, ev.trust_lo, ev.trust_hi)

    def _latest_reference(self) -> ReferenceFrame | None:
        return self.references[max(self.references)] if self.references else None

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
                return StepResult(0, self.T_last, False, float("nan"), skipped=True,
                                  reason="empty event batch")
            return self._event_only(stamp, "events without a frame")
        core = self._as_observation(obs)
        stamp = int(core.stamp_ns)
        if self.event_camera is None and core.rgbd is not None:
            self.event_camera = EventCamera(core.rgbd.camera, np.eye(4) if
                                            self.en.events.T_rig_event is None else
                                            np.asarray(self.en.events.T_rig_event).reshape(4, 4))
        ctx = FrameContext(stamp, self.tracker.best_log_exposure,
                           event_trust=self._event_trust(),
                           reference_weight=self.en.events.reference_weight)
        if self.history:
            ctx.prev_stamp_ns, ctx.T_prev = self.history[-1]
        if core.rgbd is not None:
            ctx.exposure_s = float(core.rgbd.exposure_s or self.en.blur.exposure_s)
            ctx.blur_px = self._predicted_blur_px(core.rgbd, ctx.exposure_s)
        if self.field is not None:
            ctx.windows = self._windows(stamp)
        self.tracker.context = ctx
        result = super().step(core)
        if result.skipped and "valid depth" in result.reason and self.field is not None:
            return self._event_only(stamp, result.reason)
        if result.tracking_ok and not result.skipped:
            self.exposures.set(stamp, self.tracker.best_log_exposure)
            if core.rgbd is not None:
                log_image = self._frame_log_image(core.rgbd)
                if log_image is not None:
                    self._contrast_from_frames(core.rgbd, stamp, *log_image)
                    self._add_reference(core.rgbd, stamp, result.T_world_cam, *log_image)
            self._record(stamp, result.T_world_cam)
        return result

    def _frame_log_image(self, frame: RGBDFrame) -> tuple[torch.Tensor, np.ndarray] | None:
        """`frame_log_image` of a tracked frame whose pixels the event sensor shares (same size,
        identity extrinsic), at the tracked log exposure; None otherwise (then neither the
        frame-based contrast estimate nor the reference term applies)."""
        cam = self.event_camera
        if self.crf is None or frame.rgb is None or cam is None:
            return None
        if (cam.camera.width, cam.camera.height) != (frame.camera.width, frame.camera.height) \
                or not np.allclose(cam.T_rig_event, np.eye(4)):
            return None
        return frame_log_image(frame.rgb, self.crf, self.tracker.best_log_exposure, self.device)

    def _add_reference(self, frame: RGBDFrame, stamp: int, T: np.ndarray,
                       log_image: torch.Tensor, well_exposed: np.ndarray) -> None:
        """Keep the tracked frame as the reference of windows starting at it (en_reference),
        when the event sensor shares its pixels."""
        cam = self.event_camera
        ev = self.en.events
        if (not ev.enabled or max(ev.reference_weight, ev.event_only_reference_weight) <= 0
                or frame.depth is None
                or not shares_pixels(cam.camera, cam.T_rig_event, frame.camera)):
            return
        ref = make_reference(stamp, log_image, well_exposed, frame.depth, frame.camera, T,
                             ev.reference_sigma_px, self.config.min_depth_m,
                             self.config.max_depth_m, self.device, ev.reference_max_points)
        if ref is not None:
            self.references[stamp] = ref

    @torch.no_grad()
    def _contrast_from_frames(self, frame: RGBDFrame, stamp: int, log_image: torch.Tensor,
                              well_exposed: np.ndarray) -> None:
        """Sensor-level estimate of the contrast threshold C when the event camera shares the
        frame's pixels (DAVIS-like: same size, identity extrinsic): the frame-to-frame
        log-intensity change dL (`_frame_log_image`: inverse CRF, exposure removed) against the
        accumulated events E over all well-exposed pixels, summed over frames
        (`ContrastEstimate`, an instrumental-variable fit: both dL and E are noisy). Preferred to
        the map-based estimate because a coarse map renders attenuated contrast, which biases C
        low; once it is active C is no longer learned by gradient."""
        h, w = frame.camera.height, frame.camera.width
        if self.buffer is None or (self.buffer.width, self.buffer.height) != (w, h):
            return
        ll = log_image.cpu().numpy()
        prev = self._prev_frame_log
        self._prev_frame_log = (stamp, ll, well_exposed)
        if prev is None:
            return
        counts = self.buffer.window(prev[0], stamp).counts
        self.contrast_estimate.add(ll - prev[1], counts, well_exposed & prev[2])
        c = self.contrast_estimate.value()
        if c is not None:
            self.crf.event.set_contrast(float(np.clip(c, 0.05, 1.0)))
            self.crf.event.log_contrast.requires_grad_(False)
            if isinstance(self.mapper, EnMapper):
                self.mapper.contrast_set = True

    def _predicted_blur_px(self, frame: RGBDFrame, exposure_s: float) -> float:
        """Image motion (input pixels) during the frame's exposure predicted by the constant-
        velocity model at the frame's median depth; inf (unknown: the blur term stays on)
        before two frames are tracked or without valid depth. Measured alternative, not kept:
        the first tracked frame's blur from the image motion its events show (right on all
        three clips: sharp on normal and dark, blurred on blur) made bench_enslam's room-dark
        worse on each of seeds 0-5 (mean 4.14 vs 3.08 cm) and left room-normal as it was
        (2.94 vs 3.03 cm): on that frame the map has seen one frame only, and the 64-ray blur
        term in place of the 384-ray colour term leans on depth more."""
        if len(self.history) < 2 or frame.depth is None or self.T_last is None:
            return float("inf")
        z = frame.depth[np.isfinite(frame.depth) & (frame.depth > 0)]
        if len(z) == 0:
            return float("inf")
        interval_s = (frame.stamp_ns - self.last_stamp_ns) * 1e-9
        T_rel = invert_pose(self.T_last) @ self.predicted_pose(frame.stamp_ns)
        return predicted_blur_px(T_rel, interval_s, exposure_s, frame.camera.fx,
                                 float(np.median(z)))

    def _record(self, stamp: int, T: np.ndarray) -> None:
        """Append a tracked pose to the history; forget older poses, references and events
        no window can start at any more (the latest reference stays, with its events, for
        event-only windows through an RGB-D dropout)."""
        self.history.append((stamp, T.copy()))
        keep = max(self.en.events.window_frames, self.en.events.map_windows) + 1
        if len(self.history) > keep:
            self.history = self.history[-keep:]
            oldest = self.history[0][0]
            latest = self._latest_reference()
            self.references = {t: r for t, r in self.references.items()
                               if t >= oldest or r is latest}
            if self.buffer is not None:
                self.buffer.prune(oldest if latest is None else min(oldest, latest.stamp_ns))

    def _event_only(self, stamp: int, why: str) -> StepResult:
        """Track from event windows alone (no usable frame): pose only, no mapping.

        The optimisation starts at the motion model's prediction and a PosePrior
        (`events.event_only_prior_sigma_rad` / `_m`) holds it near there: the event terms
        refine a constant-velocity coast, they do not replace it. The map-rendered window
        terms are weighed by the map's event fidelity (`event_trust`) as in frame tracking.
        With `events.event_only_reference_weight` > 0 (the default) the windows also include
        one from the last frame with RGB-D (`_windows(from_reference=True)`), whose reference
        term (en_reference: that frame's log image and depth plus the events since) does not
        depend on the map, so a map that does not predict events yet still has a term.

        Measured on bench_enslam's room-dark clip at 128x96 (cm from the truth over the
        event-only frames; holding the last pose: 2.0 ... 11.1 on frames 12-17, seed 0, and
        2.2 / 4.1 / 6.1 / 8.0 on frames 10-13):
        - windows from the last tracked frames only, full weight, no prior: frames 12-17
          drifted 1.8 / 3.6 / 8.3 / 16.0 / 21.1 / 29.8 and kept flying after the dropout
          (clip ATE 45.2 cm);
        - plus the reference window and event trust, no prior: frames 10-13 1.4 / 3.6 / 6.0 /
          8.0, about as far as holding (the reference term alone: 2.9 ... 23.6);
        - the motion model's prediction alone: 0.6 / 1.0 / 1.3 / 1.5;
        - with the prior, sigma 0.01: 0.6 / 0.8 / 1.1 / 1.2 (seed 1: 0.3 / 0.7 / 0.9 / 1.0);
          sigma 0.003: 0.6 / 0.9 / 1.3 / 1.5, the prediction's."""
        t0 = time.perf_counter()
        last = self.last_stamp_ns
        if self.field is None or self.T_last is None or (last is not None and stamp <= last):
            return self._skip(stamp, f"{why}; no map or stale stamp for event-only tracking", t0)
        windows = self._windows(stamp, from_reference=True)
        n_ev = sum(int(np.abs(c).sum()) for _, c, _ in windows)
        ev = self.en.events
        if n_ev < ev.event_only_min_events:
            return self._skip(stamp, f"{why}; only {n_ev} events: frame skipped", t0)
        ctx = FrameContext(stamp, self.tracker.best_log_exposure, windows=windows,
                           event_trust=self._event_trust(),
                           reference_weight=ev.event_only_reference_weight)
        self.tracker.context = ctx
        prior = PosePrior(ev.event_only_prior_sigma_rad, ev.event_only_prior_sigma_m)
        res = self.tracker.track(self.field, None, to_torch_pose(self.predicted_pose(stamp),
                                                                 self.device), self.generator,
                                 prior=prior)
        T = to_numpy_pose(res.T_world_rig)
        if res.ok:
            self.accept_pose(stamp, T)
            self._record(stamp, T)
        ms = (time.perf_counter() - t0) * 1e3
        reason = f"{why}; event-only tracking over {len(windows)} window(s)"
        if res.iters == 0:
            reason += (f": no event term to track with (map event fidelity "
                       f"{self.event_fidelity}, weighed from events.trust_lo {ev.trust_lo}; "
                       f"events.event_only_reference_weight {ev.event_only_reference_weight}), "
                       f"the pose is the motion model's prediction")
        return StepResult(stamp, T, res.ok, res.loss, {"tracking": ms, "total": ms},
                          reason=reason)

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
