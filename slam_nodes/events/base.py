"""What every packet codec returns, how it becomes an EventBatch, and helpers to view a byte
buffer as words."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.types import EventBatch, TriggerEvents

logger = logging.getLogger(__name__)


@dataclass
class RawEvents:
    """Events of one packet as the codec produced them, before bounds checks.

    t: int64 [N] ns (sensor time or epoch time, see each codec); x, y: integer [N] pixels
    (uint16 from most codecs);
    p: int8 [N] +1 (ON) / -1 (OFF). Trigger events: trig_t int64 [M] ns, trig_edge int8 [M]
    (0/1), trig_id uint8 [M]. These are EventBatch's and TriggerEvents' dtypes, so building
    them copies nothing. xy_max: (largest x, largest y) when the codec found them in
    passing (compiled EVT3 kernel; (0, 0) without events), else None.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    trig_t: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trig_edge: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))
    trig_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    xy_max: tuple[int, int] | None = None

    @classmethod
    def empty(cls) -> "RawEvents":
        u16 = np.zeros(0, dtype=np.uint16)
        return cls(np.zeros(0, dtype=np.int64), u16, u16, np.zeros(0, dtype=np.int8))


def to_batch(raw: RawEvents, width: int, height: int
             ) -> tuple[EventBatch, TriggerEvents, int]:
    """(events inside width x height, triggers, number of events dropped outside); nothing is
    dropped when the size is unknown (0). Copies nothing when all events are inside."""
    x, y, t, p = raw.x, raw.y, raw.t, raw.p
    dropped = 0
    # the largest x and y find the usual case (all inside) without building a mask
    x_max, y_max = raw.xy_max or ((x.max(), y.max()) if len(x) else (0, 0))
    if width > 0 and height > 0 and (x_max >= width or y_max >= height):
        keep = (x < width) & (y < height)
        dropped = int(len(keep) - np.count_nonzero(keep))
        if dropped:
            x, y, t, p = x[keep], y[keep], t[keep], p[keep]
    return (EventBatch(t, x, y, p, width, height),
            TriggerEvents(raw.trig_t, raw.trig_edge, raw.trig_id), dropped)


def signed_polarity(bit: np.ndarray) -> np.ndarray:
    """int8 [N] +1 (ON) / -1 (OFF) of polarity bits 1 / 0 (any integer dtype)."""
    out = bit.astype(np.int8)
    out <<= 1
    out -= 1
    return out


def as_uint8(buf) -> np.ndarray:
    """A read-only uint8 view of bytes / bytearray / memoryview / ndarray (no copy)."""
    if isinstance(buf, np.ndarray):
        return buf.reshape(-1).view(np.uint8)
    return np.frombuffer(buf, dtype=np.uint8)


def whole_words(buf: np.ndarray, size: int, what: str) -> np.ndarray:
    """buf (uint8 [B]) without a trailing partial word of `size` bytes, which is dropped with
    a warning (sensor drivers send whole words, a partial one means a truncated packet)."""
    usable = len(buf) - len(buf) % size
    if usable != len(buf):
        logger.warning("%s packet of %d bytes is not a multiple of %d: ignoring %d trailing "
                       "bytes", what, len(buf), size, len(buf) - usable)
    return buf[:usable]


def kernel_bytes(buf: np.ndarray, size: int, what: str) -> np.ndarray:
    """whole_words(buf) as a read-only C-contiguous uint8 view (copied only when strided):
    the compiled kernels then see one array type, so each is compiled (and cached) once."""
    out = whole_words(buf, size, what)
    if not out.flags.c_contiguous:
        out = np.ascontiguousarray(out)
    if out.flags.writeable:
        out = out.view()
        out.flags.writeable = False
    return out


def as_words(buf: np.ndarray, dtype: str, what: str) -> np.ndarray:
    """View buf as little-endian words of `dtype` (a trailing partial word is dropped with a
    warning, see whole_words)."""
    return np.ascontiguousarray(whole_words(buf, np.dtype(dtype).itemsize, what)).view(dtype)


# Large packets are decoded in blocks of this many words: the temporaries of a block stay in
# cache and are recycled by the allocator, which is 2-3x faster than one pass over megabytes.
BLOCK_WORDS = 1 << 14


def concat_raw(parts: list[RawEvents]) -> RawEvents:
    """One RawEvents of several, in order."""
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return RawEvents.empty()
    return RawEvents(*(np.concatenate([getattr(p, f) for p in parts]) for f in (
        "t", "x", "y", "p", "trig_t", "trig_edge", "trig_id")))
