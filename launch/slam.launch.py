"""Launch en_slam_node on a robot: `ros2 launch slam_nodes slam.launch.py sensors:=rgbd`.

Arguments (all declared with descriptions; `ros2 launch slam_nodes slam.launch.py -s`):
  sensors       rgbd | rgbd_events | rgb_lidar | lidar: picks config/<sensors>.yaml
  params_file   a params file overriding that choice
  namespace     node namespace
  rgb_image, rgb_info, depth_image, depth_info, events, points: input topics (remappings)
  use_sim_time  follow /clock (true when replaying a bag)
  rviz          start RViz with config/slam_nodes.rviz
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution, PythonExpression
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare

TOPIC_ARGS = {
    "rgb_image": ("rgb/image", "/camera/color/image_raw", "colour image topic"),
    "rgb_info": ("rgb/camera_info", "/camera/color/camera_info", "colour CameraInfo topic"),
    "depth_image": ("depth/image", "/camera/aligned_depth_to_color/image_raw",
                    "depth image topic (registered to colour)"),
    "depth_info": ("depth/camera_info", "/camera/aligned_depth_to_color/camera_info",
                   "depth CameraInfo topic"),
    "events": ("events", "/event_camera/events", "event camera topic"),
    "points": ("points", "/lidar/points", "LiDAR PointCloud2 topic"),
}


def generate_launch_description() -> LaunchDescription:
    share = FindPackageShare("slam_nodes")
    sensors = LaunchConfiguration("sensors")
    args = [
        DeclareLaunchArgument("sensors", default_value="rgbd",
                              choices=["rgbd", "rgbd_events", "rgb_lidar", "lidar"],
                              description="sensor set: selects config/<sensors>.yaml"),
        DeclareLaunchArgument(
            "params_file",
            default_value=PathJoinSubstitution([share, "config",
                                                PythonExpression(["'", sensors, ".yaml'"])]),
            description="ROS 2 params file for en_slam_node"),
        DeclareLaunchArgument("namespace", default_value="", description="node namespace"),
        DeclareLaunchArgument("use_sim_time", default_value="false",
                              description="use /clock (set true when playing a bag)"),
        DeclareLaunchArgument("rviz", default_value="true", description="start RViz"),
    ]
    for name, (_rel, default, text) in TOPIC_ARGS.items():
        args.append(DeclareLaunchArgument(name, default_value=default, description=text))
    use_sim_time = LaunchConfiguration("use_sim_time")
    slam = Node(
        package="slam_nodes", executable="en_slam_node", name="en_slam_node",
        namespace=LaunchConfiguration("namespace"), output="screen", emulate_tty=True,
        parameters=[LaunchConfiguration("params_file"), {"use_sim_time": use_sim_time}],
        remappings=[(rel, LaunchConfiguration(name))
                    for name, (rel, _d, _t) in TOPIC_ARGS.items()],
    )
    rviz = Node(
        package="rviz2", executable="rviz2", name="rviz2", output="log",
        arguments=["-d", PathJoinSubstitution([share, "config", "slam_nodes.rviz"])],
        parameters=[{"use_sim_time": use_sim_time}],
        condition=IfCondition(LaunchConfiguration("rviz")),
    )
    return LaunchDescription([*args, slam, rviz])
