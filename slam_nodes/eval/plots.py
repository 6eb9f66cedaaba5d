"""PNG figures for evaluation reports (matplotlib, Agg backend; nothing is shown on screen).

Every function writes one PNG and returns its path. Axes are metres / centimetres / seconds.
Trajectory views pick the world axis with the least ground-truth spread as "up" (so the plots
work for camera worlds with y down as well as for z-up robot worlds): the top view shows the
other two axes, the side view the widest axis against "up".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slam_nodes.eval.trajectory import TrajectoryResult

AXES = "xyz"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _view_axes(positions: np.ndarray) -> tuple[int, int, int]:
    """(widest, second, up) axis indices of positions [N,3] by spread."""
    order = np.argsort(np.ptp(positions, axis=0))[::-1]
    return int(order[0]), int(order[1]), int(order[2])


def _break_gaps(t: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Insert NaN rows where the time step exceeds 5x the median, so lines do not bridge gaps
    in the association (t [N], values [N,...])."""
    if len(t) < 3:
        return t, values
    dt = np.diff(t)
    gaps = np.flatnonzero(dt > 5 * max(np.median(dt), 1e-9)) + 1
    nan_row = np.full((len(gaps),) + values.shape[1:], np.nan)
    return (np.insert(t, gaps, np.nan),
            np.insert(values.astype(np.float64), gaps, nan_row, axis=0))


def plot_trajectory_views(result: TrajectoryResult, out_dir: Path) -> list[Path]:
    """Top and side views of ground truth and the aligned estimate, the estimate coloured by
    its ATE (cm), with start and end marked. Writes traj_top.png and traj_side.png."""
    plt = _pyplot()
    gt = result.gt_poses[:, :3, 3]
    est = result.est_poses[:, :3, 3]
    err_cm = result.ate_errors_m * 100
    a0, a1, up = _view_axes(gt)
    paths = []
    for name, (ax_h, ax_v), title in (
        ("traj_top.png", (a0, a1), "top view"),
        ("traj_side.png", (a0, up), "side view"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 5.2))
        ax.plot(gt[:, ax_h], gt[:, ax_v], "k--", lw=1.0, label="ground truth")
        sc = ax.scatter(est[:, ax_h], est[:, ax_v], c=err_cm, s=6, cmap="viridis")
        # legend entry drawn in the middle colour (a colour-mapped scatter's own legend
        # marker takes an arbitrary colour of the map)
        ax.plot([], [], "o", ms=4, color=plt.get_cmap("viridis")(0.5),
                label=f"estimate ({result.alignment}-aligned, colour = ATE)")
        ax.plot(est[0, ax_h], est[0, ax_v], "go", ms=7, label="start")
        ax.plot(est[-1, ax_h], est[-1, ax_v], "rs", ms=7, label="end")
        fig.colorbar(sc, ax=ax, label="ATE (cm)")
        ax.set_xlabel(f"{AXES[ax_h]} (m)")
        ax.set_ylabel(f"{AXES[ax_v]} (m)")
        ax.set_aspect("equal", adjustable="datalim")
        ax.set_title(f"Trajectory, {title} - ATE RMSE {result.ate_cm.rmse:.2f} cm")
        ax.legend(loc="best", fontsize=8)
        ax.grid(alpha=0.3)
        fig.tight_layout()
        path = Path(out_dir) / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        paths.append(path)
    return paths


def plot_error_over_time(result: TrajectoryResult, out_dir: Path) -> list[Path]:
    """ATE over time (ate_time.png) and per-axis position error est - gt (axis_error.png)."""
    plt = _pyplot()
    t = (result.stamps_ns - result.stamps_ns[0]) / 1e9
    err_cm = result.ate_errors_m * 100
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    ax.plot(*_break_gaps(t, err_cm), lw=1.0, color="tab:blue", label="ATE")
    ax.axhline(result.ate_cm.rmse, color="tab:red", ls="--", lw=1.0,
               label=f"RMSE {result.ate_cm.rmse:.2f} cm")
    worst = int(np.argmax(err_cm))  # marked, and named in the legend (never over the curve)
    ax.plot(t[worst], err_cm[worst], "o", color="tab:red", ms=5,
            label=f"max {err_cm[worst]:.2f} cm at {t[worst]:.2f} s")
    ax.set_xlabel("time since first pair (s)")
    ax.set_ylabel("translation error (cm)")
    ax.set_title("Absolute trajectory error over time")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    p1 = Path(out_dir) / "ate_time.png"
    fig.savefig(p1, dpi=110)
    plt.close(fig)

    t_gap, diff_cm = _break_gaps(t, (result.est_poses[:, :3, 3] - result.gt_poses[:, :3, 3]) * 100)
    fig, axes = plt.subplots(3, 1, figsize=(7.5, 5.4), sharex=True)
    for k, ax in enumerate(axes):
        ax.plot(t_gap, diff_cm[:, k], lw=1.0, color=("tab:red", "tab:green", "tab:blue")[k])
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"{AXES[k]} error (cm)")
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("time since first pair (s)")
    axes[0].set_title("Per-axis position error (aligned estimate - ground truth)")
    fig.tight_layout()
    p2 = Path(out_dir) / "axis_error.png"
    fig.savefig(p2, dpi=110)
    plt.close(fig)
    return [p1, p2]


def plot_mesh_error_view(
    rec, gt_points: np.ndarray, out_dir: Path, poses: np.ndarray | None = None,
    max_error_cm: float = 5.0, size: tuple[int, int] = (640, 480),
) -> Path:
    """Ray-cast view of the reconstructed mesh, each pixel coloured by the distance (cm) of its
    surface point to the nearest ground-truth sample (gt_points [M,3]), shaded by the surface
    normal. The virtual camera looks at the mesh centre from the side the recorded cameras
    (poses [V,4,4] T_world_cam, optional) looked from. Writes mesh_error.png."""
    from scipy.spatial import cKDTree

    from slam_nodes.eval.mesh import raycast_depth
    from slam_nodes.types.camera import CameraModel

    plt = _pyplot()
    verts = np.asarray(rec.vertices)
    lo, hi = verts.min(axis=0), verts.max(axis=0)
    centre, radius = (lo + hi) / 2, max(np.linalg.norm(hi - lo) / 2, 1e-3)
    if poses is not None and len(poses):
        view_dir = np.mean(poses[:, :3, 2], axis=0)  # mean optical axis in the world
        back = np.mean(poses[:, :3, 3], axis=0) - centre
        if np.linalg.norm(view_dir) < 1e-6:
            view_dir = -back
    else:
        view_dir = np.array([-0.5, -0.5, -0.7])
    view_dir = view_dir / max(np.linalg.norm(view_dir), 1e-9)
    w, h = size
    cam = CameraModel.pinhole(w, h, 0.9 * w, 0.9 * w, (w - 1) / 2, (h - 1) / 2)
    eye = centre - view_dir * radius * 1.8
    z = view_dir
    helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    if poses is not None and len(poses):
        helper = -np.mean(poses[:, :3, 1], axis=0)  # recorded cameras' "up" (optical -y)
        if np.linalg.norm(np.cross(helper, z)) < 1e-3:
            helper = np.array([0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(z, helper)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = x, y, z, eye
    depth, ids = raycast_depth(rec, pose, cam)
    hit = ids >= 0
    rays = cam.ray_directions() @ pose[:3, :3].T
    pts = eye + rays[hit] * depth[hit][:, None]
    dist_cm = cKDTree(gt_points).query(pts, k=1, workers=2)[0] * 100
    normals = np.asarray(rec.face_normals)[ids[hit]]
    shade = 0.35 + 0.65 * np.abs(normals @ view_dir)
    cmap = plt.get_cmap("jet")
    colours = cmap(np.clip(dist_cm / max_error_cm, 0, 1))[:, :3] * shade[:, None]
    img = np.ones((h, w, 3))
    img[hit] = colours
    fig, ax = plt.subplots(figsize=(7.2, 5.0))
    ax.imshow(img)
    ax.axis("off")
    mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(0, max_error_cm))
    fig.colorbar(mappable, ax=ax, label="distance to ground truth (cm)")
    ax.set_title("Reconstruction coloured by error")
    fig.tight_layout()
    path = Path(out_dir) / "mesh_error.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_compare(runs: list[dict], out_path: Path) -> Path:
    """One figure for several runs: ATE over time (where the run stored its series) and a bar
    chart of ATE RMSE. `runs`: dicts with "name" and the run's metrics.json content."""
    plt = _pyplot()
    fig, (ax_t, ax_b) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [2, 1]})
    names, rmse, colours = [], [], []
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, run in enumerate(runs):
        colour = cycle[k % len(cycle)]  # one colour per run in both panels
        traj = run["metrics"].get("trajectory") or {}
        series = traj.get("series") or {}
        if series.get("t_s"):
            t, e = _break_gaps(np.asarray(series["t_s"], dtype=np.float64),
                               np.asarray(series["ate_cm"], dtype=np.float64))
            ax_t.plot(t, e, lw=1.0, label=run["name"], color=colour)
        if traj.get("ate_cm"):
            names.append(run["name"])
            rmse.append(traj["ate_cm"]["rmse"])
            colours.append(colour)
    ax_t.set_xlabel("time since first pair (s)")
    ax_t.set_ylabel("ATE (cm)")
    ax_t.set_title("ATE over time")
    ax_t.grid(alpha=0.3)
    if ax_t.lines:
        ax_t.legend(fontsize=8)
    bars = ax_b.bar(range(len(names)), rmse, color=colours)
    ax_b.bar_label(bars, fmt="%.2f", fontsize=8)
    ax_b.margins(y=0.12)  # room for the value labels
    ax_b.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax_b.set_ylabel("ATE RMSE (cm)")
    ax_b.set_title("ATE RMSE")
    ax_b.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)
    plt.close(fig)
    return Path(out_path)
