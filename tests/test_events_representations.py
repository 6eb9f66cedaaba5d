"""Event representations: values against a straightforward per-event reference."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.events.representations import (accumulate_polarity, polarity_frames,
                                                time_surface)
from slam_nodes.types import EventBatch


def _random_batch(n=2000, seed=0, w=40, h=30):
    rng = np.random.default_rng(seed)
    # includes out-of-bounds pixels (x up to w+4) and unsorted times
    return EventBatch(rng.integers(0, 10_000_000, n), rng.integers(0, w + 5, n),
                      rng.integers(0, h + 3, n), rng.choice(np.array([-1, 1]), n), w, h)


def test_accumulate_polarity_matches_loop():
    b = _random_batch()
    img = accumulate_polarity(b, 40, 30, 2_000_000, 7_000_000)
    ref = np.zeros((30, 40))
    for t, x, y, p in zip(b.t, b.x, b.y, b.p):
        if 2_000_000 <= t < 7_000_000 and x < 40 and y < 30:
            ref[y, x] += p
    assert img.dtype == np.float32 and img.shape == (30, 40)
    np.testing.assert_array_equal(img, ref)
    assert np.abs(ref).sum() > 100  # the window is not empty


def test_polarity_frames_equal_single_windows():
    b = _random_batch(seed=1)
    edges = np.array([0, 1_000_000, 4_000_000, 9_999_999])
    frames = polarity_frames(b, 40, 30, edges)
    for k in range(3):
        np.testing.assert_array_equal(frames[k], accumulate_polarity(b, 40, 30, edges[k],
                                                                      edges[k + 1]))
    with pytest.raises(ValueError):
        polarity_frames(b, 40, 30, np.array([5, 5]))


def test_time_surface_matches_loop():
    b = _random_batch(seed=2)
    t_ref, tau = 6_000_000, 0.002
    ts = time_surface(b, 40, 30, t_ref, tau, split_polarity=True)
    last = np.full((2, 30, 40), -1)
    for t, x, y, p in zip(b.t, b.x, b.y, b.p):
        if t <= t_ref and x < 40 and y < 30:
            last[int(p > 0), y, x] = max(last[int(p > 0), y, x], t)
    ref = np.where(last >= 0, np.exp(-(t_ref - last) * 1e-9 / tau), 0.0)
    np.testing.assert_allclose(ts, ref, rtol=1e-6)
    merged = time_surface(b, 40, 30, t_ref, tau)
    np.testing.assert_allclose(merged, ts.max(axis=0), rtol=1e-6)
