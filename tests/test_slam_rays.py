"""Depth preprocessing of camera rays: flying pixels at depth discontinuities are dropped."""

from __future__ import annotations

import numpy as np

from slam_nodes.slam.rays import drop_depth_edges


def _dropped(before: np.ndarray, after: np.ndarray) -> int:
    """Valid depth pixels the filter set to 0."""
    return int(((before > 0) & (after == 0)).sum())


def test_drop_depth_edges_removes_a_step_edge_and_keeps_planes():
    """A 1 m / 2 m step: the two pixel columns at the jump go, everything else stays; a
    slanted plane (z = 1 + 0.004 x per pixel, 0.4 % per pixel) keeps every pixel."""
    step = np.full((20, 30), 1.0, np.float32)
    step[:, 15:] = 2.0
    out = drop_depth_edges(step, 0.05)
    assert _dropped(step, out) == 2 * 20
    assert (out[:, 14] == 0).all() and (out[:, 15] == 0).all()
    assert (out[:, :14] == 1.0).all() and (out[:, 16:] == 2.0).all()

    slanted = (1.0 + 0.004 * np.arange(30, dtype=np.float32))[None, :].repeat(20, 0)
    out = drop_depth_edges(slanted, 0.05)
    assert _dropped(slanted, out) == 0 and np.array_equal(out, slanted)


def test_drop_depth_edges_ignores_holes_and_can_be_off():
    """Invalid (0) neighbours are not a jump; jump_rel 0 returns the input unchanged."""
    d = np.full((10, 10), 1.5, np.float32)
    d[4:6, 4:6] = 0.0
    out = drop_depth_edges(d, 0.05)
    assert _dropped(d, out) == 0 and np.array_equal(out, d)
    d[0, 0] = 3.0
    out = drop_depth_edges(d, 0.0)
    assert _dropped(d, out) == 0 and out is d
    out = drop_depth_edges(d, 0.05)
    assert _dropped(d, out) == 4 and out[0, 0] == 0 and out[1, 1] == 0
