"""Cutting a map mesh into spatial blocks and publishing only the blocks that changed.

Each triangle belongs to the cubic block (edge `block_size_m`) holding its centroid. A block's
content hash (vertex coordinates quantised to 1 mm, colours) says whether it changed since it was
last sent. `MeshBlockPublisher.update` returns visualization_msgs/Marker messages: one
TRIANGLE_LIST marker per changed block (ns 'mesh', id from the block index), DELETE markers for
blocks that vanished, and at most `triangle_budget` triangles per update; blocks left over wait
for the next update (the largest change first, ties by block index, so the order is
deterministic).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from slam_nodes.msgs.markers import delete_marker, mesh_to_marker
from slam_nodes.nodes.engine import MeshData

MARKER_NS = "mesh"
_GREY = np.array([180, 180, 180], dtype=np.uint8)


@dataclass
class Block:
    key: tuple[int, int, int]
    triangles: np.ndarray  # float32 [F,3,3] metres, in the frame the mesh was given in
    colors: np.ndarray  # uint8 [F,3,3]
    digest: str


def split_blocks(mesh: MeshData, block_size_m: float) -> dict[tuple[int, int, int], Block]:
    """Blocks of a mesh keyed by integer block index (vectorised; one pass of sorting)."""
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    verts = np.asarray(mesh.vertices, dtype=np.float32).reshape(-1, 3)
    if len(faces) == 0:
        return {}
    tris = verts[faces]  # [F,3,3]
    if mesh.colors is not None and len(mesh.colors) == len(verts):
        cols = np.asarray(mesh.colors, dtype=np.uint8)[faces]
    else:
        cols = np.broadcast_to(_GREY, tris.shape).copy()
    keys = np.floor(tris.mean(axis=1) / block_size_m).astype(np.int64)
    order = np.lexsort((keys[:, 2], keys[:, 1], keys[:, 0]))
    keys, tris, cols = keys[order], tris[order], cols[order]
    change = np.any(np.diff(keys, axis=0) != 0, axis=1)
    starts = np.concatenate([[0], np.nonzero(change)[0] + 1, [len(keys)]])
    out = {}
    for a, b in zip(starts[:-1], starts[1:]):
        key = tuple(int(v) for v in keys[a])
        t, c = tris[a:b], cols[a:b]
        h = hashlib.blake2b(np.round(t * 1000).astype(np.int32).tobytes(), digest_size=16)
        h.update(c.tobytes())
        out[key] = Block(key, t, c, h.hexdigest())
    return out


def block_id(key: tuple[int, int, int]) -> int:
    """A stable int32 marker id for a block index (blocks within +-511 per axis are unique)."""
    x, y, z = ((k + 512) & 1023 for k in key)
    return int((x << 20) | (y << 10) | z)


class MeshBlockPublisher:
    """Remembers what was sent; turns a new mesh into the markers that update the display."""

    def __init__(self, block_size_m: float, triangle_budget: int) -> None:
        self.block_size_m = float(block_size_m)
        self.triangle_budget = int(triangle_budget)
        self.sent: dict[tuple[int, int, int], str] = {}
        self.pending: dict[tuple[int, int, int], Block] = {}
        self.deleted: set[tuple[int, int, int]] = set()

    def reset(self) -> None:
        self.deleted |= set(self.sent)
        self.sent.clear()
        self.pending.clear()

    def update(self, mesh: MeshData | None, stamp_ns: int, frame_id: str) -> list:
        """Markers for the blocks of `mesh` that differ from what was sent (within budget)."""
        if mesh is not None:
            blocks = split_blocks(mesh, self.block_size_m)
            self.deleted |= set(self.sent) - set(blocks)
            self.pending = {k: b for k, b in blocks.items() if self.sent.get(k) != b.digest}
        markers = [self._delete(k, stamp_ns, frame_id) for k in sorted(self.deleted)]
        for k in self.deleted:
            self.sent.pop(k, None)
        self.deleted.clear()
        budget = self.triangle_budget
        for key in sorted(self.pending, key=lambda k: (-len(self.pending[k].triangles), k)):
            block = self.pending[key]
            if len(block.triangles) > budget:
                continue
            budget -= len(block.triangles)
            markers.append(self._triangles(block, stamp_ns, frame_id))
            self.sent[key] = block.digest
        self.pending = {k: b for k, b in self.pending.items() if self.sent.get(k) != b.digest}
        return markers

    def _triangles(self, block: Block, stamp_ns: int, frame_id: str):
        corners = block.triangles.reshape(-1, 3)
        return mesh_to_marker(
            corners, np.arange(len(corners)).reshape(-1, 3), block.colors.reshape(-1, 3),
            frame_id=frame_id, stamp_ns=stamp_ns, ns=MARKER_NS, marker_id=block_id(block.key),
            colour=(1.0, 1.0, 1.0, 1.0))

    def _delete(self, key, stamp_ns: int, frame_id: str):
        return delete_marker(MARKER_NS, block_id(key), frame_id, stamp_ns)
