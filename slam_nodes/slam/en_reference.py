"""Reference-frame event term: events predicted from the previous frame's *measured* log image
and depth, not from the map's rendered colour (classical photometric event tracking, as in
Gallego et al. TPAMI 2018 and Bryner et al. ICRA 2019, with the depth of the RGB-D frame).

Why: the map-based event term compares rendered log-intensity *changes*, a high-pass signal
that the cpu-lite radiance field does not hold (rendered vs true change correlate 0.2-0.3 at
64x48, see events.event_trust), so frame tracking mostly cannot use it. The measured frame
holds the texture the map lacks.

Model (DAVIS-like sensor sharing the RGB-D pixels, identity extrinsic, no distortion): the
reference is frame a with log image L_a (event-camera log of the exposure-normalised radiance,
f^-1 of the RGB, see slam_nodes.field.crf), depth D_a and tracked pose T_a. A point X seen at
pixel u in frame a is seen at u' = pi(T^-1 T_a X) at the window end; brightness constancy plus
the event generation model (C E(u') = L_end(u') - L_a(u')) give, per reference pixel,

    r(u) = L_a(u) + C g - [L_a(u') + C E(u')],

with E the window's signed event counts and g the window's global change in events per pixel
(lighting, events.global_change). The synthetic end image L_a + C E and L_a are both smoothed
by the same Gaussian (a warp that is locally a shift commutes with it; it widens the basin
and averages the sensor's +-C quantisation and the frame's noise). u' is sampled bilinearly,
so r is differentiable in T. Units: log intensity; frames: rig = event camera = RGB-D camera.

Measured limits (synthetic clips at 64x48, true poses, sigma 1 px): on room-normal the loss at
zero motion is ~2x the loss at the true pose and its minimum lies within 0.5 deg / 1-2 cm of
it (yaw resolves well, sideways translation weakly). On room-dark's darkest frames (light
0.004, gain 8) the events correlate only 0.44-0.56 with the true log-intensity change (0.82-0.93
on normal) and zero motion scores as well as the true pose even with the noiseless log image as
the reference, so there the term cannot help; the 8-bit frames are noisy too (log image vs
truth correlation 0.8).

What one window can tell (benchmarks.bench_event_bound: reference from the true pose, exact
depth and the noiseless log image, true C, the term alone minimised from the true pose of the
window's end; mean over the 29 windows of each bench_enslam clip): with the real events the
minimiser lies 2.66 cm / 0.54 deg from the truth on room-dark and 2.83 cm on room-normal at
64x48, and 2.44 / 3.16 cm at 128x96; with the true end image in place of the events, 1.66 /
2.04 cm at 64x48 and 0.54 / 0.68 cm at 128x96. So the events' quantisation (about a third of
an event per pixel and frame), not the resolution, bounds the term, and it is looser than the
RGB-D tracker's frame-to-frame error on the same clip (room-dark seed 0: 1.26 cm mean relative
translation error, 2.34 cm ATE at 64x48, 1.46 cm ATE at 128x96). Longer windows do not help
(room-dark, 3 / 6 frames: 4.49 / 7.87 cm; the true end image: 2.92 / 6.22 cm). Smoothing: sigma
0.5 px gives 2.01 cm on room-dark and 2.80 on room-normal, sigma 2 px 3.50 cm on room-dark; in
SLAM sigma 0.5 did worse on room-dark seed 0 (ATE 3.17 vs 2.79 cm at sigma 1).
In full tracking (depth + colour + this term, 40 descent steps from the true pose, references
anchored at the true poses, C = 0.2; room-dark seed 0 at 64x48) the term moved the minimiser
from 2.34 cm (weight 0) to 2.22 / 2.13 / 2.53 cm (weight 20 / 100 / 400): at most ~10 %
even with perfect anchors, while with tracked anchors it carries their error forward (events
tell relative motion only; the map's depth term is what holds the absolute pose). In SLAM
(bench_enslam clips, 64x48, seeds 0/1/2) event mode without this term (reference_weight 0)
tracked room-dark at 2.62 / 3.53 / 2.86 cm vs 2.79 / 3.97 / 4.34 cm with it (weight 20).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from slam_nodes.field.crf import CameraResponse
from slam_nodes.slam.events import _huber
from slam_nodes.types import CameraModel


@dataclass
class ReferenceFrame:
    """A tracked frame as the reference of the window that starts at its stamp.

    points [N, 3]: rig-frame points of the pixels with valid depth and well-exposed colour;
    log_at [N]: smoothed L_a at those pixels; log_image [1, 1, H, W]: smoothed L_a;
    T_world_rig [4, 4]: its tracked pose; fx, fy, cx, cy: pinhole intrinsics (pixels)."""

    stamp_ns: int
    T_world_rig: torch.Tensor
    points: torch.Tensor
    log_at: torch.Tensor
    log_image: torch.Tensor
    fx: float
    fy: float
    cx: float
    cy: float


def gaussian_blur(img: torch.Tensor, sigma_px: float) -> torch.Tensor:
    """Separable Gaussian blur of [1, 1, H, W] with replicate borders; identity for sigma 0."""
    if sigma_px <= 0:
        return img
    r = max(1, int(np.ceil(2.5 * sigma_px)))
    x = torch.arange(-r, r + 1, dtype=img.dtype, device=img.device)
    k = torch.exp(-0.5 * (x / sigma_px) ** 2)
    k = k / k.sum()
    img = F.conv2d(F.pad(img, (r, r, 0, 0), mode="replicate"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(img, (0, 0, r, r), mode="replicate"), k.view(1, 1, -1, 1))


def shares_pixels(event_cam: CameraModel, T_rig_event: np.ndarray, frame_cam: CameraModel
                  ) -> bool:
    """True when the event sensor sees through the RGB-D camera's undistorted pixels (same
    size and intrinsics, identity extrinsic): the condition of this term."""
    return ((event_cam.width, event_cam.height) == (frame_cam.width, frame_cam.height)
            and not event_cam.is_distorted and not frame_cam.is_distorted
            and np.allclose(event_cam.K, frame_cam.K) and np.allclose(T_rig_event, np.eye(4)))


@torch.no_grad()
def frame_log_image(rgb: np.ndarray, crf: CameraResponse, log_exposure: float,
                    device: torch.device) -> tuple[torch.Tensor, np.ndarray]:
    """(event-camera log of the exposure-normalised radiance f^-1(rgb) [H, W], well-exposed
    mask [H, W] bool: every channel in (10, 245)) of an RGB frame uint8 [H, W, 3]."""
    h, w = rgb.shape[:2]
    rad = crf.radiance(torch.as_tensor(rgb.reshape(-1, 3) / 255.0, dtype=torch.float32,
                                       device=device), log_exposure)
    return crf.event_log(rad).reshape(h, w), ((rgb > 10) & (rgb < 245)).all(axis=-1)


@torch.no_grad()
def make_reference(stamp_ns: int, log_image: torch.Tensor, well_exposed: np.ndarray,
                   depth: np.ndarray, cam: CameraModel, T_world_rig: np.ndarray,
                   sigma_px: float, min_depth_m: float, max_depth_m: float,
                   device: torch.device, max_points: int = 0) -> ReferenceFrame | None:
    """The reference of a tracked frame: its log image and well-exposed mask
    (`frame_log_image`), depth float [H, W] metres (axial, 0 / non-finite invalid) and tracked
    pose. None when fewer than 64 pixels qualify. max_points > 0 keeps that many of them, those
    with the steepest smoothed log image (central differences), as direct photometric methods
    do: a pixel on a flat patch gives the pose no gradient, and the term's cost per iteration
    is then bounded whatever the resolution."""
    h, w = depth.shape
    ls = gaussian_blur(log_image.reshape(1, 1, h, w), sigma_px)
    z = np.where(np.isfinite(depth), depth, 0.0)
    ok = (z > min_depth_m) & (z < max_depth_m) & well_exposed
    idx = torch.as_tensor(np.flatnonzero(ok.reshape(-1)), device=device)
    if len(idx) < 64:
        return None
    if 0 < max_points < len(idx):
        g = F.pad(ls, (1, 1, 1, 1), mode="replicate")[0, 0]
        grad2 = (g[1:-1, 2:] - g[1:-1, :-2]) ** 2 + (g[2:, 1:-1] - g[:-2, 1:-1]) ** 2
        idx = idx[torch.topk(grad2.reshape(-1)[idx], max_points, sorted=False).indices]
    dirs = torch.as_tensor(cam.ray_directions().reshape(-1, 3), dtype=torch.float32,
                           device=device)[idx]
    pts = dirs * torch.as_tensor(z.reshape(-1), dtype=torch.float32, device=device)[idx, None]
    return ReferenceFrame(int(stamp_ns), torch.as_tensor(T_world_rig, dtype=torch.float32,
                                                         device=device),
                          pts, ls.reshape(-1)[idx], ls, cam.fx, cam.fy, cam.cx, cam.cy)


def end_image(ref: ReferenceFrame, counts: np.ndarray, contrast: float, sigma_px: float
              ) -> torch.Tensor:
    """Smoothed synthetic log image at the window end, L_a + C E [1, 1, H, W] (C fixed)."""
    e = torch.as_tensor(counts, dtype=torch.float32, device=ref.log_image.device)
    return ref.log_image + contrast * gaussian_blur(e[None, None], sigma_px)


def reference_loss(ref: ReferenceFrame, end_img: torch.Tensor, T: torch.Tensor,
                   contrast: float, global_events: float, huber_delta: float,
                   margin_px: float = 1.0) -> torch.Tensor:
    """Mean Huber of r(u) (module docstring) over reference points that land inside the image
    (`margin_px` from its border) in front of the camera at the end pose T [4, 4]."""
    rel = torch.linalg.solve(T, ref.T_world_rig)          # T_end^-1 T_a
    p = ref.points @ rel[:3, :3].T + rel[:3, 3]
    z = p[:, 2].clamp_min(1e-6)
    u = ref.fx * p[:, 0] / z + ref.cx
    v = ref.fy * p[:, 1] / z + ref.cy
    h, w = end_img.shape[-2:]
    ok = (p[:, 2] > 1e-3) & (u >= margin_px) & (u <= w - 1 - margin_px) & \
        (v >= margin_px) & (v <= h - 1 - margin_px)
    if int(ok.sum()) < 16:
        return T.sum() * 0.0
    grid = torch.stack([2 * u[ok] / (w - 1) - 1, 2 * v[ok] / (h - 1) - 1], dim=-1)
    s = F.grid_sample(end_img, grid.view(1, 1, -1, 2), mode="bilinear",
                      align_corners=True).view(-1)
    return _huber(ref.log_at[ok] + contrast * global_events - s, huber_delta).mean()
