"""Procedural surface albedo: a function of 3D world position, surface normal and material.

Textures are evaluated at ray hit points (no UV maps), so every surface carries texture at any
resolution. For speed the procedural patterns are baked once per process into a few tileable
pattern images (`TILE_UNITS` pattern units per side, `TEXELS_PER_UNIT` texels per unit), looked
up tri-planarly: the two world coordinates across the hit's dominant normal axis, times the
material's `scale_per_m` (pattern units per metre) plus its offset, index the pattern with
bilinear interpolation from the mip level matching the pixel's footprint (box-filtered levels,
so distant or grazing surfaces do not alias). With scale 1.5-5 units/m a tile spans 6-21 m, so
patterns do not visibly repeat inside one wall, and a texel is 0.6-2 cm.

Patterns (values in [0, 1], mixed between a material's two colours):
  0 "noise":   band-limited noise from sinusoidal waves of 1-11 cycles per unit;
  1 "checker": a checker of unit cells plus noise;
  2 "stripes": stripes along a random direction plus noise;
  3 "bricks":  staggered bricks with mortar lines plus noise;
  4 "fine":    fine-grained noise (asphalt, fabric).
Every pattern contains the noise, so photometric gradients exist everywhere.
Albedo is linear reflectance in [0, 1] per RGB channel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

PATTERN_NAMES = ("noise", "checker", "stripes", "bricks", "fine")
TILE_UNITS = 32
TEXELS_PER_UNIT = 32
_SIZE = TILE_UNITS * TEXELS_PER_UNIT  # 1024, a power of two


def _waves(rng: np.random.Generator, uv: np.ndarray, n: int, lo: float, hi: float) -> np.ndarray:
    """Sum of n tileable sinusoids with lo..hi cycles per unit, normalised to about [-1, 1]."""
    out = np.zeros(uv.shape[1:], dtype=np.float32)
    freqs = np.geomspace(lo, hi, n)
    amps = 1.0 / np.sqrt(np.arange(1, n + 1))
    for f, a in zip(freqs, amps):
        angle = rng.uniform(0, 2 * np.pi)
        # integer cycles per tile keeps the pattern tileable
        k = np.round(f * TILE_UNITS * np.array([np.cos(angle), np.sin(angle)]))
        phase = np.float32(rng.uniform(0, 2 * np.pi))
        kx, ky = (np.float32(2 * np.pi * k[i] / TILE_UNITS) for i in range(2))
        out += np.float32(a) * np.sin(kx * uv[0] + ky * uv[1] + phase)
    return out / np.float32(amps.sum())


@functools.cache
def pattern_bank() -> np.ndarray:
    """All pattern images, float32 [P, S, S] in [0, 1] (S = TILE_UNITS * TEXELS_PER_UNIT);
    deterministic and computed once per process."""
    rng = np.random.default_rng(20240613)
    coords = (np.arange(_SIZE, dtype=np.float32) + 0.5) / TEXELS_PER_UNIT  # pattern units
    uv = np.stack(np.meshgrid(coords, coords, indexing="xy"))

    def sharpen(x: np.ndarray, k: float) -> np.ndarray:
        return 0.5 + 0.5 * np.tanh(k * x)

    bank = []
    noise = sharpen(_waves(rng, uv, 7, 1.0, 11.0), 2.5)
    bank.append(noise)
    checker = sharpen(np.sin(np.pi * uv[0]) * np.sin(np.pi * uv[1]), 6.0)
    bank.append(0.65 * checker + 0.35 * sharpen(_waves(rng, uv, 5, 2.0, 12.0), 2.0))
    k = np.array([3.0, 1.0])  # stripes: 3 cycles per unit along a slanted, tileable direction
    stripes = sharpen(np.sin(2 * np.pi * (k[0] * uv[0] + k[1] * uv[1]) / 2.0), 3.0)
    bank.append(0.6 * stripes + 0.4 * sharpen(_waves(rng, uv, 5, 1.5, 10.0), 2.0))
    row = np.floor(uv[1] * 4.0)  # bricks: 0.25 units high, 0.5 units long, staggered
    bx = np.mod(uv[0] * 2.0 + 0.5 * np.mod(row, 2), 1.0)
    by = np.mod(uv[1] * 4.0, 1.0)
    mortar = (np.minimum(bx, 1 - bx) < 0.04) | (np.minimum(by, 1 - by) < 0.08)
    brick_tone = np.sin(row * 12.9898 + np.floor(uv[0] * 2.0 + 0.5 * np.mod(row, 2)) * 78.233)
    brick_tone = np.mod(brick_tone * 43758.5453, 1.0)
    bricks = np.where(mortar, 0.95, 0.2 + 0.4 * brick_tone)
    bank.append(0.75 * bricks + 0.25 * sharpen(_waves(rng, uv, 5, 3.0, 14.0), 2.0))
    bank.append(sharpen(_waves(rng, uv, 8, 4.0, 15.0), 3.0))
    return np.stack(bank).astype(np.float32)


@functools.cache
def mip_bank() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(flat float32 array of all patterns at all mip levels, level start offsets [L],
    level sizes [L]); level l is the 2^l x 2^l box-filtered pattern of size S >> l."""
    level = pattern_bank()
    levels = [level]
    while levels[-1].shape[-1] > 16:
        a = levels[-1]
        levels.append(0.25 * (a[:, ::2, ::2] + a[:, 1::2, ::2] + a[:, ::2, 1::2] + a[:, 1::2, 1::2]))
    sizes = np.array([lv.shape[-1] for lv in levels], dtype=np.int64)
    starts = np.cumsum([0] + [lv.size for lv in levels[:-1]]).astype(np.int64)
    return np.concatenate([lv.reshape(-1) for lv in levels]), starts, sizes


@dataclass(frozen=True)
class Material:
    """One procedural material.

    colour_a, colour_b: linear RGB albedo in [0, 1] at pattern value 0 and 1.
    pattern: index into PATTERN_NAMES. scale_per_m: pattern units per metre.
    offset: (u, v) shift in pattern units.
    """

    colour_a: tuple[float, float, float]
    colour_b: tuple[float, float, float]
    pattern: int
    scale_per_m: float
    offset: tuple[float, float]


def random_material(rng: np.random.Generator, dark: bool = False,
                    pattern: int | None = None) -> Material:
    """A random material; `dark` ones have albedo below ~0.06 (depth sensors lose them)."""
    hue = rng.uniform(0.2, 1.0, size=3)
    hue /= hue.max()
    if dark:
        lo, hi = rng.uniform(0.01, 0.02), rng.uniform(0.03, 0.06)
    else:
        lo, hi = rng.uniform(0.3, 0.45), rng.uniform(0.55, 0.85)
    tint = rng.uniform(0.6, 1.0, size=3)
    colour_a = tuple(float(v) for v in lo * hue)
    colour_b = tuple(float(v) for v in np.clip(hi * hue * tint + 0.15 * (1 - hue) * hi, 0, 1))
    if pattern is None:
        pattern = int(rng.integers(len(PATTERN_NAMES)))
    return Material(
        colour_a=colour_a,
        colour_b=colour_b,
        pattern=int(pattern),
        scale_per_m=float(rng.uniform(1.5, 5.0)),
        offset=(float(rng.uniform(0, TILE_UNITS)), float(rng.uniform(0, TILE_UNITS))),
    )


class MaterialTable:
    """Materials as arrays, evaluated for many hit points at once."""

    def __init__(self, materials: list[Material]) -> None:
        if not materials:
            raise ValueError("a material table needs at least one material")
        self.materials = list(materials)
        f32 = np.float32
        self.colour_a = np.array([m.colour_a for m in materials], dtype=f32)
        self.colour_delta = np.array([m.colour_b for m in materials], dtype=f32) - self.colour_a
        self.pattern = np.array([m.pattern for m in materials], dtype=np.int32)
        # texels per metre and texel offsets
        self.texel_scale = np.array([m.scale_per_m for m in materials], dtype=f32) * TEXELS_PER_UNIT
        self.texel_offset = np.array([m.offset for m in materials], dtype=f32) * TEXELS_PER_UNIT
        self._flat, starts, sizes = mip_bank()
        self._level_start, self._level_size = starts.astype(np.int32), sizes.astype(np.int32)

    def __len__(self) -> int:
        return len(self.materials)

    def pattern_value(self, points: np.ndarray, normals: np.ndarray, material_ids: np.ndarray,
                      footprint_m: np.ndarray | None = None) -> np.ndarray:
        """Pattern value float32 [N] in [0,1] of world points [N,3] with normals [N,3].

        footprint_m [N]: size of the pixel's footprint on the surface (metres); the mip level
        whose texels match it is used (nearest level), which removes texture aliasing. None:
        full resolution.
        """
        mid = np.asarray(material_ids)
        ax, ay, az = np.abs(normals).T
        x_dom = (ax >= ay) & (ax >= az)
        z_dom = ~x_dom & (az >= ay)
        # coordinates across the dominant axis: x-facing -> (y, z), y -> (x, z), z -> (x, y)
        u = np.where(x_dom, points[:, 1], points[:, 0])
        v = np.where(z_dom, points[:, 1], points[:, 2])
        shift = np.where(x_dom, np.float32(0.0), np.where(z_dom, np.float32(211.0), np.float32(97.0)))
        scale, offset = self.texel_scale[mid], self.texel_offset[mid]
        u = u * scale + (offset[:, 0] + shift)
        v = v * scale + (offset[:, 1] + shift)
        n_levels = len(self._level_size)
        if footprint_m is None:
            level = np.zeros(len(u), dtype=np.int32)
        else:
            texels = np.maximum(footprint_m * scale, 1.0)
            level = np.minimum(np.round(np.log2(texels)).astype(np.int32), n_levels - 1)
            inv = np.ldexp(np.float32(1.0), -level).astype(np.float32)
            u, v = u * inv - 0.5 + 0.5 * inv, v * inv - 0.5 + 0.5 * inv
        size = self._level_size[level]
        mask = size - 1  # sizes are powers of two
        u0, v0 = np.floor(u), np.floor(v)
        fu, fv = u - u0, v - v0
        iu0 = u0.astype(np.int32) & mask  # int32: the whole bank has < 2^31 texels
        iv0 = v0.astype(np.int32) & mask
        iu1 = (iu0 + 1) & mask
        row0 = self._level_start[level] + self.pattern[mid] * size * size + iv0 * size
        row1 = row0 + (((iv0 + 1) & mask) - iv0) * size
        f = self._flat
        v00, v01 = f[row0 + iu0], f[row0 + iu1]
        v10, v11 = f[row1 + iu0], f[row1 + iu1]
        top = v00 + (v01 - v00) * fu
        bottom = v10 + (v11 - v10) * fu
        return top + (bottom - top) * fv

    def albedo(self, points: np.ndarray, normals: np.ndarray, material_ids: np.ndarray,
               footprint_m: np.ndarray | None = None) -> np.ndarray:
        """Linear RGB albedo float32 [N,3] in [0,1] of world points [N,3] (metres) with unit
        normals [N,3] on materials `material_ids` [N] (indices into this table); footprint_m
        [N] selects the mip level (see pattern_value)."""
        mid = np.asarray(material_ids)
        value = self.pattern_value(points, normals, mid, footprint_m)
        return self.colour_a[mid] + self.colour_delta[mid] * value[:, None]
