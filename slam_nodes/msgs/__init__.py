"""ROS message <-> slam_nodes type conversions, in one place, shared by bag replay and live nodes.

Messages are rosbags typestore objects (see `typestore.get_typestore`), never rclpy types.
"""
