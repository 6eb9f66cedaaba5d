"""Property-based round trips (encode -> message -> decode) and robustness to random bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slam_nodes.errors import DecodeError
from slam_nodes.events import (dvs_event_array_cdr, dvs_event_array_msg, encode_evt3,
                               event_packet_msg, make_decoder)
from slam_nodes.events.decoder import CODECS
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import EventBatch

PACKET = "event_camera_msgs/msg/EventPacket"
DVS = "dvs_msgs/msg/EventArray"
W, H = 1280, 720
SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@st.composite
def event_sets(draw, max_gap_us: int, t0_max_us: int, shuffle: bool = False):
    """Random events: sensor times in µs (as ns), gaps up to max_gap_us, random x/y/p."""
    n = draw(st.integers(0, 200))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # a mix of equal stamps, small steps and large jumps (crossing TIME_HIGH and rollovers)
    kind = rng.integers(0, 3, n)
    gaps = np.where(kind == 0, 0, np.where(kind == 1, rng.integers(1, 5000, n),
                                           rng.integers(0, max_gap_us + 1, n)))
    t0 = draw(st.integers(0, t0_max_us))
    if n:
        gaps[0] = 0
    t = (t0 + np.cumsum(gaps)) * 1000
    batch = EventBatch(t, rng.integers(0, W, n), rng.integers(0, H, n),
                       rng.choice(np.array([-1, 1]), n), W, H)
    if shuffle and n:
        batch = batch.select(rng.permutation(n))
    return batch


def _assert_same(a: EventBatch, b: EventBatch) -> None:
    np.testing.assert_array_equal(a.t, b.t)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    np.testing.assert_array_equal(a.p, b.p)


@SETTINGS
@given(event_sets(max_gap_us=60_000_000, t0_max_us=(1 << 24) - 1, shuffle=True))
def test_evt3_round_trip_single_packet(batch):
    msg = event_packet_msg(batch, "evt3", 123, "cam")
    out, trig = make_decoder(PACKET).decode(msg)
    _assert_same(out, batch.sorted())
    assert len(trig) == 0 and (out.width, out.height) == (W, H)


@SETTINGS
@given(event_sets(max_gap_us=3_000_000, t0_max_us=(1 << 24) - 1), st.integers(1, 8))
def test_evt3_round_trip_across_packets(batch, n_packets):
    """Time-high/rollover state carries across packets: decode packet by packet."""
    dec = make_decoder(PACKET)
    cuts = np.linspace(0, len(batch), n_packets + 1).astype(int)
    outs = [dec.decode(event_packet_msg(batch.select(slice(a, b)), "evt3", 0, "cam"))[0]
            for a, b in zip(cuts[:-1], cuts[1:])]
    _assert_same(EventBatch.concatenate(outs), batch)


@SETTINGS
@given(event_sets(max_gap_us=50_000, t0_max_us=10**9, shuffle=True), st.integers(0, 2**40))
def test_mono_round_trip(batch, base):
    shifted = EventBatch(batch.t + base * 1000, batch.x, batch.y, batch.p, W, H)
    out, _ = make_decoder(PACKET).decode(event_packet_msg(shifted, "mono", 5, "cam"))
    _assert_same(out, shifted.sorted())


@SETTINGS
@given(event_sets(max_gap_us=2_000_000, t0_max_us=10**10, shuffle=True))
def test_dvs_round_trip_cdr_and_ros1(batch):
    store = get_typestore()
    msg = dvs_event_array_msg(batch, 1_700_000_000_123_456_789, "dvs")
    cdr = bytes(store.serialize_cdr(msg, DVS))
    assert dvs_event_array_cdr(batch, 1_700_000_000_123_456_789, "dvs") == cdr
    ros1 = _ros1_dvs_bytes(batch, 1_700_000_000_123_456_789, "dvs")
    dec = make_decoder(DVS)
    for out, _ in (dec.decode(msg), dec.decode_serialized(cdr),
                   dec.decode_serialized(ros1, ros1=True)):
        _assert_same(out, batch)  # dvs keeps the message order
    assert dec.num_messages == 3


def _ros1_dvs_bytes(batch: EventBatch, stamp_ns: int, frame_id: str) -> bytes:
    """ROS 1 bytes of a dvs_msgs/EventArray made by rosbags' ROS 1 (Noetic) typestore."""
    from rosbags.typesys import Stores, get_types_from_msg
    from rosbags.typesys import get_typestore as rosbags_store
    store = rosbags_store(Stores.ROS1_NOETIC)
    types = get_types_from_msg("uint16 x\nuint16 y\ntime ts\nbool polarity", "dvs_msgs/msg/Event")
    types.update(get_types_from_msg("std_msgs/Header header\nuint32 height\nuint32 width\n"
                                    "dvs_msgs/Event[] events", DVS))
    store.register(types)
    time_cls = store.types["builtin_interfaces/msg/Time"]
    event_cls = store.types["dvs_msgs/msg/Event"]
    events = [event_cls(x=int(x), y=int(y), ts=time_cls(sec=int(t) // 10**9,
                                                         nanosec=int(t) % 10**9),
                        polarity=bool(p > 0))
              for x, y, t, p in zip(batch.x, batch.y, batch.t, batch.p)]
    header = store.types["std_msgs/msg/Header"](
        seq=7, stamp=time_cls(sec=stamp_ns // 10**9, nanosec=stamp_ns % 10**9),
        frame_id=frame_id)
    msg = store.types[DVS](header=header, height=batch.height, width=batch.width, events=events)
    return bytes(store.serialize_ros1(msg, DVS))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(CODECS)), st.binary(max_size=600), st.integers(0, 2**63 - 1))
def test_random_bytes_only_raise_decode_error(encoding, data, time_base):
    dec = make_decoder(PACKET)
    try:
        batch, trig = dec.decode_packet(encoding, data, time_base, 640, 480)
    except DecodeError:
        return
    assert len(batch) == 0 or (int(batch.x.max()) < 640 and int(batch.y.max()) < 480)
    assert set(np.unique(batch.p).tolist()) <= {-1, 1}


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([PACKET, DVS]), st.booleans())
def test_random_serialized_bytes_only_raise_decode_error(data, typename, ros1):
    try:
        make_decoder(typename).decode_serialized(data, ros1=ros1)
    except DecodeError:
        pass


def test_encode_evt3_rejects_bad_input():
    from slam_nodes.errors import ConversionError
    with pytest.raises(ConversionError):
        encode_evt3(EventBatch([-1000], [0], [0], [1]))
    with pytest.raises(ConversionError):
        encode_evt3(EventBatch([0], [4096], [0], [1]))
    with pytest.raises(ConversionError):
        event_packet_msg(EventBatch([0], [0], [0], [1]), "libcaer", 0, "cam")
