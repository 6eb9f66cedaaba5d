"""Prophesee RAW file reader (EVT2 and EVT3), streaming in chunks.

A RAW file is a text header of lines starting with '%' ("% key value"; newer files end it with
"% end") followed by the binary event stream. The header is returned as a dict; 'width' and
'height' are taken from a "geometry WxH" line, from the "format EVT3;height=..;width=.." line,
or else from the camera plugin name (Gen3 640x480, Gen4/IMX636 1280x720), 0 when unknown.
Times are the camera's sensor time in ns (µs resolution), like the EVT decoders give.
implementation: "auto" | "numpy" | "numba" selects the EVT decoder (see backend.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.events.base import to_batch
from slam_nodes.events.evt2 import Evt2Codec
from slam_nodes.events.evt3 import Evt3Codec
from slam_nodes.types import EventBatch, TriggerEvents

logger = logging.getLogger(__name__)

# camera plugin name fragment -> (width, height), checked in order
_PLUGIN_GEOMETRY = (("gen41", (1280, 720)), ("imx636", (1280, 720)), ("gen4", (1280, 720)),
                    ("imx8", (640, 480)), ("gen31", (640, 480)), ("gen3", (640, 480)))
_MAX_HEADER = 1 << 20


def parse_raw_header(data: bytes) -> tuple[dict, int]:
    """(header dict, byte offset of the event stream) of the start of a RAW file."""
    header: dict = {}
    pos = 0
    while pos < len(data) and data[pos:pos + 1] == b"%":
        end = data.find(b"\n", pos)
        if end < 0:
            raise DecodeError("RAW header line without newline (truncated file?)")
        line = data[pos + 1:end].decode("ascii", errors="replace").strip()
        pos = end + 1
        if line == "end":
            break
        key, _, value = line.partition(" ")
        if key:
            header[key] = value.strip()
    header["width"], header["height"] = _geometry(header)
    header["format"] = _format(header)
    return header, pos


def _geometry(header: dict) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)\s*x\s*(\d+)", header.get("geometry", ""))
    if m:
        return int(m.group(1)), int(m.group(2))
    fmt = header.get("format", "")
    w = re.search(r"width=(\d+)", fmt)
    h = re.search(r"height=(\d+)", fmt)
    if w and h:
        return int(w.group(1)), int(h.group(1))
    plugin = header.get("plugin_name", "").lower()
    for fragment, size in _PLUGIN_GEOMETRY:
        if fragment in plugin:
            return size
    return 0, 0


def _format(header: dict) -> str:
    fmt = header.get("format", "").split(";")[0].strip().upper()
    if fmt:
        return fmt
    evt = header.get("evt", "")
    return {"2.0": "EVT2", "3.0": "EVT3", "2.1": "EVT21"}.get(evt, evt or "unknown")


def _codec(fmt: str, implementation: str):
    if fmt == "EVT3":
        return Evt3Codec(implementation), 2
    if fmt == "EVT2":
        return Evt2Codec(implementation), 4
    raise DecodeError(f"RAW format {fmt!r} is not supported (EVT2 and EVT3 are)")


def iter_raw(path: str | Path, chunk_bytes: int = 1 << 20, implementation: str = "auto"
             ) -> Iterator[tuple[EventBatch, TriggerEvents]]:
    """Stream a RAW file as (EventBatch, TriggerEvents) chunks of about chunk_bytes input.

    Raises DecodeError on unsupported formats or undefined words (naming the byte offset)."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(_MAX_HEADER)
        header, start = parse_raw_header(head)
        codec, word = _codec(header["format"], implementation)
        width, height = header["width"], header["height"]
        chunk_bytes = max(word, chunk_bytes - chunk_bytes % word)
        f.seek(start)
        offset, dropped = start, 0
        while True:
            data = f.read(chunk_bytes)
            if not data:
                break
            try:
                raw = codec.decode(np.frombuffer(data, dtype=np.uint8))
            except DecodeError as err:
                raise DecodeError(f"{path} at byte {offset}: {err}") from err
            offset += len(data)
            batch, trig, n_drop = to_batch(raw, width, height)
            dropped += n_drop
            yield batch, trig
        if dropped:
            logger.warning("%s: dropped %d events outside %dx%d", path, dropped, width, height)


def read_raw(path: str | Path, chunk_bytes: int = 1 << 20, implementation: str = "auto"
             ) -> tuple[EventBatch, TriggerEvents, dict]:
    """Read a whole RAW file: (EventBatch, TriggerEvents, header dict incl. width/height)."""
    with open(path, "rb") as f:
        header, _ = parse_raw_header(f.read(_MAX_HEADER))
    parts = list(iter_raw(path, chunk_bytes, implementation))
    batch = EventBatch.concatenate([b for b, _ in parts]) if parts else EventBatch.empty()
    batch.width, batch.height = header["width"], header["height"]
    trig = TriggerEvents(np.concatenate([t.t for _, t in parts] or [np.zeros(0)]),
                         np.concatenate([t.polarity for _, t in parts] or [np.zeros(0)]),
                         np.concatenate([t.id for _, t in parts] or [np.zeros(0)]))
    return batch, trig, header
