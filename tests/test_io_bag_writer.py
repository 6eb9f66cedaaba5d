"""BagWriter: round trip through our reader and rosbags' AnyReader, byte-identical output,
QoS profiles, closing on KeyboardInterrupt, and typed errors."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import yaml
from rosbags.highlevel import AnyReader

from slam_nodes.errors import BagError
from slam_nodes.io.bag import open_bag
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.msgs.stamps import make_header, stamp_to_ns
from slam_nodes.msgs.typestore import get_typestore, msg_class

T0 = 1_700_000_000_123_456_789


def image(i: int):
    data = (np.arange(4 * 6 * 3, dtype=np.uint8) + i).astype(np.uint8)
    return msg_class("sensor_msgs/msg/Image")(
        header=make_header(T0 + i * 10**8, "cam"), height=4, width=6, encoding="rgb8",
        is_bigendian=0, step=18, data=data)


def string(text: str):
    return msg_class("std_msgs/msg/String")(data=text)


def write_sample(path, n: int = 20, compression=None) -> None:
    with BagWriter(path, compression=compression) as bag:
        bag.add_topic("/img", "sensor_msgs/msg/Image", qos_profile="sensor")
        bag.add_topic("/tf_static", "tf2_msgs/msg/TFMessage", qos_profile="transient_local")
        bag.write("/tf_static", T0, msg_class("tf2_msgs/msg/TFMessage")(transforms=[]))
        for i in range(n):
            bag.write("/img", T0 + i * 10**8, image(i))
        # auto-added topic, and raw CDR
        bag.write("/note", T0 + 5, string("hello"))
        bag.write_cdr("/note", T0 + 6, get_typestore().serialize_cdr(string("raw"),
                                                                     "std_msgs/msg/String"))


def test_round_trip_values(tmp_path):
    path = tmp_path / "bag"
    write_sample(path)
    assert (path / "metadata.yaml").is_file() and (path / "bag.mcap").is_file()
    with open_bag(path) as bag:
        assert bag.format == "rosbag2"
        assert {n: (t.typename, t.count) for n, t in bag.topics.items()} == {
            "/img": ("sensor_msgs/msg/Image", 20), "/tf_static": ("tf2_msgs/msg/TFMessage", 1),
            "/note": ("std_msgs/msg/String", 2)}
        assert (bag.start_ns, bag.end_ns) == (T0, T0 + 19 * 10**8)
        msgs = list(bag.messages())
    assert [m.log_time_ns for m in msgs] == sorted(m.log_time_ns for m in msgs)
    notes = [m.msg.data for m in msgs if m.topic == "/note"]
    assert notes == ["hello", "raw"]
    imgs = [m for m in msgs if m.topic == "/img"]
    for i, m in enumerate(imgs):
        assert m.log_time_ns == stamp_to_ns(m.msg.header.stamp) == T0 + i * 10**8
        np.testing.assert_array_equal(m.msg.data, image(i).data)
        assert (m.msg.width, m.msg.height, m.msg.encoding) == (6, 4, "rgb8")


def test_rosbags_anyreader_reads_it_with_definitions(tmp_path):
    path = tmp_path / "bag"
    write_sample(path, compression="zstd")
    with AnyReader([path]) as reader:  # no default typestore: definitions must be embedded
        counts: dict[str, int] = {}
        for conn, _, raw in reader.messages():
            reader.deserialize(raw, conn.msgtype)
            counts[conn.topic] = counts.get(conn.topic, 0) + 1
    assert counts == {"/img": 20, "/tf_static": 1, "/note": 2}


def test_same_input_gives_byte_identical_files(tmp_path):
    a, b = tmp_path / "a" / "bag", tmp_path / "b" / "bag"
    write_sample(a)
    write_sample(b)
    for name in ("bag.mcap", "metadata.yaml"):
        assert hashlib.sha256((a / name).read_bytes()).digest() == \
            hashlib.sha256((b / name).read_bytes()).digest()
    c = tmp_path / "c" / "bag"
    write_sample(c, n=21)
    assert (c / "bag.mcap").read_bytes() != (a / "bag.mcap").read_bytes()


def test_qos_profiles_in_metadata(tmp_path):
    path = tmp_path / "bag"
    write_sample(path)
    info = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    qos = {t["topic_metadata"]["name"]:
           yaml.safe_load(t["topic_metadata"]["offered_qos_profiles"])[0]
           for t in info["topics_with_message_count"]}
    assert qos["/img"]["reliability"] == 2 and qos["/img"]["depth"] == 5  # best effort
    assert qos["/tf_static"]["durability"] == 1 and qos["/tf_static"]["depth"] == 1
    assert qos["/note"]["reliability"] == 1 and qos["/note"]["durability"] == 2
    assert info["storage_identifier"] == "mcap" and info["version"] == 8
    assert info["custom_data"] == {"writer": "slam_nodes"}


def test_keyboard_interrupt_still_leaves_a_valid_bag(tmp_path):
    path = tmp_path / "bag"
    with pytest.raises(KeyboardInterrupt):
        with BagWriter(path) as bag:
            bag.add_topic("/x", "std_msgs/msg/String")
            for i in range(7):
                bag.write("/x", T0 + i, string(str(i)))
            raise KeyboardInterrupt
    with open_bag(path) as reader:
        assert [m.msg.data for m in reader.messages()] == [str(i) for i in range(7)]


def test_writer_errors(tmp_path):
    path = tmp_path / "bag"
    with BagWriter(path) as bag:
        bag.add_topic("/x", "std_msgs/msg/String")
        with pytest.raises(BagError, match="already added"):
            bag.add_topic("/x", "std_msgs/msg/String")
        with pytest.raises(BagError, match="unknown message type"):
            bag.add_topic("/y", "nope_msgs/msg/Nope")
        with pytest.raises(BagError, match="not added"):
            bag.write_cdr("/z", T0, b"\x00\x01\x00\x00")
        with pytest.raises(BagError, match="has type std_msgs/msg/String"):
            bag.write("/x", T0, image(0))
        with pytest.raises(BagError, match="unknown QoS"):
            bag.add_topic("/q", "std_msgs/msg/String", qos_profile="fast")
    with pytest.raises(BagError, match="closed"):
        bag.write("/x", T0, string("late"))
    with pytest.raises(BagError, match="cannot create bag"):
        BagWriter(path)  # exists
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "precious.txt").write_text("data")
    with pytest.raises(BagError, match="refusing to overwrite"):
        BagWriter(tmp_path / "keep", overwrite=True)
    assert (tmp_path / "keep" / "precious.txt").is_file()
    with BagWriter(path, overwrite=True) as bag:  # replaces the old bag
        bag.write("/x", T0, string("new"))
    with open_bag(path) as reader:
        assert [m.msg.data for m in reader.messages()] == ["new"]


def test_reading_streams_instead_of_loading_the_bag(tmp_path):
    """Reading a ~37 MB bag must not hold it in memory (peak traced allocations < 16 MB)."""
    import tracemalloc

    rgb = np.random.default_rng(0).integers(0, 256, 640 * 480 * 3, dtype=np.uint8)
    path = tmp_path / "big"
    with BagWriter(path) as bag:
        for i in range(40):
            bag.write("/img", T0 + i * 33_000_000, msg_class("sensor_msgs/msg/Image")(
                header=make_header(T0 + i * 33_000_000, "cam"), height=480, width=640,
                encoding="rgb8", is_bigendian=0, step=1920, data=rgb))
    size = (path / "big.mcap").stat().st_size
    assert size > 36e6
    tracemalloc.start()
    try:
        with open_bag(path) as reader:
            total = sum(int(m.msg.data[i % 1000]) for i, m in enumerate(reader.messages()))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == sum(int(rgb[i % 1000]) for i in range(40))
    assert peak < 16e6, f"peak {peak / 1e6:.1f} MB while reading a {size / 1e6:.0f} MB bag"


def test_types_defined_only_in_the_bag_still_decode(tmp_path):
    from rosbags.typesys import Stores, get_types_from_msg
    from rosbags.typesys import get_typestore as rosbags_typestore

    custom = rosbags_typestore(Stores.ROS2_JAZZY)
    custom.register(get_types_from_msg("std_msgs/Header header\nfloat64[] values\nstring note",
                                       "my_msgs/msg/Blob"))
    blob = custom.types["my_msgs/msg/Blob"]
    assert "my_msgs/msg/Blob" not in get_typestore().fielddefs
    path = tmp_path / "bag"
    with BagWriter(path, typestore=custom) as bag:
        bag.add_topic("/blob", "my_msgs/msg/Blob")
        bag.write("/blob", T0, blob(header=make_header(T0, "f"), values=np.array([1.5, -2.0]),
                                    note="hi"))
    with open_bag(path) as reader:
        (m,) = list(reader.messages())
    assert m.typename == "my_msgs/msg/Blob" and m.msg.note == "hi"
    np.testing.assert_array_equal(m.msg.values, [1.5, -2.0])


def test_stored_idl_definitions_parse(shared_data, caplog):
    """test_events_2 stores rosidl IDL with #include lines; it must parse (no fallback)."""
    with caplog.at_level("WARNING"), open_bag(
            shared_data / "event_camera_bags/event_camera_py/test_events_2") as reader:
        assert reader.typestore is get_typestore()  # stored definition equals ours
    assert "cannot parse" not in caplog.text


def test_mcap_library_reads_and_decodes_it(tmp_path):
    """A second MCAP implementation (mcap + mcap-ros2-support, as Foxglove uses) agrees."""
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    path = tmp_path / "bag"
    write_sample(path, compression="zstd")
    with (path / "bag.mcap").open("rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        summary = reader.get_summary()
        assert summary.statistics.message_count == 23
        decoded = [(ch.topic, msg.log_time, d) for _, ch, msg, d in
                   reader.iter_decoded_messages(topics=["/img", "/note"])]
    assert [d.data for t, _, d in decoded if t == "/note"] == ["hello", "raw"]
    imgs = [(stamp, d) for t, stamp, d in decoded if t == "/img"]
    assert [s for s, _ in imgs] == [T0 + i * 10**8 for i in range(20)]
    assert bytes(imgs[3][1].data) == bytes(image(3).data)


def test_bag_with_and_without_stored_definitions_decodes_every_topic():
    """A bag that stores a (different) definition for one topic and none for another must
    still decode both: built-in definitions fill the gaps."""
    from rosbags.interfaces import (
        Connection,
        ConnectionExtRosbag2,
        MessageDefinition,
        MessageDefinitionFormat,
    )

    from slam_nodes.io.bag_typestore import bag_typestore

    ext = ConnectionExtRosbag2("cdr", [])
    custom = Connection(1, "/blob", "my_msgs/msg/Blob",
                        MessageDefinition(MessageDefinitionFormat.MSG, "float64 value"),
                        "", 1, ext, None)
    bare = Connection(2, "/s", "std_msgs/msg/String",
                      MessageDefinition(MessageDefinitionFormat.NONE, ""), "", 1, ext, None)
    store = bag_typestore([custom, bare], is_ros2=True)
    assert store is not get_typestore()
    raw = get_typestore().serialize_cdr(string("x"), "std_msgs/msg/String")
    assert store.deserialize_cdr(raw, "std_msgs/msg/String").data == "x"
    blob = store.types["my_msgs/msg/Blob"](value=2.5)
    assert store.deserialize_cdr(store.serialize_cdr(blob, "my_msgs/msg/Blob"),
                                 "my_msgs/msg/Blob").value == 2.5
