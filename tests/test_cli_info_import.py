"""`slam-nodes info` and `slam-nodes import` on the real recordings."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from slam_nodes.cli import main
from slam_nodes.io.bag import open_bag
from slam_nodes.msgs.camera_info import camera_from_msg
from slam_nodes.msgs.geometry import pose_stamped_from_msg, tf_from_msg
from slam_nodes.msgs.image import depth_from_msg, rgb_from_msg
from slam_nodes.msgs.pointcloud import scan_from_msg
from slam_nodes.msgs.stamps import stamp_to_ns
from slam_nodes.types import read_tum


def info_json(path, capsys, *extra) -> dict:
    assert main(["info", str(path), "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


def test_info_json_event_bag_matches_upstream_oracle(shared_data, capsys):
    """test_events_1 (README): 343474 CD events, ON 125183, OFF 218291, 4157 triggers."""
    out = info_json(shared_data / "event_camera_bags/event_camera_py/test_events_1.bag", capsys)
    assert (out["format"], out["ros_version"], out["message_count"]) == ("rosbag1", 1, 517)
    (topic,) = out["topics"]
    assert (topic["name"], topic["count"], topic["read"], topic["skipped"]) == (
        "/event_camera/events", 517, 517, 0)
    assert topic["rate_hz"] == pytest.approx(516 / 2.076072832, rel=1e-6)
    ev = topic["events"]
    assert (ev["events"], ev["on"], ev["off"], ev["triggers"]) == (343474, 125183, 218291, 4157)
    assert (ev["width"], ev["height"], ev["encodings"]) == (640, 480, ["evt3"])
    assert ev["first_event_ns"] < ev["last_event_ns"]
    assert ev["last_event_ns"] - ev["first_event_ns"] == pytest.approx(2.08e9, rel=0.02)


def test_info_json_evt3_trigger_and_quick_mode(shared_data, capsys):
    path = shared_data / "event_camera_bags/event_camera_codecs/test_data_evt3_trigger"
    ev = info_json(path, capsys)["topics"][0]["events"]
    assert (ev["events"], ev["on"], ev["off"], ev["triggers"]) == (82469, 41439, 41030, 2)
    quick = info_json(shared_data / "evo_testdata/nav2_turtlebot.mcap", capsys, "--quick")
    assert not quick["scanned"]
    counts = {t["name"]: t["count"] for t in quick["topics"]}
    assert counts == {"/odom": 2639, "/tf": 5422, "/tf_static": 1, "/amcl_pose": 135}
    assert all(t["first_ns"] is None and t["events"] is None for t in quick["topics"])


def test_info_table_lists_topics(shared_data, capsys):
    assert main(["info", str(shared_data / "evo_testdata/ROS_example.bag"), "--quick"]) == 0
    out = capsys.readouterr().out
    for name, count in (("groundtruth", 12765), ("ORB-SLAM", 8362), ("S-PTAM", 5439)):
        line = next(line for line in out.splitlines() if f" {name} " in line)
        assert str(count) in line and "geometry_msgs/msg/PoseStamped" in line


def test_import_7scenes_round_trip(shared_data, tmp_path, capsys):
    root = shared_data / "rgbd_7scenes_redkitchen"
    bag_path = tmp_path / "kitchen"
    assert main(["import", "7scenes", str(root), "--out", str(bag_path),
                 "--max-frames", "10"]) == 0
    assert "10 frames" in capsys.readouterr().out
    with open_bag(bag_path) as bag:
        assert {n: (t.typename, t.count) for n, t in bag.topics.items()} == {
            "/camera/rgb/image": ("sensor_msgs/msg/Image", 10),
            "/camera/depth/image": ("sensor_msgs/msg/Image", 10),
            "/camera/rgb/camera_info": ("sensor_msgs/msg/CameraInfo", 10),
            "/camera/depth/camera_info": ("sensor_msgs/msg/CameraInfo", 10),
            "/ground_truth/pose": ("geometry_msgs/msg/PoseStamped", 10),
            "/tf_static": ("tf2_msgs/msg/TFMessage", 1)}
        msgs = list(bag.messages())
    by_topic: dict[str, list] = {}
    for m in msgs:
        by_topic.setdefault(m.topic, []).append(m)
    for i in range(10):
        stamp = (i * 10**9 + 15) // 30
        depth_msg = by_topic["/camera/depth/image"][i]
        assert depth_msg.msg.encoding == "16UC1"
        assert depth_msg.log_time_ns == stamp_to_ns(depth_msg.msg.header.stamp) == stamp
        depth = depth_from_msg(depth_msg.msg)
        png = cv2.imread(str(root / f"frame-{i:06d}.depth.png"), cv2.IMREAD_UNCHANGED)
        valid = (png != 0) & (png != 65535)
        np.testing.assert_allclose(depth[valid], png[valid] / 1000.0, rtol=1e-6)
        assert np.all(depth[~valid] == 0)
        rgb_msg = by_topic["/camera/rgb/image"][i].msg
        assert rgb_msg.encoding == "rgb8"
        jpg = cv2.imread(str(root / f"frame-{i:06d}.color.jpg"))
        np.testing.assert_array_equal(rgb_from_msg(rgb_msg), jpg[:, :, ::-1])
        stamp_ns, frame, T = pose_stamped_from_msg(by_topic["/ground_truth/pose"][i].msg)
        expected = np.loadtxt(root / f"frame-{i:06d}.pose.txt")
        assert (stamp_ns, frame) == (stamp, "map")
        np.testing.assert_allclose(T[:3, 3], expected[:3, 3], atol=1e-12)
        np.testing.assert_allclose(T[:3, :3], expected[:3, :3], atol=2e-4)  # re-orthonormalised
    cam = camera_from_msg(by_topic["/camera/depth/camera_info"][0].msg)
    assert (cam.width, cam.height, cam.fx, cam.cx, cam.frame_id) == (
        640, 480, 585.0, 320.0, "camera_optical_frame")
    (edge,) = tf_from_msg(by_topic["/tf_static"][0].msg)
    assert (edge.parent, edge.child) == ("camera_link", "camera_optical_frame")
    np.testing.assert_allclose(edge.T_parent_child[:3, :3] @ [0, 0, 1], [1, 0, 0], atol=1e-12)
    gt = read_tum(bag_path / "groundtruth.tum")
    assert list(gt.stamps_ns) == [(i * 10**9 + 15) // 30 for i in range(10)]
    np.testing.assert_allclose(gt.positions[7], np.loadtxt(root / "frame-000007.pose.txt")[:3, 3],
                               atol=1e-9)


def test_import_kitti_points(shared_data, tmp_path, capsys):
    src = shared_data / "lidar_scans/kitti_patchworkpp"
    out = tmp_path / "kitti"
    assert main(["import", "kitti", str(src), "--out", str(out), "--max-frames", "2",
                 "--compress"]) == 0
    with open_bag(out) as bag:
        assert {n: t.count for n, t in bag.topics.items()} == {"/points": 2, "/tf_static": 1}
        scans = [scan_from_msg(m.msg) for m in bag.messages(["/points"])]
    for k, scan in enumerate(scans):
        raw = np.fromfile(src / f"{k:06d}.bin", dtype="<f4").reshape(-1, 4)
        assert scan.stamp_ns == k * 100_000_000 and scan.frame_id == "velodyne"
        np.testing.assert_array_equal(scan.xyz, raw[:, :3])
        np.testing.assert_array_equal(scan.intensity, raw[:, 3])
    assert not (out / "groundtruth.tum").exists()  # no poses in this folder


def test_import_errors_are_one_line(shared_data, tmp_path, capsys):
    assert main(["import", "tum", str(tmp_path / "missing"), "--out", str(tmp_path / "b")]) == 2
    assert "error:" in capsys.readouterr().err
    out = tmp_path / "once"
    src = str(shared_data / "lidar_scans/kitti_patchworkpp")
    assert main(["import", "kitti", src, "--out", str(out), "--max-frames", "1"]) == 0
    assert main(["import", "kitti", src, "--out", str(out), "--max-frames", "1"]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["import", "kitti", src, "--out", str(out), "--max-frames", "1",
                 "--overwrite"]) == 0
    for bad in ("0", "-3"):  # rejected before anything is written
        assert main(["import", "kitti", src, "--out", str(tmp_path / "none"),
                     "--max-frames", bad]) == 2
        assert f"max_frames must be at least 1, got {bad}" in capsys.readouterr().err
        assert not (tmp_path / "none").exists()


def test_import_tum_keeps_ground_truth_covering_the_frames(shared_data, tmp_path, capsys):
    """A TUM folder (made of real 7-Scenes frames) with 100 Hz mocap spanning more than the
    frames: the bag and groundtruth.tum keep the samples from the last one at or before the
    first frame to the first one at or after the last frame."""
    from test_io_datasets import build_tum_folder

    from slam_nodes.types import Trajectory, make_pose, write_tum

    root = tmp_path / "rgbd_dataset_freiburg3_test"
    stamps = build_tum_folder(shared_data, root, n=4)
    mocap = np.arange(stamps[0] - 10**9, stamps[-1] + 10**9, 10**7) + 3_000_000  # 100 Hz, offset
    write_tum(root / "groundtruth.txt", Trajectory(
        mocap, np.stack([make_pose(np.eye(3), [k * 0.01, 0, 0]) for k in range(len(mocap))])))
    out = tmp_path / "tum_bag"
    assert main(["import", "tum", str(root), "--out", str(out), "--max-frames", "3",
                 "--depth-encoding", "32FC1"]) == 0
    lo = mocap[np.searchsorted(mocap, stamps[0], "right") - 1]
    hi = mocap[np.searchsorted(mocap, stamps[2], "left")]
    expected = mocap[(mocap >= lo) & (mocap <= hi)]
    gt = read_tum(out / "groundtruth.tum")
    np.testing.assert_array_equal(gt.stamps_ns, expected)
    with open_bag(out) as bag:
        poses = [pose_stamped_from_msg(m.msg) for m in bag.messages(["/ground_truth/pose"])]
        depths = [m.msg for m in bag.messages(["/camera/depth/image"])]
    assert [p[0] for p in poses] == list(expected)
    np.testing.assert_allclose([p[2][0, 3] for p in poses], gt.positions[:, 0], atol=1e-9)
    assert [stamp_to_ns(d.header.stamp) for d in depths] == stamps[:3]
    first = sorted(root.glob("depth/*.png"))[0]
    raw = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    assert depths[0].encoding == "32FC1"  # keeps TUM's 0.2 mm steps
    np.testing.assert_allclose(depth_from_msg(depths[0]), raw / 5000.0, rtol=1e-7)
