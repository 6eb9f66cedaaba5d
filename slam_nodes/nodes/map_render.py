"""Render the map mesh from a camera pose (the node's ~/render when the engine has no renderer).

Ray casting with Open3D's RaycastingScene (vectorised, CPU); the colour of a hit is the
barycentric blend of the triangle's vertex colours; pixels that hit nothing are black.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.nodes.engine import MeshData
from slam_nodes.types import CameraModel


def render_mesh(mesh: MeshData, T_world_cam: np.ndarray, camera: CameraModel) -> np.ndarray:
    """uint8 [H,W,3] RGB view of `mesh` (world frame, metres) from T_world_cam [4,4]."""
    import open3d as o3d
    import open3d.core as o3c

    h, w = camera.height, camera.width
    out = np.zeros((h, w, 3), np.uint8)
    if len(mesh.faces) == 0:
        return out
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3c.Tensor(np.ascontiguousarray(mesh.vertices, np.float32)),
                        o3c.Tensor(np.ascontiguousarray(mesh.faces, np.uint32)))
    dirs_cam = camera.ray_directions().reshape(-1, 3)
    dirs = dirs_cam @ T_world_cam[:3, :3].T
    origins = np.broadcast_to(T_world_cam[:3, 3], dirs.shape)
    rays = np.concatenate([origins, dirs], axis=1).astype(np.float32)
    ans = scene.cast_rays(o3c.Tensor(rays))
    prim = ans["primitive_ids"].numpy().astype(np.int64)
    hit = prim != o3d.t.geometry.RaycastingScene.INVALID_ID
    if not hit.any():
        return out
    uv = ans["primitive_uvs"].numpy()[hit]
    tri = np.asarray(mesh.faces, np.int64)[prim[hit]]
    if mesh.colors is None:
        colors = np.full((hit.sum(), 3), 180.0)
    else:
        c = np.asarray(mesh.colors, np.float64)
        colors = ((1 - uv[:, :1] - uv[:, 1:]) * c[tri[:, 0]] + uv[:, :1] * c[tri[:, 1]]
                  + uv[:, 1:] * c[tri[:, 2]])
    flat = out.reshape(-1, 3)
    flat[hit] = np.clip(colors + 0.5, 0, 255).astype(np.uint8)
    return out
