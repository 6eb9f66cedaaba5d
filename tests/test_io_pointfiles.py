"""PLY / PCD / KITTI .bin readers on the real scans of ../shared/data/lidar_scans."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from slam_nodes.errors import DatasetError
from slam_nodes.io.pointfiles import read_points

# file -> point count (lidar_scans/README.txt; KITTI counts = file size / 16 bytes)
COUNTS = {
    "hdl32_small_gicp/source.ply": 69792,
    "hdl32_small_gicp/target.ply": 69088,
    "hdl32_fast_gicp_pcd/251371071.pcd": 69792,
    "hdl32_fast_gicp_pcd/251370668.pcd": 69088,
}


@pytest.mark.parametrize("rel, count", COUNTS.items(), ids=list(COUNTS))
def test_ply_pcd_counts_and_xyz_match_open3d(shared_data, rel, count):
    path = shared_data / "lidar_scans" / rel
    scan = read_points(path)
    assert len(scan) == count
    assert scan.xyz.dtype == np.float32 and scan.intensity.dtype == np.float32
    reference = np.asarray(o3d.io.read_point_cloud(str(path)).points)
    np.testing.assert_array_equal(scan.xyz, reference.astype(np.float32))
    # intensity kept: HDL-32 reflectivity is 0..255 and not constant
    assert 0 <= scan.intensity.min() and scan.intensity.max() <= 255
    assert len(np.unique(scan.intensity)) > 50
    assert 40 < np.linalg.norm(scan.xyz, axis=1).max() < 100  # HDL-32E: 53 m and 78 m here


@pytest.mark.parametrize("ply, pcd", [("source.ply", "251371071.pcd"),
                                      ("target.ply", "251370668.pcd")])
def test_pcd_and_ply_of_the_same_scan_agree(shared_data, ply, pcd):
    a = read_points(shared_data / "lidar_scans/hdl32_small_gicp" / ply)
    b = read_points(shared_data / "lidar_scans/hdl32_fast_gicp_pcd" / pcd)
    np.testing.assert_array_equal(a.xyz, b.xyz)
    np.testing.assert_array_equal(a.intensity, b.intensity)


def test_kitti_bin_scans(shared_data):
    files = sorted((shared_data / "lidar_scans/kitti_patchworkpp").glob("*.bin"))
    assert len(files) == 6
    for f in files:
        scan = read_points(f)
        raw = np.fromfile(f, dtype="<f4").reshape(-1, 4)
        assert len(scan) == f.stat().st_size // 16 == len(raw)
        assert 120_000 < len(scan) < 130_000  # README: ~124k points per HDL-64E scan
        np.testing.assert_array_equal(scan.xyz, raw[:, :3])
        np.testing.assert_array_equal(scan.intensity, raw[:, 3])
        assert 0.0 <= scan.intensity.min() and scan.intensity.max() <= 1.0  # KITTI reflectance


def test_ascii_ply_and_pcd_equal_binary(shared_data, tmp_path):
    scan = read_points(shared_data / "lidar_scans/hdl32_small_gicp/target.ply")
    xyz, inten = scan.xyz[:500], scan.intensity[:500]
    rows = "\n".join(f"{x:.9g} {y:.9g} {z:.9g} {i:.9g}"
                     for (x, y, z), i in zip(xyz, inten, strict=True))
    (tmp_path / "a.ply").write_text(
        "ply\nformat ascii 1.0\nelement vertex 500\nproperty float x\nproperty float y\n"
        "property float z\nproperty float intensity\nend_header\n" + rows + "\n")
    (tmp_path / "a.pcd").write_text(
        "# .PCD v0.7\nVERSION 0.7\nFIELDS x y z intensity\nSIZE 4 4 4 4\nTYPE F F F F\n"
        "COUNT 1 1 1 1\nWIDTH 500\nHEIGHT 1\nVIEWPOINT 0 0 0 1 0 0 0\nPOINTS 500\nDATA ascii\n"
        + rows + "\n")
    for name in ("a.ply", "a.pcd"):
        got = read_points(tmp_path / name)
        np.testing.assert_array_equal(got.xyz, xyz)
        np.testing.assert_array_equal(got.intensity, inten)


def test_binary_compressed_pcd_via_open3d(shared_data, tmp_path):
    scan = read_points(shared_data / "lidar_scans/hdl32_fast_gicp_pcd/251370668.pcd")
    cloud = o3d.t.geometry.PointCloud()
    cloud.point.positions = o3d.core.Tensor(scan.xyz)
    cloud.point.intensity = o3d.core.Tensor(scan.intensity[:, None])
    out = tmp_path / "c.pcd"
    o3d.t.io.write_point_cloud(str(out), cloud, write_ascii=False, compressed=True)
    assert b"binary_compressed" in out.read_bytes()[:400]
    got = read_points(out)
    np.testing.assert_array_equal(got.xyz, scan.xyz)
    np.testing.assert_array_equal(got.intensity, scan.intensity)


def test_bad_point_files_raise_dataset_error(shared_data, tmp_path):
    src = (shared_data / "lidar_scans/hdl32_small_gicp/source.ply").read_bytes()
    (tmp_path / "cut.ply").write_bytes(src[: len(src) // 2])
    with pytest.raises(DatasetError, match="truncated"):
        read_points(tmp_path / "cut.ply")
    (tmp_path / "odd.bin").write_bytes(b"\x00" * 20)
    with pytest.raises(DatasetError, match="whole number"):
        read_points(tmp_path / "odd.bin")
    (tmp_path / "x.xyz").write_text("1 2 3\n")
    with pytest.raises(DatasetError, match="unknown point file"):
        read_points(tmp_path / "x.xyz")
    (tmp_path / "bad.pcd").write_text("VERSION 0.7\nFIELDS x y\nDATA ascii\n")
    with pytest.raises(DatasetError, match="malformed PCD header"):
        read_points(tmp_path / "bad.pcd")
    pcd = (shared_data / "lidar_scans/hdl32_fast_gicp_pcd/251370668.pcd").read_bytes()
    (tmp_path / "cut.pcd").write_bytes(pcd[:5000])
    with pytest.raises(DatasetError, match="truncated"):
        read_points(tmp_path / "cut.pcd")
    with pytest.raises(DatasetError, match="cannot read"):
        read_points(tmp_path / "missing.ply")
