"""Object observations: vision_msgs decoding, class-agnostic proposals, per-object accumulation."""

from __future__ import annotations

import numpy as np

from slam_nodes.assets.observations import (Detection3D, ObjectAccumulator, detections_from_msg, guess_class,
                                            propose_objects)
from slam_nodes.assets.shapes import make_shape, shape_mesh
from slam_nodes.msgs.geometry import pose_to_msg
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import get_typestore, msg_class
from slam_nodes.types.pose import make_pose


def _yaw(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    return np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1.0]])


def _detection_array(boxes):
    M = msg_class
    dets = []
    for i, (T, size, cls, score) in enumerate(boxes):
        hyp = M("vision_msgs/msg/ObjectHypothesisWithPose")(
            hypothesis=M("vision_msgs/msg/ObjectHypothesis")(class_id=cls, score=score),
            pose=M("geometry_msgs/msg/PoseWithCovariance")(pose=pose_to_msg(T), covariance=np.zeros(36)))
        bbox = M("vision_msgs/msg/BoundingBox3D")(center=pose_to_msg(T),
                                                 size=M("geometry_msgs/msg/Vector3")(x=size[0], y=size[1], z=size[2]))
        dets.append(M("vision_msgs/msg/Detection3D")(header=make_header(5, "map"), results=[hyp], bbox=bbox,
                                                     id=f"d{i}"))
    return M("vision_msgs/msg/Detection3DArray")(header=make_header(5_000_000_123, "map"), detections=dets)


def test_vision_msgs_cdr_round_trip_to_detections():
    T = make_pose(_yaw(30), np.array([1.0, 2.0, 0.7]))
    msg = _detection_array([(T, (4.2, 1.8, 1.4), "car", 0.9)])
    store = get_typestore()
    raw = store.serialize_cdr(msg, "vision_msgs/msg/Detection3DArray")
    back = store.deserialize_cdr(raw, "vision_msgs/msg/Detection3DArray")
    dets = detections_from_msg(back, T_world_frame=make_pose(np.eye(3), np.array([10.0, 0, 0])))
    assert len(dets) == 1
    d = dets[0]
    assert d.class_name == "car" and d.object_id == "d0" and d.stamp_ns == 5_000_000_123
    np.testing.assert_allclose(d.size_m, [4.2, 1.8, 1.4])
    np.testing.assert_allclose(d.T_world_object[:3, 3], [11.0, 2.0, 0.7], atol=1e-9)
    np.testing.assert_allclose(d.T_world_object[:3, :3], _yaw(30), atol=1e-9)


def test_guess_class_by_size():
    assert guess_class(np.array([4.5, 1.8, 1.5])) == "car"
    assert guess_class(np.array([1.8, 4.5, 1.5])) == "car"  # yaw-agnostic
    assert guess_class(np.array([0.3, 0.7, 1.8])) == "pedestrian"
    assert guess_class(np.array([20.0, 20.0, 0.2])) == "unknown"


def _scene(rng):
    """A 12 m ground plane with a car (yaw 20 deg) and a barrel standing on it; surface points."""
    ground = np.column_stack([rng.uniform(-6, 6, (6000, 2)), rng.normal(0, 0.005, 6000)])
    objs, pts = [], [ground]
    for cat, seed, xy, yaw in (("car", 1_000_003, (-2.0, 1.0), 20.0), ("barrel", 1_000_004, (3.0, -2.0), 0.0)):
        shape = make_shape(cat, seed)
        local = shape_mesh(shape, 40).sample(3000)
        T = make_pose(_yaw(yaw), np.array([*xy, shape.box_size_m[2] / 2]))
        objs.append((cat, T, shape.box_size_m, shape))
        pts.append(local @ T[:3, :3].T + T[:3, 3])
    return np.concatenate(pts), objs


def test_proposals_find_objects_above_support_plane():
    pts, objs = _scene(np.random.default_rng(0))
    props = propose_objects(pts, seed=0)
    assert len(props) == 2
    for cat, T, size, _ in objs:
        p = min(props, key=lambda d: np.linalg.norm(d.T_world_object[:3, 3] - T[:3, 3]))
        assert np.linalg.norm(p.T_world_object[:3, 3] - T[:3, 3]) < 0.15
        got = np.sort(p.size_m[:2]), p.size_m[2]
        np.testing.assert_allclose(got[0], np.sort(size[:2]), rtol=0.12)
        assert abs(got[1] - size[2]) < 0.15
        assert p.class_name == cat


def test_accumulator_crops_points_into_object_frames_over_frames():
    rng = np.random.default_rng(1)
    pts, objs = _scene(rng)
    pts = pts[rng.permutation(len(pts))]
    acc = ObjectAccumulator(seed=0)
    dets = [Detection3D(T, size, cat, 1.0, "", 0) for cat, T, size, _ in objs]
    half = len(pts) // 2
    acc.add(pts[:half], dets, sensor_origin_world=np.array([0, -8.0, 1.5]))
    acc.add(pts[half:], dets, sensor_origin_world=np.array([0, 8.0, 1.5]),
            colors=np.full((len(pts) - half, 3), 200, np.uint8))
    obs = {o.class_name: o for o in acc.observations()}
    assert set(obs) == {"car", "barrel"}
    for cat, T, size, shape in objs:
        o = obs[cat]
        # object points only (ground dropped), nearly all of them, in the object frame
        assert 2400 <= len(o.points_m) <= 3000  # minus the bottom faces within the floor band
        assert np.abs(shape.sdf(o.points_m)).max() < 0.03
        assert o.colors is None  # colours only for part of the points: dropped, not misaligned
        # sensor origins come back in the object frame: exactly the two sensor positions
        expected = [(np.linalg.inv(T) @ np.array([0, y, 1.5, 1.0]))[:3] for y in (-8.0, 8.0)]
        uniq = np.unique(np.round(o.ray_origins_m, 6), axis=0)
        assert len(uniq) == 2
        for e in expected:
            assert np.abs(uniq - e).max(axis=1).min() < 1e-5
