"""The typestore a bag is decoded with: our shared store plus the definitions stored in the bag.

Bags written by `ros2 bag` (MCAP) and every ROS 1 bag carry their message definitions. Those
definitions are the truth for decoding that bag, so they override the shared ROS 2 Jazzy store
(`slam_nodes.msgs.typestore.get_typestore`), and types the shared store lacks still decode.
When a ROS 2 bag adds nothing new, the shared store itself is returned (its generated
deserialisers are cached across bags).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from rosbags.interfaces import Connection, MessageDefinitionFormat
from rosbags.typesys import Stores, get_types_from_idl, get_types_from_msg
from rosbags.typesys import get_typestore as rosbags_typestore
from rosbags.typesys.base import Nodetype, TypesysError
from rosbags.typesys.store import Typestore

from slam_nodes.msgs.typestore import get_typestore

logger = logging.getLogger(__name__)

_IDL_SEPARATOR = "=" * 80 + "\n"
_PREPROCESSOR = re.compile(r"^[ \t]*#.*$", re.MULTILINE)


def definitions_from_connections(connections: Iterable[Connection]) -> dict:
    """Type definitions ({'pkg/msg/Name': fielddefs}) parsed from the bag's connections.

    A definition that does not parse is logged and ignored (the shared store may still know it).
    """
    types: dict = {}
    for conn in connections:
        fmt = conn.msgdef.format
        text = conn.msgdef.data
        if fmt == MessageDefinitionFormat.NONE or not text:
            continue
        try:
            if fmt == MessageDefinitionFormat.MSG:
                types.update(get_types_from_msg(text, conn.msgtype))
            elif text.startswith(_IDL_SEPARATOR + "IDL: "):
                for block in text.split(_IDL_SEPARATOR)[1:]:
                    types.update(get_types_from_idl(_strip_preprocessor(block.split("\n", 1)[1])))
            else:
                types.update(get_types_from_idl(_strip_preprocessor(text)))
        except (TypesysError, ValueError, IndexError) as err:
            first_line = str(err).strip().splitlines()[0][:120] if str(err).strip() else ""
            logger.warning("topic %s: cannot parse the definition of %s stored in the bag (%s: "
                           "%s); using the built-in one if any", conn.topic, conn.msgtype,
                           type(err).__name__, first_line)
    return types


def _strip_preprocessor(idl: str) -> str:
    """IDL without `#include` / `#pragma` lines, which rosbags' IDL parser rejects (rosidl
    writes them; every included type is stored as its own block anyway)."""
    return _PREPROCESSOR.sub("", idl)


def bag_typestore(connections: Iterable[Connection], is_ros2: bool) -> Typestore:
    """Typestore for decoding a bag with these connections.

    ROS 1 bags always get their own store (their std_msgs/Header has `seq`); ROS 2 bags get the
    shared store unless the bag defines a type it lacks or defines one differently.
    """
    connections = list(connections)
    base = get_typestore()
    stored = definitions_from_connections(connections)
    differs = any(base.fielddefs.get(name) != defs for name, defs in stored.items())
    if is_ros2 and not differs:
        return base
    # Register only what the bag's types need (registering all ~400 Jazzy types costs ~0.2 s):
    # the stored definitions, built-in ones for topics whose definition the bag lacks, and
    # their dependencies.
    needed = {c.msgtype: base.fielddefs[c.msgtype] for c in connections
              if c.msgtype not in stored and c.msgtype in base.fielddefs}
    needed.update(stored)
    needed = with_dependencies(needed, base.fielddefs)
    store = rosbags_typestore(Stores.EMPTY)
    store.register(needed)
    return store


def with_dependencies(types: dict, base: dict) -> dict:
    """`types` plus every type they reference (recursively) that only `base` defines."""
    out = dict(types)
    stack = list(types)
    while stack:
        _, fields = out[stack.pop()]
        for _, desc in fields:
            for ref in _referenced_names(desc):
                if ref not in out and ref in base:
                    out[ref] = base[ref]
                    stack.append(ref)
    return out


def _referenced_names(desc) -> list[str]:
    """Message type names in a rosbags field descriptor (NAME, or ARRAY/SEQUENCE of NAME)."""
    nodetype, rest = desc
    if nodetype == Nodetype.NAME:
        return [rest]
    if nodetype in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return _referenced_names(rest[0])
    return []
