"""End to end: EnSlamSystem vs the RGB-D-only core on a short blurred, exposure-varying
sequence of the analytic box room with simulated events; event-only tracking; config."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slam_nodes.errors import ConfigError
from slam_nodes.slam.analytic import BoxRoomScene, orbit_trajectory
from slam_nodes.slam.en_config import load_en_slam_config
from slam_nodes.slam.en_slam import EnObservation, build_en_slam_system
from slam_nodes.slam.interpolation import interpolate_trajectory
from slam_nodes.slam.system import build_system
from slam_nodes.synth.camera_sim import response_curve
from slam_nodes.synth.event_sim import EventConfig, EventSimulator
from slam_nodes.types import CameraModel, RGBDFrame

TINY = {
    "preset": "cpu-lite", "image_scale": 1.0, "num_threads": 1,
    "encoding": {"n_levels": 6, "log2_hashmap_size": 12, "finest_voxel_m": 0.08},
    "render": {"n_uniform": 10, "n_surface": 5, "far_m": 5.0},
    "tracking": {"n_iters": 10, "n_rays": 256, "edge_px": 2, "lr_rot": 3e-3, "lr_trans": 3e-3},
    "mapping": {"first_iters": 60, "n_iters": 5, "n_rays": 512, "keyframe_pixel_fraction": 0.2},
}
EN = {"events": {"n_rays": 64, "map_n_rays": 96, "edge_px": 2}, "blur": {"n_rays": 64}}
# no reference-frame term at all (by default it is on in event-only steps only)
EN_NO_REF = {**EN, "events": {**EN["events"], "event_only_reference_weight": 0.0}}
N_FRAMES = 8
DT_NS = 50_000_000
EXPOSURE_S = 0.03
CAM = CameraModel.pinhole(48, 36, 42, 42, 23.5, 17.5)


def _radiance(scene: BoxRoomScene, T: np.ndarray) -> np.ndarray:
    d = CAM.ray_directions().reshape(-1, 3) @ T[:3, :3].T
    o = np.broadcast_to(T[:3, 3], d.shape)
    z = scene.cast(o, d)
    return scene.texture(o + d * z[:, None]).reshape(CAM.height, CAM.width, 3)


@pytest.fixture(scope="module")
def sequence():
    """Frames with 30 ms motion blur and a varying exposure (log factors below), depth at the
    stamp, and noiseless-threshold events (C = 0.2, 3% spread, some noise) between frames."""
    torch.set_num_threads(1)
    scene = BoxRoomScene()
    key = orbit_trajectory(N_FRAMES, step_deg=3.0)
    stamps = np.arange(N_FRAMES, dtype=np.int64) * DT_NS
    log_exp = np.log([1.0, 1.2, 0.8, 1.4, 0.7, 1.1, 0.9, 1.3])
    sim = EventSimulator(CAM.width, CAM.height, EventConfig(), seed=0)
    luma = np.array([0.299, 0.587, 0.114])
    frames, events = [], []
    sub = np.linspace(0, (N_FRAMES - 1) * DT_NS, (N_FRAMES - 1) * 6 + 1).astype(np.int64)
    sub_poses = interpolate_trajectory(stamps, np.stack(key), sub)
    sim.reset(np.log(_radiance(scene, key[0]) @ luma + 1e-3), 0)
    pending = []
    for t, T in zip(sub[1:], sub_poses[1:]):
        pending.append(sim.step(np.log(_radiance(scene, T) @ luma + 1e-3), int(t)))
        if t in stamps:
            events.append(pending)
            pending = []
    for i, T in enumerate(key):
        times = stamps[i] + np.linspace(-EXPOSURE_S / 2, EXPOSURE_S / 2, 5) * 1e9
        blur_poses = interpolate_trajectory(stamps, np.stack(key), times.astype(np.int64))
        rad = np.mean([_radiance(scene, P) for P in blur_poses], axis=0)
        rgb = (response_curve(rad * 0.6 * np.exp(log_exp[i])) * 255 + 0.5).astype(np.uint8)
        depth = scene.render(CAM, T).depth
        frames.append(RGBDFrame(int(stamps[i]), CAM, rgb, depth, exposure_s=EXPOSURE_S))
    from slam_nodes.types import EventBatch
    ev = [None] + [EventBatch.concatenate(p) for p in events]
    for b in ev[1:]:
        b.width, b.height = CAM.width, CAM.height
    return frames, ev, key, log_exp


def _ate(traj_xyz, key):
    e = np.asarray(traj_xyz) - np.array(key)[:, :3, 3]
    return float(np.sqrt((e ** 2).sum(1).mean()))


@pytest.fixture(scope="module")
def runs(sequence):
    frames, ev, key, _ = sequence
    torch.manual_seed(0)
    core = build_system(TINY, initial_T_world_cam=key[0])
    r_core = [core.step(f) for f in frames]
    en = build_en_slam_system({**TINY, **EN}, initial_T_world_cam=key[0])
    r_en = [en.step(EnObservation(f.stamp_ns, f, e)) for f, e in zip(frames, ev)]
    return core, r_core, en, r_en


def test_event_mode_tracks_blurred_sequence(runs, sequence):
    core, r_core, en, r_en = runs
    key = sequence[2]
    assert all(r.tracking_ok for r in r_en)
    ate_en = _ate([r.T_world_cam[:3, 3] for r in r_en], key)
    ate_core = _ate([r.T_world_cam[:3, 3] for r in r_core], key)
    moved = np.linalg.norm(key[-1][:3, 3] - key[0][:3, 3])
    assert moved > 0.1
    # measured here: both a few cm; the issue's "event mode beats RGB-D-only" is reported by
    # benchmarks/bench_enslam.py, this guards against event mode making tracking worse (the
    # map's event fidelity stays below events.trust_lo here, so frame tracking uses the CRF
    # and blur terms and the events only through mapping)
    assert ate_en < 0.04, ate_en
    assert ate_en <= 1.3 * ate_core + 0.005, (ate_en, ate_core)
    stats = en.event_stats()
    assert stats.received > 1000 and stats.kept == stats.received


def test_contrast_and_exposures_are_estimated(runs, sequence):
    _, _, en, _ = runs
    log_exp = sequence[3]
    C = float(en.crf.event.contrast.detach())
    # simulator: C = 0.2 (3% spread) + noise events. The estimate comes from frame-to-frame
    # changes of these 30 ms-blurred frames (measured ~0.15: blur attenuates the frames'
    # changes): we check it was estimated from the data (moved off its 0.25 start) and stays
    # in a sane range
    assert abs(C - 0.25) > 0.01 and 0.03 < C < 0.45, C
    est = np.array([v for _, v in en.exposures.items()])
    assert len(est) == N_FRAMES and est[0] == 0.0
    corr = np.corrcoef(est, log_exp - log_exp[0])[0, 1]
    assert corr > 0.8, (corr, est)


def test_event_only_step_when_depth_drops_out(sequence):
    """A frame without depth is tracked from events alone. This tiny, briefly trained map does
    not predict events (event trust 0), so the reference-frame term (on in event-only steps by
    default) is the one term left; without it the step reports the motion model's prediction
    as not tracked and says why."""
    frames, ev, key, _ = sequence
    en = build_en_slam_system({**TINY, **EN}, initial_T_world_cam=key[0])
    plain = build_en_slam_system({**TINY, **EN_NO_REF}, initial_T_world_cam=key[0])
    for f, e in zip(frames[:3], ev[:3]):
        en.step(EnObservation(f.stamp_ns, f, e))
        plain.step(EnObservation(f.stamp_ns, f, e))
    T_pred = en.predicted_pose(frames[3].stamp_ns)   # what tracking would start from
    dark = RGBDFrame(frames[3].stamp_ns, CAM, np.zeros_like(frames[3].rgb),
                     np.zeros_like(frames[3].depth))
    T_pred_plain = plain.predicted_pose(frames[3].stamp_ns)
    r_plain = plain.step(EnObservation(dark.stamp_ns, dark, ev[3]))
    assert not r_plain.skipped and not r_plain.tracking_ok and "no event term" in r_plain.reason
    assert np.allclose(r_plain.T_world_cam, T_pred_plain, atol=1e-6) and plain.references == {}
    r = en.step(EnObservation(dark.stamp_ns, dark, ev[3]))
    assert not r.skipped and r.tracking_ok and "event-only" in r.reason
    err = np.linalg.norm(r.T_world_cam[:3, 3] - key[3][:3, 3])
    err_pred = np.linalg.norm(T_pred[:3, 3] - key[3][:3, 3])
    # measured: 6.8 cm vs 6.0 cm for the constant-velocity start, i.e. events alone do not
    # improve the pose here: this tiny, briefly trained map renders log-intensity changes that
    # do not match the events (its event fidelity is below 0, see events.event_trust); this
    # bounds the damage, it is not a success
    assert np.isfinite(err) and err < 0.15 and err < err_pred + 0.05, (err, err_pred)
    assert len(en.trajectory()) == 4


def test_dropout_windows_reach_back_to_the_last_rgbd_frame(sequence):
    """Through a dropout longer than `window_frames`, event-only frames still get a window
    from the last frame with RGB-D, with that frame's reference (its log image and depth)
    and all events since it: the buffer keeps them although the pose history moved on.
    Frame tracking leaves the reference term out by default (its weight 0)."""
    from slam_nodes.types import EventBatch

    frames, ev, key, _ = sequence
    en = build_en_slam_system({**TINY, **EN}, initial_T_world_cam=key[0])
    assert en.en.events.reference_weight == 0 < en.en.events.event_only_reference_weight
    for f, e in zip(frames[:3], ev[:3]):
        en.step(EnObservation(f.stamp_ns, f, e))
    last_rgbd = frames[2].stamp_ns
    assert last_rgbd in en.references
    for f, e in zip(frames[3:6], ev[3:6]):               # three frames: events only
        r = en.step(EnObservation(f.stamp_ns, None, e))
        assert "event-only" in r.reason
    assert en.en.events.window_frames < 3 and last_rgbd not in [t for t, _ in en.history]
    stamp = frames[6].stamp_ns
    en.push_events(ev[6])                                # as step() does before tracking
    plain = en._windows(stamp)
    windows = en._windows(stamp, from_reference=True)
    assert len(windows) == len(plain) + 1 and all(r is None for _, _, r in plain)
    T_a, counts, ref = windows[0]
    assert ref is en.references[last_rgbd]
    assert np.allclose(T_a, en.references[last_rgbd].T_world_rig.numpy())
    since = EventBatch.concatenate(ev[3:7])
    since = since.select((since.t >= last_rgbd) & (since.t < stamp))     # window [t_a, t)
    expected = np.zeros_like(counts)
    np.add.at(expected, (since.y.astype(int), since.x.astype(int)), since.p.astype(np.float32))
    assert np.array_equal(counts, expected) and np.abs(counts).sum() > 100


def test_config_sections_and_unknown_keys():
    cfg = load_en_slam_config({**TINY, "events": {"window_frames": 3}, "crf": {"n_knots": 16}})
    assert cfg.events.window_frames == 3 and cfg.crf.n_knots == 16
    assert cfg.slam.tracking.n_rays == 256
    with pytest.raises(ConfigError):
        load_en_slam_config({"events": {"window_frame": 3}})


def test_predicted_blur_px_from_rotation_and_translation():
    from scipy.spatial.transform import Rotation

    from slam_nodes.slam.blur import predicted_blur_px

    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec([0.0, 0.02, 0.0]).as_matrix()
    # 0.02 rad per 33 ms frame, half of it exposed, f = 100 px: 1 px of motion blur
    assert abs(predicted_blur_px(T, 0.033, 0.0165, 100.0, 2.0) - 1.0) < 1e-6
    T = np.eye(4)
    T[:3, 3] = [0.04, 0.0, 0.0]                     # 4 cm sideways at 2 m: 0.02 rad
    assert abs(predicted_blur_px(T, 0.033, 0.0165, 100.0, 2.0) - 1.0) < 1e-6
    assert predicted_blur_px(T, 0.033, 0.0, 100.0, 2.0) == 0.0


def test_blur_term_renders_the_surface_band_and_averages_radiance():
    """The blur term (as EnTracker composes it) queries only n_surface samples a ray (within
    +-surface_range_m of the measured depth) at each exposure pose, all poses in one field
    query, and applies the response once to the radiance averaged over the poses: a wall at
    z = 2 m whose radiance steps at x = 0 seen by two poses 1 cm either side of the step gives
    the response of the mean radiance."""
    from slam_nodes.field.crf import CameraResponse
    from slam_nodes.field.render import render_many
    from slam_nodes.slam.blur import blur_rays, blur_samples, blurred_response

    queried = []

    def wall(pts: torch.Tensor, with_color: bool = True):
        queried.append(len(pts))
        sdf = (2.0 - pts[:, 2]) / 0.1                    # truncation units, tr = 0.1 m
        rad = torch.where(pts[:, :1] < 0, 0.2, 0.6).expand(-1, 3)
        return sdf, rad if with_color else None

    crf = CameraResponse()
    o, d = torch.zeros(4, 3), torch.tensor([[0.0, 0.0, 1.0]]).repeat(4, 1)
    t = blur_samples(torch.full((4,), 2.0), 0.1, 5.0, 7, 0.1)
    assert t.shape == (4, 7) and float((t - 2.0).abs().max()) <= 0.1 + 1e-6
    poses = torch.eye(4).repeat(2, 1, 1)
    poses[0, 0, 3], poses[1, 0, 3] = -0.01, 0.01
    (out,) = render_many(wall, [(*blur_rays(o, d, poses), t.repeat(2, 1), True)], 0.1)
    pred = blurred_response(out.rgb, 2, crf, 0.0)
    assert queried == [2 * 4 * 7]
    expected = crf.rgb(torch.full((4, 3), 0.4), 0.0)
    assert torch.allclose(pred, expected, atol=1e-4), (pred, expected)


def test_event_only_tracking_bridges_an_rgbd_dropout_on_the_dark_clip():
    """bench_enslam's room-dark clip at 128x96 (x9 light change, seed 0), 18 frames, of which
    frames 10-13 (0.13 s) bring no RGB-D frame, only events: event mode tracks them
    (motion-model start and prior, events) to well within half the error of holding the last
    pose, and keeps tracking when the frames return. Measured: 0.6 / 0.8 / 1.1 / 1.2 cm
    against 2.2 / 4.1 / 6.1 / 8.0 cm held; without the prior 1.4 / 3.6 / 6.0 / 8.0 cm."""
    from benchmarks.bench_enslam import CORE, _render

    torch.set_num_threads(1)
    cfg, frames, events = _render("room-dark", 0.6, 128, 96)
    cam = cfg.camera()
    en = build_en_slam_system({**CORE, "seed": 0}, initial_T_world_cam=frames[0].T_world_cam)
    drop = range(10, 14)
    err, held = [], []
    for i, (f, ev) in enumerate(zip(frames, events)):
        frame = None if i in drop else RGBDFrame(f.stamp_ns, cam, f.rgb, f.depth,
                                                 exposure_s=f.exposure_s)
        if i == drop[0]:
            T_held = en.T_last
        r = en.step(EnObservation(f.stamp_ns, frame, ev))
        err.append(np.linalg.norm(r.T_world_cam[:3, 3] - f.T_world_cam[:3, 3]))
        if i in drop:
            assert "event-only" in r.reason and r.tracking_ok, r.reason
            held.append(np.linalg.norm(T_held[:3, 3] - f.T_world_cam[:3, 3]))
    in_drop = np.array([err[i] for i in drop])
    assert in_drop.mean() < 0.5 * np.mean(held), (in_drop, held)
    assert r.tracking_ok and err[-1] < 0.02, err
