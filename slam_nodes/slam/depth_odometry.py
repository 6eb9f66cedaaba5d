"""Depth odometry (Open3D) between two frames and the neural tracker's initial guess built on it.

- `rgbd_odometry`: the one call of Open3D's multi-scale RGB-D odometry
  (`open3d.t.pipelines.odometry.rgbd_odometry_multi_scale`, point-to-plane on depth, or hybrid
  with the photometric term), shared by the classical icp engine (slam_nodes.nodes.icp_engine)
  and `DepthOdometryPrior`. It runs on one Open3D thread (slam_nodes.open3d_threads), so the same
  input gives a bit-identical pose every run.
- `checked_odometry`: point-to-plane, replaced by the hybrid where the depth leaves a
  direction loose (a slide along a flat wall); method "checked" of both.
- `DepthOdometryPrior` (`tracking.init: depth_odometry`): keeps a reference frame's depth,
  downscaled to at most `max_width_px` columns, and its tracked pose; for the next frame it
  estimates T_ref_cur by odometry initialised with the motion model's prediction and, when the
  estimate is plausible (`OdometryResult.plausible`: fitness, step size), offers
  T_world_ref @ T_ref_cur as the pose the neural tracker starts from, and the field-based
  optimisation refines it as before. The reference is renewed every `keyframe_every` tracked
  frames (frame-to-keyframe odometry, see the class).
  Why: the neural tracker takes a dozen small Adam steps from its start, so a fast turn that
  the constant-velocity model misses by several degrees is not corrected (tests: a 9 degree
  turn); frame-to-frame odometry does not depend on the map and measures the turn.
  Measured (README): on the demo's bag the odometry alone is far more accurate than the neural
  engine, yet starting from it hardly moves the neural ATE (9.86 -> 10.30 cm at 80x60, 7.81 ->
  7.73 cm at 160x120): the field-based refinement pulls the pose to the coarse map's minimum.
  So cpu-lite also holds the refined pose near the odometry's (slam_nodes.slam.tracker.PosePrior,
  `tracking.odometry_prior_sigma_*`): demo 3.47 cm, 7-Scenes unchanged (README).
  On real 7-Scenes frames it lowered the ATE on every seed (0.95 -> 0.82 cm mean), so the
  `cpu-lite` preset starts from it; the other presets start from the motion model.
Frames: T_a_b maps points in frame b to frame a (camera optical frames); depth in metres, 0
invalid.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.open3d_threads import open3d_single_thread
from slam_nodes.types import CameraModel, RGBDFrame, invert_pose

logger = logging.getLogger(__name__)


@dataclass
class OdometryResult:
    """T_prev_cur: [4, 4] float64 current camera -> previous camera; fitness: share of the
    current frame's valid pixels with a correspondence; inlier_rmse_m: residual of those."""

    T_prev_cur: np.ndarray
    fitness: float
    inlier_rmse_m: float

    def plausible(self, min_fitness: float, max_step_m: float,
                  T_expected: np.ndarray | None = None) -> bool:
        """Enough overlap, a finite pose, and a step within max_step_m metres of the expected
        one (T_expected [4, 4], previous -> current camera, e.g. the motion model's; none: of
        no motion)."""
        t_exp = np.zeros(3) if T_expected is None else np.asarray(T_expected)[:3, 3]
        return bool(self.fitness >= min_fitness and np.isfinite(self.T_prev_cur).all()
                    and np.linalg.norm(self.T_prev_cur[:3, 3] - t_exp) <= max_step_m)


def rgbd_image(depth_m: np.ndarray, rgb: np.ndarray | None = None):
    """Open3D tensor RGBDImage from depth [H, W] metres (non-finite -> 0 = invalid) and
    optional colour uint8 [H, W, 3] (stored as float32 in [0, 1]; None: a black single-channel
    image, enough for point-to-plane odometry: Open3D warns on every frame without one)."""
    import open3d as o3d
    import open3d.core as o3c

    depth = np.where(np.isfinite(depth_m), depth_m, 0).astype(np.float32)
    color = np.zeros(depth.shape, np.float32) if rgb is None else \
        np.asarray(rgb, dtype=np.float32) / 255.0
    color = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(color)))
    return o3d.t.geometry.RGBDImage(color, o3d.t.geometry.Image(o3c.Tensor(depth)))


def rgbd_odometry(cur, prev, K: np.ndarray, T_init_prev_cur: np.ndarray, depth_max_m: float,
                  hybrid: bool = False) -> OdometryResult | None:
    """T_prev_cur of `cur` against `prev` (Open3D RGBDImages from `rgbd_image`, one camera with
    intrinsics K [3, 3] at their resolution), starting from T_init_prev_cur [4, 4]; depth beyond
    depth_max_m is ignored. hybrid adds Open3D's photometric term (both images need colour).
    None when Open3D gives up (a singular system: too few correspondences)."""
    import open3d.core as o3c
    from open3d.t.pipelines import odometry

    method = odometry.Method.Hybrid if hybrid else odometry.Method.PointToPlane
    try:
        with open3d_single_thread():
            res = odometry.rgbd_odometry_multi_scale(
                cur, prev, o3c.Tensor(np.asarray(K, dtype=np.float64)),
                o3c.Tensor(np.asarray(T_init_prev_cur, dtype=np.float64)), 1.0, depth_max_m,
                method=method)
    except RuntimeError:
        return None
    return OdometryResult(res.transformation.numpy(), float(res.fitness), float(res.inlier_rmse))


def checked_odometry(cur, prev, K: np.ndarray, T_init_prev_cur: np.ndarray,
                     depth_max_m: float, slide_m: float,
                     plausible: Callable[[OdometryResult], bool]) -> OdometryResult | None:
    """Point-to-plane odometry checked by the hybrid (arguments as `rgbd_odometry`; both images
    need colour): the hybrid, started from the point-to-plane result (from T_init_prev_cur
    when it has none), replaces that result when `plausible` and more than slide_m metres
    away in translation. Where the depth constrains every direction the two agree to a few
    millimetres and depth alone is the more accurate; facing a flat wall a sideways step leaves
    the depth unchanged (point-to-plane slides or has no solution) and the texture shows it.
    Started from the point-to-plane result the photometric term only moves the pose along what
    the depth leaves loose; started from the prediction it loses fast turns (an 8 degree turn
    in one frame: a 0.23 m step). Measured from the true previous pose (bench_enslam's 1 s
    clips, 128x96, translation error per frame, mean / max cm): room-blur point-to-plane 0.56
    / 5.62, hybrid 0.46 / 1.15, checked 0.37 / 1.58; room-normal and room-dark 0.16 / 0.31,
    hybrid 0.52 / 0.98 and 0.49 / 1.20, checked the same as point-to-plane (no frame switched).
    """
    res = rgbd_odometry(cur, prev, K, T_init_prev_cur, depth_max_m)
    start = T_init_prev_cur if res is None else res.T_prev_cur
    hyb = rgbd_odometry(cur, prev, K, start, depth_max_m, hybrid=True)
    if hyb is None or not plausible(hyb):
        return res
    if res is None or np.linalg.norm(hyb.T_prev_cur[:3, 3] - res.T_prev_cur[:3, 3]) > slide_m:
        return hyb
    return res


#: odometry methods of `odometry_by_method` (the icp engine's and DepthOdometryPrior's choice)
ODOMETRY_METHODS = ("point_to_plane", "hybrid", "checked")


def odometry_by_method(method: str, cur, prev, K: np.ndarray, T_init_prev_cur: np.ndarray,
                       depth_max_m: float, slide_m: float,
                       plausible: Callable[[OdometryResult], bool]) -> OdometryResult | None:
    """`rgbd_odometry` ("point_to_plane", "hybrid") or `checked_odometry` ("checked")."""
    if method == "checked":
        return checked_odometry(cur, prev, K, T_init_prev_cur, depth_max_m, slide_m, plausible)
    return rgbd_odometry(cur, prev, K, T_init_prev_cur, depth_max_m, hybrid=method == "hybrid")


@dataclass
class OdometryFrame:
    """A frame's depth prepared for odometry: `image` (Open3D RGBDImage, depth only), K [3, 3]
    and size (width, height) px at the odometry resolution."""

    image: object
    K: np.ndarray
    size: tuple[int, int]


class DepthOdometryPrior:
    """Initial guess of the neural tracker from depth odometry against a recent tracked frame
    (module doc).

    max_width_px: odometry resolution cap (columns; the aspect ratio is kept, never upscaled;
    None: the input's own size);
    depth_max_m: depth beyond is ignored; min_fitness, max_step_m: `OdometryResult.plausible`;
    min_width_px: depth images narrower than this give no guess (logged once); method (frames
    without colour give no guess unless it is "point_to_plane"):
    - "point_to_plane": depth alone;
    - "hybrid": Open3D's depth plus photometric term on the frames' colour;
    - "checked": point-to-plane, replaced by the hybrid's pose where the two translations
      differ by more than slide_m metres (or point-to-plane has no solution): there the depth
      leaves a direction unconstrained (a slide along a wall) and the texture shows it, while
      elsewhere the depth alone is the more accurate (`checked_odometry`);
    keyframe_every: the reference frame is the tracked frame of at most this many frames ago
    (1: the previous frame); a frame whose odometry gave no guess becomes the reference once
    it is tracked (a frame without depth or lost by tracking never does). Why: each odometry
    carries an error of its own, biased where noisy, holed depth faces a flat wall (~1 cm a
    frame sideways at 128x96 on the synthetic rooms); chained frame to frame those errors add
    up every frame, against a reference kept for N frames they add up once per N frames, and
    the frames between are measured from the same reference;
    keyframe_check_m: a guess against an older reference is also made against the previous
    frame, and when the two positions lie further apart than this (metres; rotations are not
    compared) the older reference's is taken for a wrong minimum: the previous frame's is
    used and that frame becomes the reference (a previous frame tracked far off passes its
    error on, as with keyframe_every 1);
    check_always: False makes that second odometry lazy: it runs only when the reference's
    guess lies further than keyframe_check_m from the prediction T_pred (the icp engine, where
    the odometry is all the cost: the same ATE on every bench_icp sequence, 1.2-1.8x the
    frames/s, the second call needed on 3 of 299 room-blur frames and none elsewhere).
    Measured (cpu-lite, RGB-D-only, seed 0, 128x96 synthetic, ATE cm, keyframe_every
    1 / 3 / 4): room-normal's wall stretch (1 s from 1.8 s) 4.37 / 0.85 / 1.05, room-blur's
    first 0.8 s 5.14 / 2.60 / 1.54, bench_enslam's clips room-normal 0.51 / 0.34 / 0.45,
    room-dark 0.39 / 0.30 / 0.47, room-blur 1.84 / 1.20 / 0.81; room-normal's whole 10 s 7.77
    / 3.54 / 2.61; 7-Scenes 0-74 (real Kinect depth, 160x120, seeds 0/1/2) 0.78 / 0.60 / 0.70
    mean. Without the check a wrong minimum 28 cm off was kept at 4 (wall stretch 17.9 cm)
    and at 8 frames the overlap with a turning camera gets too small (55.8 cm).
    """

    def __init__(self, max_width_px: int | None, depth_max_m: float, min_fitness: float,
                 max_step_m: float, min_width_px: int = 0, method: str = "point_to_plane",
                 slide_m: float = 0.015, keyframe_every: int = 1,
                 keyframe_check_m: float = 0.05, check_always: bool = True) -> None:
        import open3d  # noqa: F401 - slow first import paid here, not on the second frame

        if max_width_px is not None and max_width_px < 16:
            raise ConfigError(f"depth odometry: max_width_px must be >= 16, got {max_width_px}")
        self.max_width_px = max_width_px
        self.min_width_px = int(min_width_px)
        self._narrow_logged = False
        self.depth_max_m = float(depth_max_m)
        self.min_fitness = float(min_fitness)
        self.max_step_m = float(max_step_m)
        if method not in ODOMETRY_METHODS:
            raise ConfigError(f"depth odometry: unknown method {method!r}")
        self.method = method
        self.slide_m = float(slide_m)
        if keyframe_every < 1:
            raise ConfigError(f"depth odometry: keyframe_every must be >= 1, got {keyframe_every}")
        if keyframe_check_m < 0:
            raise ConfigError(f"depth odometry: keyframe_check_m must be >= 0, got "
                              f"{keyframe_check_m}")
        self.keyframe_every = int(keyframe_every)
        self.keyframe_check_m = float(keyframe_check_m)
        self.check_always = bool(check_always)
        # (odometry frame, T_world_cam [4, 4]) of the reference and of the last tracked frame
        self._ref: tuple[OdometryFrame, np.ndarray] | None = None
        self._last: tuple[OdometryFrame, np.ndarray] | None = None
        self._tracked_since_ref = 0      # tracked frames since the reference
        self._renew = True               # the next tracked frame becomes the reference
        self.last_result: OdometryResult | None = None   # behind the last guess given

    def prepare(self, frame: RGBDFrame | None) -> OdometryFrame | None:
        """The frame's depth (and colour unless the method is "point_to_plane") at the odometry
        resolution; None without a depth image (or without the colour the method needs)."""
        import cv2

        colour = self.method != "point_to_plane"
        if frame is None or frame.depth is None or (colour and frame.rgb is None):
            return None
        cam: CameraModel = frame.camera
        if cam.width < self.min_width_px:
            if not self._narrow_logged:
                logger.info("depth %dx%d is narrower than %d px: no depth-odometry guess, "
                            "tracking starts from the motion model", cam.width, cam.height,
                            self.min_width_px)
                self._narrow_logged = True
            return None
        depth = np.where(np.isfinite(frame.depth), frame.depth, 0).astype(np.float32)
        rgb = frame.rgb if colour else None
        s = 1.0 if self.max_width_px is None else min(1.0, self.max_width_px / cam.width)
        if s < 1.0:
            cam = cam.scaled(s)
            depth = cv2.resize(depth, (cam.width, cam.height), interpolation=cv2.INTER_NEAREST)
            if rgb is not None:
                rgb = cv2.resize(rgb, (cam.width, cam.height), interpolation=cv2.INTER_AREA)
        return OdometryFrame(rgbd_image(depth, rgb), np.asarray(cam.K, dtype=np.float64),
                             (cam.width, cam.height))

    def remember(self, frame: OdometryFrame | None, T_world_cam: np.ndarray) -> None:
        """A frame was tracked at T_world_cam [4, 4]: it is the previous frame of the next guess,
        and becomes the reference when the reference is `keyframe_every` tracked frames old or
        the last guess asked for a new one (it failed, or the reference's guess was taken for a
        wrong minimum). A frame without depth leaves the older ones in place (its pose is its
        own)."""
        if frame is None:
            return
        self._last = (frame, np.array(T_world_cam, dtype=np.float64))   # a copy: kept frames
        self._tracked_since_ref += 1
        if self._renew or self._tracked_since_ref >= self.keyframe_every:
            self._ref, self._tracked_since_ref, self._renew = self._last, 0, False

    def guess(self, frame: OdometryFrame | None, T_pred: np.ndarray
              ) -> tuple[np.ndarray | None, str]:
        """(T_world_cam [4, 4] or None, why not) for `frame`, odometry initialised with the
        motion model's prediction T_pred [4, 4]: against the reference frame, checked against
        the previous frame when that is another one (the class docstring)."""
        T, why, res = self._odometry(frame, T_pred, self._ref)
        renew = T is None
        departed = T is None or np.linalg.norm(T[:3, 3] - T_pred[:3, 3]) > self.keyframe_check_m
        if self._last is not self._ref and (self.check_always or departed):
            T_last, why_last, res_last = self._odometry(frame, T_pred, self._last)
            if T_last is not None and (T is None or np.linalg.norm(T[:3, 3] - T_last[:3, 3])
                                       > self.keyframe_check_m):
                T, why, res, renew = T_last, why_last, res_last, True
        self._renew = renew
        self.last_result = res if T is not None else None
        return T, why

    def _odometry(self, frame: OdometryFrame | None, T_pred: np.ndarray,
                  ref: tuple[OdometryFrame, np.ndarray] | None
                  ) -> tuple[np.ndarray | None, str, OdometryResult | None]:
        """`guess` against one reference (its frame, T_world_ref [4, 4]), with the odometry's
        result when it ran."""
        if frame is None:
            return None, "no depth image", None
        if ref is None:
            return None, "no reference frame yet", None
        ref_frame, T_world_ref = ref
        if frame.size != ref_frame.size or not np.allclose(frame.K, ref_frame.K):
            return None, "camera intrinsics changed", None
        T_init = invert_pose(T_world_ref) @ T_pred

        def plausible(r: OdometryResult) -> bool:
            return r.plausible(self.min_fitness, self.max_step_m, T_init)

        res = odometry_by_method(self.method, frame.image, ref_frame.image, frame.K, T_init,
                                 self.depth_max_m, self.slide_m, plausible)
        if res is None:
            return None, "odometry failed (singular system)", None
        # the step is judged against the motion model's: after a gap in the frames (an RGB-D
        # dropout bridged by events) the reference frame can be far behind, and a long step
        # is then what the prediction expects (bench_enslam's room-dark clip, 0.5 s dropout,
        # seed 0: a 0.32 m step rejected against a bound on the step itself left tracking to
        # start from the 8.7 cm-off prediction, and a 10.3 cm offset stayed; judged against
        # the prediction it is kept: 6.0 cm on that frame, 5.0 cm at the clip's end)
        if not plausible(res):
            return None, (f"odometry implausible (fitness {res.fitness:.2f}, step "
                          f"{np.linalg.norm(res.T_prev_cur[:3, 3]):.2f} m, predicted "
                          f"{np.linalg.norm(T_init[:3, 3]):.2f} m)"), res
        return T_world_ref @ res.T_prev_cur, "", res
