"""Replay a bag live: `ros2 launch slam_nodes replay.launch.py bag:=/path/to/bag`.

Plays the bag with `ros2 bag play --clock` (the bag's time drives /clock), runs en_slam_node
with use_sim_time on every node, and RViz. For offline, deterministic, faster-than-real-time
scoring without ROS use `slam-nodes replay BAG --config config/rgbd.yaml --out DIR` instead.
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.substitutions import FindPackageShare


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("slam_nodes")
    args = [
        DeclareLaunchArgument("bag", description="rosbag2 folder or .mcap file to play"),
        DeclareLaunchArgument("rate", default_value="1.0", description="playback rate"),
        DeclareLaunchArgument("sensors", default_value="rgbd",
                              choices=["rgbd", "rgbd_events", "rgb_lidar", "lidar"],
                              description="sensor set: selects config/<sensors>.yaml"),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
        DeclareLaunchArgument("rgb_image", default_value="/rgb/image",
                              description="colour image topic in the bag"),
        DeclareLaunchArgument("rgb_info", default_value="/rgb/camera_info",
                              description="colour CameraInfo topic in the bag"),
        DeclareLaunchArgument("depth_image", default_value="/depth/image",
                              description="depth image topic in the bag"),
        DeclareLaunchArgument("depth_info", default_value="/depth/camera_info",
                              description="depth CameraInfo topic in the bag"),
    ]
    play = ExecuteProcess(
        cmd=["ros2", "bag", "play", LaunchConfiguration("bag"), "--clock",
             "--rate", LaunchConfiguration("rate")],
        output="screen")
    slam = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(PathJoinSubstitution([share, "launch", "slam.launch.py"])),
        launch_arguments={
            "sensors": LaunchConfiguration("sensors"),
            "use_sim_time": "true",
            "rviz": LaunchConfiguration("rviz"),
            "rgb_image": LaunchConfiguration("rgb_image"),
            "rgb_info": LaunchConfiguration("rgb_info"),
            "depth_image": LaunchConfiguration("depth_image"),
            "depth_info": LaunchConfiguration("depth_info"),
        }.items())
    return LaunchDescription([*args, slam, play])
