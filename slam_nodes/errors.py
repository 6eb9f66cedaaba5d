"""Typed errors raised by library code. Only the CLI turns them into exit codes."""


class SlamNodesError(Exception):
    """Base class of every error slam_nodes raises on bad input or configuration."""


class ConfigError(SlamNodesError):
    """A configuration file or parameter is missing, unknown or out of range."""


class BagError(SlamNodesError):
    """A bag file cannot be opened, is corrupt, or lacks a requested topic."""


class DecodeError(SlamNodesError):
    """Event data or a message payload cannot be decoded."""


class ConversionError(SlamNodesError):
    """A ROS message cannot be converted to or from a slam_nodes type."""


class DatasetError(SlamNodesError):
    """A dataset folder (TUM, 7-Scenes, KITTI, ...) is missing files or malformed."""


class EvalError(SlamNodesError):
    """Evaluation inputs (trajectories, meshes) cannot be compared."""
