"""Microsoft 7-Scenes sequence folders (frame-XXXXXX.color.jpg / .depth.png / .pose.txt).

Layout (one seq-XX folder, or a flattened copy such as ../shared/data/rgbd_7scenes_redkitchen):
  frame-000000.color.jpg   24-bit colour, 640x480 (Kinect v1)
  frame-000000.depth.png   uint16 depth in millimetres, 65535 (and 0) invalid
  frame-000000.pose.txt    4x4 camera-to-world matrix T_world_cam (KinectFusion ground truth)
  camera-intrinsics.txt    optional 3x3 K (default fx = fy = 585, cx = 320, cy = 240)

7-Scenes has no timestamps: frame i is stamped i / 30 s (its nominal 30 Hz), the same
convention as groundtruth_tum.txt beside the shared copy. Colour and depth are not registered
in 7-Scenes (its authors give no colour calibration); both are given the depth camera's
intrinsics, as is customary, so raw colour is ~25 px off the depth at 640x480. With
`register_colour=True` the colour is resampled into the depth camera's pixels
(`slam_nodes.io.colour_registration`) with the Kinect v1's nominal colour camera: fx = fy =
525, centre (319.5, 239.5), 2.5 cm along +x of the depth camera. Measured on the shared copy
(edge alignment, no ground truth used): depth discontinuities sit 6.2 px (mean distance) from
the colour edges raw, 4.2 px registered, and the best residual shift is within 1-2 px in every
frame checked (raw: up to 30 px). Poses that are not finite (7-Scenes marks a few lost
frames with inf) are left out of `ground_truth` with a warning; their frames are still
yielded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.io.colour_registration import register_colour_to_depth
from slam_nodes.io.datasets.base import frame_index_stamp_ns, limit, numbered_files, read_matrix
from slam_nodes.io.datasets.images import load_depth_png, load_rgb
from slam_nodes.types import CameraModel, RGBDFrame, Trajectory

logger = logging.getLogger(__name__)

RATE_HZ = 30.0
DEPTH_UNITS_PER_M = 1000.0
INVALID_DEPTH = (0, 65535)
DEFAULT_K = np.array([[585.0, 0.0, 320.0], [0.0, 585.0, 240.0], [0.0, 0.0, 1.0]])
WIDTH, HEIGHT = 640, 480
FRAME_ID = "camera_optical_frame"
#: Kinect v1 nominal colour intrinsics and depth-to-colour extrinsic (see module docstring)
KINECT_V1_RGB_CAMERA = CameraModel.pinhole(WIDTH, HEIGHT, 525.0, 525.0, 319.5, 239.5)
KINECT_V1_T_RGB_DEPTH = np.array([[1.0, 0.0, 0.0, -0.025], [0.0, 1.0, 0.0, 0.0],
                                  [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])


class SevenScenesDataset:
    """Reader of one 7-Scenes sequence folder (see module docstring); `register_colour`
    resamples colour into the depth camera's pixels (default: raw colour as stored)."""

    name: ClassVar[str] = "7scenes"
    kind: ClassVar[str] = "rgbd"

    def __init__(self, root: str | Path, register_colour: bool = False) -> None:
        self.root = Path(root)
        self.register_colour = register_colour
        if not self.root.is_dir():
            raise DatasetError(f"7-Scenes folder not found: {self.root}")
        self._frames = numbered_files(self.root, r"frame-(\d+)\.color\.(?:jpg|png)")
        if not self._frames:
            raise DatasetError(f"{self.root}: no frame-XXXXXX.color.jpg files (not 7-Scenes?)")
        intrinsics = self.root / "camera-intrinsics.txt"
        K = read_matrix(intrinsics, (3, 3)) if intrinsics.is_file() else DEFAULT_K
        self.camera = CameraModel(WIDTH, HEIGHT, K, frame_id=FRAME_ID)
        self.ground_truth = self._read_poses()

    @classmethod
    def detect(cls, root: Path) -> bool:
        root = Path(root)
        return root.is_dir() and (root / "frame-000000.color.jpg").is_file() and (
            root / "frame-000000.depth.png").is_file()

    def __len__(self) -> int:
        return len(self._frames)

    def stamp_ns(self, index: int) -> int:
        """Stamp of frame number `index` (index / 30 s)."""
        return frame_index_stamp_ns(index, RATE_HZ)

    def frames(self, max_frames: int | None = None) -> Iterator[RGBDFrame]:
        for index, color_path in self._frames[: limit(len(self), max_frames)]:
            depth_path = self.root / f"frame-{index:06d}.depth.png"
            rgb = load_rgb(color_path)
            depth = load_depth_png(depth_path, DEPTH_UNITS_PER_M, INVALID_DEPTH)
            if rgb.shape[:2] != depth.shape:
                raise DatasetError(f"{color_path}: colour {rgb.shape[:2]} and depth "
                                   f"{depth.shape} sizes differ")
            if self.register_colour:
                rgb = register_colour_to_depth(rgb, depth, self.camera, KINECT_V1_RGB_CAMERA,
                                               KINECT_V1_T_RGB_DEPTH)
            camera = self.camera
            if depth.shape != (camera.height, camera.width):
                camera = CameraModel(depth.shape[1], depth.shape[0], camera.K, frame_id=FRAME_ID)
            yield RGBDFrame(stamp_ns=self.stamp_ns(index), camera=camera, rgb=rgb, depth=depth,
                            extra={"frame_index": index})

    def _read_poses(self) -> Trajectory | None:
        stamps, poses = [], []
        for index, _ in self._frames:
            path = self.root / f"frame-{index:06d}.pose.txt"
            if not path.is_file():
                continue
            T = read_matrix(path, (4, 4))
            if not np.isfinite(T).all():
                logger.warning("%s: pose is not finite (a lost frame); left out of the ground "
                               "truth", path)
                continue
            stamps.append(self.stamp_ns(index))
            poses.append(T)
        if not poses:
            return None
        return Trajectory(np.asarray(stamps, dtype=np.int64), np.stack(poses))
