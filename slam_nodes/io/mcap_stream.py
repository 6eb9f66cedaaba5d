"""Salvage reader for damaged MCAP files (truncated, no summary, corrupt chunks).

rosbags needs an MCAP's summary section (at the end of the file), so a recording cut short by
a crash or a full disk cannot be opened by it. This reader walks the file front to back with
the `mcap` package's StreamReader and keeps everything that is intact:

- reading stops, with a warning, at the first record that is cut off (truncation);
- a chunk whose compressed data is corrupt is skipped with a warning and reading goes on with
  the next chunk (the outer record framing is still intact);
- messages are yielded sorted by log time within each chunk and in file order across chunks
  (rosbag2 writes chunks in receive order, so this is log-time order for its files).

It mimics the part of rosbags' Reader interface that `slam_nodes.io.bag` uses: `connections`,
`start_time`, `end_time` (exclusive, like rosbags) and `messages(connections, start, stop)`.
Opening scans the whole file once (streaming) to learn the topics and counts.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from pathlib import Path

from mcap.exceptions import McapError
from mcap.records import Channel, Chunk, Message, Schema
from mcap.stream_reader import StreamReader, breakup_chunk
from rosbags.interfaces import (
    Connection,
    ConnectionExtRosbag2,
    MessageDefinition,
    MessageDefinitionFormat,
)

logger = logging.getLogger(__name__)

_SCHEMA_FORMATS = {
    "ros2msg": MessageDefinitionFormat.MSG,
    "ros2idl": MessageDefinitionFormat.IDL,
}
# What a cut-off or garbled record raises inside the mcap package.
_DAMAGE = (McapError, EOFError, ValueError, OSError, UnicodeDecodeError, MemoryError)


class McapStreamReader:
    """Front-to-back reader of one possibly damaged MCAP file (see module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.connections: list[Connection] = []
        self.start_time = 2**63 - 1
        self.end_time = 0
        self.damage: list[str] = []  # human-readable notes on what was lost
        self._schemas: dict[int, Schema] = {}
        self._channels: dict[int, Channel] = {}

    # rosbags-like context manager -------------------------------------------------------
    def open(self) -> None:
        counts: dict[int, int] = {}
        for channel_id, log_time, _ in self._iter_file(note_damage=True):
            counts[channel_id] = counts.get(channel_id, 0) + 1
            self.start_time = min(self.start_time, log_time)
            self.end_time = max(self.end_time, log_time + 1)
        self.connections = [
            self._connection(cid, counts.get(cid, 0)) for cid in sorted(self._channels)
        ]

    def close(self) -> None:
        self.connections = []

    def __enter__(self) -> "McapStreamReader":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # reading --------------------------------------------------------------------------------
    def messages(self, connections: Collection[Connection] = (), start: int | None = None,
                 stop: int | None = None) -> Iterator[tuple[Connection, int, bytes]]:
        """(connection, log_time_ns, cdr bytes) with start <= log_time < stop."""
        wanted = {c.id: c for c in (connections or self.connections)}
        lo = -(2**63) if start is None else start
        hi = 2**63 if stop is None else stop
        for channel_id, log_time, data in self._iter_file(note_damage=False):
            conn = wanted.get(channel_id)
            if conn is not None and lo <= log_time < hi:
                yield conn, log_time, data

    def _connection(self, channel_id: int, count: int) -> Connection:
        channel = self._channels[channel_id]
        schema = self._schemas.get(channel.schema_id)
        fmt = _SCHEMA_FORMATS.get(schema.encoding, MessageDefinitionFormat.NONE) if schema else (
            MessageDefinitionFormat.NONE)
        msgdef = schema.data.decode("utf-8", "replace") if schema else ""
        typename = schema.name if schema else ""
        return Connection(
            id=channel_id, topic=channel.topic, msgtype=typename,
            msgdef=MessageDefinition(fmt, msgdef if fmt != MessageDefinitionFormat.NONE else ""),
            digest="", msgcount=count,
            ext=ConnectionExtRosbag2(serialization_format=channel.message_encoding or "cdr",
                                     offered_qos_profiles=[]),
            owner=self,
        )

    def _iter_file(self, note_damage: bool) -> Iterator[tuple[int, int, bytes]]:
        """(channel_id, log_time, data) of every intact message, chunks sorted by log time."""
        with self.path.open("rb") as stream:
            records = StreamReader(stream, emit_chunks=True, record_size_limit=2**31).records
            while True:
                try:
                    record = next(records)
                except StopIteration:
                    return
                except _DAMAGE as err:
                    if note_damage:
                        self._note(f"file ends in a damaged or cut-off record at byte "
                                   f"~{stream.tell()} ({type(err).__name__}: {err}); "
                                   "everything after it is lost")
                    return
                if isinstance(record, Chunk):
                    yield from self._chunk_messages(record, note_damage)
                else:
                    msg = self._handle(record)
                    if msg is not None:
                        yield msg

    def _chunk_messages(self, chunk: Chunk, note_damage: bool) -> Iterator[tuple[int, int, bytes]]:
        try:
            inner = list(breakup_chunk(chunk, validate_crc=True))
        except Exception as err:  # noqa: BLE001 - CRC, zstd and lz4 each raise their own types
            if note_damage:
                self._note(f"skipped a corrupt chunk with messages from {chunk.message_start_time}"
                           f" to {chunk.message_end_time} ns ({type(err).__name__}: {err})")
            return
        found = [m for m in (self._handle(r) for r in inner) if m is not None]
        found.sort(key=lambda m: m[1])
        yield from found

    def _handle(self, record) -> tuple[int, int, bytes] | None:
        if isinstance(record, Schema):
            self._schemas[record.id] = record
        elif isinstance(record, Channel):
            self._channels[record.id] = record
        elif isinstance(record, Message) and record.channel_id in self._channels:
            return record.channel_id, record.log_time, record.data
        return None

    def _note(self, text: str) -> None:
        self.damage.append(text)
        logger.warning("%s: %s", self.path, text)
