"""Run folders: metrics.json, report.md and figures; side-by-side comparison of several runs.

See the package docstring (`slam_nodes.eval`) for the run-folder layout. metrics.json:

    {"format": "slam_nodes.eval/1",
     "name": str, "inputs": {...paths and options...},
     "trajectory": TrajectoryResult.summary() + {"series": {"t_s": [...], "ate_cm": [...]}} | null,
     "mesh": MeshResult.summary() | null,
     "figures": ["figures/traj_top.png", ...],
     "extra": {...producer-specific numbers, e.g. frames per second...}}
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from slam_nodes.errors import EvalError
from slam_nodes.eval.mesh import MeshResult
from slam_nodes.eval.trajectory import TrajectoryResult

logger = logging.getLogger(__name__)

FORMAT = "slam_nodes.eval/1"
METRICS_FILE = "metrics.json"
REPORT_FILE = "report.md"
FIGURES_DIR = "figures"


def write_report(
    out_dir: str | Path,
    *,
    name: str,
    trajectory: TrajectoryResult | None = None,
    mesh: MeshResult | None = None,
    rec_mesh=None,
    gt_mesh_points: np.ndarray | None = None,
    inputs: dict | None = None,
    extra: dict | None = None,
    figures: bool = True,
) -> dict:
    """Write metrics.json, report.md and figures/*.png into `out_dir`; return the metrics dict.

    rec_mesh (trimesh) and gt_mesh_points [M,3] are needed for the mesh error view.
    EvalError when the folder cannot be written.
    """
    out = Path(out_dir)
    fig_dir = make_out_dir(out / FIGURES_DIR)
    try:
        return _write_report(out, fig_dir, name=name, trajectory=trajectory, mesh=mesh,
                             rec_mesh=rec_mesh, gt_mesh_points=gt_mesh_points, inputs=inputs,
                             extra=extra, figures=figures)
    except OSError as err:
        raise EvalError(f"cannot write the report into {out}: {err}") from err


def make_out_dir(path: str | Path) -> Path:
    """Create the output folder `path` (and its parents); EvalError when that fails."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise EvalError(f"cannot create output folder {path}: {err}") from err
    return path


def _write_report(out: Path, fig_dir: Path, *, name, trajectory, mesh, rec_mesh,
                  gt_mesh_points, inputs, extra, figures) -> dict:
    fig_paths: list[Path] = []
    if figures and trajectory is not None:
        from slam_nodes.eval import plots

        fig_paths += plots.plot_trajectory_views(trajectory, fig_dir)
        fig_paths += plots.plot_error_over_time(trajectory, fig_dir)
    if figures and mesh is not None and rec_mesh is not None and gt_mesh_points is not None:
        from slam_nodes.eval import plots

        poses = trajectory.gt_poses if trajectory is not None else None
        fig_paths.append(plots.plot_mesh_error_view(rec_mesh, gt_mesh_points, fig_dir, poses))
    metrics: dict = {
        "format": FORMAT,
        "name": name,
        "inputs": inputs or {},
        "trajectory": None,
        "mesh": None if mesh is None else mesh.summary(),
        "figures": [str(p.relative_to(out)) for p in fig_paths],
        "extra": extra or {},
    }
    if trajectory is not None:
        t_s = (trajectory.stamps_ns - trajectory.stamps_ns[0]) / 1e9
        metrics["trajectory"] = trajectory.summary() | {
            "series": {"t_s": np.round(t_s, 6).tolist(),
                       "ate_cm": np.round(trajectory.ate_errors_m * 100, 6).tolist()}
        }
    _atomic_write(out / METRICS_FILE, json.dumps(metrics, indent=1))
    _atomic_write(out / REPORT_FILE, render_markdown(metrics))
    return metrics


def read_metrics(run_dir: str | Path) -> dict:
    """metrics.json of a run folder; EvalError when missing or unreadable."""
    path = Path(run_dir) / METRICS_FILE
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError as err:
        raise EvalError(f"{run_dir} has no {METRICS_FILE}; run `slam-nodes eval` on it first") \
            from err
    except (OSError, ValueError) as err:
        raise EvalError(f"cannot read {path}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise EvalError(f"{path} is not a slam_nodes evaluation file (format {FORMAT})")
    return data


def _fmt(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if not np.isfinite(value) else f"{value:.{digits}f}"
    return str(value)


def render_markdown(metrics: dict) -> str:
    """The report.md text of one metrics dict."""
    lines = [f"# Evaluation: {metrics['name']}", ""]
    inputs = metrics.get("inputs") or {}
    if inputs:
        lines += ["| input | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in inputs.items()]
        lines.append("")
    traj = metrics.get("trajectory")
    if traj:
        lines += [
            "## Trajectory",
            "",
            f"{traj['num_pairs']} pairs (estimate {traj['num_est']} poses, ground truth "
            f"{traj['num_gt']}), association within {traj['max_diff_s'] * 1e3:.0f} ms, "
            f"{traj['alignment']} alignment" + (
                f" (scale {traj['scale']:.4f})" if traj["alignment"] == "sim3" else "") + ".",
            "",
            "| metric | RMSE | mean | median | max |",
            "|---|---|---|---|---|",
        ]
        for key, label in (
            ("ate_cm", "ATE (cm)"),
            ("rpe_trans_cm", f"RPE {traj['rpe_delta_s']:g} s, translation (cm)"),
            ("rpe_rot_deg", f"RPE {traj['rpe_delta_s']:g} s, rotation (deg)"),
            ("rpe_frame_trans_cm", "RPE per frame, translation (cm)"),
            ("rpe_frame_rot_deg", "RPE per frame, rotation (deg)"),
        ):
            s = traj.get(key)
            if s is None:
                lines.append(f"| {label} | - | - | - | - |")
            else:
                lines.append(f"| {label} | {_fmt(s['rmse'])} | {_fmt(s['mean'])} | "
                             f"{_fmt(s['median'])} | {_fmt(s['max'])} |")
        lines.append("")
    mesh = metrics.get("mesh")
    if mesh:
        th = list(mesh["fscore_pct"])
        lines += [
            "## Mesh",
            "",
            f"{mesh['num_rec_samples']} reconstruction / {mesh['num_gt_samples']} ground-truth "
            "samples" + (f", culled to the camera views (kept {mesh['rec_seen_pct']:.1f} % / "
                         f"{mesh['gt_seen_pct']:.1f} %)" if mesh["culled"] else ", not culled")
            + ".",
            "",
            "| accuracy (cm) | completion (cm) | completion ratio < 5 cm (%) | "
            + " | ".join(f"F-score {t} cm (%)" for t in th) + " | depth L1 (cm) |",
            "|---" * (4 + len(th)) + "|",
            f"| {_fmt(mesh['accuracy_cm'])} | {_fmt(mesh['completion_cm'])} | "
            f"{_fmt(mesh['completion_ratio_pct'])} | "
            + " | ".join(_fmt(mesh["fscore_pct"][t]) for t in th)
            + f" | {_fmt(mesh['depth_l1_cm'])} |",
            "",
        ]
    extra = metrics.get("extra") or {}
    if extra:
        lines += ["## Run", "", "| item | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v, 3)} |" for k, v in extra.items()]
        lines.append("")
    if metrics.get("figures"):
        lines += ["## Figures", ""]
        lines += [f"![{Path(f).stem}]({f})" for f in metrics["figures"]]
        lines.append("")
    return "\n".join(lines)


def compare_runs(run_dirs: list[str | Path], out_dir: str | Path) -> str:
    """One Markdown table and one figure (compare.png) for several run folders; writes
    compare.md and compare.json into out_dir and returns the Markdown text."""
    from slam_nodes.eval.plots import plot_compare

    if not run_dirs:
        raise EvalError("--compare needs at least one run folder")
    runs = []
    for d in run_dirs:
        name = Path(d).resolve().name
        runs.append({"name": name, "dir": str(d), "metrics": read_metrics(d)})
    out = make_out_dir(out_dir)
    header = ["run", "ATE RMSE (cm)", "ATE max (cm)", "RPE 1 s (cm)", "accuracy (cm)",
              "completion (cm)", "comp. ratio (%)", "F-score 5 cm (%)"]
    extra_keys = sorted({k for r in runs for k in (r["metrics"].get("extra") or {})
                         if isinstance(r["metrics"]["extra"][k], (int, float))})
    header += extra_keys
    rows = []
    for run in runs:
        m = run["metrics"]
        t, mesh, extra = m.get("trajectory") or {}, m.get("mesh") or {}, m.get("extra") or {}

        def stat(key: str, field: str) -> float | None:
            return (t.get(key) or {}).get(field)

        rows.append([run["name"], _fmt(stat("ate_cm", "rmse")), _fmt(stat("ate_cm", "max")),
                     _fmt(stat("rpe_trans_cm", "rmse")), _fmt(mesh.get("accuracy_cm")),
                     _fmt(mesh.get("completion_cm")), _fmt(mesh.get("completion_ratio_pct")),
                     _fmt((mesh.get("fscore_pct") or {}).get("5"))]
                    + [_fmt(extra.get(k), 3) for k in extra_keys])
    text = "\n".join(
        ["# Comparison", "", "| " + " | ".join(header) + " |", "|---" * len(header) + "|"]
        + ["| " + " | ".join(r) + " |" for r in rows]
        + ["", "![compare](compare.png)", ""]
    )
    try:
        plot_compare(runs, out / "compare.png")
        _atomic_write(out / "compare.md", text)
        _atomic_write(out / "compare.json", json.dumps(
            {"runs": [{"name": r["name"], "dir": r["dir"]} for r in runs],
             "header": header, "rows": rows}, indent=1))
    except OSError as err:
        raise EvalError(f"cannot write the comparison into {out}: {err}") from err
    return text


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
