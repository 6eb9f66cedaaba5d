"""The `icp` engine (slam_nodes.nodes.icp_engine): ATE and frames/s of each odometry method,
frame to keyframe (`engine.options.keyframe_every`, the engine's default) beside frame to
frame (keyframe_every 1, the engine before 2026-12-06), on real and synthetic sequences.

    .venv/bin/python -m benchmarks.bench_icp [--sequences 7scenes-640,7scenes-160,demo,
        room-normal,room-blur,room-dark] [--methods point_to_plane,checked,hybrid]
        [--keyframe-every N]

Sequences: the shared 7-Scenes redkitchen frames 0-74 at 640x480 and 160x120 (colour as
stored); `demo`: `make demo`'s synthetic room-normal, 8 s at 320x240; `room-*`: the whole 10 s
synthetic presets at 320x240 (the sequences bench_enslam cuts its clips from). ATE: RMSE after
SE(3) alignment (evo, DESIGN.md section 7). frames/s: wall clock of the engine's steps
(odometry and TSDF integration; one Open3D thread for the odometry). Target per row: the
keyframe odometry no worse than frame to frame on the same frames, in the same process.
"""

from __future__ import annotations

import argparse
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


def run(frames, gt, method: str, keyframe_every: int) -> tuple[float, float, int]:
    """(ATE cm, frames/s, frames tracked) of the icp engine over `frames`."""
    import numpy as np

    from slam_nodes.eval.trajectory import evaluate_trajectory
    from slam_nodes.nodes.icp_engine import IcpEngine
    from slam_nodes.types import Trajectory

    engine = IcpEngine.from_options({"method": method, "keyframe_every": keyframe_every})
    t0 = time.perf_counter()
    steps = [engine.step(f) for f in frames]
    fps = len(frames) / (time.perf_counter() - t0)
    est = Trajectory(np.array([s.stamp_ns for s in steps]),
                     np.stack([s.T_world_cam for s in steps]))
    return (evaluate_trajectory(est, gt).ate_cm.rmse, fps, sum(s.tracking_ok for s in steps))


def main(argv: list[str] | None = None) -> int:
    from slam_nodes.nodes.icp_engine import IcpEngine

    default_kf = IcpEngine.from_options({}).keyframe_every
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", default=",".join(SEQUENCES))
    parser.add_argument("--methods", default="point_to_plane,checked,hybrid")
    parser.add_argument("--keyframe-every", type=int, default=default_kf,
                        help=f"the keyframe setting measured (default: the engine's, "
                        f"{default_kf}); frame to frame (1) runs beside it")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    rows = []
    for name in args.sequences.split(","):
        if name not in SEQUENCES:
            parser.error(f"unknown sequence {name!r}; known: {', '.join(SEQUENCES)}")
        frames, gt = load(name, args.data)
        size = f"{frames[0].camera.width}x{frames[0].camera.height}"
        for method in args.methods.split(","):
            base = run(frames, gt, method, 1)
            kf = run(frames, gt, method, args.keyframe_every)
            rows.append((f"{name} ({len(frames)} frames, {size})", method, kf, base))
            print(f"  {rows[-1][0]} {method}: keyframe {kf[0]:.2f} cm, frame to frame "
                  f"{base[0]:.2f} cm", flush=True)
    print(f"\nicp engine, keyframe_every {args.keyframe_every} vs 1 (frame to frame), "
          "ATE after SE(3) alignment\n")
    print(f"{'sequence':<34} {'method':<15} {'ATE kf cm':>9} {'fps kf':>7} {'tracked':>8} "
          f"{'target':>8} {'ATE f2f cm':>10} {'fps f2f':>7} {'kf/f2f':>6}")
    for seq, method, (ate, fps, ok), (ate1, fps1, _) in rows:
        met = "met" if ate <= ate1 else "missed"
        print(f"{seq:<34} {method:<15} {ate:>9.2f} {fps:>7.1f} {ok:>8d} {met:>8} {ate1:>10.2f} "
              f"{fps1:>7.1f} {ate / ate1:>6.2f}")
    print("\ntarget: the keyframe odometry's ATE no worse than frame to frame (same frames, same "
          "process); frames/s is wall clock on this shared machine.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
