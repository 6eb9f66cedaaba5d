"""SlamSystem: the RGB-D / LiDAR neural implicit SLAM core (Co-SLAM design), one entry point.

``step(observation) -> StepResult`` tracks the rig pose against the field, adds keyframes to a
growable ray store and runs bundle adjustment on an interleaved schedule. It prints nothing,
writes no files and imports no ROS; `build_system(config)` is the factory that unpacks the
config into components with literal arguments.

Tracking ignores a `tracking.edge_px` image border; mapping and keyframes use the whole image
(as Co-SLAM does: its `ignore_edge` is a tracking setting), and every tracked frame's measured
endpoints mark the observed region that meshing keeps (`observed`, slam_nodes.mesh.coverage).

Scene bounds come from the config or from the first frame (+ `mapping.bounds_margin_m`); when
a tracked frame reaches past them they grow and the map moves to a new field (`_grow_bounds`).
A lost frame coasts on the constant-velocity model (a twist per second, so a frame after a
dropped one is predicted that much further), and recovery starts from that prediction.
Each frame's pose optimisation starts from that prediction, or (`tracking.init:
depth_odometry`) from depth odometry against a recent tracked frame initialised with it, when
plausible (slam_nodes.slam.depth_odometry); `StepResult.init` says which.

The rig frame is the camera's optical frame when the observation has a camera, else the LiDAR
frame (`T_world_cam` in results then means the LiDAR pose). Bad input (no valid depth, NaN
depth, stamps going backwards, gaps) is skipped or handled and named in `StepResult.reason`.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from slam_nodes.errors import ConfigError
from slam_nodes.field.field import SdfField
from slam_nodes.field.losses import LossWeights
from slam_nodes.mesh.coverage import ObservedVoxels
from slam_nodes.slam.config import SlamConfig, load_config, to_dict
from slam_nodes.slam.depth_odometry import DepthOdometryPrior, OdometryFrame
from slam_nodes.slam.geometry import to_numpy_pose, to_torch_pose
from slam_nodes.slam.interpolation import extrapolate, mean_twist
from slam_nodes.slam.mapper import FieldTargets, Mapper
from slam_nodes.slam.objective import RaySampling
from slam_nodes.slam.rays import (KeyframeRayStore, RaySet, camera_rays, drop_depth_edges,
                                  interior_mask, lidar_rays, plane_span_rel)
from slam_nodes.slam.tracker import PosePrior, Tracker
from slam_nodes.types import LidarScan, RGBDFrame, Trajectory, invert_pose

logger = logging.getLogger(__name__)

MIN_MEASURED_RAYS = 32
GROW_OUTSIDE_FRACTION = 0.05      # share of a tracked frame's endpoints outside: bounds grow
TARGET_COPIES = 2                 # old-field targets per observed voxel when the bounds grow
GROW_MAPPING_CALLS = 3            # after a growth: mapper iterations = this x mapping.n_iters


@dataclass
class Observation:
    """One synchronised observation: an RGB-D frame and/or a LiDAR scan.

    T_rig_lidar: [4, 4] LiDAR -> rig (camera) extrinsic; None uses the config's.
    """

    stamp_ns: int
    rgbd: RGBDFrame | None = None
    lidar: LidarScan | None = None
    T_rig_lidar: np.ndarray | None = None


@dataclass
class StepResult:
    """Outcome of one step.

    T_world_cam: [4, 4] float64 rig pose estimate (None only if nothing is known yet);
    tracking_ok: the quality check passed and the frame was used for mapping;
    loss: tracking objective at the chosen pose (mapping loss for the first frame);
    inlier_ratio: share of measured rays rendered within the inlier threshold;
    timings_ms: per stage (preprocess, tracking, mapping, total; odometry: the initial guess,
    part of tracking); skipped: frame not used;
    reason: why it was skipped or what was handled ("" when nothing happened);
    init: where tracking started, "motion_model" or "depth_odometry" ("" when not tracked).
    """

    stamp_ns: int
    T_world_cam: np.ndarray | None
    tracking_ok: bool
    loss: float
    timings_ms: dict = field(default_factory=dict)
    inlier_ratio: float = float("nan")
    skipped: bool = False
    reason: str = ""
    keyframe: bool = False
    mapped: bool = False
    init: str = ""


@dataclass
class FrameRecord:
    """One processed frame, kept relative to a keyframe so bundle adjustment moves it along."""

    stamp_ns: int
    kf_ref: int              # keyframe whose pose this frame is expressed against
    T_kf_rig: np.ndarray     # [4, 4] pose relative to that keyframe
    ok: bool


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise ConfigError(f"invalid device {name!r}") from err
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available")
    return dev


class SlamSystem:
    """Tracking + mapping over a hash-grid SDF field. Build with `build_system`."""

    def __init__(self, config: SlamConfig, initial_T_world_cam: np.ndarray | None = None) -> None:
        self.config = config
        if not 0 <= config.depth_edge_max_incidence_deg < 90:
            raise ConfigError("depth_edge_max_incidence_deg must be in [0, 90) degrees (0 = keep "
                              f"every depth pixel), got {config.depth_edge_max_incidence_deg}")
        self.device = resolve_device(config.device)
        if config.num_threads > 0:
            torch.set_num_threads(config.num_threads)
        c = config
        self.sampling = RaySampling(c.render.truncation_m, c.render.n_uniform, c.render.n_surface,
                                    c.render.surface_range_m, c.render.near_m, c.render.far_m)
        self.weights = LossWeights(c.loss.rgb_weight, c.loss.depth_weight, c.loss.sdf_weight,
                                   c.loss.free_space_weight, c.loss.smooth_weight,
                                   c.loss.s3im_weight)
        self.tracker = Tracker(c.tracking.n_iters, c.tracking.n_rays, c.tracking.lr_rot,
                               c.tracking.lr_trans, self.sampling, self.weights,
                               c.tracking.inlier_threshold_m, c.tracking.min_inlier_ratio)
        t = c.tracking
        self.odometry = DepthOdometryPrior(
            t.odometry_max_width_px, c.max_depth_m, t.odometry_min_fitness,
            t.odometry_max_step_m, t.odometry_min_width_px, t.odometry_method,
            t.odometry_slide_m, t.odometry_keyframe_every, t.odometry_keyframe_check_m
        ) if t.init == "depth_odometry" else None
        self.odometry_prior = self._odometry_prior(t)
        self.T_rig_lidar = np.eye(4) if c.lidar.T_rig_lidar is None else \
            np.asarray(c.lidar.T_rig_lidar, dtype=np.float64).reshape(4, 4)
        self.initial_T = np.eye(4) if initial_T_world_cam is None else \
            np.asarray(initial_T_world_cam, dtype=np.float64).reshape(4, 4)
        self.generator = torch.Generator(device=self.device).manual_seed(c.seed)
        self.field: SdfField | None = None
        self.mapper: Mapper | None = None
        self.store = KeyframeRayStore(self.device)
        self.observed: ObservedVoxels | None = None
        self.frames: list[FrameRecord] = []
        self.n_processed = 0
        self._last_stamp: int | None = None
        self._twist = np.zeros(6)         # constant-velocity model, world frame, per second
        if c.tracking.velocity_frames < 1:
            raise ConfigError(f"tracking.velocity_frames must be >= 1, got "
                              f"{c.tracking.velocity_frames}")
        # (stamp ns, T_world_rig) of the last velocity_frames + 1 poses (tracked, accepted or
        # coasted): the velocity's span, and the last of them is `_T_last`
        self._recent: deque[tuple[int, np.ndarray]] = deque(
            maxlen=c.tracking.velocity_frames + 1)

    @staticmethod
    def _odometry_prior(t) -> PosePrior | None:
        """The tracker's prior toward an odometry start (TrackingConfig t); None when both
        sigmas are 0 or frames never start from the odometry (init "motion_model")."""
        sigmas = (t.odometry_prior_sigma_rot_rad, t.odometry_prior_sigma_m)
        if min(sigmas) < 0:
            raise ConfigError(f"tracking.odometry_prior_sigma_rot_rad and _sigma_m must be >= 0 "
                              f"(0 = no prior on that part), got {sigmas}")
        return PosePrior(*sigmas) if max(sigmas) > 0 and t.init == "depth_odometry" else None

    # ------------------------------------------------------------------ motion model
    @property
    def last_stamp_ns(self) -> int | None:
        """Stamp of the last frame accepted for tracking (int64 ns), None before the first."""
        return self._last_stamp

    @property
    def T_last(self) -> np.ndarray | None:
        """T_world_rig [4, 4] of the last tracked frame (a copy), None before the first."""
        return None if self._T_last is None else self._T_last.copy()

    def predicted_pose(self, stamp_ns: int) -> np.ndarray:
        """T_world_rig [4, 4] the constant-velocity model predicts at `stamp_ns` (int64 ns):
        the last pose moved on by the mean twist (per second) for the time since it, so a
        frame after a dropped one or a dropout is predicted that much further."""
        dt_s = (int(stamp_ns) - self._recent[-1][0]) * 1e-9
        return extrapolate(self._T_last, self._twist, dt_s)

    @property
    def _T_last(self) -> np.ndarray | None:
        """The last pose, tracked, accepted or coasted (T_world_rig [4, 4]); None before the
        first frame."""
        return self._recent[-1][1] if self._recent else None

    def _advance(self, stamp: int, T: np.ndarray) -> None:
        """The rig is at T_world_rig T [4, 4] at `stamp` (ns): the last pose and the
        constant-velocity model move on; the velocity is the mean twist over the last
        `tracking.velocity_frames` steps (interpolation.mean_twist)."""
        self._recent.append((stamp, T))
        stamps, poses = zip(*self._recent)
        self._twist = mean_twist(stamps, poses)

    def accept_pose(self, stamp: int, T: np.ndarray) -> None:
        """Take T_world_rig [4, 4] at `stamp` (ns) as tracked without mapping it (e.g. EN-SLAM's
        event-only tracking): motion model, last pose and stamp advance, the frame is recorded."""
        self._advance(stamp, T)
        self._last_stamp = stamp
        self.frames.append(self._frame_record(stamp, T, True))

    def _frame_record(self, stamp: int, T: np.ndarray, ok: bool) -> FrameRecord:
        kf = self.store.n_keyframes - 1
        T_kf = to_numpy_pose(self.store.poses[kf])
        return FrameRecord(stamp, kf, invert_pose(T_kf) @ T, ok)

    # ------------------------------------------------------------------ field set-up
    def _init_field(self, bounds_m: np.ndarray) -> None:
        e = self.config.encoding
        self.field = SdfField(bounds_m, e.n_levels, e.n_features_per_level, e.log2_hashmap_size,
                              e.base_resolution, e.finest_voxel_m, e.one_blob_bins, e.geo_dims,
                              e.mlp_width, e.mlp_hidden_layers, e.implementation, self.device,
                              self.config.seed)
        m, lo = self.config.mapping, self.config.loss
        self.mapper = Mapper(self.field, m.n_rays, m.current_ray_fraction, m.lr_grid,
                             m.lr_decoder, m.lr_pose_rot, m.lr_pose_trans, m.optimize_poses,
                             self.sampling, self.weights, lo.smooth_grid_size,
                             lo.smooth_spacing_m)
        self.observed = ObservedVoxels(self.field.bounds[0].cpu().numpy(),
                                       self.config.mesh.voxel_size_m)

    def _bounds_from(self, rays: RaySet, T: np.ndarray) -> np.ndarray:
        if self.config.mapping.bounds_m is not None:
            return np.asarray(self.config.mapping.bounds_m, dtype=np.float64).reshape(2, 3)
        m = rays.target_t > 0
        o, d = rays.select(m).to_world(to_torch_pose(T, self.device))
        pts = (o + d * rays.target_t[m][:, None]).cpu().numpy().astype(np.float64)
        lo, hi = np.percentile(pts, 0.5, axis=0), np.percentile(pts, 99.5, axis=0)
        lo = np.minimum(lo, T[:3, 3])
        hi = np.maximum(hi, T[:3, 3])
        margin = self.config.mapping.bounds_margin_m
        return np.stack([lo - margin, hi + margin])

    def _grow_bounds(self, rays: RaySet, T: np.ndarray) -> str:
        """Grow the scene bounds when over GROW_OUTSIDE_FRACTION of the frame's endpoints (rig
        pose T [4, 4]) lie outside them; returns a note ("" when nothing changed).

        A hash-grid field cannot be re-shaped in place (its cells are fractions of the
        bounds), so the new field, over the old bounds and this frame's `_bounds_from`, is
        learnt in two steps with the poses held: `mapping.first_iters` steps fitting it to the
        old field's values in the truncation band around the observed voxels (`FieldTargets`,
        `mapping.n_rays` points a step: point queries, no rendering; the store keeps a sparse
        share of the keyframes' pixels only, so re-learning from it alone lost what the map had
        learnt from every mapped frame), then GROW_MAPPING_CALLS x `mapping.n_iters` mapper
        iterations on the keyframe store and this frame (targets kept), which learn what the
        old bounds left out. `mapping.first_iters` mapper iterations instead (the earlier
        scheme) took ~4x as long (room-blur clip of benchmarks/bench_enslam.py, cpu-lite,
        loaded machine: 55 vs 15 s) and tracked no better after it (seed 0 event mode 9.5 vs
        5.9 cm, seed 1 RGB-D-only 13.1 vs 10.9 cm ATE, one run each). The lower corner moves
        by whole mesh voxels, so the observed voxels carry over on the same lattice. Bounds
        given in the config never grow.
        """
        if self.config.mapping.bounds_m is not None:
            return ""
        Tt = to_torch_pose(T, self.device)
        outside = float((~self.field.inside(rays.endpoints(Tt))).float().mean())
        if outside <= GROW_OUTSIDE_FRACTION:
            return ""
        old = self.field.bounds.cpu().numpy().astype(np.float64)
        frame = self._bounds_from(rays, T)
        vox = self.config.mesh.voxel_size_m
        lo = old[0] - np.ceil(np.maximum(old[0] - frame[0], 0.0) / vox) * vox
        bounds = np.stack([lo, np.maximum(old[1], frame[1])])
        observed = self.observed.centres()
        targets = FieldTargets.sample(
            self.field, torch.as_tensor(observed, dtype=torch.float32, device=self.device),
            self.config.render.truncation_m, TARGET_COPIES, self.generator)
        self._init_field(bounds)
        self.observed.add(observed)
        m = self.config.mapping
        self.mapper.fit_targets(targets, m.first_iters, m.n_rays, self.generator)
        optimize_poses = self.mapper.optimize_poses
        self.mapper.optimize_poses = False
        self.mapper.optimise(self.store, rays, Tt, GROW_MAPPING_CALLS * m.n_iters,
                             self.generator, optimize_current=False, targets=targets)
        self.mapper.optimize_poses = optimize_poses
        return (f"{outside:.0%} of the endpoints outside the scene bounds: grown to "
                f"{np.round(bounds, 2).tolist()} m and the map carried over")

    # ------------------------------------------------------------------ input
    def _rays(self, obs: Observation) -> tuple[RaySet, torch.Tensor, RaySet, str]:
        """(all rays, tracking mask [N] bool, keyframe subset, note) of an observation at
        processing resolution; the mask drops the camera's `tracking.edge_px` border."""
        import cv2

        c = self.config
        parts, track, kf_parts, note = [], [], [], ""
        if obs.rgbd is not None and obs.rgbd.depth is not None:
            fr = obs.rgbd
            cam, depth, rgb = fr.camera, fr.depth, fr.rgb
            bad = ~np.isfinite(depth)
            if bad.any():
                note = f"{int(bad.sum())} non-finite depth values treated as invalid"
                depth = np.where(bad, 0.0, depth).astype(np.float32)
            if c.depth_edge_max_incidence_deg > 0:
                depth = drop_depth_edges(depth, plane_span_rel(
                    min(cam.fx, cam.fy), c.depth_edge_max_incidence_deg))
            s = c.image_scale
            if s != 1.0:
                cam = cam.scaled(s)
                size = (cam.width, cam.height)
                depth = cv2.resize(depth, size, interpolation=cv2.INTER_NEAREST)
                rgb = None if rgb is None else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
            rays = camera_rays(cam, depth, rgb, 0, c.min_depth_m, c.max_depth_m, self.device)
            parts.append(rays)
            track.append(interior_mask(cam.height, cam.width, int(round(c.tracking.edge_px * s)),
                                       self.device))
            n_kf = max(1, int(len(rays) * c.mapping.keyframe_pixel_fraction))
            kf_parts.append(rays.select(torch.randperm(len(rays), generator=self.generator,
                                                       device=self.device)[:n_kf]))
        if obs.lidar is not None and len(obs.lidar) > 0:
            T = self.T_rig_lidar if obs.T_rig_lidar is None else np.asarray(obs.T_rig_lidar)
            rays = lidar_rays(obs.lidar, T, c.lidar.min_range_m, c.lidar.max_range_m,
                              self.device)
            if len(rays):
                parts.append(rays)
                track.append(torch.ones(len(rays), dtype=torch.bool, device=self.device))
                n_kf = max(1, int(len(rays) * c.lidar.keyframe_ray_fraction))
                kf_parts.append(rays.select(torch.randperm(len(rays), generator=self.generator,
                                                           device=self.device)[:n_kf]))
        if not parts:
            z = torch.zeros(0, 3, device=self.device)
            none = RaySet(z, z, torch.zeros(0, device=self.device), z,
                          torch.zeros(0, dtype=torch.bool, device=self.device))
            return none, torch.zeros(0, dtype=torch.bool, device=self.device), none, note
        return RaySet.concatenate(parts), torch.cat(track), RaySet.concatenate(kf_parts), note

    @staticmethod
    def _as_observation(obs: RGBDFrame | LidarScan | Observation) -> Observation:
        if isinstance(obs, Observation):
            return obs
        if isinstance(obs, RGBDFrame):
            return Observation(obs.stamp_ns, rgbd=obs)
        if isinstance(obs, LidarScan):
            return Observation(obs.stamp_ns, lidar=obs)
        raise TypeError(f"step() takes RGBDFrame, LidarScan or Observation, got {type(obs)}")

    # ------------------------------------------------------------------ main entry
    def step(self, observation: RGBDFrame | LidarScan | Observation) -> StepResult:
        """Process one observation; see the module docstring."""
        t0 = time.perf_counter()
        obs = self._as_observation(observation)
        stamp = int(obs.stamp_ns)
        timings: dict[str, float] = {}
        if self._last_stamp is not None and stamp <= self._last_stamp:
            reason = f"stamp {stamp} ns not after previous {self._last_stamp} ns: frame skipped"
            logger.warning(reason)
            return self._skip(stamp, reason, t0)
        rays, track_mask, kf_rays, note = self._rays(obs)
        odom = None if self.odometry is None else self.odometry.prepare(obs.rgbd)
        timings["preprocess"] = (time.perf_counter() - t0) * 1e3
        n_measured = int((rays.target_t > 0).sum()) if len(rays) else 0
        if n_measured < MIN_MEASURED_RAYS:
            reason = f"only {n_measured} valid depth/range measurements: frame skipped"
            if note:
                reason = f"{note}; {reason}"
            logger.warning("stamp %d: %s", stamp, reason)
            return self._skip(stamp, reason, t0)
        reasons = [note] if note else []
        if self._last_stamp is not None:
            gap_s = (stamp - self._last_stamp) * 1e-9
            if gap_s > self.config.tracking.max_gap_s:
                reasons.append(f"gap of {gap_s:.3f} s: constant-velocity model reset")
                self._twist = np.zeros(6)
        self._last_stamp = stamp
        if self.field is None:
            result = self._first_frame(stamp, rays, kf_rays, timings, odom)
        else:
            track_rays = rays.select(track_mask)
            if int((track_rays.target_t > 0).sum()) < MIN_MEASURED_RAYS:
                track_rays = rays                  # depth only near the border: use it all
            result = self._track_and_map(stamp, rays, track_rays, kf_rays, timings, reasons,
                                         odom)
        result.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
        if reasons:
            result.reason = "; ".join(r for r in [*reasons, result.reason] if r)
        return result

    def _skip(self, stamp: int, reason: str, t0: float) -> StepResult:
        T = None if self._T_last is None else self._T_last.copy()
        return StepResult(stamp, T, False, float("nan"),
                          {"total": (time.perf_counter() - t0) * 1e3}, skipped=True,
                          reason=reason)

    def _first_frame(self, stamp: int, rays: RaySet, kf_rays: RaySet, timings: dict,
                     odom: OdometryFrame | None) -> StepResult:
        t = time.perf_counter()
        T = self.initial_T.copy()
        self._init_field(self._bounds_from(rays, T))
        Tt = to_torch_pose(T, self.device)
        loss, _ = self.mapper.optimise(self.store, rays, Tt, self.config.mapping.first_iters,
                                       self.generator, optimize_current=False)
        self.store.add(stamp, Tt, kf_rays)
        self.observed.add(rays.endpoints(Tt).cpu().numpy())
        timings["tracking"] = 0.0
        timings["mapping"] = (time.perf_counter() - t) * 1e3
        self.frames.append(FrameRecord(stamp, 0, np.eye(4), True))
        if self.odometry is not None:
            self.odometry.remember(odom, T)
        self._recent.append((stamp, T))
        self.n_processed = 1
        return StepResult(stamp, T.copy(), True, loss, timings, inlier_ratio=1.0,
                          keyframe=True, mapped=True)

    def _track_and_map(self, stamp: int, rays: RaySet, track_rays: RaySet, kf_rays: RaySet,
                       timings: dict, reasons: list[str], odom: OdometryFrame | None
                       ) -> StepResult:
        """Track on `track_rays` from `_initial_guess`, then map with all `rays` and keep
        `kf_rays` on a keyframe; `odom` is the frame's depth for the odometry prior."""
        c = self.config
        t = time.perf_counter()
        T_pred = self.predicted_pose(stamp) if c.tracking.constant_velocity \
            else self._T_last.copy()
        T_init, init = self._initial_guess(stamp, T_pred, odom, reasons)
        timings["odometry"] = (time.perf_counter() - t) * 1e3
        res = self.tracker.track(self.field, track_rays, to_torch_pose(T_init, self.device),
                                 self.generator, prior=self.odometry_prior
                                 if init == "depth_odometry" else None)
        if not res.ok:
            res = self._recover(track_rays, res)
            reasons.append("tracking failed quality check; recovered against the map"
                           if res.ok else "tracking lost: frame not mapped")
        timings["tracking"] = (time.perf_counter() - t) * 1e3
        T = to_numpy_pose(res.T_world_rig)
        keyframe = mapped = False
        t = time.perf_counter()
        if res.ok:
            note = self._grow_bounds(rays, T)
            if note:
                reasons.append(note)
                logger.info("stamp %d: %s", stamp, note)
            idx = self.n_processed
            if idx % c.mapping.map_every == 0:
                _, T_ref = self.mapper.optimise(self.store, rays, res.T_world_rig,
                                                c.mapping.n_iters, self.generator)
                T = to_numpy_pose(T_ref)
                mapped = True
            if idx % c.mapping.keyframe_every == 0:
                self.store.add(stamp, to_torch_pose(T, self.device), kf_rays)
                keyframe = True
            self.observed.add(rays.endpoints(to_torch_pose(T, self.device)).cpu().numpy())
            self._advance(stamp, T)
            self.n_processed += 1
            if self.odometry is not None:
                self.odometry.remember(odom, T)
        else:
            # the camera keeps moving: coast on the motion model (velocity kept), so the next
            # frame's prediction and recovery start near where the camera is, not where it was
            T = T_pred
            self._recent.append((stamp, T_pred))
            logger.warning("stamp %d: tracking lost (inlier ratio %.2f)", stamp, res.inlier_ratio)
        timings["mapping"] = (time.perf_counter() - t) * 1e3
        self.frames.append(self._frame_record(stamp, T, res.ok))
        return StepResult(stamp, T, res.ok, res.loss, timings, inlier_ratio=res.inlier_ratio,
                          keyframe=keyframe, mapped=mapped, init=init)

    def _initial_guess(self, stamp: int, T_pred: np.ndarray, odom: OdometryFrame | None,
                       reasons: list[str]) -> tuple[np.ndarray, str]:
        """(T_world_rig [4, 4] the pose optimisation starts from, "motion_model" or
        "depth_odometry"): the odometry prior's guess when `tracking.init` asks for it and it
        is plausible, else the motion model's prediction T_pred. A rejected odometry is named
        in `reasons`; a frame without depth (LiDAR only) falls back silently."""
        if self.odometry is None:
            return T_pred, "motion_model"
        T, why = self.odometry.guess(odom, T_pred)
        if T is not None:
            return T, "depth_odometry"
        if odom is not None:
            reasons.append(f"{why}: tracking starts from the motion model")
            logger.info("stamp %d: %s: tracking starts from the motion model", stamp, why)
        return T_pred, "motion_model"

    def _recover(self, rays: RaySet, failed):
        """Re-initialise against the map from the last pose (coasted while lost) and the last
        keyframe."""
        candidates = [self._T_last, to_numpy_pose(self.store.poses[-1])]
        best = failed
        for T0 in candidates:
            r = self.tracker.track(self.field, rays, to_torch_pose(T0, self.device),
                                   self.generator, self.config.tracking.recovery_iters)
            if r.inlier_ratio > best.inlier_ratio:
                best = r
        return best

    # ------------------------------------------------------------------ outputs
    def trajectory(self, only_ok: bool = True) -> Trajectory:
        """Estimated T_world_rig of processed frames, each re-expressed against its (BA-refined)
        reference keyframe."""
        stamps, poses = [], []
        for rec in self.frames:
            if only_ok and not rec.ok:
                continue
            T_kf = to_numpy_pose(self.store.poses[rec.kf_ref])
            stamps.append(rec.stamp_ns)
            poses.append(T_kf @ rec.T_kf_rig)
        return Trajectory(np.asarray(stamps, dtype=np.int64),
                          np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4))

    def state_dict(self) -> dict:
        """Everything needed to rebuild the map (field, keyframes, frame records, config)."""
        if self.field is None:
            raise ConfigError("nothing to save: no frame has been processed")
        return {
            "config": to_dict(self.config), "bounds": self.field.bounds.cpu().numpy(),
            "field": {k: v.cpu() for k, v in self.field.state_dict().items()},
            "store": self.store.state_dict(), "observed": self.observed.state_dict(),
            "frames": [(r.stamp_ns, r.kf_ref, r.T_kf_rig, r.ok) for r in self.frames],
            "initial_T": self.initial_T, "T_last": self._T_last, "twist": self._twist,
            "last_stamp": self._last_stamp, "n_processed": self.n_processed,
        }

    def load_state_dict(self, state: dict) -> None:
        self._init_field(np.asarray(state["bounds"], dtype=np.float64))
        self.field.load_state_dict(state["field"])
        self.store.load_state_dict(state["store"])
        if "observed" in state:
            self.observed = ObservedVoxels.from_state_dict(state["observed"])
        else:   # checkpoints written before the observed region was kept: keyframe rays
            self.observed.add(self.store.endpoints_world())
        self.frames = [FrameRecord(int(s), int(k), np.asarray(T), bool(ok))
                       for s, k, T, ok in state["frames"]]
        self.initial_T = np.asarray(state["initial_T"])
        self._last_stamp = state["last_stamp"]
        self._recent.clear()
        self._recent.append((self._last_stamp, state["T_last"]))
        self._twist = state["twist"]
        self.n_processed = int(state["n_processed"])


def build_system(config: SlamConfig | dict | str | Path | None = None,
                 preset: str | None = None,
                 initial_T_world_cam: np.ndarray | None = None) -> SlamSystem:
    """The factory: a SlamSystem from a SlamConfig, a dict, a YAML path or a preset name."""
    if not isinstance(config, SlamConfig):
        config = load_config(config, preset)
    return SlamSystem(config, initial_T_world_cam)
