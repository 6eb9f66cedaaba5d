"""SlamConfig: presets, YAML loading, unknown keys and wrong types rejected."""

from __future__ import annotations

import pytest

from slam_nodes.errors import ConfigError
from slam_nodes.slam.config import SlamConfig, load_config, to_dict
from slam_nodes.slam.presets import PRESETS


def test_presets_load_and_differ():
    lite = load_config(preset="cpu-lite")
    full = load_config()
    gpu = load_config(preset="gpu-quality")
    assert lite.preset == "cpu-lite" and full.preset == "default"
    assert lite.image_scale == 0.25            # 640x480 -> 160x120
    assert lite.encoding.n_levels < full.encoding.n_levels == 16
    assert full.render.n_uniform == 32 and full.render.n_surface == 11
    assert full.loss.sdf_weight == 1000.0 and full.tracking.n_rays == 1024
    assert gpu.tracking.n_iters > full.tracking.n_iters
    assert set(PRESETS) == {"cpu-lite", "default", "gpu-quality"}


def test_yaml_overrides_on_top_of_preset(tmp_path):
    p = tmp_path / "slam.yaml"
    p.write_text("preset: cpu-lite\ntracking:\n  n_iters: 7\nmapping:\n"
                 "  bounds_m: [[-1, -1, -1], [1, 1, 1]]\n")
    c = load_config(p)
    assert c.tracking.n_iters == 7 and c.tracking.n_rays == PRESETS["cpu-lite"]["tracking"]["n_rays"]
    assert c.mapping.bounds_m == [[-1, -1, -1], [1, 1, 1]]
    ros = tmp_path / "ros.yaml"
    ros.write_text("slam:\n  ros__parameters:\n    seed: 4\n")
    assert load_config(ros).seed == 4
    # round trip through a plain dict
    assert load_config(to_dict(c)) == c


@pytest.mark.parametrize("bad, where", [
    ({"tracking": {"n_iterz": 3}}, "config.tracking"),
    ({"nonsense": 1}, "config"),
    ({"tracking": {"n_iters": "ten"}}, "config.tracking.n_iters"),
    ({"mapping": {"optimize_poses": 1}}, "config.mapping.optimize_poses"),
    ({"encoding": 5}, "config.encoding"),
])
def test_bad_keys_and_types_are_config_errors(bad, where):
    with pytest.raises(ConfigError, match=where.replace(".", r"\.")):
        load_config(bad)


def test_unknown_preset_and_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="preset"):
        load_config(preset="turbo")
    bad = tmp_path / "x.yaml"
    bad.write_text("tracking: [unclosed")
    with pytest.raises(ConfigError):
        load_config(bad)
    assert isinstance(load_config(None), SlamConfig)


def test_tracking_init_and_odometry_method_choices():
    assert load_config().tracking.init == "motion_model"
    assert load_config({"tracking": {"init": "depth_odometry"}}).tracking.init == "depth_odometry"
    with pytest.raises(ConfigError, match=r"config\.tracking\.init must be one of "
                                          r"\['motion_model', 'depth_odometry'\], got 'icp'"):
        load_config({"tracking": {"init": "icp"}})
    assert load_config().tracking.odometry_method == "point_to_plane"
    assert load_config(preset="cpu-lite").tracking.odometry_method == "checked"
    with pytest.raises(ConfigError, match=r"odometry_method must be one of \['point_to_plane', "
                                          r"'hybrid', 'checked'\], got 'colour'"):
        load_config({"tracking": {"odometry_method": "colour"}})


def test_velocity_frames_below_one_is_a_config_error():
    from slam_nodes.slam.system import build_system

    assert load_config().tracking.velocity_frames == 1
    with pytest.raises(ConfigError, match="velocity_frames must be >= 1, got 0"):
        build_system({"tracking": {"velocity_frames": 0}})


def test_depth_edge_angle_out_of_range_is_a_config_error():
    from slam_nodes.slam.system import build_system

    with pytest.raises(ConfigError, match=r"depth_edge_max_incidence_deg must be in \[0, 90\)"):
        build_system({"device": "cpu", "depth_edge_max_incidence_deg": 90.0})


def test_odometry_prior_sigmas_are_checked():
    from slam_nodes.slam.system import build_system

    with pytest.raises(ConfigError, match="must be >= 0"):
        build_system({"device": "cpu", "tracking": {"init": "depth_odometry",
                                                    "odometry_prior_sigma_m": -0.01}})
    # frames never start from the odometry: no prior
    assert build_system({"device": "cpu", "tracking": {
        "odometry_prior_sigma_rot_rad": 0.01}}).odometry_prior is None
    assert build_system({"device": "cpu"}).odometry_prior is None
    prior = build_system({"device": "cpu", "tracking": {
        "init": "depth_odometry", "odometry_prior_sigma_rot_rad": 0.01}}).odometry_prior
    assert (prior.sigma_rot_rad, prior.sigma_m) == (0.01, 0.0)
