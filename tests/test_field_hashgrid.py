"""Hash grid and one-blob encodings against direct references (tiny-cuda-nn's formulas)."""

from __future__ import annotations

import math

import pytest
import torch

from slam_nodes.errors import ConfigError
from slam_nodes.field.encodings import (PRIMES, HashGridEncoding, hash_grid_encode,
                                        hash_grid_indices, hash_grid_layout, one_blob_encode,
                                        one_blob_reference)
from slam_nodes.optional import has_tcnn


def _loop_reference(x, table, n_levels, log2_size, base_res, b):
    """Per-point, per-level, per-corner Python implementation of tcnn's HashGrid."""
    out = []
    offset = 0
    for p in x.tolist():
        feats = []
        offset = 0
        for level in range(n_levels):
            scale = 2.0 ** (level * math.log2(b)) * base_res - 1.0
            res = math.ceil(scale) + 1
            size = min(((res ** 3 + 7) // 8) * 8, 1 << log2_size)
            pos = [c * scale + 0.5 for c in p]
            g = [math.floor(v) for v in pos]
            f = [v - gg for v, gg in zip(pos, g)]
            acc = [0.0] * table.shape[1]
            for corner in range(8):
                w = 1.0
                c = []
                for d in range(3):
                    hi = (corner >> d) & 1
                    w *= f[d] if hi else 1 - f[d]
                    c.append(g[d] + hi)
                stride, idx = 1, 0
                for d in range(3):
                    if stride > size:
                        break
                    idx += c[d] * stride
                    stride *= res
                if size < stride:
                    idx = 0
                    for d in range(3):
                        idx ^= (c[d] * PRIMES[d]) & 0xFFFFFFFF
                row = offset + idx % size
                for k in range(table.shape[1]):
                    acc[k] += w * float(table[row, k])
            feats.extend(acc)
            offset += size
        out.append(feats)
    return torch.tensor(out, dtype=torch.float64)


def test_layout_matches_tcnn_formulas():
    lay = hash_grid_layout(16, 2, 16, 16, 1.3819)
    assert lay.resolutions[0] == 16 and lay.sizes[0] == 16 ** 3
    for lvl in range(16):
        scale = 2 ** (lvl * math.log2(1.3819)) * 16 - 1
        assert lay.resolutions[lvl] == math.ceil(scale) + 1
    # dense while res^3 fits 2^16, hashed afterwards; table offsets are cumulative
    assert lay.hashed == tuple(r ** 3 > 2 ** 16 for r in lay.resolutions)
    assert lay.hashed[0] is False and lay.hashed[-1] is True
    assert lay.offsets[3] == sum(lay.sizes[:3])
    assert all(s <= 2 ** 16 and s % 8 == 0 for s in lay.sizes)


def test_encode_matches_loop_reference_dense_and_hashed_levels():
    g = torch.Generator().manual_seed(3)
    lay = hash_grid_layout(5, 2, 10, 5, 1.5)        # levels 0-1 dense, 2-4 hashed
    assert lay.hashed == (False, False, True, True, True)
    table = torch.randn(lay.n_params, 2, generator=g, dtype=torch.float64)
    x = torch.rand(25, 3, generator=g, dtype=torch.float64)
    x[0] = 0.0
    x[1] = 1.0 - 1e-9                                # top corner: indices wrap modulo size
    ref = _loop_reference(x, table, 5, 10, 5, 1.5)
    got = hash_grid_encode(x, table, lay)
    assert torch.allclose(got, ref, atol=1e-12)
    rows, w = hash_grid_indices(x, lay)
    assert torch.allclose(w.sum(-1), torch.ones(25, 5, dtype=torch.float64))
    assert int(rows.max()) < lay.n_params and int(rows.min()) >= 0


def test_encode_gradients_match_finite_differences():
    lay = hash_grid_layout(2, 2, 6, 3, 2.0)         # one dense, one hashed level
    assert lay.hashed == (False, True)
    g = torch.Generator().manual_seed(0)
    table = torch.randn(lay.n_params, 2, generator=g, dtype=torch.float64, requires_grad=True)
    x = (torch.rand(6, 3, generator=g, dtype=torch.float64) * 0.8 + 0.1).requires_grad_()
    assert torch.autograd.gradcheck(lambda a, t: hash_grid_encode(a, t, lay), (x, table))


def test_module_parameters_and_init():
    enc = HashGridEncoding(4, 2, 12, 8, 1.5, implementation="torch", seed=1)
    assert enc.backend == "torch"
    assert enc.table.shape == (enc.layout.n_params, 2)
    assert float(enc.table.abs().max()) <= 1e-4
    assert enc(torch.rand(10, 3)).shape == (10, 8)
    with pytest.raises(ConfigError):
        HashGridEncoding(implementation="cuda-magic")
    if not has_tcnn():
        with pytest.raises(ConfigError):
            HashGridEncoding(implementation="tcnn", device="cpu")


@pytest.mark.skipif(not has_tcnn(), reason="tinycudann with CUDA not available")
def test_tcnn_backend_agrees_with_torch():
    ref = HashGridEncoding(8, 2, 14, 16, 1.5, implementation="torch", seed=2).cuda()
    fast = HashGridEncoding(8, 2, 14, 16, 1.5, implementation="tcnn", device="cuda", seed=2)
    with torch.no_grad():
        fast.table.copy_(torch.randn_like(fast.table) * 0.1)
        ref.params.copy_(fast.table)
    x = torch.rand(4096, 3, device="cuda")
    assert torch.allclose(fast(x), ref(x), atol=1e-4)


def test_one_blob_matches_direct_periodic_form():
    x = torch.rand(500, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x[:3] = torch.tensor([[0.0, 1 / 16, 1 - 1e-9]], dtype=torch.float64).T
    enc = one_blob_encode(x, 16)
    ref = one_blob_reference(x, 16)
    assert torch.allclose(enc, ref, atol=1e-12)
    # each dimension's bins hold the whole kernel mass
    assert torch.allclose(enc.reshape(500, 3, 16).sum(-1), torch.ones(500, 3, dtype=torch.float64))
    # a blob centred in bin 5 puts its largest mass in bin 5, symmetric neighbours
    c = one_blob_encode(torch.tensor([[5.5 / 16, 0.5, 0.5]], dtype=torch.float64))[0, :16]
    assert int(c.argmax()) == 5 and abs(float(c[4] - c[6])) < 1e-12 and float(c[3]) == 0.0
