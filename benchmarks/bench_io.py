"""Bag and dataset I/O speed and memory: `.venv/bin/python -m benchmarks.bench_io`.

Rows (measured in this process, beside a target and a baseline):
  - writing / reading a rosbag2 MCAP of 640x480 rgb8 images (MB/s): target 300 MB/s, i.e. a
    30 Hz RGB-D stream (~46 MB/s) replayed several times faster than real time; baseline:
    rosbags' own Writer / AnyReader used directly (our layer's overhead is the difference);
  - peak Python memory while reading that bag (tracemalloc): target < 32 MiB however big the
    bag (streaming), baseline: the bag's size (what loading it whole would take);
  - decoding every message of real bags (msgs/s) vs rosbags' AnyReader on the same bag;
  - `info`'s scan of the evt3 event bag (decodes every packet);
  - importing 7-Scenes frames into a bag (frames/s): target 30 (real time), no baseline.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import StoragePlugin, Writer

from slam_nodes.io.bag import open_bag
from slam_nodes.io.bag_summary import summarize_bag
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.io.datasets import open_dataset
from slam_nodes.io.importer import import_dataset
from slam_nodes.msgs.image import rgb_to_msg
from slam_nodes.msgs.typestore import get_typestore

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
N_IMAGES = 120


def _images():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return [rgb_to_msg(rgb, i * 33_333_333, "cam") for i in range(N_IMAGES)]


def bench_write_read(tmp: Path) -> list[tuple]:
    msgs = _images()
    store = get_typestore()
    size_mb = N_IMAGES * 640 * 480 * 3 / 1e6

    t0 = time.perf_counter()
    with BagWriter(tmp / "ours") as bag:
        for m in msgs:
            bag.write("/img", int(m.header.stamp.nanosec + m.header.stamp.sec * 10**9), m)
    ours_w = time.perf_counter() - t0

    t0 = time.perf_counter()
    with Writer(tmp / "base", version=8, storage_plugin=StoragePlugin.MCAP) as w:
        conn = w.add_connection("/img", "sensor_msgs/msg/Image", typestore=store)
        for i, m in enumerate(msgs):
            w.write(conn, i * 33_333_333, store.serialize_cdr(m, "sensor_msgs/msg/Image"))
    base_w = time.perf_counter() - t0

    t0 = time.perf_counter()
    with open_bag(tmp / "ours") as bag:
        n = sum(len(m.msg.data) for m in bag.messages())
    ours_r = time.perf_counter() - t0
    assert n == N_IMAGES * 640 * 480 * 3
    tracemalloc.start()  # a separate pass: tracing slows allocation down
    with open_bag(tmp / "ours") as bag:
        for _ in bag.messages():
            pass
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    t0 = time.perf_counter()
    with AnyReader([tmp / "base"], default_typestore=store) as r:
        for c, _, raw in r.messages():
            r.deserialize(raw, c.msgtype)
    base_r = time.perf_counter() - t0
    bag_mib = (tmp / "ours" / "ours.mcap").stat().st_size / 2**20
    return [
        ("write MCAP, 640x480 rgb8 (MB/s)", size_mb / ours_w, ">= 300", size_mb / base_w,
         "rosbags Writer"),
        ("read + decode MCAP images (MB/s)", size_mb / ours_r, ">= 300", size_mb / base_r,
         "rosbags AnyReader"),
        (f"peak memory reading a {bag_mib:.0f} MiB bag (MiB)", peak, "< 32", bag_mib,
         "load whole bag"),
    ]


def bench_real_bags() -> list[tuple]:
    rows = []
    for rel in ("evo_testdata/nav2_turtlebot.mcap", "evo_testdata/tf_example",
                "event_camera_bags/event_camera_py/test_events_1.bag"):
        path = DATA / rel
        if not path.exists():
            continue
        t0 = time.perf_counter()
        with open_bag(path) as bag:
            n = sum(1 for _ in bag.messages())
        ours = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with AnyReader([path], default_typestore=get_typestore()) as r:
            for c, _, raw in r.messages():
                r.deserialize(raw, c.msgtype)
        base = n / (time.perf_counter() - t0)
        rows.append((f"open + decode {path.name} (msgs/s)", ours, "~ baseline", base,
                     "rosbags AnyReader"))
    evt3 = DATA / "event_camera_bags/event_camera_py/test_events_1.bag"
    if evt3.exists():
        t0 = time.perf_counter()
        summary = summarize_bag(evt3)
        dt = time.perf_counter() - t0
        events = summary.topics[0].events.events
        rows.append(("info scan of test_events_1.bag (Mev/s)", events / dt / 1e6, ">= 1",
                     float("nan"), "-"))
    return rows


def bench_import(tmp: Path) -> list[tuple]:
    root = DATA / "rgbd_7scenes_redkitchen"
    if not root.exists():
        return []
    reader = open_dataset(root, "7scenes")
    t0 = time.perf_counter()
    result = import_dataset(reader, tmp / "kitchen", max_frames=30)
    fps = result.frames / (time.perf_counter() - t0)
    return [("import 7-Scenes 640x480 RGB-D (frames/s)", fps, ">= 30", float("nan"), "-")]


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench_io_"))
    try:
        rows = bench_write_read(tmp) + bench_real_bags() + bench_import(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{'measurement':50s} {'measured':>12s} {'target':>10s} {'baseline':>12s}  baseline is")
    for name, value, target, base, what in rows:
        print(f"{name:50s} {value:12.1f} {target:>10s} {base:12.1f}  {what}")


if __name__ == "__main__":
    main()
