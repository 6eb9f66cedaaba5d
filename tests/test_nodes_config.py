"""Node config (one YAML, typed mirror, clear errors), approximate-time pairing, name
resolution and mesh blocks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from slam_nodes.errors import ConfigError
from slam_nodes.nodes.config import SlamNodeConfig, load_node_config, save_node_config
from slam_nodes.nodes.engine import MeshData
from slam_nodes.nodes.mesh_blocks import MeshBlockPublisher, split_blocks
from slam_nodes.runtime.interface import (
    LATCHED_QOS,
    SENSOR_QOS,
    parse_remappings,
    resolve_name,
)
from slam_nodes.sync.approx import ApproximateTimePairer

CONFIG_DIR = Path(__file__).resolve().parents[1] / "config"


@pytest.mark.parametrize("name", ["rgbd", "rgbd_events", "rgb_lidar", "lidar"])
def test_shipped_params_files_load(name):
    cfg = load_node_config(CONFIG_DIR / f"{name}.yaml")
    assert cfg.inputs.events == (name == "rgbd_events")
    assert cfg.inputs.points == name.endswith("lidar")
    assert cfg.engine.name == ("icp" if name == "rgbd" else "en_slam")


def test_dataclass_defaults_equal_the_rgbd_file():
    """Defaults are written twice (YAML for ROS, dataclass for omitted keys): they must agree."""
    assert load_node_config(CONFIG_DIR / "rgbd.yaml") == SlamNodeConfig()


def test_round_trip_and_dotted_overrides(tmp_path):
    cfg = load_node_config(CONFIG_DIR / "rgbd.yaml",
                           overrides={"sync.sync_slop_s": 0.05,
                                      "engine.options.voxel_size_m": 0.04})
    assert cfg.sync.sync_slop_s == 0.05 and cfg.engine.options == {"voxel_size_m": 0.04}
    save_node_config(tmp_path / "c.yaml", cfg)
    assert load_node_config(tmp_path / "c.yaml") == cfg
    flat = cfg.to_flat()
    assert flat["frames.transform_tolerance_s"] == 0.1
    assert SlamNodeConfig.from_dict(flat) == cfg  # what rclpy hands back


@pytest.mark.parametrize("params, message", [
    ({"sync": {"sync_slope_s": 0.1}}, "unknown parameter(s) ['sync.sync_slope_s']"),
    ({"bogus": 1}, "unknown parameter(s) ['bogus']"),
    ({"sync": {"sync_slop_s": -1.0}}, "sync.sync_slop_s must be >= 0"),
    ({"inputs": {"rgb": "yes"}}, "inputs.rgb must be true or false"),
    ({"inputs": {"depth": False, "points": False}}, "enable at least one of inputs.depth"),
    ({"inputs": {"sensor_qos": "fast"}}, "inputs.sensor_qos must be best_effort or reliable"),
    ({"frames": {"body_to_camera": [0, 0, 0, 0, 0, 0, 2]}}, "unit norm"),
    ({"frames": {"body_to_lidar": [0, 0, 0]}}, "frames.body_to_lidar must be [x, y, z"),
    ({"inputs": {"depth": False, "points": True}}, "engine.name 'icp' tracks on depth images"),
    ({"inputs": {"rgb": False, "depth": False, "points": True, "events": True},
      "engine": {"name": "en_slam"}}, "inputs.events needs a camera"),
    ({"inputs": {"rgb": False, "depth": False, "points": True}, "engine": {"name": "en_slam"}},
     "outputs.render needs a camera"),
    ({"engine": {"name": "en_slam", "options": {"lidar": {"T_rig_lidar": [1.0] * 16}}}},
     "give the LiDAR extrinsic as frames.body_to_lidar"),
    ({"engine": {"name": "orb"}}, "engine.name must be 'icp' or 'en_slam'"),
    ({"mesh": {"triangle_budget": 0}}, "mesh.triangle_budget must be >= 1"),
])
def test_bad_parameters_give_clear_errors(params, message):
    with pytest.raises(ConfigError) as err:
        SlamNodeConfig.from_dict(params)
    assert message in str(err.value)


def test_params_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("other_node:\n  ros__parameters: {}\n")
    with pytest.raises(ConfigError, match="en_slam_node: ros__parameters"):
        load_node_config(bad)
    bad.write_text("en_slam_node:\n  ros__parameters:\n    mesh: {enabled: 3}\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: mesh.enabled must be true or false"):
        load_node_config(bad)


def test_names_resolve_like_ros2():
    assert resolve_name("~/path", "en_slam_node") == "/en_slam_node/path"
    assert resolve_name("rgb/image", "n", "/robot1") == "/robot1/rgb/image"
    assert resolve_name("/tf", "n", "/robot1") == "/tf"
    remaps = parse_remappings(["rgb/image:=/camera/color/image_raw"])
    assert resolve_name("rgb/image", "n", "/", remaps) == "/camera/color/image_raw"
    assert resolve_name("rgb/image", "n", "/", {"/rgb/image": "/cam/x"}) == "/cam/x"
    with pytest.raises(ConfigError):
        parse_remappings(["rgb/image=/x"])
    assert LATCHED_QOS.compatible_with_subscription(LATCHED_QOS) is None
    assert "RELIABLE" in SENSOR_QOS.compatible_with_subscription(LATCHED_QOS)


def test_pairer_pairs_nearest_within_slop_and_names_drops():
    p = ApproximateTimePairer(("rgb", "depth"), slop_ns=10, queue_size=4)
    out = []
    events = [("rgb", 100), ("depth", 103), ("rgb", 133), ("rgb", 166), ("depth", 165),
              ("depth", 200), ("rgb", 201), ("rgb", 201), ("depth", 150), ("rgb", 300),
              ("depth", 400)]
    drops = []
    for stream, t in events:
        pairs, d = p.push(stream, t, f"{stream}{t}")
        out += [(x.a, x.b) for x in pairs]
        drops += [(x.stream, x.stamp_ns, x.reason) for x in d]
    assert out == [("rgb100", "depth103"), ("rgb166", "depth165"), ("rgb201", "depth200")]
    assert ("rgb", 133, "no partner within sync_slop") in drops
    assert ("rgb", 201, "duplicate stamp") in drops
    assert ("depth", 150, "out of order") in drops
    assert ("rgb", 300, "no partner within sync_slop") in drops


def _grid_mesh(offset: float, n: int = 8) -> MeshData:
    """A flat n x n vertex grid (2 triangles per cell) over [0, 2] m in x and y, at z=offset."""
    xs = np.linspace(0, 2, n)
    vx, vy = np.meshgrid(xs, xs)
    verts = np.stack([vx.ravel(), vy.ravel(), np.full(n * n, offset)], 1).astype(np.float32)
    faces = []
    for i in range(n - 1):
        for j in range(n - 1):
            a = i * n + j
            faces += [[a, a + 1, a + n], [a + 1, a + n + 1, a + n]]
    return MeshData(verts, np.asarray(faces, np.int32), None)


def test_only_changed_blocks_are_resent_within_budget():
    mesh = _grid_mesh(0.0)
    blocks = split_blocks(mesh, 1.0)
    assert len(blocks) == 4 and sum(len(b.triangles) for b in blocks.values()) == 98
    pub = MeshBlockPublisher(block_size_m=1.0, triangle_budget=1000)
    first = pub.update(mesh, 1, "map")
    assert len(first) == 4 and all(len(m.points) % 3 == 0 for m in first)
    assert pub.update(mesh, 2, "map") == []  # nothing changed
    moved = _grid_mesh(0.0)
    moved.vertices[moved.vertices[:, 0] > 1.9, 2] = 0.3  # only the x in [1, 2] column moves
    changed = pub.update(moved, 3, "map")
    keys = {tuple(np.floor(np.asarray([[p.x, p.y, p.z] for p in m.points]).mean(0)).astype(int))
            [:2] for m in changed}
    assert len(changed) == 2 and all(k[0] == 1 for k in keys)
    # a budget smaller than all blocks: sent over several updates, largest first
    small = MeshBlockPublisher(block_size_m=1.0, triangle_budget=30)
    sent = [len(small.update(mesh if i == 0 else None, i, "map")) for i in range(5)]
    assert sent == [1, 1, 1, 1, 0]
    gone = small.update(MeshData(np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int32)), 9,
                        "map")
    assert len(gone) == 4 and all(m.action == m.DELETE for m in gone)
