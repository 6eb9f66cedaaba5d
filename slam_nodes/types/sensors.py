"""Sensor data containers (struct of arrays, SI units, int64 ns stamps).

Images are numpy arrays: colour uint8 [H,W,3] RGB, depth float32 [H,W] metres with 0 = invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slam_nodes.types.camera import CameraModel
from slam_nodes.types.errors import InvalidValueError


@dataclass
class EventBatch:
    """Events of one sensor, sorted or not, as a struct of arrays.

    t: int64 [N] ns; x, y: uint16 [N] pixel column/row; p: int8 [N] polarity +1 (ON) / -1 (OFF).
    width, height: sensor size in pixels (0 when unknown).
    """

    t: np.ndarray
    x: np.ndarray
    y: np.ndarray
    p: np.ndarray
    width: int = 0
    height: int = 0

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.int64)
        self.x = np.asarray(self.x, dtype=np.uint16)
        self.y = np.asarray(self.y, dtype=np.uint16)
        self.p = np.asarray(self.p, dtype=np.int8)
        n = len(self.t)
        if not (len(self.x) == len(self.y) == len(self.p) == n):
            raise InvalidValueError("event arrays t, x, y, p must have the same length")

    @classmethod
    def empty(cls, width: int = 0, height: int = 0) -> "EventBatch":
        """A batch with no events for a sensor of width x height pixels."""
        z = np.zeros(0)
        return cls(z, z, z, z, width, height)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def num_on(self) -> int:
        """Number of ON (p = +1) events."""
        return int(np.count_nonzero(self.p > 0))

    @property
    def num_off(self) -> int:
        """Number of OFF (p = -1) events."""
        return int(np.count_nonzero(self.p < 0))

    def select(self, mask_or_index: np.ndarray) -> "EventBatch":
        """Subset by boolean mask or index array."""
        m = mask_or_index
        return EventBatch(self.t[m], self.x[m], self.y[m], self.p[m], self.width, self.height)

    def sorted(self) -> "EventBatch":
        """Copy sorted by time (stable, so equal stamps keep their order)."""
        if len(self) < 2 or np.all(self.t[1:] >= self.t[:-1]):
            return self
        return self.select(np.argsort(self.t, kind="stable"))

    def in_bounds(self) -> np.ndarray:
        """Mask [N] of events inside the sensor (all True when the size is unknown)."""
        if self.width <= 0 or self.height <= 0:
            return np.ones(len(self), dtype=bool)
        return (self.x < self.width) & (self.y < self.height)

    def time_slice(self, t0_ns: int, t1_ns: int) -> "EventBatch":
        """Events with t0 <= t < t1 of a time-sorted batch (binary search, no copy of others)."""
        i0, i1 = np.searchsorted(self.t, [t0_ns, t1_ns], side="left")
        return EventBatch(self.t[i0:i1], self.x[i0:i1], self.y[i0:i1], self.p[i0:i1],
                          self.width, self.height)

    @staticmethod
    def concatenate(batches: list["EventBatch"]) -> "EventBatch":
        """The events of `batches` one after another (no re-sorting)."""
        if not batches:
            return EventBatch.empty()
        return EventBatch(
            np.concatenate([b.t for b in batches]),
            np.concatenate([b.x for b in batches]),
            np.concatenate([b.y for b in batches]),
            np.concatenate([b.p for b in batches]),
            max(b.width for b in batches),
            max(b.height for b in batches),
        )


@dataclass
class TriggerEvents:
    """External trigger events: t int64 [N] ns, polarity int8 [N] (0 or 1 edge), id uint8 [N]."""

    t: np.ndarray
    polarity: np.ndarray
    id: np.ndarray

    def __post_init__(self) -> None:
        self.t = np.asarray(self.t, dtype=np.int64)
        self.polarity = np.asarray(self.polarity, dtype=np.int8)
        self.id = np.asarray(self.id, dtype=np.uint8)

    @classmethod
    def empty(cls) -> "TriggerEvents":
        """No trigger events."""
        z = np.zeros(0)
        return cls(z, z, z)

    def __len__(self) -> int:
        return len(self.t)


@dataclass
class LidarScan:
    """One LiDAR sweep in the sensor frame (REP-103: x forward, y left, z up), metres.

    stamp_ns: scan stamp (header stamp, usually the sweep start).
    xyz: float32 [N,3]; intensity: float32 [N] or None; ring: uint16 [N] or None (beam index);
    time_ns: int64 [N] absolute per-point time or None when the sensor gives none.
    """

    stamp_ns: int
    xyz: np.ndarray
    intensity: np.ndarray | None = None
    ring: np.ndarray | None = None
    time_ns: np.ndarray | None = None
    frame_id: str = "lidar"

    def __post_init__(self) -> None:
        self.xyz = np.asarray(self.xyz, dtype=np.float32).reshape(-1, 3)
        n = len(self.xyz)
        for name, dtype in (("intensity", np.float32), ("ring", np.uint16),
                            ("time_ns", np.int64)):
            arr = getattr(self, name)
            if arr is None:
                continue
            arr = np.asarray(arr, dtype=dtype).reshape(-1)
            if len(arr) != n:
                raise InvalidValueError(
                    f"LidarScan.{name} has {len(arr)} values for {n} points")
            setattr(self, name, arr)

    def __len__(self) -> int:
        return len(self.xyz)


@dataclass
class RGBDFrame:
    """A colour image and a depth image registered to the same camera (the depth camera's
    optical frame unless `rgb_camera` differs), with a common stamp in ns.

    rgb: uint8 [H,W,3] or None; depth: float32 [H,W] metres (0 invalid) or None.
    """

    stamp_ns: int
    camera: CameraModel
    rgb: np.ndarray | None = None
    depth: np.ndarray | None = None
    exposure_s: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        shape = (self.camera.height, self.camera.width)
        if self.rgb is not None and self.rgb.shape[:2] != shape:
            raise InvalidValueError(f"rgb is {self.rgb.shape[:2]}, camera is {shape}")
        if self.depth is not None and self.depth.shape != shape:
            raise InvalidValueError(f"depth is {self.depth.shape}, camera is {shape}")
