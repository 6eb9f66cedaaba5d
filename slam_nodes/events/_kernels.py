"""Compiled (numba) twins of the stateful word decoders: EVT3, EVT2 and libcaer_cmp.

Each kernel is the sequential decoder the format describes: one pass over the words keeping
the state (time, row, vector base) in registers. The numpy implementations in evt3.py,
evt2.py and packed.py are the reference; tests/test_events_kernels.py checks that both give
bit-identical events, triggers and carried state on real recordings and random streams.

Conventions shared by the kernels:
- input: buf uint8 [B], C-contiguous (the codecs pass read-only views, base.kernel_bytes, so
  each kernel is compiled for one array type), read as little-endian words byte by byte (no
  unaligned or byte-order dependent views); a trailing partial word is ignored (the caller
  warns about it);
- state: int64 [S] carried across packets. EVT3 updates it in place, only when the packet
  decodes (its caller keeps that array); EVT2 and libcaer_cmp read it and return a new one.
  Either way a failed packet leaves the caller's state untouched;
- outputs: EVT3 starts at one event slot per word (+ slack) and doubles them when a vector
  word might not fit; EVT2 and libcaer_cmp size them exactly by a first counting pass (which
  also finds EVT2's undefined words). Results are trimmed (copied when less than half of the
  allocation is used and that frees more than 64 KiB);
- returns (error word index or -1, t int64 [N] ns, x uint16 [N], y uint16 [N],
  p int8 [N] +1/-1, trig_t int64 [M] ns, trig_edge int8 [M], trig_id uint8 [M], then the
  new state (EVT2, libcaer_cmp) or the largest x and y (EVT3, for the bounds check)).
"""

from __future__ import annotations

import numpy as np
from numba import njit

# popcount of every 12-bit vector mask
_POPCOUNT12 = np.array([bin(m).count("1") for m in range(4096)], dtype=np.int64)
# spare output slots: libcaer_cmp's vector words write all their 8 slots before counting;
# EVT3 keeps 2 * _SLACK spare for its speculative writes
_SLACK = 12


@njit(cache=True, nogil=True, inline="always")
def _u16(buf, i):
    return np.int64(buf[2 * i]) | (np.int64(buf[2 * i + 1]) << 8)


@njit(cache=True, nogil=True, inline="always")
def _u32(buf, i):
    j = 4 * i
    return (np.int64(buf[j]) | (np.int64(buf[j + 1]) << 8) | (np.int64(buf[j + 2]) << 16)
            | (np.int64(buf[j + 3]) << 24))


@njit(cache=True, nogil=True)
def _alloc(n_ev, n_trig):
    return (np.empty(n_ev, np.int64), np.empty(n_ev, np.uint16), np.empty(n_ev, np.uint16),
            np.empty(n_ev, np.int8), np.empty(n_trig, np.int64), np.empty(n_trig, np.int8),
            np.empty(n_trig, np.uint8))


@njit(cache=True, nogil=True)
def _grow(t, x, y, p, k):
    """Copies of the first k entries in arrays of twice the capacity."""
    cap = 2 * len(t)
    t2, x2, y2, p2 = np.empty(cap, np.int64), np.empty(cap, np.uint16), \
        np.empty(cap, np.uint16), np.empty(cap, np.int8)
    t2[:k], x2[:k], y2[:k], p2[:k] = t[:k], x[:k], y[:k], p[:k]
    return t2, x2, y2, p2


@njit(cache=True, nogil=True)
def _trim(a, k):
    """a[:k], copied when that frees more than half of a and more than 64 KiB (a view
    otherwise: for small packets the copy costs more than the memory it frees)."""
    return a[:k].copy() if 2 * k < len(a) and (len(a) - k) * a.itemsize > 65536 else a[:k]


@njit(cache=True, nogil=True, inline="always")
def _vector(t, vec, fixed, p, k, t_ns, base, fixed_val, sign, mask, nbits):
    """Events at vec = base + i for each set bit i of mask (nbits wide); returns the new
    count. Every slot is written and the count advances by the bit: no branch per bit (the
    constant fields are filled for all nbits slots first, a loop the compiler vectorises).
    sign: polarity +1 ON / -1 OFF."""
    for b in range(nbits):
        t[k + b] = t_ns
        fixed[k + b] = fixed_val
        p[k + b] = sign
    for b in range(nbits):
        vec[k] = (base + b) & 0xFFFF
        k += (mask >> b) & 1
    return k


# index of the lowest set bit of every 12-bit mask (0 for mask 0: read only by a speculative
# write that does not count)
_LOWEST_BIT12 = np.array([0] + [(m & -m).bit_length() - 1 for m in range(1, 4096)],
                         dtype=np.uint8)
_U1 = np.uint64(1)
_U2 = np.uint64(2)


@njit(cache=True, nogil=True, inline="always")
def _sparse_vector(t, x, y, p, k, t_ns, base, row, sign, mask):
    """EVT3 vector: events at x = base + i for each set bit i of mask, one per set bit.
    Real sensors send mostly sparse masks (0-2 bits of 12): the first two bits are written
    without a branch (each slot is written and counts only when its bit exists), more take
    a loop. sign: +1 ON / -1 OFF; k: uint64 next slot; returns the new one. Needs 2 slots
    of room beyond the events."""
    for _ in range(2):
        t[k] = t_ns
        x[k] = (base + np.int64(_LOWEST_BIT12[mask])) & 0xFFFF
        y[k] = row
        p[k] = sign
        k += np.uint64(mask != 0)
        mask &= mask - 1
    while mask:
        t[k] = t_ns
        x[k] = (base + np.int64(_LOWEST_BIT12[mask])) & 0xFFFF
        y[k] = row
        p[k] = sign
        k += _U1
        mask &= mask - 1
    return k


# EVT3 word codes that are not defined (DecodeError), as a bit set
_EVT3_UNDEFINED = (1 << 1) | (1 << 11) | (1 << 12) | (1 << 13)
_EVT3_EXIT = _EVT3_UNDEFINED | (1 << 10)  # words the main loop leaves to its caller


@njit(cache=True, nogil=True)
def _evt3_start(buf, i, st):
    """Stream start: skip words up to a TIME_HIGH followed by a TIME_LOW of this packet
    (TIME_HIGHs update the time, rollovers included). st as in _evt3_run. Returns (index of
    the next word, 1 when an undefined word stopped the search else 0)."""
    n = len(buf) // 2
    high, high_seen = st[0], st[6] != 0
    while i < n and st[2] == 0:
        w = _u16(buf, i)
        c = w >> 12
        if (_EVT3_UNDEFINED >> c) & 1:
            st[0], st[6] = high, 1 if high_seen else 0
            return i, 1
        if c == 8:
            high = _time_high(high, w)
            high_seen = True
        elif c == 6 and high_seen:
            st[1], st[2] = w & 0xFFF, 1
        i += 1
    st[0], st[6] = high, 1 if high_seen else 0
    return i, 0


@njit(cache=True, nogil=True, inline="always")
def _time_high(high, w):
    """EVT3 TIME_HIGH: a step back of more than 10 is a 24-bit rollover (+2^24 µs)."""
    th = w & 0xFFF
    prev = (high >> 12) & 0xFFF
    roll = (high >> 24) + ((th < prev) & (prev - th > 10))
    return (roll << 24) | (th << 12)


@njit(cache=True, nogil=True, boundscheck=False)
def _evt3_run(buf, i0, t, x, y, p, st):
    """Decode words from i0 on (the stream has a valid time) until the end, an EXT_TRIGGER
    or undefined word (left to the caller), or a vector word that might not fit in the
    outputs; returns the index of the first word not decoded.

    st: int64 [8] = [high, low, has_time, row, base, pol, high_seen, k (events so far)],
    loaded into locals and stored back. Room: on entry len(t) - k >= words left + 2 _SLACK;
    every word but a vector emits at most one event, so only vectors check it.
    ADDR_X and ADDR_Y (2/3 or more of real streams, in unpredictable order) share one
    branch-free path: a speculative event write that only counts for ADDR_X and a select
    for the row; every other word takes a branch. Indices are unsigned because numba
    wraps negative indices (a compare and select per access for signed ones). The output
    arrays are never reassigned here, which keeps the loop free of reference counting."""
    n = np.uint64(len(buf) // 2)
    high, low, row, base, pol, k = st[0], st[1], st[3], st[4], st[5], np.uint64(st[7])
    t_ns = (high | low) * 1000
    i = np.uint64(i0)
    while i < n:
        w = np.int64(buf[_U2 * i]) | (np.int64(buf[_U2 * i + _U1]) << 8)  # uint64 index
        c = w >> 12
        if (c & 0xD) == 0:  # ADDR_Y (0) or ADDR_X (2)
            t[k] = t_ns
            x[k] = w & 0x7FF
            y[k] = row
            p[k] = ((w >> 10) & 2) - 1  # bit 11: +1 ON, -1 OFF
            k += np.uint64(c == 2)
            row = w & 0x7FF if c == 0 else row
        elif c == 4 or c == 5:  # VECT_12 / VECT_8: events at base + i, base advances
            if np.int64(len(t)) - np.int64(k) < np.int64(n) - np.int64(i) + 2 * _SLACK:
                break  # no room for 12 events and one slot per later word: grow first
            k = _sparse_vector(t, x, y, p, k, t_ns, base, row, 2 * pol - 1,
                               w & (0xFFF if c == 4 else 0xFF))
            base = (base + (12 if c == 4 else 8)) & 0xFFFF
        elif c == 6:  # TIME_LOW
            low = w & 0xFFF
            t_ns = (high | low) * 1000
        elif c == 3:  # VECT_BASE_X
            base = w & 0x7FF
            pol = (w >> 11) & 1
        elif c == 8:  # TIME_HIGH
            high = _time_high(high, w)
            t_ns = (high | low) * 1000
        elif (_EVT3_EXIT >> c) & 1:
            break
        i += _U1
    st[0], st[1], st[3], st[4], st[5], st[7] = high, low, row, base, pol, np.int64(k)
    return np.int64(i)


@njit(cache=True, nogil=True)
def _max(a, k):
    """Largest of a[:k] (0 when k == 0); kept in a's dtype so the loop vectorises."""
    if k == 0:
        return 0
    m = a[0]
    for j in range(1, k):
        v = a[j]
        m = v if v > m else m
    return np.int64(m)


@njit(cache=True, nogil=True)
def decode_evt3(buf, state):
    """EVT3 words (see evt3.py for the layout and upstream conventions).

    state: int64 [6] = [high (rollover << 24 | time high << 12, µs), low (µs), has_time (0/1),
    row (y), vector base (x), vector polarity], updated in place when the packet decodes
    (left as it was when it holds an undefined word).
    Returns (error word index or -1, t, x, y, p, trig_t, trig_edge, trig_id, x max, y max;
    the maxima are 0 without events). Outputs start at one event slot per word (enough
    unless vectors carry more than one event per word on average) and double when needed."""
    n = len(buf) // 2
    t, x, y, p, trig_t, trig_e, trig_i = _alloc(n + 2 * _SLACK, min(n, 256) + 1)
    st = np.zeros(8, np.int64)
    st[:6] = state[:6]
    m = 0
    i, bad = _evt3_start(buf, 0, st)
    while not bad and i < n:
        i = _evt3_run(buf, i, t, x, y, p, st)
        if i >= n:
            break
        w = _u16(buf, i)
        c = w >> 12
        if c == 4 or c == 5:
            t, x, y, p = _grow(t, x, y, p, st[7])
            continue
        if (_EVT3_UNDEFINED >> c) & 1:
            bad = 1
            break
        if m == len(trig_t):  # EXT_TRIGGER: edge (bit 0), id (bits 8-11)
            trig_t = np.concatenate((trig_t, trig_t))
            trig_e = np.concatenate((trig_e, trig_e))
            trig_i = np.concatenate((trig_i, trig_i))
        trig_t[m] = (st[0] | st[1]) * 1000
        trig_e[m] = w & 1
        trig_i[m] = (w >> 8) & 0xF
        m += 1
        i += 1
    if bad:
        return i, t[:0], x[:0], y[:0], p[:0], trig_t[:0], trig_e[:0], trig_i[:0], 0, 0
    state[:6] = st[:6]
    k = st[7]
    return (-1, _trim(t, k), _trim(x, k), _trim(y, k), _trim(p, k), _trim(trig_t, m),
            _trim(trig_e, m), _trim(trig_i, m), _max(x, k), _max(y, k))


@njit(cache=True, nogil=True)
def decode_evt2(buf, state):
    """EVT2 words (see evt2.py). state: int64 [1] = [time high incl. rollovers, 64 µs]."""
    n = len(buf) // 4
    n_ev = 0
    n_trig = 0
    err = -1
    for i in range(n):
        c = _u32(buf, i) >> 28
        if c <= 1:
            n_ev += 1
        elif c == 10:
            n_trig += 1
        elif c != 8 and c != 14 and c != 15:
            err = i
            break
    new = state.copy()
    if err >= 0:
        t, x, y, p, trig_t, trig_e, trig_i = _alloc(0, 0)
        return err, t, x, y, p, trig_t, trig_e, trig_i, new
    t, x, y, p, trig_t, trig_e, trig_i = _alloc(n_ev, n_trig)
    high = state[0]
    k = 0
    m = 0
    for i in range(n):
        w = _u32(buf, i)
        c = w >> 28
        if c <= 1:
            t[k] = ((high << 6) | ((w >> 22) & 0x3F)) * 1000
            x[k] = (w >> 11) & 0x7FF
            y[k] = w & 0x7FF
            p[k] = 2 * c - 1
            k += 1
        elif c == 8:  # TIME_HIGH: any step back is a 28-bit rollover
            th = w & 0x0FFFFFFF
            roll = (high >> 28) + (1 if th < (high & 0x0FFFFFFF) else 0)
            high = (roll << 28) | th
        elif c == 10:
            trig_t[m] = ((high << 6) | ((w >> 22) & 0x3F)) * 1000
            trig_e[m] = w & 1
            trig_i[m] = (w >> 8) & 0x1F
            m += 1
    new[0] = high
    return -1, t, x, y, p, trig_t, trig_e, trig_i, new


@njit(cache=True, nogil=True)
def decode_libcaer_cmp(buf, time_base, state):
    """libcaer_cmp words (see packed.py); time restarts at 0 every packet.

    time_base: int64 ns. state: int64 [3] = [column (x), vector base (y), vector polarity]."""
    n = len(buf) // 2
    n_ev = 0
    for i in range(n):
        w = _u16(buf, i)
        c = w >> 12
        if c == 3:
            n_ev += 1
        elif c == 5:
            n_ev += _POPCOUNT12[w & 0xFF]
    t, x, y, p, trig_t, trig_e, trig_i = _alloc(n_ev + _SLACK, 0)
    col, base, pol = state[0], state[1], state[2]
    high = 0
    low = 0
    t_ns = time_base
    k = 0
    for i in range(n):
        w = _u16(buf, i)
        c = w >> 12
        if c == 3:  # ADDR_Y: one event at the current column
            t[k] = t_ns
            x[k] = col
            y[k] = w & 0x7FF
            p[k] = ((w >> 10) & 2) - 1
            k += 1
        elif c == 5:  # VECT_8 along y
            k = _vector(t, y, x, p, k, t_ns, base, col, 2 * pol - 1, w & 0xFF, 8)
            base = (base + 8) & 0xFFFF
        elif c == 0:
            high = (w & 0xFFF) << 12
            t_ns = (high | low) * 1000 + time_base
        elif c == 1:
            low = w & 0xFFF
            t_ns = (high | low) * 1000 + time_base
        elif c == 2:
            col = w & 0x7FF
        elif c == 4:
            base = w & 0x7FF
            pol = (w >> 11) & 1
    new = state.copy()
    new[0], new[1], new[2] = col, base, pol
    return -1, t[:k], x[:k], y[:k], p[:k], trig_t, trig_e, trig_i, new
