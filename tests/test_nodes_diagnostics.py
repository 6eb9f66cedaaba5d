"""InputMonitor.input_statuses: the per-input diagnostics both nodes publish."""

from __future__ import annotations

import logging

from slam_nodes.nodes.diagnostics import OK, WARN, InputMonitor

NS = 1_000_000_000


def _statuses(mon: InputMonitor, now_s: float) -> dict[str, tuple[int, str, dict]]:
    rows = mon.input_statuses("n", int(now_s * NS), 2 * NS, lambda t: "/" + t, "best_effort")
    return {name: (level, message, values) for level, name, message, values in rows}


def test_silent_input_warns_once_per_silence_and_skips_are_counted(caplog):
    mon = InputMonitor(logging.getLogger("test_diag"))
    for topic in ("points", "detections"):
        mon.watch(topic)
    with caplog.at_level("WARNING", logger="test_diag"):
        _statuses(mon, 0.0)  # nothing heard yet: silence counts from here
        for k in range(5):  # points arrives every 0.5 s; detections never does
            mon.received("points", int(k * 0.5 * NS))
        mon.skipped("points", 0, "conversion error: bad fields")
        st = _statuses(mon, 2.5)
        assert st["n: input detections"][0] == WARN
        assert "topic /detections silent for 2.5 s" in st["n: input detections"][1]
        assert "inputs.sensor_qos=best_effort" in st["n: input detections"][1]
        assert st["n: input points"][:2] == (WARN, "1 messages skipped")
        assert st["n: input points"][2]["received"] == 5
        assert st["n: input points"][2]["skipped: conversion error"] == 1
        _statuses(mon, 3.0)  # still silent: not logged again
        silent_logs = [r for r in caplog.records if "/detections silent" in r.getMessage()]
        assert len(silent_logs) == 1
        # it speaks, then falls silent again: a new silence is logged again
        mon.received("detections", int(3.5 * NS))
        assert _statuses(mon, 4.0)["n: input detections"][:2] == (OK, "ok")
        _statuses(mon, 6.0)
    silent_logs = [r for r in caplog.records if "/detections silent" in r.getMessage()]
    assert len(silent_logs) == 2
