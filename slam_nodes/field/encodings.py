"""Input encodings of the neural field: a multiresolution hash grid and a one-blob encoding.

Both take coordinates normalised to the unit cube, ``x01: [N, 3]`` in [0, 1] (the field maps
world metres into the cube with its scene bounds), and return ``[N, C]`` float32 features.

`HashGridEncoding` is index-compatible with tiny-cuda-nn's ``HashGrid`` (Müller et al. 2022):
per level ``scale = 2^(l * log2(per_level_scale)) * base_resolution - 1``, ``resolution =
ceil(scale) + 1``, ``pos = x * scale + 0.5``, corners ``floor(pos) + {0,1}^3`` blended
trilinearly; a level whose ``resolution^3`` fits the table is indexed densely
(``x + y * res + z * res^2``), otherwise by the coherent prime hash
``x * 1 ^ y * 2654435761 ^ z * 805459861`` (uint32), both modulo the level's table size
(``min(next_multiple_of_8(res^3), 2^log2_hashmap_size)``). The parameters are one table
``[sum(level sizes), n_features_per_level]`` whose row-major flattening is tcnn's parameter
vector, so weights move between the two backends unchanged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
from torch import nn

from slam_nodes.errors import ConfigError
from slam_nodes.optional import has_tcnn

logger = logging.getLogger(__name__)

PRIMES = (1, 2654435761, 805459861)
IMPLEMENTATIONS = ("auto", "torch", "tcnn")
_PRIMES_I32 = tuple(p - (1 << 32) if p >= (1 << 31) else p for p in PRIMES)   # same low bits
_U32 = 0xFFFFFFFF


@dataclass(frozen=True)
class HashGridLayout:
    """Per-level geometry of a hash grid (all tuples have one entry per level)."""

    n_levels: int
    n_features_per_level: int
    log2_hashmap_size: int
    base_resolution: int
    per_level_scale: float
    scales: tuple[float, ...]
    resolutions: tuple[int, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]

    @property
    def n_params(self) -> int:
        """Rows of the parameter table (sum of level sizes)."""
        return self.offsets[-1] + self.sizes[-1]

    @property
    def hashed(self) -> tuple[bool, ...]:
        """True for levels indexed by the prime hash, False for dense levels."""
        return tuple(r ** 3 > s for r, s in zip(self.resolutions, self.sizes))

    def tcnn_config(self) -> dict:
        return {
            "otype": "HashGrid", "n_levels": self.n_levels,
            "n_features_per_level": self.n_features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution, "per_level_scale": self.per_level_scale,
            "interpolation": "Linear",
        }


def hash_grid_layout(n_levels: int, n_features_per_level: int, log2_hashmap_size: int,
                     base_resolution: int, per_level_scale: float) -> HashGridLayout:
    """Level scales, resolutions, table sizes and offsets exactly as tiny-cuda-nn computes them."""
    if n_levels < 1 or n_features_per_level < 1 or base_resolution < 2 or per_level_scale < 1.0:
        raise ConfigError(
            f"invalid hash grid: n_levels={n_levels}, features={n_features_per_level}, "
            f"base_resolution={base_resolution}, per_level_scale={per_level_scale}")
    scales, resolutions, sizes, offsets = [], [], [], []
    offset = 0
    log2_scale = math.log2(per_level_scale)
    for level in range(n_levels):
        scale = 2.0 ** (level * log2_scale) * base_resolution - 1.0
        res = int(math.ceil(scale)) + 1
        size = min(((res ** 3 + 7) // 8) * 8, 1 << log2_hashmap_size)
        scales.append(scale)
        resolutions.append(res)
        sizes.append(size)
        offsets.append(offset)
        offset += size
    return HashGridLayout(n_levels, n_features_per_level, log2_hashmap_size, base_resolution,
                          float(per_level_scale), tuple(scales), tuple(resolutions),
                          tuple(sizes), tuple(offsets))


def per_level_scale_for(finest_resolution: float, base_resolution: int, n_levels: int) -> float:
    """Growth factor b so that level n_levels-1 has `finest_resolution` cells (Co-SLAM's rule)."""
    if n_levels == 1:
        return 1.0
    ratio = max(finest_resolution / base_resolution, 1.0)
    return float(2.0 ** (math.log2(ratio) / (n_levels - 1)))


def _cell(x01: torch.Tensor, layout: HashGridLayout) -> tuple[torch.Tensor, torch.Tensor]:
    """Cell corner floor(pos) and fraction, both [L, 3, N] (points last: long contiguous rows
    keep CPU element-wise ops vectorised)."""
    scales = torch.tensor(layout.scales, dtype=x01.dtype, device=x01.device)
    pos = scales[:, None, None] * x01.T[None] + 0.5                 # [L, 3, N]
    base = torch.floor(pos.detach())
    return base, pos - base


def _corner_rows(base: torch.Tensor, layout: HashGridLayout) -> torch.Tensor:
    """Table rows [L, 8, N] of the cell corners; corner c = z*4 + y*2 + x offsets, i.e.
    floor(pos) + (c & 1, (c >> 1) & 1, (c >> 2) & 1), tcnn's ordering. base: [L, 3, N]."""
    L, _, n = base.shape
    dev = base.device
    # int32 arithmetic: products wrap modulo 2^32 exactly like tcnn's uint32 hash (only the low
    # log2_hashmap_size bits are kept), and dense indices stay below 2^31
    i32 = torch.int32
    with torch.no_grad():
        g = base.to(i32)[:, :, None, :] + torch.arange(2, device=dev, dtype=i32)[:, None]
        # g: [L, 3, 2, N]
        hashed = layout.hashed
        n_dense = hashed.index(True) if True in hashed else L   # dense levels come first
        parts = []
        if n_dense > 0:
            gd = g[:n_dense]
            res = torch.tensor(layout.resolutions[:n_dense], dtype=i32, device=dev)[:, None, None]
            size = torch.tensor(layout.sizes[:n_dense], dtype=i32,
                                device=dev)[:, None, None, None, None]
            gx, gy, gz = gd[:, 0], gd[:, 1], gd[:, 2]              # [Ld, 2, N]
            dense = ((gz * (res * res))[:, :, None, None] + (gy * res)[:, None, :, None]
                     + gx[:, None, None, :])
            # dense < 2 * size (corners reach at most `res`), so one subtraction is the modulo
            dense = torch.where(dense >= size, dense - size, dense)
            parts.append(dense.reshape(n_dense, 8, n))
        if n_dense < L:
            gh = g[n_dense:]
            mask = (1 << layout.log2_hashmap_size) - 1    # hashed levels have 2^log2 rows
            hx, hy, hz = (gh[:, d] * _PRIMES_I32[d] for d in range(3))
            h = (hz[:, :, None, None] ^ hy[:, None, :, None]) ^ hx[:, None, None, :]
            parts.append((h & mask).reshape(L - n_dense, 8, n))
        offsets = torch.tensor(layout.offsets, dtype=i32, device=dev)[:, None, None]
        return (parts[0] if len(parts) == 1 else torch.cat(parts, dim=0)) + offsets


def _trilinear_weights(frac: torch.Tensor) -> torch.Tensor:
    """Corner weights [L, 8, N] (corner z*4 + y*2 + x) of cell fractions [L, 3, N]."""
    w = torch.stack([1.0 - frac, frac], dim=2)                     # [L, 3, 2, N]
    L, _, _, n = w.shape
    return (w[:, 2, :, None, None] * w[:, 1, None, :, None]
            * w[:, 0, None, None, :]).reshape(L, 8, n)


def hash_grid_indices(x01: torch.Tensor, layout: HashGridLayout
                      ) -> tuple[torch.Tensor, torch.Tensor]:
    """Table rows and trilinear weights of the 8 cell corners at every level.

    x01: [N, 3] coordinates in the unit cube.
    Returns (rows int32 [N, L, 8], weights [N, L, 8] in x01's dtype).
    Corner c (0..7) is floor(pos) + (c & 1, (c >> 1) & 1, (c >> 2) & 1), tcnn's ordering.
    """
    base, frac = _cell(x01, layout)
    rows = _corner_rows(base, layout)
    return rows.permute(2, 0, 1), _trilinear_weights(frac).permute(2, 0, 1)


class _Take(torch.autograd.Function):
    """flat[idx] with an index_add_ backward."""

    @staticmethod
    def forward(ctx, flat: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(idx)
        ctx.numel = flat.numel()
        return flat.index_select(0, idx.reshape(-1)).reshape(idx.shape)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        if not ctx.needs_input_grad[0]:
            return None, None
        (idx,) = ctx.saved_tensors
        out = torch.zeros(ctx.numel, dtype=grad.dtype, device=grad.device)
        out.index_add_(0, idx.reshape(-1), grad.reshape(-1))
        return out, None


def hash_grid_encode(x01: torch.Tensor, table: torch.Tensor, layout: HashGridLayout
                     ) -> torch.Tensor:
    """Pure-torch hash grid encoding (the reference implementation).

    x01: [N, 3] in [0, 1]; table: [layout.n_params, F] parameters.
    Returns [N, L * F] features, level-major (tcnn's output order).
    """
    n_feat = table.shape[1]
    base, frac = _cell(x01, layout)                                # [L, 3, N]
    rows = _corner_rows(base, layout)                              # [L, 8, N]
    f = torch.arange(n_feat, device=x01.device, dtype=rows.dtype)
    idx = rows[:, :, None, :] * n_feat + f[None, None, :, None]    # [L, 8, F, N]
    feats = _Take.apply(table.reshape(-1), idx)
    w = _trilinear_weights(frac)                                   # [L, 8, N]
    out = (feats * w[:, :, None, :]).sum(dim=1)                    # [L, F, N]
    return out.permute(2, 0, 1).reshape(x01.shape[0], -1)


class HashGridEncoding(nn.Module):
    """Multiresolution hash grid with a pure-torch and a tiny-cuda-nn backend.

    implementation: "auto" uses tcnn when it imports and `device` is CUDA (one warning
    otherwise), "torch" always uses the reference, "tcnn" demands tcnn (ConfigError if absent).
    Both backends hold the same parameter table, see `table`.
    """

    def __init__(self, n_levels: int = 16, n_features_per_level: int = 2,
                 log2_hashmap_size: int = 16, base_resolution: int = 16,
                 per_level_scale: float = 1.5, implementation: str = "auto",
                 device: str | torch.device = "cpu", init_scale: float = 1e-4,
                 seed: int = 0) -> None:
        super().__init__()
        if implementation not in IMPLEMENTATIONS:
            raise ConfigError(f"hash grid implementation {implementation!r} not in "
                              f"{IMPLEMENTATIONS}")
        self.layout = hash_grid_layout(n_levels, n_features_per_level, log2_hashmap_size,
                                       base_resolution, per_level_scale)
        cuda = torch.device(device).type == "cuda"
        use_tcnn = implementation == "tcnn" or (implementation == "auto" and cuda and has_tcnn())
        if implementation == "tcnn" and not (cuda and has_tcnn()):
            raise ConfigError("implementation 'tcnn' needs tinycudann and a CUDA device; "
                              "use 'torch' or 'auto'")
        if implementation == "auto" and cuda and not use_tcnn:
            logger.warning("tinycudann not importable: hash grid falls back to pure torch")
        self.backend = "tcnn" if use_tcnn else "torch"
        gen = torch.Generator().manual_seed(seed)
        init = (torch.rand(self.layout.n_params, n_features_per_level, generator=gen) * 2 - 1)
        init = init * init_scale
        if use_tcnn:
            import tinycudann as tcnn

            self._tcnn = tcnn.Encoding(3, self.layout.tcnn_config(), dtype=torch.float32)
            with torch.no_grad():
                self._tcnn.params.copy_(init.reshape(-1))
        else:
            self.params = nn.Parameter(init)

    @property
    def n_output_dims(self) -> int:
        return self.layout.n_levels * self.layout.n_features_per_level

    @property
    def table(self) -> torch.Tensor:
        """The parameter table [n_params, F] (a view of tcnn's flat vector on that backend)."""
        if self.backend == "tcnn":
            return self._tcnn.params.view(self.layout.n_params, -1)
        return self.params

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        """x01: [N, 3] in [0, 1] -> [N, L * F] float32."""
        if self.backend == "tcnn":
            return self._tcnn(x01).float()
        return hash_grid_encode(x01, self.params, self.layout)


def quartic_cdf(x: torch.Tensor, inv_radius: float) -> torch.Tensor:
    """CDF of the quartic (biweight) kernel of radius 1/inv_radius (tcnn's one-blob kernel)."""
    u = x * inv_radius
    u2 = u * u
    return torch.clamp(15.0 / 16.0 * u * (1 - 2.0 / 3.0 * u2 + u2 * u2 / 5.0) + 0.5, 0.0, 1.0)


def one_blob_encode(x01: torch.Tensor, n_bins: int = 16) -> torch.Tensor:
    """One-blob encoding (Müller et al. 2019) as tcnn's ``OneBlob``: bin k of dimension d is the
    quartic-kernel mass of a blob of radius 1/n_bins centred at x[d] inside [k/n, (k+1)/n],
    periodic on [0, 1].

    The kernel spans at most the bins j-1, j, j+1 around j = floor(x * n), so only those three
    are evaluated (unwrapped, then placed modulo n: bin -1 holds the mass of the periodic image,
    exactly the sum over images that `one_blob_reference` computes).
    x01: [N, D] -> [N, D * n_bins], dimension-major.
    """
    j = torch.floor(x01 * n_bins).detach()
    k = j[..., None] + torch.tensor([-1.0, 0.0, 1.0], dtype=x01.dtype, device=x01.device)
    diff = k / n_bins - x01[..., None]                             # [N, D, 3] left edges - x
    vals = quartic_cdf(diff + 1.0 / n_bins, n_bins) - quartic_cdf(diff, n_bins)
    idx = torch.remainder(k.to(torch.int64), n_bins)
    out = torch.zeros(*x01.shape, n_bins, dtype=x01.dtype, device=x01.device)
    return out.scatter(-1, idx, vals).reshape(x01.shape[0], -1)


def one_blob_reference(x01: torch.Tensor, n_bins: int = 16) -> torch.Tensor:
    """Direct form of `one_blob_encode` over all bins and the periodic images x-1, x, x+1."""
    edges = torch.arange(n_bins + 1, dtype=x01.dtype, device=x01.device) / n_bins
    diff = edges[None, None, :] - x01[:, :, None]                  # [N, D, n+1]
    cdf = (quartic_cdf(diff, n_bins) + quartic_cdf(diff - 1.0, n_bins)
           + quartic_cdf(diff + 1.0, n_bins))
    return (cdf[..., 1:] - cdf[..., :-1]).reshape(x01.shape[0], -1)


class OneBlobEncoding(nn.Module):
    """Module wrapper of `one_blob_encode` (no parameters)."""

    def __init__(self, n_bins: int = 16, n_dims: int = 3) -> None:
        super().__init__()
        self.n_bins = n_bins
        self.n_output_dims = n_bins * n_dims

    def forward(self, x01: torch.Tensor) -> torch.Tensor:
        return one_blob_encode(x01, self.n_bins)
