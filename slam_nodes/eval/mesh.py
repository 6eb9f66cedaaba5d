"""Mesh metrics: accuracy, completion, completion ratio, F-score and depth L1 (DESIGN.md section 7).

Both meshes are sampled uniformly on their surface (`num_samples` points each, 200k by default,
seeded). Distances are nearest-neighbour distances between the two sample sets (scipy cKDTree):

- accuracy (cm): mean distance from reconstruction samples to ground-truth samples;
- completion (cm): mean distance from ground-truth samples to reconstruction samples;
- completion ratio (%): share of ground-truth samples closer than 5 cm to the reconstruction;
- precision / recall / F-score (%) at 1, 2 and 5 cm.

Culling (on by default when camera poses are given): only samples that some camera saw count,
for both meshes. A sample is seen by a view when it projects inside the image, lies between
`near_m` and `far_m` in front of the camera, and is not behind the ground-truth surface rendered
from that view (Open3D RaycastingScene) by more than `occlusion_tol_m`.

Depth L1 (cm): both meshes are rendered (ray cast) from the ground-truth poses; the mean absolute
depth difference over pixels where both are hit, plus the share of ground-truth pixels the
reconstruction covers.

Frames: mesh vertices in the world frame (metres); poses are T_world_cam (optical frame).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slam_nodes.errors import EvalError
from slam_nodes.types.camera import CameraModel
from slam_nodes.types.pose import invert_pose

logger = logging.getLogger(__name__)

M_TO_CM = 100.0
DEFAULT_THRESHOLDS_M: tuple[float, ...] = (0.01, 0.02, 0.05)


@dataclass
class MeshResult:
    """Mesh metrics of a reconstruction against ground truth.

    accuracy_cm, completion_cm: mean distances (cm); completion_ratio_pct: % of GT samples < 5 cm.
    precision_pct / recall_pct / fscore_pct: threshold in cm (as text, e.g. "1") -> %.
    num_rec_samples / num_gt_samples: samples that count (after culling).
    culled: whether culling was applied; rec_seen_pct / gt_seen_pct: % of samples kept.
    depth_l1_cm / depth_coverage_pct: rendered depth comparison (None when not computed).
    rec_points [N,3], rec_dist_m [N]: kept reconstruction samples and their distance to GT.
    """

    accuracy_cm: float
    completion_cm: float
    completion_ratio_pct: float
    precision_pct: dict[str, float]
    recall_pct: dict[str, float]
    fscore_pct: dict[str, float]
    num_rec_samples: int
    num_gt_samples: int
    culled: bool
    rec_seen_pct: float
    gt_seen_pct: float
    depth_l1_cm: float | None = None
    depth_coverage_pct: float | None = None
    rec_points: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)), repr=False)
    rec_dist_m: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)

    def summary(self) -> dict:
        """JSON-ready dict of the scalar results."""
        return {
            "accuracy_cm": self.accuracy_cm,
            "completion_cm": self.completion_cm,
            "completion_ratio_pct": self.completion_ratio_pct,
            "precision_pct": self.precision_pct,
            "recall_pct": self.recall_pct,
            "fscore_pct": self.fscore_pct,
            "num_rec_samples": self.num_rec_samples,
            "num_gt_samples": self.num_gt_samples,
            "culled": self.culled,
            "rec_seen_pct": self.rec_seen_pct,
            "gt_seen_pct": self.gt_seen_pct,
            "depth_l1_cm": self.depth_l1_cm,
            "depth_coverage_pct": self.depth_coverage_pct,
        }


def load_mesh(path: str | Path, name: str = "mesh"):
    """Read a triangle mesh file (PLY, OBJ, ...) with trimesh and clean it (see `clean_mesh`)."""
    import trimesh

    path = Path(path)
    if not path.is_file():
        raise EvalError(f"{name} file {path} does not exist")
    try:
        mesh = trimesh.load(path, force="mesh", process=False)
    except Exception as err:  # trimesh raises many types for malformed files
        raise EvalError(f"cannot read {name} {path}: {err}") from err
    return clean_mesh(mesh, f"{name} {path}")


def clean_mesh(mesh, name: str = "mesh"):
    """Copy of a trimesh.Trimesh without degenerate (zero-area) or non-finite faces.

    Raises EvalError when the mesh has no faces, or none survive cleaning.
    """
    import trimesh

    if not isinstance(mesh, trimesh.Trimesh):
        raise EvalError(f"{name} is not a triangle mesh (got {type(mesh).__name__})")
    vertices = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64).reshape(-1, 3)
    if len(vertices) == 0 or len(faces) == 0:
        raise EvalError(f"{name} is empty: no triangles ({len(vertices)} vertices, "
                        f"{len(faces)} faces; a point cloud is not a mesh)")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise EvalError(f"{name} has face indices outside its {len(vertices)} vertices")
    tri = vertices[faces]
    finite = np.isfinite(tri).all(axis=(1, 2))
    area = np.zeros(len(faces))
    cross = np.cross(tri[finite, 1] - tri[finite, 0], tri[finite, 2] - tri[finite, 0])
    area[finite] = 0.5 * np.linalg.norm(cross, axis=1)
    good = finite & (area > 1e-14)
    if not good.any():
        raise EvalError(f"{name} has only degenerate or non-finite faces ({len(faces)} faces)")
    if not good.all():
        logger.warning("%s: dropped %d degenerate or non-finite face(s) of %d",
                       name, int((~good).sum()), len(faces))
    out = trimesh.Trimesh(vertices=np.where(np.isfinite(vertices), vertices, 0.0),
                          faces=faces[good], process=False)
    out.remove_unreferenced_vertices()
    return out


def sample_surface(mesh, num_samples: int, seed: int = 0) -> np.ndarray:
    """`num_samples` points [N,3] drawn uniformly by area on the mesh surface (seeded)."""
    import trimesh

    if num_samples <= 0:
        raise EvalError(f"num_samples must be positive, got {num_samples}")
    points, _ = trimesh.sample.sample_surface(mesh, int(num_samples), seed=seed)
    return np.asarray(points, dtype=np.float64)


def raycast_depth(mesh, pose: np.ndarray, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Z-depth [H,W] (metres, inf where nothing is hit) and triangle ids [H,W] (-1 for no hit)
    of `mesh` seen from camera pose T_world_cam [4,4] (Open3D RaycastingScene)."""
    scene = _scene(mesh)
    return _cast(scene, pose, camera)


def visible_mask(
    points: np.ndarray,
    poses: np.ndarray,
    camera: CameraModel,
    occluder,
    *,
    max_views: int = 100,
    render_scale: float = 0.25,
    near_m: float = 0.05,
    far_m: float = 10.0,
    occlusion_tol_m: float = 0.05,
) -> np.ndarray:
    """Mask [N] of world points [N,3] seen by at least one of the camera poses [V,4,4].

    At most `max_views` poses (evenly spaced) are used; occlusion depth maps of the `occluder`
    mesh are rendered at `render_scale` of the camera's resolution.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    poses = _subsample(np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4), max_views)
    small = camera.scaled(render_scale) if render_scale != 1.0 else camera
    dirs = _ray_dirs(small)
    scene = _scene(occluder)
    seen = np.zeros(len(pts), dtype=bool)
    # points no view has seen yet as float32 columns (um precision at room scale), compacted
    # as views see them; column arithmetic beats [N,3] @ [3,3] matmuls several times here
    todo = np.arange(len(pts))
    cols = [np.ascontiguousarray(pts[:, k], dtype=np.float32) for k in range(3)]
    for pose in poses:
        if len(todo) == 0:
            break
        T = invert_pose(pose).astype(np.float32)
        z = cols[0] * T[2, 0] + cols[1] * T[2, 1] + cols[2] * T[2, 2] + T[2, 3]
        cand = np.flatnonzero((z > near_m) & (z < far_m))  # depth first: most points fail here
        if len(cand) == 0:
            continue
        c = [col[cand] for col in cols]
        p_cam = np.stack([c[0] * T[r, 0] + c[1] * T[r, 1] + c[2] * T[r, 2] + T[r, 3]
                          for r in range(3)], axis=1)
        uv, inside = small.project(p_cam)
        if not inside.any():
            continue
        cand, z_in, uv = cand[inside], p_cam[inside, 2], uv[inside]
        depth, _ = _cast(scene, pose, small, dirs)
        u = np.clip(np.round(uv[:, 0]).astype(np.int64), 0, small.width - 1)
        v = np.clip(np.round(uv[:, 1]).astype(np.int64), 0, small.height - 1)
        now = cand[z_in <= depth[v, u] + occlusion_tol_m]
        if len(now):
            seen[todo[now]] = True
            keep = np.ones(len(todo), dtype=bool)
            keep[now] = False
            todo = todo[keep]
            cols = [col[keep] for col in cols]
    return seen


def mesh_metrics(
    rec,
    gt,
    *,
    num_samples: int = 200_000,
    seed: int = 0,
    thresholds_m: tuple[float, ...] = DEFAULT_THRESHOLDS_M,
    completion_threshold_m: float = 0.05,
    poses: np.ndarray | None = None,
    camera: CameraModel | None = None,
    cull: bool = True,
    depth_l1: bool = True,
    max_views: int = 100,
    occlusion_tol_m: float = 0.05,
    workers: int = 2,
) -> MeshResult:
    """Accuracy, completion, completion ratio and F-scores of mesh `rec` against mesh `gt`.

    rec, gt: trimesh.Trimesh in the world frame (metres), cleaned here.
    poses [V,4,4] T_world_cam and camera: when both are given, culling (if `cull`) and depth L1
    (if `depth_l1`) use them. Raises EvalError on empty or fully degenerate meshes.
    """
    from scipy.spatial import cKDTree

    rec = clean_mesh(rec, "reconstructed mesh")
    gt = clean_mesh(gt, "ground-truth mesh")
    rec_pts = sample_surface(rec, num_samples, seed)
    gt_pts = sample_surface(gt, num_samples, seed + 1)
    n_rec0, n_gt0 = len(rec_pts), len(gt_pts)
    have_views = poses is not None and camera is not None and len(poses) > 0
    culled = bool(cull and have_views)
    if culled:
        # one pass over the views for both sample sets (each view is rendered once)
        seen = visible_mask(np.concatenate([rec_pts, gt_pts]), poses, camera, gt,
                            max_views=max_views, occlusion_tol_m=occlusion_tol_m)
        rec_pts, gt_pts = rec_pts[seen[:n_rec0]], gt_pts[seen[n_rec0:]]
        if len(rec_pts) == 0 or len(gt_pts) == 0:
            raise EvalError(
                f"after culling to the camera views, {len(rec_pts)} reconstruction and "
                f"{len(gt_pts)} ground-truth samples remain; are the poses in the mesh frame?"
            )
    d_rec, _ = cKDTree(gt_pts).query(rec_pts, k=1, workers=workers)
    d_gt, _ = cKDTree(rec_pts).query(gt_pts, k=1, workers=workers)
    precision, recall, fscore = {}, {}, {}
    for th in thresholds_m:
        key = f"{th * M_TO_CM:g}"
        p = float(np.mean(d_rec < th))
        r = float(np.mean(d_gt < th))
        precision[key], recall[key] = 100 * p, 100 * r
        fscore[key] = 100 * (2 * p * r / (p + r)) if p + r > 0 else 0.0
    result = MeshResult(
        accuracy_cm=float(np.mean(d_rec)) * M_TO_CM,
        completion_cm=float(np.mean(d_gt)) * M_TO_CM,
        completion_ratio_pct=100.0 * float(np.mean(d_gt < completion_threshold_m)),
        precision_pct=precision,
        recall_pct=recall,
        fscore_pct=fscore,
        num_rec_samples=len(rec_pts),
        num_gt_samples=len(gt_pts),
        culled=culled,
        rec_seen_pct=100.0 * len(rec_pts) / n_rec0,
        gt_seen_pct=100.0 * len(gt_pts) / n_gt0,
        rec_points=rec_pts,
        rec_dist_m=d_rec,
    )
    if depth_l1 and have_views:
        result.depth_l1_cm, result.depth_coverage_pct = rendered_depth_l1(
            rec, gt, poses, camera, max_views=max_views)
    return result


def rendered_depth_l1(
    rec, gt, poses: np.ndarray, camera: CameraModel, *, max_views: int = 100,
    render_scale: float = 0.25,
) -> tuple[float, float]:
    """Mean |depth_rec - depth_gt| in cm over pixels both meshes hit, and the % of pixels hit
    by the ground truth that the reconstruction also hits, over up to `max_views` poses."""
    poses = _subsample(np.asarray(poses, dtype=np.float64).reshape(-1, 4, 4), max_views)
    small = camera.scaled(render_scale) if render_scale != 1.0 else camera
    scene_rec, scene_gt = _scene(rec), _scene(gt)
    dirs = _ray_dirs(small)
    total, count, gt_hits = 0.0, 0, 0
    for pose in poses:
        d_rec, _ = _cast(scene_rec, pose, small, dirs)
        d_gt, _ = _cast(scene_gt, pose, small, dirs)
        hit_gt = np.isfinite(d_gt)
        both = hit_gt & np.isfinite(d_rec)
        total += float(np.abs(d_rec[both] - d_gt[both]).sum())
        count += int(both.sum())
        gt_hits += int(hit_gt.sum())
    if gt_hits == 0:
        raise EvalError("the ground-truth mesh is not visible from any of the given poses")
    l1 = total / count * M_TO_CM if count else float("nan")
    return l1, 100.0 * count / gt_hits


def _subsample(poses: np.ndarray, max_views: int) -> np.ndarray:
    if not np.isfinite(poses).all():
        raise EvalError("camera poses contain NaN or inf values")
    if len(poses) <= max_views:
        return poses
    return poses[np.linspace(0, len(poses) - 1, max_views).round().astype(int)]


def _scene(mesh):
    import open3d as o3d

    scene = o3d.t.geometry.RaycastingScene()
    tmesh = o3d.t.geometry.TriangleMesh()
    tmesh.vertex.positions = o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32))
    tmesh.triangle.indices = o3d.core.Tensor(np.asarray(mesh.faces, dtype=np.int32))
    scene.add_triangles(tmesh)
    return scene


def _ray_dirs(camera: CameraModel) -> np.ndarray:
    """Camera-frame ray directions [H*W,3] float32 with z = 1 (so t_hit is the z-depth)."""
    return camera.ray_directions().reshape(-1, 3).astype(np.float32)


def _cast(scene, pose: np.ndarray, camera: CameraModel,
          dirs: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Ray cast from pose T_world_cam; returns z-depth [H,W] (inf: no hit) and triangle ids
    [H,W] (-1: no hit). dirs: `_ray_dirs(camera)`, computed here when not given."""
    import open3d as o3d

    if dirs is None:
        dirs = _ray_dirs(camera)
    rays = np.empty((len(dirs), 6), dtype=np.float32)
    rays[:, :3] = pose[:3, 3]
    rays[:, 3:] = dirs @ pose[:3, :3].T.astype(np.float32)
    ans = scene.cast_rays(o3d.core.Tensor(rays))
    depth = ans["t_hit"].numpy().reshape(camera.height, camera.width)
    ids = ans["primitive_ids"].numpy().astype(np.int64).reshape(camera.height, camera.width)
    ids[~np.isfinite(depth)] = -1
    return depth, ids
