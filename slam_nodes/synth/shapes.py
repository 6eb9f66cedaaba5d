"""Furniture, vehicles and street objects built from trimesh primitives.

Every builder takes a seeded generator and returns a list of (mesh, role) parts in the object's
local frame: x along the object's width, y along its depth, z up, the footprint centred on the
origin and the lowest point at z = 0. `role` names the part's material slot ("main", "accent",
"dark"); the scene builder assigns one procedural material per slot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import trimesh

Part = tuple[trimesh.Trimesh, str]
_SECTIONS = 20


def box(size: tuple[float, float, float], centre: tuple[float, float, float]) -> trimesh.Trimesh:
    """Axis-aligned box of `size` (metres) centred at `centre`."""
    return trimesh.creation.box(extents=size, transform=trimesh.transformations.translation_matrix(centre))


def cylinder(radius: float, height: float, centre: tuple[float, float, float],
             axis: str = "z") -> trimesh.Trimesh:
    """Closed cylinder along `axis` ('x', 'y' or 'z') centred at `centre`."""
    m = trimesh.creation.cylinder(radius=radius, height=height, sections=_SECTIONS)
    if axis == "x":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [0, 1, 0]))
    elif axis == "y":
        m.apply_transform(trimesh.transformations.rotation_matrix(np.pi / 2, [1, 0, 0]))
    m.apply_translation(centre)
    return m


def sphere(radius: float, centre: tuple[float, float, float]) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=2, radius=radius)
    m.apply_translation(centre)
    return m


def _legs(w: float, d: float, h: float, t: float, inset: float) -> list[Part]:
    xs = (-w / 2 + inset + t / 2, w / 2 - inset - t / 2)
    ys = (-d / 2 + inset + t / 2, d / 2 - inset - t / 2)
    return [(box((t, t, h), (x, y, h / 2)), "accent") for x in xs for y in ys]


# ------------------------------------------------------------------------------ indoor
def table(rng: np.random.Generator) -> list[Part]:
    w, d, h = rng.uniform(1.0, 1.6), rng.uniform(0.6, 0.9), rng.uniform(0.72, 0.78)
    return [(box((w, d, 0.04), (0, 0, h - 0.02)), "main"), *_legs(w, d, h - 0.04, 0.05, 0.04)]


def chair(rng: np.random.Generator) -> list[Part]:
    s, h = rng.uniform(0.42, 0.5), rng.uniform(0.43, 0.48)
    back = rng.uniform(0.4, 0.55)
    return [
        (box((s, s, 0.04), (0, 0, h - 0.02)), "main"),
        (box((s, 0.04, back), (0, s / 2 - 0.02, h + back / 2)), "main"),
        *_legs(s, s, h - 0.04, 0.04, 0.01),
    ]


def cabinet(rng: np.random.Generator) -> list[Part]:
    w, d, h = rng.uniform(0.6, 1.2), rng.uniform(0.4, 0.6), rng.uniform(0.8, 2.0)
    return [
        (box((w, d, h), (0, 0, h / 2)), "main"),
        (box((0.03, 0.03, 0.2), (w * 0.3, -d / 2 - 0.015, h * 0.55)), "dark"),
        (box((w - 0.04, 0.01, h * 0.45), (0, -d / 2 - 0.005, h * 0.27)), "accent"),
    ]


def shelf(rng: np.random.Generator) -> list[Part]:
    w, d, h = rng.uniform(0.8, 1.4), rng.uniform(0.3, 0.4), rng.uniform(1.4, 2.0)
    t = 0.03
    parts: list[Part] = [
        (box((t, d, h), (-w / 2 + t / 2, 0, h / 2)), "main"),
        (box((t, d, h), (w / 2 - t / 2, 0, h / 2)), "main"),
        (box((w, t, h), (0, d / 2 - t / 2, h / 2)), "accent"),
    ]
    for z in np.linspace(0.05, h - t / 2, int(rng.integers(4, 6))):
        parts.append((box((w - 2 * t, d - t, t), (0, -t / 2, z)), "main"))
    for i in range(int(rng.integers(2, 5))):  # books / boxes on the shelves
        bw, bh = rng.uniform(0.1, 0.3), rng.uniform(0.15, 0.25)
        x = rng.uniform(-w / 2 + t + bw / 2, w / 2 - t - bw / 2)
        parts.append((box((bw, d * 0.7, bh), (x, 0, 0.05 + t / 2 + bh / 2)), "dark" if i % 2 else "accent"))
    return parts


def sofa(rng: np.random.Generator) -> list[Part]:
    w, d = rng.uniform(1.6, 2.2), rng.uniform(0.8, 0.95)
    return [
        (box((w, d, 0.42), (0, 0, 0.21)), "main"),
        (box((w, 0.2, 0.45), (0, d / 2 - 0.1, 0.42 + 0.225)), "main"),
        (box((0.18, d, 0.25), (-w / 2 + 0.09, 0, 0.42 + 0.125)), "accent"),
        (box((0.18, d, 0.25), (w / 2 - 0.09, 0, 0.42 + 0.125)), "accent"),
    ]


def floor_lamp(rng: np.random.Generator) -> list[Part]:
    h = rng.uniform(1.4, 1.7)
    return [
        (cylinder(0.16, 0.03, (0, 0, 0.015)), "dark"),
        (cylinder(0.015, h, (0, 0, h / 2)), "accent"),
        (cylinder(0.2, 0.3, (0, 0, h + 0.1)), "main"),
    ]


def plant(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.15, 0.25), rng.uniform(0.3, 0.5)
    crown = rng.uniform(0.25, 0.4)
    return [(cylinder(r, h, (0, 0, h / 2)), "accent"), (sphere(crown, (0, 0, h + crown * 0.8)), "main")]


def bin_(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.15, 0.22), rng.uniform(0.35, 0.55)
    return [(cylinder(r, h, (0, 0, h / 2)), "main")]


def crate(rng: np.random.Generator) -> list[Part]:
    s = rng.uniform(0.35, 0.7, size=3)
    return [(box(tuple(s), (0, 0, s[2] / 2)), "main")]


# ------------------------------------------------------------------------------ outdoor
def car(rng: np.random.Generator) -> list[Part]:
    length, width = rng.uniform(3.9, 4.6), rng.uniform(1.7, 1.9)
    body_h, cabin_h = rng.uniform(0.6, 0.75), rng.uniform(0.45, 0.6)
    r = 0.32
    parts: list[Part] = [
        (box((length, width, body_h), (0, 0, 0.3 + body_h / 2)), "main"),
        (box((length * 0.5, width * 0.88, cabin_h), (-length * 0.05, 0, 0.3 + body_h + cabin_h / 2)), "dark"),
    ]
    for x in (-length * 0.32, length * 0.32):
        for y in (-width / 2 + 0.1, width / 2 - 0.1):
            parts.append((cylinder(r, 0.22, (x, y, r), axis="y"), "dark"))
    return [(m, role) for m, role in parts]


def van(rng: np.random.Generator) -> list[Part]:
    length, width, h = rng.uniform(4.8, 5.6), rng.uniform(1.9, 2.1), rng.uniform(1.7, 2.1)
    r = 0.36
    parts: list[Part] = [
        (box((length, width, h), (0, 0, 0.35 + h / 2)), "main"),
        (box((0.05, width * 0.85, h * 0.35), (length / 2 + 0.025, 0, 0.35 + h * 0.75)), "dark"),
    ]
    for x in (-length * 0.33, length * 0.33):
        for y in (-width / 2 + 0.12, width / 2 - 0.12):
            parts.append((cylinder(r, 0.24, (x, y, r), axis="y"), "dark"))
    return parts


def pedestrian(rng: np.random.Generator) -> list[Part]:
    height = rng.uniform(1.55, 1.9)
    body_r = rng.uniform(0.17, 0.22)
    head_r = 0.11
    body_len = height - 2 * head_r - 0.05
    body = trimesh.creation.capsule(height=body_len - 2 * body_r, radius=body_r, count=[12, 12])
    body.apply_translation([0, 0, -body.bounds[0, 2]])
    return [(body, "main"), (sphere(head_r, (0, 0, body_len + 0.05 + head_r)), "accent")]


def barrel(rng: np.random.Generator) -> list[Part]:
    r, h = rng.uniform(0.28, 0.32), rng.uniform(0.85, 0.95)
    return [
        (cylinder(r, h, (0, 0, h / 2)), "main"),
        (cylinder(r + 0.01, 0.05, (0, 0, h * 0.3)), "accent"),
        (cylinder(r + 0.01, 0.05, (0, 0, h * 0.7)), "accent"),
    ]


def traffic_cone(rng: np.random.Generator) -> list[Part]:
    h = rng.uniform(0.5, 0.75)
    cone = trimesh.creation.cone(radius=0.16, height=h, sections=_SECTIONS)
    cone.apply_translation([0, 0, 0.03])
    return [(box((0.38, 0.38, 0.03), (0, 0, 0.015)), "dark"), (cone, "main")]


def tree(rng: np.random.Generator) -> list[Part]:
    trunk_h, crown = rng.uniform(1.6, 2.4), rng.uniform(0.9, 1.4)
    return [
        (cylinder(0.14, trunk_h, (0, 0, trunk_h / 2)), "accent"),
        (sphere(crown, (0, 0, trunk_h + crown * 0.7)), "main"),
    ]


def bench(rng: np.random.Generator) -> list[Part]:
    w = rng.uniform(1.4, 2.0)
    return [
        (box((w, 0.45, 0.06), (0, 0, 0.45)), "main"),
        (box((w, 0.05, 0.4), (0, 0.2, 0.75)), "main"),
        *_legs(w, 0.45, 0.42, 0.06, 0.1),
    ]


INDOOR: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "table": table, "chair": chair, "cabinet": cabinet, "shelf": shelf, "sofa": sofa,
    "lamp": floor_lamp, "plant": plant, "bin": bin_, "box": crate,
}
OUTDOOR: dict[str, Callable[[np.random.Generator], list[Part]]] = {
    "car": car, "van": van, "pedestrian": pedestrian, "barrel": barrel,
    "traffic_cone": traffic_cone, "tree": tree, "bench": bench,
}
