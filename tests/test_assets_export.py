"""Asset exports reload: glb/obj via trimesh (watertight, same size, colours), Gazebo folder
structure, splat .ply header/count/values; bad-input fallbacks record their reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
import trimesh
from scipy.spatial import cKDTree

from slam_nodes.assets.completion import AssetCompleter
from slam_nodes.assets.export import export_asset, validate_gazebo_model
from slam_nodes.assets.shapes import make_shape
from slam_nodes.assets.splat import SH_C0, read_splat_ply, splat_ply_fields
from slam_nodes.assets.synthetic import observe
from slam_nodes.assets.types import ObjectObservation


@pytest.fixture(scope="module")
def completer():
    return AssetCompleter.from_weights(num_samples=2, refine_steps=10, mesh_res=40)


def test_fallback_too_few_points_uses_scaled_template(completer):
    obs = ObjectObservation("few", "car", np.array([4.0, 2.0, 1.5]), np.zeros((3, 3)))
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "template"
    assert "only 3 points" in asset.metadata["fallback_reason"]
    np.testing.assert_allclose(asset.mesh.extents, [4.0, 2.0, 1.5], rtol=0.05)
    assert asset.mesh.is_watertight
    assert not asset.vertex_observed.any()


def test_fallback_zero_box_uses_observed_only_mesh(completer):
    shape = make_shape("barrel", 1_000_010)
    obs = observe(shape, [(0, 20), (180, 20)], n_rays=1500)
    obs.box_size_m = np.zeros(3)
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "observed_only"
    assert "degenerate box" in asset.metadata["fallback_reason"]
    assert asset.mesh.is_watertight
    # the box comes from the points: close to the barrel's size
    np.testing.assert_allclose(asset.box_size_m, shape.box_size_m, rtol=0.1)


def test_fallback_unknown_class_and_non_finite_input(completer):
    shape = make_shape("box", 1_000_011)
    obs = observe(shape, [(30, 30)], n_rays=1500)
    obs.class_name = "spaceship"
    obs.points_m[:5] = np.nan
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "observed_only"
    assert "spaceship" in asset.metadata["fallback_reason"]
    assert asset.metadata["n_points"] == len(obs.points_m) - 5
    # with no points and an unknown class: a grey box of the given size
    empty = completer.complete(ObjectObservation("e", "spaceship", np.array([1.0, 2.0, 3.0]), np.zeros((0, 3))))
    assert empty.metadata["method"] == "template"
    np.testing.assert_allclose(empty.mesh.extents, [1.0, 2.0, 3.0])


def test_export_round_trip(completer, tmp_path):
    shape = make_shape("cone", 1_000_012)
    obs = observe(shape, [(45, 25)], n_rays=3000, object_id="cone 7/a")
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "prior"
    out = export_asset(asset, tmp_path, splat=True, splat_steps=15)
    assert out.folder.name == "cone_7_a"
    for path in (out.glb, out.obj):
        m = trimesh.load(path, force="mesh")
        assert m.is_watertight, path
        np.testing.assert_allclose(m.bounds, asset.mesh.bounds, atol=1e-4)
        assert m.visual.kind == "vertex"
        src = np.asarray(asset.mesh.visual.vertex_colors)[:, :3].astype(float).mean(0)
        np.testing.assert_allclose(np.asarray(m.visual.vertex_colors)[:, :3].astype(float).mean(0), src, atol=2)
    assert validate_gazebo_model(out.folder) == []
    # the validator is not a rubber stamp: break the mesh URI and the collision size
    sdf_text = out.model_sdf.read_text()
    out.model_sdf.write_text(sdf_text.replace("asset.glb", "missing.glb").replace("<size>", "<size>0 "))
    problems = validate_gazebo_model(out.folder)
    assert any("uri" in p for p in problems) and any("box" in p for p in problems)
    names, data = read_splat_ply(out.splat)
    assert names == splat_ply_fields()
    assert len(data) == json.loads(out.metadata.read_text())["splat"]["num_gaussians"] >= 100
    assert np.isfinite(data).all()
    rot = data[:, names.index("rot_0"):names.index("rot_3") + 1]
    np.testing.assert_allclose(np.linalg.norm(rot, axis=1), 1.0, atol=1e-4)
    rgb = data[:, names.index("f_dc_0"):names.index("f_dc_2") + 1] * SH_C0 + 0.5
    assert rgb.min() >= 0 and rgb.max() <= 1
    # the splat sits on the asset: every Gaussian within 5% of the object size of the mesh
    surface = trimesh.sample.sample_surface(asset.mesh, 20000, seed=0)[0]
    d = cKDTree(surface).query(data[:, :3])[0]
    assert np.percentile(d, 95) < 0.05 * asset.mesh.extents.max()
    meta = json.loads(out.metadata.read_text())
    assert meta["method"] == "prior" and meta["watertight"] is True and meta["class_name"] == "cone"


def test_asset_marker_places_mesh_in_world(completer):
    from slam_nodes.assets.markers import assets_marker_array
    from slam_nodes.msgs.markers import marker_to_mesh
    from slam_nodes.types.pose import make_pose

    obs = ObjectObservation("few", "box", np.array([1.0, 0.5, 0.4]), np.zeros((0, 3)),
                            T_world_object=make_pose(np.eye(3), np.array([3.0, -2.0, 0.2])), stamp_ns=42)
    asset = completer.complete(obs)
    arr = assets_marker_array([asset], stamp_ns=42)
    assert len(arr.markers) == 2  # DELETEALL + the asset
    verts, faces = marker_to_mesh(arr.markers[1])[:2]
    np.testing.assert_allclose(np.asarray(verts).min(0), [2.5, -2.25, 0.0], atol=0.03)
    np.testing.assert_allclose(np.asarray(verts).max(0), [3.5, -1.75, 0.4], atol=0.03)


def test_fallback_points_outside_box_and_collapsed_points(completer):
    shape = make_shape("car", 1_000_013)
    obs = observe(shape, [(90, 20)], n_rays=1000)
    obs.points_m = obs.points_m * 3 + 10.0  # nowhere near the box
    asset = completer.complete(obs)
    assert asset.metadata["method"] == "observed_only"
    assert "inside the box" in asset.metadata["fallback_reason"]
    assert asset.metadata["n_points_outside_box"] == len(obs.points_m)
    # 25 identical points and a non-finite box: nothing to mesh, the car template at the default size
    collapsed = completer.complete(ObjectObservation("c", "car", np.array([np.inf, 2, 3]), np.zeros((25, 3))))
    assert collapsed.metadata["method"] == "template"
    assert collapsed.mesh.is_watertight and collapsed.mesh.extents.max() > 3.0
