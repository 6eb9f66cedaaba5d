"""Score one run against ground truth and write its report: the library side of `slam-nodes eval`.

`evaluate_to_dir` reads the estimate (TUM file, run folder or bag topic), the ground truth (TUM
file or bag topic), optionally the two meshes, computes the metrics of `trajectory` and `mesh`,
and writes the run-folder files (`slam_nodes.eval` docstring) into `out_dir`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from slam_nodes.errors import EvalError
from slam_nodes.eval.report import METRICS_FILE, make_out_dir, write_report
from slam_nodes.eval.sources import RUN_TRAJECTORY, load_trajectory
from slam_nodes.types.camera import CameraModel
from slam_nodes.types.pose import invert_pose, write_tum

logger = logging.getLogger(__name__)

RUN_MESH = "mesh.ply"


def evaluate_to_dir(
    out_dir: str | Path,
    *,
    est: str | Path,
    gt: str | Path | None = None,
    est_topic: str | None = None,
    gt_topic: str | None = None,
    mesh: str | Path | None = None,
    gt_mesh: str | Path | None = None,
    camera: CameraModel | None = None,
    max_diff_s: float = 0.02,
    alignment: str = "se3",
    rpe_delta_s: float = 1.0,
    num_samples: int = 200_000,
    cull: bool = True,
    seed: int = 0,
    name: str | None = None,
    figures: bool = True,
    mesh_alignment: str = "origin",
) -> dict:
    """Evaluate and write metrics.json / report.md / figures into out_dir; return the metrics.

    est: TUM file, run folder (its trajectory.tum and, with gt_mesh, its mesh.ply) or bag.
    gt: TUM file or bag (gt_topic: pose topic or PARENT->CHILD TF chain); None skips ATE/RPE.
    mesh / gt_mesh: mesh files (world frame, metres); camera: intrinsics for culling and depth
    L1 from the ground-truth poses (T_world_cam).
    mesh_alignment: how the reconstruction is brought into the ground-truth frame before it is
      scored: "origin" (default; T = G_0 inv(E_0) from the first associated pose pair, right
      for a mesh in the SLAM system's own world, and the identity for a system started at the
      ground-truth pose), "trajectory" (the Umeyama alignment of the ATE, p -> R (s p) + t; its
      rotation is poorly constrained when the path is short or straight) or "none".
    Raises EvalError on bad input.
    """
    from slam_nodes.eval.mesh import load_mesh, mesh_metrics, sample_surface
    from slam_nodes.eval.trajectory import evaluate_trajectory

    est_path = Path(est)
    out = Path(out_dir)
    run_dir = est_path if est_path.is_dir() and (est_path / RUN_TRAJECTORY).is_file() else None
    if mesh is None and gt_mesh is not None and run_dir is not None \
            and (run_dir / RUN_MESH).is_file():
        mesh = run_dir / RUN_MESH
    if (mesh is None) != (gt_mesh is None):
        raise EvalError("mesh evaluation needs both --mesh (or a run folder with mesh.ply) "
                        "and --gt-mesh")
    if gt is None and gt_mesh is None:
        raise EvalError("nothing to evaluate: give --gt (trajectory) and/or --gt-mesh")

    est_traj = load_trajectory(est_path, est_topic)
    traj_result = None
    if gt is not None:
        gt_traj = load_trajectory(gt, gt_topic)
        traj_result = evaluate_trajectory(est_traj, gt_traj, max_diff_s=max_diff_s,
                                          alignment=alignment, rpe_delta_s=rpe_delta_s)
    mesh_result, rec_mesh, gt_points = None, None, None
    if gt_mesh is not None:
        rec_mesh = load_mesh(mesh, "reconstructed mesh")
        if traj_result is not None:
            scale, T = _mesh_transform(mesh_alignment, traj_result, est_traj)
            rec_mesh.vertices = (scale * np.asarray(rec_mesh.vertices)) @ T[:3, :3].T + T[:3, 3]
        elif mesh_alignment != "none":
            logger.info("no trajectory to align the mesh with: scoring it as it is")
        gt_m = load_mesh(gt_mesh, "ground-truth mesh")
        poses = traj_result.gt_poses if traj_result is not None else None
        if camera is None and cull:
            logger.info("no camera intrinsics given: mesh metrics are not culled")
        mesh_result = mesh_metrics(rec_mesh, gt_m, num_samples=num_samples, seed=seed,
                                   poses=poses, camera=camera, cull=cull)
        gt_points = sample_surface(gt_m, min(num_samples, 100_000), seed + 1)

    make_out_dir(out)
    if run_dir is None or run_dir.resolve() != out.resolve():
        try:
            write_tum(out / RUN_TRAJECTORY, est_traj)
        except OSError as err:
            raise EvalError(f"cannot write {out / RUN_TRAJECTORY}: {err}") from err
    inputs = {
        "estimate": str(est_path) + (f" [{est_topic}]" if est_topic else ""),
        "ground_truth": (str(gt) + (f" [{gt_topic}]" if gt_topic else "")) if gt else None,
        "mesh": str(mesh) if mesh else None,
        "gt_mesh": str(gt_mesh) if gt_mesh else None,
        "alignment": alignment,
        "max_diff_s": max_diff_s,
        "num_samples": num_samples if gt_mesh else None,
        "mesh_alignment": mesh_alignment if gt_mesh and traj_result is not None else None,
    }
    return write_report(
        out, name=name or (run_dir or est_path).resolve().name, trajectory=traj_result,
        mesh=mesh_result, rec_mesh=rec_mesh, gt_mesh_points=gt_points,
        inputs={k: v for k, v in inputs.items() if v is not None},
        extra=_previous_extra(run_dir), figures=figures,
    )


MESH_ALIGNMENTS = ("origin", "trajectory", "none")


def _mesh_transform(how: str, result, est) -> tuple[float, np.ndarray]:
    """(scale, T [4,4]) that move the reconstruction into the ground-truth frame."""
    if how not in MESH_ALIGNMENTS:
        raise EvalError(f"unknown mesh alignment {how!r}; expected one of {MESH_ALIGNMENTS}")
    if how == "none":
        return 1.0, np.eye(4)
    if how == "trajectory":
        return result.scale, result.T_gt_est
    # origin: the first associated pair; the estimate's raw pose nearest that stamp
    i = int(np.argmin(np.abs(est.stamps_ns - result.stamps_ns[0])))
    return 1.0, result.gt_poses[0] @ invert_pose(est.poses[i])


def _previous_extra(run_dir: Path | None) -> dict:
    """`extra` numbers a producer (e.g. the baseline's frames/s) left in the run's metrics.json."""
    if run_dir is None or not (run_dir / METRICS_FILE).is_file():
        return {}
    try:
        return dict(json.loads((run_dir / METRICS_FILE).read_text()).get("extra") or {})
    except (OSError, ValueError, AttributeError) as err:
        logger.warning("ignoring unreadable %s: %s", run_dir / METRICS_FILE, err)
        return {}
