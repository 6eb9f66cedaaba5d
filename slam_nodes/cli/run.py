"""`slam-nodes run --transport dds --config FILE`: run en_slam_node live without ROS.

With `--transport dds` the node joins a ROS 2 graph running on Cyclone DDS (RMW_IMPLEMENTATION=
rmw_cyclonedds_cpp) on the same ROS_DOMAIN_ID: it subscribes to the camera topics and publishes
odometry, path, TF, mesh and diagnostics that `ros2 topic echo` and RViz see. Services need the
rclpy runtime (`ros2 run slam_nodes en_slam_node`).
"""

from __future__ import annotations

import argparse
import os

HELP = "run en_slam_node live over Cyclone DDS (no ROS install needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--transport", choices=("dds", "ros"), default="dds",
                        help="dds: Cyclone DDS without ROS; ros: rclpy (needs a ROS 2 install)")
    parser.add_argument("--config", required=True, help="ROS 2 params file (config/*.yaml)")
    parser.add_argument("--domain-id", type=int,
                        default=int(os.environ.get("ROS_DOMAIN_ID", "0") or 0),
                        help="ROS 2 domain id (default: $ROS_DOMAIN_ID or 0)")
    parser.add_argument("--namespace", default="/", help="node namespace")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="topic remapping, e.g. rgb/image:=/camera/color/image_raw")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter (YAML value)")
    parser.add_argument("--duration", type=float, default=None,
                        help="stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    import logging

    from slam_nodes.cli.replay import parse_overrides
    from slam_nodes.nodes.config import load_node_config
    from slam_nodes.nodes.en_slam_node import NODE_NAME, EnSlamNode
    from slam_nodes.runtime.interface import parse_remappings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    config = load_node_config(args.config, overrides=parse_overrides(args.set))
    if args.transport == "ros":
        from slam_nodes.runtime.ros import main as ros_main

        return ros_main(["--ros-args", "--params-file", args.config])
    from slam_nodes.runtime.dds import DdsRuntime

    runtime = DdsRuntime(NODE_NAME, domain_id=args.domain_id, namespace=args.namespace,
                         remappings=parse_remappings(args.remap),
                         use_sim_time=config.use_sim_time)
    EnSlamNode(runtime, config)
    print(f"en_slam_node on Cyclone DDS domain {args.domain_id}; Ctrl-C to stop")
    runtime.spin(args.duration)
    return 0
