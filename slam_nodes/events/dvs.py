"""dvs_msgs/EventArray (one struct per event): decoding and building, vectorised.

A deserialised rosbags message holds one Python object per event, so `decode_dvs_msg` has to
visit each (np.fromiter over attributes); replay should hand the *serialised* bytes to
`decode_dvs_cdr` / `decode_dvs_ros1`, which read the event structs straight out of the buffer
with a numpy structured dtype and never touch a Python object per event.

CDR layout of the event sequence (XCDR1, alignment relative to the payload after the 4-byte
encapsulation header): the first event starts 4-aligned and takes 14 bytes (x u16, y u16,
sec i32, nanosec u32, polarity u8, 1 pad); every later event starts 2 (mod 4) and takes 16
bytes (x, y, 2 pad, sec, nanosec, polarity, 1 pad). ROS 1 packs events in 13 bytes.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types import EventBatch

DVS_EVENT_ARRAY = "dvs_msgs/msg/EventArray"
NS = 1_000_000_000


def _later_dtype(endian: str) -> np.dtype:
    return np.dtype({"names": ["x", "y", "sec", "nsec", "p"],
                     "formats": [endian + "u2", endian + "u2", endian + "i4", endian + "u4", "u1"],
                     "offsets": [0, 2, 6, 10, 14], "itemsize": 16})


def _first_dtype(endian: str) -> np.dtype:
    return np.dtype({"names": ["x", "y", "sec", "nsec", "p"],
                     "formats": [endian + "u2", endian + "u2", endian + "i4", endian + "u4", "u1"],
                     "offsets": [0, 2, 4, 8, 12], "itemsize": 14})


_ROS1_DTYPE = np.dtype({"names": ["x", "y", "sec", "nsec", "p"],
                        "formats": ["<u2", "<u2", "<u4", "<u4", "u1"],
                        "offsets": [0, 2, 4, 8, 12], "itemsize": 13})


def _batch(x, y, sec, nsec, pol, width: int, height: int) -> EventBatch:
    t = sec.astype(np.int64) * NS + nsec.astype(np.int64)
    p = np.where(pol != 0, 1, -1).astype(np.int8)
    return EventBatch(t, x, y, p, width, height)


def decode_dvs_msg(msg) -> EventBatch:
    """EventBatch of a deserialised dvs_msgs/EventArray (t = each event's ts, epoch ns)."""
    ev = msg.events
    n = len(ev)
    x = np.fromiter((e.x for e in ev), dtype=np.uint16, count=n)
    y = np.fromiter((e.y for e in ev), dtype=np.uint16, count=n)
    sec = np.fromiter((e.ts.sec for e in ev), dtype=np.int64, count=n)
    nsec = np.fromiter((e.ts.nanosec for e in ev), dtype=np.int64, count=n)
    pol = np.fromiter((e.polarity for e in ev), dtype=np.uint8, count=n)
    return _batch(x, y, sec, nsec, pol, int(msg.width), int(msg.height))


def _u32(buf: np.ndarray, pos: int, endian: str) -> int:
    if pos + 4 > len(buf):
        raise DecodeError("dvs EventArray: truncated before offset %d" % (pos + 4))
    return int(buf[pos:pos + 4].view(endian + "u4")[0])


def decode_dvs_cdr(raw) -> tuple[EventBatch, int]:
    """(EventBatch, header stamp ns) of a CDR-serialised dvs_msgs/EventArray, no per-event
    Python work. Raises DecodeError on a truncated or malformed buffer."""
    buf = np.frombuffer(raw, dtype=np.uint8)
    if len(buf) < 4 or buf[0] != 0 or buf[1] not in (0, 1):
        raise DecodeError("dvs EventArray: not a CDR buffer (bad encapsulation header)")
    endian = "<" if buf[1] == 1 else ">"
    body = buf[4:]
    stamp = int(body[0:4].view(endian + "i4")[0]) * NS + _u32(body, 4, endian) if len(body) >= 8 \
        else None
    if stamp is None:
        raise DecodeError("dvs EventArray: truncated header")
    pos = 12 + _u32(body, 8, endian)
    pos = (pos + 3) & ~3
    height, width, n = (_u32(body, pos + 4 * i, endian) for i in range(3))
    pos += 12
    need = 0 if n == 0 else 14 + 16 * (n - 1) - 1
    if pos + need > len(body):
        raise DecodeError(f"dvs EventArray: {n} events need {need} bytes, "
                          f"{len(body) - pos} present")
    if n == 0:
        return EventBatch.empty(width, height), stamp
    first = body[pos:pos + 13].copy()
    first = np.concatenate([first, np.zeros(1, np.uint8)]).view(_first_dtype(endian))
    rest_bytes = body[pos + 14:pos + 14 + 16 * (n - 1)]
    if len(rest_bytes) < 16 * (n - 1):  # the last event's trailing pad may be absent
        rest_bytes = np.concatenate([rest_bytes, np.zeros(16 * (n - 1) - len(rest_bytes),
                                                          np.uint8)])
    rest = rest_bytes.view(_later_dtype(endian))
    cols = {k: np.concatenate([first[k], rest[k]]) for k in ("x", "y", "sec", "nsec", "p")}
    return _batch(cols["x"], cols["y"], cols["sec"], cols["nsec"], cols["p"], width,
                  height), stamp


def decode_dvs_ros1(raw) -> tuple[EventBatch, int]:
    """(EventBatch, header stamp ns) of a ROS 1-serialised dvs_msgs/EventArray."""
    body = np.frombuffer(raw, dtype=np.uint8)
    stamp = _u32(body, 4, "<") * NS + _u32(body, 8, "<")
    pos = 16 + _u32(body, 12, "<")
    height, width, n = (_u32(body, pos + 4 * i, "<") for i in range(3))
    pos += 12
    if pos + 13 * n > len(body):
        raise DecodeError(f"dvs EventArray (ROS 1): {n} events need {13 * n} bytes, "
                          f"{len(body) - pos} present")
    ev = body[pos:pos + 13 * n].view(_ROS1_DTYPE)
    return _batch(ev["x"], ev["y"], ev["sec"], ev["nsec"], ev["p"], width, height), stamp


def dvs_event_array_msg(batch: EventBatch, stamp_ns: int, frame_id: str):
    """A dvs_msgs/EventArray message (rosbags dataclass) of a batch; one Event object per
    event, as the message type demands (use dvs_event_array_cdr for large batches)."""
    event_cls = msg_class("dvs_msgs/msg/Event")
    time_cls = msg_class("builtin_interfaces/msg/Time")
    sec, nsec = np.divmod(batch.t, NS)
    events = [event_cls(x=int(x), y=int(y), ts=time_cls(sec=int(s), nanosec=int(ns)),
                        polarity=bool(p > 0))
              for x, y, s, ns, p in zip(batch.x.tolist(), batch.y.tolist(), sec.tolist(),
                                        nsec.tolist(), batch.p.tolist())]
    return msg_class(DVS_EVENT_ARRAY)(header=make_header(stamp_ns, frame_id),
                                      height=int(batch.height), width=int(batch.width),
                                      events=events)


def dvs_event_array_cdr(batch: EventBatch, stamp_ns: int, frame_id: str) -> bytes:
    """Little-endian CDR bytes of the dvs_msgs/EventArray of a batch, built with numpy
    (the same bytes rosbags' serialize_cdr makes from dvs_event_array_msg)."""
    sec0, nsec0 = divmod(int(stamp_ns), NS)
    name = frame_id.encode() + b"\0"
    head = (np.array([sec0], "<i4").tobytes() + np.array([nsec0, len(name)], "<u4").tobytes()
            + name)
    head += b"\0" * ((-len(head)) % 4)
    n = len(batch)
    head += np.array([batch.height, batch.width, n], "<u4").tobytes()
    sec, nsec = np.divmod(batch.t, NS)
    pol = (batch.p > 0).astype(np.uint8)
    out = b"\x00\x01\x00\x00" + head
    if n == 0:
        return out
    first = np.zeros(1, _first_dtype("<"))
    rest = np.zeros(n - 1, _later_dtype("<"))
    for arr, sl in ((first, slice(0, 1)), (rest, slice(1, None))):
        arr["x"], arr["y"] = batch.x[sl], batch.y[sl]
        arr["sec"], arr["nsec"], arr["p"] = sec[sl], nsec[sl], pol[sl]
    body = first.tobytes() + rest.tobytes()
    return out + body[:-1]  # no padding after the last event
