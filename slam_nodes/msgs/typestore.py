"""The rosbags typestore every part of slam_nodes uses.

It holds the standard ROS 2 (Jazzy) message types plus the message definitions this package
ships under `definitions/<package>/msg/<Name>.msg` (event cameras, ...), so bags and DDS
traffic with those types decode without a ROS install.
"""

from __future__ import annotations

import functools
from pathlib import Path

from rosbags.typesys import Stores, get_types_from_msg, get_typestore as _rosbags_typestore
from rosbags.typesys.store import Typestore

DEFINITIONS_DIR = Path(__file__).parent / "definitions"


def shipped_definitions() -> dict[str, str]:
    """Message definitions shipped with the package: {'pkg/msg/Name': msg text}."""
    out = {}
    for path in sorted(DEFINITIONS_DIR.glob("*/msg/*.msg")):
        pkg = path.parent.parent.name
        out[f"{pkg}/msg/{path.stem}"] = path.read_text()
    return out


@functools.cache
def get_typestore() -> Typestore:
    """The shared typestore: ROS 2 Jazzy types + shipped definitions (cached, do not mutate)."""
    store = _rosbags_typestore(Stores.ROS2_JAZZY)
    types: dict = {}
    for name, text in shipped_definitions().items():
        types.update(get_types_from_msg(text, name))
    store.register(types)
    return store


def msg_class(typename: str):
    """The rosbags message dataclass for a type name such as 'sensor_msgs/msg/Image'."""
    return get_typestore().types[typename]
