"""How precisely can one event window fix a pose? The reference-frame event term
(slam_nodes.slam.en_reference) with everything else ideal, on the bench_enslam clips.

Run: .venv/bin/python -m benchmarks.bench_event_bound [--presets room-dark,room-normal]
     [--width 64] [--height 48] [--sigma-px 1.0] [--window-frames 1]

For each frame b of the 1 s clip (same clips as benchmarks.bench_enslam) and its anchor a,
`window-frames` frames earlier, the reference is built from a's *true* pose, *exact* depth and
the generator's *noiseless* event-sensor log image (SynthFrame.log_luminance), and the
reference term alone is minimised over b's pose (the tracker's Adam descent, 40 steps, starting
at b's true pose). Printed: the mean distance of the minimiser from b's true pose (cm, deg) for
two end images,
- perfect: b's noiseless log image (no events at all): what warping the reference can resolve
  at this resolution and smoothing;
- events: a's log image + C x the window's real events, at the sensor's true C: the term as
  EN-SLAM uses it, minus frame noise, contrast and anchor-pose errors;
and the median ratio loss(b at a's pose, i.e. no motion) / loss(b's true pose), how clearly the
term tells motion from none. A term whose minimiser lies d cm from the truth with ideal inputs
cannot make tracking much better than d cm; compare with the RGB-D tracker's per-frame errors.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from benchmarks.bench_enslam import _render
from slam_nodes.events.representations import accumulate_polarity
from slam_nodes.slam.en_reference import gaussian_blur, make_reference, reference_loss
from slam_nodes.slam.events import global_change
from slam_nodes.slam.geometry import to_numpy_pose, to_torch_pose
from slam_nodes.slam.tracker import Tracker

DESCENT_STEPS = 40
LR = 3e-3                  # the cpu-lite tracker's learning rates (rotation and translation)
HUBER = 0.3                # events.huber_delta default


def _rot_deg(A: np.ndarray, B: np.ndarray) -> float:
    c = (np.trace(A[:3, :3].T @ B[:3, :3]) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _as_img(x: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(x, dtype=torch.float32)[None, None]


def measure(preset: str, width: int, height: int, sigma_px: float, window_frames: int) -> dict:
    """Per-end-image arrays of minimiser errors (cm, deg) and no-motion / true-pose loss ratios,
    plus the windows' mean |global change| (events per pixel)."""
    cfg, frames, events = _render(preset, 1.0, width, height)
    cam, C = cfg.camera(), cfg.events.threshold
    descent = Tracker(DESCENT_STEPS, 0, LR, LR, None, None, 0.0, 0.0)
    out = {"perfect": [], "events": [], "global": []}
    for i in range(window_frames, len(frames)):
        a, b = frames[i - window_frames], frames[i]
        counts = sum(accumulate_polarity(e, width, height, int(e.t[0]), int(e.t[-1]) + 1)
                     for e in events[i - window_frames + 1:i + 1])
        ref = make_reference(a.stamp_ns, torch.as_tensor(a.log_luminance),
                             np.ones((height, width), bool), a.depth_true, cam, a.T_world_cam,
                             sigma_px, 0.1, 100.0, torch.device("cpu"))
        g_ev = global_change(counts, 4)
        # the perfect end image holds the lighting change itself: its global term is the mean
        # true change in units of C
        g_true = float((b.log_luminance - a.log_luminance).mean()) / C
        ends = {"perfect": (gaussian_blur(_as_img(b.log_luminance), sigma_px), g_true),
                "events": (ref.log_image + C * gaussian_blur(_as_img(counts), sigma_px), g_ev)}
        T_true, T_still = to_torch_pose(b.T_world_cam), to_torch_pose(a.T_world_cam)
        for name, (img, g) in ends.items():
            def objective(T, img=img, g=g):
                return reference_loss(ref, img, T, C, g, HUBER)
            with torch.no_grad():
                ratio = float(objective(T_still)) / max(float(objective(T_true)), 1e-12)
            _, T_min, _ = descent.descend(T_true, objective, DESCENT_STEPS, [])
            T_min = to_numpy_pose(T_min)
            out[name].append((np.linalg.norm(T_min[:3, 3] - b.T_world_cam[:3, 3]) * 100,
                              _rot_deg(T_min, b.T_world_cam), ratio))
        out["global"].append(abs(g_ev))
    return {k: np.asarray(v) for k, v in out.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="room-dark,room-normal")
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--height", type=int, default=48)
    ap.add_argument("--sigma-px", type=float, default=1.0,
                    help="Gaussian smoothing of both images (events.reference_sigma_px)")
    ap.add_argument("--window-frames", type=int, default=1)
    args = ap.parse_args(argv)
    for preset in args.presets.split(","):
        r = measure(preset, args.width, args.height, args.sigma_px, args.window_frames)
        print(f"[{preset}] {args.width}x{args.height}, sigma {args.sigma_px} px, windows of "
              f"{args.window_frames} frame(s), {len(r['events'])} windows, mean |global change| "
              f"{r['global'].mean():.2f} events/px")
        for name in ("perfect", "events"):
            e = r[name]
            print(f"  {name:8s} minimiser from the true pose: {e[:, 0].mean():5.2f} cm "
                  f"(median {np.median(e[:, 0]):.2f}), {e[:, 1].mean():.2f} deg; "
                  f"loss(no motion) / loss(true) median {np.median(e[:, 2]):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
