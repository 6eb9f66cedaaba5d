"""sensor_msgs/PointCloud2 conversions through real CDR bytes, with clouds laid out by hand the
way real drivers (Ouster, Velodyne, Livox, Hesai) publish them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.pointcloud import (
    cloud_fields,
    pack_rgb,
    points_from_msg,
    points_to_msg,
    scan_from_msg,
    scan_to_msg,
    unpack_rgb,
)
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import get_typestore, msg_class
from slam_nodes.types import LidarScan

CLOUD = "sensor_msgs/msg/PointCloud2"
STAMP = 1_700_000_000_500_000_000
CODE = {"i1": 1, "u1": 2, "i2": 3, "u2": 4, "i4": 5, "u4": 6, "f4": 7, "f8": 8}


def cdr(msg):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, CLOUD), CLOUD)


def hand_cloud(layout, point_step, values: dict, big=False, height=1, row_pad=0):
    """A PointCloud2 built from a layout [(name, offset, type, count)] with numpy alone."""
    order = ">" if big else "<"
    n = len(next(iter(values.values())))
    width = n // height
    dtype = np.dtype({
        "names": [f[0] for f in layout],
        "formats": [np.dtype(order + f[2]) if f[3] == 1 else np.dtype((order + f[2], (f[3],)))
                    for f in layout],
        "offsets": [f[1] for f in layout], "itemsize": point_step})
    rec = np.zeros(n, dtype=dtype)
    raw = rec.view(np.uint8).reshape(n, point_step)
    raw[:] = 0xEE  # junk in padding bytes
    for name, v in values.items():
        rec[name] = v
    rows = rec.view(np.uint8).reshape(height, width * point_step)
    rows = np.concatenate([rows, np.full((height, row_pad), 0xCD, np.uint8)], axis=1)
    PointField = msg_class("sensor_msgs/msg/PointField")
    return msg_class(CLOUD)(
        header=make_header(STAMP, "lidar"), height=height, width=width,
        fields=[PointField(name=f[0], offset=f[1], datatype=CODE[f[2]], count=f[3])
                for f in layout],
        is_bigendian=big, point_step=point_step, row_step=width * point_step + row_pad,
        data=rows.reshape(-1), is_dense=False)


@pytest.mark.parametrize("big", [False, True])
def test_all_datatypes_count_and_padding(big):
    rng = np.random.default_rng(0)
    n = 6
    values = {
        "a_i1": rng.integers(-128, 128, n), "b_u1": rng.integers(0, 256, n),
        "c_i2": rng.integers(-2**15, 2**15, n), "d_u2": rng.integers(0, 2**16, n),
        "e_i4": rng.integers(-2**31, 2**31, n), "f_u4": rng.integers(0, 2**32, n),
        "g_f4": rng.normal(size=n).astype(np.float32), "h_f8": rng.normal(size=n),
        "v_f4x3": rng.normal(size=(n, 3)).astype(np.float32),
    }
    layout = [("a_i1", 0, "i1", 1), ("b_u1", 1, "u1", 1), ("c_i2", 3, "i2", 1),
              ("d_u2", 6, "u2", 1), ("e_i4", 9, "i4", 1), ("f_u4", 14, "u4", 1),
              ("g_f4", 19, "f4", 1), ("h_f8", 24, "f8", 1), ("v_f4x3", 33, "f4", 3)]
    msg = cdr(hand_cloud(layout, 50, values, big=big, height=2, row_pad=5))
    fields = cloud_fields(msg)
    assert set(fields) == set(values)
    for name, v in values.items():
        assert fields[name].dtype.isnative
        assert fields[name].dtype.str[1:] == name.split("_")[1].split("x")[0]
        np.testing.assert_array_equal(fields[name], v)


def test_little_endian_fields_are_views():
    msg = cdr(points_to_msg(np.arange(12.0).reshape(4, 3), STAMP, "map"))
    x = cloud_fields(msg)["x"]
    assert np.shares_memory(x, msg.data)
    np.testing.assert_array_equal(x, [0, 3, 6, 9])


OUSTER = [("x", 0, "f4", 1), ("y", 4, "f4", 1), ("z", 8, "f4", 1), ("intensity", 16, "f4", 1),
          ("t", 20, "u4", 1), ("reflectivity", 24, "u2", 1), ("ring", 26, "u2", 1),
          ("ambient", 28, "u2", 1), ("range", 32, "u4", 1)]


@pytest.mark.parametrize("big", [False, True])
def test_ouster_scan_drops_nan_and_offsets_time(big):
    xyz = np.array([[1, 2, 3], [np.nan, np.nan, np.nan], [4, 5, 6], [7, np.inf, 9]], np.float32)
    values = {"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2],
              "intensity": [10.0, 20.0, 30.0, 40.0], "t": [0, 1000, 50_000_000, 99_999_999],
              "ring": [0, 1, 127, 5], "range": [1, 2, 3, 4]}
    scan = scan_from_msg(cdr(hand_cloud(OUSTER, 48, values, big=big)))
    assert scan.stamp_ns == STAMP and scan.frame_id == "lidar"
    np.testing.assert_array_equal(scan.xyz, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(scan.intensity, [10, 30])
    np.testing.assert_array_equal(scan.ring, [0, 127])
    assert scan.ring.dtype == np.uint16 and scan.time_ns.dtype == np.int64
    np.testing.assert_array_equal(scan.time_ns, [STAMP, STAMP + 50_000_000])


def test_velodyne_float_seconds_offset():
    layout = [("x", 0, "f4", 1), ("y", 4, "f4", 1), ("z", 8, "f4", 1),
              ("intensity", 12, "f4", 1), ("ring", 16, "u2", 1), ("time", 18, "f4", 1)]
    values = {"x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0], "intensity": [1.0, 2.0],
              "ring": [3, 15], "time": np.array([-0.05, 0.025], np.float32)}
    scan = scan_from_msg(cdr(hand_cloud(layout, 22, values)))
    np.testing.assert_allclose(scan.time_ns - STAMP, [-50_000_000, 25_000_000], atol=10)


def test_livox_absolute_ns_hesai_absolute_s_and_offset_time():
    base = [("x", 0, "f4", 1), ("y", 4, "f4", 1), ("z", 8, "f4", 1)]
    xyz = {"x": [1.0, 2.0], "y": [0.0, 1.0], "z": [0.5, 0.5]}
    abs_ns = np.array([STAMP + 1_000_000, STAMP + 2_000_000])
    livox = hand_cloud(base + [("timestamp", 16, "f8", 1), ("line", 24, "u1", 1)], 32,
                       {**xyz, "timestamp": abs_ns.astype(np.float64), "line": [2, 3]})
    scan = scan_from_msg(cdr(livox))
    np.testing.assert_allclose(scan.time_ns, abs_ns, atol=512)  # float64 ns resolution
    np.testing.assert_array_equal(scan.ring, [2, 3])
    hesai = hand_cloud(base + [("timestamp", 12, "f8", 1)], 20,
                       {**xyz, "timestamp": abs_ns / 1e9})
    np.testing.assert_allclose(scan_from_msg(cdr(hesai)).time_ns, abs_ns, atol=512)
    offset = hand_cloud(base + [("offset_time", 12, "u4", 1)], 16,
                        {**xyz, "offset_time": [0, 123_456]})
    np.testing.assert_array_equal(scan_from_msg(cdr(offset)).time_ns, [STAMP, STAMP + 123_456])


def test_scan_round_trip():
    rng = np.random.default_rng(1)
    n = 100
    scan = LidarScan(STAMP, rng.normal(size=(n, 3)), rng.uniform(0, 255, n).astype(np.float32),
                     rng.integers(0, 64, n).astype(np.uint16),
                     STAMP + rng.integers(0, 100_000_000, n), "os_sensor")
    msg = cdr(scan_to_msg(scan))
    assert [f.name for f in msg.fields] == ["x", "y", "z", "intensity", "ring", "t"]
    assert msg.header.frame_id == "os_sensor" and msg.point_step == 24
    back = scan_from_msg(msg)
    np.testing.assert_array_equal(back.xyz, scan.xyz)
    np.testing.assert_array_equal(back.intensity, scan.intensity)
    np.testing.assert_array_equal(back.ring, scan.ring)
    np.testing.assert_array_equal(back.time_ns, scan.time_ns)
    bare = scan_from_msg(cdr(scan_to_msg(LidarScan(STAMP, scan.xyz), frame_id="x")))
    assert bare.intensity is None and bare.ring is None and bare.time_ns is None
    scan.time_ns = scan.time_ns - 200_000_000
    with pytest.raises(ConversionError, match="uint32"):
        scan_to_msg(scan)


def test_points_with_rgb_pack_as_rviz_reads_them():
    xyz = np.array([[0, 0, 1], [1, 2, 3]], np.float32)
    rgb = np.array([[255, 0, 0], [1, 2, 3]], np.uint8)
    msg = cdr(points_to_msg(xyz, STAMP, "map", rgb))
    packed = cloud_fields(msg)["rgb"].view(np.uint32)
    np.testing.assert_array_equal(packed, [0xFF0000, 0x010203])
    pts, colours = points_from_msg(msg)
    np.testing.assert_array_equal(pts, xyz)
    np.testing.assert_array_equal(colours, rgb)
    np.testing.assert_array_equal(unpack_rgb(pack_rgb(np.array([[1.0, 0.5, 0.0]]))),
                                  [[255, 128, 0]])
    assert points_from_msg(points_to_msg(xyz, STAMP, "map"))[1] is None


def test_bad_clouds_raise():
    values = {"x": [1.0, 2.0], "y": [0.0, 0.0], "z": [0.0, 0.0]}
    layout = [("x", 0, "f4", 1), ("y", 4, "f4", 1), ("z", 8, "f4", 1)]
    msg = hand_cloud(layout, 12, values)
    msg.data = msg.data[:-1]
    with pytest.raises(ConversionError, match="needs 24 bytes, data has 23"):
        scan_from_msg(msg)
    msg = hand_cloud(layout, 12, values)
    msg.fields[2].datatype = 9
    with pytest.raises(ConversionError, match="unknown datatype 9"):
        cloud_fields(msg)
    msg = hand_cloud(layout, 12, values)
    msg.fields[2].offset = 10
    with pytest.raises(ConversionError, match="overruns"):
        cloud_fields(msg)
    msg = hand_cloud(layout[:2], 12, {"x": [1.0], "y": [2.0]})
    with pytest.raises(ConversionError, match=r"lacks fields \['z'\]"):
        scan_from_msg(msg)
    empty = scan_from_msg(cdr(scan_to_msg(LidarScan(STAMP, np.zeros((0, 3))))))
    assert len(empty) == 0


TYPES = list(CODE)


@settings(max_examples=40, deadline=None)
@given(kinds=st.lists(st.tuples(st.sampled_from(TYPES), st.integers(1, 3), st.integers(0, 3)),
                      min_size=1, max_size=6),
       tail=st.integers(0, 5), big=st.booleans(), width=st.integers(0, 9),
       height=st.integers(1, 3), row_pad=st.integers(0, 7), seed=st.integers(0, 2**31))
def test_random_layouts_read_back_exactly(kinds, tail, big, width, height, row_pad, seed):
    """Any field layout (types, counts, gaps, padding, endianness) reads back bit-exactly."""
    rng = np.random.default_rng(seed)
    layout, offset, values = [], 0, {}
    n = width * height
    for i, (kind, count, gap) in enumerate(kinds):
        offset += gap
        name = f"f{i}"
        layout.append((name, offset, kind, count))
        offset += np.dtype(kind).itemsize * count
        shape = (n,) if count == 1 else (n, count)
        if kind[0] == "f":
            values[name] = rng.normal(size=shape).astype(kind)
        else:
            info = np.iinfo(kind)
            values[name] = rng.integers(info.min, info.max, size=shape, dtype=kind,
                                        endpoint=True)
    msg = cdr(hand_cloud(layout, offset + tail, values, big=big, height=height,
                         row_pad=row_pad) if n else _empty_cloud(layout, offset + tail, height))
    fields = cloud_fields(msg)
    for name, v in values.items():
        assert fields[name].shape == v.shape
        np.testing.assert_array_equal(fields[name], v)


def _empty_cloud(layout, point_step, height):
    PointField = msg_class("sensor_msgs/msg/PointField")
    return msg_class(CLOUD)(
        header=make_header(STAMP, "lidar"), height=height, width=0,
        fields=[PointField(name=f[0], offset=f[1], datatype=CODE[f[2]], count=f[3])
                for f in layout],
        is_bigendian=False, point_step=point_step, row_step=0,
        data=np.zeros(0, np.uint8), is_dense=True)
