"""Classical fallback engine ('engine.name: icp'): frame-to-keyframe RGB-D odometry + a TSDF map.

This is NOT EN-SLAM; it is an honest, cheap engine the node can run where the neural engine is
absent or too slow on the CPU. Tracking: Open3D's multi-scale RGB-D odometry
(`open3d.t.pipelines.odometry.rgbd_odometry_multi_scale`) at the input's size, through
`slam_nodes.slam.depth_odometry.DepthOdometryPrior` (the neural engine's odometry start): each
frame is measured against a reference frame renewed every `keyframe_every` frames (1: frame to
frame), checked against the previous frame where its guess departs from the prediction by
more than `keyframe_check_m` (DepthOdometryPrior's check_always False), initialised with a
constant-velocity guess (the mean twist per second of the last step, so a frame after a
dropped one starts that much further); a step further than `max_step_m` from the guess's, or
a fitness below `min_fitness`, is rejected: the frame keeps the guess and becomes the next
reference. `method`
"point_to_plane" (default, depth only), "hybrid" (plus the photometric term; a frame without
colour gets a black image, so depth alone) or "checked" (depth_odometry.checked_odometry).
Measured (`benchmarks/bench_icp`, README): a reference kept for 8 frames drifts less than
chaining every frame (7-Scenes 0-74 at 160x120 1.45 -> 0.51 cm, the demo's room 1.30 ->
0.22 cm), and depth to `depth_max_m` 6 m keeps the far walls of a room (with 4 m room-blur's
far-wall views fell below `min_fitness`, 7 frames, 14.5 cm ATE frame to frame).
Mapping: Open3D's `VoxelBlockGrid` TSDF integration of every `integrate_every`-th tracked
frame; the mesh is its marching-cubes surface.
World frame: the first frame's camera optical frame.

Determinism: the odometry call (`slam_nodes.slam.depth_odometry.rgbd_odometry`) runs on one
Open3D thread, so replays give bit-identical trajectories; the TSDF integration and the mesh
keep all threads.
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.nodes.engine import EngineStep, MeshData
from slam_nodes.slam.depth_odometry import ODOMETRY_METHODS, DepthOdometryPrior, rgbd_image
from slam_nodes.slam.interpolation import extrapolate, mean_twist
from slam_nodes.types import RGBDFrame, invert_pose, nearest_pose

_OPTIONS = {"voxel_size_m": 0.02, "depth_max_m": 6.0, "min_fitness": 0.3,
            "integrate_every": 1, "max_step_m": 0.3, "method": "point_to_plane",
            "slide_m": 0.015, "keyframe_every": 8, "keyframe_check_m": 0.05}


class IcpEngine:
    """Frame-to-keyframe RGB-D odometry with TSDF mapping (see module doc)."""

    def __init__(self, voxel_size_m: float = 0.02, depth_max_m: float = 6.0,
                 min_fitness: float = 0.3, integrate_every: int = 1,
                 max_step_m: float = 0.3, method: str = "point_to_plane",
                 slide_m: float = 0.015, keyframe_every: int = 8,
                 keyframe_check_m: float = 0.05) -> None:
        if method not in ODOMETRY_METHODS:
            raise ConfigError(f"icp engine: method must be one of {ODOMETRY_METHODS}, "
                              f"got {method!r}")
        self.method = method
        self.slide_m = float(slide_m)
        if voxel_size_m <= 0 or depth_max_m <= 0 or integrate_every < 1:
            raise ConfigError("icp engine: voxel_size_m, depth_max_m > 0 and "
                              "integrate_every >= 1 required")
        self.voxel_size_m = float(voxel_size_m)
        self.depth_max_m = float(depth_max_m)
        self.min_fitness = float(min_fitness)
        self.integrate_every = int(integrate_every)
        self.max_step_m = float(max_step_m)
        self.keyframe_every = int(keyframe_every)
        self.keyframe_check_m = float(keyframe_check_m)
        import open3d  # noqa: F401 - slow first import paid here, not on the first live frame

        self.reset()

    @classmethod
    def from_options(cls, options: dict, seed: int = 0) -> "IcpEngine":
        """Build from engine.options (unknown keys rejected). ICP uses no randomness."""
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"unknown engine.options for 'icp': {unknown}; "
                              f"allowed: {sorted(_OPTIONS)}")
        return cls(**{**_OPTIONS, **options})

    def reset(self) -> None:
        self._odometry = DepthOdometryPrior(
            None, self.depth_max_m, self.min_fitness, self.max_step_m, method=self.method,
            slide_m=self.slide_m, keyframe_every=self.keyframe_every,
            keyframe_check_m=self.keyframe_check_m, check_always=False)
        self._last: tuple[int, np.ndarray] | None = None   # (stamp ns, T_world_cam) of the last
        self._twist = np.zeros(6)       # constant-velocity model: world frame, per second
        self._grid = None
        self._frames = 0
        self._mesh_cache: MeshData | None = None

    # ------------------------------------------------------------------ tracking
    def step(self, frame: RGBDFrame) -> EngineStep:
        import open3d.core as o3c

        if frame.depth is None:
            raise ConfigError("icp engine needs depth images (inputs.depth: true)")
        if self._last is not None and frame.stamp_ns <= self._last[0]:
            raise ValueError(f"icp engine: frame stamp {frame.stamp_ns} ns is not after the "
                             f"previous frame's {self._last[0]} ns")
        t0 = time.perf_counter()
        if frame.rgb is None:
            frame = replace(frame, rgb=np.zeros(frame.depth.shape + (3,), np.uint8))
        cur = self._odometry.prepare(frame)
        ok, loss = True, 0.0
        if self._last is None:
            T_world_cur = np.eye(4)
        else:
            stamp_last, T_last = self._last
            T_pred = extrapolate(T_last, self._twist, (frame.stamp_ns - stamp_last) * 1e-9)
            T, _ = self._odometry.guess(cur, T_pred)
            ok = T is not None
            # keep the motion model rather than a wild estimate; re-projected onto SE(3) so the
            # chain of float products does not drift off it
            T_world_cur = nearest_pose(T) if ok else T_pred
            loss = self._odometry.last_result.inlier_rmse_m if ok else float("nan")
            self._twist = mean_twist([stamp_last, frame.stamp_ns], [T_last, T_world_cur])
        # a frame whose odometry failed is remembered at the motion model's pose and becomes
        # the reference: the next frame is measured from where the camera about is, not from
        # an ever older frame (on room-blur's fast segment, 7 frames fail; kept out of the
        # chain, every later frame failed too: 145 cm ATE)
        self._odometry.remember(cur, T_world_cur)
        t1 = time.perf_counter()
        if ok and self._frames % self.integrate_every == 0:
            image = rgbd_image(frame.depth, frame.rgb)   # point-to-plane odometry drops colour
            self._integrate(image.depth, image.color,
                            o3c.Tensor(frame.camera.K, o3c.float64), T_world_cur)
        t2 = time.perf_counter()
        self._last = (frame.stamp_ns, T_world_cur)
        self._frames += 1
        return EngineStep(frame.stamp_ns, T_world_cur, bool(ok), loss,
                          {"tracking": (t1 - t0) * 1e3, "mapping": (t2 - t1) * 1e3})

    # ------------------------------------------------------------------ mapping
    def _integrate(self, depth_img, color, K, T_world_cam: np.ndarray) -> None:
        import open3d.core as o3c
        import open3d as o3d

        if self._grid is None:
            self._grid = o3d.t.geometry.VoxelBlockGrid(
                attr_names=("tsdf", "weight", "color"),
                attr_dtypes=(o3c.float32, o3c.float32, o3c.float32),
                attr_channels=((1), (1), (3)), voxel_size=self.voxel_size_m,
                block_resolution=8, block_count=4000)
        extrinsic = o3c.Tensor(invert_pose(T_world_cam))
        blocks = self._grid.compute_unique_block_coordinates(
            depth_img, K, extrinsic, 1.0, self.depth_max_m)
        self._grid.integrate(blocks, depth_img, color, K, K, extrinsic, 1.0,
                             self.depth_max_m)
        self._mesh_cache = None

    def mesh(self) -> MeshData | None:
        if self._grid is None:
            return None
        if self._mesh_cache is None:
            m = self._grid.extract_triangle_mesh(weight_threshold=1.0).to_legacy()
            colors = np.asarray(m.vertex_colors)
            self._mesh_cache = MeshData(
                np.asarray(m.vertices, dtype=np.float32),
                np.asarray(m.triangles, dtype=np.int32),
                np.clip(colors * 255.0 + 0.5, 0, 255).astype(np.uint8) if len(colors) else None)
        return self._mesh_cache

    def save(self, directory: Path) -> list[Path]:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if self._grid is None:
            return []
        path = directory / "tsdf_grid.npz"
        self._grid.save(str(path))
        return [path]

