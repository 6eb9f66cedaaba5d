"""Typed mirror of the asset_completion_node parameters (config/assets.yaml, ROS 2 params file).

Same loading rules as the SLAM node's config (slam_nodes.nodes.config): nested sections or
ROS 2's dotted names ('completion.period_s'), unknown keys rejected at every level, values
checked for type and range with ConfigError messages naming the parameter.

    asset_completion_node:
      ros__parameters:
        inputs: {detections: false, pose_topic: "", pose_frame: "", ...}
        frames: {world_frame: map, ...}
        objects: {box_margin: 0.1, ...}
        proposals: {...}
        completion: {period_s: 0.0, num_samples: 4, ...}
        outputs: {output_dir: assets, splat: true, ...}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slam_nodes.config_schema import NodeParams, check_non_negative, check_positive, load_params
from slam_nodes.errors import ConfigError

NODE_NAME = "asset_completion_node"


@dataclass
class AssetInputsConfig:
    """Inputs: `points` (PointCloud2, any sensor frame) always; `detections`
    (vision_msgs/Detection3DArray) when `detections` is true, else class-agnostic proposals.

    Sensor pose: from /tf + /tf_static (world_frame <- cloud frame at the cloud stamp) when
    `pose_topic` is '', else from a geometry_msgs/PoseStamped topic giving T_world_<pose_frame>
    (bags without TF; the synthetic bags' /ground_truth/pose with pose_frame
    camera_optical_frame), chained to the cloud frame through /tf_static.
    """

    detections: bool = False
    pose_topic: str = ""
    pose_frame: str = ""
    sensor_qos: str = "best_effort"  # or "reliable"
    pose_tolerance_s: float = 0.05  # nearest pose-topic sample must be this close to the cloud
    pose_wait_s: float = 0.5  # hold a cloud this long (sim time) for its pose / transform
    scan_stride: int = 1  # use every n-th cloud
    max_points_per_scan: int = 50_000  # random subsample of larger clouds (seeded)
    queue_size: int = 20  # clouds waiting for the worker; the oldest is dropped beyond
    silent_warning_s: float = 5.0

    def validate(self) -> None:
        if self.pose_topic and not self.pose_frame:
            raise ConfigError("inputs.pose_frame must name the frame whose pose inputs.pose_topic "
                              "gives (e.g. camera_optical_frame or base_link)")
        if self.sensor_qos not in ("best_effort", "reliable"):
            raise ConfigError(f"inputs.sensor_qos must be best_effort or reliable, "
                              f"got {self.sensor_qos!r}")
        check_non_negative("inputs.pose_tolerance_s", self.pose_tolerance_s)
        check_non_negative("inputs.pose_wait_s", self.pose_wait_s)
        check_positive("inputs.silent_warning_s", self.silent_warning_s)
        for name in ("scan_stride", "max_points_per_scan", "queue_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"inputs.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class AssetFramesConfig:
    world_frame: str = "map"  # frame of the accumulated map, the boxes and the markers

    def validate(self) -> None:
        if not self.world_frame:
            raise ConfigError("frames.world_frame must not be empty")


@dataclass
class ObjectsConfig:
    """Per-object accumulation (slam_nodes.assets.observations.ObjectAccumulator)."""

    box_margin: float = 0.1  # relative box inflation when cropping points
    assoc_radius_m: float = 1.0  # detections without id join the nearest track within this
    max_points_per_object: int = 20_000
    floor_band_m: float = 0.03  # points this close to the box bottom are ground, dropped
    max_map_points: int = 400_000  # world points kept for proposals (oldest dropped)

    def validate(self) -> None:
        check_non_negative("objects.box_margin", self.box_margin)
        check_positive("objects.assoc_radius_m", self.assoc_radius_m)
        check_non_negative("objects.floor_band_m", self.floor_band_m)
        for name in ("max_points_per_object", "max_map_points"):
            if getattr(self, name) < 1:
                raise ConfigError(f"objects.{name} must be >= 1, got {getattr(self, name)}")


@dataclass
class ProposalsConfig:
    """Class-agnostic proposals (support plane + DBSCAN) used without a detections input."""

    distance_threshold_m: float = 0.05
    min_height_m: float = 0.08
    cluster_eps_m: float = 0.3
    min_cluster_points: int = 30

    def validate(self) -> None:
        for name in ("distance_threshold_m", "min_height_m", "cluster_eps_m"):
            check_positive(f"proposals.{name}", getattr(self, name))
        if self.min_cluster_points < 3:
            raise ConfigError(f"proposals.min_cluster_points must be >= 3, "
                              f"got {self.min_cluster_points}")


@dataclass
class CompletionConfig:
    """When and how objects are completed (slam_nodes.assets.completion.AssetCompleter).

    period_s: complete on a timer of this period (sim time); 0 = only on ~/complete and at
    shutdown. An object is completed again only when it gained `min_new_points` points.
    """

    period_s: float = 0.0
    min_new_points: int = 200
    min_points: int = 20  # fewer observed points: template fallback (reason recorded)
    num_samples: int = 4
    refine_steps: int = 40
    mesh_res: int = 56
    weights: str = ""  # "" = the shipped prior
    seed: int = 0
    threads: int = 0  # torch CPU threads for completion (0 = leave torch's setting)

    def validate(self) -> None:
        check_non_negative("completion.period_s", self.period_s)
        if self.min_new_points < 1:
            raise ConfigError(f"completion.min_new_points must be >= 1, got {self.min_new_points}")
        if self.num_samples < 1:
            raise ConfigError(f"completion.num_samples must be >= 1, got {self.num_samples}")
        if self.refine_steps < 0:
            raise ConfigError(f"completion.refine_steps must be >= 0, got {self.refine_steps}")
        if self.mesh_res < 8:
            raise ConfigError(f"completion.mesh_res must be >= 8, got {self.mesh_res}")
        if self.min_points < 1 or self.threads < 0:
            raise ConfigError("completion.min_points must be >= 1 and completion.threads >= 0")
        if self.weights and not Path(self.weights).is_file():
            raise ConfigError(f"completion.weights {self.weights!r} is not a file")


@dataclass
class AssetOutputsConfig:
    output_dir: str = "assets"  # one Gazebo model folder per asset + assets.json
    splat: bool = True  # also fit a Gaussian splat per asset (slower)
    splat_steps: int = 80
    marker_max_faces: int = 20_000
    diagnostics_period_s: float = 1.0

    def validate(self) -> None:
        if not self.output_dir:
            raise ConfigError("outputs.output_dir must not be empty")
        check_positive("outputs.diagnostics_period_s", self.diagnostics_period_s)
        if self.splat_steps < 1 or self.marker_max_faces < 1:
            raise ConfigError("outputs.splat_steps and outputs.marker_max_faces must be >= 1")


@dataclass
class AssetNodeConfig(NodeParams):
    inputs: AssetInputsConfig = field(default_factory=AssetInputsConfig)
    frames: AssetFramesConfig = field(default_factory=AssetFramesConfig)
    objects: ObjectsConfig = field(default_factory=ObjectsConfig)
    proposals: ProposalsConfig = field(default_factory=ProposalsConfig)
    completion: CompletionConfig = field(default_factory=CompletionConfig)
    outputs: AssetOutputsConfig = field(default_factory=AssetOutputsConfig)
    use_sim_time: bool = False  # ROS 2's own parameter, accepted so one file serves both


def load_asset_config(path: str | Path, node_name: str = NODE_NAME,
                      overrides: dict[str, Any] | None = None) -> AssetNodeConfig:
    """Read `node_name`'s ros__parameters from a ROS 2 params file; apply dotted overrides."""
    return load_params(AssetNodeConfig, path, node_name, overrides)
