"""Block-wise marching cubes over an SDF field, restricted to the observed region.

The scene bounds are cut into cubic blocks of `block_size_vox` voxels. `BlockMesher.observe`
marks voxels that contain observed surface points (ray endpoints) and returns the blocks they
touch; `BlockMesher.update` re-meshes only the blocks marked dirty since the last update (or all
observed blocks), so a live publisher re-sends only changed blocks. A lattice point takes part in
marching cubes only if an observed voxel lies within `observed_margin_m` of it, which keeps the
field's unobserved extrapolation out of the mesh. Neighbouring blocks share their boundary
lattice plane, so block meshes meet without gaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

logger = logging.getLogger(__name__)

BlockKey = tuple[int, int, int]


@dataclass
class BlockMesh:
    """Triangle mesh of one block: vertices [V, 3] world metres (float64), faces [F, 3] int64,
    colors [V, 3] uint8 RGB."""

    key: BlockKey
    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


class BlockMesher:
    """Incremental block mesher.

    sdf_fn: world points [N, 3] float64 -> SDF [N] (any positive scale; surface at 0).
    color_fn: world points [N, 3] -> RGB [N, 3] in [0, 1], or None for grey vertices.
    """

    def __init__(self, bounds_m: np.ndarray, voxel_size_m: float, block_size_vox: int,
                 observed_margin_m: float, sdf_fn: Callable[[np.ndarray], np.ndarray],
                 color_fn: Callable[[np.ndarray], np.ndarray] | None = None) -> None:
        b = np.asarray(bounds_m, dtype=np.float64).reshape(2, 3)
        self.origin = b[0]
        self.voxel = float(voxel_size_m)
        self.block = int(block_size_vox)
        self.dims = np.maximum(np.ceil((b[1] - b[0]) / self.voxel).astype(int), 1)
        self.n_blocks = -(-self.dims // self.block)
        self.observed = np.zeros(self.dims, dtype=bool)
        self.margin_vox = int(np.ceil(observed_margin_m / self.voxel))
        self.sdf_fn = sdf_fn
        self.color_fn = color_fn
        self.dirty: set[BlockKey] = set()
        self.blocks: dict[BlockKey, BlockMesh] = {}

    def observe(self, points_world: np.ndarray) -> set[BlockKey]:
        """Mark voxels holding points [M, 3]; returns the blocks (with margin) now dirty."""
        p = np.asarray(points_world, dtype=np.float64).reshape(-1, 3)
        v = np.floor((p - self.origin) / self.voxel)
        idx = v[np.all((v >= 0) & (v < self.dims), axis=1)].astype(np.int64)  # NaN fails
        if len(idx) == 0:
            return set()
        self.observed[idx[:, 0], idx[:, 1], idx[:, 2]] = True
        keys: set[BlockKey] = set()
        for shift in (-self.margin_vox, 0, self.margin_vox):   # blocks the margin reaches
            k = np.clip((idx + shift) // self.block, 0, self.n_blocks - 1)
            keys |= set(map(tuple, np.unique(k, axis=0).tolist()))
        self.dirty |= keys
        return keys

    def _lattice_mask(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Observed-with-margin mask of lattice points lo..hi (inclusive) [X, Y, Z]."""
        m = self.margin_vox + 1
        a = np.maximum(lo - m, 0)
        b = np.minimum(hi + m, self.dims)
        sub = self.observed[a[0]:b[0], a[1]:b[1], a[2]:b[2]]
        if self.margin_vox > 0:
            sub = ndimage.binary_dilation(sub, iterations=self.margin_vox)
        # lattice point p touches voxels p-1 and p along each axis
        pad = np.pad(sub, 1)
        lat = np.zeros(np.array(sub.shape) + 1, dtype=bool)
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    lat |= pad[dx:dx + lat.shape[0], dy:dy + lat.shape[1], dz:dz + lat.shape[2]]
        # lat index i corresponds to lattice coordinate a + i
        s = lo - a
        return lat[s[0]:s[0] + hi[0] - lo[0] + 1, s[1]:s[1] + hi[1] - lo[1] + 1,
                   s[2]:s[2] + hi[2] - lo[2] + 1]

    def mesh_block(self, key: BlockKey) -> BlockMesh | None:
        """Marching cubes of one block; None when it holds no surface."""
        from skimage.measure import marching_cubes

        lo = np.asarray(key) * self.block
        hi = np.minimum(lo + self.block, self.dims)
        mask = self._lattice_mask(lo, hi)
        if min(mask.shape) < 2:
            return None
        # a cube counts as observed when its 8 corners are; marching cubes runs on the whole
        # block and faces in unobserved cubes are dropped afterwards (the field's values there
        # are extrapolation)
        cube = mask[:-1, :-1, :-1].copy()
        for dx in (0, 1):
            for dy in (0, 1):
                for dz in (0, 1):
                    cube &= mask[dx:dx + cube.shape[0], dy:dy + cube.shape[1],
                                 dz:dz + cube.shape[2]]
        if not cube.any():
            return None
        axes = [self.origin[d] + self.voxel * np.arange(lo[d], hi[d] + 1) for d in range(3)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1)
        sdf = self.sdf_fn(grid.reshape(-1, 3)).astype(np.float32).reshape(mask.shape)
        vals = sdf[mask]
        if not (vals.min() < 0.0 < vals.max()):
            return None
        try:
            verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(self.voxel,) * 3)
        except (ValueError, RuntimeError) as err:
            logger.debug("block %s: marching cubes found no surface (%s)", key, err)
            return None
        centre = verts[faces].mean(axis=1) / self.voxel
        ci = np.clip(np.floor(centre).astype(np.int64), 0, np.array(cube.shape) - 1)
        faces = faces[cube[ci[:, 0], ci[:, 1], ci[:, 2]]]
        if len(faces) == 0:
            return None
        used, faces = np.unique(faces, return_inverse=True)
        faces = faces.reshape(-1, 3)
        verts = verts[used]
        verts = verts.astype(np.float64) + self.origin + lo * self.voxel
        if self.color_fn is not None:
            colors = np.clip(self.color_fn(verts) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        else:
            colors = np.full((len(verts), 3), 200, np.uint8)
        return BlockMesh(tuple(int(k) for k in key), verts, faces.astype(np.int64), colors)

    def update(self, full: bool = False) -> dict[BlockKey, BlockMesh | None]:
        """Re-mesh dirty blocks (all observed blocks if `full`); returns {key: mesh or None
        (block now empty)} for every block re-meshed."""
        if full:
            occ = np.argwhere(self.observed) // self.block
            keys = set(map(tuple, np.unique(occ, axis=0).tolist())) | set(self.blocks)
        else:
            keys = set(self.dirty)
        self.dirty.clear()
        changed: dict[BlockKey, BlockMesh | None] = {}
        for key in sorted(keys):
            bm = self.mesh_block(key)
            changed[key] = bm
            if bm is None:
                self.blocks.pop(key, None)
            else:
                self.blocks[key] = bm
        return changed

    def to_trimesh(self):
        """All block meshes merged into one trimesh.Trimesh (vertex colours kept)."""
        import trimesh

        parts = [trimesh.Trimesh(b.vertices, b.faces, vertex_colors=b.colors, process=False)
                 for _, b in sorted(self.blocks.items())]
        if not parts:
            return trimesh.Trimesh()
        return trimesh.util.concatenate(parts)
