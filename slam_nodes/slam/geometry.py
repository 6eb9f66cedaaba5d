"""Differentiable pose parameters in torch.

A pose update is (w, dt): axis-angle w [3] radians applied on the left of the rotation and a
translation offset dt [3] metres, ``T = [exp(w) R0 | t0 + dt]``, so rotation and translation
have separate learning rates and zero is the initial pose. Batched over leading dims.
"""

from __future__ import annotations

import numpy as np
import torch

from slam_nodes.types import nearest_pose


def hat(w: torch.Tensor) -> torch.Tensor:
    """Skew matrices [..., 3, 3] of vectors [..., 3]."""
    z = torch.zeros_like(w[..., 0])
    return torch.stack([
        torch.stack([z, -w[..., 2], w[..., 1]], -1),
        torch.stack([w[..., 2], z, -w[..., 0]], -1),
        torch.stack([-w[..., 1], w[..., 0], z], -1),
    ], dim=-2)


def so3_exp(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] of axis-angle vectors [..., 3] (Rodrigues, smooth at 0)."""
    theta2 = (w * w).sum(dim=-1, keepdim=True)[..., None]          # [..., 1, 1]
    small = theta2 < 1e-8
    theta = torch.sqrt(torch.where(small, torch.ones_like(theta2), theta2))
    a = torch.where(small, 1.0 - theta2 / 6.0, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24.0, (1.0 - torch.cos(theta)) / (theta * theta))
    K = hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(K)
    return eye + a * K + b * (K @ K)


def apply_delta(T0: torch.Tensor, w: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """Poses [..., 4, 4] = [exp(w) R0 | t0 + dt] for initial poses T0 [..., 4, 4]."""
    R = so3_exp(w) @ T0[..., :3, :3]
    t = T0[..., :3, 3] + dt
    top = torch.cat([R, t[..., None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def to_torch_pose(T: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.as_tensor(np.asarray(T, dtype=np.float64), dtype=torch.float32, device=device)


def to_numpy_pose(T: torch.Tensor) -> np.ndarray:
    """float64 [4, 4] with an exactly orthonormal rotation (SVD re-projection)."""
    return nearest_pose(T.detach().cpu().double().numpy())
