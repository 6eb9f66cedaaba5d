"""Train the tri-plane asset prior on procedural shapes (CPU, bounded).

Stage 1: point encoder -> VQ tri-plane tokens -> SDF + colour decoder, on full and emulated
partial views (so encoding a partial object already completes part of it).
Stage 2: MaskGIT transformer over the tokens of full shapes, conditioned on class and box.

    .venv/bin/python scripts/train_asset_prior.py --out slam_nodes/assets/weights

writes triplane_prior.pt and triplane_prior.json (steps, wall time, losses). Defaults finish in
well under an hour on 2 idle cores; --stage1-steps/--stage2-steps bound a shorter run.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from slam_nodes.assets.prior import PriorConfig, TriplanePrior
from slam_nodes.assets.samples import SDF_TRUNC, batch, encoder_input, make_pool
from slam_nodes.assets.shapes import TRAIN_SEEDS

logger = logging.getLogger("train_asset_prior")


def stage1_loss(model: TriplanePrior, b: dict[str, torch.Tensor]):
    z, _ = model.encoder(b["pts"], b["rgb"], b["w"])
    zq, ids, vq_loss = model.quantizer(z)
    sdf, rgb = model.decoder.query(model.decoder.planes(zq), b["q"])
    gt = b["q_sdf"].clamp(-SDF_TRUNC, SDF_TRUNC)
    sdf_loss = (sdf.clamp(-SDF_TRUNC, SDF_TRUNC) - gt).abs().mean() / SDF_TRUNC
    near = (b["q_sdf"].abs() < 0.03).float()[..., None]
    rgb_loss = ((rgb - b["q_rgb"]).abs() * near).sum() / near.sum().clamp(min=1) / 3
    return sdf_loss + 0.5 * rgb_loss + vq_loss, sdf_loss, rgb_loss, vq_loss, ids


def restart_dead_codes(model: TriplanePrior, usage: torch.Tensor, z_pool: torch.Tensor, rng) -> int:
    """Re-initialise codebook rows unused since the last check to random encoder outputs."""
    dead = torch.nonzero(usage == 0).flatten()
    if len(dead) and len(z_pool):
        pick = torch.as_tensor(rng.integers(0, len(z_pool), len(dead)))
        with torch.no_grad():
            model.quantizer.codebook.weight[dead] = z_pool[pick]
    return len(dead)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path("slam_nodes/assets/weights"))
    ap.add_argument("--per-class", type=int, default=80, help="training shapes per category")
    ap.add_argument("--stage1-steps", type=int, default=6000)
    ap.add_argument("--stage2-steps", type=int, default=3000)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    pool = make_pool(TRAIN_SEEDS, args.per_class, rng_seed=args.seed)
    t_pool = time.time() - t0
    logger.info("pool of %d shapes in %.1f s", len(pool), t_pool)

    cfg = PriorConfig()
    model = TriplanePrior(cfg)
    params1 = [*model.encoder.parameters(), *model.quantizer.parameters(), *model.decoder.parameters()]
    opt = torch.optim.Adam(params1, lr=2e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / args.stage1_steps)))
    usage = torch.zeros(cfg.codebook_size)
    hist1 = []
    for step in range(args.stage1_steps):
        ids_b = rng.integers(0, len(pool), args.batch)
        b = {k: torch.as_tensor(v) for k, v in batch(pool, ids_b, 512, 2048, 0.5, rng).items()}
        loss, l_sdf, l_rgb, l_vq, ids = stage1_loss(model, b)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        usage += torch.bincount(ids.flatten(), minlength=cfg.codebook_size).float()
        hist1.append([loss.item(), l_sdf.item(), l_rgb.item(), l_vq.item()])
        if step % 250 == 249:
            n_dead = 0
            if step < 0.8 * args.stage1_steps:  # stop restarting codes for the last 20%
                with torch.no_grad():
                    z, _ = model.encoder(b["pts"], b["rgb"], b["w"])
                z_pool = z.permute(0, 1, 3, 4, 2).reshape(-1, cfg.code_dim)
                n_dead = restart_dead_codes(model, usage, z_pool, rng)
            usage.zero_()
            logger.info("stage1 %d loss %.4f sdf %.4f rgb %.4f vq %.4f dead codes reset %d (%.0f s)",
                        step + 1, *np.mean(hist1[-250:], 0), n_dead, time.time() - t0)
    t_stage1 = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.to_payload(), args.out / "triplane_prior_stage1.pt")  # checkpoint, not shipped

    # stage 2: tokens of full shapes (several encoder draws per shape)
    model.eval()
    tokens, cls, log_box = [], [], []
    with torch.no_grad():
        for rep in range(4):
            for s in pool:
                p, c, w = encoder_input(s, 512, False, rng)
                ids, _ = model.encode_ids(torch.as_tensor(p)[None], torch.as_tensor(c)[None], torch.as_tensor(w)[None])
                tokens.append(ids[0])
                cls.append(s.class_id)
                log_box.append(np.log(s.box_size_m))
    tokens, cls = torch.stack(tokens), torch.as_tensor(cls)
    log_box = torch.as_tensor(np.stack(log_box))
    tf = model.transformer
    tf.train()
    opt2 = torch.optim.AdamW(tf.parameters(), lr=1e-3, weight_decay=0.01)
    sched2 = torch.optim.lr_scheduler.LambdaLR(
        opt2, lambda s: min(1.0, (s + 1) / 100) * 0.5 * (1 + math.cos(math.pi * s / args.stage2_steps)))
    hist2 = []
    L = cfg.num_tokens
    for step in range(args.stage2_steps):
        sel = torch.as_tensor(rng.integers(0, len(tokens), 32))
        tgt = tokens[sel]
        ratio = torch.cos(torch.as_tensor(rng.uniform(0, 1, (len(sel), 1))) * math.pi / 2).float()
        mask = torch.rand(len(sel), L) < ratio.clamp(min=1.0 / L)
        inp = torch.where(mask, torch.full_like(tgt, tf.mask_id), tgt)
        logits = tf(inp, cls[sel], log_box[sel].float())
        loss = F.cross_entropy(logits[mask], tgt[mask], label_smoothing=0.1)
        opt2.zero_grad()
        loss.backward()
        opt2.step()
        sched2.step()
        acc = (logits[mask].argmax(-1) == tgt[mask]).float().mean()
        hist2.append([loss.item(), acc.item()])
        if step % 250 == 249:
            logger.info("stage2 %d ce %.4f acc %.3f (%.0f s)", step + 1, *np.mean(hist2[-250:], 0), time.time() - t0)
    model.eval()
    wall = time.time() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    torch.save(model.to_payload(), args.out / "triplane_prior.pt")
    record = {
        "stage1_steps": args.stage1_steps, "stage2_steps": args.stage2_steps, "batch": args.batch,
        "shapes_per_class": args.per_class, "threads": args.threads, "seed": args.seed,
        "wall_time_s": round(wall, 1), "pool_time_s": round(t_pool, 1), "stage1_time_s": round(t_stage1 - t_pool, 1),
        "stage1_final_loss": dict(zip(["total", "sdf_l1_norm", "rgb_l1", "vq"],
                                      np.round(np.mean(hist1[-200:], 0), 5).tolist())),
        "stage2_final": dict(zip(["cross_entropy", "masked_token_accuracy"],
                                 np.round(np.mean(hist2[-200:], 0), 5).tolist())),
        "config": model.to_payload()["config"],
        "note": "trained on a shared 2-core machine under load; wall time is not an idle-machine figure",
    }
    (args.out / "triplane_prior.json").write_text(json.dumps(record, indent=2))
    logger.info("saved %s (%.0f s)", args.out / "triplane_prior.pt", wall)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
