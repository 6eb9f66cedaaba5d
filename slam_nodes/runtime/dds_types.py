"""ROS 2 message types as Cyclone DDS types, generated from the rosbags typestore.

ROS 2 on Cyclone DDS (rmw_cyclonedds) puts a topic `/a/b` on the DDS topic `rt/a/b` with the
type `pkg::msg::dds_::Name_`, a @final struct whose members are the message fields in order,
serialised as plain (XCDR1) CDR. `idl_type(typename)` builds that struct as a cyclonedds
IdlStruct (nested types, arrays, bounded/unbounded sequences and strings included), so topics
created here carry the same type name and type information a ROS 2 node declares.

Data never goes through cyclonedds' Python serializer on the hot path (it needs ~30 ms for one
640x480 image): writers hand rosbags' `serialize_cdr` bytes to `ddspy_write` and readers take raw
bytes with `ddspy_take` and decode them with rosbags. The generated types also let a test or a
tool use cyclonedds' own (de)serializer as an independent check that the bytes agree.
"""

from __future__ import annotations

import dataclasses
import functools
import types as pytypes

from slam_nodes.errors import ConfigError

_BASE = None


def _base_types() -> dict:
    global _BASE
    if _BASE is None:
        import cyclonedds.idl.types as t

        _BASE = {"bool": bool, "byte": t.uint8, "char": t.uint8, "int8": t.int8,
                 "uint8": t.uint8, "int16": t.int16, "uint16": t.uint16, "int32": t.int32,
                 "uint32": t.uint32, "int64": t.int64, "uint64": t.uint64,
                 "float32": t.float32, "float64": t.float64, "string": str, "wstring": str}
    return _BASE


def dds_type_name(typename: str) -> str:
    """'sensor_msgs/msg/Image' -> 'sensor_msgs::msg::dds_::Image_'."""
    parts = typename.split("/")
    if len(parts) != 3:
        raise ConfigError(f"message type {typename!r} is not of the form pkg/msg/Name")
    pkg, kind, name = parts
    return f"{pkg}::{kind}::dds_::{name}_"


def dds_topic_name(ros_topic: str) -> str:
    """'/en_slam_node/path' -> 'rt/en_slam_node/path' (ROS 2 topic prefix on DDS)."""
    if not ros_topic.startswith("/"):
        raise ConfigError(f"topic {ros_topic!r} must be fully qualified")
    return "rt" + ros_topic


@functools.cache
def idl_type(typename: str):
    """The cyclonedds IdlStruct class of a ROS 2 message type in our typestore."""
    from cyclonedds.idl import IdlStruct

    from slam_nodes.msgs.typestore import get_typestore

    store = get_typestore()
    if typename not in store.fielddefs:
        raise ConfigError(f"unknown message type {typename!r}")
    _consts, fields = store.fielddefs[typename]
    annotations = {name: _field_type(spec) for name, spec in fields}
    if not annotations:  # ROS 2 gives empty messages one placeholder member
        annotations = {"structure_needs_at_least_one_member": _base_types()["uint8"]}
    cls_name = dds_type_name(typename).split("::")[-1]
    cls = pytypes.new_class(cls_name, (IdlStruct,), {"typename": dds_type_name(typename)},
                            lambda ns: ns.update({"__annotations__": annotations}))
    return dataclasses.dataclass(cls)


def _field_type(spec):
    import cyclonedds.idl.types as t
    from rosbags.typesys.base import Nodetype

    kind, rest = spec
    if kind == Nodetype.BASE:
        base, bound = rest
        if base in ("string", "wstring") and bound:
            return t.bounded_str[bound]
        return _base_types()[base]
    if kind == Nodetype.NAME:
        return idl_type(rest)
    if kind == Nodetype.ARRAY:
        sub, n = rest
        return t.array[_field_type(sub), n]
    if kind == Nodetype.SEQUENCE:
        sub, bound = rest
        return t.sequence[_field_type(sub), bound] if bound else t.sequence[_field_type(sub)]
    raise ConfigError(f"unsupported field kind {kind} in a message definition")


def cdr_bytes(msg, typename: str) -> bytes:
    """Little-endian CDR of a rosbags message (4-byte encapsulation header included), padded
    to a multiple of 4 bytes as DDS serialised payloads are."""
    from slam_nodes.msgs.typestore import get_typestore

    data = bytes(get_typestore().serialize_cdr(msg, typename))
    pad = (-len(data)) % 4
    return data + b"\0" * pad if pad else data
