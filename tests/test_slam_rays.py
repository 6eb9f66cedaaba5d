"""Depth preprocessing of camera rays: flying pixels at depth discontinuities are dropped."""

from __future__ import annotations

import numpy as np

from slam_nodes.slam.rays import drop_depth_edges, plane_span_rel


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


F_64 = 32.0 / np.tan(np.radians(35.0))      # 64x48 pixels, 70 deg horizontal field of view


def _plane_depth(width: int, height: int, f: float, incidence_deg: float, z0: float
                 ) -> np.ndarray:
    """Axial depth [H, W] of a plane through (0, 0, z0) whose normal makes `incidence_deg`
    with the optical axis (tilted about the camera's y axis), pinhole f, centred principal
    point."""
    th = np.radians(incidence_deg)
    n = np.array([np.sin(th), 0.0, -np.cos(th)])
    u = (np.arange(width) - (width - 1) / 2) / f
    v = (np.arange(height) - (height - 1) / 2) / f
    rays = np.stack(np.broadcast_arrays(u[None, :], v[:, None], 1.0), axis=-1)
    return (n @ np.array([0.0, 0.0, z0]) / (rays @ n)).astype(np.float32)


def test_plane_span_rel_keeps_a_grazing_plane_at_low_resolution_and_drops_a_step():
    """At 64x48 a plane seen at 70-80 deg incidence spans 20-40 % of its depth over 3x3
    pixels: the resolution's own threshold keeps all of it, where a fixed 5 % drops all of
    it; a 1.5 m / 3 m step still loses the near side of its edge."""
    rel = plane_span_rel(F_64, 85.0)
    plane = _plane_depth(9, 9, F_64, 75.0, 2.0)
    assert (plane > 0).all()
    assert _dropped(plane, drop_depth_edges(plane, rel)) == 0
    assert _dropped(plane, drop_depth_edges(plane, 0.05)) == plane.size

    step = np.full((48, 64), 3.0, np.float32)
    step[16:32, 24:40] = 1.5
    out = drop_depth_edges(step, rel)
    ring = np.zeros_like(step, bool)
    ring[16:32, 24:40] = True
    ring[17:31, 25:39] = False
    assert (out[ring] == 0).all()
    assert _dropped(step, out) == ring.sum()


def test_plane_span_rel_follows_the_pixel_size():
    """About the synthetic camera's fixed 5 % at 640x480 (f 525 px), larger for coarser pixels,
    inf once a window can reach 90 deg incidence."""
    assert 0.04 < plane_span_rel(525.0, 85.0) < 0.07
    assert plane_span_rel(525.0, 85.0) < plane_span_rel(131.0, 85.0) < plane_span_rel(F_64, 85.0)
    assert plane_span_rel(525.0, 80.0) < plane_span_rel(525.0, 85.0)
    assert plane_span_rel(10.0, 85.0) == float("inf")
