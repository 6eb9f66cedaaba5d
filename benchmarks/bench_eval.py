"""Evaluation benchmark: `slam-nodes eval` on a 2000-pose trajectory and two meshes sampled with
200k points each (culling from the camera poses, depth L1, report with figures), timed against
the 30 s target of issue 4 (2 cores). Baseline column: evo's own CLI (`evo_ape`) on the same
trajectory, and our ATE checked equal to it.

    .venv/bin/python -m benchmarks.bench_eval [--poses 2000] [--samples 200000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

TARGET_S = 30.0


def make_inputs(folder: Path, n_poses: int, seed: int = 0) -> dict:
    """A room-sized GT mesh, a perturbed reconstruction, and a camera walking around inside,
    written as files; returns their paths and the camera."""
    import trimesh

    from slam_nodes.types import CameraModel, Trajectory, make_pose, write_tum

    rng = np.random.default_rng(seed)
    room = trimesh.creation.box(extents=[6.0, 5.0, 3.0])
    room.invert()  # normals inwards: seen from inside
    room = room.subdivide_to_size(0.05)
    pillar = trimesh.creation.cylinder(radius=0.3, height=3.0, sections=64).subdivide_to_size(0.05)
    pillar.apply_translation([1.0, 0.5, 0.0])
    gt = trimesh.util.concatenate([room, pillar])
    rec = gt.copy()
    rec.vertices += rng.normal(0, 0.01, rec.vertices.shape)  # 1 cm noise
    gt.export(folder / "gt.ply")
    rec.export(folder / "rec.ply")

    t = np.linspace(0, 2 * np.pi, n_poses)
    centres = np.stack([1.8 * np.cos(t), 1.5 * np.sin(t), 0.2 * np.sin(3 * t)], axis=1)
    poses = []
    for c, a in zip(centres, t):
        look = np.array([-np.sin(a), np.cos(a), 0.0])  # tangent: walking forwards
        z = look / np.linalg.norm(look)
        x = np.cross(z, [0.0, 0.0, 1.0])
        x /= np.linalg.norm(x)
        y = np.cross(z, x)
        poses.append(make_pose(np.stack([x, y, z], axis=1), c))
    stamps = 10**18 + np.arange(n_poses, dtype=np.int64) * 33_333_333
    gt_traj = Trajectory(stamps, np.stack(poses))
    est = Trajectory(stamps, gt_traj.poses.copy())
    est.poses[:, :3, 3] += np.cumsum(rng.normal(0, 0.0005, (n_poses, 3)), axis=0)  # drift
    write_tum(folder / "gt.tum", gt_traj)
    write_tum(folder / "est.tum", est)
    return {"camera": CameraModel.pinhole(640, 480, 525.0, 525.0, 319.5, 239.5)}


def time_evo_cli(folder: Path) -> tuple[float, float]:
    """Wall time and ATE RMSE (m) of `evo_ape tum gt est -a` on the same files."""
    exe = Path(sys.executable).parent / "evo_ape"
    out = folder / "evo.zip"
    t0 = time.perf_counter()
    subprocess.run([str(exe), "tum", str(folder / "gt.tum"), str(folder / "est.tum"), "-a",
                    "--t_max_diff", "0.02", "--save_results", str(out), "--silent"],
                   check=True, capture_output=True, cwd=folder,
                   env={"HOME": str(folder), "MPLBACKEND": "Agg", "PATH": str(exe.parent)})
    seconds = time.perf_counter() - t0
    with zipfile.ZipFile(out) as zf:
        return seconds, json.loads(zf.read("stats.json"))["rmse"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poses", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=200_000)
    args = parser.parse_args(argv)

    from slam_nodes.eval.evaluate import evaluate_to_dir

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        inputs = make_inputs(folder, args.poses)
        stages = {}
        t0 = time.perf_counter()
        metrics = evaluate_to_dir(folder / "run", est=folder / "est.tum", gt=folder / "gt.tum",
                                  mesh=folder / "rec.ply", gt_mesh=folder / "gt.ply",
                                  camera=inputs["camera"], num_samples=args.samples)
        stages["total"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        evaluate_to_dir(folder / "run2", est=folder / "est.tum", gt=folder / "gt.tum",
                        figures=False)
        stages["trajectory only (no figures)"] = time.perf_counter() - t0
        evo_s, evo_rmse = time_evo_cli(folder)
    traj, mesh = metrics["trajectory"], metrics["mesh"]
    ours_rmse = traj["ate_cm"]["rmse"] / 100
    rows = [
        ("full eval: 2000 poses + 2x200k samples, culled, depth L1, report (s)",
         f"{stages['total']:.2f}", f"< {TARGET_S:.0f}", "-"),
        ("trajectory only, ATE+RPE (s)", f"{stages['trajectory only (no figures)']:.2f}", "-",
         f"{evo_s:.2f} (evo_ape CLI, ATE only)"),
        ("ATE RMSE (cm)", f"{ours_rmse * 100:.4f}", "= evo", f"{evo_rmse * 100:.4f}"),
        ("mesh accuracy / completion (cm)",
         f"{mesh['accuracy_cm']:.3f} / {mesh['completion_cm']:.3f}", "-", "-"),
        ("mesh F-score 1 cm (%) / depth L1 (cm)",
         f"{mesh['fscore_pct']['1']:.1f} / {mesh['depth_l1_cm']:.3f}", "-", "-"),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}} | {'measured':>16} | {'target':>8} | baseline")
    print("-" * (width + 50))
    for name, value, target, base in rows:
        print(f"{name:<{width}} | {value:>16} | {target:>8} | {base}")
    ok = stages["total"] < TARGET_S and abs(ours_rmse - evo_rmse) < 1e-6
    print(f"\n{args.poses} poses, {args.samples} samples per mesh; "
          f"{'PASS' if ok else 'FAIL'} (target {TARGET_S:.0f} s, ATE equal to evo within 1e-6 m)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
