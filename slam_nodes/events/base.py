"""What every packet codec returns, and helpers to view a byte buffer as words."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)


@dataclass
class RawEvents:
    """Events of one packet as the codec produced them, before bounds checks.

    t: int64 [N] ns (sensor time or epoch time, see each codec); x, y: integer [N] pixels
    (uint16 from most codecs);
    p: uint8 [N] 0 (OFF) / 1 (ON). Trigger events: trig_t int64 [M] ns, trig_edge uint8 [M]
    (0/1), trig_id uint8 [M]. xy_max: (largest x, largest y) when the codec found them in
    passing (compiled EVT3 kernel; (0, 0) without events), else None.
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    trig_t: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    trig_edge: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    trig_id: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint8))
    xy_max: tuple[int, int] | None = None

    @classmethod
    def empty(cls) -> "RawEvents":
        u16 = np.zeros(0, dtype=np.uint16)
        return cls(np.zeros(0, dtype=np.int64), u16, u16, np.zeros(0, dtype=np.uint8))


def signed_polarity(p: np.ndarray) -> np.ndarray:
    """int8 [N] +1 / -1 of codec polarities 1 / 0 (uint8 is reinterpreted, not copied)."""
    q = p.view(np.int8) if p.dtype == np.uint8 else p.astype(np.int8)
    return (q << 1) - 1


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
