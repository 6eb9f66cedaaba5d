"""Typed containers of the asset pipeline: what is observed of an object and what is completed."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slam_nodes.errors import SlamNodesError


class AssetError(SlamNodesError):
    """Asset inputs (observations, weights, export folders) are unusable."""


@dataclass
class ObjectObservation:
    """Everything seen of one object, in its object frame (box centre origin, x fwd, y left, z up; metres).

    points_m [N,3] float64 surface points; colors [N,3] uint8 RGB or None; ray_origins_m [N,3] the
    sensor position of the ray that hit each point (for free space) or None; box_size_m [3] full box
    extents; T_world_object [4,4] float64 box pose; class_name a category of `shapes.CATEGORIES` or
    anything else (then completion falls back); stamp_ns int64 of the latest observation.
    """

    object_id: str
    class_name: str
    box_size_m: np.ndarray
    points_m: np.ndarray
    colors: np.ndarray | None = None
    ray_origins_m: np.ndarray | None = None
    T_world_object: np.ndarray = field(default_factory=lambda: np.eye(4))
    stamp_ns: int = 0


@dataclass
class Alternative:
    """One alternative completion: evidence-fit score (lower is better) and its mesh (object frame)."""

    score: float
    mesh: object


@dataclass
class CompletedAsset:
    """A whole asset in the object frame (metres).

    mesh: watertight trimesh with vertex colours; vertex_observed [V] bool, True near observed points;
    vertex_confidence [V] in [0,1] (1 observed, else agreement of the k sampled completions);
    alternatives: other completions, best first; metadata: method ("prior", "observed_only",
    "template"), fallback reason, scores, timings, token counts (JSON-serialisable).
    """

    object_id: str
    class_name: str
    box_size_m: np.ndarray
    T_world_object: np.ndarray
    mesh: object
    vertex_observed: np.ndarray
    vertex_confidence: np.ndarray
    alternatives: list[Alternative]
    metadata: dict
    stamp_ns: int = 0
