"""iniVation AEDAT4 file reader (DV software recordings): polarity events and triggers.

Layout: "#!AER-DAT4.0\\r\\n", int32 size + FlatBuffer IOHeader (compression, data-table
position, an XML info node describing each stream), then packets [int32 stream id, int32 size,
payload]. A payload is a FlatBuffer (LZ4 frame or Zstd compressed as the stream says) whose
first field is a vector of fixed-size structs: events 'EVTS' {int64 t µs, int16 x, int16 y,
bool on} (16 bytes), triggers 'TRIG' {int64 t µs, int8 type} (16 bytes). Other streams (IMU,
frames) are skipped. Times are the recorder's epoch µs, returned in ns. Needs the `lz4`
package for LZ4 streams.
"""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.types import EventBatch, TriggerEvents

MAGIC = b"#!AER-DAT4.0\r\n"
_EVENT = np.dtype({"names": ["t", "x", "y", "on"], "formats": ["<i8", "<i2", "<i2", "u1"],
                   "offsets": [0, 8, 10, 12], "itemsize": 16})
_TRIGGER = np.dtype({"names": ["t", "type"], "formats": ["<i8", "i1"], "offsets": [0, 8],
                     "itemsize": 16})
RISING_EDGE, FALLING_EDGE = 2, 3  # dv::TriggerType external signal edges


def _table_field(buf: bytes, table: int, index: int) -> int | None:
    """Absolute offset of field `index` of the FlatBuffer table at `table`, None if absent."""
    vtable = table - struct.unpack_from("<i", buf, table)[0]
    vt_size = struct.unpack_from("<H", buf, vtable)[0]
    if 4 + 2 * index >= vt_size:
        return None
    off = struct.unpack_from("<H", buf, vtable + 4 + 2 * index)[0]
    return table + off if off else None


def _parse_io_header(buf: bytes) -> tuple[int, str]:
    """(data table position, info XML) of the IOHeader FlatBuffer."""
    table = struct.unpack_from("<I", buf, 0)[0]
    pos_field = _table_field(buf, table, 1)
    data_table = struct.unpack_from("<q", buf, pos_field)[0] if pos_field else -1
    info_field = _table_field(buf, table, 2)
    if info_field is None:
        raise DecodeError("AEDAT4 header has no info node")
    s = info_field + struct.unpack_from("<I", buf, info_field)[0]
    n = struct.unpack_from("<I", buf, s)[0]
    return data_table, buf[s + 4:s + 4 + n].decode("utf-8", errors="replace")


def _streams(xml_text: str) -> dict[int, dict]:
    """{stream id: {'type', 'compression', 'width', 'height'}} from the info XML."""
    root = ET.fromstring(xml_text)
    out = {}
    for node in root.iter("node"):
        attrs = {a.get("key"): a.text for a in node.findall("attr")}
        if "typeIdentifier" not in attrs or not node.get("name", "").isdigit():
            continue
        info = {a.get("key"): a.text for a in node.findall("node/attr")}
        out[int(node.get("name"))] = {
            "type": attrs["typeIdentifier"], "compression": attrs.get("compression", "NONE"),
            "width": int(info.get("sizeX", 0)), "height": int(info.get("sizeY", 0))}
    return out


def _decompress(data: bytes, compression: str) -> bytes:
    if compression in ("NONE", ""):
        return data
    if compression.startswith("LZ4"):
        import lz4.frame
        return lz4.frame.decompress(data)
    if compression.startswith("ZSTD"):
        try:
            import zstandard
        except ImportError as err:
            raise DecodeError("AEDAT4 stream is Zstd-compressed: pip install zstandard") from err
        return zstandard.ZstdDecompressor().decompress(data)
    raise DecodeError(f"AEDAT4 compression {compression!r} is not supported")


def _elements(payload: bytes, dtype: np.dtype) -> np.ndarray:
    """The struct vector (field 0) of a packet FlatBuffer (dv writes them size-prefixed)."""
    if len(payload) >= 4 and struct.unpack_from("<I", payload, 0)[0] == len(payload) - 4:
        payload = payload[4:]
    table = struct.unpack_from("<I", payload, 0)[0]
    field = _table_field(payload, table, 0)
    if field is None:
        return np.zeros(0, dtype=dtype)
    vec = field + struct.unpack_from("<I", payload, field)[0]
    n = struct.unpack_from("<I", payload, vec)[0]
    if vec + 4 + n * dtype.itemsize > len(payload):
        raise DecodeError("AEDAT4 packet vector runs past the packet")
    return np.frombuffer(payload, dtype=dtype, count=n, offset=vec + 4)


def _table_counts(blob: bytes, compression: str) -> dict[int, int]:
    """{stream id: number of elements} summed from the file's data table (FTAB), which the
    recorder writes at the end: an independent check of what the packets hold."""
    buf = _decompress(blob, compression)
    if len(buf) >= 4 and struct.unpack_from("<I", buf, 0)[0] == len(buf) - 4:
        buf = buf[4:]
    root = struct.unpack_from("<I", buf, 0)[0]
    field = _table_field(buf, root, 0)
    counts: dict[int, int] = {}
    if field is None:
        return counts
    vec = field + struct.unpack_from("<I", buf, field)[0]
    for i in range(struct.unpack_from("<I", buf, vec)[0]):  # one entry per packet, not event
        slot = vec + 4 + 4 * i
        entry = slot + struct.unpack_from("<I", buf, slot)[0]
        info, num = _table_field(buf, entry, 1), _table_field(buf, entry, 2)
        if info is None or num is None:
            continue
        sid = struct.unpack_from("<i", buf, info)[0]
        counts[sid] = counts.get(sid, 0) + struct.unpack_from("<q", buf, num)[0]
    return counts


def read_aedat4(path: str | Path) -> tuple[EventBatch, TriggerEvents, dict]:
    """(EventBatch, TriggerEvents, info dict) of an AEDAT4 file.

    Events of all 'EVTS' streams, in file order; t ns (epoch), p +1 ON / -1 OFF; width and
    height from the stream info. Triggers: external signal edges and other dv trigger types,
    polarity 1 for a rising edge else 0, id = the dv trigger type. info: {'streams': {...},
    'table_counts': {stream id: elements listed in the file's data table} (empty if absent)}.
    Raises DecodeError on a malformed file (the message names the byte offset).
    """
    data = Path(path).read_bytes()
    if not data.startswith(MAGIC):
        raise DecodeError(f"{path}: not an AEDAT4 file (magic {data[:14]!r})")
    try:
        size = struct.unpack_from("<i", data, len(MAGIC))[0]
        start = len(MAGIC) + 4
        data_table, xml_text = _parse_io_header(data[start:start + size])
        streams = _streams(xml_text)
    except (struct.error, ET.ParseError, UnicodeError, ValueError) as err:
        raise DecodeError(f"{path}: bad AEDAT4 header: {err}") from err
    end = data_table if 0 < data_table <= len(data) else len(data)
    events, triggers = [], []
    pos = start + size
    while pos + 8 <= end:
        stream_id, n = struct.unpack_from("<ii", data, pos)
        body = data[pos + 8:pos + 8 + n]
        if n < 0 or len(body) != n:
            raise DecodeError(f"{path}: truncated packet at byte {pos}")
        info = streams.get(stream_id)
        if info is not None and info["type"] in ("EVTS", "TRIG"):
            try:
                payload = _decompress(body, info["compression"])
                arr = _elements(payload, _EVENT if info["type"] == "EVTS" else _TRIGGER)
            except (struct.error, RuntimeError, ValueError) as err:
                raise DecodeError(f"{path}: bad packet at byte {pos}: {err}") from err
            (events if info["type"] == "EVTS" else triggers).append(arr)
        pos += 8 + n
    ev = np.concatenate(events) if events else np.zeros(0, dtype=_EVENT)
    tr = np.concatenate(triggers) if triggers else np.zeros(0, dtype=_TRIGGER)
    size_info = next((s for s in streams.values() if s["type"] == "EVTS"), {})
    batch = EventBatch(ev["t"] * 1000, ev["x"], ev["y"],
                       np.where(ev["on"] != 0, 1, -1).astype(np.int8),
                       size_info.get("width", 0), size_info.get("height", 0))
    trig = TriggerEvents(tr["t"] * 1000, (tr["type"] == RISING_EDGE).astype(np.int8),
                         tr["type"].astype(np.uint8))
    counts: dict[int, int] = {}
    if 0 < data_table < len(data):
        compression = next(iter(streams.values()), {}).get("compression", "NONE")
        try:
            counts = _table_counts(data[data_table:], compression)
        except (struct.error, RuntimeError, ValueError, DecodeError):
            counts = {}  # the data table is an index only; the packets were read already
    return batch, trig, {"streams": streams, "table_counts": counts}
