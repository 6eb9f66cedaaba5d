"""Outputs of a SlamSystem: mesher wiring, mesh PLY, TUM trajectory, checkpoints.

These are the only functions of the SLAM core that touch files; `SlamSystem.step` never does.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from slam_nodes.errors import ConfigError
from slam_nodes.mesh.blocks import BlockMesher
from slam_nodes.config_schema import from_dict
from slam_nodes.slam.config import SlamConfig
from slam_nodes.slam.system import SlamSystem
from slam_nodes.types import write_tum

CHECKPOINT_VERSION = 2   # 2: the motion model is a twist per second (was a per-frame step)


def _chunked(system: SlamSystem, head, scale: float, empty_shape: tuple, chunk: int):
    """numpy world points [N, 3] -> head(points) * scale as numpy, in chunks, no gradients."""

    def fn(points: np.ndarray) -> np.ndarray:
        out = []
        with torch.no_grad():
            for i in range(0, len(points), chunk):
                x = torch.as_tensor(points[i:i + chunk], dtype=torch.float32,
                                    device=system.device)
                out.append(head(x).cpu().numpy() * scale)
        return np.concatenate(out) if out else np.zeros(empty_shape)
    return fn


def field_sdf_fn(system: SlamSystem, chunk: int = 65536):
    """numpy world points [N, 3] -> SDF [N] in metres, evaluated without gradients."""
    return _chunked(system, system.field.sdf, system.config.render.truncation_m, (0,), chunk)


def field_color_fn(system: SlamSystem, chunk: int = 65536):
    """numpy world points [N, 3] -> RGB [N, 3] in [0, 1] from the colour head."""
    return _chunked(system, system.field.color, 1.0, (0, 3), chunk)


class MapMesher:
    """Keeps a BlockMesher in step with a SlamSystem: voxels the system observed since the last
    update (`SlamSystem.observed`, from every tracked frame's endpoints) mark observed voxels
    and dirty blocks; `update()` re-meshes those blocks."""

    def __init__(self, system: SlamSystem) -> None:
        if system.field is None:
            raise ConfigError("the map is empty: step() at least one frame before meshing")
        self.system = system
        self._start()

    def _start(self) -> None:
        """A BlockMesher over the system's current field and bounds, nothing observed yet."""
        s, m = self.system, self.system.config.mesh
        self._field = s.field
        self.mesher = BlockMesher(s.field.bounds.cpu().numpy(), m.voxel_size_m,
                                  m.block_size_vox, m.observed_margin_m,
                                  field_sdf_fn(s), field_color_fn(s))
        self._seen = 0

    def update(self, full: bool = False):
        """Observe voxels the system observed since the last call and re-mesh dirty blocks
        (see BlockMesher.update). When the system replaced its field (its bounds grew) the
        mesher restarts over the new bounds and re-meshes everything."""
        if self.system.field is not self._field:
            self._start()
            full = True
        observed = self.system.observed
        if len(observed) > self._seen:
            self.mesher.observe(observed.centres(self._seen))
            self._seen = len(observed)
        return self.mesher.update(full)

    def to_trimesh(self):
        return self.mesher.to_trimesh()


def extract_mesh(system: SlamSystem):
    """The whole observed map as one vertex-coloured trimesh.Trimesh."""
    mesher = MapMesher(system)
    mesher.update(full=True)
    return mesher.to_trimesh()


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_mesh(mesh, path: str | Path) -> None:
    """Write a trimesh as binary PLY (atomic)."""
    _atomic_write(Path(path), lambda tmp: mesh.export(tmp, file_type="ply"))


def save_trajectory(system: SlamSystem, path: str | Path) -> None:
    """Write the (BA-refined) trajectory as TUM (atomic)."""
    _atomic_write(Path(path), lambda tmp: write_tum(tmp, system.trajectory()))


def save_checkpoint(system: SlamSystem, path: str | Path) -> None:
    """torch.save of the map state (field, keyframes, frames, config)."""
    state = {"version": CHECKPOINT_VERSION, **system.state_dict()}
    _atomic_write(Path(path), lambda tmp: torch.save(state, tmp))


def load_checkpoint(path: str | Path, device: str | None = None) -> SlamSystem:
    """Rebuild a SlamSystem from `save_checkpoint`; it continues from where it was saved."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except (OSError, RuntimeError, EOFError) as err:
        raise ConfigError(f"cannot read SLAM checkpoint {path}: {err}") from err
    if not isinstance(state, dict) or state.get("version") != CHECKPOINT_VERSION:
        raise ConfigError(f"{path} is not a slam_nodes SLAM checkpoint (version "
                          f"{CHECKPOINT_VERSION})")
    cfg = state["config"]
    if device is not None:
        cfg = {**cfg, "device": device}
    system = SlamSystem(from_dict(SlamConfig, cfg, "config"), np.asarray(state["initial_T"]))
    system.load_state_dict(state)
    return system


def save_outputs(system: SlamSystem, out_dir: str | Path) -> dict[str, Path]:
    """mesh.ply, trajectory.tum, checkpoint.pt and config.yaml under out_dir."""
    import yaml

    from slam_nodes.slam.config import to_dict

    out = Path(out_dir)
    paths = {"mesh": out / "mesh.ply", "trajectory": out / "trajectory.tum",
             "checkpoint": out / "checkpoint.pt", "config": out / "config.yaml"}
    save_mesh(extract_mesh(system), paths["mesh"])
    save_trajectory(system, paths["trajectory"])
    save_checkpoint(system, paths["checkpoint"])
    _atomic_write(paths["config"], lambda tmp: Path(tmp).write_text(
        yaml.safe_dump(to_dict(system.config), sort_keys=False)))
    return paths
