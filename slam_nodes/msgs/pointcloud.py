"""sensor_msgs/PointCloud2 <-> numpy fields, LidarScan and coloured point sets.

A PointCloud2 is read as a numpy structured view of its buffer (no copy): one record per point,
`point_step` bytes apart, rows `row_step` bytes apart, each PointField at its offset with its
datatype (INT8..FLOAT64) and byte order (`is_bigendian`); padding and gaps between fields are
skipped. Fields with count > 1 become [N, count] columns.

Per-point time (LidarScan.time_ns, absolute int64 ns) is read from the first field present of:
  - 't'           Ouster: uint32 ns offset from the header stamp;
  - 'time'        Velodyne/Robosense: float32 s offset from the header stamp (integer: ns);
  - 'offset_time' Livox: uint32 ns offset from the header stamp;
  - 'timestamp'   Livox (float64 absolute ns) or Hesai (float64 absolute s): absolute; the unit
                  (s or ns) is the one that puts the values nearest the header stamp.
Rules for offsets: integer fields are ns, float fields seconds.
"""

from __future__ import annotations

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.stamps import make_header, stamp_to_ns
from slam_nodes.msgs.typestore import msg_class
from slam_nodes.types.sensors import LidarScan

#: sensor_msgs/PointField datatype constants -> numpy type codes
DATATYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
_CODES = {np.dtype(v): k for k, v in DATATYPES.items()}
TIME_FIELDS = ("t", "time", "offset_time", "timestamp")
INTENSITY_FIELDS = ("intensity", "i")
RING_FIELDS = ("ring", "line")
NS_PER_S = 1_000_000_000


def cloud_dtype(msg) -> np.dtype:
    """Structured numpy dtype of one point of a PointCloud2 (itemsize = point_step)."""
    order = ">" if msg.is_bigendian else "<"
    names, formats, offsets = [], [], []
    for f in msg.fields:
        if f.datatype not in DATATYPES:
            raise ConversionError(f"PointField {f.name!r} has unknown datatype {f.datatype}")
        if f.name in names:
            raise ConversionError(f"PointCloud2 has two fields named {f.name!r}")
        base = np.dtype(DATATYPES[f.datatype]).newbyteorder(order)
        count = max(int(f.count), 1)
        fmt = base if count == 1 else np.dtype((base, (count,)))
        if f.offset + fmt.itemsize > msg.point_step:
            raise ConversionError(
                f"PointField {f.name!r} (offset {f.offset}, {fmt.itemsize} bytes) overruns "
                f"point_step {msg.point_step}")
        names.append(f.name)
        formats.append(fmt)
        offsets.append(int(f.offset))
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": int(msg.point_step)})


def cloud_array(msg) -> np.ndarray:
    """Structured view [H, W] of a PointCloud2's points (no copy).

    Raises ConversionError when the data is shorter than the declared layout needs.
    """
    dtype = cloud_dtype(msg)
    h, w = int(msg.height), int(msg.width)
    point_step, row_step = int(msg.point_step), int(msg.row_step)
    data = np.asarray(msg.data, dtype=np.uint8).reshape(-1)
    if h * w == 0:
        return np.zeros((h, w), dtype=dtype)
    if point_step <= 0 or (h > 1 and row_step < w * point_step):
        raise ConversionError(
            f"PointCloud2 {w}x{h}: point_step {point_step} / row_step {row_step} too small")
    need = (h - 1) * row_step + w * point_step
    if len(data) < need:
        raise ConversionError(
            f"PointCloud2 {w}x{h} (point_step {point_step}, row_step {row_step}) needs "
            f"{need} bytes, data has {len(data)}")
    return np.ndarray((h, w), dtype=dtype, buffer=data, offset=0,
                      strides=(row_step, point_step))


def cloud_fields(msg) -> dict[str, np.ndarray]:
    """{field name: [N] (or [N, count]) array in native byte order} of a PointCloud2,
    N = height * width, row-major. Little-endian unpadded clouds give views of the buffer."""
    arr = cloud_array(msg).reshape(-1)
    out = {}
    for name in arr.dtype.names or ():
        col = arr[name]
        out[name] = col.astype(col.dtype.newbyteorder("="), copy=False)
    return out


def _time_ns(fields: dict[str, np.ndarray], stamp_ns: int) -> np.ndarray | None:
    for name in TIME_FIELDS:
        if name not in fields:
            continue
        v = fields[name]
        if v.ndim != 1:
            v = v[:, 0]
        if name == "timestamp":
            if len(v) == 0:
                return np.zeros(0, np.int64)
            if v.dtype.kind == "f":
                med = float(np.median(v))
                as_s = abs(med * NS_PER_S - stamp_ns) < abs(med - stamp_ns)
                scaled = v.astype(np.float64) * (NS_PER_S if as_s else 1)
                return np.rint(scaled).astype(np.int64)
            return v.astype(np.int64)
        if v.dtype.kind == "f":
            return stamp_ns + np.rint(v.astype(np.float64) * NS_PER_S).astype(np.int64)
        return stamp_ns + v.astype(np.int64)
    return None


def scan_from_msg(msg) -> LidarScan:
    """LidarScan (x, y, z; intensity; ring; absolute per-point time) of a PointCloud2.

    Points with a non-finite coordinate are dropped. Raises ConversionError when x, y or z is
    missing or the layout is inconsistent.
    """
    fields = cloud_fields(msg)
    missing = [c for c in "xyz" if c not in fields]
    if missing:
        raise ConversionError(
            f"PointCloud2 ({msg.header.frame_id!r}) lacks fields {missing}; "
            f"has {list(fields)}")
    stamp_ns = stamp_to_ns(msg.header.stamp)
    xyz = np.stack([fields[c] if fields[c].ndim == 1 else fields[c][:, 0] for c in "xyz"],
                   axis=1).astype(np.float32)
    keep = np.isfinite(xyz).all(axis=1)
    all_kept = bool(keep.all())

    def pick(names, dtype):
        for name in names:
            if name in fields:
                col = fields[name] if fields[name].ndim == 1 else fields[name][:, 0]
                col = col.astype(dtype)
                return col if all_kept else col[keep]
        return None

    time_ns = _time_ns(fields, stamp_ns)
    if time_ns is not None and not all_kept:
        time_ns = time_ns[keep]
    return LidarScan(
        stamp_ns=stamp_ns, xyz=xyz if all_kept else xyz[keep],
        intensity=pick(INTENSITY_FIELDS, np.float32), ring=pick(RING_FIELDS, np.uint16),
        time_ns=time_ns, frame_id=msg.header.frame_id)


def _fields_msg(names_types: list[tuple[str, str]]) -> tuple[list, np.dtype]:
    PointField = msg_class("sensor_msgs/msg/PointField")
    dtype = np.dtype([(n, "<" + t) for n, t in names_types], align=True)  # C struct layout
    fields = [PointField(name=n, offset=dtype.fields[n][1], datatype=_CODES[np.dtype(t)],
                         count=1) for n, t in names_types]
    return fields, dtype


def _cloud_msg(records: np.ndarray, fields: list, stamp_ns: int, frame_id: str, dense: bool):
    n = len(records)
    return msg_class("sensor_msgs/msg/PointCloud2")(
        header=make_header(stamp_ns, frame_id), height=1, width=n, fields=fields,
        is_bigendian=False, point_step=records.dtype.itemsize,
        row_step=records.dtype.itemsize * n, data=records.view(np.uint8).reshape(-1),
        is_dense=dense)


def scan_to_msg(scan: LidarScan, frame_id: str | None = None):
    """PointCloud2 (height 1) of a LidarScan: x, y, z float32, then intensity float32, ring
    uint16 and t uint32 (ns after the header stamp, Ouster style) when the scan has them.

    Raises ConversionError when per-point times lie before the stamp or > 4.29 s after it.
    """
    layout = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if scan.intensity is not None:
        layout.append(("intensity", "f4"))
    if scan.ring is not None:
        layout.append(("ring", "u2"))
    offsets = None
    if scan.time_ns is not None:
        offsets = np.asarray(scan.time_ns, dtype=np.int64) - int(scan.stamp_ns)
        if len(offsets) and (offsets.min() < 0 or offsets.max() > np.iinfo(np.uint32).max):
            raise ConversionError(
                f"LidarScan at {scan.stamp_ns} ns: per-point times span "
                f"[{offsets.min()}, {offsets.max()}] ns from the stamp; field 't' (uint32 ns) "
                "needs them within [0, 4.29 s]")
        layout.append(("t", "u4"))
    fields, dtype = _fields_msg(layout)
    rec = np.zeros(len(scan), dtype=dtype)
    for i, c in enumerate("xyz"):
        rec[c] = scan.xyz[:, i]
    if scan.intensity is not None:
        rec["intensity"] = scan.intensity
    if scan.ring is not None:
        rec["ring"] = scan.ring
    if offsets is not None:
        rec["t"] = offsets
    dense = bool(np.isfinite(scan.xyz).all())
    return _cloud_msg(rec, fields, scan.stamp_ns, frame_id or scan.frame_id, dense)


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """float32 [N] 'rgb' values (bits 0x00RRGGBB, as PCL and RViz read them) of colours
    [N,3] uint8, or float in [0, 1]."""
    c = np.asarray(rgb)
    if c.dtype.kind == "f":
        c = np.clip(np.rint(c * 255.0), 0, 255)
    c = c.astype(np.uint32).reshape(-1, 3)
    return ((c[:, 0] << 16) | (c[:, 1] << 8) | c[:, 2]).astype(np.uint32).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """uint8 [N,3] RGB of packed 'rgb' (float32 or uint32) values."""
    bits = np.ascontiguousarray(packed).view(np.uint32).reshape(-1)
    return np.stack([(bits >> 16) & 255, (bits >> 8) & 255, bits & 255], axis=1).astype(np.uint8)


def points_to_msg(xyz: np.ndarray, stamp_ns: int, frame_id: str, rgb: np.ndarray | None = None):
    """PointCloud2 of points [N,3] metres, with an 'rgb' packed-float field when colours
    [N,3] (uint8, or float in [0, 1]) are given."""
    pts = np.asarray(xyz, dtype=np.float32).reshape(-1, 3)
    layout = [("x", "f4"), ("y", "f4"), ("z", "f4")]
    if rgb is not None:
        if len(rgb) != len(pts):
            raise ConversionError(f"{len(rgb)} colours for {len(pts)} points")
        layout.append(("rgb", "f4"))
    fields, dtype = _fields_msg(layout)
    rec = np.zeros(len(pts), dtype=dtype)
    for i, c in enumerate("xyz"):
        rec[c] = pts[:, i]
    if rgb is not None:
        rec["rgb"] = pack_rgb(rgb)
    return _cloud_msg(rec, fields, stamp_ns, frame_id, bool(np.isfinite(pts).all()))


def points_from_msg(msg) -> tuple[np.ndarray, np.ndarray | None]:
    """(points float32 [N,3], colours uint8 [N,3] or None) of a PointCloud2 with x, y, z and
    optionally 'rgb' or 'rgba'; non-finite points are dropped."""
    fields = cloud_fields(msg)
    if any(c not in fields for c in "xyz"):
        raise ConversionError(f"PointCloud2 lacks x, y or z; has {list(fields)}")
    xyz = np.stack([fields[c] for c in "xyz"], axis=1).astype(np.float32)
    keep = np.isfinite(xyz).all(axis=1)
    name = "rgb" if "rgb" in fields else ("rgba" if "rgba" in fields else None)
    colours = unpack_rgb(fields[name])[keep] if name else None
    return xyz[keep], colours
