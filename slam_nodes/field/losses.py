"""Losses of the SDF field (Co-SLAM): colour, depth, SDF band, free space, smoothness, S3IM.

All functions are pure torch; shapes in docstrings. SDF predictions are in truncation units,
sample depths `t` and targets in metres (see slam_nodes.field.render).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LossWeights:
    """Weights of the loss terms (Co-SLAM defaults)."""

    rgb: float = 5.0
    depth: float = 0.1
    sdf: float = 1000.0
    free_space: float = 10.0
    smooth: float = 1e-6
    s3im: float = 0.0


def sdf_losses(sdf: torch.Tensor, t: torch.Tensor, target_t: torch.Tensor, truncation_m: float,
               valid: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """SDF-band and free-space losses along rays with measured depth.

    sdf: [R, S] predicted (truncation units); t: [R, S] metres; target_t: [R] metres (0 = none);
    valid: optional [R, S] bool of samples to use (e.g. inside the bounds).
    Free space (t < target - tr): predicted sdf should be 1 (the truncation value).
    Band (|t - target| <= tr): t + sdf * tr should equal target, i.e. sdf_m = target - t.
    Each term is a mean over its samples, weighted by 1 - (its share of all samples) as
    Co-SLAM does, so the rarer band samples are not drowned by free space.
    Returns (sdf_loss, free_space_loss), scalars.
    """
    has = (target_t > 0)[:, None]
    tgt = target_t[:, None]
    front = (t < tgt - truncation_m) & has
    band = (~front) & (t <= tgt + truncation_m) & has
    if valid is not None:
        front = front & valid
        band = band & valid
    n = float(sdf.numel())
    zero = sdf.sum() * 0.0
    fs = ((sdf[front] - 1.0) ** 2).mean() * (1.0 - front.sum() / n) if front.any() else zero
    sd = ((t[band] + sdf[band] * truncation_m - tgt.expand_as(t)[band]) ** 2).mean() \
        * (1.0 - band.sum() / n) if band.any() else zero
    return sd, fs


def rgb_loss(rgb: torch.Tensor, target_rgb: torch.Tensor, mask: torch.Tensor | None = None
             ) -> torch.Tensor:
    """Mean squared colour error; rgb, target_rgb: [R, 3] in [0, 1]; mask: [R] bool."""
    err = ((rgb - target_rgb) ** 2).mean(dim=1)
    if mask is not None:
        if not mask.any():
            return rgb.sum() * 0.0
        err = err[mask]
    return err.mean()


def depth_loss(depth: torch.Tensor, target_t: torch.Tensor) -> torch.Tensor:
    """Mean squared depth error (metres^2) over rays with a measurement; [R], [R]."""
    m = target_t > 0
    if not m.any():
        return depth.sum() * 0.0
    return ((depth[m] - target_t[m]) ** 2).mean()


def smoothness_loss(sdf_fn, bounds_m: torch.Tensor, grid_size: int = 8, spacing_m: float = 0.05,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """Squared differences of the SDF between neighbouring points of a random grid patch.

    sdf_fn: points [N, 3] -> sdf [N]; bounds_m: [2, 3]. The patch is grid_size^3 points with
    `spacing_m` pitch at a random place inside the bounds (Co-SLAM's smoothness term).
    """
    dev = bounds_m.device
    extent = grid_size * spacing_m
    room = (bounds_m[1] - bounds_m[0] - extent).clamp(min=0.0)
    corner = bounds_m[0] + torch.rand(3, device=dev, generator=generator) * room
    ax = torch.arange(grid_size, device=dev, dtype=bounds_m.dtype) * spacing_m
    g = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), dim=-1) + corner
    s = sdf_fn(g.reshape(-1, 3)).reshape(grid_size, grid_size, grid_size)
    dx = s[1:, :-1, :-1] - s[:-1, :-1, :-1]
    dy = s[:-1, 1:, :-1] - s[:-1, :-1, :-1]
    dz = s[:-1, :-1, 1:] - s[:-1, :-1, :-1]
    return (dx ** 2 + dy ** 2 + dz ** 2).mean()


def _ssim(x: torch.Tensor, y: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """Mean SSIM of images [1, C, H, W] with a uniform kernel (values in [0, 1])."""
    pool = torch.nn.functional.avg_pool2d
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    mx, my = pool(x, kernel, stride), pool(y, kernel, stride)
    vx = pool(x * x, kernel, stride) - mx * mx
    vy = pool(y * y, kernel, stride) - my * my
    cxy = pool(x * y, kernel, stride) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean()


def s3im_loss(rgb: torch.Tensor, target_rgb: torch.Tensor, repeats: int = 10, kernel: int = 4,
              patch_height: int = 64, generator: torch.Generator | None = None) -> torch.Tensor:
    """S3IM (Xie et al. 2023): 1 - SSIM over stochastic patches made of randomly permuted rays.

    rgb, target_rgb: [R, 3]. The R rays are shuffled `repeats` times (first copy unshuffled),
    laid out as an image [3, patch_height, R * repeats / patch_height] and compared with SSIM
    of a `kernel` x `kernel` window with stride `kernel`. Returns a scalar in [0, 2].
    """
    r = rgb.shape[0]
    idx = [torch.arange(r, device=rgb.device)]
    idx += [torch.randperm(r, device=rgb.device, generator=generator) for _ in range(repeats - 1)]
    order = torch.cat(idx)
    h = patch_height if (order.numel() % patch_height == 0) else 1
    def img(v: torch.Tensor) -> torch.Tensor:
        return v[order].T.reshape(1, 3, h, -1)
    k = min(kernel, h)
    return 1.0 - _ssim(img(rgb), img(target_rgb), k, k)
