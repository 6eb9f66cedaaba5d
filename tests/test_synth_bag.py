"""Synthetic sequences as files: deterministic bags that plain rosbags, our decoders and evo
read, with ground truth that matches the bag and the in-memory render."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import trimesh

from slam_nodes.synth.presets import get_preset
from slam_nodes.synth.sequence import SynthFrame, render_sequence
from slam_nodes.synth.writer import generate

DURATION_S = 0.5


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "seq"
    info = generate("room-tiny", out, seed=7, duration_s=DURATION_S, nthreads=2)
    return info


def test_same_seed_gives_byte_identical_bag(tiny_run, tmp_path):
    again = generate("room-tiny", tmp_path / "again", seed=7, duration_s=DURATION_S, nthreads=2)
    a = tiny_run.bag_path / "bag.mcap"
    b = again.bag_path / "bag.mcap"
    assert a.read_bytes() == b.read_bytes()
    assert (tiny_run.bag_path / "metadata.yaml").read_bytes() == (again.bag_path / "metadata.yaml").read_bytes()
    for name in ("gt_camera.tum", "gt_lidar.tum", "gt_imu.tum", "imu_gt.csv", "objects.json",
                 "photometry.csv"):
        assert (tiny_run.out_dir / name).read_bytes() == (again.out_dir / name).read_bytes()
    other = generate("room-tiny", tmp_path / "other", seed=8, duration_s=DURATION_S, nthreads=2)
    assert other.bag_path.joinpath("bag.mcap").read_bytes() != a.read_bytes()


def test_bag_reads_back_with_plain_rosbags(tiny_run):
    from rosbags.highlevel import AnyReader

    from slam_nodes.msgs.typestore import get_typestore

    expected = {
        "/camera/rgb/image": "sensor_msgs/msg/Image",
        "/camera/rgb/camera_info": "sensor_msgs/msg/CameraInfo",
        "/camera/depth/image": "sensor_msgs/msg/Image",
        "/camera/depth/camera_info": "sensor_msgs/msg/CameraInfo",
        "/events": "event_camera_msgs/msg/EventPacket",
        "/points": "sensor_msgs/msg/PointCloud2",
        "/tf_static": "tf2_msgs/msg/TFMessage",
        "/ground_truth/pose": "geometry_msgs/msg/PoseStamped",
        "/imu": "sensor_msgs/msg/Imu",
    }
    n_frames = int(DURATION_S * 30)
    with AnyReader([tiny_run.bag_path], default_typestore=get_typestore()) as reader:
        topics = {c.topic: c.msgtype for c in reader.connections}
        assert topics == expected
        counts: dict[str, int] = {}
        last = -1
        for conn, stamp, raw in reader.messages():
            assert stamp >= last  # written in time order
            last = stamp
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
            msg = reader.deserialize(raw, conn.msgtype)
            if conn.topic == "/camera/depth/image":
                assert msg.encoding == "16UC1" and (msg.width, msg.height) == (80, 60)
            if conn.topic == "/tf_static":
                children = {t.child_frame_id for t in msg.transforms}
                assert children == {"camera_optical_frame", "event_camera_optical_frame", "lidar", "imu"}
    assert counts["/camera/rgb/image"] == n_frames
    assert counts["/ground_truth/pose"] == n_frames
    assert counts["/points"] == int(DURATION_S * 10)
    assert counts["/events"] == n_frames - 1
    assert counts["/imu"] == int(DURATION_S * 200)


def test_bag_matches_in_memory_render_and_ground_truth(tiny_run):
    from evo.tools import file_interface

    from slam_nodes.events import make_decoder
    from slam_nodes.io.bag import open_bag
    from slam_nodes.msgs import depth_from_msg, pose_stamped_from_msg, rgb_from_msg

    cfg = get_preset("room-tiny").with_overrides(seed=7, duration_s=DURATION_S)
    frames = [f for f in render_sequence(cfg, nthreads=2) if isinstance(f, SynthFrame)]
    by_stamp = {f.stamp_ns: f for f in frames}
    decoder = make_decoder("event_camera_msgs/msg/EventPacket", "/events")
    n_events, rgb_checked, gt_poses = 0, 0, []
    with open_bag(tiny_run.bag_path) as bag:
        for m in bag.messages(["/camera/rgb/image", "/camera/depth/image", "/events",
                               "/ground_truth/pose"]):
            if m.topic == "/camera/rgb/image":
                frame = by_stamp[m.log_time_ns]
                np.testing.assert_array_equal(rgb_from_msg(m.msg), frame.rgb)
                rgb_checked += 1
            elif m.topic == "/camera/depth/image":
                depth = depth_from_msg(m.msg)
                np.testing.assert_allclose(depth, by_stamp[m.log_time_ns].depth, atol=1e-6)
            elif m.topic == "/events":
                batch, _ = decoder.decode(m.msg)
                assert batch.t.min() >= m.log_time_ns
                n_events += len(batch)
            else:
                stamp, frame_id, T = pose_stamped_from_msg(m.msg)
                assert frame_id == "map"
                gt_poses.append((stamp, T))
    assert rgb_checked == len(frames)
    assert n_events == tiny_run.num_events > 0
    traj = file_interface.read_tum_trajectory_file(str(tiny_run.out_dir / "gt_camera.tum"))
    assert traj.num_poses == len(frames)
    np.testing.assert_allclose(traj.timestamps, [s / 1e9 for s, _ in gt_poses], atol=1e-9)
    np.testing.assert_allclose(traj.positions_xyz, [T[:3, 3] for _, T in gt_poses], atol=1e-6)
    lidar = file_interface.read_tum_trajectory_file(str(tiny_run.out_dir / "gt_lidar.tum"))
    assert lidar.num_poses == int(DURATION_S * 10)


def test_objects_and_meshes(tiny_run):
    out: Path = tiny_run.out_dir
    data = json.loads((out / "objects.json").read_text())
    assert len(data["objects"]) >= 5
    classes = {o["class"] for o in data["objects"]}
    assert {"table", "chair"} <= classes
    for obj in data["objects"]:
        mesh = trimesh.load(out / obj["mesh"], force="mesh")
        assert mesh.is_watertight or len(mesh.faces) > 0
        R = np.asarray(obj["box_rotation"])
        local = (np.asarray(mesh.vertices) - obj["box_centre"]) @ R
        assert np.all(np.abs(local) <= np.asarray(obj["box_size"]) / 2 + 1e-6)
    scene = trimesh.load(out / "scene.ply", force="mesh")
    assert len(scene.faces) > 500
    photometry = np.genfromtxt(out / "photometry.csv", delimiter=",", names=True)
    assert len(photometry) == int(DURATION_S * 30)
    assert np.all(photometry["exposure_s"] > 0) and np.all(photometry["gain"] >= 1)


def test_cli_list_and_errors(capsys, tmp_path):
    from slam_nodes.cli import main

    assert main(["synth", "--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("room-tiny", "room-normal", "room-blur", "room-dark", "yard-normal"):
        assert name in listed
    assert main(["synth", "no-such-preset", "--out", str(tmp_path / "x")]) == 2
    assert "unknown synth preset" in capsys.readouterr().err


def test_cli_writes_yard_with_dvs_events(tmp_path):
    from slam_nodes.cli import main
    from slam_nodes.events import make_decoder
    from slam_nodes.io.bag import open_bag

    out = tmp_path / "yard"
    assert main(["synth", "yard-tiny", "--out", str(out), "--duration", "0.3", "--seed", "2",
                 "--event-encoding", "dvs", "--threads", "2"]) == 0
    seq = json.loads((out / "sequence.json").read_text())
    decoder = make_decoder("dvs_msgs/msg/EventArray", "/events")
    n = 0
    with open_bag(out / "bag") as bag:
        for m in bag.messages(["/events"]):
            batch, _ = decoder.decode(m.msg)
            n += len(batch)
    assert n == seq["num_events"] > 0
    classes = {o["class"] for o in json.loads((out / "objects.json").read_text())["objects"]}
    assert {"car", "pedestrian"} <= classes


def test_evt3_events_decode_to_sensor_time(tmp_path):
    import dataclasses

    from slam_nodes.events import make_decoder
    from slam_nodes.io.bag import open_bag
    from slam_nodes.synth.sequence import SynthEvents

    cfg = get_preset("room-tiny").with_overrides(duration_s=0.2, lidar=None, imu=None, depth=None)
    cfg = dataclasses.replace(cfg, events=dataclasses.replace(cfg.events, encoding="evt3"))
    info = generate(cfg, tmp_path / "evt3", seed=1, nthreads=2)
    expected = [item.events for item in render_sequence(cfg.with_overrides(seed=1), nthreads=2)
                if isinstance(item, SynthEvents)]
    decoder = make_decoder("event_camera_msgs/msg/EventPacket", "/events")
    got = []
    with open_bag(info.bag_path) as bag:
        for m in bag.messages(["/events"]):
            assert m.msg.encoding == "evt3"
            got.append(decoder.decode(m.msg)[0])
    t_got = np.concatenate([b.t for b in got])
    t_exp = np.concatenate([b.t for b in expected]) - cfg.start_ns
    # EVT3 keeps the camera's µs clock, counted from the sensor start
    np.testing.assert_array_equal(t_got, (t_exp // 1000) * 1000)
    np.testing.assert_array_equal(np.concatenate([b.x for b in got]),
                                  np.concatenate([b.x for b in expected]))
    np.testing.assert_array_equal(np.concatenate([b.p for b in got]),
                                  np.concatenate([b.p for b in expected]))


def test_slam_nodes_info_reads_the_bag(tiny_run, capsys):
    """`slam-nodes info --json` on a synthetic bag: every topic with its message count, and the
    event topic decoded to exactly the events the generator made, inside the sensor."""
    from rosbags.highlevel import AnyReader

    from slam_nodes.cli import main
    from slam_nodes.msgs.typestore import get_typestore

    assert main(["info", str(tiny_run.bag_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    topics = {t["name"]: t for t in summary["topics"]}
    with AnyReader([tiny_run.bag_path], default_typestore=get_typestore()) as reader:
        expected = {c.topic: c.msgcount for c in reader.connections}
    assert {name: t["count"] for name, t in topics.items()} == expected
    events = topics["/events"]["events"]
    assert events["events"] == tiny_run.num_events > 0
    assert events["on"] + events["off"] == events["events"] and events["on"] > 0 < events["off"]
    assert (events["width"], events["height"]) == (tiny_run.camera.width, tiny_run.camera.height)
