"""Classical fallback engine ('engine.name: icp'): frame-to-frame RGB-D odometry + a TSDF map.

This is NOT EN-SLAM; it is an honest, cheap engine the node can run where the neural engine is
absent or too slow on the CPU. Tracking: Open3D's multi-scale RGB-D odometry
(`open3d.t.pipelines.odometry.rgbd_odometry_multi_scale`) from the previous frame, initialised
with a constant-velocity guess (the last step's twist per second, so a frame after a dropped
one starts that much further); `method` "point_to_plane" (default, depth only), "hybrid"
(plus the photometric term; a frame without colour gets a black image, so depth alone) or
"checked" (depth_odometry.checked_odometry). Which is better depends on the image size
(README): on 7-Scenes the hybrid wins at 640x480 and loses at 160x120. Mapping: Open3D's
`VoxelBlockGrid` TSDF integration of every `integrate_every`-th tracked frame; the mesh is its
marching-cubes surface.
World frame: the first frame's camera optical frame.

Determinism: the odometry call (`slam_nodes.slam.depth_odometry.rgbd_odometry`, shared with the
neural tracker's depth-odometry initial guess) runs on one Open3D thread, so replays give
bit-identical trajectories; the TSDF integration and the mesh keep all threads.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.nodes.engine import EngineStep, MeshData
from slam_nodes.slam.depth_odometry import (ODOMETRY_METHODS, OdometryResult,
                                            odometry_by_method, rgbd_image)
from slam_nodes.slam.interpolation import extrapolate, mean_twist
from slam_nodes.types import RGBDFrame, invert_pose

_OPTIONS = {"voxel_size_m": 0.02, "depth_max_m": 4.0, "min_fitness": 0.3,
            "integrate_every": 1, "max_step_m": 0.3, "method": "point_to_plane",
            "slide_m": 0.015}


class IcpEngine:
    """Frame-to-frame RGB-D odometry with TSDF mapping (see module doc)."""

    def __init__(self, voxel_size_m: float = 0.02, depth_max_m: float = 4.0,
                 min_fitness: float = 0.3, integrate_every: int = 1,
                 max_step_m: float = 0.3, method: str = "point_to_plane",
                 slide_m: float = 0.015) -> None:
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
        self._prev = None  # (o3d RGBDImage, K tensor)
        self._T_world_prev = np.eye(4)
        self._stamp_prev = 0
        # the last step's twist per second in the previous camera's frame (mean_twist of the
        # poses I and T_prev_cur): T_prev_cur = exp(dt twist), kept relative so that the world
        # poses' rounding does not feed back into the guess
        self._twist = np.zeros(6)
        self._grid = None
        self._frames = 0
        self._mesh_cache: MeshData | None = None

    # ------------------------------------------------------------------ tracking
    def step(self, frame: RGBDFrame) -> EngineStep:
        import open3d.core as o3c

        if frame.depth is None:
            raise ConfigError("icp engine needs depth images (inputs.depth: true)")
        if self._prev is not None and frame.stamp_ns <= self._stamp_prev:
            raise ValueError(f"icp engine: frame stamp {frame.stamp_ns} ns is not after the "
                             f"previous frame's {self._stamp_prev} ns")
        t0 = time.perf_counter()
        rgb = frame.rgb if frame.rgb is not None else np.zeros(frame.depth.shape + (3,), np.uint8)
        cur = rgbd_image(frame.depth, rgb)
        ok, loss = True, 0.0
        if self._prev is None:
            T_world_cur = np.eye(4)
        else:
            def plausible(r: OdometryResult) -> bool:
                return r.plausible(self.min_fitness, self.max_step_m)

            T_guess = extrapolate(np.eye(4), self._twist,
                                  (frame.stamp_ns - self._stamp_prev) * 1e-9)
            result = odometry_by_method(self.method, cur, self._prev, frame.camera.K, T_guess,
                                        self.depth_max_m, self.slide_m, plausible)
            ok = result is not None and plausible(result)
            loss = float("nan") if result is None else result.inlier_rmse_m
            # keep the motion model rather than a wild estimate
            T_prev_cur = result.T_prev_cur if ok else T_guess
            self._twist = mean_twist([self._stamp_prev, frame.stamp_ns], [np.eye(4), T_prev_cur])
            T_world_cur = self._T_world_prev @ T_prev_cur
        t1 = time.perf_counter()
        if ok and self._frames % self.integrate_every == 0:
            self._integrate(cur.depth, cur.color, o3c.Tensor(frame.camera.K, o3c.float64),
                            T_world_cur)
        t2 = time.perf_counter()
        self._prev = cur
        self._T_world_prev = T_world_cur
        self._stamp_prev = frame.stamp_ns
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

