"""sensor_msgs/Image and sensor_msgs/CompressedImage <-> numpy images.

Inside slam_nodes colour is uint8 [H,W,3] RGB and depth is float32 [H,W] metres with 0 = invalid
(DESIGN.md section 4). At the edge:

- Image encodings rgb8, bgr8, rgba8, bgra8, mono8 (colour), mono16 / 16UC1 (depth in millimetres,
  0 and 65535 invalid) and 32FC1 (depth in metres, NaN/inf/negative invalid). Row padding (`step`
  larger than width * bytes per pixel) and `is_bigendian` are honoured. Camera-driver encodings
  bayer_{rggb,bggr,gbrg,grbg}8 and yuv422 (UYVY) / yuv422_yuy2 (YUYV) are decoded too, with the
  cv2 conversions cv_bridge uses.
- CompressedImage jpeg/png colour, format strings as image_transport writes them
  ("bgr8; jpeg compressed bgr8", "rgb8; png compressed rgb8", or a bare "jpeg").
- CompressedImage "compressedDepth" as compressed_depth_image_transport writes it
  (image_transport_plugins, codec.cpp): a 12-byte ConfigHeader (int32 format, always
  INV_DEPTH = 0, float32 depthParam[2], little endian) then a PNG or an RVL stream (`rvl`
  module); the format string names the codec ("16UC1; compressedDepth png" / "... rvl"; a bare
  "compressedDepth" means png). 16UC1 depth codes millimetres; 32FC1 depth is inverse-depth
  quantised: q = A / z + B with A = Z0 * (Z0 + 1), B = 1 - A / z_max, decoded as
  z = A / (q - B); q = 0 invalid.

Decoding returns numpy views of the message buffer where no conversion is needed (rgb8 colour);
treat the result as read-only or copy it before writing to it.
"""

from __future__ import annotations

import struct

import numpy as np

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.rvl import rvl_decode, rvl_encode
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import msg_class

#: channels, dtype, and order of the colour channels for each colour encoding
_COLOUR = {
    "rgb8": (3, np.uint8, "rgb"),
    "bgr8": (3, np.uint8, "bgr"),
    "rgba8": (4, np.uint8, "rgb"),
    "bgra8": (4, np.uint8, "bgr"),
    "mono8": (1, np.uint8, "mono"),
    "8UC1": (1, np.uint8, "mono"),
    "8UC3": (3, np.uint8, "bgr"),
    # decode only (camera drivers publish these; slam_nodes never writes them)
    "bayer_rggb8": (1, np.uint8, "bayer"),
    "bayer_bggr8": (1, np.uint8, "bayer"),
    "bayer_gbrg8": (1, np.uint8, "bayer"),
    "bayer_grbg8": (1, np.uint8, "bayer"),
    "yuv422": (2, np.uint8, "yuv"),
    "uyvy": (2, np.uint8, "yuv"),
    "yuv422_yuy2": (2, np.uint8, "yuv"),
    "yuyv": (2, np.uint8, "yuv"),
}
#: cv2 colour conversion to RGB for each encoding that needs one; OpenCV names Bayer patterns
#: by the second row, so ROS bayer_rggb8 is cv2 BayerBG (the mapping cv_bridge uses)
_TO_RGB = {
    "bgr8": "COLOR_BGR2RGB", "8UC3": "COLOR_BGR2RGB", "rgba8": "COLOR_RGBA2RGB",
    "bgra8": "COLOR_BGRA2RGB", "mono8": "COLOR_GRAY2RGB", "8UC1": "COLOR_GRAY2RGB",
    "bayer_rggb8": "COLOR_BayerBG2RGB", "bayer_bggr8": "COLOR_BayerRG2RGB",
    "bayer_gbrg8": "COLOR_BayerGR2RGB", "bayer_grbg8": "COLOR_BayerGB2RGB",
    "yuv422": "COLOR_YUV2RGB_UYVY", "uyvy": "COLOR_YUV2RGB_UYVY",
    "yuv422_yuy2": "COLOR_YUV2RGB_YUY2", "yuyv": "COLOR_YUV2RGB_YUY2",
}
#: channels and dtype of depth encodings; the unit is mm for integers, metres for floats
_DEPTH = {
    "16UC1": (1, np.uint16),
    "mono16": (1, np.uint16),
    "32FC1": (1, np.float32),
}
COLOUR_ENCODINGS = tuple(_COLOUR)
WRITABLE = tuple(e for e, (_, _, order) in _COLOUR.items() if order not in ("bayer", "yuv"))
DEPTH_ENCODINGS = tuple(_DEPTH)
MM_PER_M = 1000.0
#: compressed_depth_image_transport's compressionFormat enum (UNDEFINED = -1, INV_DEPTH = 0);
#: the encoder writes INV_DEPTH for both 16UC1 and 32FC1
CDEPTH_INV_DEPTH = 0
_CDEPTH_HEADER = struct.Struct("<iff")


# ---------------------------------------------------------------------------- raw Image
def image_array(msg) -> np.ndarray:
    """The pixels of a sensor_msgs/Image as a numpy view [H,W,C] (C=1 kept) in native dtype.

    Honours row padding (`step`) and `is_bigendian`; no copy is made. Raises ConversionError
    for an unknown encoding or a data size that disagrees with step * height.
    """
    encoding = msg.encoding
    if encoding in _COLOUR:
        channels, dtype, _ = _COLOUR[encoding]
    elif encoding in _DEPTH:
        channels, dtype = _DEPTH[encoding]
    else:
        raise ConversionError(
            f"unsupported image encoding {encoding!r} ({msg.width}x{msg.height}, "
            f"{len(msg.data)} bytes); supported: {COLOUR_ENCODINGS + DEPTH_ENCODINGS}"
        )
    dt = np.dtype(dtype).newbyteorder(">" if msg.is_bigendian else "<")
    h, w, step = int(msg.height), int(msg.width), int(msg.step)
    if h == 0 or w == 0:
        raise ConversionError(f"empty {encoding} image {w}x{h} ({len(msg.data)} bytes)")
    row_bytes = w * channels * dt.itemsize
    data = _byte_view(msg.data)
    if step < row_bytes or len(data) != step * h:
        raise ConversionError(
            f"{encoding} image {w}x{h}: step {step} and data length {len(data)} disagree "
            f"(need step >= {row_bytes} and data length == step * height = {step * h})"
        )
    rows = data.reshape(h, step)[:, :row_bytes]
    return rows.view(dt).reshape(h, w, channels)


def rgb_from_msg(msg) -> np.ndarray:
    """uint8 [H,W,3] RGB of a colour Image or CompressedImage (mono is expanded, alpha dropped).

    rgb8 messages give a view of the message buffer; other encodings give a new array.
    """
    if _is_compressed(msg):
        return _rgb_from_compressed(msg)
    pixels = image_array(msg)  # raises for unknown encodings and bad sizes
    if msg.encoding not in _COLOUR:
        raise ConversionError(
            f"image encoding {msg.encoding!r} is not a colour encoding {COLOUR_ENCODINGS} "
            f"({msg.width}x{msg.height}, {len(msg.data)} bytes)"
        )
    if msg.encoding not in _TO_RGB:  # rgb8
        return pixels
    import cv2

    # cv2 reads the padded rows of the view directly (row stride = step) and writes a new array
    src = pixels[:, :, 0] if pixels.shape[2] == 1 else pixels
    if msg.encoding.startswith("bayer"):
        src = np.ascontiguousarray(src)  # demosaicing wants a plain 2-D buffer
    try:
        return cv2.cvtColor(src, getattr(cv2, _TO_RGB[msg.encoding]))
    except cv2.error as err:  # e.g. odd width for yuv422, too small for demosaicing
        raise ConversionError(
            f"cannot convert {msg.encoding} image {msg.width}x{msg.height} to RGB: "
            f"{str(err).strip().splitlines()[-1]}") from err


def depth_from_msg(msg) -> np.ndarray:
    """float32 [H,W] depth in metres (invalid = 0) of a depth Image or CompressedImage.

    16UC1/mono16: millimetres, 0 and 65535 invalid. 32FC1: metres, NaN, inf and values <= 0
    invalid. CompressedImage: "compressedDepth" (both formats) or a 16-bit png of millimetres.
    """
    if _is_compressed(msg):
        return _depth_from_compressed(msg)
    pixels = image_array(msg)[:, :, 0]  # raises for unknown encodings and bad sizes
    if msg.encoding not in _DEPTH:
        raise ConversionError(
            f"image encoding {msg.encoding!r} is not a depth encoding {DEPTH_ENCODINGS} "
            f"({msg.width}x{msg.height}, {len(msg.data)} bytes)"
        )
    if pixels.dtype.kind == "u":
        return _depth_from_mm(pixels)
    return _clean_metres(pixels)


def rgb_to_msg(rgb: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "rgb8"):
    """sensor_msgs/Image of uint8 [H,W,3] RGB (or [H,W] grey) in `encoding` (any colour encoding).

    rgb8 output shares no memory with `rgb` (the message owns a contiguous copy).
    """
    img = np.asarray(rgb)
    if img.dtype != np.uint8:
        raise ConversionError(f"colour image must be uint8, got {img.dtype}")
    if img.ndim == 2:
        img = img[:, :, None]
    if img.ndim != 3 or img.shape[2] not in (1, 3):
        raise ConversionError(f"colour image must be [H,W,3] or [H,W], got {img.shape}")
    if _COLOUR.get(encoding, (0, 0, "bayer"))[2] in ("bayer", "yuv"):
        raise ConversionError(f"unsupported output colour encoding {encoding!r}; use {WRITABLE}")
    channels, _, order = _COLOUR[encoding]
    rgb3 = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
    if order == "mono":
        out = _rgb_to_grey(rgb3)[:, :, None]
    else:
        out = rgb3[:, :, ::-1] if order == "bgr" else rgb3
        if channels == 4:
            alpha = np.full(out.shape[:2] + (1,), 255, np.uint8)
            out = np.concatenate([out, alpha], axis=2)
    return _image_msg(np.ascontiguousarray(out), stamp_ns, frame_id, encoding)


def depth_to_msg(depth_m: np.ndarray, stamp_ns: int, frame_id: str, encoding: str = "16UC1"):
    """sensor_msgs/Image of float [H,W] depth in metres (<= 0 or non-finite invalid).

    16UC1 rounds to millimetres and writes invalid (and depth >= 65.535 m) as 0; 32FC1 writes
    metres with invalid as NaN (the REP-118 convention).
    """
    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ConversionError(f"depth image must be [H,W], got {depth.shape}")
    if encoding in ("16UC1", "mono16"):
        out = _depth_to_mm(depth)
    elif encoding == "32FC1":
        out = np.where(np.isfinite(depth) & (depth > 0), depth, np.float32(np.nan))
    else:
        raise ConversionError(f"unsupported depth encoding {encoding!r}; use 16UC1 or 32FC1")
    return _image_msg(np.ascontiguousarray(out)[:, :, None], stamp_ns, frame_id, encoding)


# ---------------------------------------------------------------------------- CompressedImage
def rgb_to_compressed_msg(rgb: np.ndarray, stamp_ns: int, frame_id: str, fmt: str = "jpeg",
                          jpeg_quality: int = 95):
    """CompressedImage (jpeg or png) of uint8 [H,W,3] RGB, format string "rgb8; <fmt> compressed
    bgr8" as image_transport writes it."""
    import cv2

    img = np.asarray(rgb)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ConversionError(f"colour image must be uint8 [H,W,3], got {img.dtype} {img.shape}")
    if fmt not in ("jpeg", "png"):
        raise ConversionError(f"unsupported compression format {fmt!r}; use jpeg or png")
    params = [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if fmt == "jpeg" else []
    ok, buf = cv2.imencode("." + ("jpg" if fmt == "jpeg" else "png"), img[:, :, ::-1], params)
    if not ok:
        raise ConversionError(f"cv2 failed to encode a {img.shape} image as {fmt}")
    return msg_class("sensor_msgs/msg/CompressedImage")(
        header=make_header(stamp_ns, frame_id), format=f"rgb8; {fmt} compressed bgr8",
        data=buf.reshape(-1),
    )


def depth_to_compressed_msg(depth_m: np.ndarray, stamp_ns: int, frame_id: str,
                            encoding: str = "16UC1", depth_max_m: float = 10.0,
                            depth_quantization: float = 100.0, codec: str = "png"):
    """CompressedImage "compressedDepth" of float [H,W] depth in metres.

    codec: "png" (every ROS version decodes it) or "rvl" (faster, ROS 2 Humble and later).

    16UC1: millimetres in a 16-bit PNG (exact to 1 mm; depths above depth_max_m written 0, as
    upstream does). 32FC1: inverse-depth quantised with image_transport's parameters
    (`depth_max_m`, `depth_quantization`, defaults 10 m and 100); depths >= depth_max_m, and
    depths so near that the code exceeds 65535 (< A / (65535 - B), 0.15 m by default), are
    written invalid (upstream leaves that case to C++'s undefined float->ushort conversion).
    """
    import cv2

    depth = np.asarray(depth_m, dtype=np.float32)
    if depth.ndim != 2:
        raise ConversionError(f"depth image must be [H,W], got {depth.shape}")
    if encoding in ("16UC1", "mono16"):
        header = _CDEPTH_HEADER.pack(CDEPTH_INV_DEPTH, 0.0, 0.0)
        code = _depth_to_mm(depth)
        code[code > np.uint16(min(depth_max_m * MM_PER_M, 65535))] = 0
    elif encoding == "32FC1":
        quant_a = np.float32(depth_quantization * (depth_quantization + 1.0))
        quant_b = np.float32(1.0 - quant_a / np.float32(depth_max_m))
        header = _CDEPTH_HEADER.pack(CDEPTH_INV_DEPTH, float(quant_a), float(quant_b))
        valid = np.isfinite(depth) & (depth > 0) & (depth < depth_max_m)
        with np.errstate(divide="ignore", invalid="ignore"):
            q = quant_a / depth + quant_b
        valid &= q <= 65535
        code = np.where(valid, q, 0).astype(np.uint16)
    else:
        raise ConversionError(f"unsupported compressedDepth encoding {encoding!r}")
    if codec == "rvl":
        payload = np.frombuffer(rvl_encode(code), np.uint8)
    elif codec == "png":
        ok, buf = cv2.imencode(".png", code)
        if not ok:
            raise ConversionError(f"cv2 failed to encode a {depth.shape} depth image as png")
        payload = buf.reshape(-1)
    else:
        raise ConversionError(f"unsupported compressedDepth codec {codec!r}; use png or rvl")
    data = np.concatenate([np.frombuffer(header, np.uint8), payload])
    return msg_class("sensor_msgs/msg/CompressedImage")(
        header=make_header(stamp_ns, frame_id), format=f"{encoding}; compressedDepth {codec}",
        data=data,
    )


def parse_compressed_format(fmt: str) -> tuple[str, str]:
    """(source encoding or '', codec) of a CompressedImage format string.

    "bgr8; jpeg compressed bgr8" -> ("bgr8", "jpeg"); "16UC1; compressedDepth png" ->
    ("16UC1", "compressedDepth"); "jpeg" -> ("", "jpeg").
    """
    text = fmt.strip()
    encoding, sep, rest = text.partition(";")
    if not sep:
        encoding, rest = "", text
    rest_l = rest.lower()
    if "compresseddepth" in rest_l:
        codec = "compressedDepth"
    elif "jpeg" in rest_l or "jpg" in rest_l:
        codec = "jpeg"
    elif "png" in rest_l:
        codec = "png"
    elif "rvl" in rest_l:
        codec = "rvl"
    else:
        codec = rest.strip()
    return encoding.strip(), codec


def _is_compressed(msg) -> bool:
    return hasattr(msg, "format") and not hasattr(msg, "encoding")


def _rgb_from_compressed(msg) -> np.ndarray:
    _, codec = parse_compressed_format(msg.format)
    if codec not in ("jpeg", "png"):
        raise ConversionError(
            f"CompressedImage format {msg.format!r} is not jpeg/png colour ({len(msg.data)} bytes)"
        )
    img = _imdecode(_byte_view(msg.data))
    if img is None:
        raise ConversionError(
            f"cannot decode CompressedImage ({msg.format!r}, {len(msg.data)} bytes)"
        )
    if img.dtype != np.uint8:
        raise ConversionError(f"CompressedImage {msg.format!r} holds {img.dtype} pixels, "
                              "not 8-bit colour")
    if img.ndim == 2:
        return np.repeat(img[:, :, None], 3, axis=2)
    # cv2 decodes to BGR(A) whatever the source encoding was
    return np.ascontiguousarray(img[:, :, 2::-1])


def _depth_from_compressed(msg) -> np.ndarray:
    encoding, codec = parse_compressed_format(msg.format)
    data = _byte_view(msg.data)
    if codec == "png":
        # a plain png of 16-bit millimetres ("16UC1; png compressed ")
        img = _imdecode(data)
        if img is None or img.dtype != np.uint16 or img.ndim != 2:
            raise ConversionError(
                f"CompressedImage {msg.format!r} ({len(data)} bytes) is not a 16-bit depth png"
            )
        return _depth_from_mm(img)
    if codec != "compressedDepth":
        raise ConversionError(f"CompressedImage format {msg.format!r} is not a depth format")
    if len(data) <= _CDEPTH_HEADER.size:
        raise ConversionError(f"compressedDepth message has only {len(data)} bytes")
    _, quant_a, quant_b = _CDEPTH_HEADER.unpack(data[: _CDEPTH_HEADER.size].tobytes())
    if "compresseddepth rvl" in msg.format.lower():
        code = rvl_decode(data[_CDEPTH_HEADER.size :])
    else:
        code = _imdecode(data[_CDEPTH_HEADER.size :])
    if code is None or code.dtype != np.uint16 or code.ndim != 2:
        raise ConversionError(
            f"compressedDepth {msg.format!r} ({len(data)} bytes) holds no 16-bit png"
        )
    if encoding in ("16UC1", "mono16"):
        return _depth_from_mm(code)
    if encoding != "32FC1":
        raise ConversionError(f"compressedDepth encoding {encoding!r} is not 16UC1 or 32FC1")
    q = code.astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(quant_a) / (q - np.float32(quant_b))
    return _clean_metres(np.where(code > 0, depth, np.float32(0)))


# ---------------------------------------------------------------------------- helpers
def _imdecode(data: np.ndarray) -> np.ndarray | None:
    """cv2.imdecode (IMREAD_UNCHANGED) that returns None for empty or undecodable input."""
    import cv2

    if len(data) == 0:
        return None
    try:
        return cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None


def _byte_view(data) -> np.ndarray:
    """uint8 [N] view of a message's data (ndarray, bytes-like, or a list of ints)."""
    if isinstance(data, np.ndarray):
        return data.reshape(-1).view(np.uint8)
    if isinstance(data, (bytes, bytearray, memoryview)):
        return np.frombuffer(data, dtype=np.uint8)
    return np.asarray(data, dtype=np.uint8).reshape(-1)


def _depth_from_mm(mm: np.ndarray) -> np.ndarray:
    out = mm.astype(np.float32) / np.float32(MM_PER_M)  # division: correctly rounded metres
    out[(mm == 0) | (mm == 65535)] = 0.0
    return out


def _depth_to_mm(depth: np.ndarray) -> np.ndarray:
    valid = np.isfinite(depth) & (depth > 0)
    mm = np.where(valid, np.rint(depth * MM_PER_M), 0.0)
    mm[mm >= 65535] = 0
    return mm.astype(np.uint16)


def _clean_metres(depth: np.ndarray) -> np.ndarray:
    depth = depth.astype(np.float32, copy=True)
    depth[~(np.isfinite(depth) & (depth > 0))] = 0.0
    return depth


def _rgb_to_grey(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma, as cv2.cvtColor(RGB2GRAY) computes it."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def _image_msg(pixels: np.ndarray, stamp_ns: int, frame_id: str, encoding: str):
    h, w, c = pixels.shape
    pixels = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False)  # is_bigendian = 0
    return msg_class("sensor_msgs/msg/Image")(
        header=make_header(stamp_ns, frame_id), height=h, width=w, encoding=encoding,
        is_bigendian=0, step=w * c * pixels.dtype.itemsize,
        data=pixels.reshape(-1).view(np.uint8),
    )
