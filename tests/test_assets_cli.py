"""`slam-nodes assets BAG --out DIR` on a tiny bag written here: a car on a ground plane seen by
a LiDAR from two poses, with and without vision_msgs detections."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh

from slam_nodes.assets.export import validate_gazebo_model
from slam_nodes.assets.shapes import make_shape, shape_mesh
from slam_nodes.assets.synthetic import raycast_points
from slam_nodes.cli import main
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.msgs.geometry import StampedTransform, pose_stamped_to_msg, pose_to_msg, tf_to_msg
from slam_nodes.msgs.pointcloud import scan_to_msg
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types.pose import invert_pose, make_pose, transform_points
from slam_nodes.types.sensors import LidarScan


def _rz(deg):
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


@pytest.fixture(scope="module")
def car_bag(tmp_path_factory):
    shape = make_shape("car", 1_000_020)
    car = shape_mesh(shape, 48)
    T_world_car = make_pose(_rz(15), np.array([6.0, 1.0, shape.box_size_m[2] / 2]))
    car.apply_transform(T_world_car)
    ground = trimesh.creation.box(extents=(30, 30, 0.2))
    ground.apply_translation((0, 0, -0.1))
    world = trimesh.util.concatenate([car, ground])
    T_base_lidar = make_pose(np.eye(3), np.array([0.0, 0.0, 1.6]))
    path = tmp_path_factory.mktemp("bag") / "car_bag"
    rng = np.random.default_rng(0)
    M = msg_class
    with BagWriter(path) as w:
        w.add_topic("/points", "sensor_msgs/msg/PointCloud2")
        w.add_topic("/ground_truth/pose", "geometry_msgs/msg/PoseStamped")
        w.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", "transient_local")
        w.add_topic("/detections", "vision_msgs/msg/Detection3DArray")
        w.write("/tf_static", 0, tf_to_msg([StampedTransform("base_link", "lidar", 0, T_base_lidar)]))
        for k, (xy, yaw) in enumerate((((0.0, 0.0), 0.0), ((2.0, 6.0), -60.0))):
            stamp = 1_000_000_000 * (k + 1)
            T_world_base = make_pose(_rz(yaw), np.array([*xy, 0.0]))
            T_world_lidar = T_world_base @ T_base_lidar
            # rays toward the car's side of the scene: 6000 directions in a 70 degree fan
            to_car = T_world_car[:3, 3] - T_world_lidar[:3, 3]
            az0 = np.arctan2(to_car[1], to_car[0])
            az = az0 + rng.uniform(-0.6, 0.6, 6000)
            el = rng.uniform(-0.45, 0.1, 6000)
            dirs = np.stack([np.cos(az) * np.cos(el), np.sin(az) * np.cos(el), np.sin(el)], 1)
            hits, _ = raycast_points(world, np.repeat(T_world_lidar[None, :3, 3], 6000, 0), dirs)
            local = transform_points(invert_pose(T_world_lidar), hits)
            w.write("/points", stamp, scan_to_msg(LidarScan(stamp, local, frame_id="lidar")))
            w.write("/ground_truth/pose", stamp, pose_stamped_to_msg(T_world_base, stamp, "map"))
            det = M("vision_msgs/msg/Detection3D")(
                header=make_header(stamp, "map"),
                results=[M("vision_msgs/msg/ObjectHypothesisWithPose")(
                    hypothesis=M("vision_msgs/msg/ObjectHypothesis")(class_id="car", score=0.9),
                    pose=M("geometry_msgs/msg/PoseWithCovariance")(pose=pose_to_msg(T_world_car),
                                                                   covariance=np.zeros(36)))],
                bbox=M("vision_msgs/msg/BoundingBox3D")(
                    center=pose_to_msg(T_world_car),
                    size=M("geometry_msgs/msg/Vector3")(x=shape.box_size_m[0], y=shape.box_size_m[1],
                                                        z=shape.box_size_m[2])),
                id="car_1")
            w.write("/detections", stamp - 1000, M("vision_msgs/msg/Detection3DArray")(
                header=make_header(stamp, "map"), detections=[det]))
    return path, shape, T_world_car


def test_assets_cli_with_detections(car_bag, tmp_path, capsys):
    path, shape, _ = car_bag
    rc = main(["assets", str(path), "--out", str(tmp_path), "--detections-topic", "/detections", "--pose-frame",
               "base_link",
               "--no-splat", "--samples", "2", "--threads", "1"])
    assert rc == 0
    summary = json.loads((tmp_path / "assets.json").read_text())
    assert [s["object_id"] for s in summary] == ["car_1"]
    assert summary[0]["method"] == "prior" and summary[0]["points"] > 500
    folder = tmp_path / "car_1"
    assert validate_gazebo_model(folder) == []
    mesh = trimesh.load(folder / "meshes" / "asset.glb", force="mesh")
    assert mesh.is_watertight
    np.testing.assert_allclose(mesh.extents, shape.box_size_m, rtol=0.08)
    assert "1 assets written" in capsys.readouterr().out


def test_assets_cli_with_proposals_and_errors(car_bag, tmp_path):
    path, shape, T_world_car = car_bag
    assert main(["assets", str(path), "--out", str(tmp_path), "--no-splat", "--samples", "2", "--pose-frame", "base_link",
                 "--threads", "1"]) == 0
    summary = json.loads((tmp_path / "assets.json").read_text())
    assert len(summary) == 1 and summary[0]["class_name"] == "car"
    meta = json.loads((tmp_path / summary[0]["folder"].split("/")[-1] / "metadata.json").read_text())
    np.testing.assert_allclose(meta["T_world_object"][0][3], T_world_car[0, 3], atol=0.3)
    # a missing topic is a clear error (exit 2), not a crash
    assert main(["assets", str(path), "--out", str(tmp_path), "--points-topic", "/nope"]) == 2
