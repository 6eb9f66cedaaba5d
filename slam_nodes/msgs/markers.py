"""visualization_msgs Marker / MarkerArray <-> triangle meshes.

A mesh (vertices [V,3] metres, faces [F,3] vertex indices, optional vertex colours [V,3]) becomes
one TRIANGLE_LIST marker: `points` holds the three corners of every triangle in order (3F
points) and `colors` one colour per corner, which is how RViz draws per-vertex colour. Scale is
(1, 1, 1) and the marker pose is the identity, so the points are in the header frame.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.geometry import pose_from_msg, pose_to_msg
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class

MARKER = "visualization_msgs/msg/Marker"


def _colours_float(colours: np.ndarray, n: int) -> np.ndarray:
    """RGBA float32 [n,4] in [0, 1] of uint8 or float colours [n,3] or [n,4]."""
    c = np.asarray(colours)
    if c.ndim != 2 or len(c) != n or c.shape[1] not in (3, 4):
        raise ConversionError(f"colours must be [{n},3] or [{n},4], got {c.shape}")
    c = c.astype(np.float32) / 255.0 if c.dtype.kind in "ui" else c.astype(np.float32)
    if c.shape[1] == 3:
        c = np.concatenate([c, np.ones((n, 1), np.float32)], axis=1)
    return np.clip(c, 0.0, 1.0)


def mesh_to_marker(vertices: np.ndarray, faces: np.ndarray, colours: np.ndarray | None = None,
                   *, frame_id: str, stamp_ns: int, ns: str = "mesh", marker_id: int = 0,
                   colour: tuple[float, float, float, float] = (0.8, 0.8, 0.8, 1.0)):
    """TRIANGLE_LIST Marker (action ADD) of a mesh.

    vertices: [V,3] metres in `frame_id`; faces: [F,3] int indices into vertices;
    colours: optional per-vertex [V,3]/[V,4] uint8 (0-255) or float (0-1); without them the
    whole marker has `colour` (RGBA, 0-1). Raises ConversionError for out-of-range indices or
    non-finite vertices.
    """
    verts = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
    tris = np.asarray(faces)
    if tris.ndim != 2 or tris.shape[1] != 3 or (tris.size and tris.dtype.kind not in "ui"):
        raise ConversionError(f"faces must be integer [F,3], got {tris.dtype} {tris.shape}")
    if tris.size and (tris.min() < 0 or tris.max() >= len(verts)):
        raise ConversionError(
            f"face indices span [{tris.min()}, {tris.max()}] for {len(verts)} vertices")
    if not np.isfinite(verts).all():
        raise ConversionError("mesh vertices contain NaN or infinite values")
    corners = verts[tris.reshape(-1)]
    Point = msg_class("geometry_msgs/msg/Point")
    ColorRGBA = msg_class("std_msgs/msg/ColorRGBA")
    # positional map() is ~4x faster than keyword construction for 10^4-10^5 corners
    points = list(map(Point, *corners.T.tolist()))
    if colours is not None:
        rgba = _colours_float(colours, len(verts))[tris.reshape(-1)]
        colors = list(map(ColorRGBA, *rgba.T.astype(np.float64).tolist()))
    else:
        colors = []
    Vector3 = msg_class("geometry_msgs/msg/Vector3")
    return _marker(
        ns, marker_id, msg_class(MARKER).TRIANGLE_LIST, msg_class(MARKER).ADD, frame_id,
        stamp_ns, points=points, colors=colors, scale=Vector3(x=1.0, y=1.0, z=1.0),
        color=ColorRGBA(r=colour[0], g=colour[1], b=colour[2], a=colour[3]))


def marker_to_mesh(marker, merge_vertices: bool = True
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """(vertices [V,3] float64 in the header frame, faces [F,3] int64, colours [V,3] uint8 or
    None) of a TRIANGLE_LIST Marker.

    The marker pose is applied. With `merge_vertices`, corners with identical position and
    colour become one vertex (undoing mesh_to_marker's per-corner expansion); otherwise every
    corner is its own vertex. Colours are None when the marker has no per-corner colours.
    """
    if marker.type != msg_class(MARKER).TRIANGLE_LIST:
        raise ConversionError(f"marker {marker.ns}/{marker.id} is type {marker.type}, "
                              "not TRIANGLE_LIST")
    n = len(marker.points)
    if n % 3:
        raise ConversionError(f"TRIANGLE_LIST marker {marker.ns}/{marker.id} has {n} points, "
                              "not a multiple of 3")
    corners = np.array([(p.x, p.y, p.z) for p in marker.points], dtype=np.float64).reshape(n, 3)
    T = pose_from_msg(marker.pose)
    corners = corners @ T[:3, :3].T + T[:3, 3]
    colours = None
    if len(marker.colors):
        if len(marker.colors) != n:
            raise ConversionError(f"marker {marker.ns}/{marker.id}: {len(marker.colors)} "
                                  f"colours for {n} points")
        rgb = np.array([(c.r, c.g, c.b) for c in marker.colors], dtype=np.float64)
        colours = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    faces = np.arange(n, dtype=np.int64).reshape(-1, 3)
    if not merge_vertices or n == 0:
        return corners, faces, colours
    key = corners if colours is None else np.concatenate([corners, colours], axis=1)
    unique, inverse = np.unique(key, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    vertices = unique[:, :3]
    merged_colours = unique[:, 3:6].astype(np.uint8) if colours is not None else None
    return vertices, inverse[faces], merged_colours


def delete_marker(ns: str, marker_id: int, frame_id: str, stamp_ns: int):
    """Marker with action DELETE for (ns, id)."""
    return _marker(ns, marker_id, msg_class(MARKER).TRIANGLE_LIST, msg_class(MARKER).DELETE,
                   frame_id, stamp_ns)


def delete_all_marker(frame_id: str, stamp_ns: int, ns: str = ""):
    """Marker with action DELETEALL (RViz clears every marker of the display; `ns` is kept)."""
    return _marker(ns, 0, msg_class(MARKER).TRIANGLE_LIST, msg_class(MARKER).DELETEALL,
                   frame_id, stamp_ns)


def marker_array(markers: list, clear_first: bool = False, frame_id: str = "map",
                 stamp_ns: int = 0):
    """MarkerArray of markers, optionally preceded by a DELETEALL."""
    items = list(markers)
    if clear_first:
        items.insert(0, delete_all_marker(frame_id, stamp_ns))
    return msg_class("visualization_msgs/msg/MarkerArray")(markers=items)


def _marker(ns: str, marker_id: int, mtype: int, action: int, frame_id: str, stamp_ns: int,
            **fields):
    Marker = msg_class(MARKER)
    Vector3 = msg_class("geometry_msgs/msg/Vector3")
    ColorRGBA = msg_class("std_msgs/msg/ColorRGBA")
    base = dict(
        header=make_header(stamp_ns, frame_id), ns=ns, id=int(marker_id), type=mtype,
        action=action, pose=pose_to_msg(np.eye(4)), scale=Vector3(x=1.0, y=1.0, z=1.0),
        color=ColorRGBA(r=0.0, g=0.0, b=0.0, a=0.0),
        lifetime=msg_class("builtin_interfaces/msg/Duration")(sec=0, nanosec=0),
        frame_locked=False, points=[], colors=[], texture_resource="",
        texture=msg_class("sensor_msgs/msg/CompressedImage")(
            header=make_header(0, ""), format="", data=np.zeros(0, np.uint8)),
        uv_coordinates=[], text="", mesh_resource="",
        mesh_file=msg_class("visualization_msgs/msg/MeshFile")(
            filename="", data=np.zeros(0, np.uint8)),
        mesh_use_embedded_materials=False,
    )
    base.update(fields)
    return Marker(**base)
