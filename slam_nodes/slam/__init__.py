"""The neural implicit SLAM core (Co-SLAM design, RGB-D and LiDAR), ROS-free.

Public API (imported lazily, so `import slam_nodes.slam` does not load torch):
- build_system(config=None, preset=None, initial_T_world_cam=None) -> SlamSystem
- SlamSystem.step(RGBDFrame | LidarScan | Observation) -> StepResult
- SlamSystem.trajectory() -> Trajectory; state_dict()/load_state_dict()
- load_config(path_or_dict, preset) -> SlamConfig; PRESETS ("cpu-lite", "default", "gpu-quality")
- outputs: save_outputs(system, out_dir), extract_mesh(system), MapMesher(system),
  save_checkpoint / load_checkpoint, save_trajectory, save_mesh
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "build_system": "system", "SlamSystem": "system", "StepResult": "system",
    "Observation": "system", "load_config": "config", "SlamConfig": "config",
    "PRESETS": "presets", "save_outputs": "outputs", "extract_mesh": "outputs",
    "MapMesher": "outputs", "save_checkpoint": "outputs", "load_checkpoint": "outputs",
    "save_trajectory": "outputs", "save_mesh": "outputs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slam_nodes.slam' has no attribute {name!r}")
    return getattr(importlib.import_module(f"slam_nodes.slam.{module}"), name)
