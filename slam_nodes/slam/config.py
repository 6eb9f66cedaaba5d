"""Typed configuration of the SLAM core, loadable from YAML or a dict.

Sections mirror the components (`encoding`, `render`, `loss`, `tracking`, `mapping`, `lidar`,
`mesh`); unknown keys are rejected at every level with ConfigError; field names carry units.
Presets (`cpu-lite`, `default`, `gpu-quality`) live in slam_nodes.slam.presets.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from slam_nodes.config_schema import from_dict, merge, read_config_source, to_dict

__all__ = ["EncodingConfig", "RenderConfig", "LossConfig", "TrackingConfig", "MappingConfig",
           "LidarConfig", "MeshConfig", "SlamConfig", "load_config", "from_dict", "merge",
           "to_dict"]


@dataclass
class EncodingConfig:
    """Hash grid + one-blob encoding and the decoders (Co-SLAM: 16 levels, 2^16, 2 cm)."""

    implementation: str = "auto"          # auto | torch | tcnn
    n_levels: int = 16
    n_features_per_level: int = 2
    log2_hashmap_size: int = 16
    base_resolution: int = 16
    finest_voxel_m: float = 0.02
    one_blob_bins: int = 16
    geo_dims: int = 15
    mlp_width: int = 32
    mlp_hidden_layers: int = 2


@dataclass
class RenderConfig:
    """Ray sampling and SDF-to-weight rendering."""

    truncation_m: float = 0.10
    n_uniform: int = 32
    n_surface: int = 11
    surface_range_m: float = 0.10
    near_m: float = 0.1
    far_m: float = 6.0


@dataclass
class LossConfig:
    """Loss weights (Co-SLAM) and the smoothness / S3IM options."""

    rgb_weight: float = 5.0
    depth_weight: float = 0.1
    sdf_weight: float = 1000.0
    free_space_weight: float = 10.0
    smooth_weight: float = 1e-6
    smooth_grid_size: int = 8
    smooth_spacing_m: float = 0.05
    s3im_weight: float = 0.0


@dataclass
class TrackingConfig:
    """Per-frame pose optimisation.

    init: where each frame's optimisation starts. "motion_model": the constant-velocity
    prediction (the last pose when constant_velocity is false). "depth_odometry": Open3D's
    point-to-plane odometry of the frame's depth against the last tracked frame's, initialised
    with that prediction and run at most `odometry_max_width_px` columns wide; used when its
    fitness >= odometry_min_fitness and its step differs from the prediction's by at most
    odometry_max_step_m, else the prediction
    (frames without depth, or depth narrower than `odometry_min_width_px`, too: Open3D's
    three-level pyramid then solves on a few dozen pixels, and at 80x60 the odometry alone
    drifted 19 cm in 75 demo frames against 0.5 cm at 160x120). See
    slam_nodes.slam.depth_odometry.
    odometry_method: "point_to_plane" (depth only), "hybrid" (Open3D's depth plus photometric
    term on the frames' colour: a slide along a flat wall, invisible in depth, shows in the
    texture) or "checked" (point-to-plane, replaced by the hybrid where their translations
    differ by more than odometry_slide_m metres); with colour, frames without it start from
    the motion model (slam_nodes.slam.depth_odometry.checked_odometry).
    odometry_keyframe_every: the odometry's reference is renewed every this many tracked
    frames (1: frame to frame; more: frame to keyframe, whose errors add up once per
    keyframe instead of every frame); odometry_keyframe_check_m: a guess against the
    reference whose position lies more than this far from the one against the previous
    frame is a wrong minimum: the latter is used and that frame becomes the reference
    (DepthOdometryPrior).
    velocity_frames: the constant-velocity model's twist is the mean (on SE(3), per second of
    the stamps, interpolation.mean_twist) over the last this many frames (1: the last step);
    a frame is predicted as far on as its stamp is from the last pose's, so a frame after a
    dropped one, or after an RGB-D dropout shorter than max_gap_s, starts that much further.
    Poses measured against a shared odometry
    reference (odometry_keyframe_every > 1) carry independent errors, which the difference of
    the last two poses doubles; the mean over a few frames smooths them, which matters where
    the model alone carries the pose (event-only steps through an RGB-D dropout, lost frames).
    odometry_prior_sigma_rot_rad, odometry_prior_sigma_m: when a frame starts from the
    odometry, a quadratic penalty holds the pose near it (slam_nodes.slam.tracker.PosePrior:
    a pose one sigma away costs as much as the ray loss at the start); 0 leaves that part
    free, both 0 disable the prior; unused with init "motion_model".
    """

    n_iters: int = 10
    n_rays: int = 1024
    lr_rot: float = 1e-3
    lr_trans: float = 1e-3
    edge_px: int = 20                      # ignored border, at input resolution
    constant_velocity: bool = True
    inlier_threshold_m: float = 0.05
    min_inlier_ratio: float = 0.5
    recovery_iters: int = 30
    max_gap_s: float = 0.5                 # a larger stamp gap resets the velocity model
    velocity_frames: int = 1
    init: Literal["motion_model", "depth_odometry"] = "motion_model"
    odometry_max_width_px: int = 160
    odometry_min_width_px: int = 120
    odometry_min_fitness: float = 0.3
    odometry_max_step_m: float = 0.3
    odometry_method: Literal["point_to_plane", "hybrid", "checked"] = "point_to_plane"
    odometry_slide_m: float = 0.015
    odometry_keyframe_every: int = 1
    odometry_keyframe_check_m: float = 0.05
    odometry_prior_sigma_rot_rad: float = 0.0
    odometry_prior_sigma_m: float = 0.0


@dataclass
class MappingConfig:
    """Keyframes and bundle adjustment."""

    keyframe_every: int = 5
    keyframe_pixel_fraction: float = 0.05
    map_every: int = 5
    n_iters: int = 10
    n_rays: int = 2048
    current_ray_fraction: float = 0.25
    first_iters: int = 500
    lr_grid: float = 1e-2
    lr_decoder: float = 1e-2
    lr_pose_rot: float = 1e-3
    lr_pose_trans: float = 1e-3
    optimize_poses: bool = True
    bounds_m: list | None = None          # [[xmin, ymin, zmin], [xmax, ymax, zmax]] world
    bounds_margin_m: float = 1.5          # added around the first frame's points


@dataclass
class LidarConfig:
    """LiDAR rays supervising the same field."""

    T_rig_lidar: list | None = None       # 4x4 row-major; identity when None
    n_rays: int = 1024
    min_range_m: float = 0.3
    max_range_m: float = 30.0
    keyframe_ray_fraction: float = 0.05


@dataclass
class MeshConfig:
    """Marching cubes over the observed region."""

    voxel_size_m: float = 0.02
    block_size_vox: int = 32
    observed_margin_m: float = 0.06


@dataclass
class SlamConfig:
    """Top-level configuration of SlamSystem."""

    preset: str = "default"
    device: str = "auto"                  # auto | cpu | cuda | cuda:N
    seed: int = 0
    image_scale: float = 1.0              # processing resolution = input * image_scale
    min_depth_m: float = 0.1
    max_depth_m: float = 10.0
    # drop depth pixels whose 3x3 span exceeds that of a plane seen at this incidence (deg)
    # at the input's pixel size (slam.rays.plane_span_rel); 0 = keep every pixel
    depth_edge_max_incidence_deg: float = 85.0
    num_threads: int = 0                  # torch CPU threads, 0 = leave as is
    encoding: EncodingConfig = field(default_factory=EncodingConfig)
    render: RenderConfig = field(default_factory=RenderConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    mapping: MappingConfig = field(default_factory=MappingConfig)
    lidar: LidarConfig = field(default_factory=LidarConfig)
    mesh: MeshConfig = field(default_factory=MeshConfig)


def load_config(source: str | Path | dict | None = None, preset: str | None = None
                ) -> SlamConfig:
    """SlamConfig from a YAML file, a dict or nothing, on top of a preset.

    The preset is `preset`, else the source's `preset` key, else "default". A YAML file may
    hold the config at top level or under `slam:` (or the ROS layout `slam: ros__parameters:`).
    """
    from slam_nodes.slam.presets import preset_dict

    data = read_config_source(source, "slam", "SLAM config")
    name = preset or data.get("preset", "default")
    merged = merge(preset_dict(name), data)
    merged["preset"] = name
    return from_dict(SlamConfig, merged, "config")

