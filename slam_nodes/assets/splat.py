"""3D Gaussian splat of a completed asset, fitted to renders of its coloured surface.

Targets: RGB + silhouette images of the completed mesh (vertex colours from the completed field)
ray-cast with open3d from `num_views` cameras on a sphere. Gaussians start on the surface and are
fitted by Adam. Rendering: gsplat's pure-torch projection (`gsplat.cuda._torch_impl`:
`_quat_scale_to_covar_preci`, `_fully_fused_projection`) and a dense front-to-back alpha
compositor written here, because gsplat's torch rasteriser still calls its CUDA tile kernels; on a
CUDA device `gsplat.rasterization` (its CUDA path) is used instead. The .ply layout is the one 3DGS
viewers read: x y z nx ny nz f_dc_0..2 f_rest_0..44 opacity scale_0..2 rot_0..3 (float32).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from slam_nodes.types.pose import make_pose

logger = logging.getLogger(__name__)

SH_C0 = 0.28209479177387814
N_REST = 45  # SH degree 3 rest coefficients, zero here (view-independent colour)


@dataclass
class Splats:
    """Gaussians in the object frame: means [N,3] m, log scales [N,3], quats [N,4] (w,x,y,z),
    opacity logits [N], rgb [N,3] in [0,1]; fit_l1: final mean photometric L1 of the fit."""

    means: np.ndarray
    log_scales: np.ndarray
    quats: np.ndarray
    opacity_logits: np.ndarray
    rgb: np.ndarray
    fit_l1: float = float("nan")


def look_at_cameras(center: np.ndarray, radius_m: float, num_views: int, res: int, seed: int = 0):
    """World-to-camera 4x4 matrices [C,4,4] (OpenCV optical frames) on a sphere, and K [C,3,3]."""
    rng = np.random.default_rng(seed)
    golden = np.pi * (3 - np.sqrt(5))
    i = np.arange(num_views)
    z = np.linspace(0.8, -0.2, num_views)
    r = np.sqrt(1 - z**2)
    eyes = center + radius_m * np.stack([r * np.cos(i * golden + rng.uniform(0, 0.3)), r * np.sin(i * golden), z], 1)
    views = []
    for eye in eyes:
        fwd = center - eye
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0, 0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(fwd, right)
        R = np.stack([right, down, fwd])  # rows: camera axes in world
        views.append(make_pose(R, -R @ eye))
    f = res / (2 * np.tan(np.deg2rad(25)))
    K = np.array([[f, 0, res / 2], [0, f, res / 2], [0, 0, 1.0]])
    return np.stack(views), np.repeat(K[None], num_views, 0)


def render_mesh_targets(mesh, viewmats: np.ndarray, Ks: np.ndarray, res: int) -> tuple[np.ndarray, np.ndarray]:
    """Ray-cast the vertex-coloured mesh: rgb [C,H,W,3] in [0,1] and alpha [C,H,W] (0/1)."""
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(mesh.vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(mesh.faces, np.uint32)))
    vcol = np.asarray(mesh.visual.vertex_colors)[:, :3] / 255.0
    rgbs, alphas = [], []
    for T, K in zip(viewmats, Ks):
        rays = o3d.t.geometry.RaycastingScene.create_rays_pinhole(
            o3d.core.Tensor(K), o3d.core.Tensor(T), res, res)
        hit = scene.cast_rays(rays)
        tri = hit["primitive_ids"].numpy()
        uv = hit["primitive_uvs"].numpy()
        ok = np.isfinite(hit["t_hit"].numpy())
        f = np.asarray(mesh.faces)[np.where(ok, tri, 0)]
        w = np.stack([1 - uv[..., 0] - uv[..., 1], uv[..., 0], uv[..., 1]], -1)
        rgb = (vcol[f] * w[..., None]).sum(-2) * ok[..., None]
        rgbs.append(rgb)
        alphas.append(ok.astype(np.float64))
    return np.stack(rgbs), np.stack(alphas)


def render_splats(means, quats, scales, opacities, colors, viewmats, Ks, res: int):
    """Render Gaussians: gsplat's CUDA rasteriser on a CUDA device, else gsplat's torch
    projection and dense alpha compositing (CPU reference).

    means [N,3], quats [N,4], scales [N,3] (linear), opacities [N], colors [N,3]; viewmats [C,4,4],
    Ks [C,3,3] -> rgb [C,H,W,3], alpha [C,H,W]. Memory grows as C*N*H*W: keep N and res small.
    """
    if means.is_cuda:
        from gsplat import rasterization

        img, alpha, _ = rasterization(means, quats, scales, opacities, colors, viewmats, Ks, res, res)
        return img, alpha[..., 0]
    from gsplat.cuda._torch_impl import _fully_fused_projection, _quat_scale_to_covar_preci

    covars, _ = _quat_scale_to_covar_preci(quats, scales, True, False, triu=False)
    radii, means2d, depths, conics, _ = _fully_fused_projection(means, covars, viewmats, Ks, res, res)
    valid = (radii > 0).all(-1)  # [C,N]
    ys, xs = torch.meshgrid(torch.arange(res) + 0.5, torch.arange(res) + 0.5, indexing="ij")
    pix = torch.stack([xs, ys], -1).reshape(1, 1, -1, 2)  # [1,1,P,2]
    d = pix - means2d[:, :, None]  # [C,N,P,2]
    a, b, c = conics[..., 0, None], conics[..., 1, None], conics[..., 2, None]
    sigma = 0.5 * (a * d[..., 0] ** 2 + c * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]
    alpha = (opacities[None, :, None] * torch.exp(-sigma.clamp(min=0))).clamp(max=0.99)
    alpha = alpha * valid[..., None]
    order = depths.masked_fill(~valid, float("inf")).argsort(-1)  # near to far
    alpha = torch.gather(alpha, 1, order[..., None].expand_as(alpha))
    col = colors[order]  # [C,N,3]
    trans = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
    w = alpha * trans  # [C,N,P]
    rgb = torch.einsum("cnp,cnk->cpk", w, col)
    return rgb.view(-1, res, res, 3), w.sum(1).view(-1, res, res)


def fit_splats(mesh, num_gaussians: int = 400, num_views: int = 8, res: int = 32, steps: int = 80,
               views_per_step: int = 1, seed: int = 0, device: str = "auto") -> Splats:
    """Fit `num_gaussians` Gaussians to renders of a vertex-coloured mesh (object frame, metres).

    device "auto" uses CUDA (gsplat's CUDA rasteriser) when torch sees a GPU, else the CPU path.
    """
    import trimesh

    from slam_nodes.optional import has_cuda

    dev = torch.device("cuda" if device == "auto" and has_cuda() else ("cpu" if device == "auto" else device))

    torch.manual_seed(seed)
    center = mesh.bounds.mean(0)
    radius = float(np.linalg.norm(mesh.extents) / 2)
    viewmats, Ks = look_at_cameras(center, 2.6 * radius, num_views, res, seed)
    tgt_rgb, tgt_a = render_mesh_targets(mesh, viewmats, Ks, res)
    pts, face = trimesh.sample.sample_surface_even(mesh, num_gaussians, seed=seed)
    if len(pts) < num_gaussians:
        pts, face = trimesh.sample.sample_surface(mesh, num_gaussians, seed=seed)
    vcol = np.asarray(mesh.visual.vertex_colors)[:, :3] / 255.0
    rgb0 = vcol[np.asarray(mesh.faces)[face]].mean(1)
    spacing = np.sqrt(mesh.area / len(pts))
    f32 = torch.float32
    means = torch.tensor(pts, dtype=f32, device=dev, requires_grad=True)
    log_s = torch.full((len(pts), 3), float(np.log(spacing * 0.7)), device=dev, requires_grad=True)
    quats = torch.tensor(np.tile([1.0, 0, 0, 0], (len(pts), 1)), dtype=f32, device=dev, requires_grad=True)
    op = torch.full((len(pts),), 2.0, device=dev, requires_grad=True)
    col = torch.tensor(np.log(np.clip(rgb0, 0.02, 0.98) / (1 - np.clip(rgb0, 0.02, 0.98))), dtype=f32,
                       device=dev, requires_grad=True)
    opt = torch.optim.Adam([{"params": [means], "lr": 1e-3 * radius}, {"params": [log_s, quats], "lr": 0.01},
                            {"params": [op, col], "lr": 0.05}])
    V = torch.as_tensor(viewmats, dtype=f32, device=dev)
    Kt = torch.as_tensor(Ks, dtype=f32, device=dev)
    T_rgb = torch.as_tensor(tgt_rgb, dtype=f32, device=dev)
    T_a = torch.as_tensor(tgt_a, dtype=f32, device=dev)
    rng = np.random.default_rng(seed)
    loss_v = float("nan")
    for _ in range(steps):
        sel = torch.as_tensor(rng.choice(num_views, views_per_step, replace=False), device=dev)
        rgb, a = render_splats(means, quats / quats.norm(dim=-1, keepdim=True), log_s.exp(), torch.sigmoid(op),
                               torch.sigmoid(col), V[sel], Kt[sel], res)
        loss = (rgb - T_rgb[sel]).abs().mean() + (a - T_a[sel]).abs().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss_v = float(loss.detach())
    q = quats.detach()

    def np32(t: torch.Tensor) -> np.ndarray:
        return t.detach().cpu().numpy().astype(np.float32)

    return Splats(np32(means), np32(log_s), np32(q / q.norm(dim=-1, keepdim=True)), np32(op),
                  np32(torch.sigmoid(col)), fit_l1=loss_v)


def splat_ply_fields() -> list[str]:
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{i}" for i in range(N_REST)]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def write_splat_ply(path: str | Path, s: Splats) -> None:
    """Binary little-endian PLY in the 3DGS layout (f_dc = (rgb - 0.5) / SH_C0, logit opacity, log scale)."""
    n = len(s.means)
    cols = [s.means, np.zeros((n, 3)), (s.rgb - 0.5) / SH_C0, np.zeros((n, N_REST)),
            s.opacity_logits[:, None], s.log_scales, s.quats]
    data = np.hstack(cols).astype("<f4")
    fields = splat_ply_fields()
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {n}\n"
    header += "".join(f"property float {f}\n" for f in fields) + "end_header\n"
    path = Path(path)
    tmp = path.with_suffix(".ply.tmp")
    with open(tmp, "wb") as fh:
        fh.write(header.encode("ascii"))
        fh.write(data.tobytes())
    tmp.replace(path)


def read_splat_ply(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Read a float32 binary PLY written by `write_splat_ply`: (property names, data [N, P])."""
    raw = Path(path).read_bytes()
    end = raw.index(b"end_header\n") + len(b"end_header\n")
    lines = raw[:end].decode("ascii").splitlines()
    n = int(next(ln.split()[2] for ln in lines if ln.startswith("element vertex")))
    names = [ln.split()[2] for ln in lines if ln.startswith("property float")]
    data = np.frombuffer(raw[end:], dtype="<f4").reshape(n, len(names))
    return names, data
