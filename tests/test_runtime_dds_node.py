"""en_slam_node on the Cyclone DDS runtime, fed by a separate camera process over loopback
(tests/dds_camera.py, real 7-Scenes frames at 160x120), read back by a separate subscriber
process: the node tracks what arrives over DDS and its pose topic reaches the peer."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np

from slam_nodes.nodes.config import SlamNodeConfig
from slam_nodes.nodes.en_slam_node import EnSlamNode
from slam_nodes.runtime.dds import DdsRuntime, loopback_config
from slam_nodes.types import invert_pose

TESTS = Path(__file__).parent
REPO = TESTS.parent
N = 12


def test_node_tracks_frames_arriving_over_dds(shared_data, tmp_path, monkeypatch):
    import cv2

    monkeypatch.setenv("CYCLONEDDS_URI", loopback_config())
    domain = random.randint(100, 200)
    root = shared_data / "rgbd_7scenes_redkitchen"
    rgb, depth, gt = [], [], []
    for i in range(N):
        d = cv2.imread(str(root / f"frame-{i:06d}.depth.png"), -1).astype(np.float32)
        d[d >= 65535] = 0
        depth.append(cv2.resize(d / 1000.0, (160, 120), interpolation=cv2.INTER_NEAREST))
        c = cv2.imread(str(root / f"frame-{i:06d}.color.jpg"))[:, :, ::-1]
        rgb.append(cv2.resize(c, (160, 120), interpolation=cv2.INTER_AREA))
        gt.append(np.loadtxt(root / f"frame-{i:06d}.pose.txt"))
    K = np.array([[146.25, 0, 79.625], [0, 146.25, 59.625], [0, 0, 1]])
    stamps = 1_700_000_000_000_000_000 + np.arange(N, dtype=np.int64) * 33_333_333
    npz = tmp_path / "frames.npz"
    np.savez(npz, rgb=np.asarray(rgb), depth=np.asarray(depth, np.float32), K=K,
             stamps_ns=stamps)

    rt = DdsRuntime("en_slam_node", domain_id=domain)
    node = EnSlamNode(rt, SlamNodeConfig.from_dict(
        {"mesh": {"enabled": False}, "inputs": {"sensor_qos": "reliable"}}))
    env = dict(os.environ, PYTHONPATH=str(REPO))
    out = tmp_path / "poses.json"
    reader = subprocess.Popen(
        [sys.executable, str(TESTS / "dds_peer.py"), str(domain), "rt/en_slam_node/pose",
         "geometry_msgs/msg/PoseStamped", "reliable", "volatile", "10", str(N), "25", str(out)],
        stdout=subprocess.PIPE, env=env, text=True)
    assert reader.stdout.readline().strip() == "ready"
    camera = subprocess.Popen([sys.executable, str(TESTS / "dds_camera.py"), str(domain),
                               str(npz), "8", "reliable"], env=env)
    spinner = threading.Thread(target=rt.spin, kwargs={"duration_s": 30.0})
    spinner.start()
    camera.wait(timeout=40)
    reader.wait(timeout=40)  # it stops once it has N poses, or after 25 s
    rt.stop()
    spinner.join(timeout=10)
    assert camera.returncode == 0 and reader.returncode == 0
    traj = node.camera_trajectory()
    # reliable QoS: every frame arrives even when this busy machine starves the receiver
    # (with best effort, fragments of 57 KB images are lost under CPU load, as on a robot)
    received = {t: st.received for t, st in node.monitor.topics.items()}
    assert received == {"rgb/image": N, "depth/image": N, "rgb/camera_info": N,
                        "depth/camera_info": N}
    assert len(traj) == N
    assert set(traj.stamps_ns.tolist()) <= set(stamps.tolist())
    for stamp, T in zip(traj.stamps_ns, traj.poses):
        i = int(np.nonzero(stamps == stamp)[0][0])
        j = int(np.nonzero(stamps == traj.stamps_ns[0])[0][0])
        gt_rel = invert_pose(gt[j]) @ gt[i]
        assert np.linalg.norm(T[:3, 3] - gt_rel[:3, 3]) < 0.02
    got = json.loads(out.read_text())
    assert [g["stamp_ns"] for g in got] == traj.stamps_ns.tolist()[: len(got)]
    assert len(got) == len(traj) and all(g["frame_id"] == "map" for g in got)
