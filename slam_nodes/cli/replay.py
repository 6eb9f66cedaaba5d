"""`slam-nodes replay BAG --config FILE --out DIR`: run en_slam_node over a bag offline."""

from __future__ import annotations

import argparse

HELP = "replay a bag through en_slam_node offline (sim time, deterministic); write outputs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder, .mcap, .db3 or ROS 1 .bag")
    parser.add_argument("--config", required=True,
                        help="ROS 2 params file (config/rgbd.yaml, ...)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--rate", type=float, default=None,
                        help="pace at this multiple of real time (default: as fast as possible)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="topic remapping, e.g. rgb/image:=/camera/color/image_raw")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. engine.name=icp (YAML value)")
    parser.add_argument("--gt-topic", default="/ground_truth/pose",
                        help="ground-truth pose topic in the bag (scored when present)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def parse_overrides(items: list[str]) -> dict:
    import yaml

    from slam_nodes.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def run(args: argparse.Namespace) -> int:
    import logging

    from slam_nodes.nodes.config import load_node_config
    from slam_nodes.runtime.interface import parse_remappings
    from slam_nodes.runtime.replay import replay_bag

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_node_config(args.config, overrides=parse_overrides(args.set))
    result = replay_bag(args.bag, config, args.out, rate=args.rate,
                        remappings=parse_remappings(args.remap), progress=not args.no_progress,
                        gt_topic=args.gt_topic, figures=True)
    print(f"processed {result.frames} frames from {result.messages} messages "
          f"in {result.wall_s:.1f} s")
    for topic, reasons in sorted(result.skipped.items()):
        print(f"  skipped on {topic}: " + ", ".join(f"{k} x{v}" for k, v in reasons.items()))
    print(f"bag of published topics: {result.bag}")
    print(f"trajectory: {result.trajectory}")
    if result.mesh:
        print(f"mesh: {result.mesh}")
    if result.metrics and result.metrics.get("trajectory"):
        ate = result.metrics["trajectory"]["ate_cm"]
        print(f"ATE RMSE {ate['rmse']:.2f} cm over {ate['count']} poses; "
              f"report: {result.out_dir / 'report.md'}")
    return 0
