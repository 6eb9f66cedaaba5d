"""sensor_msgs/Image and CompressedImage conversions, round-tripped through real CDR bytes."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.image import (
    depth_from_msg,
    depth_to_compressed_msg,
    depth_to_msg,
    image_array,
    parse_compressed_format,
    rgb_from_msg,
    rgb_to_compressed_msg,
    rgb_to_msg,
)
from slam_nodes.msgs.stamps import make_header, stamp_to_ns
from slam_nodes.msgs.typestore import get_typestore, msg_class

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
STAMP = 1_700_000_000_123_456_789


def cdr(msg, typename):
    store = get_typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, typename), typename)


@pytest.fixture
def rgb():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (7, 5, 3), dtype=np.uint8)


def raw_msg(pixels: np.ndarray, encoding: str, pad: int = 0, big: bool = False):
    """Image built by hand (independent of rgb_to_msg), with `pad` junk bytes per row."""
    h, w = pixels.shape[:2]
    arr = pixels.astype(pixels.dtype.newbyteorder(">" if big else "<"))
    rows = arr.reshape(h, -1).view(np.uint8)
    junk = np.full((h, pad), 0xAB, np.uint8)
    data = np.concatenate([rows, junk], axis=1).reshape(-1)
    return msg_class(IMAGE)(header=make_header(STAMP, "cam"), height=h, width=w,
                            encoding=encoding, is_bigendian=int(big),
                            step=rows.shape[1] + pad, data=data)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_round_trip_cdr(rgb, encoding):
    msg = cdr(rgb_to_msg(rgb, STAMP, "cam", encoding), IMAGE)
    assert msg.encoding == encoding
    assert stamp_to_ns(msg.header.stamp) == STAMP and msg.header.frame_id == "cam"
    np.testing.assert_array_equal(rgb_from_msg(msg), rgb)


def test_bgr_bytes_are_in_bgr_order(rgb):
    msg = rgb_to_msg(rgb, STAMP, "cam", "bgr8")
    np.testing.assert_array_equal(msg.data.reshape(7, 5, 3), rgb[:, :, ::-1])
    msg = rgb_to_msg(rgb, STAMP, "cam", "bgra8")
    np.testing.assert_array_equal(msg.data.reshape(7, 5, 4)[:, :, 3], 255)


def test_mono8_expands_and_encodes_luma(rgb):
    msg = cdr(rgb_to_msg(rgb, STAMP, "cam", "mono8"), IMAGE)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    out = rgb_from_msg(msg)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], grey)


def test_rgb8_decode_is_a_view_of_the_buffer(rgb):
    msg = cdr(rgb_to_msg(rgb, STAMP, "cam"), IMAGE)
    out = rgb_from_msg(msg)
    assert np.shares_memory(out, msg.data)


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8", "mono8"])
def test_row_padding_is_skipped(rgb, encoding):
    pixels = {"rgb8": rgb, "bgr8": rgb[:, :, ::-1],
              "rgba8": np.concatenate([rgb, rgb[:, :, :1]], axis=2),
              "bgra8": np.concatenate([rgb[:, :, ::-1], rgb[:, :, :1]], axis=2),
              "mono8": rgb[:, :, 0]}[encoding]
    msg = cdr(raw_msg(np.ascontiguousarray(pixels), encoding, pad=3), IMAGE)
    out = rgb_from_msg(msg)
    expected = np.repeat(rgb[:, :, :1], 3, axis=2) if encoding == "mono8" else rgb
    np.testing.assert_array_equal(out, expected)


def test_depth_16uc1_round_trip_mm():
    depth = np.array([[0.0, 1.2345, 2.0], [np.nan, -1.0, 65.6]], dtype=np.float32)
    msg = cdr(depth_to_msg(depth, STAMP, "depth", "16UC1"), IMAGE)
    np.testing.assert_array_equal(msg.data.view("<u2").reshape(2, 3),
                                  [[0, 1234, 2000], [0, 0, 0]])
    np.testing.assert_allclose(depth_from_msg(msg), [[0, 1.234, 2.0], [0, 0, 0]], atol=1e-6)


@pytest.mark.parametrize("encoding", ["16UC1", "mono16"])
@pytest.mark.parametrize("big", [False, True])
def test_depth_mm_padding_endianness_and_invalid(encoding, big):
    mm = np.array([[0, 1, 1500], [65535, 65534, 300]], dtype=np.uint16)
    msg = cdr(raw_msg(mm, encoding, pad=2, big=big), IMAGE)
    expected = np.array([[0, 0.001, 1.5], [0, 65.534, 0.3]], dtype=np.float32)
    out = depth_from_msg(msg)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, rtol=1e-6)


@pytest.mark.parametrize("big", [False, True])
def test_depth_32fc1_invalid_values_become_zero(big):
    depth = np.array([[1.5, np.nan, np.inf], [-np.inf, -0.5, 0.25]], dtype=np.float32)
    msg = cdr(raw_msg(depth, "32FC1", pad=4, big=big), IMAGE)
    np.testing.assert_array_equal(depth_from_msg(msg), [[1.5, 0, 0], [0, 0, 0.25]])


def test_depth_32fc1_writes_nan_for_invalid():
    depth = np.array([[1.5, 0.0, -2.0, 3.25]], dtype=np.float32)
    msg = cdr(depth_to_msg(depth, STAMP, "d", "32FC1"), IMAGE)
    raw = msg.data.view("<f4")
    assert raw[0] == 1.5 and raw[3] == 3.25 and np.isnan(raw[1]) and np.isnan(raw[2])
    np.testing.assert_array_equal(depth_from_msg(msg), [[1.5, 0, 0, 3.25]])


def test_wrong_data_length_raises_naming_sizes(rgb):
    msg = rgb_to_msg(rgb, STAMP, "cam")
    msg.data = msg.data[:-1]
    with pytest.raises(ConversionError, match=r"rgb8 image 5x7.*data length 104"):
        rgb_from_msg(msg)
    msg = rgb_to_msg(rgb, STAMP, "cam")
    msg.step = 10  # shorter than a row
    with pytest.raises(ConversionError, match="step 10"):
        image_array(msg)


def test_unknown_encoding_raises_naming_it(rgb):
    msg = rgb_to_msg(rgb, STAMP, "cam")
    msg.encoding = "bayer_rggb16"
    with pytest.raises(ConversionError, match=r"bayer_rggb16.*5x7.*105 bytes"):
        rgb_from_msg(msg)
    with pytest.raises(ConversionError, match="not a depth encoding"):
        depth_from_msg(rgb_to_msg(rgb, STAMP, "cam"))
    with pytest.raises(ConversionError, match="not a colour encoding"):
        rgb_from_msg(depth_to_msg(np.ones((2, 2)), STAMP, "d"))
    with pytest.raises(ConversionError):
        rgb_to_msg(rgb, STAMP, "cam", "yuv422")


@pytest.mark.parametrize("text,expected", [
    ("bgr8; jpeg compressed bgr8", ("bgr8", "jpeg")),
    ("rgb8; png compressed rgb8", ("rgb8", "png")),
    ("jpeg", ("", "jpeg")),
    ("16UC1; compressedDepth png", ("16UC1", "compressedDepth")),
    ("32FC1; compressedDepth", ("32FC1", "compressedDepth")),
    ("16UC1; compressedDepth rvl", ("16UC1", "compressedDepth")),
])
def test_parse_compressed_format(text, expected):
    assert parse_compressed_format(text) == expected


def test_compressed_png_colour_is_lossless(rgb):
    msg = cdr(rgb_to_compressed_msg(rgb, STAMP, "cam", "png"), COMPRESSED)
    assert msg.format == "rgb8; png compressed bgr8"
    np.testing.assert_array_equal(rgb_from_msg(msg), rgb)


def test_compressed_jpeg_colour_matches_channels():
    # smooth image so jpeg error is small; distinct channels catch an RGB/BGR swap
    v, u = np.mgrid[0:32, 0:48]
    rgb = np.stack([u * 5, v * 7, np.full_like(u, 40)], axis=2).astype(np.uint8)
    msg = cdr(rgb_to_compressed_msg(rgb, STAMP, "cam", "jpeg", jpeg_quality=98), COMPRESSED)
    out = rgb_from_msg(msg)
    assert np.abs(out.astype(int) - rgb).mean() < 2.0


def test_compressed_written_by_cv2_bgr_is_decoded_to_rgb(rgb):
    ok, buf = cv2.imencode(".png", rgb[:, :, ::-1])  # image_transport encodes BGR
    msg = msg_class(COMPRESSED)(header=make_header(STAMP, "c"),
                                format="bgr8; png compressed bgr8", data=buf.reshape(-1))
    np.testing.assert_array_equal(rgb_from_msg(cdr(msg, COMPRESSED)), rgb)


def test_corrupt_compressed_raises():
    msg = msg_class(COMPRESSED)(header=make_header(STAMP, "c"), format="jpeg",
                                data=np.arange(50, dtype=np.uint8))
    with pytest.raises(ConversionError, match="cannot decode"):
        rgb_from_msg(msg)


def _depth_scene():
    rng = np.random.default_rng(1)
    depth = rng.uniform(0.3, 8.0, (24, 32)).astype(np.float32)
    depth[0, :4] = [0.0, np.nan, np.inf, -1.0]
    return depth


def test_compressed_depth_16uc1_round_trip_exact_mm():
    depth = _depth_scene()
    msg = cdr(depth_to_compressed_msg(depth, STAMP, "d", "16UC1"), COMPRESSED)
    assert msg.format == "16UC1; compressedDepth png"
    header = msg.data[:12].tobytes()
    assert np.frombuffer(header[:4], "<i4")[0] == 0  # upstream always writes INV_DEPTH
    out = depth_from_msg(msg)
    expected = np.where(np.isfinite(depth) & (depth > 0), np.rint(depth * 1000) / 1000, 0)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    # the payload after the header is a plain 16-bit png of millimetres
    mm = cv2.imdecode(msg.data[12:], cv2.IMREAD_UNCHANGED)
    assert mm.dtype == np.uint16 and mm[5, 5] == np.rint(depth[5, 5] * 1000)


def test_compressed_depth_32fc1_within_quantisation():
    depth = _depth_scene()
    msg = cdr(depth_to_compressed_msg(depth, STAMP, "d", "32FC1"), COMPRESSED)
    assert msg.format == "32FC1; compressedDepth png"
    fmt, a, b = np.frombuffer(msg.data[:4], "<i4")[0], *np.frombuffer(msg.data[4:12], "<f4")
    assert fmt == 0 and a == pytest.approx(100 * 101) and b == pytest.approx(1 - 10100 / 10)
    out = depth_from_msg(msg)
    valid = np.isfinite(depth) & (depth > 0)
    assert np.all(out[~valid] == 0)
    # inverse-depth quantisation: one code step at depth z is ~ z^2 / A
    step = depth[valid] ** 2 / a
    err = np.abs(out[valid] - depth[valid])
    assert np.all(err <= step * 1.01 + 1e-6)
    assert err.max() > 0  # quantised, not exact


def test_compressed_depth_16uc1_drops_beyond_depth_max():
    depth = np.array([[9.999, 10.0, 10.001, 30.0]], dtype=np.float32)
    out = depth_from_msg(depth_to_compressed_msg(depth, STAMP, "d", "16UC1", depth_max_m=10.0))
    np.testing.assert_allclose(out, [[9.999, 10.0, 0, 0]], atol=1e-6)


def test_compressed_depth_32fc1_out_of_range_is_invalid():
    depth = np.array([[0.05, 12.0, 2.0]], dtype=np.float32)  # too near, beyond depth_max, ok
    out = depth_from_msg(depth_to_compressed_msg(depth, STAMP, "d", "32FC1"))
    assert out[0, 0] == 0 and out[0, 1] == 0 and out[0, 2] == pytest.approx(2.0, abs=1e-3)


def test_compressed_depth_decodes_image_transport_layout():
    """Build the message byte by byte as compressed_depth_image_transport does (32FC1)."""
    depth = np.array([[1.0, 2.0], [0.0, 4.0]], dtype=np.float32)
    a = np.float32(100 * 101)
    b = np.float32(1 - a / 10)
    code = np.zeros((2, 2), np.uint16)
    nz = depth > 0
    code[nz] = (a / depth[nz] + b).astype(np.uint16)  # C++ float -> ushort truncation
    _, png = cv2.imencode(".png", code)
    header = np.array([0], "<i4").tobytes() + np.array([a, b], "<f4").tobytes()
    msg = msg_class(COMPRESSED)(header=make_header(STAMP, "d"), format="32FC1; compressedDepth",
                                data=np.frombuffer(header + png.tobytes(), np.uint8))
    out = depth_from_msg(cdr(msg, COMPRESSED))
    np.testing.assert_allclose(out, depth, atol=2e-3)
    assert out[1, 0] == 0


@pytest.mark.parametrize("encoding", ["16UC1", "32FC1"])
def test_compressed_depth_rvl_matches_png(encoding):
    depth = _depth_scene()
    png = depth_from_msg(cdr(depth_to_compressed_msg(depth, STAMP, "d", encoding), COMPRESSED))
    msg = cdr(depth_to_compressed_msg(depth, STAMP, "d", encoding, codec="rvl"), COMPRESSED)
    assert msg.format == f"{encoding}; compressedDepth rvl"
    np.testing.assert_array_equal(depth_from_msg(msg), png)


def test_compressed_depth_garbage_raises():
    depth = np.ones((4, 4), np.float32)
    msg = depth_to_compressed_msg(depth, STAMP, "d", codec="rvl")
    msg.data = msg.data[:20]  # config header + cols/rows, no stream
    with pytest.raises(ConversionError, match="RVL stream ends"):
        depth_from_msg(msg)
    msg = depth_to_compressed_msg(depth, STAMP, "d")
    msg.data = msg.data[:8]
    with pytest.raises(ConversionError, match="8 bytes"):
        depth_from_msg(msg)


def test_image_data_as_bytes_or_list():
    rgb = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    msg = rgb_to_msg(rgb, 0, "c")
    msg.data = msg.data.tobytes()
    np.testing.assert_array_equal(rgb_from_msg(msg), rgb)
    msg.data = list(rgb.reshape(-1))
    np.testing.assert_array_equal(rgb_from_msg(msg), rgb)


@pytest.mark.parametrize("encoding,pattern", [
    ("bayer_rggb8", "RGGB"), ("bayer_bggr8", "BGGR"), ("bayer_gbrg8", "GBRG"),
    ("bayer_grbg8", "GRBG")])
def test_bayer_demosaic_gets_channels_right(encoding, pattern):
    """A mosaic of one flat colour demosaics to that colour (away from the border)."""
    colour = {"R": 200, "G": 120, "B": 30}
    h, w = 8, 10
    mosaic = np.zeros((h, w), np.uint8)
    for k, ch in enumerate(pattern):
        mosaic[k // 2::2, k % 2::2] = colour[ch]
    out = rgb_from_msg(cdr(raw_msg(mosaic, encoding, pad=2), IMAGE))
    np.testing.assert_array_equal(out[2:-2, 2:-2], np.broadcast_to([200, 120, 30], (4, 6, 3)))


@pytest.mark.parametrize("encoding,order", [("yuv422", "UYVY"), ("yuv422_yuy2", "YUYV")])
def test_yuv422_decodes_to_rgb(encoding, order):
    """Camera YUV 4:2:2 is BT.601 limited range (what cv_bridge's cv2 conversion assumes)."""
    r, g, b = 180.0, 90.0, 40.0
    rgb = np.broadcast_to(np.array([r, g, b], np.uint8), (4, 6, 3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    planes = {"Y": round(y), "U": round(u), "V": round(v)}
    packed = np.array([planes[c] for c in order], np.uint8)  # one pixel pair
    pixels = np.tile(packed, (4, 3)).reshape(4, 6, 2)
    out = rgb_from_msg(cdr(raw_msg(pixels, encoding, pad=4), IMAGE))
    assert np.abs(out.astype(int) - rgb).max() <= 3


def test_decode_only_encodings_cannot_be_written(rgb):
    with pytest.raises(ConversionError, match="bayer_rggb8"):
        rgb_to_msg(rgb, STAMP, "cam", "bayer_rggb8")
