"""`slam-nodes run --transport dds --config FILE [--node NAME]`: run a node live without ROS.

With `--transport dds` the node joins a ROS 2 graph running on Cyclone DDS (RMW_IMPLEMENTATION=
rmw_cyclonedds_cpp) on the same ROS_DOMAIN_ID: it subscribes to its input topics and publishes
what `ros2 topic echo` and RViz see (en_slam_node: odometry, path, TF, mesh, diagnostics;
asset_completion_node: ~/assets, diagnostics, asset folders on disk, with a last completion
when it stops). Services need the rclpy runtime (`--transport ros`, or `ros2 run slam_nodes
<node>`).
"""

from __future__ import annotations

import argparse
import os

from slam_nodes.cli.node_args import add_node_arguments, node_config

HELP = "run en_slam_node (or --node) live over Cyclone DDS (no ROS install needed)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_node_arguments(parser)
    parser.add_argument("--transport", choices=("dds", "ros"), default="dds",
                        help="dds: Cyclone DDS without ROS; ros: rclpy (needs a ROS 2 install)")
    parser.add_argument("--domain-id", type=int,
                        default=int(os.environ.get("ROS_DOMAIN_ID", "0") or 0),
                        help="ROS 2 domain id (default: $ROS_DOMAIN_ID or 0)")
    parser.add_argument("--namespace", default="/", help="node namespace")
    parser.add_argument("--duration", type=float, default=None,
                        help="dds: stop after this many seconds (default: until Ctrl-C)")


def run(args: argparse.Namespace) -> int:
    import logging

    from slam_nodes.runtime.interface import parse_remappings

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    spec, config = node_config(args)  # validated here, before any transport starts
    if args.transport == "ros":
        from slam_nodes.errors import ConfigError
        from slam_nodes.optional import has_rclpy
        from slam_nodes.runtime.ros import run_node

        if args.duration is not None:
            raise ConfigError("--duration is for --transport dds; under rclpy the node runs "
                              "until Ctrl-C")
        if not has_rclpy():
            raise ConfigError("--transport ros needs rclpy (source a ROS 2 install); "
                              "--transport dds runs without one")
        os.environ["ROS_DOMAIN_ID"] = str(args.domain_id)  # read by rclpy.init
        ros_args = ["--ros-args", "-r", f"__ns:={args.namespace}", "--params-file", args.config]
        for item in args.remap:
            ros_args += ["-r", item]
        for item in args.set:
            ros_args += ["-p", item.replace("=", ":=", 1)]
        return run_node(spec.name, ros_args)
    from slam_nodes.runtime.dds import DdsRuntime

    runtime = DdsRuntime(spec.name, domain_id=args.domain_id, namespace=args.namespace,
                         remappings=parse_remappings(args.remap),
                         use_sim_time=config.use_sim_time)
    node = spec.build(runtime, config)
    print(f"{spec.name} on Cyclone DDS domain {args.domain_id}; Ctrl-C to stop", flush=True)
    try:
        runtime.spin(args.duration)
    finally:
        shutdown = getattr(node, "shutdown", None)  # e.g. the asset node's last completion
        if shutdown is not None:
            shutdown()
    return 0
