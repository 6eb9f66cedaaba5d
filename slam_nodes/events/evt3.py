"""Prophesee EVT3 decoder (16-bit words), vectorised, stateful across packets.

Word layout (little-endian uint16, code in bits 12-15):
  0 ADDR_Y       y (bits 0-10), system type (bit 11)          sets the current row
  2 ADDR_X       x (bits 0-10), polarity (bit 11)             one event at (x, row)
  3 VECT_BASE_X  x (bits 0-10), polarity (bit 11)             base column of vectors
  4 VECT_12      12-bit mask: events at base+i; base += 12
  5 VECT_8       8-bit mask:  events at base+i; base += 8
  6 TIME_LOW     time bits 0-11 (µs)
  8 TIME_HIGH    time bits 12-23 (µs); the counter wraps every 2^24 µs (16.8 s)
  10 EXT_TRIGGER edge (bit 0), trigger id (bits 8-11)
  7, 9, 14, 15   CONTINUED_4, padding, OTHERS, CONTINUED_12: ignored
  1, 11, 12, 13  not defined: the packet is rejected with DecodeError

Conventions follow event_camera_codecs (so its test checksums reproduce exactly):
- times are *sensor* time, (rollover << 24 | high << 12 | low) µs * 1000 ns, counted from the
  camera's start; the message header stamp and time_base are not used;
- nothing is decoded until a TIME_HIGH followed by a TIME_LOW has been seen (at stream start,
  words other than time words before that are skipped);
- a TIME_HIGH more than 10 below the previous one is a counter rollover (+2^24 µs).

Two implementations share the carried state (an int64 array, Evt3Codec.state()): the numpy
reference in this module and the compiled kernel _kernels.decode_evt3 (implementation
"auto" | "numpy" | "numba", see backend.py); they give bit-identical results.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.events._words import (AddressState, carried, code_bits, code_mask,
                                      expand_vectors, setters_before, word_times)
from slam_nodes.events.backend import kernels, resolve_implementation
from slam_nodes.events.base import (BLOCK_WORDS, RawEvents, as_words, concat_raw,
                                    kernel_bytes, signed_polarity)

ADDR_Y, ADDR_X, VECT_BASE_X, VECT_12, VECT_8, TIME_LOW = 0, 2, 3, 4, 5, 6
TIME_HIGH, EXT_TRIGGER = 8, 10
_UNDEFINED = code_bits(1, 11, 12, 13)
_TIME = code_bits(TIME_HIGH, TIME_LOW)
_EMIT = code_bits(ADDR_X, VECT_12, VECT_8)
_VECTOR = code_bits(VECT_BASE_X, VECT_12, VECT_8)


class Evt3Codec:
    """Stateful EVT3 decoder: decode(buf) -> RawEvents; state carries across calls.

    implementation: "auto" (numba when it imports), "numpy" (reference) or "numba"."""

    encoding = "evt3"
    epoch_time = False  # sensor clock (µs since camera start)

    def __init__(self, implementation: str = "auto") -> None:
        self.implementation = resolve_implementation(implementation)
        self.reset()

    def reset(self) -> None:
        """Forget all state (time, row, vector base), as at the start of a stream."""
        # high (rollover bits << 24 | time high << 12, µs), low (µs), has_time (0/1), row,
        # vector base, vector polarity; the compiled kernel updates it in place
        self._state = np.zeros(6, dtype=np.int64)

    @property
    def has_time(self) -> bool:
        """A TIME_HIGH and TIME_LOW have been seen: words now decode into events."""
        return bool(self._state[2])

    def decode(self, buf: np.ndarray, time_base: int = 0) -> RawEvents:
        """Decode one packet (uint8 [B]); time_base is ignored (EVT3 carries sensor time).

        Raises DecodeError on an undefined word code; the decoder state is then unchanged.
        """
        if self.implementation == "numba":
            return self._decode_numba(buf)
        return self._decode_numpy(buf)

    def state(self) -> tuple[int, ...]:
        """The carried state (high, low, has_time, row, vector base, vector polarity)."""
        return tuple(self._state.tolist())

    def _decode_numba(self, buf: np.ndarray) -> RawEvents:
        buf = kernel_bytes(buf, 2, "evt3")
        err, t, x, y, p, trig_t, trig_edge, trig_id, x_max, y_max = kernels().decode_evt3(
            buf, self._state)
        if err >= 0:
            word = int(buf[2 * err]) | int(buf[2 * err + 1]) << 8
            raise DecodeError(f"evt3: undefined word code {word >> 12} at word {err} "
                              f"(0x{word:04x}); corrupt packet?")
        return RawEvents(t, x, y, p, trig_t, trig_edge, trig_id, (x_max, y_max))

    def _decode_numpy(self, buf: np.ndarray) -> RawEvents:
        words = as_words(buf, "<u2", "evt3")
        code = words >> 12
        if code_mask(code, _UNDEFINED).any():
            i = int(np.flatnonzero(code_mask(code, _UNDEFINED))[0])
            raise DecodeError(f"evt3: undefined word code {int(code[i])} at word {i} "
                              f"(0x{int(words[i]):04x}); corrupt packet?")
        # working copies of the state for this packet, stored back at the end
        self.high, self.low, valid, row, base, pol = self._state.tolist()
        self.valid, self.addr = bool(valid), AddressState(row, base, pol)
        parts = []
        self._high_seen = False  # a TIME_HIGH seen earlier in this packet (not yet valid)
        for i in range(0, len(words), BLOCK_WORDS):
            w, c = words[i:i + BLOCK_WORDS], code[i:i + BLOCK_WORDS]
            if not self.valid:
                start = self._find_valid_time(w, c)
                if start is None:
                    continue
                w, c = w[start:], c[start:]
            parts.append(self._decode_valid(w, c))
        self._state[:] = (self.high, self.low, int(self.valid), self.addr.row, self.addr.base,
                          self.addr.pol)
        return concat_raw(parts)

    def _find_valid_time(self, words: np.ndarray, code: np.ndarray) -> int | None:
        """Consume time words up to the first TIME_LOW after a TIME_HIGH of this packet; return
        the index after it (None when there is no such pair yet). Like upstream, the TIME_HIGH
        must be in the same packet: a packet ending between the two does not count."""
        highs = np.flatnonzero(code == TIME_HIGH)
        if len(highs) == 0 and not self._high_seen:
            return None
        i_high = 0 if self._high_seen else int(highs[0])
        self._high_seen = True
        lows = np.flatnonzero(code[i_high:] == TIME_LOW)
        end = len(code) if len(lows) == 0 else i_high + int(lows[0]) + 1
        tw = i_high + np.flatnonzero(code_mask(code[i_high:end], _TIME))
        _, self.high, self.low = word_times(code.take(tw), words.take(tw) & 0xFFF,
                                            high_code=TIME_HIGH, low_code=TIME_LOW,
                                            high0=self.high, low0=self.low,
                                            detect_rollover=True)
        if len(lows) == 0:
            return None
        self.valid = True
        return end

    def _decode_valid(self, words: np.ndarray, code: np.ndarray) -> RawEvents:
        t0 = self.high | self.low
        users, n_time, t_idx = setters_before(code, _TIME, _EMIT | code_bits(EXT_TRIGGER))
        times, self.high, self.low = word_times(
            code.take(t_idx), words.take(t_idx) & 0xFFF, high_code=TIME_HIGH, low_code=TIME_LOW,
            high0=self.high, low0=self.low, detect_rollover=True)
        t_users = (carried(t0, times) * 1000).take(n_time)
        emit, n_rows, y_idx = setters_before(code, code_bits(ADDR_Y), _EMIT)
        rows = carried(self.addr.row, words.take(y_idx) & 0x7FF, np.uint16)
        self.addr.row = int(rows[-1])
        y = rows.take(n_rows)
        out_trig = None
        if len(users) != len(emit):  # trigger words among the time users
            is_trig = code.take(users) == EXT_TRIGGER
            trig_words = words[users[is_trig]]
            out_trig = (t_users[is_trig], (trig_words & 1).astype(np.int8),
                        ((trig_words >> 8) & 0xF).astype(np.uint8))
            t_users = t_users[~is_trig]
        if code_mask(code, _VECTOR).any():
            owner, x, p = expand_vectors(words, code, emit, VECT_BASE_X,
                                         {VECT_12: 12, VECT_8: 8}, self.addr)
            out = RawEvents(t_users.take(owner), x, y.take(owner), p)
        else:
            w = words.take(emit)
            out = RawEvents(t_users, w & 0x7FF, y, signed_polarity((w >> 11) & 1))
        if out_trig is not None:
            out.trig_t, out.trig_edge, out.trig_id = out_trig
        return out
