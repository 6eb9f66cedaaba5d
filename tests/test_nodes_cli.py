"""`slam-nodes replay` and `slam-nodes run` with `--node asset_completion_node`: the same
commands that run en_slam_node run the asset node (params file, --remap, --set)."""

from __future__ import annotations

import json
import random

import pytest

from slam_nodes.cli import main
from slam_nodes.io.bag import open_bag

FAST = ["--set", "completion.num_samples=2", "--set", "completion.refine_steps=10",
        "--set", "completion.mesh_res=32", "--set", "outputs.splat=false"]
POSE = ["--set", "inputs.pose_topic=/ground_truth/pose",
        "--set", "inputs.pose_frame=camera_optical_frame"]


@pytest.fixture(scope="module")
def yard(tmp_path_factory):
    from slam_nodes.synth import generate

    out = tmp_path_factory.mktemp("yard")
    generate("yard-tiny", out, duration_s=0.5, events=None, imu=None)
    return out


@pytest.mark.slow
def test_replay_runs_the_asset_completion_node(yard, tmp_path, capsys):
    out = tmp_path / "out"
    # only the 3 largest proposals (the default 30 points makes 44, 41 of them observed-only
    # fits at ~2 s each: 100 s of this test on a loaded machine, now ~15 s)
    code = main(["replay", str(yard / "bag"), "--node", "asset_completion_node",
                 "--config", "config/assets.yaml", "--out", str(out), *POSE, *FAST,
                 "--set", "proposals.min_cluster_points=800", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    rows = json.loads((out / "assets" / "assets.json").read_text())  # OUT/assets by default
    assert rows and all((out / "assets" / r["folder"].split("/")[-1]).is_dir() for r in rows)
    # the car is completed by the prior; unknown classes fall back and say so
    assert {r["method"] for r in rows} == {"prior", "observed_only"}
    assert f"{len(rows)} assets written to {out / 'assets'}" in printed
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scans_used"] == 5 and summary["skipped"] == {}
    # the output bag holds what the node published: the final ~/assets, one marker per asset
    # after the clearing DELETEALL
    with open_bag(out / "out") as bag:
        sent = [m.msg for m in bag.messages(["/asset_completion_node/assets"])]
    assert len(sent[-1].markers) == 1 + len(rows)
    assert "asset_completion_node:" in (out / "config.yaml").read_text()


def test_run_starts_the_asset_node_over_dds_and_completes_on_exit(tmp_path, capsys,
                                                                   monkeypatch):
    from slam_nodes.runtime.dds import loopback_config

    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    code = main(["run", "--node", "asset_completion_node", "--config", "config/assets.yaml",
                 "--domain-id", str(random.randint(100, 200)), "--duration", "0.3",
                 "--set", f"outputs.output_dir={tmp_path}", *FAST])
    assert code == 0
    assert "asset_completion_node on Cyclone DDS domain" in capsys.readouterr().out
    # nothing arrived: the shutdown's completion still wrote an (empty) assets.json
    assert json.loads((tmp_path / "assets.json").read_text()) == []


def test_node_options_are_checked(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["run", "--node", "bogus_node", "--config", "config/rgbd.yaml"])
    assert "invalid choice: 'bogus_node'" in capsys.readouterr().err
    # a params file for the other node: its key is missing, and the error says which
    code = main(["replay", str(tmp_path), "--node", "asset_completion_node",
                 "--config", "config/rgbd.yaml", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "asset_completion_node: ros__parameters" in capsys.readouterr().err


def test_ros_transport_without_rclpy_says_what_to_do(capsys):
    from slam_nodes.optional import has_rclpy

    if has_rclpy():
        pytest.skip("rclpy is installed: --transport ros would start a node")
    assert main(["run", "--transport", "ros", "--config", "config/lidar.yaml"]) == 2
    assert "--transport ros needs rclpy" in capsys.readouterr().err


def test_options_a_node_or_transport_cannot_honour_are_errors(tmp_path, capsys):
    """Not silently ignored: --gt with the asset node (no trajectory), --duration under rclpy."""
    code = main(["replay", str(tmp_path), "--node", "asset_completion_node",
                 "--config", "config/assets.yaml", "--out", str(tmp_path / "o"),
                 "--gt", str(tmp_path / "gt.tum")])
    assert code == 2 and "--gt scores en_slam_node's trajectory" in capsys.readouterr().err
    code = main(["run", "--transport", "ros", "--config", "config/rgbd.yaml",
                 "--duration", "1"])
    assert code == 2 and "--duration is for --transport dds" in capsys.readouterr().err
