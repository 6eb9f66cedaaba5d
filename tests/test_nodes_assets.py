"""asset_completion_node driven by the offline runtime over a tiny synthetic yard bag (LiDAR,
ground-truth pose, /tf_static), with ground-truth boxes fed as vision_msgs detections."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from slam_nodes.assets.export import validate_gazebo_model
from slam_nodes.errors import ConfigError
from slam_nodes.io.bag import open_bag
from slam_nodes.msgs.geometry import StampedTransform, pose_stamped_from_msg, pose_to_msg, tf_to_msg
from slam_nodes.msgs.stamps import make_header, stamp_to_ns
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.nodes.asset_completion_node import NODE_NAME, AssetCompletionNode
from slam_nodes.nodes.asset_config import AssetNodeConfig, load_asset_config
from slam_nodes.runtime.interface import Durability
from slam_nodes.runtime.offline import OfflineRuntime
from slam_nodes.types.pose import invert_pose

M = msg_class
FAST = {"completion.num_samples": 2, "completion.refine_steps": 10, "completion.mesh_res": 32,
        "outputs.splat": False}
POSE = {"inputs.pose_topic": "/ground_truth/pose", "inputs.pose_frame": "camera_optical_frame"}
NEAREST = 5  # GT objects fed as detections: the nearest to the start (test time)


@pytest.fixture(scope="module")
def yard(tmp_path_factory):
    from slam_nodes.synth import generate

    out = tmp_path_factory.mktemp("yard")
    generate("yard-tiny", out, duration_s=0.5, events=None, imu=None, width=80, height=60)
    objects = json.loads((out / "objects.json").read_text())["objects"]
    with open_bag(out / "bag") as bag:
        msgs = [(m.topic, m.typename, m.log_time_ns, m.msg)
                for m in bag.messages(["/points", "/ground_truth/pose", "/tf_static"])]
    return out, objects, msgs


def _detections(objects, stamp_ns: int):
    dets = []
    for o in objects:
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = np.asarray(o["box_rotation"]), np.asarray(o["box_centre"])
        s = o["box_size"]
        dets.append(M("vision_msgs/msg/Detection3D")(
            header=make_header(stamp_ns, "map"),
            results=[M("vision_msgs/msg/ObjectHypothesisWithPose")(
                hypothesis=M("vision_msgs/msg/ObjectHypothesis")(class_id=o["class"], score=0.9),
                pose=M("geometry_msgs/msg/PoseWithCovariance")(pose=pose_to_msg(T),
                                                               covariance=np.zeros(36)))],
            bbox=M("vision_msgs/msg/BoundingBox3D")(
                center=pose_to_msg(T), size=M("geometry_msgs/msg/Vector3")(x=s[0], y=s[1], z=s[2])),
            id=f"{o['class']}_{o['id']}"))
    return M("vision_msgs/msg/Detection3DArray")(header=make_header(stamp_ns, "map"), detections=dets)


def _near(objects, msgs):
    """The NEAREST GT objects (xy distance to the first pose), trees excepted."""
    first = next(m for t, _, _, m in msgs if t == "/ground_truth/pose")
    xy = pose_stamped_from_msg(first)[2][:2, 3]
    objs = [o for o in objects if o["class"] != "tree"]
    objs.sort(key=lambda o: np.linalg.norm(np.asarray(o["box_centre"][:2]) - xy))
    return objs[:NEAREST]


def _with_detections(msgs, objects):
    """The bag's messages plus a Detection3DArray just before each cloud (a detector's output)."""
    out = []
    for rec in msgs:
        if rec[0] == "/points":
            stamp = stamp_to_ns(rec[3].header.stamp)
            out.append(("/detections", "vision_msgs/msg/Detection3DArray", rec[2] - 1,
                        _detections(objects, stamp)))
        out.append(rec)
    return out


def _run(msgs, params, service_after: int | None = None):
    published = []
    rt = OfflineRuntime(NODE_NAME, on_publish=lambda *a: published.append(a))
    node = AssetCompletionNode(rt, AssetNodeConfig.from_dict(params))
    responses = []
    for i, (topic, typename, t, msg) in enumerate(msgs):
        rt.deliver(topic, typename, t, msg)
        if service_after is not None and i == service_after:
            responses.append(rt.call_service("~/complete"))
            rt.run_workers()
    rt.flush(extra_ns=1)
    node.shutdown()
    return rt, node, published, responses


def test_node_completes_detected_objects_and_exports(yard, tmp_path):
    _, objects, msgs = yard
    near = _near(objects, msgs)
    assert len(near) >= 2
    stream = _with_detections(msgs, near)
    half = next(i for i, r in enumerate(stream) if r[0] == "/points" and r[2] > stream[0][2] + 2e8)
    out = tmp_path / "assets"
    rt, node, published, responses = _run(stream, {**FAST, **POSE, "inputs.detections": True,
                                                   "outputs.output_dir": str(out)}, half)
    assert responses[0].success and "completion scheduled" in responses[0].message
    assets_topic = f"/{NODE_NAME}/assets"
    assert rt.publishers[assets_topic].qos.durability is Durability.TRANSIENT_LOCAL
    arrays = [(stamp, msg) for topic, _, _, stamp, msg in published if topic == assets_topic]
    assert len(arrays) == 2  # one after ~/complete, one at shutdown

    summary = json.loads((out / "assets.json").read_text())
    with_points = {r["object_id"] for r in summary if r["points"] >= 20}
    assert len(summary) == len(near) and len(with_points) >= 2
    last_stamp = max(stamp_to_ns(m.header.stamp) for t, _, _, m in msgs if t == "/points")
    markers = arrays[-1][1].markers
    assert markers[0].action == 3  # DELETEALL first, then one TRIANGLE_LIST per asset
    assert len(markers) == 1 + len(near)
    by_id = {f"{o['class']}_{o['id']}": o for o in near}
    for row, marker in zip(summary, markers[1:]):
        assert marker.type == 11 and marker.header.frame_id == "map"
        assert stamp_to_ns(marker.header.stamp) == last_stamp  # the input's stamp
        gt = by_id[row["object_id"]]
        verts = np.array([[p.x, p.y, p.z] for p in marker.points])
        centre, size = np.asarray(gt["box_centre"]), np.asarray(gt["box_size"])
        # the asset sits in the GT box: its centre within 15% of the box, its extent not bigger
        assert np.linalg.norm((verts.min(0) + verts.max(0)) / 2 - centre) < 0.15 * size.max()
        assert (verts.max(0) - verts.min(0)).max() < 1.2 * np.linalg.norm(size)
        folder = out / row["object_id"]
        assert validate_gazebo_model(folder) == []
        mesh = trimesh.load(folder / "meshes" / "asset.glb", force="mesh")
        assert len(mesh.faces) > 50 and mesh.is_watertight
        meta = json.loads((folder / "metadata.json").read_text())
        assert meta["object_id"] == row["object_id"] and meta["method"] == row["method"]
    methods = {r["object_id"]: r["method"] for r in summary}
    assert any(methods[i] == "prior" for i in with_points)

    diag = [m for topic, _, _, _, m in published if topic == "/diagnostics"][-1]
    status = next(s for s in diag.status if s.name.endswith(": assets"))
    values = {kv.key: kv.value for kv in status.values}
    assert int(values["objects_tracked"]) == len(near)
    assert int(values["assets_completed"]) == len(near)
    assert int(values["scans_used"]) == sum(1 for t, *_ in msgs if t == "/points")
    fallbacks = sum(1 for r in summary if r["method"] != "prior")
    assert fallbacks >= 1 and int(values["fallbacks"]) >= fallbacks  # per completion round
    assert int(values["fallback: only # points (< #)"]) >= 1  # the reason, numbers dropped


def _tf_stream(msgs):
    """The pose topic replaced by /tf map -> base_link (T_map_cam @ inv(T_base_cam))."""
    static = next(m for t, _, _, m in msgs if t == "/tf_static")
    T_base_cam = next(tf for tf in _tfs(static) if tf.child == "camera_optical_frame").T_parent_child
    out = []
    for topic, typename, t, msg in msgs:
        if topic == "/ground_truth/pose":
            stamp, _, T_map_cam = pose_stamped_from_msg(msg)
            msg = tf_to_msg([StampedTransform("map", "base_link", stamp,
                                              T_map_cam @ invert_pose(T_base_cam))])
            topic, typename = "/tf", "tf2_msgs/msg/TFMessage"
        out.append((topic, typename, t, msg))
    return out


def _tfs(msg):
    from slam_nodes.msgs.geometry import tf_from_msg

    return tf_from_msg(msg)


def test_tf_and_pose_topic_give_the_same_observations(yard, tmp_path):
    _, objects, msgs = yard
    near = _near(objects, msgs)
    obs = []
    for stream, params in ((msgs, POSE), (_tf_stream(msgs), {})):
        rt = OfflineRuntime(NODE_NAME)
        node = AssetCompletionNode(rt, AssetNodeConfig.from_dict(
            {**FAST, **params, "inputs.detections": True, "outputs.output_dir": str(tmp_path)}))
        rt.spin_messages(_with_detections(stream, near))
        obs.append({o.object_id: o for o in node.observations()})
        assert node.scans_used == 5
    assert obs[0].keys() == obs[1].keys()
    counts = [len(o.points_m) for o in obs[0].values()]
    assert sum(counts) > 200
    for key, a in obs[0].items():
        b = obs[1][key]
        assert len(a.points_m) == len(b.points_m)
        if len(a.points_m):
            np.testing.assert_allclose(a.points_m, b.points_m, atol=1e-6)


def test_proposals_without_detections_find_the_near_van(yard, tmp_path):
    _, objects, msgs = yard
    rt = OfflineRuntime(NODE_NAME)
    node = AssetCompletionNode(rt, AssetNodeConfig.from_dict(
        {**FAST, **POSE, "outputs.output_dir": str(tmp_path)}))
    rt.spin_messages(msgs)
    props = node.observations()
    van = next(o for o in objects if o["class"] == "van"
               and np.linalg.norm(np.asarray(o["box_centre"][:2]) - (7.8, 1.6)) < 0.5)
    dist = [np.linalg.norm(p.T_world_object[:2, 3] - van["box_centre"][:2]) for p in props]
    best = props[int(np.argmin(dist))]
    assert min(dist) < 0.6 and len(best.points_m) > 300


def test_bad_input_is_skipped_and_counted(yard, tmp_path):
    _, _, msgs = yard
    published = []
    rt = OfflineRuntime(NODE_NAME, on_publish=lambda *a: published.append(a))
    node = AssetCompletionNode(rt, AssetNodeConfig.from_dict(
        {**FAST, **POSE, "outputs.output_dir": str(tmp_path), "inputs.pose_wait_s": 0.05,
         "completion.period_s": 0.1}))
    clouds = [r for r in msgs if r[0] == "/points"]
    bad = M("sensor_msgs/msg/PointCloud2")(
        header=make_header(clouds[0][2], "lidar"), height=1, width=2, fields=[],
        is_bigendian=False, point_step=4, row_step=8, data=np.zeros(8, np.uint8), is_dense=True)
    rt.deliver("/points", "sensor_msgs/msg/PointCloud2", clouds[0][2], bad)
    # clouds without any pose: held for inputs.pose_wait_s, then skipped with the reason
    for topic, typename, t, msg in clouds:
        rt.deliver(topic, typename, t, msg)
    rt.flush(extra_ns=int(1e9))
    node.shutdown()
    skipped = dict(node.monitor.topics["points"].skipped)
    assert skipped == {"conversion error": 1, "no pose": len(clouds)}
    assert node.scans_used == 0 and node.assets == {}
    # the completion timer ran every 0.1 s of sim time; ~/assets (latched) was sent once, empty
    assert node.completions_run >= 10
    sent = [m for topic, *_, m in published if topic == f"/{NODE_NAME}/assets"]
    assert len(sent) == 1 and [m.action for m in sent[0].markers] == [3]
    assert json.loads((tmp_path / "assets.json").read_text()) == []


def test_config_errors_are_clear(tmp_path):
    with pytest.raises(ConfigError, match="inputs.pose_frame"):
        AssetNodeConfig.from_dict({"inputs.pose_topic": "/pose"})
    with pytest.raises(ConfigError, match="unknown parameter"):
        AssetNodeConfig.from_dict({"completion": {"samples": 3}})
    with pytest.raises(ConfigError, match="completion.period_s must be >= 0"):
        AssetNodeConfig.from_dict({"completion.period_s": -1.0})
    with pytest.raises(ConfigError, match="completion.num_samples must be an integer"):
        AssetNodeConfig.from_dict({"completion.num_samples": 2.5})
    cfg = load_asset_config("config/assets.yaml", overrides={"outputs.splat": False})
    assert cfg.outputs.splat is False and cfg.frames.world_frame == "map"
    assert cfg.to_dict() == AssetNodeConfig().to_dict() | {"outputs": cfg.to_dict()["outputs"]}


def test_cli_node_mode_names_missing_topics(yard, tmp_path, capsys):
    from slam_nodes.cli import main

    out, _, _ = yard
    code = main(["replay", str(out / "bag"), "--node", "asset_completion_node", "--out",
                 str(tmp_path / "o"), "--config", "config/assets.yaml",
                 "--remap", "points:=/lidar/points", "--no-progress"])
    assert code != 0
    assert "/lidar/points" in capsys.readouterr().err
    assert (tmp_path / "o" / "config.yaml").is_file()


def test_node_over_cyclone_dds_latches_assets_to_a_peer(yard, tmp_path, monkeypatch):
    """The same node on the DDS runtime: a peer publishes the bag's messages and detections
    over loopback and receives ~/assets (transient-local) from the completion timer."""
    import random
    import threading
    import time

    from slam_nodes.runtime.dds import DdsRuntime, loopback_config
    from slam_nodes.runtime.interface import DEFAULT_QOS, LATCHED_QOS

    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    _, objects, msgs = yard
    near = _near(objects, msgs)[:2]
    stream = _with_detections(msgs, near)
    domain = random.randint(100, 200)
    rt = DdsRuntime(NODE_NAME, domain_id=domain)
    node = AssetCompletionNode(rt, AssetNodeConfig.from_dict(
        {**FAST, **POSE, "inputs.detections": True, "inputs.sensor_qos": "reliable",
         "completion.period_s": 1.0, "outputs.output_dir": str(tmp_path)}))
    peer = DdsRuntime("peer", domain_id=domain)
    got = []
    peer.subscribe(f"/{NODE_NAME}/assets", "visualization_msgs/msg/MarkerArray", got.append,
                   LATCHED_QOS)
    pubs = {t: peer.publisher(t, tn, LATCHED_QOS if t == "/tf_static" else DEFAULT_QOS)
            for t, tn, _, _ in stream}
    spinner = threading.Thread(target=rt.spin, kwargs={"duration_s": 60.0})
    spinner.start()
    try:
        time.sleep(1.0)  # discovery
        for topic, _, _, msg in stream:
            pubs[topic].publish(msg)
            time.sleep(0.005)
        end = time.monotonic() + 40
        while time.monotonic() < end and not (node.scans_used == 5 and got
                                              and len(got[-1].markers) == 1 + len(near)):
            peer.spin_once(0.2)
    finally:
        rt.stop()
        spinner.join()
    assert node.scans_used == 5
    assert len(got[-1].markers) == 1 + len(near)
    assert {m.header.frame_id for m in got[-1].markers} == {"map"}
    assert sorted(node.assets) == sorted(f"{o['class']}_{o['id']}" for o in near)
