"""What en_slam_node needs from a SLAM engine, and the factory that picks one.

The node depends only on the narrow `SlamEngine` protocol below. Two engines satisfy it:
  - 'en_slam': the neural engine of slam_nodes.slam (`build_system(config) -> SlamSystem`);
  - 'icp': the classical fallback in nodes/icp_engine.py (depth frame-to-frame ICP odometry
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
from slam_nodes.types import CameraModel, RGBDFrame


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
    def step(self, frame: RGBDFrame):
        """Track (and map) one frame; returns an object with EngineStep's fields."""

    def reset(self) -> None:
        """Forget the map and trajectory; the next frame starts a new world frame."""

    def save(self, directory: Path) -> list[Path]:
        """Write the engine's state (checkpoint) under `directory`; return the files written."""

    def mesh(self) -> MeshData | None:
        """The current map as a triangle mesh (None before any frame)."""


def build_engine(config: EngineConfig) -> SlamEngine:
    """The engine named by `config.name` (ConfigError when it cannot be built here)."""
    if config.name == "icp":
        from slam_nodes.nodes.icp_engine import IcpEngine

        return IcpEngine.from_options(config.options, seed=config.seed)
    if config.name == "en_slam":
        try:
            from slam_nodes.slam import build_system
        except ImportError as err:
            raise ConfigError("engine.name 'en_slam' needs slam_nodes.slam.build_system, which "
                              f"is not available in this install: {err}") from err
        return _NeuralEngineAdapter(build_system(_neural_config(config)))
    raise ConfigError(f"unknown engine {config.name!r}")


def _neural_config(config: EngineConfig):
    """The neural engine's own config from engine.options (+ device, seed)."""
    options = dict(config.options)
    options.setdefault("device", config.device)
    options.setdefault("seed", config.seed)
    try:
        from slam_nodes.slam import SlamConfig  # type: ignore[attr-defined]
    except ImportError:
        return options
    if hasattr(SlamConfig, "from_dict"):
        return SlamConfig.from_dict(options)
    return options


class _NeuralEngineAdapter:
    """Adapts slam_nodes.slam's SlamSystem to SlamEngine where method names differ."""

    def __init__(self, system) -> None:
        self.system = system

    def step(self, frame: RGBDFrame):
        return self.system.step(frame)

    def reset(self) -> None:
        self.system.reset()

    def save(self, directory: Path) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        out = self.system.save(directory) if hasattr(self.system, "save") else None
        return list(out or [])

    def mesh(self) -> MeshData | None:
        fn = getattr(self.system, "extract_mesh", None) or getattr(self.system, "mesh", None)
        if fn is None:
            return None
        m = fn()
        if m is None:
            return None
        if isinstance(m, MeshData):
            return m
        vertices = np.asarray(getattr(m, "vertices"), dtype=np.float32)
        faces = np.asarray(getattr(m, "faces"), dtype=np.int32)
        colors = getattr(m, "colors", None)
        if colors is None and hasattr(m, "visual"):
            colors = getattr(m.visual, "vertex_colors", None)
        if colors is not None:
            colors = np.asarray(colors)[:, :3].astype(np.uint8)
        return MeshData(vertices, faces, colors)

    def render(self, T_world_cam: np.ndarray, camera: CameraModel):
        fn = getattr(self.system, "render", None)
        return None if fn is None else fn(T_world_cam, camera)
