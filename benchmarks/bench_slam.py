"""SLAM core benchmark: measured vs target vs the Open3D dense-SLAM baseline, in one run.

    .venv/bin/python -m benchmarks.bench_slam [--preset cpu-lite] [--frames 75]
        [--synth-frames 90] [--skip-synth] [--skip-7scenes] [--skip-open3d] [--threads 1]
        [--known-bounds]

Sections (each prints a table: measured | target | baseline):
- 7-Scenes redkitchen frames 0-74 (../shared/data): ATE RMSE (SE(3)-aligned, evo) of SlamSystem
  with the chosen preset (cpu-lite processes 160x120) and of Open3D's dense RGB-D SLAM
  (640x480, 1 cm voxels) on the same frames; frames/s with per-stage mean ms.
- Synthetic `room-normal` (slam_nodes.synth, first --synth-frames frames at 320x240): ATE and
  mesh completion ratio (< 5 cm, culled to the camera views) for both.
- Memory: resident set growth over the run and bytes per keyframe of the keyframe ray store,
  with the store projected to 2000 frames (400 keyframes) — a projection, labelled as such.
Timings on the shared 2-core machine are noisy; compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rgbd_7scenes_redkitchen"


def _rss_mb() -> float:
    """Current resident set size in MiB (Linux /proc)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def run_slam(frames, preset: str, initial_pose: np.ndarray | None, overrides: dict | None = None):
    """Run SlamSystem over RGBDFrames; returns (system, results, seconds, rss growth MiB)."""
    from slam_nodes.slam.system import build_system

    system = build_system(overrides or {}, preset=preset, initial_T_world_cam=initial_pose)
    rss0 = _rss_mb()
    results = []
    t0 = time.perf_counter()
    for f in frames:
        results.append(system.step(f))
    seconds = time.perf_counter() - t0
    return system, results, seconds, _rss_mb() - rss0


def stage_ms(results) -> dict[str, float]:
    """Mean ms per stage over frames after the first (the first is the initial mapping)."""
    keys = ("preprocess", "tracking", "mapping", "total")
    rest = results[1:] or results
    return {k: float(np.mean([r.timings_ms.get(k, 0.0) for r in rest])) for k in keys}


def print_table(title: str, rows: list[tuple[str, str, str, str]]) -> None:
    print(f"\n== {title}")
    w = max(len(r[0]) for r in rows)
    print(f"{'metric'.ljust(w)} | {'measured':>16} | {'target':>12} | {'Open3D baseline':>16}")
    print("-" * (w + 54))
    for name, meas, target, base in rows:
        print(f"{name.ljust(w)} | {meas:>16} | {target:>12} | {base:>16}")


def bench_7scenes(args) -> None:
    from slam_nodes.eval.baselines import run_open3d_slam
    from slam_nodes.eval.trajectory import evaluate_trajectory
    from slam_nodes.io.datasets.sevenscenes import SevenScenesDataset

    ds = SevenScenesDataset(args.data)
    frames = list(ds.frames(args.frames))
    gt = ds.ground_truth
    system, results, secs, rss = run_slam(frames, args.preset, gt.poses[0])
    traj = system.trajectory()
    ate = evaluate_trajectory(traj, gt).ate_cm.rmse
    n_ok = sum(r.tracking_ok for r in results)
    st = stage_ms(results)
    fps = len(results[1:]) / (sum(r.timings_ms["total"] for r in results[1:]) / 1e3)
    o3d_ate = o3d_fps = "skipped"
    if not args.skip_open3d:
        base = run_open3d_slam(frames, ds.camera, voxel_size_m=0.01, extract_mesh=False)
        o3d_ate = f"{evaluate_trajectory(base.trajectory, gt).ate_cm.rmse:.2f} cm"
        o3d_fps = f"{base.frames_per_s:.2f} (640x480)"
    cam = frames[0].camera.scaled(system.config.image_scale)
    rows = [
        (f"ATE RMSE, {len(frames)} frames ({args.preset}, {cam.width}x{cam.height})",
         f"{ate:.2f} cm", "<= 3 cm", o3d_ate),
        ("frames tracked ok", f"{n_ok}/{len(results)}", "all", ""),
        ("frames/s end to end (after frame 0)", f"{fps:.2f}", ">= 1", o3d_fps),
        ("  first frame (initial mapping) ms", f"{results[0].timings_ms['total']:.0f}", "", ""),
    ]
    rows += [(f"  mean {k} ms/frame", f"{v:.0f}", "", "") for k, v in st.items()]
    store = system.store
    per_kf = store.nbytes / max(store.n_keyframes, 1)
    rows += [
        ("resident memory growth over the run", f"{rss:.0f} MiB", "", ""),
        ("keyframes / stored rays", f"{store.n_keyframes} / {store.n}", "", ""),
        ("keyframe store (capacity) bytes per keyframe", f"{per_kf / 1024:.0f} KiB", "", ""),
        ("store projected to 2000 frames (400 kf)", f"{per_kf * 400 / 2**20:.0f} MiB",
         "< 4 GB RSS", ""),
    ]
    print_table("7-Scenes redkitchen (real, KinectFusion ground truth)", rows)


def bench_synth(args) -> None:
    from slam_nodes.eval.baselines import run_open3d_slam
    from slam_nodes.eval.mesh import mesh_metrics
    from slam_nodes.eval.trajectory import evaluate_trajectory
    from slam_nodes.slam.outputs import extract_mesh
    from slam_nodes.synth import SynthFrame, build_sequence, get_preset
    from slam_nodes.types import RGBDFrame, Trajectory

    cfg = get_preset("room-normal")
    seq = build_sequence(cfg)
    cam = seq.camera
    frames, gt_poses = [], []
    for item in seq.items():
        if isinstance(item, SynthFrame):
            frames.append(RGBDFrame(item.stamp_ns, cam, item.rgb, item.depth))
            gt_poses.append(item.T_world_cam)
            if len(frames) >= args.synth_frames:
                break
    gt = Trajectory(np.array([f.stamp_ns for f in frames]), np.stack(gt_poses))
    gt_mesh = seq.scene.mesh()
    over = {"image_scale": 0.5} if args.preset == "cpu-lite" else {}
    if args.known_bounds:
        # Co-SLAM's setting: scene bounds known in advance (here the scene mesh's box + 0.3 m)
        lo, hi = np.asarray(gt_mesh.bounds)
        over["mapping"] = {"bounds_m": [(lo - 0.3).tolist(), (hi + 0.3).tolist()]}
    system, results, secs, _ = run_slam(frames, args.preset, gt_poses[0], over)
    ate = evaluate_trajectory(system.trajectory(), gt).ate_cm.rmse
    rec = extract_mesh(system)
    m = mesh_metrics(rec, gt_mesh, num_samples=50_000, poses=gt.poses, camera=cam,
                     depth_l1=False)
    o3d_ate = o3d_cr = "skipped"
    if not args.skip_open3d:
        base = run_open3d_slam(frames, cam, voxel_size_m=0.01)
        # Open3D's world is its first camera: move its mesh into the ground-truth world
        o3d_ate = f"{evaluate_trajectory(base.trajectory, gt).ate_cm.rmse:.2f} cm"
        bm = base.mesh.copy()
        bm.apply_transform(gt_poses[0])
        mb = mesh_metrics(bm, gt_mesh, num_samples=50_000, poses=gt.poses, camera=cam,
                          depth_l1=False)
        o3d_cr = f"{mb.completion_ratio_pct:.1f} %"
    c2 = cam.scaled(system.config.image_scale)
    rows = [
        (f"ATE RMSE, {len(frames)} frames ({args.preset}, {c2.width}x{c2.height})",
         f"{ate:.2f} cm", "<= 2 cm", o3d_ate),
        ("mesh completion ratio (< 5 cm, culled)", f"{m.completion_ratio_pct:.1f} %", ">= 90 %",
         o3d_cr),
        ("mesh accuracy / completion", f"{m.accuracy_cm:.2f} / {m.completion_cm:.2f} cm", "", ""),
        ("frames tracked ok", f"{sum(r.tracking_ok for r in results)}/{len(results)}", "all", ""),
    ]
    bounds = "known scene bounds" if args.known_bounds else "bounds from frame 0 + margin"
    print_table(f"Synthetic room-normal (first {len(frames)} frames, {bounds})", rows)


def main(argv: list[str] | None = None) -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="cpu-lite")
    parser.add_argument("--frames", type=int, default=75)
    parser.add_argument("--synth-frames", type=int, default=90)
    parser.add_argument("--skip-synth", action="store_true")
    parser.add_argument("--skip-7scenes", action="store_true")
    parser.add_argument("--skip-open3d", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--known-bounds", action="store_true",
                        help="give SLAM the synthetic scene's bounds (Co-SLAM's setting)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, CUDA: {torch.cuda.is_available()}")
    if not args.skip_7scenes:
        bench_7scenes(args)
    if not args.skip_synth:
        bench_synth(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
