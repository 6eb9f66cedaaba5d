"""The dataset-reader Protocol and helpers shared by the readers."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.types import CameraModel, LidarScan, RGBDFrame, Trajectory

NS_PER_S = 1_000_000_000


@runtime_checkable
class DatasetReader(Protocol):
    """A dataset folder read frame by frame (lazily: one frame's files are loaded at a time).

    kind: "rgbd" (frames are RGBDFrame) or "lidar" (frames are LidarScan).
    camera: the RGB-D camera (None for LiDAR datasets).
    ground_truth: poses T_world_sensor with their own stamps (None when the folder has none);
    the sensor is the camera's optical frame for RGB-D and the LiDAR for LiDAR datasets.
    """

    name: ClassVar[str]
    kind: ClassVar[str]
    root: Path
    camera: CameraModel | None
    ground_truth: Trajectory | None

    @classmethod
    def detect(cls, root: Path) -> bool:
        """True when `root` looks like a folder of this dataset."""
        ...

    def __len__(self) -> int:
        """Number of frames."""
        ...

    def frames(self, max_frames: int | None = None) -> Iterator[RGBDFrame | LidarScan]:
        """Frames in time order (the first `max_frames` when given)."""
        ...


def frame_index_stamp_ns(index: int, rate_hz: float) -> int:
    """Stamp in ns of frame `index` at a nominal rate, rounded to the nearest ns."""
    return int(round(index * NS_PER_S / rate_hz))


def numbered_files(folder: Path, pattern: str) -> list[tuple[int, Path]]:
    """(index, path) of files whose name matches `pattern` (a regex with one integer group),
    sorted by index."""
    regex = re.compile(pattern)
    found = []
    for path in folder.iterdir():
        match = regex.fullmatch(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return sorted(found)


def read_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """A whitespace-separated float matrix of exactly `shape` (DatasetError otherwise)."""
    try:
        values = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read matrix file {path}: {err}") from err
    if values.size != shape[0] * shape[1]:
        raise DatasetError(f"{path}: expected a {shape[0]}x{shape[1]} matrix, got {values.shape}")
    return values.reshape(shape)


def limit(n: int, max_frames: int | None) -> int:
    """min(n, max_frames), validating max_frames."""
    if max_frames is None:
        return n
    if max_frames < 0:
        raise DatasetError(f"max_frames must be >= 0, got {max_frames}")
    return min(n, max_frames)
