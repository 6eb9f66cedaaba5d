"""What en_slam_node needs from a SLAM engine, and the factory that picks one.

The node depends only on the narrow `SlamEngine` protocol below. Two engines satisfy it:
  - 'en_slam': the neural engine of slam_nodes.slam (`build_system(config) -> SlamSystem`);
  - 'icp': the classical fallback in nodes/icp_engine.py (frame-to-keyframe depth ICP odometry
    with Open3D and a TSDF map), honest and cheap, used where the neural engine is absent or
    too slow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from slam_nodes.errors import ConfigError
from slam_nodes.nodes.config import EngineConfig
from slam_nodes.types import LidarScan, RGBDFrame


@dataclass
class EngineStep:
    """Result of one engine step: the camera pose T_world_cam [4,4] (world = first camera's
    optical frame), whether tracking succeeded, the final tracking loss and timings in ms."""

    stamp_ns: int
    T_world_cam: np.ndarray
    tracking_ok: bool
    loss: float
    timings_ms: dict = field(default_factory=dict)


@dataclass
class MeshData:
    """A triangle mesh in the world frame: vertices float32 [V,3] metres, faces int32 [F,3],
    colors uint8 [V,3] RGB or None."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray | None = None


@runtime_checkable
class SlamEngine(Protocol):
    def step(self, frame: RGBDFrame | LidarScan):
        """Track (and map) one camera frame, or one LiDAR sweep in a LiDAR-only set; returns an
        object with EngineStep's fields (T_world_cam is then the LiDAR pose)."""

    def reset(self) -> None:
        """Forget the map and trajectory; the next frame starts a new world frame."""

    def save(self, directory: Path) -> list[Path]:
        """Write the engine's state (checkpoint) under `directory`; return the files written."""

    def mesh(self) -> MeshData | None:
        """The current map as a triangle mesh (None before any frame)."""


def build_engine(config: EngineConfig, events: bool = False) -> SlamEngine:
    """The engine named by `config.name` (ConfigError when it cannot be built here).

    `events`: the node subscribes to an event camera; the neural engine is then the EN-SLAM
    system (camera response + event loss) and each frame's events reach it.
    """
    if config.name == "icp":
        from slam_nodes.nodes.icp_engine import IcpEngine

        return IcpEngine.from_options(config.options, seed=config.seed)
    if config.name == "en_slam":
        return _NeuralEngineAdapter(_neural_config(config), events=events)
    raise ConfigError(f"unknown engine {config.name!r}")


def _neural_config(config: EngineConfig) -> dict:
    """The neural engine's config dict: engine.options (may name a `preset`, e.g. 'cpu-lite')
    plus device and seed; slam_nodes.slam validates it (unknown keys rejected there)."""
    options = dict(config.options)
    options.setdefault("device", config.device)
    options.setdefault("seed", config.seed)
    return options


class _NeuralEngineAdapter:
    """slam_nodes.slam's SlamSystem behind SlamEngine: reset rebuilds the system, the mesh is
    kept up to date incrementally by the engine's MapMesher (only dirty blocks re-meshed), and
    `trajectory()` gives the bundle-adjusted poses.

    Frames: an RGBDFrame, whose `extra` may hold the LiDAR sweep gathered since the previous
    frame ("scan", LidarScan in the LiDAR frame) with its extrinsic ("T_rig_lidar" [4,4], LiDAR
    -> camera optical frame; identity when absent) and the events ("events", EventBatch); or
    a LidarScan alone (LiDAR-only set: the LiDAR frame is the rig).

    With `events=True` the system is the EN-SLAM one (slam_nodes.slam.en_slam) and the events
    are stepped together with the frame.

    Sweeps are handed over as the driver gave them (points in the sensor frame at their own
    time): the core has no motion compensation, and de-skewing here made tracking worse because
    the core's first keyframe is mapped from a raw sweep (yard-tiny, LiDAR only: ATE 43 cm
    de-skewed with the tracked motion vs 3.1 cm raw).
    """

    def __init__(self, options: dict, events: bool = False) -> None:
        if events:
            from slam_nodes.slam.en_slam import build_en_slam_system as build
        else:
            from slam_nodes.slam.system import build_system as build
        self.options = options
        self.events = events
        self._build = build
        self.reset()

    def reset(self) -> None:
        self.system = self._build(dict(self.options))
        self._mesher = None

    def step(self, frame: RGBDFrame | LidarScan):
        from slam_nodes.slam.system import Observation

        if isinstance(frame, LidarScan):
            return self.system.step(Observation(frame.stamp_ns, lidar=frame))
        core = frame
        scan = frame.extra.get("scan")
        if scan is not None:
            # RGB(-D) + LiDAR: the scan supervises the same field
            T_rig_lidar = np.asarray(frame.extra.get("T_rig_lidar", np.eye(4)), np.float64)
            core = Observation(frame.stamp_ns, rgbd=frame, lidar=scan, T_rig_lidar=T_rig_lidar)
        events = frame.extra.get("events")
        if self.events and events is not None:
            from slam_nodes.slam.en_slam import EnObservation

            return self.system.step(EnObservation(frame.stamp_ns, core, events))
        return self.system.step(core)

    def trajectory(self):
        return self.system.trajectory()

    def save(self, directory: Path) -> list[Path]:
        from slam_nodes.slam.outputs import save_checkpoint

        if self.system.field is None:
            return []
        path = Path(directory) / "checkpoint.pt"
        save_checkpoint(self.system, path)
        return [path]

    def mesh(self) -> MeshData | None:
        from slam_nodes.slam.outputs import MapMesher

        if self.system.field is None:
            return None
        if self._mesher is None:
            self._mesher = MapMesher(self.system)
        self._mesher.update()
        m = self._mesher.to_trimesh()
        if m is None or len(m.faces) == 0:
            return None
        colors = getattr(m.visual, "vertex_colors", None)
        colors = None if colors is None or len(colors) != len(m.vertices) else \
            np.asarray(colors)[:, :3].astype(np.uint8)
        return MeshData(np.asarray(m.vertices, np.float32), np.asarray(m.faces, np.int32),
                        colors)
