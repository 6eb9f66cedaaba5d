"""`slam-nodes eval`: score a run against ground truth, or compare several scored runs."""

from __future__ import annotations

import argparse

HELP = "score a trajectory (ATE/RPE) and mesh against ground truth; compare runs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--est", help="estimate: TUM file, run folder or bag")
    parser.add_argument("--est-topic", help="pose topic (or PARENT->CHILD TF chain) when --est "
                        "is a bag")
    parser.add_argument("--gt", help="ground truth: TUM file or bag")
    parser.add_argument("--gt-topic", help="pose topic (or PARENT->CHILD TF chain) when --gt "
                        "is a bag")
    parser.add_argument("--mesh", help="reconstructed mesh (default: RUN_DIR/mesh.ply)")
    parser.add_argument("--gt-mesh", help="ground-truth mesh")
    parser.add_argument("--camera", nargs=6, type=float, metavar=("W", "H", "FX", "FY", "CX", "CY"),
                        help="pinhole intrinsics of the ground-truth poses, for culling the "
                        "meshes to what the cameras saw and for depth L1")
    parser.add_argument("--camera-topic", help="take those intrinsics from this CameraInfo "
                        "topic of the --gt bag instead (default when --gt is a bag with a "
                        "depth camera_info topic)")
    parser.add_argument("--mesh-align", choices=("origin", "trajectory", "none"),
                        default="origin", help="bring the mesh into the ground-truth frame by "
                        "the first pose pair (origin, default), the ATE's Umeyama alignment "
                        "(trajectory) or not at all (none)")
    parser.add_argument("--no-cull", action="store_true", help="score whole meshes")
    parser.add_argument("--max-diff", type=float, default=0.02,
                        help="max stamp difference for association, seconds (default 0.02)")
    parser.add_argument("--align", choices=("se3", "sim3", "none"), default="se3",
                        help="Umeyama alignment of the estimate (default se3)")
    parser.add_argument("--rpe-delta", type=float, default=1.0,
                        help="RPE interval in seconds (default 1)")
    parser.add_argument("--samples", type=int, default=200_000,
                        help="surface samples per mesh (default 200000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-figures", action="store_true", help="skip the PNG figures")
    parser.add_argument("--name", help="run name in the report (default: folder name)")
    parser.add_argument("--compare", nargs="+", metavar="DIR",
                        help="compare scored run folders in one table and plot")
    parser.add_argument("--out", help="output folder (default: the run folder given as --est)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from slam_nodes.errors import EvalError

    if args.compare:
        from slam_nodes.eval.report import compare_runs

        out = Path(args.out or "compare")
        print(compare_runs(args.compare, out))
        print(f"wrote {out / 'compare.md'} and {out / 'compare.png'}")
        return 0
    if not args.est:
        raise EvalError("give --est (or --compare DIR ...)")
    est = Path(args.est)
    if not est.exists():
        raise EvalError(f"estimate {est} does not exist")
    out = Path(args.out) if args.out else (est if est.is_dir() else None)
    if out is None:
        raise EvalError("give --out DIR (only a run folder as --est can be its own output)")
    camera = None
    if args.camera:
        from slam_nodes.types.camera import CameraModel

        w, h, fx, fy, cx, cy = args.camera
        try:
            camera = CameraModel.pinhole(int(w), int(h), fx, fy, cx, cy)
        except ValueError as err:
            raise EvalError(f"bad --camera: {err}") from err

    if camera is None and args.gt_mesh and args.gt:
        from slam_nodes.eval.rgbd_input import INFO_TOPICS, camera_from_bag
        from slam_nodes.eval.sources import is_bag

        if args.camera_topic or (is_bag(args.gt) and _has_any_topic(args.gt, INFO_TOPICS)):
            camera = camera_from_bag(args.gt, args.camera_topic)

    from slam_nodes.eval.evaluate import evaluate_to_dir

    metrics = evaluate_to_dir(
        out, est=est, gt=args.gt, est_topic=args.est_topic, gt_topic=args.gt_topic,
        mesh=args.mesh, gt_mesh=args.gt_mesh, camera=camera, max_diff_s=args.max_diff,
        alignment=args.align, rpe_delta_s=args.rpe_delta, num_samples=args.samples,
        cull=not args.no_cull, seed=args.seed, name=args.name, figures=not args.no_figures,
        mesh_alignment=args.mesh_align)
    traj, mesh = metrics.get("trajectory"), metrics.get("mesh")
    if traj:
        print(f"ATE RMSE {traj['ate_cm']['rmse']:.3f} cm over {traj['num_pairs']} pairs "
              f"({traj['alignment']})")
    if mesh:
        print(f"mesh accuracy {mesh['accuracy_cm']:.2f} cm, completion "
              f"{mesh['completion_cm']:.2f} cm, completion ratio "
              f"{mesh['completion_ratio_pct']:.1f} %")
    print(f"wrote {out / 'metrics.json'} and {out / 'report.md'}")
    return 0


def _has_any_topic(bag_path, topics) -> bool:
    from slam_nodes.io.bag import open_bag

    with open_bag(bag_path) as bag:
        return any(t in bag.topics for t in topics)
