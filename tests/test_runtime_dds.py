"""Cyclone DDS runtime over loopback, checked by a separate reader process (tests/dds_peer.py)
that declares its reader as ROS 2 on Cyclone DDS does and decodes with cyclonedds' own
deserializer. Each test uses its own random domain id; every loop is bounded."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from slam_nodes.msgs.geometry import path_to_msg
from slam_nodes.msgs.image import rgb_to_msg
from slam_nodes.runtime.dds import DdsRuntime, loopback_config
from slam_nodes.runtime.dds_types import cdr_bytes, dds_type_name, idl_type
from slam_nodes.runtime.interface import DEFAULT_QOS, LATCHED_QOS, SENSOR_QOS
from slam_nodes.types import Trajectory, make_pose

PEER = Path(__file__).with_name("dds_peer.py")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def domain(monkeypatch) -> int:
    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    return random.randint(100, 200)


def _peer(domain, topic, typename, rel, dur, depth, want, timeout, out):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        [sys.executable, str(PEER), str(domain), topic, typename, rel, dur, str(depth),
         str(want), str(timeout), str(out)], stdout=subprocess.PIPE, env=env, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _finish(proc, out) -> list[dict]:
    proc.wait(timeout=30)
    assert proc.returncode == 0
    return json.loads(Path(out).read_text())


def test_generated_types_match_rosbags_cdr():
    """cyclonedds' own serializer and rosbags produce the same bytes for a ROS 2 Image."""
    rgb = np.random.default_rng(0).integers(0, 255, (12, 16, 3), dtype=np.uint8)
    msg = rgb_to_msg(rgb, 1_234_567_890_123, "cam")
    data = cdr_bytes(msg, "sensor_msgs/msg/Image")
    Image_ = idl_type("sensor_msgs/msg/Image")
    assert Image_.__idl_typename__ == "sensor_msgs::msg::dds_::Image_" == dds_type_name(
        "sensor_msgs/msg/Image")
    decoded = Image_.deserialize(data)
    assert decoded.header.stamp.sec == 1234 and decoded.header.stamp.nanosec == 567_890_123
    assert bytes(decoded.data) == rgb.tobytes() and decoded.encoding == "rgb8"
    assert decoded.serialize().ljust(len(data), b"\0") == data


def test_images_arrive_intact_in_another_process(domain, tmp_path):
    rt = DdsRuntime("talker", domain_id=domain)
    pub = rt.publisher("/camera/image", "sensor_msgs/msg/Image", DEFAULT_QOS)
    out = tmp_path / "got.json"
    proc = _peer(domain, "rt/camera/image", "sensor_msgs/msg/Image", "reliable", "volatile",
                 10, 5, 15, out)
    rng = np.random.default_rng(1)
    sent = {}
    for i in range(200):  # until the peer has 5 (it stops by itself), bounded
        rgb = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        stamp = 1_000_000_000 + i * 33_333_333
        pub.publish(rgb_to_msg(rgb, stamp, "cam"))
        sent[stamp] = hashlib.sha256(rgb.tobytes()).hexdigest()
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    got = _finish(proc, out)
    assert len(got) == 5
    for g in got:
        assert g["sha"] == sent[g["stamp_ns"]]
        assert g["size"] == [64, 48] and g["encoding"] == "rgb8" and g["frame_id"] == "cam"
    stamps = [g["stamp_ns"] for g in got]
    assert stamps == sorted(stamps) and np.all(np.diff(stamps) == 33_333_333)  # no gaps


def test_late_subscriber_gets_transient_local_path(domain, tmp_path):
    rt = DdsRuntime("en_slam_node", domain_id=domain)
    pub = rt.publisher("~/path", "nav_msgs/msg/Path", LATCHED_QOS)
    for n in (1, 2, 3):
        poses = np.stack([make_pose(np.eye(3), [i * 0.1, 0, 0]) for i in range(n)])
        pub.publish(path_to_msg(Trajectory(np.arange(n) * 10**8 + 10**9, poses), "map"))
    time.sleep(0.2)
    out = tmp_path / "path.json"
    proc = _peer(domain, "rt/en_slam_node/path", "nav_msgs/msg/Path", "reliable",
                 "transient_local", 1, 1, 10, out)
    got = _finish(proc, out)
    assert len(got) == 1 and got[0]["num_poses"] == 3
    assert got[0]["last_x"] == pytest.approx(0.2) and got[0]["frame_id"] == "map"


def test_qos_mismatch_is_reported(domain, tmp_path):
    rt = DdsRuntime("en_slam_node", domain_id=domain)
    reports = []
    rt.set_incompatible_handler(lambda topic, reason: reports.append((topic, reason)))
    pub = rt.publisher("/camera/image", "sensor_msgs/msg/Image", SENSOR_QOS)  # best effort
    out = tmp_path / "none.json"
    proc = _peer(domain, "rt/camera/image", "sensor_msgs/msg/Image", "reliable", "volatile",
                 10, 1, 3, out)  # a reliable reader cannot match a best-effort writer
    end = time.monotonic() + 10
    while not reports and time.monotonic() < end:
        pub.publish(rgb_to_msg(np.zeros((4, 4, 3), np.uint8), 1, "cam"))
        rt.spin_once(0.05)
    got = _finish(proc, out)
    assert got == []
    assert reports and reports[0][0] == "/camera/image" and "RELIABILITY" in reports[0][1]
