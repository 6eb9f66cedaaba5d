"""Synthetic sequences with exact ground truth: RGB-D, events, LiDAR, motion blur, lighting change.

Public API (imported lazily, so `import slam_nodes.synth` does not load Open3D):
- generate(preset_or_config, out_dir, seed=0, progress=None, **overrides) -> SequenceInfo:
  a rosbag2 MCAP plus ground truth files (see slam_nodes.synth.writer);
- render_sequence(config) -> iterator of SynthFrame / SynthEvents / SynthScan / SynthImu
  (in memory, time order);
- build_sequence(config) -> Sequence (scene, renderer, trajectory, plan);
- PRESETS, get_preset(name), describe(config); SequenceConfig and the sensor configs.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "generate": "writer", "SequenceInfo": "writer",
    "render_sequence": "sequence", "build_sequence": "sequence", "Sequence": "sequence",
    "SynthFrame": "sequence", "SynthEvents": "sequence", "SynthScan": "sequence",
    "SynthImu": "sequence", "ImuConfig": "imu_sim",
    "PRESETS": "presets", "get_preset": "presets", "describe": "presets",
    "SequenceConfig": "config", "LightingConfig": "config", "MountConfig": "config",
    "RGBConfig": "camera_sim", "DepthConfig": "camera_sim", "EventConfig": "event_sim",
    "LidarConfig": "lidar_sim", "TrajectoryConfig": "trajectories",
    "build_scene": "scenes", "Scene": "scenes", "Renderer": "render",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'slam_nodes.synth' has no attribute {name!r}")
    return getattr(importlib.import_module(f"slam_nodes.synth.{module}"), name)
