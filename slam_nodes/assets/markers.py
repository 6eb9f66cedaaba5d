"""Completed assets as RViz markers (for the asset completion node's `~/assets` MarkerArray)."""

from __future__ import annotations

import numpy as np

from slam_nodes.assets.types import CompletedAsset
from slam_nodes.types.pose import transform_points


def asset_marker(asset: CompletedAsset, marker_id: int, frame_id: str = "map", stamp_ns: int | None = None,
                 max_faces: int = 20000):
    """TRIANGLE_LIST marker of the asset's mesh placed at T_world_object (in `frame_id`).

    The mesh is decimated by face subsampling above `max_faces` faces (a display-only
    simplification); the marker is stamped with the asset's stamp unless `stamp_ns` is given.
    """
    from slam_nodes.msgs.markers import mesh_to_marker

    faces = np.asarray(asset.mesh.faces)
    if len(faces) > max_faces:
        faces = faces[np.linspace(0, len(faces) - 1, max_faces).astype(int)]
    verts = transform_points(np.asarray(asset.T_world_object, float), np.asarray(asset.mesh.vertices))
    colours = np.asarray(asset.mesh.visual.vertex_colors) if asset.mesh.visual.kind == "vertex" else None
    return mesh_to_marker(verts, faces, colours, frame_id=frame_id,
                          stamp_ns=asset.stamp_ns if stamp_ns is None else stamp_ns,
                          ns=f"assets/{asset.class_name}", marker_id=marker_id)


def assets_marker_array(assets: list[CompletedAsset], frame_id: str = "map", stamp_ns: int = 0):
    """MarkerArray (DELETEALL first) with one marker per asset, ids in list order."""
    from slam_nodes.msgs.markers import marker_array

    return marker_array([asset_marker(a, i, frame_id, stamp_ns) for i, a in enumerate(assets)],
                        clear_first=True, frame_id=frame_id, stamp_ns=stamp_ns)
