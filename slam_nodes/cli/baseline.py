"""`slam-nodes baseline {open3d,open3d-odometry} INPUT --out DIR`: classical RGB-D baselines."""

from __future__ import annotations

import argparse

AUTO_DEPTH_FRAMES = 30
HELP = "run Open3D's dense RGB-D SLAM or RGB-D odometry over a bag (or dataset folder)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("method", choices=("open3d", "open3d-odometry"),
                        help="open3d: t.pipelines.slam (TSDF model, depth-only tracking); "
                        "open3d-odometry: frame-to-frame RGB-D odometry")
    parser.add_argument("input", help="bag (rosbag2 folder, .mcap, .db3, .bag) or a TUM RGB-D / "
                        "7-Scenes folder")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.add_argument("--voxel", type=float, default=0.01,
                        help="TSDF voxel size in metres (open3d; default 0.01)")
    parser.add_argument("--depth-max", type=float, default=None,
                        help="max depth, metres (default: fit the scene, the 95th percentile "
                        "of the first 30 frames' depth rounded up to 0.5 m, at least 3 m)")
    parser.add_argument("--odometry-method", choices=("hybrid", "point_to_plane", "intensity"),
                        default="hybrid", help="open3d-odometry loss (default hybrid)")
    parser.add_argument("--max-frames", type=int, default=None, help="first N frames only")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="image downscale factor in (0, 1] (default 1)")
    parser.add_argument("--rgb-topic")
    parser.add_argument("--depth-topic")
    parser.add_argument("--camera-info-topic", help="depth camera_info topic")
    parser.add_argument("--no-eval", action="store_true",
                        help="do not score against the input's ground truth")


def run(args: argparse.Namespace) -> int:
    import itertools

    from slam_nodes.eval.baselines import (auto_depth_max, run_open3d_odometry,
                                           run_open3d_slam, write_run)
    from slam_nodes.eval.report import make_out_dir
    from slam_nodes.eval.rgbd_input import open_rgbd_input
    from slam_nodes.types import write_tum

    src = open_rgbd_input(args.input, rgb_topic=args.rgb_topic, depth_topic=args.depth_topic,
                          info_topic=args.camera_info_topic, max_frames=args.max_frames,
                          scale=args.scale)
    out = make_out_dir(args.out)  # fail before the (long) run, not after it
    depth_max = args.depth_max
    if depth_max is None:
        sample = src.frames()
        try:
            depth_max = auto_depth_max(itertools.islice(sample, AUTO_DEPTH_FRAMES))
        finally:
            sample.close()  # closes the bag the sample was read from
        print(f"depth_max {depth_max:g} m (fits the first {AUTO_DEPTH_FRAMES} frames' depth; "
              "set --depth-max to override)")
    config = {"method": args.method, "input": str(args.input), "max_frames": args.max_frames,
              "scale": args.scale, "depth_max_m": depth_max,
              "depth_max_auto": args.depth_max is None}
    if args.method == "open3d":
        config["voxel_size_m"] = args.voxel
        result = run_open3d_slam(src.frames(), src.camera, voxel_size_m=args.voxel,
                                 depth_max_m=depth_max)
    else:
        config["odometry_method"] = args.odometry_method
        result = run_open3d_odometry(src.frames(), src.camera, method=args.odometry_method,
                                     depth_max_m=depth_max)
    write_run(out, result, config)
    print(f"{args.method}: {len(result.trajectory)} frames from {src.description}, "
          f"{result.frames_per_s:.2f} frames/s, {len(result.lost)} lost")
    if len(result.trajectory) < 2 and src.ground_truth is not None and not args.no_eval:
        print("not scored: ATE needs at least two frames")
    elif src.ground_truth is not None and not args.no_eval:
        from slam_nodes.eval.evaluate import evaluate_to_dir

        gt_path = out / "groundtruth.tum"
        write_tum(gt_path, src.ground_truth)
        metrics = evaluate_to_dir(out, est=out, gt=gt_path)
        print(f"ATE RMSE {metrics['trajectory']['ate_cm']['rmse']:.3f} cm "
              f"({metrics['trajectory']['num_pairs']} poses, se3)")
    print(f"wrote {out}")
    return 0
