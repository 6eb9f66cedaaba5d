"""Trajectory metrics: ATE and RPE computed with evo's library, so the numbers equal evo's CLI.

Protocol (DESIGN.md section 7): associate estimate and ground truth by nearest timestamp
(max difference `max_diff_s`, default 20 ms, as `evo_ape --t_max_diff 0.02`), align the
estimate to the ground truth with Umeyama (SE(3) by default, Sim(3) optional, or none), and take
the translation error of every associated pose (evo's APE, `translation_part`). RPE is the
translation / rotation error of relative motions over `rpe_delta_s` seconds (default 1 s) and over
one frame, computed on the aligned pairs (evo's RPE).

Units: inputs are `slam_nodes.types.Trajectory` (int64 ns stamps, T_world_body 4x4 metres);
statistics are reported in centimetres (translation) and degrees (rotation). Bad input (NaN
poses, a single pose, no overlapping time) raises `EvalError` with a message naming the input.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import asdict, dataclass
from typing import Literal

import numpy as np

from slam_nodes.errors import EvalError
from slam_nodes.types.pose import Trajectory, invert_pose, matrix_to_quat, rotation_angle

logger = logging.getLogger(__name__)

Alignment = Literal["se3", "sim3", "none"]
ALIGNMENTS: tuple[str, ...] = ("se3", "sim3", "none")
M_TO_CM = 100.0


@dataclass(frozen=True)
class ErrorStats:
    """Summary statistics of one error series (unit given by the field that holds it)."""

    rmse: float
    mean: float
    median: float
    std: float
    min: float
    max: float
    count: int

    @classmethod
    def from_errors(cls, errors: np.ndarray) -> "ErrorStats":
        """Statistics of a 1-D error array, computed the way evo's `PE.get_statistic` does."""
        e = np.asarray(errors, dtype=np.float64).reshape(-1)
        if len(e) == 0:
            raise EvalError("no errors to summarise")
        return cls(
            rmse=float(np.sqrt(np.mean(e * e))),
            mean=float(np.mean(e)),
            median=float(np.median(e)),
            std=float(np.std(e)),
            min=float(np.min(e)),
            max=float(np.max(e)),
            count=int(len(e)),
        )


@dataclass
class TrajectoryResult:
    """ATE/RPE of one estimate against ground truth.

    ate_cm: translation APE after alignment, centimetres.
    rpe_trans_cm / rpe_rot_deg: RPE over `rpe_delta_s` seconds (None when the overlap is
        shorter than that); rpe_frame_trans_cm / rpe_frame_rot_deg: RPE between consecutive pairs.
    alignment: "se3" | "sim3" | "none"; scale: Sim(3) scale (1 otherwise);
    T_gt_est: [4,4] rigid part of the alignment applied to the estimate.
    stamps_ns [M], gt_poses [M,4,4], est_poses [M,4,4] (aligned) and ate_errors_m [M] hold the
    associated pairs for plots.
    """

    ate_cm: ErrorStats
    rpe_trans_cm: ErrorStats | None
    rpe_rot_deg: ErrorStats | None
    rpe_frame_trans_cm: ErrorStats | None
    rpe_frame_rot_deg: ErrorStats | None
    num_pairs: int
    num_est: int
    num_gt: int
    max_diff_s: float
    rpe_delta_s: float
    alignment: str
    scale: float
    T_gt_est: np.ndarray
    stamps_ns: np.ndarray
    gt_poses: np.ndarray
    est_poses: np.ndarray
    ate_errors_m: np.ndarray

    def summary(self) -> dict:
        """JSON-ready dict of the scalar results (no per-pose arrays)."""

        def stats(s: ErrorStats | None) -> dict | None:
            return None if s is None else asdict(s)

        return {
            "ate_cm": stats(self.ate_cm),
            "rpe_trans_cm": stats(self.rpe_trans_cm),
            "rpe_rot_deg": stats(self.rpe_rot_deg),
            "rpe_frame_trans_cm": stats(self.rpe_frame_trans_cm),
            "rpe_frame_rot_deg": stats(self.rpe_frame_rot_deg),
            "num_pairs": self.num_pairs,
            "num_est": self.num_est,
            "num_gt": self.num_gt,
            "max_diff_s": self.max_diff_s,
            "rpe_delta_s": self.rpe_delta_s,
            "alignment": self.alignment,
            "scale": self.scale,
            "T_gt_est": self.T_gt_est.tolist(),
        }


def check_trajectory(traj: Trajectory, name: str) -> Trajectory:
    """Validated copy of `traj` sorted by time, duplicates dropped.

    Raises EvalError for fewer than two poses, NaN/inf values or non-rigid rotations.
    """
    if len(traj) == 0:
        raise EvalError(f"{name} trajectory is empty")
    if len(traj) < 2:
        raise EvalError(f"{name} trajectory has a single pose; ATE/RPE need at least two")
    finite = np.isfinite(traj.poses).all(axis=(1, 2))
    if not finite.all():
        bad = np.flatnonzero(~finite)
        raise EvalError(
            f"{name} trajectory has {len(bad)} pose(s) with NaN or inf values "
            f"(first at stamp {int(traj.stamps_ns[bad[0]])} ns)"
        )
    R = traj.poses[:, :3, :3]
    ortho_err = np.abs(np.einsum("nij,nkj->nik", R, R) - np.eye(3)).max(axis=(1, 2))
    if (ortho_err > 1e-2).any() or (np.linalg.det(R) <= 0).any():  # 7-Scenes GT: ~1e-3
        i = int(np.argmax(ortho_err))
        raise EvalError(
            f"{name} trajectory has non-rotation 3x3 blocks (first at stamp "
            f"{int(traj.stamps_ns[i])} ns)"
        )
    order = np.argsort(traj.stamps_ns, kind="stable")
    stamps = traj.stamps_ns[order]
    keep = np.ones(len(stamps), dtype=bool)
    keep[1:] = stamps[1:] != stamps[:-1]
    if not np.array_equal(order, np.arange(len(order))) or not keep.all():
        logger.warning("%s trajectory: sorted by time and dropped %d duplicate stamp(s)",
                       name, int((~keep).sum()))
    return Trajectory(stamps[keep], traj.poses[order][keep])


def to_evo(traj: Trajectory, name: str = ""):
    """evo `PoseTrajectory3D` of a Trajectory (float seconds, positions, quaternions w-first)."""
    from evo.core.trajectory import PoseTrajectory3D

    q_xyzw = matrix_to_quat(traj.poses[:, :3, :3])
    q_wxyz = np.roll(q_xyzw, 1, axis=1)
    stamps_s = traj.stamps_ns.astype(np.float64) / 1e9
    out = PoseTrajectory3D(
        positions_xyz=traj.positions.copy(), orientations_quat_wxyz=q_wxyz, timestamps=stamps_s
    )
    out.meta["name"] = name
    return out


def evaluate_trajectory(
    est: Trajectory,
    gt: Trajectory,
    *,
    max_diff_s: float = 0.02,
    alignment: Alignment = "se3",
    rpe_delta_s: float = 1.0,
) -> TrajectoryResult:
    """ATE and RPE of `est` against `gt` (both T_world_body, ns stamps) with evo.

    max_diff_s: largest stamp difference for a pair (seconds).
    alignment: "se3" (Umeyama, default), "sim3" (Umeyama with scale) or "none".
    rpe_delta_s: RPE interval in seconds.
    Returns a TrajectoryResult in cm / degrees. Raises EvalError on bad input.
    """
    from evo.core import lie_algebra, metrics, sync

    if alignment not in ALIGNMENTS:
        raise EvalError(f"unknown alignment {alignment!r}; expected one of {ALIGNMENTS}")
    if not max_diff_s > 0:
        raise EvalError(f"max_diff_s must be positive, got {max_diff_s}")
    est = check_trajectory(est, "estimated")
    gt = check_trajectory(gt, "ground-truth")
    _check_overlap(est, gt, max_diff_s)

    traj_gt, traj_est = to_evo(gt, "ground truth"), to_evo(est, "estimate")
    try:
        traj_gt, traj_est = sync.associate_trajectories(traj_gt, traj_est, max_diff=max_diff_s)
    except sync.SyncException as err:
        raise EvalError(
            f"no estimated pose lies within {max_diff_s * 1e3:.1f} ms of a ground-truth pose "
            "(raise max_diff_s or check the clocks)"
        ) from err
    n_pairs = traj_est.num_poses
    min_pairs = 3 if alignment != "none" else 1
    if n_pairs < min_pairs:
        raise EvalError(
            f"only {n_pairs} estimate/ground-truth pair(s) within {max_diff_s * 1e3:.1f} ms; "
            f"{alignment} alignment needs at least {min_pairs}"
        )

    T_gt_est, scale = np.eye(4), 1.0
    if alignment != "none":
        traj_est = copy.deepcopy(traj_est)
        try:
            r, t, s = traj_est.align(traj_gt, correct_scale=alignment == "sim3")
        except Exception as err:  # evo raises GeometryException/LinAlgError on degenerate input
            raise EvalError(f"Umeyama alignment failed ({alignment}): {err}") from err
        T_gt_est = lie_algebra.se3(r, t)
        scale = float(s)

    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((traj_gt, traj_est))
    errors_m = np.asarray(ape.error, dtype=np.float64)

    stamps_ns = np.round(np.asarray(traj_gt.timestamps) * 1e9).astype(np.int64)
    gt_poses = np.asarray(traj_gt.poses_se3)
    est_poses = np.asarray(traj_est.poses_se3)
    rpe_t, rpe_r = _rpe_over_time(stamps_ns, gt_poses, est_poses, rpe_delta_s)
    rpe_ft, rpe_fr = _rpe_frames(traj_gt, traj_est)
    return TrajectoryResult(
        ate_cm=ErrorStats.from_errors(errors_m * M_TO_CM),
        rpe_trans_cm=rpe_t,
        rpe_rot_deg=rpe_r,
        rpe_frame_trans_cm=rpe_ft,
        rpe_frame_rot_deg=rpe_fr,
        num_pairs=n_pairs,
        num_est=len(est),
        num_gt=len(gt),
        max_diff_s=float(max_diff_s),
        rpe_delta_s=float(rpe_delta_s),
        alignment=alignment,
        scale=scale,
        T_gt_est=np.asarray(T_gt_est, dtype=np.float64),
        stamps_ns=stamps_ns,
        gt_poses=gt_poses,
        est_poses=est_poses,
        ate_errors_m=errors_m,
    )


def _check_overlap(est: Trajectory, gt: Trajectory, max_diff_s: float) -> None:
    """EvalError naming both time spans when they do not overlap (within max_diff_s)."""
    slack = int(max_diff_s * 1e9)
    e0, e1 = int(est.stamps_ns[0]), int(est.stamps_ns[-1])
    g0, g1 = int(gt.stamps_ns[0]), int(gt.stamps_ns[-1])
    if e1 + slack < g0 or g1 + slack < e0:
        raise EvalError(
            f"estimate ({e0 / 1e9:.3f}..{e1 / 1e9:.3f} s) and ground truth "
            f"({g0 / 1e9:.3f}..{g1 / 1e9:.3f} s) do not overlap in time; check that both use "
            "the same clock"
        )


def _rpe_frames(traj_gt, traj_est) -> tuple[ErrorStats | None, ErrorStats | None]:
    """evo's RPE between consecutive pairs (`evo_rpe -d 1 -u f`): translation cm, rotation deg."""
    from evo.core import metrics
    from evo.core.filters import FilterException

    out: list[ErrorStats | None] = []
    for relation, factor in (
        (metrics.PoseRelation.translation_part, M_TO_CM),
        (metrics.PoseRelation.rotation_angle_deg, 1.0),
    ):
        rpe = metrics.RPE(relation, delta=1, delta_unit=metrics.Unit.frames, all_pairs=False)
        try:
            rpe.process_data((traj_gt, traj_est))
        except (FilterException, metrics.MetricsException) as err:
            logger.info("per-frame RPE not computed: %s", err)
            out.append(None)
            continue
        out.append(ErrorStats.from_errors(np.asarray(rpe.error) * factor))
    return out[0], out[1]


def _rpe_over_time(
    stamps_ns: np.ndarray, gt: np.ndarray, est: np.ndarray, delta_s: float, rel_tol: float = 0.1
) -> tuple[ErrorStats | None, ErrorStats | None]:
    """RPE over `delta_s` seconds (evo's CLI offers frames/metres/degrees only, not seconds).

    For each pair i, j is the pair whose stamp is nearest to t_i + delta_s, kept when it is
    within rel_tol * delta_s. The error is evo's RPE error E = inv(inv(Q_i) Q_j) inv(P_i) P_j
    (Q ground truth, P estimate): translation norm in cm, rotation angle in degrees.
    Returns (None, None) when no pair spans delta_s.
    """
    if not delta_s > 0:
        raise EvalError(f"rpe_delta_s must be positive, got {delta_s}")
    t = stamps_ns.astype(np.float64) / 1e9
    target = t + delta_s
    j = np.clip(np.searchsorted(t, target), 1, len(t) - 1)
    j = np.where(np.abs(t[j - 1] - target) < np.abs(t[j] - target), j - 1, j)
    ok = (np.abs(t[j] - target) <= rel_tol * delta_s) & (j > np.arange(len(t)))
    i = np.flatnonzero(ok)
    if len(i) == 0:
        logger.info("RPE over %.3f s not computed: the overlap is shorter than that", delta_s)
        return None, None
    j = j[i]
    q_rel = np.einsum("nij,njk->nik", invert_pose(gt[i]), gt[j])
    p_rel = np.einsum("nij,njk->nik", invert_pose(est[i]), est[j])
    E = np.einsum("nij,njk->nik", invert_pose(q_rel), p_rel)
    trans_cm = np.linalg.norm(E[:, :3, 3], axis=1) * M_TO_CM
    rot_deg = np.degrees(rotation_angle(E[:, :3, :3]))
    return ErrorStats.from_errors(trans_cm), ErrorStats.from_errors(rot_deg)
