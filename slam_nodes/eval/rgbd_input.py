"""RGB-D input for the baselines: frames from a bag (via our bag reader) or a dataset folder.

`open_rgbd_input(path, ...)` returns an `RgbdInput`: the depth camera, a function that yields
`RGBDFrame`s (depth float32 metres, 0 invalid; rgb uint8 resized to the depth image when sizes
differ), and the ground truth when the source has one.

Bags: colour and depth topics are paired by header stamp with approximate-time matching
(`slam_nodes.sync.approx`, slop 20 ms by default); the camera comes from the first CameraInfo on
the depth camera_info topic. Topics default to the first that exist of `/camera/depth/image`
(written by `slam-nodes import`) and `/depth/image` (and likewise for rgb and camera_info).
Ground truth: the bag's `/ground_truth/pose` topic. Dataset folders (TUM RGB-D, 7-Scenes) are
read with `slam_nodes.io.datasets.open_dataset`.
Messages that fail to convert are logged (topic and stamp) and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam_nodes.errors import EvalError, SlamNodesError
from slam_nodes.types import CameraModel, RGBDFrame, Trajectory

logger = logging.getLogger(__name__)

DEPTH_TOPICS = ("/camera/depth/image", "/depth/image")
RGB_TOPICS = ("/camera/rgb/image", "/rgb/image")
INFO_TOPICS = ("/camera/depth/camera_info", "/depth/camera_info")
GT_TOPIC = "/ground_truth/pose"


@dataclass
class RgbdInput:
    """camera: depth camera (after scaling); frames(): a fresh iterator of RGBDFrames;
    ground_truth: T_world_cam or None; description: where the frames come from."""

    camera: CameraModel
    frames: Callable[[], Iterator[RGBDFrame]]
    ground_truth: Trajectory | None
    description: str


def open_rgbd_input(
    path: str | Path,
    *,
    rgb_topic: str | None = None,
    depth_topic: str | None = None,
    info_topic: str | None = None,
    max_frames: int | None = None,
    scale: float = 1.0,
    slop_ns: int = 20_000_000,
) -> RgbdInput:
    """RGB-D frames of a bag or a TUM RGB-D / 7-Scenes folder; `scale` < 1 downsizes images
    (depth by nearest neighbour, colour by area averaging) and the camera with them."""
    from slam_nodes.eval.sources import is_bag

    if not 0 < scale <= 1:
        raise EvalError(f"scale must be in (0, 1], got {scale}")
    if max_frames is not None and max_frames < 1:
        raise EvalError(f"max_frames must be at least 1, got {max_frames}")
    path = Path(path)
    if not path.exists():
        raise EvalError(f"RGB-D input {path} does not exist")
    if is_bag(path):
        src = _bag_input(path, rgb_topic, depth_topic, info_topic, max_frames, slop_ns)
    else:
        src = _dataset_input(path, max_frames)
    if scale == 1.0:
        return src
    camera = src.camera.scaled(scale)
    inner = src.frames
    return RgbdInput(camera, lambda: (_resize(f, camera) for f in inner()), src.ground_truth,
                     f"{src.description}, scaled x{scale:g}")


def _dataset_input(path: Path, max_frames: int | None) -> RgbdInput:
    from slam_nodes.io.datasets import open_dataset

    try:
        reader = open_dataset(path)
    except SlamNodesError as err:
        raise EvalError(f"{path} is neither a bag nor a readable dataset folder: {err}") from err
    if reader.kind != "rgbd" or reader.camera is None:
        raise EvalError(f"{path} is a {reader.name} dataset without RGB-D frames")
    return RgbdInput(reader.camera, lambda: reader.frames(max_frames), reader.ground_truth,
                     f"{reader.name} folder {path}")


def _pick(topics: dict[str, str], given: str | None, defaults: tuple[str, ...],
          what: str, required: bool) -> str | None:
    if given is not None:
        if given not in topics:
            raise EvalError(f"bag has no {what} topic {given!r}; topics: {sorted(topics)}")
        return given
    for t in defaults:
        if t in topics:
            return t
    if required:
        raise EvalError(f"bag has none of the {what} topics {defaults}; pass the topic "
                        f"explicitly (topics: {sorted(topics)})")
    return None


def camera_from_bag(path: str | Path, topic: str | None = None) -> CameraModel:
    """CameraModel of the first valid CameraInfo on `topic` (default: the depth camera_info
    topics in INFO_TOPICS) of a bag."""
    return _bag_camera(
        path, lambda topics: (_pick(topics, topic, INFO_TOPICS, "camera_info", True),))[2]


def _bag_camera(path: str | Path, choose: Callable[[dict[str, str]], tuple]
                ) -> tuple[dict[str, str], tuple, CameraModel]:
    """Open a bag, let `choose({topic: type})` pick topics (the last one is the camera_info
    topic) and read the first valid CameraInfo there. Returns (topics, chosen, camera);
    EvalError when the bag cannot be read or holds no valid CameraInfo."""
    from slam_nodes.io.bag import open_bag

    try:
        with open_bag(path) as bag:
            topics = {n: i.typename for n, i in bag.topics.items()}
            chosen = choose(topics)
            camera = _first_camera(bag, chosen[-1])
    except SlamNodesError as err:
        if isinstance(err, EvalError):
            raise
        raise EvalError(f"cannot read RGB-D bag {path}: {err}") from err
    if camera is None:
        raise EvalError(f"{path}: no valid CameraInfo on {chosen[-1]}")
    return topics, chosen, camera


def _first_camera(bag, topic: str) -> CameraModel | None:
    from slam_nodes.msgs.camera_info import camera_from_msg

    for m in bag.messages([topic]):
        try:
            return camera_from_msg(m.msg)
        except SlamNodesError as err:
            logger.warning("%s at %d ns: skipped CameraInfo (%s)", topic, m.log_time_ns, err)
    return None


def _bag_input(path: Path, rgb_topic, depth_topic, info_topic, max_frames, slop_ns) -> RgbdInput:
    def choose(topics: dict[str, str]) -> tuple:
        return (_pick(topics, depth_topic, DEPTH_TOPICS, "depth image", True),
                _pick(topics, rgb_topic, RGB_TOPICS, "colour image", False),
                _pick(topics, info_topic, INFO_TOPICS, "depth camera_info", True))

    topics, (depth_topic, rgb_topic, info_topic), camera = _bag_camera(path, choose)
    gt = None
    if GT_TOPIC in topics:
        from slam_nodes.eval.sources import trajectory_from_bag

        gt = trajectory_from_bag(path, GT_TOPIC)

    def frames() -> Iterator[RGBDFrame]:
        yield from _bag_frames(path, camera, depth_topic, rgb_topic, max_frames, slop_ns)

    return RgbdInput(camera, frames, gt, f"bag {path} ({depth_topic}, {rgb_topic or 'no rgb'})")


def _bag_frames(path: Path, camera: CameraModel, depth_topic: str, rgb_topic: str | None,
                max_frames: int | None, slop_ns: int) -> Iterator[RGBDFrame]:
    from slam_nodes.io.bag import open_bag
    from slam_nodes.msgs.image import depth_from_msg, rgb_from_msg
    from slam_nodes.msgs.stamps import stamp_to_ns
    from slam_nodes.sync.approx import ApproximateTimePairer

    pairer = ApproximateTimePairer(("depth", "rgb"), slop_ns) if rgb_topic else None
    stream_topic = {"depth": depth_topic, "rgb": rgb_topic}
    count, last_depth_ns = 0, None
    with open_bag(path) as bag:
        for m in bag.messages([t for t in (depth_topic, rgb_topic) if t]):
            stamp = stamp_to_ns(m.msg.header.stamp)
            try:
                image = depth_from_msg(m.msg) if m.topic == depth_topic else rgb_from_msg(m.msg)
            except SlamNodesError as err:
                logger.warning("%s at %d ns: skipped image (%s)", m.topic, stamp, err)
                continue
            if pairer is None:
                if last_depth_ns is not None and stamp <= last_depth_ns:
                    logger.warning("%s at %d ns: skipped image (stamp not after the previous "
                                   "one, %d ns)", m.topic, stamp, last_depth_ns)
                    continue
                last_depth_ns = stamp
                ready = [(stamp, image, None)]
            else:
                pairs, drops = pairer.push("depth" if m.topic == depth_topic else "rgb",
                                           stamp, image)
                for d in drops:
                    # out-of-order and duplicate stamps are input faults; the rest is pairing
                    level = logging.INFO if d.reason in ("superseded", "queue overflow",
                                                         "no partner within sync_slop") \
                        else logging.WARNING
                    logger.log(level, "%s at %d ns: skipped image (%s)",
                               stream_topic[d.stream], d.stamp_ns, d.reason)
                ready = [(p.stamp_a_ns, p.a, p.b) for p in pairs]
            for stamp_ns, depth, rgb in ready:
                frame = _make_frame(stamp_ns, camera, depth, rgb, depth_topic)
                if frame is None:
                    continue
                yield frame
                count += 1
                if max_frames is not None and count >= max_frames:
                    return


def _make_frame(stamp_ns: int, camera: CameraModel, depth: np.ndarray,
                rgb: np.ndarray | None, topic: str) -> RGBDFrame | None:
    import cv2

    if depth.shape != (camera.height, camera.width):
        logger.warning("%s at %d ns: depth %s does not match CameraInfo %dx%d; skipped",
                       topic, stamp_ns, depth.shape, camera.width, camera.height)
        return None
    if rgb is not None and rgb.shape[:2] != depth.shape:
        rgb = cv2.resize(np.ascontiguousarray(rgb), (camera.width, camera.height),
                         interpolation=cv2.INTER_AREA)
    return RGBDFrame(stamp_ns=stamp_ns, camera=camera, rgb=rgb, depth=depth)


def _resize(frame: RGBDFrame, camera: CameraModel) -> RGBDFrame:
    import cv2

    size = (camera.width, camera.height)
    depth = None if frame.depth is None else cv2.resize(
        frame.depth, size, interpolation=cv2.INTER_NEAREST)
    rgb = None if frame.rgb is None else cv2.resize(
        np.ascontiguousarray(frame.rgb), size, interpolation=cv2.INTER_AREA)
    return RGBDFrame(stamp_ns=frame.stamp_ns, camera=camera, rgb=rgb, depth=depth,
                     exposure_s=frame.exposure_s, extra=dict(frame.extra))
