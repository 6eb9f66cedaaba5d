"""Encoders: EventBatch -> 'evt3' / 'mono' bytes, and EventPacket messages (vectorised).

Used by the synthetic data generator and by round-trip tests. Encoders sort events by time
(stable) first: both formats are streams in time order.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types import EventBatch

EVENT_PACKET = "event_camera_msgs/msg/EventPacket"
_TH_STEP = 2048  # largest TIME_HIGH step the decoder's rollover rule follows safely


def encode_evt3(batch: EventBatch) -> bytes:
    """EVT3 words of a batch of *sensor-time* events (t >= 0 ns, µs resolution).

    Every packet starts with TIME_HIGH, TIME_LOW and ADDR_Y, so a fresh decoder syncs on it;
    then TIME_HIGH/TIME_LOW/ADDR_Y words only where the time or row changes, and one ADDR_X per
    event (no vector words). Gaps longer than 2048 TIME_HIGH steps (8.4 s) get intermediate
    TIME_HIGH words so the decoder follows the 24-bit counter's rollovers. EVT3 keeps the
    camera's 24-bit µs counter: decoding with a fresh decoder gives t exactly (floored to µs)
    for streams that start below 2^24 µs (16.8 s), as a camera's own stream does.
    Raises ConversionError for negative times or x, y >= 2048.
    """
    b = batch.sorted()
    n = len(b)
    if n == 0:
        return b""
    if b.t[0] < 0:
        raise ConversionError("encode_evt3: sensor times must be >= 0 ns")
    if int(b.x.max()) >= 2048 or int(b.y.max()) >= 2048:
        raise ConversionError("encode_evt3: EVT3 addresses x, y must be < 2048")
    t_us = b.t // 1000
    high = t_us >> 12
    y = b.y.astype(np.int64)
    first = np.zeros(n, dtype=bool)
    first[0] = True
    d_high = np.diff(high, prepend=high[0])
    n_th = np.where(first, 1, -(-d_high // _TH_STEP))
    new_t = first | (np.diff(t_us, prepend=t_us[0]) != 0)
    new_y = first | (np.diff(y, prepend=y[0]) != 0)
    count = n_th + new_t + new_y + 1
    end = np.cumsum(count)
    off = end - count
    words = np.empty(int(end[-1]), dtype="<u2")
    # TIME_HIGH words (with intermediate steps across long gaps)
    ev = np.repeat(np.arange(n), n_th)
    k = np.arange(len(ev)) - np.repeat(np.cumsum(n_th) - n_th, n_th)
    prev_high = np.where(ev > 0, high[ev - 1], high[ev])
    th = np.minimum(prev_high + _TH_STEP * (k + 1), high[ev])
    th[ev == 0] = high[0]
    words[off[ev] + k] = 0x8000 | (th & 0xFFF)
    tl = np.flatnonzero(new_t)
    words[off[tl] + n_th[tl]] = 0x6000 | (t_us[tl] & 0xFFF)
    ny = np.flatnonzero(new_y)
    words[off[ny] + n_th[ny] + new_t[ny]] = y[ny]  # ADDR_Y: code 0, system type 0
    pol = (b.p > 0).astype(np.int64)
    words[end - 1] = 0x2000 | (pol << 11) | b.x.astype(np.int64)
    return words.tobytes()


def encode_mono(batch: EventBatch, time_base: int) -> bytes:
    """'mono' records: t - time_base must lie in [0, 2^32) ns, x < 65536, y < 32768.

    Raises ConversionError otherwise."""
    b = batch.sorted()
    if len(b) == 0:
        return b""
    dt = b.t - np.int64(time_base)
    if dt.min() < 0 or dt.max() >= (1 << 32):
        raise ConversionError("encode_mono: t - time_base must be in [0, 2^32) ns "
                              f"(got {dt.min()} .. {dt.max()})")
    if int(b.y.max()) >= (1 << 15):
        raise ConversionError("encode_mono: y must be < 32768")
    w = (dt.astype(np.uint64) | (b.x.astype(np.uint64) << np.uint64(32))
         | (b.y.astype(np.uint64) << np.uint64(48))
         | ((b.p > 0).astype(np.uint64) << np.uint64(63)))
    return w.astype("<u8").tobytes()


def event_packet_msg(batch: EventBatch, encoding: str, stamp_ns: int, frame_id: str, *,
                     seq: int = 0, time_base: int | None = None):
    """An event_camera_msgs/EventPacket (rosbags dataclass) holding the batch.

    encoding 'evt3': batch times are sensor time (see encode_evt3), time_base 0;
    'mono': time_base defaults to the first event time. width/height from the batch.
    """
    if encoding == "evt3":
        data, base = encode_evt3(batch), 0
    elif encoding == "mono":
        base = int(batch.t.min()) if time_base is None and len(batch) else int(time_base or 0)
        data = encode_mono(batch, base)
    else:
        raise ConversionError(f"event_packet_msg: cannot encode {encoding!r} "
                              "(encoders exist for 'evt3' and 'mono')")
    return msg_class(EVENT_PACKET)(
        header=make_header(stamp_ns, frame_id), height=int(batch.height),
        width=int(batch.width), seq=int(seq), time_base=int(base), encoding=encoding,
        is_bigendian=False, events=np.frombuffer(data, dtype=np.uint8).copy())
