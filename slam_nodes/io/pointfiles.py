"""Point-cloud files -> LidarScan: PLY, PCD and KITTI Velodyne .bin.

All readers are vectorised numpy (the whole file is one structured-array view) and keep the
intensity channel, which Open3D's legacy readers drop. Points are in the sensor frame, metres.

- PLY: `format ascii` / `binary_little_endian` / `binary_big_endian`, the `vertex` element with
  scalar properties; intensity is taken from the first property named intensity,
  scalar_intensity, reflectance or remission. Other elements (faces) may follow and are ignored.
- PCD (v0.5-0.7): DATA ascii / binary; `binary_compressed` (LZF) is delegated to Open3D's
  tensor reader, which keeps extra fields. Fields with COUNT > 1 are kept in the row layout
  but only x, y, z and intensity are returned.
- KITTI .bin: float32 rows (x, y, z, reflectance).

`read_points(path)` picks the reader from the suffix (`POINT_READERS` table).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from slam_nodes.errors import DatasetError
from slam_nodes.types import LidarScan

INTENSITY_NAMES = ("intensity", "scalar_intensity", "reflectance", "remission", "i")

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_PCD_TYPES = {("F", 4): "f4", ("F", 8): "f8", ("I", 1): "i1", ("I", 2): "i2", ("I", 4): "i4",
              ("I", 8): "i8", ("U", 1): "u1", ("U", 2): "u2", ("U", 4): "u4", ("U", 8): "u8"}


def read_points(path: str | Path, stamp_ns: int = 0, frame_id: str = "lidar") -> LidarScan:
    """LidarScan of a .ply, .pcd or .bin file (DatasetError on unknown or malformed files)."""
    path = Path(path)
    reader = POINT_READERS.get(path.suffix.lower())
    if reader is None:
        raise DatasetError(f"{path}: unknown point file type; expected one of "
                           f"{sorted(POINT_READERS)}")
    xyz, intensity = reader(path)
    return LidarScan(stamp_ns=stamp_ns, xyz=xyz, intensity=intensity, frame_id=frame_id)


def read_kitti_bin(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """xyz float32 [N,3] and reflectance float32 [N] of a KITTI Velodyne scan."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) % 16:
        raise DatasetError(f"{path}: {len(raw)} bytes is not a whole number of KITTI points "
                           "(16 bytes each: float32 x y z reflectance)")
    pts = np.frombuffer(raw, dtype="<f4").reshape(-1, 4)
    return pts[:, :3].copy(), pts[:, 3].copy()


def read_ply(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """xyz float32 [N,3] and intensity float32 [N] (or None) of a PLY point cloud."""
    path = Path(path)
    raw = _read_bytes(path)
    end = raw.find(b"end_header")
    if not raw.startswith(b"ply") or end < 0:
        raise DatasetError(f"{path}: not a PLY file (no 'ply' magic or 'end_header')")
    body_start = raw.index(b"\n", end) + 1
    header = raw[:end].decode("ascii", "replace").splitlines()
    fmt, elements = None, []  # elements: [name, count, [(prop, dtype)]]
    for line in header:
        parts = line.split()
        if not parts:
            continue
        try:
            if parts[0] == "format":
                fmt = parts[1]
            elif parts[0] == "element":
                elements.append([parts[1], int(parts[2]), []])
            elif parts[0] == "property" and elements:
                if parts[1] == "list":
                    elements[-1][2].append((parts[-1], None))
                else:
                    elements[-1][2].append((parts[2], _PLY_TYPES[parts[1]]))
        except (IndexError, KeyError, ValueError) as err:
            raise DatasetError(f"{path}: malformed PLY header line {line!r}") from err
    if not elements or elements[0][0] != "vertex":
        raise DatasetError(f"{path}: PLY has no leading 'vertex' element")
    _, count, props = elements[0]
    if any(dt is None for _, dt in props):
        raise DatasetError(f"{path}: list properties in the vertex element are not supported")
    if fmt == "ascii":
        rows = raw[body_start:].decode("ascii", "replace").split("\n")[:count]
        try:
            table = np.loadtxt(rows, dtype=np.float64, ndmin=2)[:, : len(props)]
        except ValueError as err:
            raise DatasetError(f"{path}: malformed ASCII PLY data ({err})") from err
        fields = {name: table[:, i] for i, (name, _) in enumerate(props)}
    elif fmt in ("binary_little_endian", "binary_big_endian"):
        order = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(name, order + dt) for name, dt in props])
        if len(raw) - body_start < count * dtype.itemsize:
            raise DatasetError(f"{path}: PLY is truncated ({count} vertices need "
                               f"{count * dtype.itemsize} bytes, {len(raw) - body_start} left)")
        arr = np.frombuffer(raw, dtype=dtype, count=count, offset=body_start)
        fields = {name: arr[name] for name, _ in props}
    else:
        raise DatasetError(f"{path}: unknown PLY format {fmt!r}")
    return _xyz_intensity(path, fields, count)


def read_pcd(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """xyz float32 [N,3] and intensity float32 [N] (or None) of a PCD point cloud."""
    path = Path(path)
    raw = _read_bytes(path)
    header: dict[str, list[str]] = {}
    pos = 0
    while pos < len(raw):
        nl = raw.find(b"\n", pos)
        nl = len(raw) if nl < 0 else nl
        line = raw[pos:nl].decode("ascii", "replace").strip()
        pos = nl + 1
        if not line or line.startswith("#"):
            continue
        key, *vals = line.split()
        header[key.upper()] = vals
        if key.upper() == "DATA":
            break
    try:
        names = header["FIELDS"]
        sizes = [int(v) for v in header["SIZE"]]
        types = header["TYPE"]
        counts = [int(v) for v in header.get("COUNT", ["1"] * len(names))]
        npoints = int(header["POINTS"][0]) if "POINTS" in header else (
            int(header["WIDTH"][0]) * int(header.get("HEIGHT", ["1"])[0]))
        data_kind = header["DATA"][0].lower()
        dtype = np.dtype([(n, "<" + _PCD_TYPES[(t.upper(), s)], (c,) if c > 1 else ())
                          for n, s, t, c in zip(names, sizes, types, counts, strict=True)])
    except (KeyError, IndexError, ValueError) as err:
        raise DatasetError(f"{path}: malformed PCD header ({type(err).__name__}: {err})") from err
    if data_kind == "binary":
        if len(raw) - pos < npoints * dtype.itemsize:
            raise DatasetError(f"{path}: PCD is truncated ({npoints} points need "
                               f"{npoints * dtype.itemsize} bytes, {len(raw) - pos} left)")
        arr = np.frombuffer(raw, dtype=dtype, count=npoints, offset=pos)
        fields = {n: arr[n] for n in names}
    elif data_kind == "ascii":
        try:
            table = np.loadtxt(raw[pos:].decode("ascii", "replace").splitlines()[:npoints],
                               dtype=np.float64, ndmin=2)
        except ValueError as err:
            raise DatasetError(f"{path}: malformed ASCII PCD data ({err})") from err
        offsets = np.cumsum([0, *counts])
        fields = {n: table[:, offsets[i]] for i, n in enumerate(names)}
    elif data_kind == "binary_compressed":
        return _read_pcd_open3d(path)
    else:
        raise DatasetError(f"{path}: unknown PCD DATA kind {data_kind!r}")
    return _xyz_intensity(path, fields, npoints)


def _read_pcd_open3d(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import open3d as o3d

    pcd = o3d.t.io.read_point_cloud(str(path))
    if "positions" not in pcd.point:
        raise DatasetError(f"{path}: Open3D found no points in this binary_compressed PCD")
    xyz = pcd.point.positions.numpy().astype(np.float32)
    intensity = None
    for name in INTENSITY_NAMES:
        if name in pcd.point:
            intensity = pcd.point[name].numpy().reshape(-1).astype(np.float32)
            break
    return xyz, intensity


def _xyz_intensity(path: Path, fields: dict, count: int) -> tuple[np.ndarray, np.ndarray | None]:
    missing = [c for c in "xyz" if c not in fields]
    if missing:
        raise DatasetError(f"{path}: point fields {missing} are missing (has {list(fields)})")
    xyz = np.stack([fields[c] for c in "xyz"], axis=1).astype(np.float32)
    if len(xyz) != count:
        raise DatasetError(f"{path}: header says {count} points, found {len(xyz)}")
    name = next((n for n in INTENSITY_NAMES if n in fields), None)
    intensity = None if name is None else np.asarray(fields[name], dtype=np.float32).copy()
    return xyz, intensity


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise DatasetError(f"cannot read point file {path}: {err}") from err


POINT_READERS: dict[str, Callable[[Path], tuple[np.ndarray, np.ndarray | None]]] = {
    ".ply": read_ply,
    ".pcd": read_pcd,
    ".bin": read_kitti_bin,
}
