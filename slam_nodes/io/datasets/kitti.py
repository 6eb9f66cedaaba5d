"""KITTI odometry Velodyne sequences (Geiger et al., CVPR 2012).

Accepted folders (`root`):
  sequences/XX/ with velodyne/NNNNNN.bin, optional times.txt and calib.txt, and the ground truth
  in ../../poses/XX.txt (the official layout), or poses.txt inside the folder;
  or a folder of NNNNNN.bin files directly (e.g. ../shared/data/lidar_scans/kitti_patchworkpp).

Scans: float32 (x, y, z, reflectance) rows in the Velodyne frame (x forward, y left, z up), m.
Stamps: times.txt (seconds from the sequence start) when present, else index / 10 s (10 Hz).
Ground truth: KITTI poses are T_cam0(0)_cam0(i) (3x4 rows, left camera). With calib.txt (its
`Tr:` line is T_cam0_velo) they are turned into LiDAR poses expressed in the first scan's LiDAR
frame, T_world_velo(i) = inv(Tr) @ P_i @ Tr; without calib.txt the camera poses are returned
unchanged and a warning says so.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.io.datasets.base import frame_index_stamp_ns, limit, numbered_files
from slam_nodes.io.pointfiles import read_kitti_bin
from slam_nodes.types import LidarScan, Trajectory, invert_pose

logger = logging.getLogger(__name__)

RATE_HZ = 10.0
FRAME_ID = "velodyne"


def read_kitti_poses(path: Path) -> np.ndarray:
    """Poses [N,4,4] of a KITTI pose file (12 values per line, a row-major 3x4 matrix)."""
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except (OSError, ValueError) as err:
        raise DatasetError(f"cannot read KITTI poses {path}: {err}") from err
    if rows.shape[1] != 12:
        raise DatasetError(f"{path}: expected 12 values per line, got {rows.shape[1]}")
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3, :4] = rows.reshape(-1, 3, 4)
    return poses


def read_velo_to_cam(calib_path: Path) -> np.ndarray | None:
    """T_cam0_velo of a KITTI odometry calib.txt (its 'Tr:' line), or None if absent."""
    for line in calib_path.read_text().splitlines():
        key, _, values = line.partition(":")
        if key.strip() == "Tr":
            try:
                T = np.eye(4)
                T[:3, :4] = np.array(values.split(), dtype=np.float64).reshape(3, 4)
                return T
            except ValueError as err:
                raise DatasetError(f"{calib_path}: malformed Tr line") from err
    return None


class KittiOdometryDataset:
    """Reader of one KITTI odometry Velodyne sequence (see module docstring)."""

    name: ClassVar[str] = "kitti"
    kind: ClassVar[str] = "lidar"
    camera = None

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"KITTI folder not found: {self.root}")
        scan_dir = self.root / "velodyne" if (self.root / "velodyne").is_dir() else self.root
        self._scans = numbered_files(scan_dir, r"(\d+)\.bin")
        if not self._scans:
            raise DatasetError(f"{self.root}: no NNNNNN.bin Velodyne scans")
        self._stamps = self._read_times()
        self.ground_truth = self._read_ground_truth()

    @classmethod
    def detect(cls, root: Path) -> bool:
        root = Path(root)
        scan_dir = root / "velodyne" if (root / "velodyne").is_dir() else root
        return scan_dir.is_dir() and any(scan_dir.glob("[0-9]*.bin"))

    def __len__(self) -> int:
        return len(self._scans)

    def frames(self, max_frames: int | None = None) -> Iterator[LidarScan]:
        for k, (_, path) in enumerate(self._scans[: limit(len(self), max_frames)]):
            xyz, reflectance = read_kitti_bin(path)
            yield LidarScan(stamp_ns=int(self._stamps[k]), xyz=xyz, intensity=reflectance,
                            frame_id=FRAME_ID)

    def _read_times(self) -> np.ndarray:
        indices = [i for i, _ in self._scans]
        times = self.root / "times.txt"
        if not times.is_file():
            return np.array([frame_index_stamp_ns(i, RATE_HZ) for i in indices], dtype=np.int64)
        try:
            seconds = np.loadtxt(times, dtype=np.float64, ndmin=1)
        except ValueError as err:
            raise DatasetError(f"{times}: malformed ({err})") from err
        if max(indices) >= len(seconds):
            raise DatasetError(f"{times}: {len(seconds)} stamps for scan index {max(indices)}")
        return np.round(seconds[indices] * 1e9).astype(np.int64)

    def _read_ground_truth(self) -> Trajectory | None:
        candidates = [self.root / "poses.txt",
                      self.root.parent.parent / "poses" / f"{self.root.name}.txt"]
        path = next((p for p in candidates if p.is_file()), None)
        if path is None:
            return None
        poses = read_kitti_poses(path)
        indices = [i for i, _ in self._scans]
        if max(indices) >= len(poses):
            raise DatasetError(f"{path}: {len(poses)} poses for scan index {max(indices)}")
        poses = poses[indices]
        calib = self.root / "calib.txt"
        Tr = read_velo_to_cam(calib) if calib.is_file() else None
        if Tr is None:
            logger.warning("%s: no calib.txt with Tr; ground truth stays in the left camera's "
                           "frame (not the LiDAR's)", self.root)
        else:
            poses = invert_pose(Tr) @ poses @ Tr
        return Trajectory(self._stamps.copy(), poses)
