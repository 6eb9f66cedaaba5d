"""`slam-nodes import {tum,7scenes,kitti} DIR --out BAG`: dataset folder -> rosbag2 MCAP bag."""

from __future__ import annotations

import argparse

HELP = "convert a TUM RGB-D, 7-Scenes or KITTI odometry folder into a rosbag2 MCAP bag"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("kind", choices=("tum", "7scenes", "kitti"), help="dataset kind")
    parser.add_argument("dir", help="dataset folder (one sequence)")
    parser.add_argument("--out", required=True, help="bag folder to create")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="import only the first N frames")
    parser.add_argument("--depth-encoding", choices=("16UC1", "32FC1"), default="16UC1",
                        help="depth image encoding: 16UC1 millimetres (default) or 32FC1 metres")
    parser.add_argument("--compress", action="store_true",
                        help="zstd-compress the MCAP chunks (smaller, slower)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing bag folder at --out")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from slam_nodes.io.datasets import open_dataset
    from slam_nodes.io.importer import import_dataset

    reader = open_dataset(args.dir, args.kind)
    total = len(reader) if args.max_frames is None else min(len(reader), args.max_frames)
    with tqdm(total=total, desc=f"import {args.kind}", unit="frame", disable=None) as bar:
        result = import_dataset(reader, args.out, max_frames=args.max_frames,
                                depth_encoding=args.depth_encoding, overwrite=args.overwrite,
                                compression="zstd" if args.compress else None,
                                progress=bar.update)
    print(f"wrote {result.bag_path}: {result.frames} frames, "
          f"{result.ground_truth_poses} ground-truth poses")
    for topic, count in sorted(result.topic_counts.items()):
        print(f"  {topic}: {count}")
    if result.ground_truth_path is not None:
        print(f"ground truth (TUM): {result.ground_truth_path}")
    return 0
