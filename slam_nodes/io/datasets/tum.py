"""TUM RGB-D benchmark sequence folders (Sturm et al., IROS 2012).

Layout: rgb.txt and depth.txt (`timestamp filename` lines, '#' comments), rgb/ and depth/
images, and groundtruth.txt (TUM trajectory of the camera's optical frame, 100 Hz mocap).
Depth PNGs are uint16 with 5000 units per metre, 0 invalid. Depth is registered to colour.

Association: each colour image is paired with the depth image nearest in time when they are at
most `max_dt_s` (default 20 ms, as TUM's associate.py) apart; a depth image used by several
colour images is kept only for the closest one. The frame stamp is the colour stamp.

Intrinsics follow the TUM calibration page, picked by the folder name: freiburg1 / freiburg2
(with their plumb_bob distortion) and freiburg3; any other folder gets the ROS default
(fx = fy = 525, cx = 319.5, cy = 239.5). Pass `camera=` to override.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.io.datasets.base import limit
from slam_nodes.io.datasets.images import load_depth_png, load_rgb
from slam_nodes.types import CameraModel, RGBDFrame, Trajectory, read_tum
from slam_nodes.types.pose import seconds_text_to_ns

DEPTH_UNITS_PER_M = 5000.0
FRAME_ID = "camera_optical_frame"
# TUM RGB-D calibration (https://cvg.cit.tum.de/data/datasets/rgbd-dataset/file_formats)
TUM_INTRINSICS = {
    "freiburg1": ((517.3, 516.5, 318.6, 255.3), (0.2624, -0.9531, -0.0054, 0.0026, 1.1633)),
    "freiburg2": ((520.9, 521.0, 325.1, 249.7), (0.2312, -0.7849, -0.0033, -0.0001, 0.9172)),
    "freiburg3": ((535.4, 539.2, 320.1, 247.6), (0.0, 0.0, 0.0, 0.0, 0.0)),
}
DEFAULT_INTRINSICS = ((525.0, 525.0, 319.5, 239.5), (0.0, 0.0, 0.0, 0.0, 0.0))


def tum_camera(root: Path, width: int = 640, height: int = 480) -> CameraModel:
    """The TUM camera for a sequence folder, chosen by 'freiburgN' in its name."""
    name = str(root).lower()
    (fx, fy, cx, cy), dist = next(
        (v for key, v in TUM_INTRINSICS.items() if key in name), DEFAULT_INTRINSICS)
    K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    model = "plumb_bob" if any(dist) else "none"
    return CameraModel(width, height, K, model, np.asarray(dist if any(dist) else []),
                       frame_id=FRAME_ID)


def read_file_list(path: Path) -> tuple[np.ndarray, list[str]]:
    """(stamps int64 ns [N], filenames) of a TUM rgb.txt / depth.txt, sorted by stamp."""
    stamps, names = [], []
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise DatasetError(f"cannot read {path}: {err}") from err
    for lineno, line in enumerate(lines, start=1):
        parts = line.strip().split()
        if not parts or parts[0].startswith("#"):
            continue
        if len(parts) < 2:
            raise DatasetError(f"{path}:{lineno}: expected 'timestamp filename'")
        try:
            stamps.append(seconds_text_to_ns(parts[0]))
        except ValueError as err:
            raise DatasetError(f"{path}:{lineno}: bad timestamp {parts[0]!r}") from err
        names.append(parts[1])
    order = np.argsort(np.asarray(stamps, dtype=np.int64), kind="stable")
    return np.asarray(stamps, dtype=np.int64)[order], [names[i] for i in order]


def associate(a_ns: np.ndarray, b_ns: np.ndarray, max_dt_ns: int) -> list[tuple[int, int]]:
    """Index pairs (i, j) pairing sorted stamps a[i] with the nearest b[j] (|dt| <= max_dt_ns),
    each j used at most once (kept for the closest i). Sorted by i."""
    if len(a_ns) == 0 or len(b_ns) == 0:
        return []
    right = np.clip(np.searchsorted(b_ns, a_ns), 0, len(b_ns) - 1)
    left = np.clip(right - 1, 0, len(b_ns) - 1)
    pick = np.where(np.abs(b_ns[left] - a_ns) <= np.abs(b_ns[right] - a_ns), left, right)
    dt = np.abs(b_ns[pick] - a_ns)
    ok = dt <= max_dt_ns
    best: dict[int, tuple[int, int]] = {}
    for i in np.flatnonzero(ok):
        j = int(pick[i])
        if j not in best or dt[i] < best[j][1]:
            best[j] = (int(i), int(dt[i]))
    return sorted((i, j) for j, (i, _) in best.items())


class TumRgbdDataset:
    """Reader of one TUM RGB-D sequence folder (see module docstring)."""

    name: ClassVar[str] = "tum"
    kind: ClassVar[str] = "rgbd"

    def __init__(self, root: str | Path, camera: CameraModel | None = None,
                 max_dt_s: float = 0.02) -> None:
        self.root = Path(root)
        for required in ("rgb.txt", "depth.txt"):
            if not (self.root / required).is_file():
                raise DatasetError(f"{self.root}: {required} is missing (not a TUM RGB-D folder?)")
        rgb_ns, self._rgb_names = read_file_list(self.root / "rgb.txt")
        depth_ns, self._depth_names = read_file_list(self.root / "depth.txt")
        self._pairs = associate(rgb_ns, depth_ns, int(round(max_dt_s * 1e9)))
        if not self._pairs:
            raise DatasetError(f"{self.root}: no colour/depth pair within {max_dt_s} s")
        self._rgb_ns = rgb_ns
        self.camera = camera or tum_camera(self.root)
        gt = self.root / "groundtruth.txt"
        self.ground_truth: Trajectory | None = read_tum(gt) if gt.is_file() else None

    @classmethod
    def detect(cls, root: Path) -> bool:
        root = Path(root)
        return (root / "rgb.txt").is_file() and (root / "depth.txt").is_file()

    def __len__(self) -> int:
        return len(self._pairs)

    def frames(self, max_frames: int | None = None) -> Iterator[RGBDFrame]:
        for i, j in self._pairs[: limit(len(self), max_frames)]:
            rgb = load_rgb(self.root / self._rgb_names[i])
            depth = load_depth_png(self.root / self._depth_names[j], DEPTH_UNITS_PER_M)
            if rgb.shape[:2] != depth.shape:
                raise DatasetError(f"{self.root / self._rgb_names[i]}: colour {rgb.shape[:2]} "
                                   f"and depth {depth.shape} sizes differ")
            camera = self.camera
            if depth.shape != (camera.height, camera.width):
                raise DatasetError(f"{self.root}: images are {depth.shape[1]}x{depth.shape[0]}, "
                                   f"the camera is {camera.width}x{camera.height}")
            yield RGBDFrame(stamp_ns=int(self._rgb_ns[i]), camera=camera, rgb=rgb, depth=depth,
                            extra={"rgb_file": self._rgb_names[i],
                                   "depth_file": self._depth_names[j]})
