"""Asset completion: partial object observation -> whole coloured mesh, with the tri-plane prior.

Pipeline of `AssetCompleter.complete` (GINA-3D's completion, our CPU-sized reconstruction):
1. validate the observation; fall back (scaled template / observed-only mesh) with the reason
   recorded in `metadata["fallback_reason"]` when it has too few points, a degenerate box, or a
   class the prior was not trained on;
2. encode the visible points into tri-plane tokens; tokens whose plane cells hold enough observed
   points are *supported* and kept;
3. sample the unsupported tokens with the masked-token transformer (k + 1 samples, conditioned
   on class and box). The encoder's own guess of the unsupported tokens is not a candidate: it
   fits the seen side best by construction, so it won the ranking below while its hidden side was
   worse than the samples' (validation split: F 0.861 -> 0.875 without it);
4. rank candidates by evidence fit: |SDF| at observed points, negative SDF at free-space samples
   along the sensor rays, colour error at observed points;
5. add mirror images of the observed points (left-right, front-back, half turn about z) as
   evidence where the best candidate's surface agrees with them (within `symmetry_gate`): the
   prior's feed-forward surface is only a few % of the size accurate, the mirror pins it down;
6. refine the best candidate's decoded tri-plane by gradient steps on the evidence, with a
   pull toward the prior's planes so unseen parts keep the prior's shape;
7. cut the field to the box (it is a tight bound), mesh with marching cubes and stretch unseen
   sides out to the box faces; per-vertex confidence is 1 where observed, else the agreement of
   the k + 1 candidates' SDFs.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
import torch

from slam_nodes.assets.baselines import grid_sdf_fit
from slam_nodes.assets.meshing import mesh_from_grid
from slam_nodes.assets.prior import TriplanePrior
from slam_nodes.assets.samples import CANON_HALF, SDF_TRUNC, from_canonical, sdf_scale, to_canonical
from slam_nodes.assets.shapes import CATEGORIES, make_shape, shape_mesh
from slam_nodes.assets.types import Alternative, AssetError, CompletedAsset, ObjectObservation

logger = logging.getLogger(__name__)

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "triplane_prior.pt"
# typical full box sizes (metres) per class, used when a box is degenerate and points are too few
DEFAULT_BOX_M = {"car": (4.4, 1.8, 1.45), "pedestrian": (0.35, 0.8, 1.75), "furniture": (0.7, 0.9, 0.8),
                 "barrel": (0.58, 0.58, 0.88), "cone": (0.4, 0.4, 0.7), "box": (0.6, 0.6, 0.6)}


# canonical distance from every observed point a mirrored point needs to add evidence
MIRROR_MIN_GAP = 0.04

# detector / generator class names -> the prior's category
CLASS_ALIASES = {"vehicle": "car", "van": "car", "truck": "car", "suv": "car", "person": "pedestrian",
                 "human": "pedestrian", "traffic_cone": "cone", "chair": "furniture", "table": "furniture",
                 "bench": "furniture", "crate": "box", "carton": "box", "drum": "barrel"}


def prior_class(name: str) -> str:
    """The prior category for a class name (itself, an alias, or the name unchanged if unknown)."""
    key = str(name).strip().lower()
    return key if key in CATEGORIES else CLASS_ALIASES.get(key, name)


def load_prior(path: str | Path | None = None) -> TriplanePrior:
    """Load the shipped (or given) prior weights on CPU; AssetError when missing or unreadable."""
    path = Path(path or DEFAULT_WEIGHTS)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
        return TriplanePrior.from_payload(payload)
    except (OSError, RuntimeError, KeyError, TypeError) as err:
        raise AssetError(f"cannot load asset prior weights {path}: {err}") from err


def stretch_to_box(verts: np.ndarray, observed: np.ndarray, tol: float = 0.02) -> np.ndarray:
    """Warp completed vertices [V,3] (canonical) per axis so the mesh spans the given box.

    The box is a tight bound of the object, so its faces are evidence the prior's field can miss
    (its surface a few % short of, or beyond, an unseen face). Per axis, the stretch of the mesh
    beyond the observed points' range [observed [N,3] min, max] is mapped linearly onto the stretch
    between that range and the box face (+-CANON_HALF); vertices within the observed range do not
    move. A side whose observed range reaches the face within `tol` (canonical units, like
    verts and observed) is left alone. The warp is monotonic per axis, so a watertight mesh
    stays watertight.
    """
    out = np.array(verts, dtype=np.float64, copy=True)
    lo_v, hi_v = out.min(0), out.max(0)
    for ax in range(3):
        x = out[:, ax]
        a = float(np.clip(observed[:, ax].min(), lo_v[ax], hi_v[ax]))
        b = float(np.clip(observed[:, ax].max(), lo_v[ax], hi_v[ax]))
        new = x.copy()
        if a > -CANON_HALF + tol and a - lo_v[ax] > 1e-6:
            low = x < a
            new[low] = a - (a - x[low]) * (a + CANON_HALF) / (a - lo_v[ax])
        if b < CANON_HALF - tol and hi_v[ax] - b > 1e-6:
            high = x > b
            new[high] = b + (x[high] - b) * (CANON_HALF - b) / (hi_v[ax] - b)
        out[:, ax] = new
    return out


class AssetCompleter:
    """Completes `ObjectObservation`s into `CompletedAsset`s.

    num_samples k: alternatives reported (k + 1 transformer samples are drawn); refine_steps:
    Adam steps on the tri-plane; mesh_res: marching-cubes grid side over the canonical cube;
    min_points: below this, template fallback;
    keep_min_points: observed points a token's plane cells need to be kept; refine_lr: Adam step
    on the tri-plane features; prior_pull: weight of the squared distance to the prior's planes;
    symmetry_gate: largest |SDF| (canonical) of the prior at a mirrored point for it to count as
    evidence (0 = no mirror evidence); symmetry_weight: its weight relative to observed points.
    """

    def __init__(self, prior: TriplanePrior, num_samples: int = 4, refine_steps: int = 40,
                 mesh_res: int = 56, min_points: int = 20, keep_min_points: int = 4, seed: int = 0,
                 refine_lr: float = 0.01, prior_pull: float = 1.0, symmetry_gate: float = 0.03,
                 symmetry_weight: float = 0.5):
        self.prior = prior.eval()
        self.num_samples = num_samples
        self.refine_steps = refine_steps
        self.mesh_res = mesh_res
        self.min_points = min_points
        self.keep_min_points = keep_min_points
        self.seed = seed
        self.refine_lr = refine_lr
        self.prior_pull = prior_pull
        self.symmetry_gate = symmetry_gate
        self.symmetry_weight = symmetry_weight

    @classmethod
    def from_weights(cls, path: str | Path | None = None, **kwargs) -> "AssetCompleter":
        return cls(load_prior(path), **kwargs)

    # ------------------------------------------------------------------ public
    def complete(self, obs: ObjectObservation) -> CompletedAsset:
        """Complete one observed object (see module docstring). Never raises on bad geometry."""
        t0 = time.perf_counter()
        pts = np.asarray(obs.points_m, dtype=np.float64).reshape(-1, 3)
        finite = np.isfinite(pts).all(axis=1)
        box = np.asarray(obs.box_size_m, dtype=np.float64).reshape(-1)
        box_ok = box.shape == (3,) and bool(np.isfinite(box).all() and (box > 1e-3).all())
        meta = {"n_points": int(finite.sum()), "class_name": obs.class_name, "input_box_size_m": box.tolist()}
        if (~finite).any():
            logger.warning("object %s: dropped %d non-finite points", obs.object_id, int((~finite).sum()))
        keep = finite
        colors, origins = obs.colors, obs.ray_origins_m
        pts = pts[keep]
        colors = None if colors is None or len(colors) != len(keep) else np.asarray(colors)[keep]
        origins = None if origins is None or len(origins) != len(keep) else np.asarray(origins)[keep]

        if box_ok:
            # only points inside the canonical cube (the box plus a 25% margin) are evidence
            inside = (np.abs(to_canonical(pts, box)) < 1.0).all(axis=1)
            meta["n_points_outside_box"] = int((~inside).sum())
            if len(pts) >= self.min_points and inside.sum() >= self.min_points:
                pts = pts[inside]
                colors = None if colors is None else colors[inside]
                origins = None if origins is None else origins[inside]
            elif len(pts) >= self.min_points:
                return self._fallback(obs, pts, colors, None, f"only {int(inside.sum())} of {len(pts)} points inside "
                                      f"the box {box.tolist()}", meta, t0)
        reason = None
        if len(pts) < self.min_points:
            reason = f"only {len(pts)} points (< {self.min_points})"
        elif not box_ok:
            reason = f"degenerate box size {box.tolist()}"
        elif prior_class(obs.class_name) not in CATEGORIES:
            reason = f"class '{obs.class_name}' is not one the prior was trained on {list(CATEGORIES)}"
        if reason is not None:
            return self._fallback(obs, pts, colors, box if box_ok else None, reason, meta, t0)
        return self._complete_with_prior(obs, pts, colors, origins, box, meta, t0)

    # ------------------------------------------------------------------ prior path
    def _evidence(self, pts, colors, origins, box, rng):
        pc = to_canonical(pts, box)
        inside = (np.abs(pc) < 1.0).all(axis=1)
        pc = pc[inside]
        sub = rng.choice(len(pc), min(len(pc), 2048), replace=False)
        ev = {"surf": torch.as_tensor(pc[sub], dtype=torch.float32)[None]}
        if colors is not None:
            ev["rgb"] = torch.as_tensor(colors[inside][sub] / 255.0, dtype=torch.float32)[None]
        if origins is not None:
            oc = to_canonical(origins[inside][sub], box)
            # free space: points along each ray, stopping short of the hit by 4% of the box
            t = rng.uniform(0.0, 1.0, (len(sub), 4))
            ray = pc[sub] - oc
            length = np.linalg.norm(ray, axis=1, keepdims=True)
            stop = np.clip(1.0 - 0.08 / np.maximum(length, 1e-6), 0.0, 1.0)
            free = (oc[:, None] + ray[:, None] * (t[..., None] * stop[:, None])).reshape(-1, 3)
            free = free[(np.abs(free) < 1.0).all(axis=1)]
            ev["free"] = torch.as_tensor(free, dtype=torch.float32)[None]
        return ev, pc

    def _symmetry_evidence(self, planes: torch.Tensor, ev: dict, pc: np.ndarray, colors, rng) -> dict:
        """Mirror images of the observed points that the prior's completion agrees with.

        pc [N,3] canonical observed points. Candidates are the reflections across the box frame's
        xz (left-right) and yz (front-back) planes and the half turn about z; a candidate counts
        as evidence where it lands away from the observed points, outside observed free space, and
        within `symmetry_gate` (canonical SDF) of the prior's surface. Returns {"sym": [1,M,3],
        "sym_rgb": [1,M,3]} or {} when none qualifies.
        """
        if self.symmetry_gate <= 0:
            return {}
        from scipy.spatial import cKDTree

        flips = np.array([[1.0, -1.0, 1.0], [-1.0, 1.0, 1.0], [-1.0, -1.0, 1.0]])
        src = np.tile(np.arange(len(pc)), len(flips))
        cand = (pc[None] * flips[:, None]).reshape(-1, 3)
        ok = cKDTree(pc).query(cand)[0] > MIRROR_MIN_GAP
        if "free" in ev and ev["free"].shape[1]:
            ok &= cKDTree(ev["free"][0].numpy()).query(cand)[0] > 0.03
        cand, src = cand[ok], src[ok]
        if len(cand) == 0:
            return {}
        with torch.no_grad():
            sdf = self.prior.decoder.query(planes, torch.as_tensor(cand, dtype=torch.float32)[None])[0][0].numpy()
        agree = np.abs(sdf) < self.symmetry_gate
        cand, src = cand[agree], src[agree]
        if len(cand) == 0:
            return {}
        sub = rng.choice(len(cand), min(len(cand), 2048), replace=False)
        out = {"sym": torch.as_tensor(cand[sub], dtype=torch.float32)[None]}
        if colors is not None:
            out["sym_rgb"] = torch.as_tensor(colors[src[sub]] / 255.0, dtype=torch.float32)[None]
        return out

    def _evidence_loss(self, planes: torch.Tensor, ev: dict) -> torch.Tensor:
        """Per-candidate evidence misfit [B] for planes [B, 3, C, H, W]."""
        b = planes.shape[0]
        dec = self.prior.decoder
        sdf, rgb = dec.query(planes, ev["surf"].expand(b, -1, -1))
        loss = sdf.abs().clamp(max=SDF_TRUNC).mean(-1) / SDF_TRUNC
        if "rgb" in ev:
            loss = loss + 0.2 * (rgb - ev["rgb"]).abs().mean((-1, -2))
        if "free" in ev and ev["free"].shape[1]:
            f_sdf, _ = dec.query(planes, ev["free"].expand(b, -1, -1))
            loss = loss + torch.relu(0.01 - f_sdf).clamp(max=SDF_TRUNC).mean(-1) / SDF_TRUNC
        if "sym" in ev:
            s_sdf, s_rgb = dec.query(planes, ev["sym"].expand(b, -1, -1))
            loss = loss + self.symmetry_weight * s_sdf.abs().clamp(max=SDF_TRUNC).mean(-1) / SDF_TRUNC
            if "sym_rgb" in ev:
                loss = loss + self.symmetry_weight * 0.2 * (s_rgb - ev["sym_rgb"]).abs().mean((-1, -2))
        return loss

    def _complete_with_prior(self, obs, pts, colors, origins, box, meta, t0) -> CompletedAsset:
        rng = np.random.default_rng(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        prior, cfg = self.prior, self.prior.cfg
        ev, pc = self._evidence(pts, colors, origins, box, rng)
        n_in = 512
        take = rng.choice(len(pc), n_in, replace=len(pc) < n_in)
        rgb_in = colors[take] / 255.0 if colors is not None else np.full((n_in, 3), 0.5)
        with torch.no_grad():
            ids, counts = prior.encode_ids(torch.as_tensor(pc[take], dtype=torch.float32)[None],
                                           torch.as_tensor(rgb_in, dtype=torch.float32)[None],
                                           torch.ones(1, n_in))
            # counts are of the n_in resampled points; rescale to the real number of points
            support = counts * (len(pc) / n_in)
            keep = support >= self.keep_min_points
            cls = torch.full((1,), CATEGORIES.index(prior_class(obs.class_name)), dtype=torch.long)
            log_box = torch.as_tensor(np.log(box), dtype=torch.float32)[None]
            temps = torch.linspace(0.6, 1.0, self.num_samples + 1)
            samples = [prior.sample_tokens(ids, keep, cls, log_box, temperature=float(t), generator=gen)
                       for t in temps]
            planes = prior.planes_from_ids(torch.cat(samples))
            scores = self._evidence_loss(planes, ev)
        order = scores.argsort()
        best = int(order[0])
        t_sample = time.perf_counter() - t0
        sym = self._symmetry_evidence(planes[best:best + 1], ev, pc, colors, rng)
        refined = self._refine(planes[best:best + 1].clone(), {**ev, **sym})
        grid_vals, lo, spacing = self._grid(refined, box)
        mesh = mesh_from_grid(grid_vals, lo, spacing, color_fn=lambda v: self._color(refined, v))
        if mesh is None:
            return self._fallback(obs, pts, colors, box, "completed field has no surface", meta, t0)
        # per-vertex observed flag and confidence (candidate agreement) in canonical coordinates
        vc = np.asarray(mesh.vertices)
        from scipy.spatial import cKDTree

        observed = cKDTree(pc).query(vc)[0] < 0.05
        with torch.no_grad():
            v = torch.as_tensor(vc, dtype=torch.float32)[None]
            sd = prior.decoder.query(planes, v.expand(len(planes), -1, -1))[0]
        conf = np.exp(-sd.std(0).numpy() / 0.03)
        conf[observed] = 1.0
        mesh.vertices = from_canonical(stretch_to_box(vc, pc), box)
        alternatives = []
        for i in order[1:].tolist():
            vals, lo_a, sp_a = self._grid(planes[i:i + 1], box, res=32)
            m = mesh_from_grid(vals, lo_a, sp_a)
            if m is not None:
                m.vertices = from_canonical(stretch_to_box(np.asarray(m.vertices), pc), box)
                alternatives.append(Alternative(float(scores[i]), m))
        meta.update({
            "method": "prior", "fallback_reason": None, "prior_class": prior_class(obs.class_name),
            "num_tokens": cfg.num_tokens,
            "kept_tokens": int(keep.sum()), "symmetry_points": int(sym["sym"].shape[1]) if sym else 0,
            "candidate_scores": [round(float(s), 5) for s in scores],
            "chosen_candidate": f"sample_{best}",
            "fraction_vertices_observed": float(observed.mean()),
            "mean_confidence_observed": float(conf[observed].mean()) if observed.any() else None,
            "mean_confidence_completed": float(conf[~observed].mean()) if (~observed).any() else None,
            "time_sampling_s": round(t_sample, 3), "time_total_s": round(time.perf_counter() - t0, 3),
        })
        return CompletedAsset(obs.object_id, obs.class_name, box.copy(), np.asarray(obs.T_world_object, float),
                              mesh, observed, conf.astype(np.float32), alternatives, meta, obs.stamp_ns)

    def _refine(self, planes: torch.Tensor, ev: dict) -> torch.Tensor:
        """Adam steps on the decoded tri-plane against the evidence, pulled toward the start."""
        start = planes.detach()
        p = start.clone().requires_grad_(True)
        opt = torch.optim.Adam([p], lr=self.refine_lr)
        for _ in range(self.refine_steps):
            loss = self._evidence_loss(p, ev).sum() + self.prior_pull * (p - start).pow(2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        return p.detach()

    def _grid(self, planes: torch.Tensor, box: np.ndarray, res: int | None = None):
        """SDF grid [res]^3 over the canonical cube of planes [1, ...], cut to `box` (metres)."""
        res = res or self.mesh_res
        axes = torch.linspace(-1, 1, res)
        xyz = torch.stack(torch.meshgrid(axes, axes, axes, indexing="ij"), -1).reshape(1, -1, 3)
        with torch.no_grad():
            vals = torch.cat([self.prior.decoder.query(planes, c)[0] for c in xyz.split(65536, 1)], 1)
        vals = vals.view(res, res, res).numpy()
        # the object lies in its box: intersect the field with the box's SDF (canonical units)
        half = np.asarray(box, float) / 2
        q = np.abs(from_canonical(xyz[0].numpy().astype(np.float64), box)) - half
        box_sdf = (np.linalg.norm(np.maximum(q, 0.0), axis=1) + np.minimum(q.max(axis=1), 0.0)) * sdf_scale(box)
        vals = np.maximum(vals, box_sdf.reshape(res, res, res))
        return vals, np.full(3, -1.0), np.full(3, 2.0 / (res - 1))

    def _color(self, planes: torch.Tensor, verts: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.prior.decoder.query(planes, torch.as_tensor(verts, dtype=torch.float32)[None])[1][0].numpy()

    # ------------------------------------------------------------------ fallbacks
    def _fallback(self, obs, pts, colors, box, reason: str, meta: dict, t0: float) -> CompletedAsset:
        """Observed-only mesh (enough points) or a class template / grey box scaled to the box."""
        logger.warning("object %s (%s): fallback: %s", obs.object_id, obs.class_name, reason)
        method = "template"
        mesh = None
        # an observed-only mesh needs enough points spread over more than 5 cm
        if len(pts) >= self.min_points and float(np.ptp(pts, axis=0).max()) > 0.05:
            fit_box = box if box is not None else np.maximum(np.ptp(pts, axis=0), 1e-2)
            centre = np.zeros(3) if box is not None else (pts.min(0) + pts.max(0)) / 2
            mesh, _ = grid_sdf_fit(pts - centre, fit_box * 1.1, res=24, steps=80, seed=self.seed)
            if mesh is not None:
                mesh.apply_translation(centre)
                method, box = "observed_only", fit_box
                if colors is not None:
                    from scipy.spatial import cKDTree

                    rgb = np.asarray(colors)[cKDTree(pts).query(mesh.vertices)[1]]
                    mesh.visual.vertex_colors = np.hstack([rgb, np.full((len(rgb), 1), 255)]).astype(np.uint8)
        if mesh is None:
            box = box if box is not None else np.asarray(DEFAULT_BOX_M.get(prior_class(obs.class_name), (0.5, 0.5, 0.5)))
            if prior_class(obs.class_name) in CATEGORIES:
                template = make_shape(prior_class(obs.class_name), 0)
                mesh = shape_mesh(template, 64)
                mesh.vertices = np.asarray(mesh.vertices) / template.box_size_m * box
            else:
                import trimesh

                mesh = trimesh.creation.box(extents=box)
                mesh.visual.vertex_colors = np.tile([128, 128, 128, 255], (len(mesh.vertices), 1)).astype(np.uint8)
        meta.update({"method": method, "fallback_reason": reason,
                     "time_total_s": round(time.perf_counter() - t0, 3)})
        nv = len(mesh.vertices)
        observed = np.zeros(nv, bool) if method == "template" else np.ones(nv, bool)
        return CompletedAsset(obs.object_id, obs.class_name, np.asarray(box, float),
                              np.asarray(obs.T_world_object, float), mesh, observed,
                              observed.astype(np.float32), [], meta, obs.stamp_ns)
