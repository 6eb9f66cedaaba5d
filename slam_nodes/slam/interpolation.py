"""SE(3) pose interpolation for continuous time inside and between frames (torch, differentiable).

Events carry their own timestamps and an RGB frame integrates light over its exposure, so the
EN-SLAM terms need poses at times between the tracked frame poses. We use the SE(3) geodesic
between the two bracketing poses, ``T(s) = T0 exp(s log(T0^-1 T1))`` with
``s = (t - t0) / (t1 - t0)``; s outside [0, 1] extrapolates with the same constant twist (a
constant-velocity model, used for the part of an exposure after the newest frame). Our choice
over a cubic B-spline: it needs only the two poses that tracking optimises, so every
interpolated pose is differentiable in exactly the current frame's pose, and it is exact for
constant-velocity screw motion.

Poses are ``T_world_rig`` [..., 4, 4]. The functions take float32 or float64 tensors; the
small-angle branches keep them finite and differentiable at zero motion.
"""

from __future__ import annotations

import numpy as np
import torch

from slam_nodes.slam.geometry import hat, so3_exp
from slam_nodes.types import invert_pose


def _vee(M: torch.Tensor) -> torch.Tensor:
    return torch.stack([M[..., 2, 1], M[..., 0, 2], M[..., 1, 0]], dim=-1)


def so3_log(R: torch.Tensor) -> torch.Tensor:
    """Axis-angle [..., 3] of rotations [..., 3, 3] (angle < pi - 1e-3 assumed, which holds
    between neighbouring poses). Series expansion below 1e-4 rad keeps the gradient finite."""
    s = _vee(R - R.transpose(-1, -2)) * 0.5                          # sin(theta) * axis
    c = ((R[..., 0, 0] + R[..., 1, 1] + R[..., 2, 2]) - 1.0) * 0.5    # cos(theta)
    sn2 = (s * s).sum(dim=-1)
    small = sn2 < 1e-8
    sn = torch.sqrt(torch.where(small, torch.ones_like(sn2), sn2))
    theta = torch.atan2(sn, c)
    scale = torch.where(small, 1.0 + sn2 / 6.0, theta / sn)
    return s * scale[..., None]


def _v_matrix(w: torch.Tensor) -> torch.Tensor:
    """Left Jacobian V(w) [..., 3, 3] of SO(3): t = V(w) u in the SE(3) exponential."""
    th2 = (w * w).sum(dim=-1)[..., None, None]
    small = th2 < 1e-8
    th = torch.sqrt(torch.where(small, torch.ones_like(th2), th2))
    b = torch.where(small, 0.5 - th2 / 24.0, (1.0 - torch.cos(th)) / (th * th))
    c = torch.where(small, 1.0 / 6.0 - th2 / 120.0, (th - torch.sin(th)) / (th * th * th))
    K = hat(w)
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand_as(K)
    return eye + b * K + c * (K @ K)


def se3_exp(xi: torch.Tensor) -> torch.Tensor:
    """Poses [..., 4, 4] of twists xi [..., 6] = (w rotation rad, u translation-like)."""
    w, u = xi[..., :3], xi[..., 3:]
    R = so3_exp(w)
    t = (_v_matrix(w) @ u[..., None])[..., 0]
    top = torch.cat([R, t[..., None]], dim=-1)
    bottom = torch.zeros_like(top[..., :1, :])
    bottom[..., 0, 3] = 1.0
    return torch.cat([top, bottom], dim=-2)


def se3_log(T: torch.Tensor) -> torch.Tensor:
    """Twists [..., 6] of poses [..., 4, 4] (inverse of `se3_exp`)."""
    w = so3_log(T[..., :3, :3])
    u = torch.linalg.solve(_v_matrix(w), T[..., :3, 3:])[..., 0]
    return torch.cat([w, u], dim=-1)


def relative(T0: torch.Tensor, T1: torch.Tensor) -> torch.Tensor:
    """T0^-1 T1 for rigid poses (transpose inverse)."""
    R0t = T0[..., :3, :3].transpose(-1, -2)
    R = R0t @ T1[..., :3, :3]
    t = (R0t @ (T1[..., :3, 3:] - T0[..., :3, 3:]))
    top = torch.cat([R, t], dim=-1)
    return torch.cat([top, T1[..., 3:, :].expand_as(top[..., :1, :])], dim=-2)


def interpolate_pose(T0: torch.Tensor, T1: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """Poses [S, 4, 4] at fractions s [S] along the geodesic from T0 [4, 4] (s=0) to T1 (s=1);
    s < 0 or s > 1 extrapolate at constant twist. Differentiable in T0, T1 and s."""
    xi = se3_log(relative(T0, T1))                                    # [6]
    return T0 @ se3_exp(s[:, None].to(xi.dtype) * xi)


def pose_at(t_ns: np.ndarray | list[int], t0_ns: int, T0: torch.Tensor, t1_ns: int,
            T1: torch.Tensor) -> torch.Tensor:
    """Poses [S, 4, 4] at int64 stamps t_ns [S] from poses T0 at t0_ns and T1 at t1_ns
    (t1 != t0). Stamps are converted to fractions in float64 before the cast."""
    if int(t1_ns) == int(t0_ns):
        raise ValueError("pose_at: the two bracketing stamps are equal")
    s = (np.asarray(t_ns, dtype=np.int64) - int(t0_ns)) / float(int(t1_ns) - int(t0_ns))
    return interpolate_pose(T0, T1, torch.as_tensor(s, dtype=T0.dtype, device=T0.device))


def interpolate_trajectory(stamps_ns: np.ndarray, poses: np.ndarray, query_ns: np.ndarray
                           ) -> np.ndarray:
    """float64 [Q, 4, 4] poses at query stamps from a sorted trajectory (stamps [N] int64,
    poses [N, 4, 4]) by piecewise SE(3) interpolation; queries outside extrapolate from the
    first/last segment at constant twist (N >= 2), or hold the pose (N == 1)."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    P = torch.as_tensor(np.asarray(poses, dtype=np.float64))
    q = np.asarray(query_ns, dtype=np.int64)
    if len(stamps) == 0:
        raise ValueError("interpolate_trajectory: empty trajectory")
    if len(stamps) == 1:
        return np.repeat(P.numpy()[:1], len(q), axis=0)
    i = np.clip(np.searchsorted(stamps, q, side="right") - 1, 0, len(stamps) - 2)
    out = np.empty((len(q), 4, 4))
    for seg in np.unique(i):           # one batched call per segment (few segments per query)
        m = i == seg
        out[m] = pose_at(q[m], stamps[seg], P[seg], stamps[seg + 1], P[seg + 1]).numpy()
    return out


def mean_twist(stamps_ns: list[int], poses: list[np.ndarray]) -> np.ndarray:
    """The constant world-frame twist xi [6] per second (rotation rad/s, then the translation
    part; T(t) = exp(t xi) T_0, as `se3_exp`) that takes poses[0] at stamps_ns[0] to poses[-1]
    at stamps_ns[-1] (float64 [4, 4] each, int64 ns, strictly increasing): log(T_m T_0^-1) /
    (t_m - t_0) on SE(3). Exact for constant-velocity screw motion whatever the spacing of
    the stamps (frames dropped or late); zero for one pose. With independent errors in the
    poses, the twist's error shrinks as 1 / (t_m - t_0): over m frames, 1 / m of the last
    step's."""
    if len(poses) < 2:
        return np.zeros(6)
    span_s = (int(stamps_ns[-1]) - int(stamps_ns[0])) * 1e-9
    if span_s <= 0:
        raise ValueError(f"mean_twist: stamps must increase, got {stamps_ns[0]} .. {stamps_ns[-1]}")
    D = poses[-1] @ invert_pose(poses[0])
    return se3_log(torch.as_tensor(D, dtype=torch.float64)).numpy() / span_s


def extrapolate(T: np.ndarray, twist: np.ndarray, dt_s: float) -> np.ndarray:
    """T_world_rig [4, 4] after dt_s seconds of the constant world-frame twist [6] per second
    (`mean_twist`) from T: exp(dt_s xi) T."""
    return se3_exp(torch.as_tensor(np.asarray(twist) * dt_s, dtype=torch.float64)).numpy() @ T
