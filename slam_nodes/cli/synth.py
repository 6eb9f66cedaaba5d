"""`slam-nodes synth PRESET --out DIR`: render a synthetic sequence (bag + exact ground truth)."""

from __future__ import annotations

import argparse

HELP = "generate a synthetic RGB-D/event/LiDAR sequence (rosbag2 MCAP + ground truth)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", nargs="?", help="preset name (see --list)")
    parser.add_argument("--list", action="store_true", help="list the presets and exit")
    parser.add_argument("--out", help="output folder (bag/ and ground-truth files go here)")
    parser.add_argument("--seed", type=int, default=0, help="scene/trajectory/noise seed (default 0)")
    parser.add_argument("--duration", type=float, help="sequence length in seconds")
    parser.add_argument("--width", type=int, help="camera width in pixels")
    parser.add_argument("--height", type=int, help="camera height in pixels")
    parser.add_argument("--rate", type=float, help="camera frame rate in Hz")
    parser.add_argument("--event-encoding", choices=("mono", "evt3", "dvs"),
                        help="/events as EventPacket 'mono' (default) or 'evt3', or dvs_msgs/EventArray")
    parser.add_argument("--workers", type=int, default=2,
                        help="render threads working ahead of the sensor simulation (default 2)")
    parser.add_argument("--threads", type=int, default=0,
                        help="Open3D ray-casting threads per render (0: automatic)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing bag in --out")


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from slam_nodes.errors import ConfigError
    from slam_nodes.synth.presets import PRESETS, describe, get_preset

    if args.list:
        for name, factory in PRESETS.items():
            print(f"{name:12s} {describe(factory())}")
        return 0
    if not args.preset or not args.out:
        raise ConfigError("give a PRESET and --out DIR (or --list)")
    from tqdm import tqdm

    from slam_nodes.synth.writer import generate

    cfg = get_preset(args.preset)
    if args.event_encoding and cfg.events is not None:
        cfg = dataclasses.replace(cfg, events=dataclasses.replace(cfg.events, encoding=args.event_encoding))
    with tqdm(desc=f"synth {args.preset}", unit="render", disable=None) as bar:
        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        given = {"duration_s": args.duration, "width": args.width, "height": args.height,
                 "rate_hz": args.rate}
        info = generate(cfg, args.out, seed=args.seed, progress=progress, nthreads=args.threads,
                        workers=args.workers, overwrite=args.overwrite,
                        **{k: v for k, v in given.items() if v is not None})
    t = info.timings_s
    stages = ", ".join(f"{k} {t[k]:.1f}s" for k in ("render", "events", "camera", "lidar",
                                                      "encode", "write") if k in t)
    print(f"wrote {info.bag_path}: {info.num_frames} frames, {info.num_events} events, "
          f"{info.num_scans} LiDAR sweeps in {t['total']:.1f} s ({stages})")
    print(f"ground truth in {info.out_dir}: gt_camera.tum, gt_lidar.tum, scene.ply, objects.json, "
          "photometry.csv")
    return 0
