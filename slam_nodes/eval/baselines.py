"""Classical baselines on the CPU: Open3D's dense RGB-D SLAM and frame-to-frame RGB-D odometry.

Both take an iterable of `RGBDFrame`s (depth float32 metres, 0 invalid; rgb uint8 RGB) sharing
one pinhole camera, and return the camera trajectory T_world_cam (the first frame is the world,
so score it with an aligned ATE) in a `BaselineResult`.

- `run_open3d_slam`: `open3d.t.pipelines.slam.Model` (a KinectFusion-style TSDF voxel-block
  grid): each frame is tracked against a ray-cast of the model (point-to-plane ICP, i.e.
  depth-only tracking), then integrated; the mesh is marching cubes of the TSDF at the end.
  Mirrors Open3D's `examples/python/t_reconstruction_system/dense_slam.py` (its defaults: depth
  range 0.1-3 m, depth_diff 0.07 m, truncation 8 voxels), with 1 cm voxels by default.
- `run_open3d_odometry`: `open3d.t.pipelines.odometry.rgbd_odometry_multi_scale` between
  consecutive frames (method "hybrid" by default: depth + intensity), poses chained; no map.

Undistorted cameras only (Open3D's pinhole model); a distorted camera raises EvalError.
Both run on one Open3D thread, so a run repeats bit for bit (`slam_nodes.open3d_threads`).

Depth range: Open3D's 3 m default suits 7-Scenes (99 % of its depth is under 3.1 m) but cuts
about half the pixels of our synthetic room (median depth 3 m, up to 5.7 m), which leaves
too little geometry to pin the translation: on a slow synthetic room sequence the SLAM
baseline (2 cm voxels) scores 38 cm ATE at depth_max 3 m and 1.8 cm at 5 m.
`auto_depth_max` picks a depth_max that fits the scene (`slam-nodes baseline` uses it
unless --depth-max is given).

Known limitation (Open3D's, not fixed here on purpose): `track_frame_to_model` starts every
frame's ICP at the previous pose (no motion model; Open3D's API has no initial guess) with
6/3/1 iterations per pyramid level. On room-normal's fast hand-held segment (frames ~37-63 of
the 30 Hz sequence, up to 4 degrees and 4 cm per frame, ~120 deg/s) it converges to wrong
poses (step errors 7-20 cm from frame 42 on, after 0.2-0.5 cm before), the wrong poses are
fused into the model and it never recovers: 136-157 cm ATE at depth_max 4-6 m, where the
same trajectory without the fast segment scores 1.0-1.65 cm (1 / 2 cm voxels). It is the
iteration budget without a motion prior: the same loop with 20/10/5 iterations scores ~6 cm
on the fast sequence. We keep Open3D's defaults (what its dense_slam.py example runs).
Frame-to-frame odometry with a constant-velocity initial guess (`slam_nodes.nodes.icp_engine`)
tracks that motion (0.4 cm on the same bag).
"""

from __future__ import annotations

import functools
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.errors import EvalError
from slam_nodes.open3d_threads import open3d_single_thread
from slam_nodes.types import CameraModel, RGBDFrame, Trajectory

logger = logging.getLogger(__name__)

ODOMETRY_METHODS = ("hybrid", "point_to_plane", "intensity")


@dataclass
class BaselineResult:
    """trajectory: T_world_cam per tracked frame; mesh: trimesh.Trimesh or None;
    seconds: wall time of tracking + mapping (excluding frame loading and mesh extraction);
    frames_per_s: frames / seconds; lost: stamps (ns) of frames whose tracking failed (their
    pose is the previous one)."""

    trajectory: Trajectory
    mesh: object | None
    seconds: float
    frames_per_s: float
    lost: list[int] = field(default_factory=list)

    def extra(self) -> dict:
        """Numbers for the run's metrics.json "extra" section."""
        return {"frames": len(self.trajectory), "seconds": round(self.seconds, 3),
                "frames_per_s": round(self.frames_per_s, 3), "lost_frames": len(self.lost)}


def _quiet_open3d(func: Callable) -> Callable:
    """Run `func` with Open3D's console logging at Error level: its INFO/WARNING lines
    ("Reallocating fragments", "Property not found for color" from the ray-cast frame) are
    internal noise, and tracking failures are reported through our logger instead."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        import open3d as o3d

        with o3d.utility.VerbosityContextManager(o3d.utility.VerbosityLevel.Error):
            return func(*args, **kwargs)

    return wrapper


def auto_depth_max(frames: Iterable[RGBDFrame], *, keep: float = 0.95,
                   floor_m: float = 3.0, step_m: float = 0.5) -> float:
    """A depth_max (metres) that fits the scene: the `keep` quantile of the valid depth of
    `frames` (e.g. the first 30 of a sequence), rounded up to `step_m`, never below `floor_m`
    (Open3D's 3 m default, so scenes that fit in it keep it). EvalError when no frame has
    valid depth."""
    if not 0 < keep <= 1 or floor_m <= 0 or step_m <= 0:
        raise EvalError(f"auto_depth_max: need 0 < keep <= 1, floor_m > 0, step_m > 0; got "
                        f"{keep}, {floor_m}, {step_m}")
    depths = []
    for frame in frames:
        if frame.depth is None:
            continue
        d = np.asarray(frame.depth, dtype=np.float32)
        depths.append(d[np.isfinite(d) & (d > 0)])
    valid = np.concatenate(depths) if depths else np.empty(0, np.float32)
    if valid.size == 0:
        raise EvalError("cannot choose a depth_max: the frames hold no valid depth")
    q = float(np.quantile(valid, keep))
    return max(float(floor_m), float(np.ceil(q / step_m - 1e-9) * step_m))


def _intrinsics(camera: CameraModel):
    import open3d.core as o3c

    if camera.is_distorted:
        raise EvalError("the Open3D baselines need an undistorted (pinhole) camera; got "
                        f"distortion model {camera.distortion_model!r}")
    return o3c.Tensor(camera.K, o3c.float64)


def _check_frame(frame: RGBDFrame, camera: CameraModel, need_rgb: bool) -> np.ndarray:
    if frame.depth is None:
        raise EvalError(f"frame at {frame.stamp_ns} ns has no depth image")
    if frame.depth.shape != (camera.height, camera.width):
        raise EvalError(f"frame at {frame.stamp_ns} ns: depth {frame.depth.shape} differs from "
                        f"the camera {camera.height}x{camera.width}")
    if need_rgb and frame.rgb is None:
        raise EvalError(f"frame at {frame.stamp_ns} ns has no colour image")
    depth = np.asarray(frame.depth, dtype=np.float32)
    return np.where(np.isfinite(depth) & (depth > 0), depth, 0.0).astype(np.float32)


@_quiet_open3d
def run_open3d_slam(
    frames: Iterable[RGBDFrame],
    camera: CameraModel,
    *,
    voxel_size_m: float = 0.01,
    depth_min_m: float = 0.1,
    depth_max_m: float = 3.0,
    depth_diff_m: float = 0.07,
    trunc_voxel_multiplier: float = 8.0,
    block_count: int = 40_000,
    extract_mesh: bool = True,
    known_poses: np.ndarray | None = None,
) -> BaselineResult:
    """Open3D dense RGB-D SLAM (depth-only point-to-plane tracking against the model), CPU.

    frames: RGBDFrames of `camera` (depth metres). Returns trajectory T_world_cam (world = first
    camera) and the marching-cubes mesh (trimesh, metres) when extract_mesh.
    known_poses [N,4,4] T_world_cam: skip tracking and fuse the frames at these poses (TSDF
    mapping only, e.g. a reference mesh from ground-truth poses).
    depth_max_m: depth beyond it is ignored in tracking and mapping; 3 m is Open3D's default,
    use one that fits the scene (`auto_depth_max`). Tracking is Open3D's as shipped: no motion
    model, so it loses fast hand-held motion (~120 deg/s; see the module docstring).
    """
    import open3d as o3d
    import open3d.core as o3c

    if voxel_size_m <= 0:
        raise EvalError(f"voxel size must be positive, got {voxel_size_m}")
    K = _intrinsics(camera)
    # check the first frame before building the model (allocating it takes seconds)
    frames = _checked_start(frames, camera, "the Open3D baseline")
    device = o3c.Device("CPU:0")
    T = np.eye(4) if known_poses is None else np.asarray(known_poses[0], dtype=np.float64)
    model = o3d.t.pipelines.slam.Model(voxel_size_m, 16, block_count, o3c.Tensor(T), device)
    input_frame = o3d.t.pipelines.slam.Frame(camera.height, camera.width, K, device)
    raycast_frame = o3d.t.pipelines.slam.Frame(camera.height, camera.width, K, device)
    stamps, poses, lost = [], [], []
    seconds = 0.0
    # one Open3D thread: runs repeat bit for bit (slam_nodes.open3d_threads)
    with open3d_single_thread():
        for i, frame in enumerate(frames):
            depth = _check_frame(frame, camera, need_rgb=False)
            t0 = time.perf_counter()
            input_frame.set_data_from_image("depth", o3d.t.geometry.Image(o3c.Tensor(depth)))
            # colour is only integrated (for a coloured mesh), never used for tracking
            # (Open3D wants float colour in [0, 1] beside float depth)
            rgb = (np.asarray(frame.rgb, np.float32) / 255.0 if frame.rgb is not None
                   else np.full((*depth.shape, 3), 0.5, np.float32))
            input_frame.set_data_from_image(
                "color", o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(rgb))))
            if known_poses is not None:
                if i >= len(known_poses):
                    raise EvalError(f"known_poses has {len(known_poses)} poses, frames are more")
                T = np.asarray(known_poses[i], dtype=np.float64)
            elif i > 0:
                try:
                    result = model.track_frame_to_model(input_frame, raycast_frame, 1.0,
                                                        depth_max_m, depth_diff_m)
                    delta = result.transformation.numpy()
                    if not np.isfinite(delta).all() or result.fitness == 0:
                        raise RuntimeError(f"fitness {result.fitness}")
                    T = T @ delta
                except RuntimeError as err:  # Open3D raises RuntimeError when ICP fails
                    logger.warning("open3d slam: tracking lost at frame %d (%d ns): %s; keeping "
                                   "the previous pose", i, frame.stamp_ns, err)
                    lost.append(int(frame.stamp_ns))
            model.update_frame_pose(i, o3c.Tensor(T))
            model.integrate(input_frame, 1.0, depth_max_m, trunc_voxel_multiplier)
            model.synthesize_model_frame(raycast_frame, 1.0, depth_min_m, depth_max_m,
                                         trunc_voxel_multiplier, False)
            seconds += time.perf_counter() - t0
            stamps.append(int(frame.stamp_ns))
            poses.append(T.copy())
    mesh = _extract_mesh(model.voxel_grid) if extract_mesh else None
    n = len(poses)
    return BaselineResult(Trajectory(np.asarray(stamps), np.stack(poses)), mesh, seconds,
                          n / seconds if seconds > 0 else float("inf"), lost)


def _checked_start(frames: Iterable[RGBDFrame], camera: CameraModel,
                   what: str) -> Iterator[RGBDFrame]:
    """`frames` as an iterator whose first frame has been checked against `camera`
    (EvalError when there is none or its depth size differs)."""
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise EvalError(f"no frames to run {what} on")
    _check_frame(first, camera, need_rgb=False)
    return itertools.chain([first], it)


def _extract_mesh(voxel_grid):
    """Marching-cubes mesh of an Open3D VoxelBlockGrid as trimesh (None when empty)."""
    import trimesh

    tmesh = voxel_grid.extract_triangle_mesh()
    verts = tmesh.vertex.positions.numpy().astype(np.float64)
    if len(verts) == 0:
        logger.warning("open3d slam: the TSDF holds no surface; no mesh")
        return None
    faces = tmesh.triangle.indices.numpy().astype(np.int64)
    colors = None
    if "colors" in tmesh.vertex:
        colors = (np.clip(tmesh.vertex.colors.numpy(), 0, 1) * 255).astype(np.uint8)
    return trimesh.Trimesh(verts, faces, vertex_colors=colors, process=False)


@_quiet_open3d
def run_open3d_odometry(
    frames: Iterable[RGBDFrame],
    camera: CameraModel,
    *,
    method: str = "hybrid",
    depth_max_m: float = 3.0,
    depth_diff_m: float = 0.07,
) -> BaselineResult:
    """Frame-to-frame RGB-D odometry (Open3D tensor pipeline, multi-scale), poses chained.

    method: "hybrid" (depth + intensity), "point_to_plane" (depth only) or "intensity".
    """
    import open3d as o3d
    import open3d.core as o3c

    if method not in ODOMETRY_METHODS:
        raise EvalError(f"unknown odometry method {method!r}; expected one of {ODOMETRY_METHODS}")
    odo = o3d.t.pipelines.odometry
    o3d_method = {"hybrid": odo.Method.Hybrid, "point_to_plane": odo.Method.PointToPlane,
                  "intensity": odo.Method.Intensity}[method]
    K = _intrinsics(camera)
    criteria = [odo.OdometryConvergenceCriteria(n) for n in (6, 3, 1)]
    need_rgb = method != "point_to_plane"
    T = np.eye(4)
    prev = None
    stamps, poses, lost = [], [], []
    seconds = 0.0
    for frame in frames:
        depth = _check_frame(frame, camera, need_rgb)
        t0 = time.perf_counter()
        if need_rgb:
            color = o3d.t.geometry.Image(o3c.Tensor(np.ascontiguousarray(frame.rgb)))
        else:
            color = o3d.t.geometry.Image(o3c.Tensor(np.zeros((*depth.shape, 3), np.uint8)))
        rgbd = o3d.t.geometry.RGBDImage(color, o3d.t.geometry.Image(o3c.Tensor(depth)))
        if prev is not None:
            try:
                # T_prev_cur maps points of the current frame into the previous one
                with open3d_single_thread():
                    result = odo.rgbd_odometry_multi_scale(
                        rgbd, prev, K, o3c.Tensor(np.eye(4)), 1.0, depth_max_m, criteria,
                        o3d_method, odo.OdometryLossParams(depth_outlier_trunc=depth_diff_m))
                delta = result.transformation.numpy()
                if not np.isfinite(delta).all() or result.fitness == 0:
                    raise RuntimeError(f"fitness {result.fitness}")
                T = T @ delta
            except RuntimeError as err:
                logger.warning("open3d odometry: lost at %d ns: %s; keeping the previous pose",
                               frame.stamp_ns, err)
                lost.append(int(frame.stamp_ns))
        seconds += time.perf_counter() - t0
        prev = rgbd
        stamps.append(int(frame.stamp_ns))
        poses.append(T.copy())
    if not poses:
        raise EvalError("no frames to run the Open3D odometry baseline on")
    n = len(poses)
    return BaselineResult(Trajectory(np.asarray(stamps), np.stack(poses)), None, seconds,
                          n / seconds if seconds > 0 else float("inf"), lost)


def write_run(out_dir, result: BaselineResult, config: dict) -> None:
    """Write a baseline run in the run-folder layout (`slam_nodes.eval`): trajectory.tum,
    mesh.ply (when there is one), config.yaml and metrics.json holding only "extra" (frames/s);
    `slam-nodes eval` fills in the scores and keeps "extra". EvalError when it cannot write."""
    import json

    import yaml

    from slam_nodes.eval.report import FORMAT, METRICS_FILE, make_out_dir
    from slam_nodes.types import write_tum

    out = make_out_dir(out_dir)
    metrics = {"format": FORMAT, "name": out.resolve().name, "inputs": {}, "trajectory": None,
               "mesh": None, "figures": [], "extra": result.extra()}
    try:
        write_tum(out / "trajectory.tum", result.trajectory)
        if result.mesh is not None:
            result.mesh.export(out / "mesh.ply")
        (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (out / METRICS_FILE).write_text(json.dumps(metrics, indent=1))
    except OSError as err:
        raise EvalError(f"cannot write the run into {out}: {err}") from err
