"""Classical baseline benchmark: Open3D dense RGB-D SLAM (t.pipelines.slam, CPU, depth-only
tracking) and Open3D frame-to-frame RGB-D odometry on the shared 7-Scenes redkitchen frames,
ATE (SE(3)-aligned, evo) and frames per second, beside the figure recorded in DESIGN.md
section 7 (ATE 0.92 cm at 7.5 frames/s on 2 cores, 640x480, 1 cm voxels, frames 0-74).

    .venv/bin/python -m benchmarks.bench_baseline [--frames 75] [--voxel 0.01] [--scale 1.0]

Frames are decoded before timing; frames/s covers tracking + integration + ray casting (SLAM)
or odometry only, not file decoding or the final mesh extraction (timed separately).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rgbd_7scenes_redkitchen"
DESIGN_ATE_CM = 0.92
DESIGN_FPS = 7.5


def mesh_row(frames, src, slam, voxel: float) -> str:
    """Mesh metrics of the SLAM mesh against the TSDF fused at the ground-truth poses."""
    import tempfile

    from slam_nodes.eval.baselines import run_open3d_slam, write_run
    from slam_nodes.eval.evaluate import evaluate_to_dir
    from slam_nodes.types import write_tum

    ref = run_open3d_slam(frames, src.camera, voxel_size_m=voxel,
                          known_poses=src.ground_truth.poses[: len(frames)])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ref.mesh.export(folder / "gt.ply")
        write_tum(folder / "gt.tum", src.ground_truth)
        write_run(folder / "run", slam, {})
        m = evaluate_to_dir(folder / "run", est=folder / "run", gt=folder / "gt.tum",
                            gt_mesh=folder / "gt.ply", camera=src.camera, figures=False)["mesh"]
    return ("mesh vs TSDF at GT poses (origin-aligned, culled): accuracy "
            f"{m['accuracy_cm']:.2f} cm, completion {m['completion_cm']:.2f} cm, completion "
            f"ratio {m['completion_ratio_pct']:.1f} %, F-score 1/2/5 cm "
            f"{m['fscore_pct']['1']:.1f}/{m['fscore_pct']['2']:.1f}/{m['fscore_pct']['5']:.1f} %, "
            f"depth L1 {m['depth_l1_cm']:.2f} cm")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=75)
    parser.add_argument("--voxel", type=float, default=0.01)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--mesh", action="store_true",
                        help="also score the SLAM mesh against a TSDF fused at the ground-truth "
                        "poses (same voxels; KinectFusion-style reference, flattering)")
    args = parser.parse_args(argv)

    from slam_nodes.eval.baselines import run_open3d_odometry, run_open3d_slam
    from slam_nodes.eval.rgbd_input import open_rgbd_input
    from slam_nodes.eval.trajectory import evaluate_trajectory

    src = open_rgbd_input(args.data, max_frames=args.frames, scale=args.scale)
    frames = list(src.frames())
    rows = []
    t0, c0 = time.perf_counter(), time.process_time()
    slam = run_open3d_slam(frames, src.camera, voxel_size_m=args.voxel)
    slam_total, slam_cpu = time.perf_counter() - t0, time.process_time() - c0
    ate = evaluate_trajectory(slam.trajectory, src.ground_truth)
    faces = len(slam.mesh.faces) if slam.mesh is not None else 0
    rows.append((f"Open3D dense SLAM ({args.voxel * 100:g} cm voxels)", ate.ate_cm.rmse,
                 slam.frames_per_s, slam_cpu / len(frames),
                 f"{slam_total:.1f} s wall incl. mesh ({faces} faces)"))
    for method in ("hybrid", "point_to_plane"):
        c0 = time.process_time()
        odo = run_open3d_odometry(frames, src.camera, method=method)
        cpu = time.process_time() - c0
        ate_o = evaluate_trajectory(odo.trajectory, src.ground_truth)
        rows.append((f"Open3D RGB-D odometry ({method})", ate_o.ate_cm.rmse, odo.frames_per_s,
                     cpu / len(frames), f"{odo.seconds:.1f} s wall"))
    print(f"7-Scenes redkitchen frames 0-{len(frames) - 1}, {src.camera.width}x"
          f"{src.camera.height}, CPU\n")
    print(f"{'method':<40} | {'ATE RMSE (cm)':>13} | {'frames/s':>8} | {'CPU s/frame':>11} | "
          f"{'DESIGN.md (cm, fps)':>19} | time")
    print("-" * 120)
    for i, (name, ate_cm, fps, cpu_per_frame, note) in enumerate(rows):
        ref = f"{DESIGN_ATE_CM:.2f}, {DESIGN_FPS:.1f}" if i == 0 else "-"
        print(f"{name:<40} | {ate_cm:>13.3f} | {fps:>8.2f} | {cpu_per_frame:>11.3f} | "
              f"{ref:>19} | {note}")
    print("\nframes/s is wall-clock on this (shared) machine; CPU s/frame sums all threads.")
    if args.mesh and slam.mesh is not None:
        print("\n" + mesh_row(frames, src, slam, args.voxel))
    return 0


if __name__ == "__main__":
    sys.exit(main())
