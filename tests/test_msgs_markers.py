"""visualization_msgs Marker <-> mesh through real CDR bytes."""

from __future__ import annotations

import numpy as np
import pytest
import trimesh

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.geometry import pose_to_msg
from slam_nodes.msgs.markers import (
    delete_all_marker,
    delete_marker,
    marker_array,
    marker_to_mesh,
    mesh_to_marker,
)
from slam_nodes.msgs.typestore import get_typestore, msg_class
from slam_nodes.types import make_pose

MARKER = "visualization_msgs/msg/Marker"
ARRAY = "visualization_msgs/msg/MarkerArray"


def cdr(msg, typename=MARKER):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, typename), typename)


def _sorted_triangles(vertices, faces):
    """Triangles as sorted rows of corner coordinates (order-independent comparison)."""
    tri = np.round(vertices[faces], 9).reshape(len(faces), -1)
    return tri[np.lexsort(tri.T[::-1])]


def test_mesh_round_trip_with_uint8_colours():
    mesh = trimesh.creation.icosphere(2)
    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (len(mesh.vertices), 3), dtype=np.uint8)
    msg = cdr(mesh_to_marker(mesh.vertices, mesh.faces, colours, frame_id="map",
                             stamp_ns=5, ns="block_3", marker_id=7))
    assert msg.type == msg_class(MARKER).TRIANGLE_LIST and msg.action == msg_class(MARKER).ADD
    assert (msg.ns, msg.id, msg.header.frame_id) == ("block_3", 7, "map")
    assert len(msg.points) == 3 * len(mesh.faces) == len(msg.colors)
    # corner k of triangle f is vertex faces[f, k]
    f, k = 11, 2
    p = msg.points[3 * f + k]
    np.testing.assert_allclose([p.x, p.y, p.z], mesh.vertices[mesh.faces[f, k]])
    c = msg.colors[3 * f + k]
    np.testing.assert_allclose([c.r, c.g, c.b, c.a],
                               [*(colours[mesh.faces[f, k]] / 255.0), 1.0], atol=1e-6)
    verts, faces, cols = marker_to_mesh(msg)
    assert len(verts) == len(mesh.vertices) and len(faces) == len(mesh.faces)
    np.testing.assert_allclose(_sorted_triangles(verts, faces),
                               _sorted_triangles(mesh.vertices, mesh.faces), atol=1e-12)
    # each recovered vertex carries its original colour
    nearest = np.argmin(np.linalg.norm(verts[:, None] - mesh.vertices[None], axis=2), axis=1)
    np.testing.assert_array_equal(cols, colours[nearest])


def test_float_colours_no_colours_and_unmerged():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    msg = cdr(mesh_to_marker(verts, faces, np.array([[1.0, 0, 0]] * 4), frame_id="m",
                             stamp_ns=0))
    assert msg.colors[0].r == 1.0 and msg.colors[0].g == 0.0
    plain = cdr(mesh_to_marker(verts, faces, frame_id="m", stamp_ns=0, colour=(0, 1, 0, 0.5)))
    assert len(plain.colors) == 0 and (plain.color.g, plain.color.a) == (1.0, 0.5)
    v, f, c = marker_to_mesh(plain, merge_vertices=False)
    assert c is None and v.shape == (6, 3)
    np.testing.assert_array_equal(v, verts[faces.reshape(-1)])
    np.testing.assert_array_equal(f, [[0, 1, 2], [3, 4, 5]])


def test_marker_pose_is_applied():
    verts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0.0]])
    msg = mesh_to_marker(verts, np.array([[0, 1, 2]]), frame_id="m", stamp_ns=0)
    T = make_pose(np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1.0]]), [1, 2, 3])
    msg.pose = pose_to_msg(T)
    v, f, _ = marker_to_mesh(cdr(msg), merge_vertices=False)
    np.testing.assert_allclose(v, verts @ T[:3, :3].T + T[:3, 3], atol=1e-12)


def test_delete_helpers_and_array():
    arr = cdr(marker_array([delete_marker("mesh", 4, "map", 9)], clear_first=True,
                           frame_id="map", stamp_ns=9), ARRAY)
    assert [m.action for m in arr.markers] == [msg_class(MARKER).DELETEALL,
                                              msg_class(MARKER).DELETE]
    assert (arr.markers[1].ns, arr.markers[1].id) == ("mesh", 4)
    assert cdr(delete_all_marker("map", 0)).action == 3


def test_bad_meshes_raise():
    verts = np.zeros((3, 3))
    with pytest.raises(ConversionError, match="face indices"):
        mesh_to_marker(verts, np.array([[0, 1, 3]]), frame_id="m", stamp_ns=0)
    with pytest.raises(ConversionError, match="integer"):
        mesh_to_marker(verts, np.array([[0.0, 1, 2]]), frame_id="m", stamp_ns=0)
    with pytest.raises(ConversionError, match="NaN"):
        mesh_to_marker(np.full((3, 3), np.nan), np.array([[0, 1, 2]]), frame_id="m",
                       stamp_ns=0)
    with pytest.raises(ConversionError, match="colours"):
        mesh_to_marker(verts, np.array([[0, 1, 2]]), np.zeros((2, 3)), frame_id="m",
                       stamp_ns=0)
    msg = mesh_to_marker(verts, np.array([[0, 1, 2]]), frame_id="m", stamp_ns=0)
    msg.points = msg.points[:2]
    with pytest.raises(ConversionError, match="multiple of 3"):
        marker_to_mesh(msg)
    with pytest.raises(ConversionError, match="not TRIANGLE_LIST"):
        marker_to_mesh(_sphere_marker())


def _sphere_marker():
    msg = mesh_to_marker(np.zeros((3, 3)), np.array([[0, 1, 2]]), frame_id="m", stamp_ns=0)
    msg.type = msg_class(MARKER).SPHERE
    return msg
