"""Bias-free MLP decoders of the SDF field (Co-SLAM's ColorSDFNet_v2 layout).

SDF head: [one-blob(x), hash(x)] -> [sdf, geo_feat(15)]; colour head: [one-blob(x), geo_feat]
-> radiance in (0, 1) (sigmoid). Bias-free like tcnn's FullyFusedMLP so both backends hold the
same weights. The colour head returns *radiance*; mapping radiance to RGB (a camera response
function with exposure) happens in the renderer's `response` hook, identity for now.
"""

from __future__ import annotations

import torch
from torch import nn


class BiasFreeMLP(nn.Module):
    """Linear(in, width) -> ReLU -> ... -> Linear(width, out), no biases, no output activation.

    n_hidden_layers: number of hidden (width) layers; 0 gives a single linear map.
    """

    def __init__(self, in_dims: int, out_dims: int, width: int = 32, n_hidden_layers: int = 2
                 ) -> None:
        super().__init__()
        dims = [in_dims] + [width] * n_hidden_layers + [out_dims]
        layers: list[nn.Module] = []
        for i in range(len(dims) - 1):
            layers.append(nn.Linear(dims[i], dims[i + 1], bias=False))
            if i < len(dims) - 2:
                layers.append(nn.ReLU(inplace=True))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class SdfDecoder(nn.Module):
    """features [N, C] -> (sdf [N] in truncation units, geo_feat [N, geo_dims])."""

    def __init__(self, in_dims: int, geo_dims: int = 15, width: int = 32,
                 n_hidden_layers: int = 2) -> None:
        super().__init__()
        self.geo_dims = geo_dims
        self.mlp = BiasFreeMLP(in_dims, 1 + geo_dims, width, n_hidden_layers)

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.mlp(feats)
        return out[:, 0], out[:, 1:]


class ColorDecoder(nn.Module):
    """[one-blob [N, B], geo_feat [N, G]] -> radiance [N, 3] in (0, 1)."""

    def __init__(self, in_dims: int, width: int = 32, n_hidden_layers: int = 2) -> None:
        super().__init__()
        self.mlp = BiasFreeMLP(in_dims, 3, width, n_hidden_layers)

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(feats))
