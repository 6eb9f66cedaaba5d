"""CRF (slam_nodes.field.crf) and SE(3) interpolation (slam_nodes.slam.interpolation)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation, Slerp

from slam_nodes.field.crf import CameraResponse, ExposureTable, ResponseCurve, estimate_contrast
from slam_nodes.slam.interpolation import (extrapolate, interpolate_pose, interpolate_trajectory,
                                           mean_twist, se3_exp, se3_log, so3_log)
from slam_nodes.synth.camera_sim import response_curve


def _scrambled_curve(seed: int) -> ResponseCurve:
    c = ResponseCurve(n_knots=16)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        c.raw.add_(torch.randn(c.raw.shape, generator=g) * 3.0)   # any parameters at all
    return c


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_curve_is_strictly_monotonic_for_any_parameters(seed):
    c = _scrambled_curve(seed)
    u = torch.linspace(-15.0, 5.0, 4001)          # beyond the knot range on both sides
    y = c(u)
    assert torch.all(y[1:] > y[:-1])
    assert abs(float(c(torch.tensor(c.log_max)).detach()) - 1.0) < 1e-6


@pytest.mark.parametrize("seed", [0, 3])
def test_curve_inverse_is_exact(seed):
    c = _scrambled_curve(seed)
    u = torch.linspace(-14.0, 4.0, 997, dtype=torch.float32)
    back = c.inverse(c(u))
    assert float((back - u).abs().max()) < 2e-3
    y = torch.linspace(0.01, 0.99, 50)
    assert float((c(c.inverse(y)) - y).abs().max()) < 1e-5


def test_rgb_radiance_round_trip_with_exposure_and_gradients():
    crf = CameraResponse()
    rad = torch.rand(200, 3) * 0.9 + 0.01
    e = torch.linspace(-1.0, 1.5, 200)
    rgb = crf.rgb(rad, e)
    assert torch.allclose(crf.radiance(rgb, e), rad, rtol=2e-3, atol=1e-5)
    # brighter exposure -> brighter pixels, by the same curve shifted
    assert torch.all(crf.rgb(rad, 0.5) > crf.rgb(rad, 0.0))
    e_p = torch.zeros((), requires_grad=True)
    crf.rgb(rad, e_p).sum().backward()
    assert e_p.grad is not None and float(e_p.grad) > 0
    assert crf.curve.raw.grad is not None and torch.isfinite(crf.curve.raw.grad).all()


def test_curve_learns_the_generator_response_and_exposures():
    """Fit the curve and per-frame exposures to pixels exposed through the synthetic camera's
    gamma-with-shoulder response: the fit matches the true curve and recovers the exposure
    differences (what per-frame exposure estimation relies on)."""
    gen = torch.Generator().manual_seed(0)
    rad = torch.rand(600, 3, generator=gen) * 0.5 + 0.02
    true_e = np.log(np.array([1.0, 0.5, 2.0, 1.3]))
    frame = torch.randint(0, 4, (600,), generator=gen)
    x = rad.numpy() * np.exp(true_e)[frame.numpy()][:, None] * 0.8
    target = torch.as_tensor(response_curve(x), dtype=torch.float32)
    crf = CameraResponse()
    e = torch.zeros(4, requires_grad=True)
    opt = torch.optim.Adam([{"params": crf.curve.parameters(), "lr": 0.05},
                            {"params": [e], "lr": 0.05}])
    for _ in range(250):
        ee = torch.cat([e[:1] * 0, e[1:]])          # frame 0 is the gauge
        loss = ((crf.rgb(rad, ee[frame]) - target) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(loss) < 2e-4
    est = (e.detach().numpy() - float(e[0]))[1:]
    assert np.allclose(est, true_e[1:] - true_e[0], atol=0.08), est


def test_exposure_table_gauge_and_estimate_contrast():
    t = ExposureTable()
    t.set(10, 0.7)
    t.set(20, -0.3)
    assert t.get(10) == 0.0 and t.get(20) == -0.3 and len(t) == 2
    gen = torch.Generator().manual_seed(1)
    counts = torch.randint(-4, 5, (500,), generator=gen).float()
    dl = 0.31 * counts + torch.randn(500, generator=gen) * 0.05
    assert abs(estimate_contrast(dl, counts) - 0.31) < 0.01
    assert estimate_contrast(dl, torch.zeros(500)) is None


def _random_pose(rng, angle=0.4, trans=0.5):
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(rng.normal(size=3) * angle).as_matrix()
    T[:3, 3] = rng.normal(size=3) * trans
    return torch.as_tensor(T)


def test_se3_log_exp_round_trip_and_interpolation_matches_slerp():
    rng = np.random.default_rng(0)
    for _ in range(5):
        T0, T1 = _random_pose(rng), _random_pose(rng)
        assert torch.allclose(se3_exp(se3_log(T1)), T1, atol=1e-9)
        s = torch.tensor([0.0, 0.25, 0.5, 1.0, 1.5], dtype=torch.float64)
        P = interpolate_pose(T0, T1, s)
        assert torch.allclose(P[0], T0, atol=1e-9) and torch.allclose(P[3], T1, atol=1e-9)
        rots = Rotation.from_matrix(np.stack([T0[:3, :3].numpy(), T1[:3, :3].numpy()]))
        ref = Slerp([0.0, 1.0], rots)([0.25, 0.5]).as_matrix()
        assert np.allclose(P[1:3, :3, :3].numpy(), ref, atol=1e-9)
        # constant twist: the step 0 -> 0.5 equals the step 0.5 -> 1 and 1 -> 1.5
        step = torch.linalg.inv(P[0]) @ P[2]
        assert torch.allclose(P[2] @ step, P[3], atol=1e-9)
        assert torch.allclose(P[3] @ step, P[4], atol=1e-9)


def test_interpolation_gradient_finite_at_zero_motion():
    T0 = torch.eye(4, dtype=torch.float32)
    T1 = torch.eye(4, requires_grad=True)
    P = interpolate_pose(T0, T1, torch.tensor([0.3, 0.7]))
    P.sum().backward()
    assert torch.isfinite(T1.grad).all()
    w = so3_log(torch.eye(3, requires_grad=True)[None])
    assert torch.isfinite(w).all()


def test_interpolate_trajectory_recovers_intermediate_poses():
    rng = np.random.default_rng(3)
    T0 = _random_pose(rng)
    xi = torch.as_tensor(rng.normal(size=6) * 0.2)
    stamps = np.array([0, 100, 200, 300], dtype=np.int64)
    poses = np.stack([(T0 @ se3_exp(xi * k)).numpy() for k in range(4)])
    q = np.array([-50, 50, 150, 250, 350], dtype=np.int64)
    got = interpolate_trajectory(stamps, poses, q)
    want = np.stack([(T0 @ se3_exp(xi * (t / 100.0))).numpy() for t in q])
    assert np.allclose(got, want, atol=1e-9)


def test_mean_twist_is_exact_for_constant_twist_whatever_the_stamps_and_averages_noise():
    """The constant-velocity model (`tracking.velocity_frames` poses back): exact for a
    constant screw motion also when a frame is missing (stamps 0, 33, 100, 133 ms), so the
    pose 67 ms after the last is predicted two steps on; zero for one pose; over 3 steps of
    poses with independent 3 mm errors closer to the true twist than the last step alone."""
    xi = np.array([0.6, -1.5, 0.3, 0.9, 0.0, -0.6])                  # per second
    T0 = se3_exp(torch.tensor([0.3, 0.1, -0.2, 1.0, 2.0, 0.5], dtype=torch.float64)).numpy()
    stamps = [0, 33_000_000, 100_000_000, 133_000_000]
    poses = [extrapolate(T0, xi, t * 1e-9) for t in stamps]
    np.testing.assert_allclose(mean_twist(stamps, poses), xi, atol=1e-9)
    np.testing.assert_allclose(mean_twist(stamps[1:3], poses[1:3]), xi, atol=1e-9)
    np.testing.assert_allclose(extrapolate(poses[-1], mean_twist(stamps, poses), 0.067),
                               extrapolate(T0, xi, 0.2), atol=1e-9)
    np.testing.assert_array_equal(mean_twist(stamps[:1], poses[:1]), np.zeros(6))
    with pytest.raises(ValueError, match="increase"):
        mean_twist(stamps[::-1], poses)
    rng = np.random.default_rng(0)
    last, mean = [], []
    for _ in range(200):
        noisy = [P.copy() for P in poses]
        for P in noisy:
            P[:3, 3] += rng.normal(0.0, 0.003, 3)
        last.append(np.linalg.norm(mean_twist(stamps[-2:], noisy[-2:])[3:] - xi[3:]))
        mean.append(np.linalg.norm(mean_twist(stamps, noisy)[3:] - xi[3:]))
    assert np.mean(mean) < 0.5 * np.mean(last), (np.mean(mean), np.mean(last))
