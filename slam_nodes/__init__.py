"""slam_nodes: event + RGB-D + LiDAR neural implicit SLAM nodes for ROS 2, usable without ROS.

Importing this package is cheap: heavy dependencies (torch, open3d, cyclonedds) are imported
by the modules that need them, never here.
"""

__version__ = "0.1.0"
