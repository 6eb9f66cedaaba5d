"""BagReader on every real bag in ../shared/data: topics, counts and spans from the READMEs,
decoded values, ROS 1 -> CDR conversion against the rosbag2 copies of the same recordings."""

from __future__ import annotations

import pytest

from slam_nodes.errors import BagError
from slam_nodes.io.bag import BAG_FORMATS, guess_bag_format, open_bag
from slam_nodes.msgs.stamps import stamp_to_ns

EVENTS = "/event_camera/events"
PACKET = "event_camera_msgs/msg/EventPacket"
TF = "tf2_msgs/msg/TFMessage"
POSE = "geometry_msgs/msg/PoseStamped"

# path, format, {topic: (type, count)}, duration in s as the README states it
REAL_BAGS = [
    ("event_camera_bags/event_camera_codecs/test_data_evt3_trigger", "rosbag2",
     {EVENTS: (PACKET, 105)}, 0.84),
    ("event_camera_bags/event_camera_codecs/test_data_libcaer_rollover", "rosbag2",
     {EVENTS: (PACKET, 201)}, 1.99),
    ("event_camera_bags/event_camera_codecs/test_data_mono_cd", "rosbag2",
     {EVENTS: ("event_array_msgs/msg/EventArray", 2)}, 0.00005),
    ("event_camera_bags/event_camera_py/test_events_1.bag", "rosbag1",
     {EVENTS: (PACKET, 517)}, 2.08),
    ("event_camera_bags/event_camera_py/test_events_1", "rosbag2", {EVENTS: (PACKET, 517)}, 2.08),
    ("event_camera_bags/event_camera_py/test_events_2", "rosbag2", {EVENTS: (PACKET, 100)}, 0.99),
    ("evo_testdata/ROS_example.bag", "rosbag1",
     {"groundtruth": (POSE, 12765), "ORB-SLAM": (POSE, 8362), "S-PTAM": (POSE, 5439)}, 889.0),
    ("evo_testdata/tf_example.bag", "rosbag1", {"/tf": (TF, 517), "/tf_static": (TF, 1)}, 51.7),
    ("evo_testdata/tf_example", "rosbag2", {"/tf": (TF, 517), "/tf_static": (TF, 1)}, 51.7),
    ("evo_testdata/nav2_turtlebot.mcap", "mcap",
     {"/odom": ("nav_msgs/msg/Odometry", 2639), "/tf": (TF, 5422), "/tf_static": (TF, 1),
      "/amcl_pose": ("geometry_msgs/msg/PoseWithCovarianceStamped", 135)}, 97.0),
]


@pytest.mark.parametrize("rel, fmt, topics, duration_s", REAL_BAGS,
                         ids=[b[0].split("/")[-1] for b in REAL_BAGS])
def test_real_bag_topics_counts_and_full_decode(shared_data, rel, fmt, topics, duration_s):
    path = shared_data / rel
    assert guess_bag_format(path).name == fmt
    with open_bag(path) as bag:
        assert bag.format == fmt
        assert {t.name: (t.typename, t.count) for t in bag.topics.values()} == topics
        # README spans are rounded to 2-3 significant digits
        assert bag.duration_ns / 1e9 == pytest.approx(duration_s, rel=0.01, abs=0.006)
        seen: dict[str, int] = {}
        last = bag.start_ns
        for m in bag.messages():
            assert m.log_time_ns >= last  # log-time order
            last = m.log_time_ns
            assert m.msg.__msgtype__ == m.typename
            seen[m.topic] = seen.get(m.topic, 0) + 1
        assert last == bag.end_ns
        assert seen == {name: count for name, (_, count) in topics.items()}
        assert bag.skipped == {}
        assert not bag.partial


def test_empty_storage_identifier_is_inferred_as_mcap(shared_data, caplog):
    path = shared_data / "event_camera_bags/event_camera_py/test_events_2"
    assert 'storage_identifier: ""' in (path / "metadata.yaml").read_text()
    with caplog.at_level("INFO"), open_bag(path) as bag:
        first = next(bag.messages())
    assert "inferred ['mcap']" in caplog.text
    assert first.msg.encoding == "libcaer_cmp"
    assert (first.msg.width, first.msg.height) == (346, 260)


def test_decoded_values_ros1_and_mcap(shared_data):
    with open_bag(shared_data / "evo_testdata/ROS_example.bag") as bag:
        m = next(bag.messages(["groundtruth"]))
    assert m.msg.header.frame_id == "groundtruth"
    assert stamp_to_ns(m.msg.header.stamp) == 1502792570283404827 == m.log_time_ns
    assert m.msg.pose.position.x == pytest.approx(-0.004899939787714927)
    with open_bag(shared_data / "evo_testdata/nav2_turtlebot.mcap") as bag:
        odom = next(bag.messages("/odom"))
        static = next(bag.messages(["/tf_static"]))
    assert (odom.msg.header.frame_id, odom.msg.child_frame_id) == ("odom", "base_link")
    assert odom.msg.pose.pose.position.x == pytest.approx(-2.8019166340612314)
    assert len(static.msg.transforms) >= 1


@pytest.mark.parametrize("ros1, ros2", [
    ("evo_testdata/tf_example.bag", "evo_testdata/tf_example"),
    ("event_camera_bags/event_camera_py/test_events_1.bag",
     "event_camera_bags/event_camera_py/test_events_1"),
])
def test_ros1_raw_messages_equal_the_rosbag2_copy(shared_data, ros1, ros2):
    """The READMEs say the rosbag2 folders are rosbags conversions of the ROS 1 bags: our ROS 1
    -> CDR conversion must give the same bytes, message for message."""
    with open_bag(shared_data / ros1) as a, open_bag(shared_data / ros2) as b:
        assert not a.is_ros2 and b.is_ros2
        pairs = list(zip(a.raw_messages(), b.raw_messages(), strict=True))
    assert len(pairs) == sum(t.count for t in a.topics.values())
    for ma, mb in pairs:
        assert (ma.topic, ma.typename, ma.log_time_ns) == (mb.topic, mb.typename, mb.log_time_ns)
        assert ma.data == mb.data


def test_topic_and_time_filters(shared_data):
    with open_bag(shared_data / "evo_testdata/nav2_turtlebot.mcap") as bag:
        everything = [(m.topic, m.log_time_ns) for m in bag.raw_messages()]
        t0 = bag.start_ns + 10 * 10**9
        t1 = bag.start_ns + 20 * 10**9
        window = [(m.topic, m.log_time_ns)
                  for m in bag.raw_messages(["/odom", "/amcl_pose"], start_ns=t0, end_ns=t1)]
    expected = [(t, s) for t, s in everything if t in ("/odom", "/amcl_pose") and t0 <= s < t1]
    assert window == expected
    assert 250 < len(window) < 300  # ~27 Hz odom + ~1.4 Hz amcl over 10 s


def test_unknown_topic_and_paths_raise_bag_error(shared_data, tmp_path):
    with open_bag(shared_data / "evo_testdata/tf_example") as bag:
        with pytest.raises(BagError, match="no topic"):
            next(bag.messages(["/nope"]))
    with pytest.raises(BagError, match="not found"):
        open_bag(tmp_path / "missing.mcap")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BagError, match="not a bag"):
        open_bag(tmp_path / "notes.txt")
    with pytest.raises(BagError, match="unknown bag format"):
        open_bag(shared_data / "evo_testdata/tf_example", format="zip")
    assert set(BAG_FORMATS) == {"rosbag2", "mcap", "sqlite3", "rosbag1"}


def test_bare_db3_file_opens_without_metadata(shared_data):
    with open_bag(shared_data / "evo_testdata/tf_example/tf_example.db3") as bag:
        assert bag.format == "sqlite3"
        assert {n: t.count for n, t in bag.topics.items()} == {"/tf": 517, "/tf_static": 1}
