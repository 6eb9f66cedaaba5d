"""Vectorised building blocks for stateful 16-bit word streams (EVT3, libcaer_cmp).

Both formats are "stateful": some words set a state (the current time, row or column, the
base of a vector), later words emit events that use that state. A sequential decoder keeps the
state in variables; here every state is a *forward fill* over the word array: for each word,
the value carried by the most recent state-setting word (or the state left by the previous
packet when there is none yet in this packet). A forward fill is one cumulative count over a
boolean mask plus one gather, so decoding is a fixed number of numpy passes over the words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# popcount of every 12-bit vector mask
_POPCOUNT12 = np.unpackbits(np.arange(4096, dtype="<u2").view(np.uint8).reshape(-1, 2),
                            axis=1, bitorder="little").sum(axis=1).astype(np.int64)


def ffill_at(mask: np.ndarray, values: np.ndarray, initial, at: np.ndarray | None = None
             ) -> np.ndarray:
    """Forward fill: for each word (or each word index in `at`), values[j] of the last j <= i
    with mask[j] True, or `initial` when there is none.

    mask: bool [N]; values: [N] (only read where mask is True); at: int [M] word indices.
    Returns [N] or [M] with the dtype of `values`.
    """
    return ffill_compressed(mask, values[mask], initial, at)


def ffill_compressed(mask: np.ndarray, carried_values: np.ndarray, initial,
                     at: np.ndarray | None = None) -> np.ndarray:
    """Like ffill_at, with the values given only at the True words (len = mask.sum())."""
    carried = np.empty(len(carried_values) + 1, dtype=carried_values.dtype)
    carried[0] = initial
    carried[1:] = carried_values
    count = np.cumsum(mask, dtype=np.int64)
    return carried[count] if at is None else carried[count[at]]


def word_times(code: np.ndarray, payload: np.ndarray, *, high_code: int, low_code: int,
               high0: int, low0: int, detect_rollover: bool
               ) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Sensor time (µs) after every time word of a TIME_HIGH/TIME_LOW stream.

    TIME_HIGH carries bits 12-23 and TIME_LOW bits 0-11 of a 24-bit µs counter; a TIME_HIGH
    keeps the last TIME_LOW and vice versa (as the sequential decoders do). With
    detect_rollover, a TIME_HIGH more than 10 below the previous one (event_camera_codecs'
    MIN_DISTANCE, which tolerates small backward jitter) adds 2^24 µs; high0 then holds those
    rollover bits above bit 24.
    Returns (is_time bool [N], time_us int64 [T] at the time words, new high, new low).
    """
    is_high = code == high_code
    is_time = is_high | (code == low_code)
    sub = np.flatnonzero(is_time)
    if len(sub) == 0:
        return is_time, np.zeros(0, dtype=np.int64), high0, low0
    sub_high = is_high[sub]
    vals = payload[sub].astype(np.int64)
    th = vals[sub_high]
    if detect_rollover and len(th):
        prev = np.empty_like(th)
        prev[0] = (high0 >> 12) & 0xFFF
        prev[1:] = th[:-1]
        rolled = (th < prev) & ((prev - th) > 10)
        full = (((high0 >> 24) + np.cumsum(rolled)) << 24) | (th << 12)
    else:
        full = th << 12
    high_at = ffill_compressed(sub_high, full, high0)
    low_at = ffill_compressed(~sub_high, vals[~sub_high], low0)
    return is_time, high_at | low_at, int(high_at[-1]), int(low_at[-1])


def last_or(mask: np.ndarray, values: np.ndarray, default):
    """values at the last True of mask, or default when mask has no True."""
    idx = np.flatnonzero(mask)
    return default if len(idx) == 0 else values[idx[-1]]


@dataclass
class AddressState:
    """State of an address/vector word stream that carries across packets.

    row: the coordinate set by the "state" address word (EVT3: y; libcaer_cmp: x).
    base: next coordinate of a vector word (EVT3: x; libcaer_cmp: y), uint16 arithmetic.
    pol: polarity of vector words (0 OFF, 1 ON).
    """

    row: int = 0
    base: int = 0
    pol: int = 0


@dataclass
class AddressEvents:
    """Events expanded from address and vector words, in word order.

    word: int64 [E] index of the emitting word; col: int64 [E] the coordinate the word carries
    (EVT3: x; libcaer_cmp: y); row: int64 [E] the carried coordinate (EVT3: y); pol: uint8 [E].
    """

    word: np.ndarray
    col: np.ndarray
    row: np.ndarray
    pol: np.ndarray


def expand_addresses(code: np.ndarray, payload: np.ndarray, *, row_code: int, event_code: int,
                     base_code: int, vector_bits: dict[int, int], state: AddressState
                     ) -> AddressEvents:
    """Expand single-address and vector words into events, updating `state`.

    code, payload: [N] word code (top 4 bits) and 12-bit payload; row_code: code of the word
    that sets the row (payload bits 0-10); event_code: code of a single event (bits 0-10
    coordinate, bit 11 polarity); base_code: code of a vector base (bits 0-10 coordinate,
    bit 11 polarity); vector_bits: {code: number of valid mask bits} of vector words, each
    emitting one event per set bit at base + bit and then advancing base by that number.
    """
    is_row = code == row_code
    row_vals = (payload & 0x7FF).astype(np.int64)
    single_idx = np.flatnonzero(code == event_code)

    is_vec = np.zeros(len(code), dtype=bool)
    for vcode in vector_bits:
        is_vec |= code == vcode
    vec_events = None
    if np.any(is_vec) or np.any(code == base_code):
        vec_events = _expand_vectors(code, payload, is_vec, base_code, vector_bits, state)
    if vec_events is None or len(vec_events[0]) == 0:
        word = single_idx
        col = (payload[single_idx] & 0x7FF).astype(np.int64)
        pol = ((payload[single_idx] >> 11) & 1).astype(np.uint8)
    else:
        vword, vcol, vpol, vcounts, vwords_all = vec_events
        word, col, pol = _merge_in_word_order(single_idx, payload, vword, vcol, vpol, vcounts,
                                              vwords_all)
    row = ffill_at(is_row, row_vals, state.row, word)
    state.row = int(last_or(is_row, row_vals, state.row))
    return AddressEvents(word=word, col=col, row=row, pol=pol)


def _expand_vectors(code, payload, is_vec, base_code, vector_bits, state):
    """Events of vector words: (word, col, pol, per-vector-word counts, vector word indices)."""
    is_base = code == base_code
    sub = np.flatnonzero(is_vec | is_base)
    sub_code = code[sub]
    sub_pay = payload[sub].astype(np.int64)
    sub_base = sub_code == base_code
    inc = np.zeros(len(sub), dtype=np.int64)
    valid_mask = np.zeros(len(sub), dtype=np.int64)
    for vcode, nbits in vector_bits.items():
        m = sub_code == vcode
        inc[m] = nbits
        valid_mask[m] = sub_pay[m] & ((1 << nbits) - 1)
    cum_inc = np.cumsum(inc)
    base_val = sub_pay & 0x7FF
    base_pol = (sub_pay >> 11) & 1
    # base coordinate and cumulative increment at the last base word (or the carried state)
    last_base = ffill_at(sub_base, base_val, state.base)
    cum_at_base = ffill_at(sub_base, cum_inc, 0)
    pol_at = ffill_at(sub_base, base_pol, state.pol)
    start = last_base + (cum_inc - inc) - cum_at_base  # before uint16 wrap
    # state for the next packet (uint16 like the sensor's register)
    state.base = int((last_base[-1] + cum_inc[-1] - cum_at_base[-1]) & 0xFFFF)
    state.pol = int(pol_at[-1])

    vsel = ~sub_base
    vwords = sub[vsel]
    masks = valid_mask[vsel].astype("<u2")
    bits = np.unpackbits(masks.view(np.uint8).reshape(-1, 2), axis=1, bitorder="little")
    vi, bi = np.nonzero(bits)
    col = (start[vsel][vi] + bi) & 0xFFFF
    pol = pol_at[vsel][vi].astype(np.uint8)
    counts = _POPCOUNT12[masks & 0xFFF]
    return vwords[vi], col, pol, counts, vwords


def _merge_in_word_order(single_idx, payload, vword, vcol, vpol, vcounts, vwords_all):
    """Interleave single events and vector events in word order (stable, no sort)."""
    n_single = len(single_idx)
    n_vec = len(vword)
    # per emitting word: output count; words sorted by index
    words = np.concatenate([single_idx, vwords_all])
    counts = np.concatenate([np.ones(n_single, dtype=np.int64), vcounts])
    order = np.argsort(words, kind="stable")
    offsets_sorted = np.cumsum(counts[order]) - counts[order]
    offsets = np.empty_like(offsets_sorted)
    offsets[order] = offsets_sorted
    total = n_single + n_vec
    word = np.empty(total, dtype=np.int64)
    col = np.empty(total, dtype=np.int64)
    pol = np.empty(total, dtype=np.uint8)
    s_off = offsets[:n_single]
    word[s_off] = single_idx
    col[s_off] = payload[single_idx] & 0x7FF
    pol[s_off] = (payload[single_idx] >> 11) & 1
    # rank of each vector event within its word
    v_off = offsets[n_single:]
    first_of_word = np.cumsum(vcounts) - vcounts
    per_event_word = np.repeat(np.arange(len(vwords_all)), vcounts)
    rank = np.arange(n_vec) - first_of_word[per_event_word]
    dst = v_off[per_event_word] + rank
    word[dst] = vword
    col[dst] = vcol
    pol[dst] = vpol
    return word, col, pol
