"""Stamps and headers: int64 nanoseconds inside, builtin_interfaces/Time at the edge."""

from __future__ import annotations

from slam_nodes.msgs.typestore import msg_class

NS_PER_S = 1_000_000_000


def stamp_to_ns(stamp) -> int:
    """int64 ns of a builtin_interfaces/Time (or ROS 1 time with sec/nanosec fields)."""
    return int(stamp.sec) * NS_PER_S + int(stamp.nanosec)


def ns_to_stamp(stamp_ns: int):
    """builtin_interfaces/Time of int64 ns (floor division, so negative times stay valid)."""
    sec, nanosec = divmod(int(stamp_ns), NS_PER_S)
    return msg_class("builtin_interfaces/msg/Time")(sec=sec, nanosec=nanosec)


def make_header(stamp_ns: int, frame_id: str):
    """std_msgs/Header with the given stamp and frame."""
    return msg_class("std_msgs/msg/Header")(stamp=ns_to_stamp(stamp_ns), frame_id=frame_id)
