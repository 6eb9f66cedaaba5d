"""Canonical object coordinates and training samples drawn from procedural shapes.

Canonical frame: metric object-frame points divided per axis by the box half-extents and scaled
by `CANON_HALF` (the box becomes [-0.8, 0.8]^3, leaving a margin for the decoder). SDF values are
scaled by `sdf_scale(box)` = CANON_HALF / max half-extent, so the zero set maps exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slam_nodes.assets.shapes import CATEGORIES, ProceduralShape, make_shape, shape_mesh

CANON_HALF = 0.8
SDF_TRUNC = 0.1  # canonical units; SDF targets and losses are clamped to +-SDF_TRUNC


def to_canonical(points_m: np.ndarray, box_size_m: np.ndarray) -> np.ndarray:
    """Object-frame points [N,3] metres -> canonical [N,3]."""
    return np.asarray(points_m) / (np.asarray(box_size_m) / 2) * CANON_HALF


def from_canonical(points_c: np.ndarray, box_size_m: np.ndarray) -> np.ndarray:
    """Canonical points [N,3] -> object-frame metres [N,3]."""
    return np.asarray(points_c) / CANON_HALF * (np.asarray(box_size_m) / 2)


def sdf_scale(box_size_m: np.ndarray) -> float:
    """Factor turning metric SDF values into canonical ones."""
    return CANON_HALF / float(np.max(box_size_m) / 2)


@dataclass
class ShapeSamples:
    """Samples of one shape in canonical coordinates (float32).

    surf [S,3] surface points, surf_rgb [S,3] in [0,1], surf_normal [S,3] outward unit normals,
    query [Q,3] SDF query points, query_sdf [Q] canonical SDF, query_rgb [Q,3], box_size_m [3],
    class_id int.
    """

    surf: np.ndarray
    surf_rgb: np.ndarray
    surf_normal: np.ndarray
    query: np.ndarray
    query_sdf: np.ndarray
    query_rgb: np.ndarray
    box_size_m: np.ndarray
    class_id: int


def shape_samples(shape: ProceduralShape, n_surf: int = 4096, n_query: int = 8192,
                  rng: np.random.Generator | None = None, mesh_res: int = 40) -> ShapeSamples:
    """Surface and SDF samples of `shape` (half near the surface, a quarter in a band, a quarter uniform)."""
    rng = rng or np.random.default_rng(shape.seed)
    mesh = shape_mesh(shape, mesh_res)
    pts, face = mesh.sample(n_surf, return_index=True)
    normals = mesh.face_normals[face]
    box = shape.box_size_m
    nq = [n_query // 2, n_query // 4]
    near = pts[rng.integers(0, n_surf, nq[0])] + rng.normal(0, 0.01, (nq[0], 3)) * box
    band = pts[rng.integers(0, n_surf, nq[1])] + rng.normal(0, 0.06, (nq[1], 3)) * box
    uni = from_canonical(rng.uniform(-1, 1, (n_query - sum(nq), 3)), box)
    q = np.concatenate([near, band, uni])
    sdf, rgb = shape._eval(q)
    s = sdf_scale(box)
    f32 = np.float32
    return ShapeSamples(
        surf=to_canonical(pts, box).astype(f32), surf_rgb=shape.color(pts).astype(f32),
        surf_normal=normals.astype(f32), query=to_canonical(q, box).astype(f32),
        query_sdf=(sdf * s).astype(f32), query_rgb=rgb.astype(f32), box_size_m=box.astype(f32),
        class_id=CATEGORIES.index(shape.category))


def make_pool(seeds: range | list[int], per_class: int, rng_seed: int = 0) -> list[ShapeSamples]:
    """Samples of `per_class` shapes of every category, seeds taken in order from `seeds`."""
    seeds = list(seeds)[:per_class]
    rng = np.random.default_rng(rng_seed)
    return [shape_samples(make_shape(c, s), rng=rng) for c in CATEGORIES for s in seeds]


def visible_mask(normals: np.ndarray, points: np.ndarray, view_dir: np.ndarray, cut: float) -> np.ndarray:
    """Emulated single-view visibility: normal facing the viewer and in front of a cut plane.

    view_dir [3] unit, from the object toward the sensor. Self-occlusion is ignored, and the cut
    (points with p . view_dir > cut, canonical) removes the far side of thick parts.
    """
    return (normals @ view_dir > 0.05) & (points @ view_dir > cut)


def random_view(rng: np.random.Generator) -> np.ndarray:
    """A unit direction around the object with elevation 0-50 degrees."""
    az, el = rng.uniform(0, 2 * np.pi), rng.uniform(0, np.deg2rad(50))
    return np.array([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)])


def encoder_input(s: ShapeSamples, n_in: int, partial: bool, rng: np.random.Generator):
    """Points [n_in,3], rgb [n_in,3], weights [n_in] for the encoder: all or a partial view."""
    idx = np.arange(len(s.surf))
    if partial:
        mask = visible_mask(s.surf_normal, s.surf, random_view(rng), rng.uniform(-0.6, 0.0))
        if mask.sum() >= 32:
            idx = idx[mask]
    take = rng.choice(idx, n_in, replace=len(idx) < n_in)
    return s.surf[take], s.surf_rgb[take], np.ones(n_in, np.float32)


def batch(pool: list[ShapeSamples], ids: np.ndarray, n_in: int, n_query: int, partial_frac: float,
          rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Stack a training batch: encoder inputs, SDF queries, class ids and log box sizes."""
    out = {k: [] for k in ("pts", "rgb", "w", "q", "q_sdf", "q_rgb", "cls", "log_box")}
    for i in ids:
        s = pool[i]
        p, c, w = encoder_input(s, n_in, rng.uniform() < partial_frac, rng)
        qi = rng.integers(0, len(s.query), n_query)
        for k, v in zip(out, (p, c, w, s.query[qi], s.query_sdf[qi], s.query_rgb[qi], s.class_id,
                              np.log(s.box_size_m))):
            out[k].append(v)
    return {k: np.stack(v) for k, v in out.items()}
