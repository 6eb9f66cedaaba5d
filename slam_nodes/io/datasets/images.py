"""Image file loading shared by the dataset readers (OpenCV decoding, our conventions).

Colour: uint8 [H,W,3] RGB. Depth: float32 [H,W] metres, 0 where invalid.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from slam_nodes.errors import DatasetError


def load_rgb(path: Path) -> np.ndarray:
    """uint8 [H,W,3] RGB of a colour image file (JPEG/PNG; grey images are expanded)."""
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise DatasetError(f"cannot read colour image {path} (missing or not an image)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def load_depth_png(path: Path, units_per_metre: float,
                   invalid_values: tuple[int, ...] = (0,)) -> np.ndarray:
    """float32 [H,W] metres of a uint16 depth PNG storing `units_per_metre` units per metre
    (1000 for millimetres, 5000 for TUM RGB-D); `invalid_values` become 0."""
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise DatasetError(f"cannot read depth image {path} (missing or not an image)")
    if raw.dtype != np.uint16 or raw.ndim != 2:
        raise DatasetError(f"{path}: depth must be a single-channel uint16 PNG, got "
                           f"{raw.dtype} with shape {raw.shape}")
    depth = (raw / float(units_per_metre)).astype(np.float32)  # correctly rounded metres
    depth[np.isin(raw, invalid_values)] = 0.0
    return depth
