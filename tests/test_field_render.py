"""Renderer and losses on analytic SDFs (plane, sphere) with known answers."""

from __future__ import annotations

import numpy as np
import torch

from slam_nodes.field.losses import rgb_loss, s3im_loss, sdf_losses, smoothness_loss
from slam_nodes.field.render import render_rays, sample_depths, sdf_to_weights

TR = 0.1


def _plane_field(z0: float):
    """SDF (truncation units) of the plane z = z0 seen from z < z0; colour red in front."""
    def field(p: torch.Tensor, with_color: bool = True):
        sdf = (z0 - p[:, 2]) / TR
        rgb = torch.tensor([1.0, 0.0, 0.0]).expand(len(p), 3) if with_color else None
        return sdf, rgb
    return field


def _sphere_field(center: torch.Tensor, radius: float):
    def field(p: torch.Tensor, with_color: bool = True):
        sdf = (torch.linalg.norm(p - center, dim=1) - radius) / TR
        rgb = (p * 0 + 0.5) if with_color else None
        return sdf, rgb
    return field


def test_sample_depths_uniform_and_surface():
    target = torch.tensor([2.0, 0.0])
    t = sample_depths(target, 0.5, 4.0, 8, 5, 0.1, perturb=False)
    assert t.shape == (2, 13)
    assert torch.all(t[:, 1:] >= t[:, :-1])
    near = t[0][(t[0] > 1.89) & (t[0] < 2.11)]
    assert torch.allclose(near[-5:] if len(near) >= 5 else near,
                          torch.tensor([1.9, 1.95, 2.0, 2.05, 2.1]), atol=1e-6) or len(near) >= 5
    assert float(t[1].min()) >= 0.5 and float(t[1].max()) <= 4.0


def test_weights_peak_at_plane_and_render_depth():
    z0 = 1.7
    o = torch.zeros(4, 3)
    d = torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.0, 1.0], [0.0, -0.2, 1.0], [0.3, 0.3, 1.0]])
    target = torch.full((4,), z0)
    t = sample_depths(target, 0.2, 4.0, 32, 11, 0.1, perturb=False)
    out = render_rays(_plane_field(z0), o, d, t, TR)
    assert torch.allclose(out.weights.sum(1), torch.ones(4), atol=1e-5)
    # weights ~ sigmoid(s/tr) sigmoid(-s/tr) with s = (z0 - t)/tr: symmetric about z0
    # Co-SLAM's sampling (2 cm spacing around a ~1 cm bell) is biased by a few mm ...
    assert torch.allclose(out.depth, target, atol=1e-2)
    # ... dense samples render the plane exactly
    dense = torch.linspace(0.2, 4.0, 2000).expand(4, 2000)
    out_d = render_rays(_plane_field(z0), o, d, dense, TR)
    assert torch.allclose(out_d.depth, target, atol=1e-3)
    assert torch.allclose(out.rgb, torch.tensor([1.0, 0.0, 0.0]).expand(4, 3), atol=1e-5)
    s = torch.tensor([[0.5, 0.1, 0.0, -0.1, -0.5]])
    w = sdf_to_weights(s, torch.tensor([[1.0, 1.1, 1.2, 1.3, 1.4]]), TR)
    assert abs(float(w[0, 1] - w[0, 3])) < 1e-6 and int(w.argmax()) == 2


def test_render_sphere_depth_matches_intersection():
    c = torch.tensor([0.0, 0.0, 2.0])
    dirs = torch.tensor([[0.0, 0.0, 1.0], [0.1, 0.05, 1.0], [-0.15, 0.1, 1.0]])
    o = torch.zeros(3, 3)
    # analytic z-depth of the front intersection (dir has z = 1)
    a = (dirs * dirs).sum(1)
    b = -(dirs * c).sum(1)
    cc = (c * c).sum() - 0.5 ** 2
    t_hit = (-b - torch.sqrt(b * b - a * cc)) / a
    t = torch.linspace(0.3, 4.0, 3000).expand(3, 3000)
    out = render_rays(_sphere_field(c, 0.5), o, dirs, t, TR)
    assert torch.allclose(out.depth, t_hit, atol=1.5e-3)
    t = sample_depths(t_hit, 0.3, 4.0, 32, 11, 0.1, perturb=False)
    out = render_rays(_sphere_field(c, 0.5), o, dirs, t, TR)
    assert torch.allclose(out.depth, t_hit, atol=1e-2)


def test_occluded_second_surface_is_cut():
    # two planes: sdf crosses zero at 1.0 and again at 2.0; rendering must see the first
    def field(p, with_color=True):
        z = p[:, 2]
        sdf = torch.where(z < 1.5, 1.0 - z, z - 2.0) / TR
        return sdf, (p * 0 + 1.0) if with_color else None
    t = torch.linspace(0.2, 3.0, 200)[None]
    out = render_rays(field, torch.zeros(1, 3), torch.tensor([[0.0, 0.0, 1.0]]), t, TR)
    assert abs(float(out.depth[0]) - 1.0) < 0.01


def test_sdf_losses_zero_for_exact_sdf_and_positive_otherwise():
    target = torch.tensor([2.0, 1.5, 0.0])
    t = sample_depths(target, 0.2, 3.0, 16, 11, 0.1, perturb=False)
    exact = torch.where(t < target[:, None] - TR, torch.ones_like(t),
                        (target[:, None] - t) / TR)
    sd, fs = sdf_losses(exact, t, target, TR)
    assert float(sd) < 1e-12 and float(fs) < 1e-12
    sd2, fs2 = sdf_losses(exact + 0.2, t, target, TR)
    # band error is 0.2 truncation units = 2 cm -> squared 4e-4 m^2 times the band weight
    assert float(sd2) > 1e-4 and float(fs2) > 1e-3


def test_smoothness_of_linear_field_is_analytic():
    bounds = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
    spacing = 0.05
    val = smoothness_loss(lambda p: p[:, 0] / TR, bounds, 6, spacing)
    assert abs(float(val) - (spacing / TR) ** 2) < 1e-6


def test_rgb_and_s3im_losses():
    g = torch.Generator().manual_seed(0)
    a = torch.rand(256, 3, generator=g)
    assert float(s3im_loss(a, a, generator=g)) < 1e-5
    assert float(s3im_loss(a, torch.rand(256, 3, generator=g), generator=g)) > 0.3
    m = torch.zeros(256, dtype=torch.bool)
    m[:10] = True
    b = a.clone()
    b[10:] = 0
    assert float(rgb_loss(a, b, m)) == 0.0 and float(rgb_loss(a, b)) > 0.0
    assert np.isfinite(float(rgb_loss(a, b, torch.zeros(256, dtype=torch.bool))))


def test_render_many_equals_separate_renders_with_gradients():
    """One shared field query of several ray sets (with and without colour, different sample
    counts) gives what separate render_rays calls give, values and gradients w.r.t. the rays."""
    from slam_nodes.field.field import SdfField
    from slam_nodes.field.render import render_many

    field = SdfField(np.array([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]), n_levels=4,
                     log2_hashmap_size=10, finest_voxel_m=0.1, implementation="torch")
    with torch.no_grad():
        field.grid.params.normal_(0.0, 0.1)
    g = torch.Generator().manual_seed(0)
    sets = []
    for n, s, color in ((16, 9, False), (8, 5, True), (12, 7, True)):
        o = torch.rand(n, 3, generator=g) * 0.2 - 0.1
        d = torch.nn.functional.normalize(torch.rand(n, 3, generator=g) - 0.5, dim=1)
        t = torch.sort(torch.rand(n, s, generator=g) * 0.8 + 0.05, dim=1).values
        sets.append((o.requires_grad_(), d, t, color))

    def loss(outs):
        return sum(out.depth.sum() + (out.rgb.sum() if out.rgb is not None else 0.0)
                   for out in outs)

    shared = render_many(field, sets, TR, field.inside)
    l_shared = loss(shared)
    g_shared = torch.autograd.grad(l_shared, [s[0] for s in sets])
    separate = [render_rays(field, o, d, t, TR, c, None, field.inside) for o, d, t, c in sets]
    g_sep = torch.autograd.grad(loss(separate), [s[0] for s in sets])
    for a, b in zip(shared, separate):
        assert (a.rgb is None) == (b.rgb is None)
        assert torch.allclose(a.depth, b.depth, atol=1e-6)
        assert torch.equal(a.inside, b.inside)
        if a.rgb is not None:
            assert torch.allclose(a.rgb, b.rgb, atol=1e-6)
    for a, b in zip(g_shared, g_sep):
        assert torch.allclose(a, b, atol=1e-5)
    assert all(float(x.abs().sum()) > 0 for x in g_shared)
