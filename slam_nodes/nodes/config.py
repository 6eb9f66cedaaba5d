"""Typed mirror of the en_slam_node parameters (config/*.yaml, ROS 2 params-file format).

The YAML in config/ is the single source (DESIGN.md principle 4): ROS 2 reads it with
`--params-file`; `slam-nodes replay/run` read it through slam_nodes.nodes.registry
(`load_node_config` here is the same for scripts). Layout:

    en_slam_node:
      ros__parameters:
        inputs: {rgb: true, depth: true, ...}
        sync: {sync_slop_s: 0.02, ...}
        ...

Nested sections map to dataclasses; ROS 2 flattens them to dotted names ('sync.sync_slop_s'),
which `from_flat` accepts too. Unknown keys are rejected at every level and values are checked
for type and range with messages naming the parameter (ConfigError).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from slam_nodes.config_schema import (NodeParams, check_non_negative, check_positive, load_params,
                                      save_params)
from slam_nodes.errors import ConfigError
from slam_nodes.types import pose_from_tq, pose_to_tq

NODE_NAME = "en_slam_node"


@dataclass
class InputsConfig:
    """Which inputs the node subscribes to, and how."""

    rgb: bool = True
    depth: bool = True
    events: bool = False
    points: bool = False
    event_msg_type: str = "event_camera_msgs/msg/EventPacket"  # or dvs_msgs/msg/EventArray
    sensor_qos: str = "best_effort"  # or "reliable"
    silent_warning_s: float = 5.0  # warn when an enabled input is silent this long (sim time)
    max_frame_rate_hz: float = 0.0  # skip frames arriving faster than this (0: no limit)
    max_depth_m: float = 6.0  # depth beyond this is treated as invalid
    # with events and engine en_slam: when no camera frame comes for longer than this (event
    # time), the gap is tracked from events alone (EN-SLAM event-only tracking) in steps this
    # long, each run once the events are this far past it; 0: off. Set it above the frames'
    # latency behind the events: a frame arriving later than that behind an events-only step
    # stamped after it is dropped as out of order.
    event_only_after_s: float = 0.0

    def validate(self) -> None:
        if not (self.depth or self.points):
            raise ConfigError("inputs: enable at least one of inputs.depth or inputs.points "
                              "(geometry is needed for tracking)")
        if self.event_msg_type not in ("event_camera_msgs/msg/EventPacket",
                                       "event_array_msgs/msg/EventArray",
                                       "dvs_msgs/msg/EventArray"):
            raise ConfigError(f"inputs.event_msg_type {self.event_msg_type!r} is not supported")
        if self.sensor_qos not in ("best_effort", "reliable"):
            raise ConfigError(f"inputs.sensor_qos must be best_effort or reliable, "
                              f"got {self.sensor_qos!r}")
        check_positive("inputs.silent_warning_s", self.silent_warning_s)
        check_non_negative("inputs.max_frame_rate_hz", self.max_frame_rate_hz)
        check_positive("inputs.max_depth_m", self.max_depth_m)
        check_non_negative("inputs.event_only_after_s", self.event_only_after_s)


@dataclass
class SyncConfig:
    sync_slop_s: float = 0.02  # RGB/depth pairing tolerance
    queue_size: int = 10

    def validate(self) -> None:
        check_non_negative("sync.sync_slop_s", self.sync_slop_s)
        if self.queue_size < 1:
            raise ConfigError(f"sync.queue_size must be >= 1, got {self.queue_size}")


@dataclass
class FramesConfig:
    """Frame names and the sensor extrinsics.

    body_frame: the robot frame whose pose is published ('' = the tracked sensor's frame: the
    camera's optical frame from camera_info, or the cloud's frame_id in a LiDAR-only set).
    body_to_camera: T_body_cam, body_to_lidar: T_body_lidar, each [x, y, z, qx, qy, qz, qw]
    (metres, unit quaternion; your URDF's extrinsics). The tracked (rig) sensor is the camera,
    or the LiDAR when no camera input is enabled; with a camera and a LiDAR the node hands the
    engine T_cam_lidar = inv(T_body_cam) @ T_body_lidar. The map frame is the body frame at the
    first tracked frame.
    """

    map_frame: str = "map"
    odom_frame: str = "odom"
    body_frame: str = ""
    body_to_camera: list = field(default_factory=lambda: list(IDENTITY_TQ))
    body_to_lidar: list = field(default_factory=lambda: list(IDENTITY_TQ))
    publish_map_odom: bool = True  # TF map -> odom
    publish_odom_body: bool = True  # TF odom -> body (identity map -> odom then)
    transform_tolerance_s: float = 0.1  # TF stamped this far ahead of the pose stamp
    tf_rate_hz: float = 20.0

    def validate(self) -> None:
        for name in ("body_to_camera", "body_to_lidar"):
            _check_tq(f"frames.{name}", getattr(self, name))
        check_non_negative("frames.transform_tolerance_s", self.transform_tolerance_s)
        check_positive("frames.tf_rate_hz", self.tf_rate_hz)
        for name in ("map_frame", "odom_frame"):
            if not getattr(self, name):
                raise ConfigError(f"frames.{name} must not be empty")

    def T_body(self, sensor: str) -> np.ndarray:
        """T_body_<sensor> [4,4] float64 for sensor 'camera' or 'lidar'."""
        tq = np.asarray(getattr(self, f"body_to_{sensor}"), dtype=np.float64)
        return pose_from_tq(tq[:3], tq[3:])


IDENTITY_TQ = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0)


def pose_to_params(T) -> list[float]:
    """[x, y, z, qx, qy, qz, qw] of a 4x4 pose T_body_sensor: the frames.body_to_* form."""
    t, q = pose_to_tq(np.asarray(T, dtype=np.float64))
    return [float(v) for v in (*t, *q)]


def _check_tq(name: str, value) -> None:
    if not isinstance(value, (list, tuple)) or len(value) != 7:
        raise ConfigError(f"{name} must be [x, y, z, qx, qy, qz, qw]")
    try:
        vals = [float(v) for v in value]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{name} must hold numbers: {err}") from err
    if abs(sum(v * v for v in vals[3:]) - 1.0) > 1e-3:
        raise ConfigError(f"{name} quaternion must have unit norm")


@dataclass
class MeshConfig:
    enabled: bool = True
    publish_period_s: float = 2.0  # rate limit of ~/mesh (sim time)
    block_size_m: float = 1.0  # edge of the cubic blocks markers are cut into
    triangle_budget: int = 100_000  # most triangles sent per update (rest wait for the next)
    map_cloud_max_points: int = 100_000

    def validate(self) -> None:
        check_positive("mesh.publish_period_s", self.publish_period_s)
        check_positive("mesh.block_size_m", self.block_size_m)
        if self.triangle_budget < 1:
            raise ConfigError("mesh.triangle_budget must be >= 1")
        if self.map_cloud_max_points < 1:
            raise ConfigError("mesh.map_cloud_max_points must be >= 1")


@dataclass
class EngineConfig:
    """Which SLAM engine runs. 'en_slam' is the neural engine (slam_nodes.slam); 'icp' is the
    classical fallback (frame-to-keyframe depth ICP + TSDF, nodes/icp_engine.py). `options` are
    handed to the engine's own config, which validates them."""

    name: str = "icp"
    device: str = "auto"
    seed: int = 0
    options: dict = field(default_factory=dict)

    def validate(self) -> None:
        if self.name not in ("icp", "en_slam"):
            raise ConfigError(f"engine.name must be 'icp' or 'en_slam', got {self.name!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"engine.device must be auto, cpu or cuda, got {self.device!r}")
        lidar = self.options.get("lidar")
        if isinstance(lidar, dict) and "T_rig_lidar" in lidar:
            raise ConfigError("engine.options.lidar.T_rig_lidar is set by the node: give the "
                              "LiDAR extrinsic as frames.body_to_lidar (T_body_lidar) instead")


@dataclass
class OutputsConfig:
    render: bool = True  # ~/render: the map seen from the latest pose
    render_period_s: float = 1.0
    diagnostics_period_s: float = 1.0
    path_max_poses: int = 100_000
    map_save_dir: str = "maps"

    def validate(self) -> None:
        check_positive("outputs.render_period_s", self.render_period_s)
        check_positive("outputs.diagnostics_period_s", self.diagnostics_period_s)
        if self.path_max_poses < 1:
            raise ConfigError("outputs.path_max_poses must be >= 1")


@dataclass
class SlamNodeConfig(NodeParams):
    inputs: InputsConfig = field(default_factory=InputsConfig)
    sync: SyncConfig = field(default_factory=SyncConfig)
    frames: FramesConfig = field(default_factory=FramesConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    use_sim_time: bool = False  # ROS 2's own parameter, accepted here so one file serves both

    @property
    def lidar_only(self) -> bool:
        """No camera input: each PointCloud2 drives a frame and the LiDAR is the tracked rig."""
        return self.inputs.points and not (self.inputs.rgb or self.inputs.depth)

    def validate(self) -> "SlamNodeConfig":
        """Every section, then the rules that span sections."""
        super().validate()
        if self.engine.name == "icp" and not self.inputs.depth:
            raise ConfigError("engine.name 'icp' tracks on depth images: set inputs.depth: true "
                              "or use engine.name: en_slam")
        if self.inputs.events and not (self.inputs.rgb or self.inputs.depth):
            raise ConfigError("inputs.events needs a camera (inputs.rgb or inputs.depth): events "
                              "are sliced between camera frames")
        if self.lidar_only and self.outputs.render:
            raise ConfigError("outputs.render needs a camera to render from: set "
                              "outputs.render: false for a LiDAR-only set")
        return self

    def to_flat(self) -> dict[str, Any]:
        """Dotted parameter names -> values (what rclpy declares)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, d: dict) -> None:
            for k, v in d.items():
                if isinstance(v, dict) and k != "options":
                    walk(f"{prefix}{k}.", v)
                else:
                    out[f"{prefix}{k}"] = v

        walk("", self.to_dict())
        return out


def load_node_config(path: str | Path, node_name: str = NODE_NAME,
                     overrides: dict | None = None) -> SlamNodeConfig:
    """Read `node_name`'s ros__parameters from a ROS 2 params file; apply dotted overrides."""
    return load_params(SlamNodeConfig, path, node_name, overrides)


def save_node_config(path: str | Path, config: SlamNodeConfig,
                     node_name: str = NODE_NAME) -> None:
    """Write the config as a ROS 2 params file (into every results folder)."""
    save_params(path, config, node_name)
