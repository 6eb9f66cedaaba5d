"""Fixed-size record codecs of event_camera_msgs: 'mono', 'trigger', 'libcaer', 'libcaer_cmp'.

Conventions follow event_camera_codecs so its test checksums reproduce exactly:
- mono (8-byte little-endian records): t = time_base + bits 0-31 (ns offset),
  x = bits 32-47, y = bits 48-62, polarity = bit 63. Time is whatever clock time_base uses
  (the driver's host time in ns).
- trigger: same record layout, edge = bit 63, id = bits 48-55; every record is a trigger.
- libcaer (iniVation, 8-byte records {uint32 data, int32 timestamp µs}): x = data bits 17-31,
  y = bits 2-16, polarity = bit 1; t = time_base + timestamp * 1000 ns (host epoch time, the
  driver folds the sensor's high time bits into time_base); a timestamp smaller than the
  previous one *within* the packet is a 31-bit rollover (+2^31 µs). Arithmetic is uint64,
  wrapping exactly like the C++ decoder.
- libcaer_cmp (16-bit words, code in bits 12-15): 0 TIME_HIGH, 1 TIME_LOW, 2 ADDR_X (sets the
  column), 3 ADDR_Y (event at column: y bits 0-10, polarity bit 11), 4 VECT_BASE_Y, 5 VECT_8
  (events at base_y + i, base_y += 8); 6 VECT_12 and other codes are ignored like upstream.
  t = time_base + (high << 12 | low) µs * 1000, with high and low reset to 0 at every packet;
  the column, vector base and polarity carry across packets. The numpy decoder is the
  reference; _kernels.decode_libcaer_cmp is its compiled twin (implementation "auto" |
  "numpy" | "numba", see backend.py).
"""

from __future__ import annotations

import numpy as np

from slam_nodes.events._words import (AddressState, carried, code_bits, code_mask, expand_vectors,
                                      setters_before, word_times)
from slam_nodes.events.backend import kernels, resolve_implementation
from slam_nodes.events.base import RawEvents, as_words, kernel_bytes, signed_polarity

_U32 = np.uint64(0xFFFFFFFF)


class MonoCodec:
    """'mono' packets: stateless apart from time_base, which every message carries."""

    encoding = "mono"
    epoch_time = False  # time_base + offset: the driver's clock, not necessarily epoch

    def reset(self) -> None:
        """Nothing to forget: mono records are self-contained."""

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        w = as_words(buf, "<u8", self.encoding)
        t = (w & _U32).astype(np.int64) + np.int64(time_base)
        x = ((w >> np.uint64(32)) & np.uint64(0xFFFF)).astype(np.int64)
        y = ((w >> np.uint64(48)) & np.uint64(0x7FFF)).astype(np.int64)
        p = signed_polarity(w >> np.uint64(63))
        return RawEvents(t, x, y, p)


class TriggerCodec:
    """'trigger' packets: mono-layout records that are all external trigger events."""

    encoding = "trigger"
    epoch_time = False

    def reset(self) -> None:
        """Nothing to forget."""

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        w = as_words(buf, "<u8", self.encoding)
        out = RawEvents.empty()
        out.trig_t = (w & _U32).astype(np.int64) + np.int64(time_base)
        out.trig_edge = (w >> np.uint64(63)).astype(np.int8)
        out.trig_id = ((w >> np.uint64(48)) & np.uint64(0xFF)).astype(np.uint8)
        return out


class LibcaerCodec:
    """'libcaer' packets of 8-byte polarity events; no state beyond the message."""

    encoding = "libcaer"
    epoch_time = True  # time_base is host epoch time
    _ROLLOVER_NS = np.uint64((1 << 31) * 1000)

    def reset(self) -> None:
        """Nothing to forget: rollovers are only tracked within a packet (as upstream)."""

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        rec = as_words(buf, "<u8", self.encoding).view("<u4").reshape(-1, 2)
        data = rec[:, 0]
        # sign-extend the int32 timestamp into uint64 like the C++ static_casts
        ts = rec[:, 1].view(np.int32).astype(np.int64).view(np.uint64)
        rolls = np.zeros(len(ts), dtype=np.uint64)
        if len(ts) > 1:
            rolls[1:] = np.cumsum(ts[1:] < ts[:-1], dtype=np.uint64)
        with np.errstate(over="ignore"):
            t = (np.uint64(time_base % (1 << 64)) + rolls * self._ROLLOVER_NS
                 + ts * np.uint64(1000)).view(np.int64)
        x = ((data >> 17) & 0x7FFF).astype(np.int64)
        y = ((data >> 2) & 0x7FFF).astype(np.int64)
        p = signed_polarity((data >> 1) & 1)
        return RawEvents(t, x, y, p)


class LibcaerCmpCodec:
    """'libcaer_cmp' compressed packets; column/vector state carries across packets.

    implementation: "auto" (numba when it imports), "numpy" (reference) or "numba"."""

    encoding = "libcaer_cmp"
    epoch_time = True

    def __init__(self, implementation: str = "auto") -> None:
        self.implementation = resolve_implementation(implementation)
        self.reset()

    def reset(self) -> None:
        """Forget the column, vector base and polarity."""
        self.addr = AddressState()

    def state(self) -> tuple[int, ...]:
        """The carried state (column, vector base, vector polarity)."""
        return (self.addr.row, self.addr.base, self.addr.pol)

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        """Decode one packet (uint8 [B]); time_base: ns added to every event time."""
        if self.implementation == "numba":
            return self._decode_numba(buf, time_base)
        return self._decode_numpy(buf, time_base)

    def _decode_numba(self, buf: np.ndarray, time_base: int) -> RawEvents:
        buf = kernel_bytes(buf, 2, self.encoding)
        state = np.array(self.state(), dtype=np.int64)
        _, t, x, y, p, _, _, _, new = kernels().decode_libcaer_cmp(buf, np.int64(time_base),
                                                                   state)
        self.addr = AddressState(*new.tolist())
        return RawEvents(t, x, y, p)

    def _decode_numpy(self, buf: np.ndarray, time_base: int) -> RawEvents:
        words = as_words(buf, "<u2", self.encoding)
        code = words >> 12
        # time: high and low restart from 0 in every packet
        emit, n_time, t_idx = setters_before(code, code_bits(0, 1), code_bits(3, 5))
        times, _, _ = word_times(code.take(t_idx), words.take(t_idx) & 0xFFF, high_code=0,
                                 low_code=1, high0=0, low0=0, detect_rollover=False)
        t = (carried(0, times) * 1000 + np.int64(time_base)).take(n_time)
        # the column is set by ADDR_X (2); ADDR_Y (3) and VECT_8 (5) emit
        _, n_cols, x_idx = setters_before(code, code_bits(2), code_bits(3, 5))
        cols = carried(self.addr.row, words.take(x_idx) & 0x7FF, np.uint16)
        self.addr.row = int(cols[-1])
        x = cols.take(n_cols)
        if code_mask(code, code_bits(4, 5)).any():
            owner, y, p = expand_vectors(words, code, emit, 4, {5: 8}, self.addr)
            return RawEvents(t.take(owner), x.take(owner), y, p)
        w = words.take(emit)
        return RawEvents(t, x, w & 0x7FF, signed_polarity((w >> 11) & 1))
