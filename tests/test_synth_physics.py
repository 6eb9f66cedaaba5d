"""Physics of the synthetic sensors: depth on the mesh within its noise model, events that
integrate to the log-intensity change, motion blur that lowers sharpness, LiDAR on the mesh."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import open3d as o3d
import pytest

from slam_nodes.synth.camera_sim import (DepthConfig, RGBConfig, depth_sigma, inverse_response,
                                         response_curve)
from slam_nodes.synth.config import SequenceConfig
from slam_nodes.synth.event_sim import EventConfig
from slam_nodes.synth.lidar_sim import LidarConfig
from slam_nodes.synth.presets import get_preset
from slam_nodes.synth.sequence import SynthEvents, SynthFrame, SynthScan, build_sequence
from slam_nodes.types import transform_points


def _collect(cfg: SequenceConfig):
    seq = build_sequence(cfg, nthreads=2)
    frames, events, scans = [], [], []
    for item in seq.items():
        if isinstance(item, SynthFrame):
            frames.append(item)
        elif isinstance(item, SynthEvents):
            events.append(item)
        elif isinstance(item, SynthScan):
            scans.append(item)
    return seq, frames, events, scans


@pytest.fixture(scope="module")
def noiseless_events_run():
    """120x90 room, 0.4 s; ideal event sensor (equal thresholds, no noise, no refractory)."""
    cfg = SequenceConfig(
        name="physics", scene="room", duration_s=0.4, seed=3,
        rgb=RGBConfig(width=120, height=90),
        events=EventConfig(threshold_sigma=0.0, refractory_s=0.0, shot_noise_hz=0.0, leak_hz=0.0),
        lidar=LidarConfig(beams=16, columns=360))
    return _collect(cfg)


def _distance_to_mesh(seq, points_world: np.ndarray) -> np.ndarray:
    rc = seq.renderer.raycasting_scene
    return rc.compute_distance(o3d.core.Tensor(points_world.astype(np.float32))).numpy()


def test_depth_backprojects_onto_mesh_within_noise_model(noiseless_events_run):
    seq, frames, _, _ = noiseless_events_run
    cfg: DepthConfig = seq.config.depth
    normalised, dist_ratio, holes = [], [], []
    for frame in frames[::3]:
        valid = frame.depth > 0
        holes.append(1.0 - valid.mean())
        z_true = frame.depth_true[valid]
        sigma = depth_sigma(z_true, cfg)
        normalised.append((frame.depth[valid] - z_true) / np.sqrt(sigma**2 + 0.001**2 / 12))
        pts_cam = seq.camera.depth_to_points(frame.depth)
        d = _distance_to_mesh(seq, transform_points(frame.T_world_cam, pts_cam))
        dist_ratio.append(d / (4 * sigma + 0.0006))
    normalised = np.concatenate(normalised)
    # the axial error follows the documented sigma(z): unit variance, zero mean
    assert 0.85 < normalised.std() < 1.15
    assert abs(normalised.mean()) < 0.1
    # every back-projected point lies on the GT mesh within 4 sigma (+ quantisation)
    assert np.mean(np.concatenate(dist_ratio) <= 1.0) > 0.999
    # holes exist (edges, grazing, random) but most pixels are measured
    assert 0.003 < np.mean(holes) < 0.3


def test_depth_holes_on_dark_surfaces():
    from slam_nodes.synth.camera_sim import simulate_depth

    rng = np.random.default_rng(0)
    z = np.full((50, 60), 2.0, dtype=np.float32)
    albedo = np.full((50, 60, 3), 0.5, dtype=np.float32)
    albedo[:, :30] = 0.02  # dark half
    depth = simulate_depth(z, albedo, np.ones_like(z), DepthConfig(), rng)
    assert np.mean(depth[:, :30] == 0) > 0.8
    assert np.mean(depth[:, 30:] == 0) < 0.05


def test_events_integrate_to_log_intensity_change(noiseless_events_run):
    seq, frames, events, _ = noiseless_events_run
    C = seq.config.events.threshold
    by_stamp = {f.stamp_ns: f for f in frames}
    within, total_events = [], 0
    for packet in events:
        batch = packet.events
        assert np.all(np.diff(batch.t) >= 0)
        assert batch.t.min() > packet.t0_ns and batch.t.max() <= packet.t1_ns
        total_events += len(batch)
        acc = np.zeros((seq.camera.height, seq.camera.width))
        np.add.at(acc, (batch.y.astype(int), batch.x.astype(int)), batch.p.astype(float))
        dlog = by_stamp[packet.t1_ns].log_luminance - by_stamp[packet.t0_ns].log_luminance
        err = np.abs(dlog - C * acc)
        # exact property of the ideal sensor: the reference stays within C of the signal
        assert err.max() < 2 * C + 1e-3
        within.append(np.mean(err < C))
    assert total_events > 1000
    assert np.mean(within) > 0.8


def test_noisy_event_sensor_still_tracks_log_change():
    cfg = dataclasses.replace(get_preset("room-tiny"), duration_s=0.3, lidar=None, depth=None,
                              rgb=RGBConfig(width=96, height=72))
    seq, frames, events, _ = _collect(cfg)
    by_stamp = {f.stamp_ns: f for f in frames}
    within = []
    for packet in events:
        b = packet.events
        acc = np.zeros((72, 96))
        np.add.at(acc, (b.y.astype(int), b.x.astype(int)), b.p.astype(float))
        dlog = by_stamp[packet.t1_ns].log_luminance - by_stamp[packet.t0_ns].log_luminance
        within.append(np.mean(np.abs(dlog - 0.2 * acc) < 0.2))
    assert np.mean(within) > 0.75


def _sharpness(rgb: np.ndarray) -> float:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float64)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_blur_variant_is_less_sharp_than_short_exposure():
    """Same scene, path and signal level: 25 ms vs 1 ms exposure (sensitivity x25)."""
    blur = dataclasses.replace(get_preset("room-blur"), duration_s=0.5, events=None, lidar=None,
                               depth=None)
    blur = blur.with_overrides(width=160, height=120)
    sharp = dataclasses.replace(blur, rgb=dataclasses.replace(
        blur.rgb, exposure_s=0.001, sensitivity_per_s=blur.rgb.sensitivity_per_s * 25))
    _, f_blur, _, _ = _collect(blur)
    _, f_sharp, _, _ = _collect(sharp)
    assert min(f.blur_samples for f in f_blur) >= 3
    assert max(f.blur_samples for f in f_sharp) <= 3
    # equal brightness (same signal level), so only the blur differs
    mean_blur = np.mean([f.rgb.mean() for f in f_blur])
    mean_sharp = np.mean([f.rgb.mean() for f in f_sharp])
    assert abs(mean_blur - mean_sharp) < 0.1 * mean_sharp
    s_blur = np.mean([_sharpness(f.rgb) for f in f_blur])
    s_sharp = np.mean([_sharpness(f.rgb) for f in f_sharp])
    assert s_blur < 0.75 * s_sharp


def test_lidar_points_lie_on_mesh(noiseless_events_run):
    seq, _, _, scans = noiseless_events_run
    cfg = seq.config.lidar
    assert len(scans) == 4
    for item in scans:
        scan = item.sim.scan
        assert len(scan) > 0.5 * cfg.beams * cfg.columns
        assert scan.ring.max() < cfg.beams
        assert scan.time_ns.min() >= scan.stamp_ns
        assert scan.time_ns.max() < scan.stamp_ns + 1e9 / cfg.rate_hz
        # each point, moved to the world with the pose at its own time, is on the mesh
        poses = seq.lidar_poses(scan.time_ns)
        world = np.einsum("nij,nj->ni", poses[:, :3, :3], scan.xyz.astype(np.float64)) + poses[:, :3, 3]
        d = _distance_to_mesh(seq, world)
        assert np.mean(d < 4 * cfg.range_noise_m) > 0.99
        assert np.median(d) < 1.5 * cfg.range_noise_m
        assert np.percentile(_distance_to_mesh(seq, item.sim.points_world_true), 99) < 2e-3


def test_response_curve_is_monotonic_and_inverts():
    v = np.linspace(0, 1, 1001)
    i = response_curve(v)
    assert i[0] == 0 and abs(i[-1] - 1) < 1e-12
    assert np.all(np.diff(i) > 0)
    assert np.allclose(inverse_response(i), v, atol=1e-9)


def test_dark_variant_changes_lighting_and_raises_gain():
    cfg = get_preset("room-dark")
    seq = build_sequence(dataclasses.replace(cfg, duration_s=4.0, events=None, lidar=None))
    plan = seq.plan
    assert plan.illumination.max() / plan.illumination.min() > 1.5
    assert plan.gain.max() > 1.5
    assert np.all(plan.exposure_s <= cfg.rgb.max_exposure_s + 1e-12)
    normal = build_sequence(dataclasses.replace(get_preset("room-normal"), duration_s=1.0,
                                                events=None, lidar=None))
    assert normal.plan.exposure_s.max() < plan.exposure_s.min()


def test_event_substeps_move_less_than_a_pixel(noiseless_events_run):
    seq, _, _, _ = noiseless_events_run
    cam = seq.camera
    stamps = seq.plan.sample_ns
    poses = seq.camera_poses(stamps)
    worst = []
    for j in range(0, len(stamps) - 1, 5):
        depth = seq.renderer.render(cam, poses[j]).depth
        v, u = np.nonzero(depth > 0)
        pts = cam.unproject(np.stack([u, v], axis=1).astype(float), depth[v, u])
        world = transform_points(poses[j], pts)
        nxt = transform_points(np.linalg.inv(poses[j + 1]), world)
        uv, _ = cam.project(nxt)
        worst.append(np.percentile(np.linalg.norm(uv - np.stack([u, v], axis=1), axis=1), 99))
    assert max(worst) < 1.0
    assert np.median(worst) > 0.05  # the camera does move between sub-steps
