"""Tri-plane shape prior (GINA-3D design at CPU scale), in torch.

Coordinates are *canonical*: the object's box is mapped per axis onto [-0.8, 0.8]^3 (see
`slam_nodes.assets.samples.to_canonical`), and SDF values are metric distances times
0.8 / (largest box half-extent). Shapes of tensors are given as [B, ...] with B objects.

- `PointEncoder`: object points (+ colour) -> continuous tri-plane features z_e [B, 3, D, T, T]
  (T = token grid side, D = code dimension), by scattering per-point features onto each plane.
- `VectorQuantizer`: nearest codebook entry per tri-plane cell (token), straight-through gradient,
  codebook + commitment losses (VQ-VAE).
- `TriplaneDecoder`: tokens -> tri-plane [B, 3, C, 2T, 2T] -> (SDF, RGB) at query points via bilinear
  plane sampling and a small MLP.
- `MaskedTokenTransformer`: MaskGIT-style bidirectional transformer over the 3*T*T tokens,
  conditioned on the class and the log box size, predicting masked tokens.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

# plane p uses canonical axes PLANE_AXES[p] as (u, v); the third axis is projected out
PLANE_AXES = ((0, 1), (0, 2), (1, 2))


@dataclass(frozen=True)
class PriorConfig:
    """Sizes of the prior. `token_res` T: tokens per plane side; planes are decoded at 2T."""

    num_classes: int = 6
    token_res: int = 8
    code_dim: int = 16
    codebook_size: int = 128
    plane_channels: int = 8
    point_feat: int = 32
    mlp_width: int = 64
    tf_width: int = 64
    tf_layers: int = 2
    tf_heads: int = 4

    @property
    def num_tokens(self) -> int:
        return 3 * self.token_res * self.token_res


def plane_coords(points: torch.Tensor) -> torch.Tensor:
    """Canonical points [B, N, 3] -> per-plane (u, v) coordinates [B, 3, N, 2] in [-1, 1]."""
    return torch.stack([points[..., list(ax)] for ax in PLANE_AXES], dim=1)


class PointEncoder(nn.Module):
    """Points [B, N, 3] canonical + rgb [B, N, 3] in [0,1] + weights [B, N] (0 = padding)
    -> z_e [B, 3, D, T, T] and per-token point counts [B, 3, T, T]."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        f = cfg.point_feat
        self.point_mlp = nn.Sequential(nn.Linear(6, f), nn.ReLU(), nn.Linear(f, f), nn.ReLU())
        self.plane_emb = nn.Parameter(torch.zeros(3, f + 1, 1, 1))
        self.conv = nn.Sequential(
            nn.Conv2d(f + 1, f, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f, f, 3, padding=1), nn.ReLU(),
            nn.Conv2d(f, f, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(f, cfg.code_dim, 3, padding=1),
        )

    def forward(self, points: torch.Tensor, rgb: torch.Tensor, weights: torch.Tensor):
        cfg = self.cfg
        res = 2 * cfg.token_res
        b, n, _ = points.shape
        feat = self.point_mlp(torch.cat([points, rgb], dim=-1)) * weights[..., None]  # [B,N,F]
        uv = plane_coords(points.clamp(-1, 1 - 1e-6))  # [B,3,N,2]
        cell = ((uv + 1) / 2 * res).long().clamp(0, res - 1)
        flat = cell[..., 0] * res + cell[..., 1]  # [B,3,N]
        f = feat.shape[-1]
        sums = feat.new_zeros(b, 3, res * res, f)
        idx = flat[..., None].expand(b, 3, n, f)
        sums.scatter_add_(2, idx, feat[:, None].expand(b, 3, n, f))
        counts = feat.new_zeros(b, 3, res * res)
        counts.scatter_add_(2, flat, weights[:, None].expand(b, 3, n))
        mean = sums / counts.clamp(min=1.0)[..., None]
        occ = (counts > 0).float()[..., None]
        grid = torch.cat([mean, occ], -1).view(b, 3, res, res, f + 1).permute(0, 1, 4, 2, 3)
        grid = grid + self.plane_emb[None]
        z = self.conv(grid.reshape(b * 3, f + 1, res, res))
        z = z.view(b, 3, cfg.code_dim, cfg.token_res, cfg.token_res)
        token_counts = F.avg_pool2d(counts.view(b * 3, 1, res, res), 2).view(b, 3, cfg.token_res, cfg.token_res) * 4
        return z, token_counts


class VectorQuantizer(nn.Module):
    """Nearest-neighbour codebook [K, D]; straight-through estimator; returns (z_q, ids, loss)."""

    def __init__(self, cfg: PriorConfig, beta: float = 0.25):
        super().__init__()
        self.codebook = nn.Embedding(cfg.codebook_size, cfg.code_dim)
        nn.init.uniform_(self.codebook.weight, -1.0 / cfg.codebook_size, 1.0 / cfg.codebook_size)
        self.beta = beta

    def ids(self, z: torch.Tensor) -> torch.Tensor:
        """z [B, 3, D, T, T] -> token ids [B, 3*T*T] (plane-major, row-major)."""
        flat = z.permute(0, 1, 3, 4, 2).reshape(z.shape[0], -1, z.shape[2])
        d = (flat.pow(2).sum(-1, keepdim=True) - 2 * flat @ self.codebook.weight.T
             + self.codebook.weight.pow(2).sum(-1)[None, None])
        return d.argmin(-1)

    def lookup(self, ids: torch.Tensor, token_res: int) -> torch.Tensor:
        """Token ids [B, 3*T*T] -> z_q [B, 3, D, T, T]."""
        b = ids.shape[0]
        q = self.codebook(ids).view(b, 3, token_res, token_res, -1)
        return q.permute(0, 1, 4, 2, 3).contiguous()

    def forward(self, z: torch.Tensor):
        ids = self.ids(z)
        q = self.lookup(ids, z.shape[-1])
        loss = F.mse_loss(q, z.detach()) + self.beta * F.mse_loss(z, q.detach())
        return z + (q - z).detach(), ids, loss


class TriplaneDecoder(nn.Module):
    """z_q [B, 3, D, T, T] -> planes [B, 3, C, 2T, 2T]; planes + points [B, N, 3] -> sdf [B, N], rgb [B, N, 3]."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        c, w = cfg.plane_channels, cfg.mlp_width
        self.up = nn.Sequential(
            nn.Conv2d(cfg.code_dim, 32, 3, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, c, 3, padding=1),
        )
        self.plane_emb = nn.Parameter(torch.zeros(3, cfg.code_dim, 1, 1))
        self.mlp = nn.Sequential(nn.Linear(3 * c + 3, w), nn.Softplus(beta=10), nn.Linear(w, w),
                                 nn.Softplus(beta=10), nn.Linear(w, 4))

    def planes(self, zq: torch.Tensor) -> torch.Tensor:
        b, _, d, t, _ = zq.shape
        x = (zq + self.plane_emb[None]).reshape(b * 3, d, t, t)
        out = self.up(x)
        return out.view(b, 3, out.shape[1], out.shape[2], out.shape[3])

    def query(self, planes: torch.Tensor, points: torch.Tensor):
        b, _, c, _, _ = planes.shape
        uv = plane_coords(points)  # [B,3,N,2]; grid_sample wants (x=col, y=row) = (v, u)
        grid = uv.flip(-1).reshape(b * 3, 1, -1, 2)
        feat = F.grid_sample(planes.reshape(b * 3, c, planes.shape[-2], planes.shape[-1]), grid,
                             mode="bilinear", padding_mode="border", align_corners=False)
        feat = feat.view(b, 3, c, -1).permute(0, 3, 1, 2).reshape(b, -1, 3 * c)
        out = self.mlp(torch.cat([feat, points], -1))
        return out[..., 0], torch.sigmoid(out[..., 1:])


class MaskedTokenTransformer(nn.Module):
    """Bidirectional transformer: token ids [B, L] (mask id = K) + class [B] + log box [B, 3] -> logits [B, L, K]."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        w = cfg.tf_width
        self.mask_id = cfg.codebook_size
        self.tok = nn.Embedding(cfg.codebook_size + 1, w)
        self.pos = nn.Parameter(torch.randn(cfg.num_tokens + 2, w) * 0.02)
        self.cls = nn.Embedding(cfg.num_classes, w)
        self.box = nn.Sequential(nn.Linear(3, w), nn.ReLU(), nn.Linear(w, w))
        layer = nn.TransformerEncoderLayer(w, cfg.tf_heads, 2 * w, dropout=0.0, batch_first=True,
                                           norm_first=True)
        self.body = nn.TransformerEncoder(layer, cfg.tf_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, cfg.codebook_size))

    def forward(self, ids: torch.Tensor, cls: torch.Tensor, log_box: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls(cls)[:, None], self.box(log_box)[:, None], self.tok(ids)], 1) + self.pos[None]
        return self.head(self.body(x)[:, 2:])


class TriplanePrior(nn.Module):
    """The whole prior: encoder, quantiser, decoder (stage 1) and token transformer (stage 2)."""

    def __init__(self, cfg: PriorConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = PointEncoder(cfg)
        self.quantizer = VectorQuantizer(cfg)
        self.decoder = TriplaneDecoder(cfg)
        self.transformer = MaskedTokenTransformer(cfg)

    def encode_ids(self, points, rgb, weights):
        """-> token ids [B, L], token point counts [B, L]."""
        z, counts = self.encoder(points, rgb, weights)
        return self.quantizer.ids(z), counts.reshape(points.shape[0], -1)

    def planes_from_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return self.decoder.planes(self.quantizer.lookup(ids, self.cfg.token_res))

    @torch.no_grad()
    def sample_tokens(self, ids: torch.Tensor, keep: torch.Tensor, cls: torch.Tensor, log_box: torch.Tensor,
                      steps: int = 6, temperature: float = 1.0, generator: torch.Generator | None = None):
        """MaskGIT iterative decoding. ids [B, L] (values at ~keep ignored), keep [B, L] bool.

        Each step samples every masked token, then re-masks the least confident ones following a
        cosine schedule, so that after `steps` steps all tokens are set. Returns ids [B, L].
        """
        ids = torch.where(keep, ids, torch.full_like(ids, self.transformer.mask_id))
        unknown = ~keep
        n_unknown0 = unknown.sum(-1)  # [B]
        for s in range(steps):
            logits = self.transformer(ids, cls, log_box) / max(temperature, 1e-4)
            probs = torch.softmax(logits, -1)
            draw = torch.multinomial(probs.view(-1, probs.shape[-1]), 1, generator=generator).view(ids.shape)
            conf = torch.gather(probs, -1, draw[..., None])[..., 0]
            conf = torch.where(unknown, conf, torch.full_like(conf, float("inf")))
            ratio = math.cos(math.pi / 2 * (s + 1) / steps)
            n_mask = (n_unknown0.float() * ratio).floor().long()  # tokens left masked after this step
            filled = torch.where(unknown, draw, ids)
            order = conf.argsort(-1)  # lowest confidence first
            rank = order.argsort(-1)
            remask = rank < n_mask[:, None]
            ids = torch.where(remask, torch.full_like(ids, self.transformer.mask_id), filled)
            unknown = remask
        return ids

    def to_payload(self) -> dict:
        return {"config": asdict(self.cfg), "state_dict": self.state_dict()}

    @classmethod
    def from_payload(cls, payload: dict) -> "TriplanePrior":
        model = cls(PriorConfig(**payload["config"]))
        model.load_state_dict(payload["state_dict"])
        model.eval()
        return model
