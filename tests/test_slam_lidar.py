"""LiDAR supervision of the same field: LiDAR-only and RGB-D + LiDAR runs on the analytic room."""

from __future__ import annotations

import numpy as np
import torch

from slam_nodes.slam.analytic import BoxRoomScene, orbit_trajectory
from slam_nodes.slam.rays import lidar_rays
from slam_nodes.slam.system import Observation, build_system
from slam_nodes.types import CameraModel, LidarScan, make_pose

# LiDAR (REP-103: x forward, y left, z up) mounted looking along the camera's optical axis
T_CAM_LIDAR = make_pose(np.array([[0.0, -1.0, 0.0], [0.0, 0.0, -1.0], [1.0, 0.0, 0.0]]),
                        [0.0, -0.05, 0.02])
CFG = {
    "preset": "cpu-lite", "image_scale": 1.0, "num_threads": 1,
    "encoding": {"n_levels": 6, "log2_hashmap_size": 12, "finest_voxel_m": 0.08},
    "render": {"n_uniform": 10, "n_surface": 5, "far_m": 5.0},
    "tracking": {"n_iters": 10, "n_rays": 256, "lr_rot": 3e-3, "lr_trans": 3e-3, "edge_px": 2},
    "mapping": {"first_iters": 70, "n_iters": 5, "n_rays": 384},
    "lidar": {"keyframe_ray_fraction": 0.2},
}


def _ate(traj, poses) -> float:
    err = traj.poses[:, :3, 3] - np.array(poses)[:, :3, 3]
    return float(np.sqrt((err ** 2).sum(1).mean()))


def test_lidar_rays_follow_the_beams():
    scan = LidarScan(0, np.array([[2.0, 0, 0], [0, 3.0, 0], [np.nan, 0, 0], [0.1, 0, 0]]))
    rays = lidar_rays(scan, T_CAM_LIDAR, 0.3, 30.0)
    assert len(rays) == 2                                   # NaN and too-close points dropped
    assert torch.allclose(rays.target_t, torch.tensor([2.0, 3.0]))
    ends = rays.origins + rays.dirs * rays.target_t[:, None]
    want = (T_CAM_LIDAR[:3, :3] @ np.array([[2.0, 0, 0], [0, 3.0, 0]]).T).T + T_CAM_LIDAR[:3, 3]
    assert np.allclose(ends.numpy(), want, atol=1e-5)
    assert not bool(rays.has_rgb.any())


def test_lidar_only_tracking():
    torch.manual_seed(0)
    scene = BoxRoomScene()
    poses = [T @ T_CAM_LIDAR for T in orbit_trajectory(5)]
    system = build_system(CFG, initial_T_world_cam=poses[0])
    for i, T in enumerate(poses):
        r = system.step(scene.lidar_scan(T, 180, stamp_ns=i * 100_000_000))
        assert r.tracking_ok and not r.skipped
    assert _ate(system.trajectory(), poses) < 0.03


def test_rgbd_plus_lidar_tracking():
    torch.manual_seed(0)
    scene = BoxRoomScene()
    cam = CameraModel.pinhole(48, 36, 42, 42, 23.5, 17.5)
    poses = orbit_trajectory(5)
    cfg = {**CFG, "lidar": {**CFG["lidar"], "T_rig_lidar": T_CAM_LIDAR.tolist()}}
    system = build_system(cfg, initial_T_world_cam=poses[0])
    for i, T in enumerate(poses):
        stamp = i * 100_000_000
        obs = Observation(stamp, rgbd=scene.render(cam, T, stamp),
                          lidar=scene.lidar_scan(T @ T_CAM_LIDAR, 120, stamp_ns=stamp))
        r = system.step(obs)
        assert r.tracking_ok
    assert _ate(system.trajectory(), poses) < 0.03
    # both sensors feed the keyframe store: camera rays carry colour, LiDAR rays do not
    rays, _ = system.store.rays()
    assert bool(rays.has_rgb.any()) and bool((~rays.has_rgb).any())
