"""Seeded synthetic scenes: an indoor room and an outdoor yard, with instance-labelled objects.

World frame: REP-103 style, z up, metres. The room spans [0, W] x [0, D] x [0, H]; the yard is
centred on the origin with the ground at z = 0.

Every surface belongs to an `Instance` (id >= 1; 0 means "no surface" in instance images) with a
class name; structure (walls, floor, ground, buildings) is marked `is_structure`. Objects carry an
oriented box (centre, size, yaw rotation) and their complete closed mesh. The camera path lives
in a free ellipse (`NavArea`) that objects keep clear of, so trajectories never pass through
geometry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import trimesh

from slam_nodes.errors import ConfigError
from slam_nodes.synth import shapes
from slam_nodes.synth.texture import Material, MaterialTable, random_material


@dataclass(frozen=True)
class Light:
    """A point light (`position` [3] m) or, when `position` is None, a directional light shining
    along `direction` [3]. `intensity` is RGB: irradiance on a facing surface at 1 m (point) or
    irradiance of a facing surface (directional), in arbitrary linear radiance units."""

    intensity: tuple[float, float, float]
    position: tuple[float, float, float] | None = None
    direction: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class NavArea:
    """Free region for trajectories: an ellipse on the ground (centre xy, semi-axes m) inside
    which (room) or along whose rim (yard) the camera moves; `height_range_m` bounds the camera."""

    centre_xy: tuple[float, float]
    radii_xy: tuple[float, float]
    height_range_m: tuple[float, float]
    rim_only: bool


@dataclass
class Instance:
    """One labelled surface set. `parts` are (mesh in world frame, material index) pairs.

    box_centre [3] m, box_size [3] m, box_rotation [3,3] (columns: box axes in the world).
    """

    instance_id: int
    class_name: str
    is_structure: bool
    parts: list[tuple[trimesh.Trimesh, int]]
    box_centre: np.ndarray
    box_size: np.ndarray
    box_rotation: np.ndarray

    def mesh(self) -> trimesh.Trimesh:
        """The complete mesh of this instance (world frame)."""
        return trimesh.util.concatenate([m for m, _ in self.parts])


@dataclass
class Scene:
    """A static scene: labelled instances, procedural materials, lights and a free area."""

    name: str
    seed: int
    instances: list[Instance]
    materials: MaterialTable
    lights: list[Light]
    ambient: tuple[float, float, float]
    sky_radiance: tuple[float, float, float]
    nav: NavArea
    _arrays: tuple | None = field(default=None, repr=False)

    @property
    def objects(self) -> list[Instance]:
        """Non-structure instances (furniture, vehicles, people, ...)."""
        return [i for i in self.instances if not i.is_structure]

    def triangle_arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(vertices float32 [V,3], triangles uint32 [T,3], material int32 [T], instance uint16 [T])
        of the whole scene, in a fixed order."""
        if self._arrays is None:
            verts, tris, mats, inst = [], [], [], []
            offset = 0
            for instance in self.instances:
                for mesh, material in instance.parts:
                    verts.append(np.asarray(mesh.vertices, dtype=np.float32))
                    tris.append(np.asarray(mesh.faces, dtype=np.uint32) + offset)
                    mats.append(np.full(len(mesh.faces), material, dtype=np.int32))
                    inst.append(np.full(len(mesh.faces), instance.instance_id, dtype=np.uint16))
                    offset += len(mesh.vertices)
            self._arrays = (np.concatenate(verts), np.concatenate(tris), np.concatenate(mats),
                            np.concatenate(inst))
        return self._arrays

    def mesh(self) -> trimesh.Trimesh:
        """The whole scene as one mesh (world frame), coloured with each triangle's mean albedo."""
        v, t, m, _ = self.triangle_arrays()
        mesh = trimesh.Trimesh(vertices=v.astype(np.float64), faces=t, process=False)
        centres = v[t].mean(axis=1)
        normals = np.asarray(mesh.face_normals, dtype=np.float32)
        albedo = self.materials.albedo(centres, normals, m)
        rgba = np.concatenate([np.clip(albedo * 255, 0, 255), np.full((len(t), 1), 255)], axis=1)
        mesh.visual.face_colors = rgba.astype(np.uint8)
        return mesh


class _Builder:
    """Accumulates instances and materials while a scene is built."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.materials: list[Material] = []
        self.instances: list[Instance] = []

    def material(self, dark: bool = False, pattern: int | None = None) -> int:
        self.materials.append(random_material(self.rng, dark=dark, pattern=pattern))
        return len(self.materials) - 1

    def structure(self, class_name: str, bounds: np.ndarray, dark: bool = False,
                  pattern: int | None = None) -> None:
        lo, hi = np.asarray(bounds[0], float), np.asarray(bounds[1], float)
        mesh = trimesh.creation.box(bounds=np.stack([lo, hi]))
        self.instances.append(Instance(
            len(self.instances) + 1, class_name, True, [(mesh, self.material(dark, pattern))],
            (lo + hi) / 2, hi - lo, np.eye(3)))

    def obj(self, class_name: str, parts: list[shapes.Part], xy: np.ndarray, yaw: float,
            z: float = 0.0) -> None:
        roles = {"main": self.material(), "accent": self.material(),
                 "dark": self.material(dark=True)}
        local = trimesh.util.concatenate([m for m, _ in parts])
        lo, hi = local.bounds
        c, s = np.cos(yaw), np.sin(yaw)
        R = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        T = np.eye(4)
        T[:3, :3] = R
        T[:3, 3] = [xy[0], xy[1], z]
        world_parts = []
        for mesh, role in parts:
            m = mesh.copy()
            m.apply_transform(T)
            world_parts.append((m, roles[role]))
        centre = R @ ((lo + hi) / 2) + T[:3, 3]
        self.instances.append(Instance(
            len(self.instances) + 1, class_name, False, world_parts, centre, hi - lo, R))

    def scene(self, name: str, seed: int, lights: list[Light], ambient: tuple, sky: tuple,
              nav: NavArea) -> Scene:
        return Scene(name, seed, self.instances, MaterialTable(self.materials), lights, ambient,
                     sky, nav)


def _footprint(parts: list[shapes.Part], xy: np.ndarray, yaw: float) -> np.ndarray:
    """World xy AABB [[xmin, ymin], [xmax, ymax]] of parts placed at xy with yaw."""
    lo, hi = trimesh.util.concatenate([m for m, _ in parts]).bounds
    corners = np.array([[lo[0], lo[1]], [lo[0], hi[1]], [hi[0], lo[1]], [hi[0], hi[1]]])
    c, s = np.cos(yaw), np.sin(yaw)
    world = corners @ np.array([[c, s], [-s, c]]) + xy
    return np.stack([world.min(axis=0), world.max(axis=0)])


def _overlaps(box: np.ndarray, others: list[np.ndarray], margin: float) -> bool:
    return any(np.all(box[0] - margin < o[1]) and np.all(o[0] - margin < box[1]) for o in others)


def _ellipse_rho(box: np.ndarray, centre: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Normalised ellipse radius of the four corners of an xy box."""
    corners = np.array([[box[0, 0], box[0, 1]], [box[0, 0], box[1, 1]],
                        [box[1, 0], box[0, 1]], [box[1, 0], box[1, 1]]])
    return np.linalg.norm((corners - centre) / radii, axis=1)


def build_room(seed: int, num_objects: int = 9, num_pictures: int = 6) -> Scene:
    """An indoor room (walls, floor, ceiling, furniture along the walls, pictures) from a seed."""
    rng = np.random.default_rng([seed, 1])
    b = _Builder(rng)
    W, D, H = rng.uniform(6.0, 8.0), rng.uniform(5.0, 7.0), rng.uniform(2.6, 3.0)
    t = 0.1
    b.structure("floor", np.array([[-t, -t, -t], [W + t, D + t, 0.0]]), pattern=1)
    b.structure("ceiling", np.array([[-t, -t, H], [W + t, D + t, H + t]]))
    b.structure("wall", np.array([[-t, 0, 0], [0, D, H]]))
    b.structure("wall", np.array([[W, 0, 0], [W + t, D, H]]))
    b.structure("wall", np.array([[0, -t, 0], [W, 0, H]]))
    b.structure("wall", np.array([[0, D, 0], [W, D + t, H]]))
    centre = np.array([W / 2, D / 2])
    radii = np.array([W / 2 - 1.7, D / 2 - 1.7])
    placed: list[np.ndarray] = []
    classes = list(shapes.INDOOR)
    # walls as (inward normal angle, point on wall, direction along wall, length)
    walls = [(np.pi / 2, np.array([0, 0]), np.array([1, 0]), W),
             (-np.pi / 2, np.array([0, D]), np.array([1, 0]), W),
             (0.0, np.array([0, 0]), np.array([0, 1]), D),
             (np.pi, np.array([W, 0]), np.array([0, 1]), D)]
    for k in range(num_objects):
        name = classes[k % len(classes)] if k < len(classes) else str(rng.choice(classes))
        parts = shapes.INDOOR[name](rng)
        for _ in range(40):
            normal_angle, p0, along, length = walls[int(rng.integers(4))]
            # local -y faces the room: yaw so that local +y points to the wall
            yaw = normal_angle - np.pi / 2 + np.pi
            lo, hi = trimesh.util.concatenate([m for m, _ in parts]).bounds
            half_w, depth = (hi[0] - lo[0]) / 2, hi[1] - lo[1]
            if length < 2 * half_w + 0.4 or depth > 1.1:
                continue
            s = rng.uniform(0.2 + half_w, length - 0.2 - half_w)
            inward = np.array([np.cos(normal_angle), np.sin(normal_angle)])
            xy = p0 + along * s + inward * (depth / 2 + rng.uniform(0.02, 0.15))
            fp = _footprint(parts, xy, yaw)
            if _overlaps(fp, placed, 0.1) or np.any(_ellipse_rho(fp, centre, radii) < 1.3):
                continue
            if np.any(fp[0] < 0.01) or fp[1, 0] > W - 0.01 or fp[1, 1] > D - 0.01:
                continue
            placed.append(fp)
            b.obj(name, parts, xy, yaw)
            break
    for _ in range(num_pictures):  # flat boxes hanging on the walls
        normal_angle, p0, along, length = walls[int(rng.integers(4))]
        w, h = rng.uniform(0.4, 1.2), rng.uniform(0.3, 0.9)
        s = rng.uniform(w / 2 + 0.1, length - w / 2 - 0.1)
        inward = np.array([np.cos(normal_angle), np.sin(normal_angle)])
        xy = p0 + along * s + inward * 0.015
        parts = [(shapes.box((w, 0.03, h), (0, 0, h / 2)), "main")]
        b.obj("picture", parts, xy, normal_angle - np.pi / 2 + np.pi, z=rng.uniform(1.0, H - h - 0.3))
    lights = []
    for x, y in ((W * 0.3, D * 0.35), (W * 0.7, D * 0.65), (W * 0.5, D * 0.5)):
        level = rng.uniform(1.5, 2.5)
        tint = rng.uniform(0.9, 1.1, size=3)
        lights.append(Light(tuple(float(v) for v in level * tint),
                            position=(float(x), float(y), float(H - 0.3))))
    nav = NavArea((float(centre[0]), float(centre[1])), (float(radii[0]), float(radii[1])),
                  (0.9, min(1.9, H - 0.6)), rim_only=False)
    return b.scene("room", seed, lights, (0.18, 0.18, 0.2), (0.0, 0.0, 0.0), nav)


def build_yard(seed: int, num_objects: int = 18) -> Scene:
    """An outdoor courtyard: ground, building walls with windows, parked vehicles, pedestrians,
    barrels, cones, trees and benches, lit by a sun and a sky."""
    rng = np.random.default_rng([seed, 2])
    b = _Builder(rng)
    Lx, Ly = rng.uniform(11.0, 14.0), rng.uniform(8.0, 11.0)
    b.structure("ground", np.array([[-40, -40, -0.2], [40, 40, 0.0]]), pattern=4)
    depth = 6.0
    sides = [  # (axis along, fixed coordinate, outward sign)
        ("x", -Ly, -1), ("x", Ly, 1), ("y", -Lx, -1), ("y", Lx, 1)]
    for axis, fixed, sign in sides:
        span = 2 * (Lx if axis == "x" else Ly) + 2 * depth
        cuts = np.sort(rng.uniform(0.25, 0.75, size=int(rng.integers(1, 3)))) * span
        edges = np.concatenate([[0.0], cuts, [span]]) - span / 2
        for a0, a1 in zip(edges[:-1], edges[1:]):
            height = rng.uniform(5.0, 12.0)
            inner, outer = fixed, fixed + sign * depth
            lo_f, hi_f = min(inner, outer), max(inner, outer)
            if axis == "x":
                bounds = np.array([[a0, lo_f, 0.0], [a1, hi_f, height]])
            else:
                bounds = np.array([[lo_f, a0, 0.0], [hi_f, a1, height]])
            b.structure("building", bounds)
            # windows: dark glass panes slightly proud of the facade
            for zc in np.arange(1.8, height - 1.0, 3.0):
                for ac in np.arange(a0 + 1.5, a1 - 1.0, 3.0):
                    pane_in, pane_out = fixed - sign * 0.04, fixed
                    lo_p, hi_p = min(pane_in, pane_out), max(pane_in, pane_out)
                    if axis == "x":
                        pb = np.array([[ac - 0.6, lo_p, zc - 0.7], [ac + 0.6, hi_p, zc + 0.7]])
                    else:
                        pb = np.array([[lo_p, ac - 0.6, zc - 0.7], [hi_p, ac + 0.6, zc + 0.7]])
                    if rng.uniform() < 0.8:
                        b.structure("window", pb, dark=True)
    centre = np.zeros(2)
    radii = np.array([Lx - 5.0, Ly - 4.0]) * 0.6
    placed: list[np.ndarray] = []
    classes = list(shapes.OUTDOOR)
    for k in range(num_objects):
        name = classes[k % len(classes)] if k < len(classes) else str(rng.choice(classes))
        parts = shapes.OUTDOOR[name](rng)
        for _ in range(60):
            inner = rng.uniform() < 0.25 and name not in ("car", "van")
            if inner:
                xy = rng.uniform(-1, 1, size=2) * radii * 0.45
            else:
                xy = rng.uniform([-Lx + 1.5, -Ly + 1.5], [Lx - 1.5, Ly - 1.5])
            yaw = rng.uniform(0, 2 * np.pi)
            if name in ("car", "van"):  # parked along the nearest facade
                yaw = 0.0 if abs(xy[1]) / Ly > abs(xy[0]) / Lx else np.pi / 2
            fp = _footprint(parts, xy, yaw)
            rho = _ellipse_rho(fp, centre, radii)
            clear = np.all(rho < 0.55) if inner else np.all(rho > 1.4)
            inside = np.all(fp[0] > [-Lx + 0.3, -Ly + 0.3]) and np.all(fp[1] < [Lx - 0.3, Ly - 0.3])
            if clear and inside and not _overlaps(fp, placed, 0.3):
                placed.append(fp)
                b.obj(name, parts, xy, yaw)
                break
    sun_dir = np.array([0.45, 0.3, -0.84])
    lights = [Light((1.1, 1.05, 0.95), direction=tuple(float(v) for v in sun_dir / np.linalg.norm(sun_dir)))]
    nav = NavArea((0.0, 0.0), (float(radii[0]), float(radii[1])), (0.4, 1.8), rim_only=True)
    return b.scene("yard", seed, lights, (0.35, 0.38, 0.45), (0.55, 0.7, 0.95), nav)


SCENES = {"room": build_room, "yard": build_yard}


def build_scene(kind: str, seed: int) -> Scene:
    """Scene `kind` ('room' or 'yard') from `seed`; raises ConfigError for unknown kinds."""
    try:
        builder = SCENES[kind]
    except KeyError as err:
        raise ConfigError(f"unknown scene kind {kind!r}; expected one of {sorted(SCENES)}") from err
    return builder(seed)
