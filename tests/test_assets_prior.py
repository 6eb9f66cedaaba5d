"""The shipped tri-plane prior: VQ tokenizer round trip and masked-token sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from slam_nodes.assets.completion import load_prior
from slam_nodes.assets.samples import SDF_TRUNC, shape_samples
from slam_nodes.assets.shapes import CATEGORIES, HELD_OUT_SEEDS, make_shape


@pytest.fixture(scope="module")
def prior():
    return load_prior()


@pytest.fixture(scope="module")
def held_out():
    rng = np.random.default_rng(0)
    return [shape_samples(make_shape(c, HELD_OUT_SEEDS[0] + 7), rng=rng) for c in CATEGORIES]


def _encode(prior, s, n=512, seed=0):
    rng = np.random.default_rng(seed)
    take = rng.choice(len(s.surf), n, replace=False)
    p = torch.as_tensor(s.surf[take])[None]
    c = torch.as_tensor(s.surf_rgb[take])[None]
    return prior.encode_ids(p, c, torch.ones(1, n))[0]


def _sdf_error(prior, ids, s):
    """Mean |SDF| error (canonical, truncated) near the surface and sign accuracy everywhere."""
    with torch.no_grad():
        sdf, rgb = prior.decoder.query(prior.planes_from_ids(ids), torch.as_tensor(s.query)[None])
    sdf = sdf[0].numpy()
    near = np.abs(s.query_sdf) < 0.05
    err = np.abs(np.clip(sdf, -SDF_TRUNC, SDF_TRUNC) - np.clip(s.query_sdf, -SDF_TRUNC, SDF_TRUNC))[near].mean()
    far = np.abs(s.query_sdf) > 0.02
    sign = (np.sign(sdf[far]) == np.sign(s.query_sdf[far])).mean()
    col = np.abs(rgb[0].numpy() - s.query_rgb)[np.abs(s.query_sdf) < 0.01].mean()
    return err, sign, col


def test_tokenizer_round_trip_reconstructs_held_out_shapes(prior, held_out):
    cfg = prior.cfg
    for s in held_out:
        ids = _encode(prior, s)
        assert ids.shape == (1, cfg.num_tokens) and ids.dtype == torch.long
        assert 0 <= int(ids.min()) and int(ids.max()) < cfg.codebook_size
        err, sign, col = _sdf_error(prior, ids, s)
        # SDF error bound near the surface (canonical units; the box spans 1.6) and sign accuracy
        assert err < 0.03, (CATEGORIES[s.class_id], err)
        assert sign > 0.95, (CATEGORIES[s.class_id], sign)
        assert col < 0.2, (CATEGORIES[s.class_id], col)
        # tokens carry the shape: another category's tokens decode much worse
        other = held_out[(s.class_id + 1) % len(held_out)]
        wrong = _sdf_error(prior, _encode(prior, other), s)[0]
        assert wrong > 1.5 * err


def test_tokens_depend_on_the_shape_more_than_on_point_sampling(prior, held_out):
    s, other = held_out[0], held_out[3]
    a, b = _encode(prior, s, seed=1), _encode(prior, s, seed=2)
    same = (a == b).float().mean()
    different = (a == _encode(prior, other, seed=1)).float().mean()
    assert same > different + 0.2, (same, different)


def test_masked_sampling_keeps_given_tokens_and_fills_the_rest(prior, held_out):
    s = held_out[0]
    ids = _encode(prior, s)
    keep = torch.zeros_like(ids, dtype=torch.bool)
    keep[:, : ids.shape[1] // 2] = True
    cls = torch.tensor([s.class_id])
    log_box = torch.as_tensor(np.log(s.box_size_m))[None].float()
    out = prior.sample_tokens(ids, keep, cls, log_box, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out[keep], ids[keep])
    assert int(out.max()) < prior.cfg.codebook_size  # no mask token left
    # the filled half decodes to a plausible shape: sign accuracy well above chance
    assert _sdf_error(prior, out, s)[1] > 0.85
