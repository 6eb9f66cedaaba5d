"""The `icp` engine (slam_nodes.nodes.icp_engine): ATE and frames/s of each odometry method
with the engine's defaults (frame to keyframe, `engine.options.keyframe_every` 8, depth to
6 m), beside frame to frame (keyframe_every 1) and the engine before 2026-12-06 (frame to
frame, depth cut at 4 m), on real and synthetic sequences.

    .venv/bin/python -m benchmarks.bench_icp [--sequences 7scenes-640,7scenes-160,demo,
        room-normal,room-blur,room-dark] [--methods point_to_plane,checked,hybrid]
        [--options JSON]

Sequences: the shared 7-Scenes redkitchen frames 0-74 at 640x480 and 160x120 (colour as
stored); `demo`: `make demo`'s synthetic room-normal, 8 s at 320x240; `room-*`: the whole 10 s
synthetic presets at 320x240 (the sequences bench_enslam cuts its clips from). ATE: RMSE after
SE(3) alignment (evo, DESIGN.md section 7). frames/s: wall clock of the engine's steps
(odometry and TSDF integration; one Open3D thread for the odometry). Target per row: the
defaults' ATE no worse than before on the same frames, in the same process.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rgbd_7scenes_redkitchen"
SEQUENCES = ("7scenes-640", "7scenes-160", "demo", "room-normal", "room-blur", "room-dark")


def load(name: str, data: Path):
    """(RGBDFrames, ground-truth Trajectory) of a sequence name (module doc)."""
    import numpy as np

    from slam_nodes.types import RGBDFrame, Trajectory

    if name.startswith("7scenes-"):
        from slam_nodes.eval.rgbd_input import open_rgbd_input

        if not data.is_dir():
            raise SystemExit(f"7-Scenes frames not found at {data} (../shared/data)")
        src = open_rgbd_input(data, max_frames=75, scale=int(name.split("-")[1]) / 640)
        return list(src.frames()), src.ground_truth
    from slam_nodes.synth import SynthFrame, get_preset, render_sequence

    preset, duration = ("room-normal", 8.0) if name == "demo" else (name, 10.0)
    cfg = get_preset(preset).with_overrides(width=320, height=240, duration_s=duration,
                                            events=None, lidar=None, imu=None)
    camera, frames, poses = cfg.camera(), [], []
    for it in render_sequence(cfg, nthreads=2):
        if isinstance(it, SynthFrame):
            frames.append(RGBDFrame(it.stamp_ns, camera, it.rgb, it.depth))
            poses.append(it.T_world_cam)
    return frames, Trajectory(np.array([f.stamp_ns for f in frames]), np.stack(poses))


#: engine.options of the icp engine before 2026-12-06: frame to frame, depth cut at 4 m
BEFORE = {"keyframe_every": 1, "depth_max_m": 4.0}


def run(frames, gt, options: dict) -> tuple[float, float, int]:
    """(ATE cm, frames/s, frames tracked) of the icp engine with engine.options `options`."""
    import numpy as np

    from slam_nodes.eval.trajectory import evaluate_trajectory
    from slam_nodes.nodes.icp_engine import IcpEngine
    from slam_nodes.types import Trajectory

    engine = IcpEngine.from_options(options)
    t0 = time.perf_counter()
    steps = [engine.step(f) for f in frames]
    fps = len(frames) / (time.perf_counter() - t0)
    est = Trajectory(np.array([s.stamp_ns for s in steps]),
                     np.stack([s.T_world_cam for s in steps]))
    return (evaluate_trajectory(est, gt).ate_cm.rmse, fps, sum(s.tracking_ok for s in steps))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--methods", default="point_to_plane,checked,hybrid")
    parser.add_argument("--options", default="{}",
                        help="JSON engine.options measured on top of the defaults, e.g. "
                        "'{\"keyframe_every\": 5}'")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    options = json.loads(args.options)
    rows = []
    for name in args.sequences.split(","):
        if name not in SEQUENCES:
            parser.error(f"unknown sequence {name!r}; known: {', '.join(SEQUENCES)}")
        frames, gt = load(name, args.data)
        size = f"{frames[0].camera.width}x{frames[0].camera.height}"
        for method in args.methods.split(","):
            runs = [run(frames, gt, {**options, "method": method}),
                    run(frames, gt, {**options, "method": method, "keyframe_every": 1}),
                    run(frames, gt, {**BEFORE, "method": method})]
            rows.append((f"{name} ({len(frames)} frames, {size})", method, runs))
            print(f"  {rows[-1][0]} {method}: " + ", ".join(f"{r[0]:.2f} cm" for r in runs),
                  flush=True)
    print(f"\nicp engine, ATE after SE(3) alignment: engine.options {options or 'defaults'} "
          f"(kf) vs frame to frame (f2f, keyframe_every 1) vs before ({BEFORE})\n")
    print(f"{'sequence':<34} {'method':<15} {'ATE kf cm':>9} {'fps':>5} {'tracked':>7} "
          f"{'target':>7} {'f2f cm':>7} {'before cm':>9} {'fps':>5} {'kf/before':>9}")
    for seq, method, ((ate, fps, ok), (ate1, _, _), (ate0, fps0, _)) in rows:
        met = "met" if ate <= ate0 else "missed"
        print(f"{seq:<34} {method:<15} {ate:>9.2f} {fps:>5.1f} {ok:>7d} {met:>7} {ate1:>7.2f} "
              f"{ate0:>9.2f} {fps0:>5.1f} {ate / ate0:>9.2f}")
    print("\ntarget: ATE no worse than before (same frames, same process); frames/s is wall "
          "clock on this shared machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
