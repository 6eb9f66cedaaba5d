"""rclpy adapter tests: run only with a ROS 2 install (rclpy cannot be installed on the build
machines; they skip there with that reason)."""

from __future__ import annotations

import time

import pytest

from slam_nodes.optional import has_rclpy

pytestmark = pytest.mark.skipif(not has_rclpy(), reason="rclpy not installed")


@pytest.fixture
def ros_node(tmp_path):
    import rclpy

    from slam_nodes.nodes.config import SlamNodeConfig
    from slam_nodes.nodes.en_slam_node import NODE_NAME, EnSlamNode
    from slam_nodes.runtime.ros import RclpyRuntime

    rclpy.init()
    node = rclpy.create_node(NODE_NAME, automatically_declare_parameters_from_overrides=True)
    rt = RclpyRuntime(node)
    cfg = SlamNodeConfig.from_dict({"mesh": {"enabled": False},
                                    "outputs": {"map_save_dir": str(tmp_path)}})
    slam = EnSlamNode(rt, cfg)
    yield rclpy, node, rt, slam
    rt.stop()
    node.destroy_node()
    rclpy.try_shutdown()


def test_node_declares_ros_interface(ros_node):
    rclpy, node, _rt, _slam = ros_node
    pubs = dict(node.get_publisher_names_and_types_by_node(node.get_name(),
                                                          node.get_namespace()))
    assert pubs["/en_slam_node/path"] == ["nav_msgs/msg/Path"]
    assert pubs["/en_slam_node/odometry"] == ["nav_msgs/msg/Odometry"]
    assert "/tf" in pubs and "/diagnostics" in pubs
    services = dict(node.get_service_names_and_types_by_node(node.get_name(),
                                                             node.get_namespace()))
    assert services["/en_slam_node/set_paused"] == ["std_srvs/srv/SetBool"]
    assert services["/en_slam_node/reset"] == ["std_srvs/srv/Trigger"]


def test_set_paused_service_round_trip(ros_node):
    from std_srvs.srv import SetBool

    rclpy, node, _rt, slam = ros_node
    client = node.create_client(SetBool, "/en_slam_node/set_paused")
    assert client.wait_for_service(timeout_sec=5.0)
    future = client.call_async(SetBool.Request(data=True))
    end = time.monotonic() + 5
    while not future.done() and time.monotonic() < end:
        rclpy.spin_once(node, timeout_sec=0.1)
    assert future.result().success and slam.paused
