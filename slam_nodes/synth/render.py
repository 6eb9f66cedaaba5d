"""Ray-cast rendering of a `Scene` with Open3D's tensor RaycastingScene.

One RaycastingScene is built per scene and reused for every camera image and LiDAR sweep.
Shading model (documented choice, no shadows or inter-reflection):

    radiance = albedo(hit) * illumination * (ambient + sum_l I_l * max(0, n . l) / d_l^2)

for point lights (directional lights drop the 1/d^2), with `illumination` a global scale used for
lighting changes over time. Rays that miss see `sky_radiance * illumination`. Radiance is linear
(before any camera response). Depth is along the optical axis (camera z), 0 where nothing is hit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d

from slam_nodes.synth.scenes import Scene
from slam_nodes.types import CameraModel

#: luminance weights (Rec. 601) used for grey images and event log intensity
LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


# Hot-path small products are written out instead of `@`: numpy hands [N,3] @ [3] to BLAS,
# whose worker threads spin and cost far more CPU than the product on a shared 2-core machine.
def luminance(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luminance [...] of linear RGB [..., 3] (float32)."""
    return rgb[..., 0] * LUMA[0] + rgb[..., 1] * LUMA[1] + rgb[..., 2] * LUMA[2]


def rotate(vectors: np.ndarray, R: np.ndarray) -> np.ndarray:
    """R @ v for vectors [N,3] and a rotation [3,3] (float32), without BLAS."""
    R = np.asarray(R, dtype=np.float32)
    return (vectors[:, 0:1] * R[:, 0] + vectors[:, 1:2] * R[:, 1] + vectors[:, 2:3] * R[:, 2])


@dataclass
class RenderOutput:
    """One rendered view. radiance: float32 [H,W,3] linear; depth: float32 [H,W] metres along
    the optical axis (0 = no hit); instance: uint16 [H,W] (0 = no hit); albedo: float32 [H,W,3];
    normal_cos: float32 [H,W] |cos| of the incidence angle (0 = no hit)."""

    radiance: np.ndarray
    depth: np.ndarray
    instance: np.ndarray
    albedo: np.ndarray
    normal_cos: np.ndarray


@dataclass
class RayHits:
    """Results of casting N rays. t: float32 [N] distance in units of the ray direction's length
    (inf on miss); hit: bool [N]; points: float32 [N,3] world; normals: float32 [N,3] world unit
    normals facing the ray origin; material: int32 [N] (-1 on miss); instance: uint16 [N]."""

    t: np.ndarray
    hit: np.ndarray
    points: np.ndarray
    normals: np.ndarray
    material: np.ndarray
    instance: np.ndarray


class Renderer:
    """Casts rays into one scene; `nthreads` = 0 lets Open3D use every core."""

    def __init__(self, scene: Scene, nthreads: int = 0) -> None:
        self.scene = scene
        self.nthreads = int(nthreads)
        verts, tris, self._tri_material, self._tri_instance = scene.triangle_arrays()
        mesh = o3d.t.geometry.TriangleMesh()
        mesh.vertex.positions = o3d.core.Tensor(verts, dtype=o3d.core.float32)
        mesh.triangle.indices = o3d.core.Tensor(tris.astype(np.int32), dtype=o3d.core.int32)
        self._rc = o3d.t.geometry.RaycastingScene(nthreads=self.nthreads)
        self._rc.add_triangles(mesh)
        self._dir_cache: dict[tuple, np.ndarray] = {}

    @property
    def raycasting_scene(self) -> o3d.t.geometry.RaycastingScene:
        """The underlying Open3D scene (for distance queries in tests and tools)."""
        return self._rc

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """Cast rays from `origins` [N,3] (or one origin [3]) along `directions` [N,3] (world,
        any length)."""
        directions = np.asarray(directions, dtype=np.float32)
        rays = np.empty((len(directions), 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = directions
        out = self._rc.cast_rays(o3d.core.Tensor.from_numpy(rays), nthreads=self.nthreads)
        t = out["t_hit"].numpy()
        hit = np.isfinite(t)
        prim = out["primitive_ids"].numpy()
        normals = out["primitive_normals"].numpy()
        facing = np.einsum("ij,ij->i", normals, directions)
        np.negative(normals, out=normals, where=(facing > 0)[:, None])
        t_safe = np.where(hit, t, np.float32(0.0))
        points = rays[:, :3] + directions * t_safe[:, None]
        prim_safe = np.where(hit, prim, 0)
        material = np.where(hit, self._tri_material[prim_safe], -1).astype(np.int32)
        instance = np.where(hit, self._tri_instance[prim_safe], 0).astype(np.uint16)
        return RayHits(t, hit, points, normals, material, instance)

    def _camera_dirs(self, camera: CameraModel) -> np.ndarray:
        key = (camera.width, camera.height, camera.K.tobytes(), camera.distortion_model,
               camera.D.tobytes())
        dirs = self._dir_cache.get(key)
        if dirs is None:
            dirs = camera.ray_directions().reshape(-1, 3).astype(np.float32)
            self._dir_cache[key] = dirs
        return dirs

    def shade(self, hits: RayHits, directions: np.ndarray, illumination: float = 1.0,
              pixel_angle_rad: float | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(radiance [N,3], albedo [N,3], |cos incidence| [N]) of ray hits; see module docstring.
        pixel_angle_rad: angular size of a pixel, used to pick texture mip levels (None: finest)."""
        scene = self.scene
        n = len(hits.t)
        all_hit = bool(hits.hit.all())
        idx = slice(None) if all_hit else np.flatnonzero(hits.hit)
        p, nrm = hits.points[idx], hits.normals[idx]
        dirs_hit = directions[idx]
        dir_len = np.sqrt(np.einsum("ij,ij->i", dirs_hit, dirs_hit))
        cos_hit = np.abs(np.einsum("ij,ij->i", nrm, dirs_hit)) / dir_len
        footprint = None
        if pixel_angle_rad is not None:
            footprint = hits.t[idx] * dir_len * np.float32(pixel_angle_rad) / np.maximum(cos_hit, 0.25)
        albedo_hit = scene.materials.albedo(p, nrm, hits.material[idx], footprint)
        m = len(p)
        # lights on contiguous component rows (cheaper than [N,3] einsums)
        px, py, pz = np.ascontiguousarray(p.T)
        nx, ny, nz = np.ascontiguousarray(nrm.T)
        irr = [np.full(m, c, dtype=np.float32) for c in scene.ambient]
        for light in scene.lights:
            if light.position is not None:
                lx, ly, lz = (np.float32(c) - q for c, q in zip(light.position, (px, py, pz)))
                d2 = lx * lx + ly * ly + lz * lz
                cos_d = nx * lx + ny * ly + nz * lz  # cos * d
                weight = np.maximum(cos_d, 0.0) / (np.sqrt(d2) * np.maximum(d2, 0.25))
            else:
                dx, dy, dz = (np.float32(c) for c in light.direction)
                weight = np.maximum(-(nx * dx + ny * dy + nz * dz), 0.0)
            for c in range(3):
                irr[c] += weight * np.float32(light.intensity[c])
        irradiance = np.stack(irr, axis=1)
        illum = np.float32(illumination)
        if all_hit:
            return albedo_hit * irradiance * illum, albedo_hit, cos_hit
        radiance = np.empty((n, 3), dtype=np.float32)
        radiance[:] = np.asarray(scene.sky_radiance, dtype=np.float32) * illum
        radiance[idx] = albedo_hit * irradiance * illum
        albedo = np.zeros((n, 3), dtype=np.float32)
        albedo[idx] = albedo_hit
        cos_inc = np.zeros(n, dtype=np.float32)
        cos_inc[idx] = cos_hit
        return radiance, albedo, cos_inc

    def render(self, camera: CameraModel, T_world_cam: np.ndarray,
               illumination: float = 1.0) -> RenderOutput:
        """Render `camera` (optical frame) at pose `T_world_cam` [4,4]."""
        dirs_cam = self._camera_dirs(camera)  # z = 1, so t_hit is the optical-axis depth
        R = np.asarray(T_world_cam[:3, :3], dtype=np.float32)
        origin = np.asarray(T_world_cam[:3, 3], dtype=np.float32)
        dirs = rotate(dirs_cam, R)
        hits = self.cast(origin, dirs)
        radiance, albedo, cos_inc = self.shade(hits, dirs, illumination, 1.0 / camera.fx)
        shape = (camera.height, camera.width)
        depth = np.where(hits.hit, hits.t, 0.0).astype(np.float32)
        return RenderOutput(radiance.reshape(*shape, 3), depth.reshape(shape),
                            hits.instance.reshape(shape), albedo.reshape(*shape, 3),
                            cos_inc.reshape(shape))
