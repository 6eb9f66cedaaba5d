"""Dataset readers behind one Protocol (`DatasetReader`), registered in `DATASETS`.

    reader = open_dataset("path/to/rgbd_dataset_freiburg1_xyz")   # kind guessed from the path
    for frame in reader.frames(max_frames=10): ...                 # RGBDFrame or LidarScan
    reader.ground_truth                                            # Trajectory or None

Kinds: "tum" (TUM RGB-D), "7scenes" (Microsoft 7-Scenes), "kitti" (KITTI odometry Velodyne).
"""

from __future__ import annotations

from pathlib import Path

from slam_nodes.errors import DatasetError
from slam_nodes.io.datasets.base import DatasetReader
from slam_nodes.io.datasets.kitti import KittiOdometryDataset
from slam_nodes.io.datasets.sevenscenes import SevenScenesDataset
from slam_nodes.io.datasets.tum import TumRgbdDataset

DATASETS: dict[str, type] = {
    "tum": TumRgbdDataset,
    "7scenes": SevenScenesDataset,
    "kitti": KittiOdometryDataset,
}


def guess_dataset_kind(root: str | Path) -> str:
    """The DATASETS key whose `detect` accepts `root` (DatasetError when none or unclear)."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset folder not found: {root}")
    kinds = [name for name, cls in DATASETS.items() if cls.detect(root)]
    if len(kinds) != 1:
        raise DatasetError(f"{root}: cannot tell the dataset kind (matches: {kinds or 'none'}); "
                           f"say it explicitly, one of {list(DATASETS)}")
    return kinds[0]


def open_dataset(root: str | Path, kind: str | None = None, **options) -> DatasetReader:
    """A reader for the dataset folder `root`; `kind` is a DATASETS key or None to guess."""
    kind = kind or guess_dataset_kind(root)
    if kind not in DATASETS:
        raise DatasetError(f"unknown dataset kind {kind!r}; expected one of {list(DATASETS)}")
    return DATASETS[kind](root, **options)


__all__ = ["DATASETS", "DatasetReader", "KittiOdometryDataset", "SevenScenesDataset",
           "TumRgbdDataset", "guess_dataset_kind", "open_dataset"]
