"""RVL lossless depth codec (Wilson, "Fast Lossless Depth Image Compression", ISS 2017) with the
byte layout of image_transport_plugins' compressed_depth_image_transport (rvl_codec.cpp).

Payload: uint32 cols, uint32 rows (little endian), then 32-bit little-endian words of 4-bit
nibbles, first nibble in the most significant position. The pixel stream (row-major uint16) is
coded as repeated [number of zeros, number of non-zeros, zig-zag deltas of those non-zeros
from the previous non-zero value], each number as a variable-length code of 3-bit groups, least
significant first, with 0x8 meaning "more groups follow".

Both directions are numpy-vectorised over nibbles and pixels; only the walk over zero/non-zero
runs (a few thousand per depth image) is a Python loop, because each run's length says where the
next one starts.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import ConversionError

MAX_PIXELS = 1 << 28  # refuse to allocate images a corrupt header claims beyond this
_SHIFTS = np.arange(28, -4, -4, dtype=np.uint32)  # nibble k of a word sits at bits 28 - 4k


def _nibbles(words: np.ndarray) -> np.ndarray:
    """uint8 nibbles [8 * len(words)] in stream order."""
    return ((words[:, None] >> _SHIFTS[None, :]) & 0xF).astype(np.uint8).reshape(-1)


def _vle_decode(nibbles: np.ndarray) -> np.ndarray:
    """int64 values of a nibble stream (a trailing unfinished code is dropped)."""
    ends = np.flatnonzero((nibbles & 0x8) == 0)
    if len(ends) == 0:
        return np.zeros(0, np.int64)
    nibbles = nibbles[: ends[-1] + 1]
    starts = np.concatenate([[0], ends[:-1] + 1])
    lengths = ends - starts + 1
    if lengths.max() > 11:  # 33 bits: no pixel count or delta is that large
        raise ConversionError("RVL stream has an over-long variable-length code (corrupt data)")
    pos = np.arange(len(nibbles)) - np.repeat(starts, lengths)
    contrib = (nibbles & 0x7).astype(np.int64) << (3 * pos)
    return np.add.reduceat(contrib, starts)


def _vle_encode(values: np.ndarray) -> np.ndarray:
    """Nibbles (uint8) of non-negative int64 values."""
    v = values.astype(np.int64)
    bits = np.zeros(len(v), np.int64)
    nz = v > 0
    bits[nz] = np.floor(np.log2(v[nz])).astype(np.int64) + 1
    counts = np.maximum(1, -(-bits // 3))
    starts = np.cumsum(counts) - counts
    j = np.arange(counts.sum()) - np.repeat(starts, counts)
    rep = np.repeat(v, counts)
    more = j < np.repeat(counts, counts) - 1
    return (((rep >> (3 * j)) & 0x7) | np.where(more, 0x8, 0)).astype(np.uint8)


def rvl_decode(payload: np.ndarray | bytes) -> np.ndarray:
    """uint16 [rows, cols] image of an RVL payload (cols, rows header included)."""
    data = np.frombuffer(payload, np.uint8) if isinstance(payload, (bytes, bytearray)) \
        else np.asarray(payload, np.uint8).reshape(-1)
    if len(data) < 8:
        raise ConversionError(f"RVL payload has {len(data)} bytes, less than its 8-byte header")
    cols, rows = (int(x) for x in data[:8].view("<u4"))
    n = rows * cols
    body = data[8:]
    if n == 0 or n > MAX_PIXELS:
        raise ConversionError(f"RVL payload reports size {cols}x{rows} for {len(body)} bytes")
    body = body[: len(body) // 4 * 4]
    values = _vle_decode(_nibbles(body.view("<u4").astype(np.uint32)))
    # walk the runs: [zeros, nonzeros, deltas...] until every pixel is placed
    zero_runs, nz_runs, delta_starts = [], [], []
    i, placed, n_values = 0, 0, len(values)
    while placed < n:
        if i + 1 >= n_values:
            raise ConversionError(f"RVL stream ends after {placed} of {n} pixels")
        z, nzc = int(values[i]), int(values[i + 1])
        if i + 2 + nzc > n_values:
            raise ConversionError(f"RVL stream ends after {placed + z} of {n} pixels")
        zero_runs.append(z)
        nz_runs.append(nzc)
        delta_starts.append(i + 2)
        placed += z + nzc
        i += 2 + nzc
    if placed != n or i > n_values:
        raise ConversionError(f"RVL stream codes {placed} pixels (or runs past its data) for "
                              f"a {cols}x{rows} image")
    z_arr, nz_arr = np.array(zero_runs, np.int64), np.array(nz_runs, np.int64)
    starts = np.array(delta_starts, np.int64)
    idx = np.arange(nz_arr.sum()) - np.repeat(np.cumsum(nz_arr) - nz_arr, nz_arr) \
        + np.repeat(starts, nz_arr)
    positive = values[idx]
    delta = (positive >> 1) ^ -(positive & 1)
    current = (np.cumsum(delta) & 0xFFFF).astype(np.uint16)
    run_out = np.cumsum(z_arr + nz_arr) - nz_arr  # output index of each run's first non-zero
    out_idx = np.arange(len(current)) - np.repeat(np.cumsum(nz_arr) - nz_arr, nz_arr) \
        + np.repeat(run_out, nz_arr)
    out = np.zeros(n, np.uint16)
    out[out_idx] = current
    return out.reshape(rows, cols)


def rvl_encode(image: np.ndarray) -> bytes:
    """RVL payload (cols, rows header included) of a uint16 [rows, cols] image."""
    img = np.asarray(image)
    if img.dtype != np.uint16 or img.ndim != 2:
        raise ConversionError(f"RVL encodes uint16 [H,W] images, got {img.dtype} {img.shape}")
    rows, cols = img.shape
    flat = img.reshape(-1)
    nonzero = flat != 0
    # run boundaries: a new zero run starts at 0 and wherever a non-zero is followed by a zero
    change = np.flatnonzero(np.diff(nonzero.astype(np.int8)) != 0) + 1
    bounds = np.concatenate([[0], change, [len(flat)]])
    lengths = np.diff(bounds)
    is_nz = nonzero[bounds[:-1]] if len(flat) else np.zeros(0, bool)
    if len(is_nz) and is_nz[0]:  # the stream always opens with a zero count
        lengths = np.concatenate([[0], lengths])
        is_nz = np.concatenate([[False], is_nz])
    if len(is_nz) % 2:  # and always closes a pair with a non-zero count
        lengths = np.concatenate([lengths, [0]])
    z_runs, nz_runs = lengths[0::2], lengths[1::2]
    vals = flat[nonzero].astype(np.int64)
    delta = np.diff(vals, prepend=0)
    zigzag = (delta << 1) ^ (delta >> 63)
    # interleave [z, nz, deltas...] per run
    pair_pos = 2 * np.arange(len(z_runs)) + np.cumsum(nz_runs) - nz_runs
    stream = np.empty(2 * len(z_runs) + len(vals), np.int64)
    stream[pair_pos] = z_runs
    stream[pair_pos + 1] = nz_runs
    data_mask = np.ones(len(stream), bool)
    data_mask[pair_pos] = False
    data_mask[pair_pos + 1] = False
    stream[data_mask] = zigzag
    nibbles = _vle_encode(stream)
    pad = (-len(nibbles)) % 8
    nib = np.concatenate([nibbles, np.zeros(pad, np.uint8)]).reshape(-1, 8).astype(np.uint32)
    words = np.bitwise_or.reduce(nib << _SHIFTS[None, :], axis=1).astype("<u4")
    return np.array([cols, rows], "<u4").tobytes() + words.tobytes()
