"""Read ROS bags without ROS: rosbag2 (sqlite3 / MCAP), bare .mcap / .db3 files, ROS 1 .bag.

    with open_bag("recording/") as bag:
        print(bag.topics)                      # {name: TopicInfo(name, typename, count)}
        for m in bag.messages(["/camera/rgb/image"]):
            ...                                # m.topic, m.typename, m.log_time_ns, m.msg

Formats are entries of `BAG_FORMATS`, guessed from the path (`guess_bag_format`):

- "rosbag2": a folder with metadata.yaml. An empty or unknown `storage_identifier` (a real-world
  quirk) is inferred from the storage files' extensions (.mcap / .db3).
- "mcap": one .mcap file (no metadata.yaml needed); "sqlite3": one .db3 file.
- "rosbag1": a ROS 1 .bag file. Messages decode to the same ROS 2 type names
  (`geometry_msgs/msg/PoseStamped`); their header keeps ROS 1's extra `seq` field.

Reading streams: messages are pulled from the storage one at a time (rosbags' readers, merged
in log-time order), so bag size is not limited by memory. Message definitions stored in the bag
are registered (`bag_typestore`), so types our store lacks still decode.

Bad data (DESIGN.md principle 6):
- a message that fails to deserialise is skipped, logged with topic and stamp, and counted in
  `reader.skipped[topic]`; reading goes on;
- an MCAP file that rosbags cannot open (cut off before its summary, unindexed) is read
  PARTIALLY by `McapStreamReader`: every intact message up to the damage, corrupt chunks
  skipped; `reader.partial` is True and `reader.damage` says what was lost;
- an MCAP chunk found corrupt while reading (bad compressed data) is skipped: reading goes on
  with the salvage reader from the next intact chunk, `partial` becomes True, `damage` says
  what was lost;
- a truncated or corrupt sqlite3 database or ROS 1 bag raises BagError when opened; damage
  found later while iterating raises BagError naming the last good stamp (messages already
  yielded are valid).
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import yaml

from slam_nodes.errors import BagError
from slam_nodes.io.bag_typestore import bag_typestore

logger = logging.getLogger(__name__)

MAX_SKIP_LOGS_PER_TOPIC = 5
STORAGE_EXTENSIONS = {".mcap": "mcap", ".db3": "sqlite3"}


class TopicInfo(NamedTuple):
    """One topic of a bag: name, ROS 2 type name ('sensor_msgs/msg/Image'), message count."""

    name: str
    typename: str
    count: int


class BagMessage(NamedTuple):
    """A deserialised message; `log_time_ns` is the bag's receive time (int64 ns)."""

    topic: str
    typename: str
    log_time_ns: int
    msg: Any


class RawBagMessage(NamedTuple):
    """A message as CDR bytes (ROS 2 wire format; ROS 1 messages are converted)."""

    topic: str
    typename: str
    log_time_ns: int
    data: bytes


# --------------------------------------------------------------------------- format table
@dataclass(frozen=True)
class BagFormat:
    """A bag format: how to recognise its path and how to make its (unopened) storage readers.

    `readers(path)` returns rosbags-like readers (context managers with `connections`,
    `start_time`, `end_time`, `messages(connections, start, stop)`); `is_ros2` selects CDR.
    """

    name: str
    description: str
    matches: Callable[[Path], bool]
    readers: Callable[[Path], list]
    is_ros2: bool = True


def _rosbag2_readers(path: Path) -> list:
    from rosbags.rosbag2 import Reader

    meta_path = path / "metadata.yaml"
    if not meta_path.is_file():
        files = _storage_files(path, None)
        logger.info("%s has no metadata.yaml; reading its storage files %s directly",
                    path, [f.name for f in files])
        return [Reader(f) for f in files]
    try:
        info = yaml.safe_load(meta_path.read_text())["rosbag2_bagfile_information"]
        storage_id = info.get("storage_identifier") or ""
        rel_paths = info.get("relative_file_paths") or []
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError) as err:
        raise BagError(f"{meta_path}: unreadable rosbag2 metadata ({err})") from err
    if storage_id in ("sqlite3", "mcap"):
        return [Reader(path)]
    files = _storage_files(path, rel_paths)
    logger.info("%s: storage_identifier %r; inferred %s from the file extension", path,
                storage_id, sorted({STORAGE_EXTENSIONS[f.suffix] for f in files}))
    return [Reader(f) for f in files]


def _storage_files(folder: Path, rel_paths: list | None) -> list[Path]:
    if rel_paths:
        files = [folder / Path(p).name for p in rel_paths]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise BagError(f"{folder}: storage files listed in metadata.yaml are missing: "
                           f"{missing}")
    else:
        files = sorted(f for f in folder.iterdir() if f.suffix in STORAGE_EXTENSIONS)
    unknown = [f.name for f in files if f.suffix not in STORAGE_EXTENSIONS]
    if not files or unknown:
        raise BagError(f"{folder}: cannot infer the storage plugin (files: "
                       f"{[f.name for f in files] or 'none'}; expected .mcap or .db3)")
    return files


def _file_reader(path: Path) -> list:
    from rosbags.rosbag2 import Reader

    return [Reader(path)]


def _rosbag1_reader(path: Path) -> list:
    from rosbags.rosbag1 import Reader

    return [Reader(path)]


def _is_rosbag2_folder(path: Path) -> bool:
    return path.is_dir() and (
        (path / "metadata.yaml").is_file()
        or any(f.suffix in STORAGE_EXTENSIONS for f in path.iterdir())
    )


BAG_FORMATS: dict[str, BagFormat] = {
    "rosbag2": BagFormat("rosbag2", "rosbag2 folder (metadata.yaml + .db3 / .mcap)",
                         _is_rosbag2_folder, _rosbag2_readers),
    "mcap": BagFormat("mcap", "single MCAP file", lambda p: p.suffix == ".mcap", _file_reader),
    "sqlite3": BagFormat("sqlite3", "single rosbag2 sqlite3 file",
                         lambda p: p.suffix == ".db3", _file_reader),
    "rosbag1": BagFormat("rosbag1", "ROS 1 .bag file", lambda p: p.suffix == ".bag",
                         _rosbag1_reader, is_ros2=False),
}


def guess_bag_format(path: str | Path) -> BagFormat:
    """The BAG_FORMATS entry whose `matches` accepts `path`; BagError when none does."""
    path = Path(path)
    if not path.exists():
        raise BagError(f"bag not found: {path}")
    for fmt in BAG_FORMATS.values():
        if fmt.matches(path):
            return fmt
    raise BagError(f"{path}: not a bag (expected a rosbag2 folder, .mcap, .db3 or .bag; "
                   f"known formats: {', '.join(BAG_FORMATS)})")


def open_bag(path: str | Path, format: str | None = None) -> "BagReader":
    """Open a bag for reading (use as a context manager). `format`: a BAG_FORMATS key or None
    to guess it from the path."""
    path = Path(path)
    if format is None:
        fmt = guess_bag_format(path)
    elif format in BAG_FORMATS:
        fmt = BAG_FORMATS[format]
    else:
        raise BagError(f"unknown bag format {format!r}; expected one of {list(BAG_FORMATS)}")
    reader = BagReader(path, fmt)
    reader.open()
    return reader


def _mcap_storages(path: Path) -> list[Path]:
    """The .mcap storage files of a bag path (the file itself, or a folder's), [] if any
    storage is not MCAP."""
    if path.is_file():
        return [path] if path.suffix == ".mcap" else []
    try:
        meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
        files = _storage_files(path, meta.get("relative_file_paths") or [])
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError, BagError):
        return []
    if (meta.get("compression_mode") or "").lower() not in ("", "none"):
        return []  # file/message-compressed bags cannot be salvaged record by record
    return files if all(f.suffix == ".mcap" for f in files) else []


# --------------------------------------------------------------------------- reader
class BagReader:
    """Streaming reader of one bag (see module docstring). Build it with `open_bag`.

    Attributes after opening: `topics` {name: TopicInfo}, `start_ns` / `end_ns` (log time of the
    first / last message, inclusive, int64 ns; 0 for an empty bag), `skipped` {topic: count of
    messages that failed to decode}, `partial` (True when a damaged MCAP is being salvaged) and
    `damage` (what was lost), `is_ros2`, `format` (the BAG_FORMATS name), `typestore`.
    """

    def __init__(self, path: Path, fmt: BagFormat) -> None:
        self.path = Path(path)
        self.format = fmt.name
        self.is_ros2 = fmt.is_ros2
        self._fmt = fmt
        self._readers: list = []
        self._connections: list = []
        self.topics: dict[str, TopicInfo] = {}
        self.start_ns = 0
        self.end_ns = 0
        self.skipped: dict[str, int] = {}
        self.partial = False
        self.damage: list[str] = []
        self.typestore = None
        self._to_cdr: dict[str, Callable[[bytes], bytes]] = {}

    # life cycle ---------------------------------------------------------------------------
    def open(self) -> None:
        """Open the storage readers (salvaging damaged MCAP) and read the topic summary."""
        try:
            candidates = self._fmt.readers(self.path)
        except FileNotFoundError as err:
            raise BagError(f"{self.path}: {err}") from err
        for reader in candidates:
            self._readers.extend(self._open_one(reader))
        self._connections = [c for r in self._readers for c in r.connections]
        self.typestore = bag_typestore(self._connections, self.is_ros2)
        self._summarise()

    def _open_one(self, reader) -> list:
        """[reader] opened; an MCAP storage rosbags cannot open is salvaged instead."""
        try:
            reader.open()
            return [reader]
        except Exception as err:  # noqa: BLE001 - rosbags, apsw, lz4, zstd all raise their own
            where = Path(getattr(reader, "path", self.path))
            storages = _mcap_storages(where)
            if not storages:
                raise BagError(f"{where}: cannot open bag, the file is truncated or corrupt "
                               f"({type(err).__name__}: {err})") from err
            return [self._salvage_mcap(storage, err) for storage in storages]

    def _salvage_mcap(self, storage: Path, err: Exception):
        from slam_nodes.io.mcap_stream import McapStreamReader

        logger.warning("%s: rosbags cannot open it (%s); salvaging the intact part", storage, err)
        salvage = McapStreamReader(storage)
        salvage.open()
        if not salvage.connections:
            raise BagError(f"{storage}: cannot open bag and no intact message was found "
                           f"({type(err).__name__}: {err})") from err
        self.partial = True
        self.damage.extend(salvage.damage or [f"no MCAP summary ({err})"])
        return salvage

    def _summarise(self) -> None:
        counts: dict[str, int] = {}
        types: dict[str, str] = {}
        for conn in self._connections:
            counts[conn.topic] = counts.get(conn.topic, 0) + conn.msgcount
            types.setdefault(conn.topic, conn.msgtype)
        self.topics = {name: TopicInfo(name, types[name], counts[name]) for name in sorted(counts)}
        starts = [r.start_time for r in self._readers if self._count(r)]
        ends = [r.end_time for r in self._readers if self._count(r)]
        # rosbags' end_time is exclusive (last stamp + 1)
        self.start_ns = int(min(starts)) if starts else 0
        self.end_ns = int(max(ends)) - 1 if ends else 0

    @staticmethod
    def _count(reader) -> int:
        return sum(c.msgcount for c in reader.connections)

    def close(self) -> None:
        """Close every storage reader (errors while closing are logged, not raised)."""
        readers, self._readers = self._readers, []
        for reader in readers:
            try:
                reader.close()
            except Exception as err:  # noqa: BLE001 - closing a damaged file must not mask errors
                logger.warning("%s: error while closing (%s)", self.path, err)

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def message_count(self) -> int:
        """Messages in the bag, all topics."""
        return sum(t.count for t in self.topics.values())

    @property
    def duration_ns(self) -> int:
        """Log time from the first to the last message, int64 ns."""
        return self.end_ns - self.start_ns

    # reading --------------------------------------------------------------------------------
    def messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                 end_ns: int | None = None) -> Iterator[BagMessage]:
        """Deserialised messages of `topics` (all when None) with start_ns <= log time < end_ns,
        in log-time order. Undecodable messages are skipped (see `skipped`)."""
        store = self.typestore
        decode = store.deserialize_cdr if self.is_ros2 else store.deserialize_ros1
        for conn, stamp, data in self._raw(topics, start_ns, end_ns):
            try:
                msg = decode(data, conn.msgtype)
            except Exception as err:  # noqa: BLE001 - generated deserialisers raise many types
                self._skip(conn.topic, stamp, err)
                continue
            yield BagMessage(conn.topic, conn.msgtype, stamp, msg)

    def raw_messages(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
                     end_ns: int | None = None) -> Iterator[RawBagMessage]:
        """Like `messages` but yields little-endian CDR bytes (ROS 1 data is converted)."""
        for conn, stamp, data in self._raw(topics, start_ns, end_ns):
            if self.is_ros2:
                yield RawBagMessage(conn.topic, conn.msgtype, stamp, bytes(data))
                continue
            try:
                cdr = self._ros1_converter(conn.msgtype)(data)
            except Exception as err:  # noqa: BLE001 - as in messages()
                self._skip(conn.topic, stamp, err)
                continue
            yield RawBagMessage(conn.topic, conn.msgtype, stamp, bytes(cdr))

    def stamps(self, topics: Iterable[str] | None = None, start_ns: int | None = None,
               end_ns: int | None = None) -> Iterator[tuple[str, int]]:
        """(topic, log_time_ns) of every message, without decoding or converting anything."""
        for conn, stamp, _ in self._raw(topics, start_ns, end_ns):
            yield conn.topic, stamp

    def deserialize(self, data: bytes, typename: str):
        """Deserialise CDR bytes of `typename` with this bag's typestore."""
        return self.typestore.deserialize_cdr(data, typename)

    def _raw(self, topics, start_ns, end_ns) -> Iterator[tuple[Any, int, bytes]]:
        if not self._readers:
            raise BagError(f"{self.path}: bag is not open")
        wanted = None
        if topics is not None:
            wanted = set([topics] if isinstance(topics, str) else topics)
            unknown = sorted(wanted - set(self.topics))
            if unknown:
                raise BagError(f"{self.path}: no topic {unknown} in this bag; it has "
                               f"{sorted(self.topics)}")
        streams = []
        for reader in self._readers:
            conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
            if conns:
                streams.append(self._guarded(reader, conns, start_ns, end_ns))
        yield from heapq.merge(*streams, key=lambda item: item[1])

    def _guarded(self, reader, conns, start_ns, end_ns) -> Iterator[tuple[Any, int, bytes]]:
        """One storage's messages. Damage found while reading an MCAP switches to salvage
        reading (corrupt chunks skipped); other storage damage becomes BagError naming the last
        good stamp."""
        last, at_last = None, 0  # last stamp yielded and how many messages had it
        try:
            for conn, stamp, data in reader.messages(conns, start_ns, end_ns):
                last, at_last = stamp, (at_last + 1 if stamp == last else 1)
                yield conn, stamp, data
        except Exception as err:  # noqa: BLE001 - apsw, lz4, zstd, rosbags each raise their own
            from slam_nodes.io.mcap_stream import McapStreamReader

            storages = [] if isinstance(reader, McapStreamReader) else _mcap_storages(
                Path(getattr(reader, "path", self.path)))
            if len(storages) != 1:
                where = (f"after log time {last} ns" if last is not None
                         else "before the first message")
                raise BagError(f"{self.path}: bag is corrupt, reading stopped {where} "
                               f"({type(err).__name__}: {err})") from err
            yield from self._resume_salvaged(storages[0], err, {c.topic for c in conns},
                                             start_ns, end_ns, last, at_last)

    def _resume_salvaged(self, storage: Path, err: Exception, topics: set[str], start_ns,
                         end_ns, last: int | None, at_last: int):
        """Continue after `last` (having yielded `at_last` messages stamped `last`) with the
        salvage reader, which skips the corrupt chunks."""
        from slam_nodes.io.mcap_stream import McapStreamReader

        where = f"after log time {last} ns" if last is not None else "at the first message"
        logger.warning("%s: corrupt data %s (%s: %s); continuing with the intact chunks",
                       storage, where, type(err).__name__, err)
        salvage = McapStreamReader(storage)
        salvage.open()
        self.partial = True
        self.damage.extend(salvage.damage or [f"corrupt data {where} ({err})"])
        conns = [c for c in salvage.connections if c.topic in topics]
        for conn, stamp, data in salvage.messages(conns, start_ns, end_ns):
            if last is not None and stamp <= last:
                if stamp == last and at_last > 0:
                    at_last -= 1
                    continue
                if stamp < last:
                    continue
            yield conn, stamp, data

    def _skip(self, topic: str, stamp: int, err: Exception) -> None:
        n = self.skipped.get(topic, 0) + 1
        self.skipped[topic] = n
        if n <= MAX_SKIP_LOGS_PER_TOPIC:
            logger.warning("%s: skipped a message on %s at log time %d ns that does not decode "
                           "(%s: %s)", self.path, topic, stamp, type(err).__name__, err)
        if n == MAX_SKIP_LOGS_PER_TOPIC:
            logger.warning("%s: further undecodable messages on %s are counted, not logged",
                           self.path, topic)

    def _ros1_converter(self, typename: str) -> Callable[[bytes], bytes]:
        """ROS 1 bytes -> ROS 2 CDR for `typename` (rosbags' converter logic, cached)."""
        if typename not in self._to_cdr:
            from rosbags.convert.converter import is_same_wireformat, migrate_message

            from slam_nodes.msgs.typestore import get_typestore

            dst, src = get_typestore(), self.typestore
            if typename not in dst.fielddefs:
                raise BagError(f"no ROS 2 definition of {typename} to convert it to CDR")
            if is_same_wireformat(src, dst, typename, typename):
                self._to_cdr[typename] = lambda data: dst.ros1_to_cdr(data, typename)
            else:
                cache: dict = {}

                def migrate(data: bytes) -> bytes:
                    msg = migrate_message(src, dst, typename, typename, cache,
                                          src.deserialize_ros1(data, typename))
                    return dst.serialize_cdr(msg, typename)

                self._to_cdr[typename] = migrate
        return self._to_cdr[typename]
