"""Procedural object categories as analytic SDFs with colour, for training and evaluation.

Every shape lives in its metric object frame: origin at the centre of its bounding box, x forward,
y left, z up (REP-103), metres. A shape is a union of coloured primitives; its SDF is the minimum of
the primitives' SDFs (exact outside the parts, a bound inside) and its colour at a point is the colour
of the nearest part. `make_shape(category, seed)` draws per-instance parameters from the seed, so a
training run, a held-out evaluation set and a validation set (for choosing completion settings,
never the held-out set) never share a seed (`TRAIN_SEEDS`, `HELD_OUT_SEEDS`, `VALIDATION_SEEDS`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

CATEGORIES: tuple[str, ...] = ("car", "pedestrian", "furniture", "barrel", "cone", "box")
TRAIN_SEEDS = range(0, 1_000_000)
HELD_OUT_SEEDS = range(1_000_000, 2_000_000)
VALIDATION_SEEDS = range(2_000_000, 3_000_000)


# ----------------------------------------------------------------------------- primitives
def _rbox(p: np.ndarray, c, half, r: float = 0.0) -> np.ndarray:
    """Rounded box SDF. p [N,3] m, centre c [3], half extents half [3] (include the rounding r)."""
    q = np.abs(p - np.asarray(c)) - (np.asarray(half) - r)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0) - r


def _cyl(p: np.ndarray, c, radius: float, half_len: float, axis: int) -> np.ndarray:
    """Capped cylinder SDF along `axis` (0 x, 1 y, 2 z)."""
    d = p - np.asarray(c)
    radial = np.linalg.norm(np.delete(d, axis, axis=1), axis=1) - radius
    along = np.abs(d[:, axis]) - half_len
    q = np.stack([radial, along], axis=1)
    return np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)


def _sphere(p: np.ndarray, c, radius: float) -> np.ndarray:
    return np.linalg.norm(p - np.asarray(c), axis=1) - radius


def _capsule(p: np.ndarray, a, b, radius: float) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    pa, ba = p - a, b - a
    h = np.clip(pa @ ba / (ba @ ba), 0.0, 1.0)
    return np.linalg.norm(pa - h[:, None] * ba, axis=1) - radius


def _cone_z(p: np.ndarray, base_z: float, height: float, r0: float, r1: float) -> np.ndarray:
    """Capped cone (frustum) along +z from base_z, radius r0 at the base and r1 at the top."""
    d = p.copy()
    d[:, 2] -= base_z + height / 2
    h = height / 2
    q = np.stack([np.linalg.norm(d[:, :2], axis=1), d[:, 2]], axis=1)
    k1 = np.array([r1, h])
    k2 = np.array([r1 - r0, 2 * h])
    ca = np.stack([q[:, 0] - np.minimum(q[:, 0], np.where(q[:, 1] < 0, r0, r1)), np.abs(q[:, 1]) - h], 1)
    t = np.clip(((k1 - q) @ k2) / (k2 @ k2), 0.0, 1.0)
    cb = q - k1 + t[:, None] * k2
    s = np.where((cb[:, 0] < 0) & (ca[:, 1] < 0), -1.0, 1.0)
    return s * np.sqrt(np.minimum((ca**2).sum(1), (cb**2).sum(1)))


@dataclass
class Part:
    """One coloured primitive: `sdf(points [N,3]) -> [N]` metres, rgb in [0, 1]."""

    sdf: object
    rgb: tuple[float, float, float]


@dataclass
class ProceduralShape:
    """A procedural object in its metric object frame (box centred at the origin, z up)."""

    category: str
    seed: int
    parts: list[Part]
    box_size_m: np.ndarray = field(default_factory=lambda: np.zeros(3))

    def sdf(self, points: np.ndarray) -> np.ndarray:
        """Signed distance [N] (metres, negative inside) at object-frame points [N,3] (metres)."""
        return self._eval(points)[0]

    def color(self, points: np.ndarray) -> np.ndarray:
        """Colour [N,3] in [0,1] of the nearest part at object-frame points [N,3]."""
        return self._eval(points)[1]

    def _eval(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p = np.asarray(points, dtype=np.float64).reshape(-1, 3)
        d = np.stack([part.sdf(p) for part in self.parts], axis=1)
        idx = d.argmin(axis=1)
        rgb = np.asarray([part.rgb for part in self.parts])[idx]
        return d[np.arange(len(p)), idx], rgb


# ----------------------------------------------------------------------------- categories
def _jitter(rng: np.random.Generator, rgb, amount: float = 0.08) -> tuple[float, float, float]:
    return tuple(np.clip(np.asarray(rgb) + rng.uniform(-amount, amount, 3), 0, 1).tolist())


def _car(rng: np.random.Generator) -> list[Part]:
    length, width = rng.uniform(3.6, 5.0), rng.uniform(1.6, 2.0)
    wheel_r = rng.uniform(0.30, 0.38)
    body_h = rng.uniform(0.55, 0.75)
    cabin_h = rng.uniform(0.45, 0.65)
    body_z0 = wheel_r * 0.6
    paint = _jitter(rng, rng.uniform(0.1, 0.9, 3), 0.0)
    glass = (0.15, 0.18, 0.22)
    cabin_len = length * rng.uniform(0.45, 0.6)
    cabin_x = rng.uniform(-0.15, 0.05) * length
    parts = [
        Part(lambda p, a=(0, 0, body_z0 + body_h / 2), h=(length / 2, width / 2, body_h / 2):
             _rbox(p, a, h, 0.08), paint),
        Part(lambda p, a=(cabin_x, 0, body_z0 + body_h + cabin_h / 2 - 0.02),
             h=(cabin_len / 2, width / 2 * 0.9, cabin_h / 2): _rbox(p, a, h, 0.12), glass),
    ]
    wx = length / 2 - wheel_r * 1.6
    for sx in (-1, 1):
        for sy in (-1, 1):
            parts.append(Part(lambda p, c=(sx * wx, sy * (width / 2 - 0.12), wheel_r), r=wheel_r:
                              _cyl(p, c, r, 0.11, 1), (0.05, 0.05, 0.05)))
    return parts


def _pedestrian(rng: np.random.Generator) -> list[Part]:
    height = rng.uniform(1.5, 1.95)
    s = height / 1.75
    shirt, trousers = _jitter(rng, rng.uniform(0.1, 0.9, 3), 0.0), _jitter(rng, rng.uniform(0.05, 0.5, 3), 0.0)
    skin = _jitter(rng, (0.85, 0.65, 0.5), 0.1)
    hip, shoulder = 0.9 * s, 1.42 * s
    stride = rng.uniform(-0.15, 0.15)
    arm_out = rng.uniform(0.0, 0.12)
    return [
        Part(lambda p: _capsule(p, (stride, 0.1 * s, 0.08), (0, 0.1 * s, hip), 0.07 * s), trousers),
        Part(lambda p: _capsule(p, (-stride, -0.1 * s, 0.08), (0, -0.1 * s, hip), 0.07 * s), trousers),
        Part(lambda p: _rbox(p, (0, 0, (hip + shoulder) / 2), (0.12 * s, 0.2 * s, (shoulder - hip) / 2 + 0.05), 0.08), shirt),
        Part(lambda p: _capsule(p, (0, 0.27 * s, shoulder), (0.05, (0.3 + arm_out) * s, hip - 0.05), 0.05 * s), shirt),
        Part(lambda p: _capsule(p, (0, -0.27 * s, shoulder), (0.05, -(0.3 + arm_out) * s, hip - 0.05), 0.05 * s), shirt),
        Part(lambda p: _sphere(p, (0, 0, shoulder + 0.2 * s), 0.11 * s), skin),
    ]


def _furniture(rng: np.random.Generator) -> list[Part]:
    table = rng.uniform() < 0.5
    wood = _jitter(rng, (0.55, 0.38, 0.22), 0.12)
    w, d = (rng.uniform(0.8, 1.6), rng.uniform(0.6, 1.0)) if table else (rng.uniform(0.4, 0.55),) * 2
    top_z = rng.uniform(0.68, 0.78) if table else rng.uniform(0.42, 0.5)
    t = 0.04
    leg = rng.uniform(0.025, 0.045)
    parts = [Part(lambda p: _rbox(p, (0, 0, top_z - t / 2), (d / 2, w / 2, t / 2), 0.01), wood)]
    for sx in (-1, 1):
        for sy in (-1, 1):
            c = (sx * (d / 2 - 0.05), sy * (w / 2 - 0.05), (top_z - t) / 2)
            parts.append(Part(lambda p, c=c: _rbox(p, c, (leg, leg, (top_z - t) / 2), 0.0), wood))
    if not table:
        back_h = rng.uniform(0.35, 0.5)
        parts.append(Part(lambda p: _rbox(p, (-d / 2 + 0.03, 0, top_z + back_h / 2), (0.025, w / 2, back_h / 2), 0.01), wood))
    return parts


def _barrel(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.25, 0.32), rng.uniform(0.8, 0.95)
    paint = _jitter(rng, (0.1, 0.3, 0.7) if rng.uniform() < 0.5 else (0.8, 0.3, 0.1), 0.1)
    parts = [Part(lambda p: _cyl(p, (0, 0, h / 2), r, h / 2, 2), paint)]
    for z in (h * 0.33, h * 0.66):
        parts.append(Part(lambda p, z=z: _cyl(p, (0, 0, z), r + 0.015, 0.02, 2), (0.3, 0.3, 0.3)))
    return parts


def _cone(rng: np.random.Generator) -> list[Part]:
    h, r0 = rng.uniform(0.5, 0.9), rng.uniform(0.13, 0.2)
    base = rng.uniform(0.18, 0.25)
    orange = _jitter(rng, (1.0, 0.45, 0.05), 0.05)
    return [
        Part(lambda p: _rbox(p, (0, 0, 0.02), (base, base, 0.02), 0.0), (0.1, 0.1, 0.1)),
        Part(lambda p: _cone_z(p, 0.04, h - 0.04, r0, 0.025), orange),
    ]


def _box(rng: np.random.Generator) -> list[Part]:
    half = rng.uniform(0.15, 0.6, 3)
    brown = _jitter(rng, (0.7, 0.55, 0.35), 0.1)
    return [Part(lambda p: _rbox(p, (0, 0, half[2]), half, 0.02), brown)]


_BUILDERS = {"car": _car, "pedestrian": _pedestrian, "furniture": _furniture,
             "barrel": _barrel, "cone": _cone, "box": _box}


def make_shape(category: str, seed: int) -> ProceduralShape:
    """Draw one instance of `category` from `seed`, recentred so its bounding box centre is the origin.

    Raises KeyError for an unknown category (callers validate user input first).
    """
    rng = np.random.default_rng([CATEGORIES.index(category), seed])
    parts = _BUILDERS[category](rng)
    shape = ProceduralShape(category, seed, parts)
    lo, hi = _bounds(shape)
    centre = (lo + hi) / 2
    shape.parts = [Part(lambda p, f=part.sdf, c=centre: f(p + c), part.rgb) for part in parts]
    shape.box_size_m = hi - lo
    return shape


def _bounds(shape: ProceduralShape, res: int = 48, extent_m: float = 3.0,
            face_res: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Tight axis-aligned bounds (metres) of the zero set.

    A coarse conservative grid pass, then a fine one, bracket each face within one fine step
    (~2% of the extent: too loose for boxes that define the canonical frame). Each face is then
    located exactly: on a plane `step` outside the bracket, the smallest SDF value is the distance
    to the shape along the face normal (the union of exact primitive SDFs is exact outside), up
    to the plane grid's spacing (`face_res` samples per side; error ~ spacing^2 / step).
    """
    lo, hi = np.full(3, -extent_m), np.full(3, extent_m)
    for final in (False, True):
        axes = [np.linspace(lo[i], hi[i], res) for i in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
        step = (hi - lo) / (res - 1)
        # coarse pass: any voxel the surface may cross (threshold half a voxel diagonal)
        tol = 0.0 if final else 0.5 * float(np.linalg.norm(step))
        inside = grid[shape.sdf(grid) <= tol]
        if not final:
            lo, hi = inside.min(0) - step, inside.max(0) + step
    lo, hi = inside.min(0) - step, inside.max(0) + step  # strictly outside the shape
    tight_lo, tight_hi = lo.copy(), hi.copy()
    for ax in range(3):
        u, v = [k for k in range(3) if k != ax]
        gu, gv = np.meshgrid(np.linspace(lo[u], hi[u], face_res), np.linspace(lo[v], hi[v], face_res), indexing="ij")
        plane = np.zeros((face_res * face_res, 3))
        plane[:, u], plane[:, v] = gu.ravel(), gv.ravel()
        plane[:, ax] = lo[ax]
        tight_lo[ax] = lo[ax] + shape.sdf(plane).min()
        plane[:, ax] = hi[ax]
        tight_hi[ax] = hi[ax] - shape.sdf(plane).min()
    return tight_lo, tight_hi


def shape_mesh(shape: ProceduralShape, res: int = 64):
    """Watertight coloured trimesh of the shape (metres, object frame) by marching cubes."""
    from slam_nodes.assets.meshing import mesh_from_sdf

    half = shape.box_size_m / 2 * 1.1 + 0.02
    return mesh_from_sdf(shape.sdf, -half, half, res, color_fn=shape.color)
