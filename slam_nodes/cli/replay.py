"""`slam-nodes replay BAG --config FILE --out DIR [--node NAME]`: run a node over a bag offline.

en_slam_node (default) writes the output bag, trajectory, mesh and the eval report;
asset_completion_node writes the output bag and the completed assets under OUT/assets
(unless --set outputs.output_dir=... says otherwise).
"""

from __future__ import annotations

import argparse

from slam_nodes.cli.node_args import add_node_arguments, node_config

HELP = "replay a bag through en_slam_node (or --node) offline (sim time, deterministic)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder, .mcap, .db3 or ROS 1 .bag")
    add_node_arguments(parser)
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rate", type=float, default=None,
                        help="pace at this multiple of real time (default: as fast as possible)")
    parser.add_argument("--gt", default=None,
                        help="en_slam_node: ground truth to score against, a TUM file or a bag "
                             "(default: the replayed bag's --gt-topic); a LiDAR-only run is the "
                             "LiDAR's trajectory, e.g. a synthetic sequence's gt_lidar.tum")
    parser.add_argument("--gt-topic", default="/ground_truth/pose",
                        help="en_slam_node: ground-truth pose topic in the bag (scored when "
                             "present)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    import logging
    from pathlib import Path

    from slam_nodes.runtime.interface import parse_remappings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    remappings = parse_remappings(args.remap)
    if args.node == "asset_completion_node":
        from slam_nodes.errors import ConfigError
        from slam_nodes.runtime.replay import replay_assets

        if args.gt is not None:
            raise ConfigError("--gt scores en_slam_node's trajectory; asset_completion_node "
                              "has none")

        _, config = node_config(args, {"outputs.output_dir": str(Path(args.out) / "assets")})
        res = replay_assets(args.bag, config, args.out, rate=args.rate, remappings=remappings,
                            progress=not args.no_progress)
        for r in res.assets:
            print(f"{r['object_id']}: {r['class_name']}, {r['points']} points -> {r['method']} "
                  f"({r['folder']})")
        print(f"{res.messages} messages, {res.scans_used} clouds used in {res.wall_s:.1f} s; "
              f"{len(res.assets)} assets written to {config.outputs.output_dir}")
        _print_skipped(res.skipped)
        print(f"bag of published topics: {res.bag}")
        return 0
    from slam_nodes.runtime.replay import replay_bag

    _, config = node_config(args)
    result = replay_bag(args.bag, config, args.out, rate=args.rate, remappings=remappings,
                        progress=not args.no_progress, gt=args.gt, gt_topic=args.gt_topic,
                        figures=True)
    print(f"processed {result.frames} frames from {result.messages} messages "
          f"in {result.wall_s:.1f} s")
    _print_skipped(result.skipped)
    print(f"bag of published topics: {result.bag}")
    print(f"trajectory: {result.trajectory}")
    if result.mesh:
        print(f"mesh: {result.mesh}")
    if result.metrics and result.metrics.get("trajectory"):
        ate = result.metrics["trajectory"]["ate_cm"]
        print(f"ATE RMSE {ate['rmse']:.2f} cm over {ate['count']} poses; "
              f"report: {result.out_dir / 'report.md'}")
    return 0


def _print_skipped(skipped: dict) -> None:
    for topic, reasons in sorted(skipped.items()):
        print(f"  skipped on {topic}: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()))
