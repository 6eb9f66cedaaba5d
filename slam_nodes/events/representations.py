"""Dense event representations for the SLAM event loss (numpy, vectorised).

All take an EventBatch (t int64 ns, x/y uint16 pixels, p int8 +-1), ignore events outside
width x height, and work on unsorted batches too. Images are [H, W] (row y, column x).

- accumulate_polarity: signed polarity sum per pixel over [t0, t1). EN-SLAM compares this,
  times the contrast threshold C, with the rendered log-intensity change between two poses.
- polarity_frames: the same for K consecutive windows at once ([K, H, W]), e.g. the intervals
  between frame stamps that the temporal aggregation sums over.
- time_surface: exponentially decayed time of the latest event per pixel (and polarity).
"""

from __future__ import annotations

import numpy as np

from slam_nodes.types import EventBatch


def _pixel_index(batch: EventBatch, width: int, height: int, mask: np.ndarray | None = None):
    x = batch.x.astype(np.int64)
    y = batch.y.astype(np.int64)
    keep = (x < width) & (y < height)
    if mask is not None:
        keep &= mask
    return y[keep] * width + x[keep], keep


def accumulate_polarity(batch: EventBatch, width: int, height: int, t0_ns: int, t1_ns: int
                        ) -> np.ndarray:
    """float32 [H, W]: sum of polarities (+1 ON, -1 OFF) of events with t0 <= t < t1."""
    if width <= 0 or height <= 0:
        raise ValueError(f"accumulate_polarity: bad image size {width}x{height}")
    idx, keep = _pixel_index(batch, width, height, (batch.t >= t0_ns) & (batch.t < t1_ns))
    img = np.bincount(idx, weights=batch.p[keep].astype(np.float64), minlength=width * height)
    return img.astype(np.float32).reshape(height, width)


def polarity_frames(batch: EventBatch, width: int, height: int, edges_ns: np.ndarray
                    ) -> np.ndarray:
    """float32 [K, H, W]: accumulate_polarity over each window [edges[k], edges[k+1]).

    edges_ns: int64 [K+1] increasing window boundaries (e.g. frame stamps)."""
    edges = np.asarray(edges_ns, dtype=np.int64)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError("polarity_frames: edges_ns must be >= 2 strictly increasing stamps")
    k = np.searchsorted(edges, batch.t, side="right") - 1
    inside = (k >= 0) & (k < len(edges) - 1)
    idx, keep = _pixel_index(batch, width, height, inside)
    n_px = width * height
    flat = k[keep] * n_px + idx
    img = np.bincount(flat, weights=batch.p[keep].astype(np.float64),
                      minlength=(len(edges) - 1) * n_px)
    return img.astype(np.float32).reshape(len(edges) - 1, height, width)


def time_surface(batch: EventBatch, width: int, height: int, t_ref_ns: int, tau_s: float,
                 split_polarity: bool = False) -> np.ndarray:
    """float32 [H, W] (or [2, H, W] OFF/ON with split_polarity): exp(-(t_ref - t_last)/tau)
    where t_last is the latest event at the pixel with t <= t_ref; 0 where there is none."""
    if tau_s <= 0:
        raise ValueError("time_surface: tau_s must be > 0")
    idx, keep = _pixel_index(batch, width, height, batch.t <= t_ref_ns)
    n_px = width * height
    if split_polarity:
        idx = idx + (batch.p[keep] > 0).astype(np.int64) * n_px
    n_out = n_px * (2 if split_polarity else 1)
    last = np.full(n_out, np.iinfo(np.int64).min, dtype=np.int64)
    np.maximum.at(last, idx, batch.t[keep])
    seen = last > np.iinfo(np.int64).min
    out = np.zeros(n_out, dtype=np.float32)
    out[seen] = np.exp(-(t_ref_ns - last[seen]) * 1e-9 / tau_s)
    return out.reshape((2, height, width) if split_polarity else (height, width))
