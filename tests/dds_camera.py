"""A separate-process RGB-D camera on DDS for tests/test_runtime_dds_node.py: publishes frames
from an .npz (rgb [N,H,W,3] uint8, depth [N,H,W] float32 m, K [3,3], stamps_ns [N]) on
rt/rgb/image, rt/depth/image (16UC1), rt/rgb/camera_info, rt/depth/camera_info with sensor
QoS (RELIABILITY = best_effort or reliable, depth 5), serialised by cyclonedds' own
serializer, as a ROS 2 driver on Cyclone would. usage: python dds_camera.py DOMAIN NPZ RATE_HZ
RELIABILITY; waits 1.5 s for discovery, then publishes every frame once and exits.
"""

from __future__ import annotations

import sys
import time

import numpy as np


def main(argv: list[str]) -> int:
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from slam_nodes.msgs.camera_info import camera_to_msg
    from slam_nodes.msgs.image import depth_to_msg, rgb_to_msg
    from slam_nodes.runtime.dds import dds_qos
    from slam_nodes.runtime.dds_types import cdr_bytes, idl_type
    from slam_nodes.runtime.interface import sensor_qos_from_name
    from slam_nodes.types import CameraModel

    domain, npz, rate = int(argv[0]), np.load(argv[1]), float(argv[2])
    qos = sensor_qos_from_name(argv[3])
    dp = DomainParticipant(domain)
    writers = {}
    for topic, typename in (("rgb/image", "sensor_msgs/msg/Image"),
                            ("depth/image", "sensor_msgs/msg/Image"),
                            ("rgb/camera_info", "sensor_msgs/msg/CameraInfo"),
                            ("depth/camera_info", "sensor_msgs/msg/CameraInfo")):
        writers[topic] = (DataWriter(dp, Topic(dp, f"rt/{topic}", idl_type(typename)),
                                     qos=dds_qos(qos)), idl_type(typename), typename)
    K = npz["K"]
    h, w = npz["depth"].shape[1:]
    cam = CameraModel.pinhole(w, h, K[0, 0], K[1, 1], K[0, 2], K[1, 2], "cam_optical")

    def send(topic, msg):
        writer, idl, typename = writers[topic]
        writer.write(idl.deserialize(cdr_bytes(msg, typename)))  # cyclonedds' serializer

    time.sleep(1.5)
    for i, stamp in enumerate(npz["stamps_ns"].tolist()):
        send("depth/camera_info", camera_to_msg(cam, stamp))
        send("rgb/camera_info", camera_to_msg(cam, stamp))
        send("rgb/image", rgb_to_msg(npz["rgb"][i], stamp, cam.frame_id))
        send("depth/image", depth_to_msg(npz["depth"][i], stamp, cam.frame_id))
        time.sleep(1.0 / rate)
    time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
