"""The scene field: world point (metres) -> SDF (truncation units) and radiance.

`SdfField` normalises world points into the unit cube of its axis-aligned `bounds_m`
([2, 3]: min, max corner in the world frame), encodes them with a hash grid plus a one-blob
encoding and decodes SDF and colour. The SDF output is in units of the truncation distance
(Co-SLAM's convention: sdf_m = sdf * truncation_m), which keeps the MLP output O(1).
Points outside the bounds are clamped to the boundary; callers mask them (`inside`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from slam_nodes.errors import ConfigError
from slam_nodes.field.decoders import ColorDecoder, SdfDecoder
from slam_nodes.field.encodings import HashGridEncoding, OneBlobEncoding, per_level_scale_for


class SdfField(nn.Module):
    """Hash-grid SDF + colour field inside fixed world bounds.

    bounds_m: [2, 3] world-frame min/max corners in metres.
    finest_voxel_m: cell size of the finest hash level (Co-SLAM: 2 cm), sets per_level_scale.
    """

    def __init__(self, bounds_m: np.ndarray, n_levels: int = 16, n_features_per_level: int = 2,
                 log2_hashmap_size: int = 16, base_resolution: int = 16,
                 finest_voxel_m: float = 0.02, one_blob_bins: int = 16, geo_dims: int = 15,
                 mlp_width: int = 32, mlp_hidden_layers: int = 2, implementation: str = "auto",
                 device: str | torch.device = "cpu", seed: int = 0) -> None:
        super().__init__()
        # rounded to float32 first, so a reload from the float32 buffer rebuilds the same grid
        bounds = np.asarray(bounds_m, dtype=np.float32).astype(np.float64).reshape(2, 3)
        extent = bounds[1] - bounds[0]
        if not np.all(np.isfinite(bounds)) or np.any(extent <= 0):
            raise ConfigError(f"scene bounds must be finite with max > min, got {bounds.tolist()}")
        self.register_buffer("bounds", torch.tensor(bounds, dtype=torch.float32))
        finest_res = float(extent.max() / finest_voxel_m)
        torch.manual_seed(seed)
        self.grid = HashGridEncoding(
            n_levels, n_features_per_level, log2_hashmap_size, base_resolution,
            per_level_scale_for(finest_res, base_resolution, n_levels), implementation,
            device, seed=seed)
        self.blob = OneBlobEncoding(one_blob_bins, 3)
        self.sdf_head = SdfDecoder(self.grid.n_output_dims + self.blob.n_output_dims, geo_dims,
                                   mlp_width, mlp_hidden_layers)
        self.color_head = ColorDecoder(self.blob.n_output_dims + geo_dims, mlp_width,
                                       mlp_hidden_layers)
        self.to(device)

    def normalize(self, x_m: torch.Tensor) -> torch.Tensor:
        """World points [N, 3] metres -> unit-cube coordinates [N, 3], clamped to [0, 1]."""
        lo, hi = self.bounds[0], self.bounds[1]
        return ((x_m - lo) / (hi - lo)).clamp(0.0, 1.0)

    def inside(self, x_m: torch.Tensor) -> torch.Tensor:
        """Bool [...] mask of world points [..., 3] inside the bounds."""
        return ((x_m >= self.bounds[0]) & (x_m <= self.bounds[1])).all(dim=-1)

    def forward(self, x_m: torch.Tensor, with_color: bool = True
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """x_m: [N, 3] world metres -> (sdf [N] truncation units, radiance [N, 3] or None)."""
        x01 = self.normalize(x_m)
        blob = self.blob(x01)
        sdf, geo = self.sdf_head(torch.cat([blob, self.grid(x01)], dim=-1))
        if not with_color:
            return sdf, None
        return sdf, self.color_head(torch.cat([blob, geo], dim=-1))

    def sdf(self, x_m: torch.Tensor) -> torch.Tensor:
        """SDF [N] (truncation units) of world points [N, 3]."""
        return self.forward(x_m, with_color=False)[0]

    def color(self, x_m: torch.Tensor) -> torch.Tensor:
        """Radiance [N, 3] in (0, 1) of world points [N, 3]."""
        return self.forward(x_m, with_color=True)[1]
