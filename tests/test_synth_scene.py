"""Scenes, textures and trajectories of the synthetic generator."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.errors import ConfigError
from slam_nodes.synth.render import Renderer
from slam_nodes.synth.scenes import build_scene
from slam_nodes.synth.trajectories import SmoothTrajectory, TrajectoryConfig, pose_rates
from slam_nodes.types import CameraModel


@pytest.mark.parametrize("kind", ["room", "yard"])
def test_scene_is_seeded_and_labelled(kind):
    a, b, c = build_scene(kind, 1), build_scene(kind, 1), build_scene(kind, 2)
    va, ta, ma, ia = a.triangle_arrays()
    vb, tb, _, _ = b.triangle_arrays()
    assert np.array_equal(va, vb) and np.array_equal(ta, tb)
    vc = c.triangle_arrays()[0]
    assert va.shape != vc.shape or not np.allclose(va, vc)
    ids = [i.instance_id for i in a.instances]
    assert len(set(ids)) == len(ids) and min(ids) == 1
    assert set(np.unique(ia)) == set(ids)
    assert len(a.objects) >= 6
    for obj in a.objects:  # every vertex inside the object's oriented box
        local = (np.asarray(obj.mesh().vertices) - obj.box_centre) @ obj.box_rotation
        assert np.all(np.abs(local) <= obj.box_size / 2 + 1e-6)


def test_unknown_scene_kind():
    with pytest.raises(ConfigError, match="unknown scene kind"):
        build_scene("moon", 0)


def test_render_depth_matches_ray_geometry_and_texture_has_gradients():
    scene = build_scene("room", 0)
    renderer = Renderer(scene, nthreads=2)
    cam = CameraModel.pinhole(64, 48, 50.0, 50.0, 31.5, 23.5)
    cx, cy = scene.nav.centre_xy
    T = np.eye(4)
    # optical frame looking along world +x from the room centre at 1.5 m height
    T[:3, :3] = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
    T[:3, 3] = [cx, cy, 1.5]
    out = renderer.render(cam, T)
    assert np.all(out.depth > 0)  # a closed room: every ray hits
    # the centre pixel looks straight at the +x wall (or something in front of it)
    wall = scene.instances[3]  # the wall slab at x = W
    wall_x = wall.box_centre[0] - wall.box_size[0] / 2
    assert out.depth[24, 32] <= wall_x - cx + 1e-3
    grey = out.radiance.mean(axis=2)
    gx = np.abs(np.diff(np.log(grey), axis=1))
    assert np.mean(gx > 0.01) > 0.3  # textured: gradients almost everywhere
    assert out.instance.min() >= 1


@pytest.mark.parametrize("style", ["handheld", "robot"])
def test_trajectory_is_smooth_with_fast_segment(style):
    scene = build_scene("room" if style == "handheld" else "yard", 0)
    cfg = TrajectoryConfig(style=style, fast_segments=1, fast_gain=2.5, fast_duration_s=1.0)
    traj = SmoothTrajectory(scene.nav, cfg, duration_s=6.0, seed=4)
    t = np.arange(0, 6_000_000_000, 10_000_000, dtype=np.int64)
    poses = traj.poses(t)
    # any single-time query equals the batch query
    np.testing.assert_allclose(traj.poses(t[123:124])[0], poses[123], atol=1e-12)
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() < 0.05  # < 5 m/s at 100 Hz sampling: no jumps
    np.testing.assert_allclose(np.linalg.det(poses[:, :3, :3]), 1.0, atol=1e-9)
    ang, lin = pose_rates(traj.poses, t[10:-10])
    a, b = traj._fast[0]
    inside = (t[10:-10] / 1e9 > a + 0.3) & (t[10:-10] / 1e9 < b - 0.3)
    assert lin[inside].mean() > 1.6 * lin[~inside].mean()
    if style == "robot":
        assert np.allclose(poses[:, 2, 3], 0.0)
    # camera path stays inside the free ellipse (scaled by the rim/filled layout)
    rel = (poses[:, :2, 3] - scene.nav.centre_xy) / scene.nav.radii_xy
    assert np.linalg.norm(rel, axis=1).max() < 1.2


def test_config_overrides_and_validation():
    from slam_nodes.synth.presets import get_preset

    cfg = get_preset("room-normal").with_overrides(width=64, height=48, duration_s=2.0, lidar=None)
    assert (cfg.rgb.width, cfg.rgb.height, cfg.duration_s, cfg.lidar) == (64, 48, 2.0, None)
    cam = cfg.camera()
    assert cam.width == 64 and abs(cam.cx - 31.5) < 1e-12
    with pytest.raises(ConfigError, match="unknown sequence options"):
        cfg.with_overrides(colour=True)
    with pytest.raises(ConfigError):
        cfg.with_overrides(width=0)
    with pytest.raises(ConfigError):
        cfg.with_overrides(duration_s=0.01)  # fewer than two frames
    with pytest.raises(ConfigError, match="unknown synth preset"):
        get_preset("room-huge")
