"""Optional dependencies probed in one place.

Each probe is a function so that importing slam_nodes never imports torch or CUDA libraries.
"""

from __future__ import annotations

import functools
import importlib.util


@functools.cache
def has_module(name: str) -> bool:
    """True when `name` can be imported (without importing it)."""
    return importlib.util.find_spec(name) is not None


@functools.cache
def has_cuda() -> bool:
    """True when torch is installed and sees a CUDA device."""
    if not has_module("torch"):
        return False
    import torch

    return torch.cuda.is_available()


def has_tcnn() -> bool:
    """True when tiny-cuda-nn's Python bindings import (they need CUDA)."""
    return has_module("tinycudann") and has_cuda()


def has_rclpy() -> bool:
    """True when rclpy (a ROS 2 install) is importable."""
    return has_module("rclpy")


def require(name: str, purpose: str, install_hint: str | None = None):
    """Import optional module `name` or raise ImportError that says what to install."""
    if not has_module(name):
        hint = install_hint or f"pip install {name}"
        raise ImportError(f"{purpose} needs the optional package '{name}': {hint}")
    return importlib.import_module(name)
