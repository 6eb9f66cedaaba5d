"""`slam-nodes assets BAG --out DIR`: complete every object seen in a bag and export asset folders.

This is the batch tool (all clouds first, then one completion per object). The node itself,
replayed over a bag, is `slam-nodes replay BAG --node asset_completion_node --config ...`."""

from __future__ import annotations

import argparse

HELP = "complete objects seen in a bag into simulation assets (mesh, Gazebo model, Gaussian splat)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bag", help="rosbag2 folder or file with points, poses and optional detections")
    parser.add_argument("--out", required=True, help="output folder; one sub-folder per asset")
    parser.add_argument("--points-topic", default="/points", help="sensor_msgs/PointCloud2 topic")
    parser.add_argument("--pose-topic", default="/ground_truth/pose",
                        help="geometry_msgs/PoseStamped in the world frame, of --pose-frame")
    parser.add_argument("--pose-frame", default="camera_optical_frame",
                        help="the frame the pose topic gives (synthetic bags: camera_optical_frame)")
    parser.add_argument("--detections-topic", default=None,
                        help="vision_msgs/Detection3DArray topic (world frame); default: built-in proposals")
    parser.add_argument("--objects-json", default=None,
                        help="use the ground-truth boxes of a synthetic sequence (its objects.json)")
    parser.add_argument("--stride", type=int, default=1, help="use every n-th point cloud")
    parser.add_argument("--max-scans", type=int, default=None, help="use at most this many point clouds")
    parser.add_argument("--weights", default=None, help="prior weights (default: the shipped ones)")
    parser.add_argument("--samples", type=int, default=4, help="transformer samples per object (k)")
    parser.add_argument("--no-splat", action="store_true", help="skip the Gaussian splat fit")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    import torch

    from slam_nodes.assets.completion import AssetCompleter
    from slam_nodes.assets.export import export_asset
    from slam_nodes.assets.offline import collect_observations, detections_from_objects_json

    torch.set_num_threads(max(1, args.threads))
    static = detections_from_objects_json(args.objects_json) if args.objects_json else None
    observations = collect_observations(args.bag, args.points_topic, args.pose_topic, args.detections_topic,
                                        stride=max(1, args.stride), max_scans=args.max_scans,
                                        static_detections=static, pose_frame=args.pose_frame)
    completer = AssetCompleter.from_weights(args.weights, num_samples=args.samples)
    out = Path(args.out)
    summary = []
    for obs in observations:
        asset = completer.complete(obs)
        exported = export_asset(asset, out, splat=not args.no_splat)
        summary.append({"object_id": obs.object_id, "class_name": obs.class_name, "points": len(obs.points_m),
                        "method": asset.metadata["method"], "fallback_reason": asset.metadata["fallback_reason"],
                        "folder": str(exported.folder)})
        print(f"{obs.object_id}: {obs.class_name}, {len(obs.points_m)} points -> {asset.metadata['method']}"
              f" ({exported.folder})")
    (out / "assets.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "assets.json").write_text(json.dumps(summary, indent=2))
    print(f"{len(summary)} assets written to {out}")
    return 0
