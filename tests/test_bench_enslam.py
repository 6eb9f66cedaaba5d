"""benchmarks.bench_enslam's per-frame error traces (`--error-plot`) on a real 3-frame clip."""

import numpy as np
import pytest

pytest.importorskip("open3d")


def test_error_traces_match_the_ate_and_plot(tmp_path, monkeypatch):
    from benchmarks import bench_enslam
    from benchmarks.bench_enslam import _clip_times, _plot_errors, _render, _run_pair

    # a short first mapping keeps the test fast; the traces do not depend on the map's quality
    monkeypatch.setattr(bench_enslam, "CORE", {**bench_enslam.CORE,
                                               "mapping": {"first_iters": 20}})
    cfg, frames, events = _render("room-normal", 0.1, 64, 48, start_s=0.0)
    res = _run_pair(cfg, frames, events, seed=0)
    for mode, (ate_m, _, extra) in res.items():
        err = extra["err_cm"]
        assert err.shape == (len(frames),), mode
        assert err[0] == pytest.approx(0.0, abs=1e-6), mode      # starts at the true pose
        assert np.sqrt(np.mean(err ** 2)) == pytest.approx(ate_m * 100, rel=1e-6), mode
    t = _clip_times(cfg, frames)
    assert t[0] == pytest.approx(0.0) and np.allclose(np.diff(t), 1.0 / cfg.rgb.rate_hz)
    path = tmp_path / "errors.png"
    _plot_errors({"room-normal": (t, [(0, {m: res[m][2]["err_cm"] for m in res})])}, str(path))
    assert path.stat().st_size > 1000
