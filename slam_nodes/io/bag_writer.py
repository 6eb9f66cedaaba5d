"""Write rosbag2 MCAP bags without ROS.

    with BagWriter("out_bag") as bag:
        bag.add_topic("/camera/rgb/image", "sensor_msgs/msg/Image", qos_profile="sensor")
        bag.write("/camera/rgb/image", stamp_ns, image_msg)

The result is a rosbag2 folder `out_bag/` holding `metadata.yaml` (format version 8, read by
`ros2 bag` from Iron on, including Jazzy) and `out_bag.mcap` (rosbags' MCAP storage writer, one
chunk per ~1 MiB, message definitions embedded as ros2msg schemas).

Safety: leaving the `with` block by any exception, KeyboardInterrupt (Ctrl-C) included, still
closes the bag (chunk index, summary and metadata.yaml are written), so everything written so
far stays readable. Only when closing itself fails are the files left unindexed (the MCAP is
then still salvageable with `slam_nodes.io.mcap_stream`).

Determinism: the files contain no wall-clock time. Identical calls (same topics in the same
order, same stamps and messages) give byte-identical `.mcap` and `metadata.yaml`. What can still
differ between machines: the rosbags version string in the MCAP header ("rosbags-0.11.9"), and
zstd output across zstd library versions when `compression="zstd"`.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from slam_nodes.errors import BagError

logger = logging.getLogger(__name__)

QOS_PROFILES = (None, "transient_local", "sensor")
ROSBAG2_VERSION = 8


def make_qos(profile: str | None):
    """rosbags Qos of a named profile, as `ros2 bag record` stores offered QoS.

    None: rclpy's default publisher (reliable, volatile, keep last 10);
    "transient_local": latched topics such as /tf_static or a map (reliable, transient local,
    keep last 1); "sensor": rclpy's qos_profile_sensor_data (best effort, volatile, keep last 5).
    """
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    if profile not in QOS_PROFILES:
        raise BagError(f"unknown QoS profile {profile!r}; expected one of {QOS_PROFILES}")
    infinite = QosTime(9223372036, 854775807)  # what rmw reports for "no limit"
    reliability, durability, depth = {
        None: (QosReliability.RELIABLE, QosDurability.VOLATILE, 10),
        "transient_local": (QosReliability.RELIABLE, QosDurability.TRANSIENT_LOCAL, 1),
        "sensor": (QosReliability.BEST_EFFORT, QosDurability.VOLATILE, 5),
    }[profile]
    return Qos(QosHistory.KEEP_LAST, depth, reliability, durability, infinite, infinite,
               QosLiveliness.AUTOMATIC, infinite, False)


class BagWriter:
    """A rosbag2 MCAP bag being written (see module docstring).

    path: the bag folder to create; it must not exist unless `overwrite` is True, in which case
    an existing rosbag2 folder (one holding metadata.yaml, or empty) there is replaced.
    compression: None or "zstd" (MCAP chunk compression, which `ros2 bag` reads natively).
    typestore: rosbags typestore used to serialise and to embed definitions (default: ours).
    """

    def __init__(self, path: str | Path, *, compression: str | None = None,
                 overwrite: bool = False, typestore=None) -> None:
        from rosbags.rosbag2 import CompressionFormat, CompressionMode, StoragePlugin, Writer
        from rosbags.rosbag2.errors import WriterError

        from slam_nodes.msgs.typestore import get_typestore

        self.path = Path(path)
        self.typestore = typestore or get_typestore()
        if self.path.exists() and overwrite:
            _remove_bag_folder(self.path)
        if compression not in (None, "zstd"):
            raise BagError(f"unknown bag compression {compression!r}; expected None or 'zstd'")
        try:
            self._writer = Writer(self.path, version=ROSBAG2_VERSION,
                                  storage_plugin=StoragePlugin.MCAP)
            if compression == "zstd":
                self._writer.set_compression(CompressionMode.STORAGE, CompressionFormat.ZSTD)
            # a non-empty custom_data map (rosbags writes `null` otherwise)
            self._writer.set_custom_data("writer", "slam_nodes")
            self._writer.open()
        except (WriterError, OSError) as err:
            raise BagError(f"cannot create bag {self.path}: {err}") from err
        self._connections: dict[str, object] = {}
        self._types: dict[str, str] = {}
        self.counts: dict[str, int] = {}
        self._closed = False

    @property
    def storage_path(self) -> Path:
        """The .mcap file inside the bag folder."""
        return self.path / f"{self.path.name}.mcap"

    def add_topic(self, name: str, typename: str, qos_profile: str | None = None) -> None:
        """Declare a topic before writing to it (adding the same topic twice is an error)."""
        from rosbags.rosbag2.errors import WriterError
        from rosbags.typesys.base import TypesysError

        self._check_open()
        if name in self._connections:
            raise BagError(f"{self.path}: topic {name} was already added")
        if typename not in self.typestore.fielddefs:
            raise BagError(f"{self.path}: unknown message type {typename!r} for topic {name}")
        try:
            conn = self._writer.add_connection(name, typename, typestore=self.typestore,
                                               offered_qos_profiles=[make_qos(qos_profile)])
        except (WriterError, TypesysError) as err:
            raise BagError(f"{self.path}: cannot add topic {name} ({typename}): {err}") from err
        self._connections[name] = conn
        self._types[name] = typename
        self.counts[name] = 0

    def write(self, topic: str, stamp_ns: int, msg) -> None:
        """Serialise `msg` (a rosbags message of the topic's type) and write it at `stamp_ns`.

        A topic not added yet is added with the default QoS, its type taken from the message.
        """
        if topic not in self._connections:
            typename = getattr(msg, "__msgtype__", None)
            if typename is None:
                raise BagError(f"{self.path}: topic {topic} was not added and {type(msg)!r} "
                               "is not a ROS message")
            self.add_topic(topic, typename)
        typename = self._types[topic]
        if getattr(msg, "__msgtype__", typename) != typename:
            raise BagError(f"{self.path}: topic {topic} has type {typename}, got a "
                           f"{msg.__msgtype__} at {stamp_ns} ns")
        try:
            data = self.typestore.serialize_cdr(msg, typename)
        except Exception as err:  # noqa: BLE001 - generated serialisers raise many types
            raise BagError(f"{self.path}: cannot serialise the {typename} message for {topic} "
                           f"at {stamp_ns} ns ({type(err).__name__}: {err})") from err
        self.write_cdr(topic, stamp_ns, data)

    def write_cdr(self, topic: str, stamp_ns: int, data: bytes) -> None:
        """Write already serialised CDR bytes on an added topic at log time `stamp_ns` (ns)."""
        self._check_open()
        conn = self._connections.get(topic)
        if conn is None:
            raise BagError(f"{self.path}: topic {topic} was not added (call add_topic first)")
        stamp = int(stamp_ns)
        if stamp < 0:
            raise BagError(f"{self.path}: negative log time {stamp} ns on {topic}")
        self._writer.write(conn, stamp, data)
        self.counts[topic] += 1

    def close(self) -> None:
        """Write the index, summary and metadata.yaml; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._writer.close()
        except Exception as err:  # noqa: BLE001 - disk full, permissions...
            raise BagError(f"{self.path}: cannot finish writing the bag ({err})") from err

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is not None and not self._closed:
            logger.warning("%s: closing the bag after %s; %d messages kept", self.path,
                           exc_type.__name__, sum(self.counts.values()))
        self.close()
        return False

    def _check_open(self) -> None:
        if self._closed:
            raise BagError(f"{self.path}: the bag writer is closed")


def _remove_bag_folder(path: Path) -> None:
    """Delete an existing bag folder, refusing anything that does not look like one."""
    if path.is_dir() and ((path / "metadata.yaml").is_file() or not any(path.iterdir())):
        shutil.rmtree(path)
        return
    raise BagError(f"refusing to overwrite {path}: it is not a rosbag2 folder")
