"""Message conversion speed: `.venv/bin/python -m benchmarks.bench_msgs`.

Each row times one conversion (median of repeats, same process) beside a target and a baseline:
  - targets: a 30 Hz 640x480 camera leaves 33 ms per frame; a conversion should take a small
    share of that (<= 2 ms), a 10 Hz 128-beam x 1024 LiDAR sweep (131k points) <= 20 ms;
  - baselines: the straightforward way without our vectorised/zero-copy code (a copying decode,
    float64 depth maths, a per-point struct loop as ROS 1's point_cloud2.read_points did, a
    per-stamp TF lookup loop).
"""

from __future__ import annotations

import struct
import time

from pathlib import Path

import numpy as np
import trimesh

from slam_nodes.msgs.geometry import StampedTransform, TfBuffer
from slam_nodes.msgs.image import (
    depth_from_msg,
    depth_to_compressed_msg,
    depth_to_msg,
    rgb_from_msg,
    rgb_to_msg,
)
from slam_nodes.msgs.markers import mesh_to_marker
from slam_nodes.msgs.pointcloud import scan_from_msg, scan_to_msg
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import LidarScan

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def timeit(fn, repeat: int = 15) -> float:
    """Median wall time of fn() in milliseconds."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e3 * float(np.median(times))


def realistic_depth() -> np.ndarray:
    """float32 [480,640] metres: the shared 7-Scenes Kinect frame when present, else a smooth
    synthetic scene (two planes and an invalid band), so codecs see real-looking data."""
    path = SHARED_DATA / "rgbd_7scenes_redkitchen" / "frame-000000.depth.png"
    if path.is_file():
        import cv2

        mm = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        return np.where(mm == 65535, 0, mm / 1000.0).astype(np.float32)
    v, u = np.mgrid[0:480, 0:640]
    depth = np.where(u < 320, 1.5 + 0.002 * v, 2.5 - 0.001 * u).astype(np.float32)
    depth[:, :40] = 0
    return depth


def main() -> None:
    rng = np.random.default_rng(0)
    store = get_typestore()
    rows = []

    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    raw = store.serialize_cdr(rgb_to_msg(rgb, 0, "cam"), "sensor_msgs/msg/Image")
    img = store.deserialize_cdr(raw, "sensor_msgs/msg/Image")

    def copy_decode():
        return np.array(img.data).reshape(480, img.step)[:, :1920].reshape(480, 640, 3).copy()

    rows.append(("rgb8 Image -> RGB 640x480", timeit(lambda: rgb_from_msg(img)), 2.0,
                 timeit(copy_decode), "copying decode"))
    bgr = store.deserialize_cdr(store.serialize_cdr(rgb_to_msg(rgb, 0, "cam", "bgr8"),
                                                    "sensor_msgs/msg/Image"),
                                "sensor_msgs/msg/Image")
    rows.append(("bgr8 Image -> RGB 640x480", timeit(lambda: rgb_from_msg(bgr)), 2.0,
                 timeit(copy_decode), "copying decode"))

    def cdr_rgb_round_trip():
        msg = store.deserialize_cdr(store.serialize_cdr(rgb_to_msg(rgb, 0, "cam"),
                                                        "sensor_msgs/msg/Image"),
                                    "sensor_msgs/msg/Image")
        return rgb_from_msg(msg)

    rows.append(("RGB -> CDR -> RGB 640x480", timeit(cdr_rgb_round_trip), 5.0, None, ""))

    depth = realistic_depth()
    dmsg = depth_to_msg(depth, 0, "d", "16UC1")

    def naive_depth():
        mm = np.frombuffer(bytes(dmsg.data), "<u2").reshape(480, 640)
        return np.where((mm == 0) | (mm == 65535), 0.0, mm / 1000.0).astype(np.float32)

    real = (SHARED_DATA / "rgbd_7scenes_redkitchen").is_dir()
    print(f"depth test image: {'7-Scenes frame 0' if real else 'synthetic'}")
    rows.append(("16UC1 Image -> metres 640x480", timeit(lambda: depth_from_msg(dmsg)), 2.0,
                 timeit(naive_depth), "bytes copy + float64"))
    cmsg = depth_to_compressed_msg(depth, 0, "d", "32FC1")
    rows.append(("compressedDepth 32FC1 encode", timeit(
        lambda: depth_to_compressed_msg(depth, 0, "d", "32FC1")), 15.0, None, ""))
    rows.append(("compressedDepth 32FC1 decode", timeit(lambda: depth_from_msg(cmsg)), 10.0,
                 None, ""))
    rmsg = depth_to_compressed_msg(depth, 0, "d", "16UC1", codec="rvl")
    pmsg = depth_to_compressed_msg(depth, 0, "d", "16UC1", codec="png")
    rows.append(("compressedDepth 16UC1 rvl decode", timeit(lambda: depth_from_msg(rmsg)),
                 10.0, timeit(lambda: depth_from_msg(pmsg)), "png codec (cv2)"))

    n = 128 * 1024
    scan = LidarScan(0, rng.normal(size=(n, 3)) * 20, rng.uniform(0, 255, n),
                     rng.integers(0, 128, n).astype(np.uint16), rng.integers(0, 10**8, n))
    cloud = store.deserialize_cdr(store.serialize_cdr(scan_to_msg(scan),
                                                      "sensor_msgs/msg/PointCloud2"),
                                  "sensor_msgs/msg/PointCloud2")
    unpack = struct.Struct("<ffffHxxI").iter_unpack

    def struct_loop():
        pts = [(x, y, z, i, r, t) for x, y, z, i, r, t in unpack(cloud.data.tobytes())]
        return np.array(pts)

    rows.append(("PointCloud2 -> LidarScan 131k pts", timeit(lambda: scan_from_msg(cloud)),
                 20.0, timeit(struct_loop, repeat=2), "per-point struct loop"))
    rows.append(("LidarScan -> PointCloud2 131k pts", timeit(lambda: scan_to_msg(scan)),
                 20.0, None, ""))

    buf = TfBuffer()
    for i in range(1000):
        T = np.eye(4)
        T[0, 3] = i * 0.01
        buf.add(StampedTransform("odom", "base", i * 10_000_000, T))
    buf.add(StampedTransform("base", "cam", 0, np.eye(4)), static=True)
    stamps = rng.integers(0, 999 * 10_000_000, 1000)
    rows.append(("TfBuffer 1000 chained lookups", timeit(
        lambda: buf.lookup_many("odom", "cam", stamps)), 5.0,
        timeit(lambda: [buf.lookup("odom", "cam", int(s)) for s in stamps], repeat=2),
        "per-stamp lookup loop"))

    mesh = trimesh.creation.icosphere(4)  # 5120 triangles
    colours = rng.integers(0, 256, (len(mesh.vertices), 3), dtype=np.uint8)

    def marker_cdr():
        m = mesh_to_marker(mesh.vertices, mesh.faces, colours, frame_id="map", stamp_ns=0)
        return store.serialize_cdr(m, "visualization_msgs/msg/Marker")

    rows.append((f"mesh -> Marker CDR {len(mesh.faces)} tris", timeit(marker_cdr, repeat=3),
                 100.0, None, ""))

    print(f"{'conversion':38s} {'measured ms':>12s} {'target ms':>10s} {'baseline ms':>12s}"
          f"  {'speed-up':>8s}  baseline")
    for name, ms, target, base, what in rows:
        base_s = f"{base:12.2f}" if base is not None else f"{'-':>12s}"
        ratio = f"{base / ms:7.1f}x" if base is not None else f"{'-':>8s}"
        flag = "ok" if ms <= target else "SLOW"
        print(f"{name:38s} {ms:12.2f} {target:10.1f} {base_s}  {ratio}  {what} [{flag}]")


if __name__ == "__main__":
    main()
