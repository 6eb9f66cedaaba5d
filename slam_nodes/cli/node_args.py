"""Arguments shared by the commands that run a node (`run`, `replay`): which node, its params
file, topic remappings and parameter overrides, and turning them into a validated config."""

from __future__ import annotations

import argparse

from slam_nodes.nodes.registry import NODES, get_node

DEFAULT_NODE = "en_slam_node"


def add_node_arguments(parser: argparse.ArgumentParser) -> None:
    """--node, --config, --remap, --set."""
    parser.add_argument("--node", choices=sorted(NODES), default=DEFAULT_NODE,
                        help="which node runs (default en_slam_node)")
    parser.add_argument("--config", required=True,
                        help="ROS 2 params file of that node (config/rgbd.yaml, config/lidar.yaml"
                             ", ...; config/assets.yaml for asset_completion_node)")
    parser.add_argument("--remap", action="append", default=[], metavar="FROM:=TO",
                        help="topic remapping, e.g. rgb/image:=/camera/color/image_raw")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a parameter, e.g. engine.name=icp (YAML value)")


def parse_overrides(items: list[str]) -> dict:
    """{'a.b': value} of KEY=VALUE strings, values parsed as YAML; ConfigError when malformed."""
    import yaml

    from slam_nodes.errors import ConfigError

    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r} must look like key=value")
        out[key.strip()] = yaml.safe_load(value)
    return out


def node_config(args: argparse.Namespace, defaults: dict | None = None):
    """(NodeSpec, validated config) of --node / --config / --set; `defaults` are dotted
    overrides that --set may override in turn."""
    spec = get_node(args.node)
    overrides = {**(defaults or {}), **parse_overrides(args.set)}
    return spec, spec.load_config(args.config, overrides)
