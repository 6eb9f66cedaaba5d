"""Prophesee EVT2 decoder (32-bit words), vectorised, stateful across chunks.

Word layout (little-endian uint32, type in bits 28-31):
  0 CD_OFF / 1 CD_ON  time bits 0-5 (bits 22-27), x (bits 11-21), y (bits 0-10)
  8 EVT_TIME_HIGH     time bits 6-33 (bits 0-27), in µs
  10 EXT_TRIGGER      time bits 0-5 (bits 22-27), id (bits 8-12), edge (bit 0)
  14 OTHERS, 15 CONTINUED: ignored; any other type: DecodeError.
t = (high << 6 | low) µs * 1000 ns, sensor time. A TIME_HIGH below the previous one is a
28-bit counter rollover (+2^34 µs, about 4.8 h). Events before the first TIME_HIGH use the
carried high part (0 at stream start), as Prophesee's own decoders do.

The numpy decoder here is the reference; _kernels.decode_evt2 is its compiled twin
(implementation "auto" | "numpy" | "numba", see backend.py).
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.events._words import carried, code_bits, code_mask, setters_before
from slam_nodes.events.backend import kernels, resolve_implementation
from slam_nodes.events.base import RawEvents, as_words, kernel_bytes, signed_polarity

CD_OFF, CD_ON, TIME_HIGH, EXT_TRIGGER = 0, 1, 8, 10
_UNDEFINED = code_bits(2, 3, 4, 5, 6, 7, 9, 11, 12, 13)


class Evt2Codec:
    """Stateful EVT2 decoder: decode(buf) -> RawEvents.

    implementation: "auto" (numba when it imports), "numpy" (reference) or "numba"."""

    encoding = "evt2"
    epoch_time = False  # sensor clock (µs since camera start)

    def __init__(self, implementation: str = "auto") -> None:
        self.implementation = resolve_implementation(implementation)
        self.reset()

    def reset(self) -> None:
        """Forget the time-high state."""
        self.high = 0  # full time high incl. rollovers, in units of 64 µs

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        """Decode a chunk (uint8 [B]); time_base is ignored (sensor time).

        Raises DecodeError on an undefined word type; the state is then unchanged."""
        if self.implementation == "numba":
            return self._decode_numba(buf)
        return self._decode_numpy(buf)

    def state(self) -> tuple[int, ...]:
        """The carried state: (time high incl. rollovers, in units of 64 µs,)."""
        return (self.high,)

    def _decode_numba(self, buf: np.ndarray) -> RawEvents:
        buf = kernel_bytes(buf, 4, self.encoding)
        state = np.array(self.state(), dtype=np.int64)
        err, t, x, y, p, trig_t, trig_edge, trig_id, new = kernels().decode_evt2(buf, state)
        if err >= 0:
            word = int(buf[4 * err:4 * err + 4].view("<u4")[0])
            raise DecodeError(f"evt2: undefined word type {word >> 28} at word {err} "
                              f"(0x{word:08x}); corrupt data?")
        self.high = int(new[0])
        return RawEvents(t, x, y, p, trig_t, trig_edge, trig_id)

    def _decode_numpy(self, buf: np.ndarray) -> RawEvents:
        words = as_words(buf, "<u4", self.encoding)
        kind = (words >> 28).astype(np.uint16)
        if code_mask(kind, _UNDEFINED).any():
            i = int(np.flatnonzero(code_mask(kind, _UNDEFINED))[0])
            raise DecodeError(f"evt2: undefined word type {kind[i]} at word {i} "
                              f"(0x{int(words[i]):08x}); corrupt data?")
        users, n_high, h_idx = setters_before(kind, code_bits(TIME_HIGH),
                                              code_bits(CD_OFF, CD_ON, EXT_TRIGGER))
        th = (words[h_idx] & 0x0FFFFFFF).astype(np.int64)
        if len(th):
            prev = np.empty_like(th)
            prev[0] = self.high & 0x0FFFFFFF
            prev[1:] = th[:-1]
            full = ((self.high >> 28) + np.cumsum(th < prev)) << 28 | th
        else:
            full = th
        uw = words[users]
        t = ((carried(self.high, full)[n_high] << 6) | ((uw >> 22) & 0x3F)) * 1000
        if len(full):
            self.high = int(full[-1])
        ukind = kind[users]
        is_cd = ukind <= CD_ON
        if is_cd.all():
            return RawEvents(t, ((uw >> 11) & 0x7FF).astype(np.uint16),
                             (uw & 0x7FF).astype(np.uint16), signed_polarity(ukind))
        cw = uw[is_cd]
        out = RawEvents(t[is_cd], ((cw >> 11) & 0x7FF).astype(np.uint16),
                        (cw & 0x7FF).astype(np.uint16), signed_polarity(ukind[is_cd]))
        tw = uw[~is_cd]
        out.trig_t = t[~is_cd]
        out.trig_edge = (tw & 1).astype(np.int8)
        out.trig_id = ((tw >> 8) & 0x1F).astype(np.uint8)
        return out
