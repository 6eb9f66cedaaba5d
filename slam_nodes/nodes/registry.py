"""The package's nodes by name: each one's params class and logic class, imported lazily.

Every runtime entry point (`slam-nodes run`, `slam-nodes replay`, the rclpy executables) picks
a node here, so adding a node is one row in NODES.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slam_nodes.errors import ConfigError


@dataclass(frozen=True)
class NodeSpec:
    """A node: its ROS name (also its params-file key) and 'module:Class' of its params
    dataclass (a config_schema.NodeParams) and of its logic (built as Logic(runtime, config))."""

    name: str
    config_class: str
    logic_class: str

    def load_config(self, path: str | Path, overrides: dict | None = None) -> Any:
        """The node's validated params from a ROS 2 params file, dotted `overrides` on top."""
        from slam_nodes.config_schema import load_params

        return load_params(_load(self.config_class), path, self.name, overrides)

    def config_from_params(self, params: dict) -> Any:
        """The node's validated params from (flattened) parameter values, as rclpy gives them."""
        return _load(self.config_class).from_dict(params)

    def save_config(self, path: str | Path, config: Any) -> None:
        """Write `config` as a ROS 2 params file keyed by the node's name."""
        from slam_nodes.config_schema import save_params

        save_params(path, config, self.name)

    def build(self, runtime, config) -> Any:
        """The node's logic on `runtime` (declares its subscriptions, timers and services)."""
        return _load(self.logic_class)(runtime, config)


NODES: dict[str, NodeSpec] = {spec.name: spec for spec in (
    NodeSpec("en_slam_node", "slam_nodes.nodes.config:SlamNodeConfig",
             "slam_nodes.nodes.en_slam_node:EnSlamNode"),
    NodeSpec("asset_completion_node", "slam_nodes.nodes.asset_config:AssetNodeConfig",
             "slam_nodes.nodes.asset_completion_node:AssetCompletionNode"),
)}


def get_node(name: str) -> NodeSpec:
    """The node called `name`; ConfigError naming the known ones otherwise."""
    try:
        return NODES[name]
    except KeyError:
        raise ConfigError(f"unknown node {name!r}; choose one of {sorted(NODES)}") from None


def _load(path: str):
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)
