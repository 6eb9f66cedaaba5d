"""Bag and dataset I/O.

- `slam_nodes.io.bag`: `open_bag(path) -> BagReader` for rosbag2 (sqlite3 / MCAP), bare
  .mcap / .db3 files and ROS 1 .bag files; `BAG_FORMATS` table, `guess_bag_format`.
- `slam_nodes.io.bag_writer`: `BagWriter(path)` writes rosbag2 MCAP bags.
- `slam_nodes.io.bag_summary`: `summarize_bag(path)` (what `slam-nodes info` prints).
- `slam_nodes.io.mcap_stream`: salvage reader for truncated / corrupt MCAP files.
- `slam_nodes.io.datasets`: TUM RGB-D, 7-Scenes and KITTI odometry readers (`open_dataset`).
- `slam_nodes.io.importer`: `import_dataset(reader, out)` (what `slam-nodes import` does).
- `slam_nodes.io.pointfiles`: PLY / PCD / KITTI .bin point files (`read_points`).

Submodules are imported explicitly so that `import slam_nodes.io` stays light.
"""
