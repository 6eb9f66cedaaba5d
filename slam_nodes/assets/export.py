"""Write a completed asset as simulator-ready files, and check them structurally.

Folder per asset (it is also a Gazebo model folder, usable via GZ_SIM_RESOURCE_PATH):

    <out_dir>/<name>/model.config        Gazebo model manifest
    <out_dir>/<name>/model.sdf           SDF 1.9: one static link, mesh visual, box collision
    <out_dir>/<name>/meshes/asset.glb    watertight coloured mesh (object frame, metres)
    <out_dir>/<name>/meshes/asset.obj    same mesh as OBJ (vertex colours as v x y z r g b)
    <out_dir>/<name>/splat.ply           3D Gaussian splat in the 3DGS viewer layout
    <out_dir>/<name>/metadata.json       class, box, pose, method, fallback reason, confidences
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam_nodes.assets.types import AssetError, CompletedAsset

logger = logging.getLogger(__name__)

SDF_VERSION = "1.9"


@dataclass
class ExportedAsset:
    """Paths of one exported asset folder."""

    folder: Path
    glb: Path
    obj: Path
    model_sdf: Path
    model_config: Path
    splat: Path | None
    metadata: Path


def safe_name(name: str) -> str:
    """A file/model name from an object id: letters, digits, '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", str(name)) or "asset"


def _model_sdf(name: str, box: np.ndarray, mass_kg: float) -> str:
    sx, sy, sz = (float(v) for v in box)
    ixx, iyy, izz = (mass_kg / 12 * (b * b + c * c) for b, c in ((sy, sz), (sx, sz), (sx, sy)))
    sdf = ET.Element("sdf", version=SDF_VERSION)
    model = ET.SubElement(sdf, "model", name=name)
    ET.SubElement(model, "static").text = "true"
    link = ET.SubElement(model, "link", name="link")
    inertial = ET.SubElement(link, "inertial")
    ET.SubElement(inertial, "mass").text = f"{mass_kg:.3f}"
    inertia = ET.SubElement(inertial, "inertia")
    for tag, val in (("ixx", ixx), ("ixy", 0), ("ixz", 0), ("iyy", iyy), ("iyz", 0), ("izz", izz)):
        ET.SubElement(inertia, tag).text = f"{val:.6g}"
    col = ET.SubElement(link, "collision", name="collision")
    box_el = ET.SubElement(ET.SubElement(col, "geometry"), "box")
    ET.SubElement(box_el, "size").text = f"{sx:.4f} {sy:.4f} {sz:.4f}"
    vis = ET.SubElement(link, "visual", name="visual")
    mesh_el = ET.SubElement(ET.SubElement(vis, "geometry"), "mesh")
    ET.SubElement(mesh_el, "uri").text = f"model://{name}/meshes/asset.glb"
    ET.indent(sdf)
    return '<?xml version="1.0"?>\n' + ET.tostring(sdf, encoding="unicode") + "\n"


def _model_config(name: str, asset: CompletedAsset) -> str:
    model = ET.Element("model")
    ET.SubElement(model, "name").text = name
    ET.SubElement(model, "version").text = "1.0"
    ET.SubElement(model, "sdf", version=SDF_VERSION).text = "model.sdf"
    author = ET.SubElement(model, "author")
    ET.SubElement(author, "name").text = "slam_nodes asset completion"
    ET.SubElement(model, "description").text = (
        f"Completed {asset.class_name} asset ({asset.metadata.get('method', '?')}), object frame, metres.")
    ET.indent(model)
    return '<?xml version="1.0"?>\n' + ET.tostring(model, encoding="unicode") + "\n"


def _jsonable(x):
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, np.generic):
        return x.item()
    return x


def export_asset(asset: CompletedAsset, out_dir: str | Path, splat: bool = True, splat_steps: int = 80,
                 mass_kg_per_m3: float = 100.0) -> ExportedAsset:
    """Write the asset folder (see module docstring). Raises AssetError when files cannot be written."""
    name = safe_name(asset.object_id)
    folder = Path(out_dir) / name
    meshes = folder / "meshes"
    try:
        meshes.mkdir(parents=True, exist_ok=True)
        glb, obj = meshes / "asset.glb", meshes / "asset.obj"
        asset.mesh.export(glb)
        asset.mesh.export(obj, include_color=True)
        volume = float(np.prod(asset.box_size_m))
        mass = max(mass_kg_per_m3 * abs(float(asset.mesh.volume)) if asset.mesh.is_volume else volume * 10, 0.1)
        (folder / "model.sdf").write_text(_model_sdf(name, asset.box_size_m, mass))
        (folder / "model.config").write_text(_model_config(name, asset))
        splat_path = None
        meta = dict(asset.metadata)
        if splat:
            from slam_nodes.assets.splat import fit_splats, write_splat_ply

            s = fit_splats(asset.mesh, steps=splat_steps)
            splat_path = folder / "splat.ply"
            write_splat_ply(splat_path, s)
            meta["splat"] = {"num_gaussians": len(s.means), "fit_l1": s.fit_l1, "steps": splat_steps}
        meta.update({"object_id": asset.object_id, "class_name": asset.class_name,
                     "box_size_m": asset.box_size_m, "T_world_object": asset.T_world_object,
                     "stamp_ns": int(asset.stamp_ns), "watertight": bool(asset.mesh.is_watertight),
                     "num_alternatives": len(asset.alternatives),
                     "alternative_scores": [a.score for a in asset.alternatives]})
        meta_path = folder / "metadata.json"
        meta_path.write_text(json.dumps(_jsonable(meta), indent=2))
    except OSError as err:
        raise AssetError(f"cannot write asset folder {folder}: {err}") from err
    return ExportedAsset(folder, glb, obj, folder / "model.sdf", folder / "model.config", splat_path, meta_path)


def validate_gazebo_model(folder: str | Path) -> list[str]:
    """Structural checks of a Gazebo model folder (SDF rules for model, link, geometry, mesh URI).

    Returns a list of problems; empty when the folder is valid.
    """
    folder = Path(folder)
    problems: list[str] = []
    try:
        cfg = ET.parse(folder / "model.config").getroot()
        sdf = ET.parse(folder / "model.sdf").getroot()
    except (OSError, ET.ParseError) as err:
        return [f"cannot parse model files: {err}"]
    if cfg.tag != "model" or cfg.findtext("name") is None:
        problems.append("model.config: root <model> with <name> required")
    cfg_sdf = cfg.find("sdf")
    if cfg_sdf is None or cfg_sdf.get("version") is None or not (folder / (cfg_sdf.text or "")).is_file():
        problems.append("model.config: <sdf version=...> must name an existing file")
    if sdf.tag != "sdf" or sdf.get("version") is None:
        problems.append("model.sdf: root must be <sdf version=...>")
    models = sdf.findall("model")
    if len(models) != 1 or not models[0].get("name"):
        return problems + ["model.sdf: exactly one named <model> required"]
    links = models[0].findall("link")
    if not links or any(not link.get("name") for link in links):
        problems.append("model.sdf: every <link> needs a name")
    for link in links:
        for kind in ("visual", "collision"):
            for el in link.findall(kind):
                if not el.get("name"):
                    problems.append(f"model.sdf: <{kind}> without name")
                geom = el.find("geometry")
                if geom is None or len(geom) != 1:
                    problems.append(f"model.sdf: <{kind}> needs one geometry")
                    continue
                shape = geom[0]
                if shape.tag == "box":
                    size = (shape.findtext("size") or "").split()
                    try:
                        ok = len(size) == 3 and all(float(v) > 0 for v in size)
                    except ValueError:
                        ok = False
                    if not ok:
                        problems.append("model.sdf: <box><size> needs 3 positive numbers")
                elif shape.tag == "mesh":
                    uri = shape.findtext("uri") or ""
                    prefix = f"model://{models[0].get('name')}/"
                    if not uri.startswith(prefix) or not (folder / uri[len(prefix):]).is_file():
                        problems.append(f"model.sdf: mesh uri {uri!r} does not resolve inside the folder")
        mass = link.findtext("inertial/mass")
        if mass is not None and not float(mass) > 0:
            problems.append("model.sdf: mass must be positive")
    return problems
