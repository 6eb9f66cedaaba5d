"""Event decoders against real recordings and the upstream oracle checksums.

Oracle values: ../shared/data/event_camera_bags/README.txt (event_camera_codecs
test/decoder_test.cpp and event_camera_py tests/test_1.py, test_2.py).
Bags are read directly with rosbags (and the mcap package for the bag whose metadata has an
empty storage_identifier).
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
from rosbags.highlevel import AnyReader

from slam_nodes.errors import DecodeError
from slam_nodes.events import make_decoder
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import EventBatch, TriggerEvents

EVENT_PACKET_T = "event_camera_msgs/msg/EventPacket"


def _read_msgs(path):
    with AnyReader([path], default_typestore=get_typestore()) as reader:
        return [(con.msgtype, reader.deserialize(raw, con.msgtype))
                for con, _, raw in reader.messages()]


def _decode_all(path):
    msgs = _read_msgs(path)
    decoder = make_decoder(msgs[0][0], topic="/event_camera/events")
    out = [decoder.decode(m) for _, m in msgs]
    batch = EventBatch.concatenate([b for b, _ in out])
    trig = TriggerEvents(np.concatenate([t.t for _, t in out]),
                         np.concatenate([t.polarity for _, t in out]),
                         np.concatenate([t.id for _, t in out]))
    return batch, trig, decoder


def _sums(batch):
    return (int(batch.t.sum()), int(batch.x.astype(np.int64).sum()),
            int(batch.y.astype(np.int64).sum()), batch.num_on)


@pytest.fixture(scope="module")
def bags(shared_data):
    return shared_data / "event_camera_bags"


def test_evt3_trigger_matches_event_camera_codecs(bags):
    batch, trig, dec = _decode_all(bags / "event_camera_codecs/test_data_evt3_trigger")
    assert _sums(batch) == (1222326831810000, 42078718, 31656267, 41439)
    assert len(batch) == 82469 and batch.num_off == 41030
    assert (int(trig.t.sum()), int(trig.polarity.sum()), int(trig.id.sum())) == (
        29096982000, 1, 0)
    assert batch.width == 1280 and batch.height == 720
    assert np.all(np.diff(batch.t) >= 0)
    assert dec.dropped_out_of_bounds == 0 and dec.num_messages == 105


def test_mono_legacy_event_array_matches(bags):
    batch, trig, _ = _decode_all(bags / "event_camera_codecs/test_data_mono_cd")
    assert _sums(batch) == (4950000, 34450, 26450, 50)
    assert len(trig) == 0


def test_libcaer_rollover_matches(bags):
    msgs = _read_msgs(bags / "event_camera_codecs/test_data_libcaer_rollover")
    dec = make_decoder(msgs[0][0])
    out = [dec.decode(m)[0] for _, m in msgs]
    batch = EventBatch.concatenate(out)
    # upstream sums t as uint64 with wrap-around
    assert int(batch.t.view(np.uint64).sum(dtype=np.uint64)) == 15762826572202229126
    assert _sums(batch)[1:] == (111651612, 82801007, 181908)
    assert int(out[1].t[0]) == 1702309120772229018  # first event of the second packet
    assert int(out[0].t[0]) == 1702309120762236018


def test_event_camera_py_evt3_counts_ros2_and_ros1(bags):
    for name in ("test_events_1", "test_events_1.bag"):
        path = bags / "event_camera_py" / name
        batch, trig, _ = _decode_all(path)
        assert (batch.num_off, batch.num_on) == (218291, 125183)
        assert int((batch.t // 1000).sum() + (trig.t // 1000).sum()) == 2885601049874
        # upstream's check_count compares the p=0 count twice; the true p=1 count is 2079
        assert (int(np.sum(trig.polarity == 0)), int(np.sum(trig.polarity == 1))) == (2078, 2079)


def test_libcaer_cmp_counts_from_mcap(bags):
    from mcap.reader import make_reader
    store = get_typestore()
    dec = make_decoder("event_camera_msgs/msg/EventPacket")
    batches, bases = [], []
    with open(bags / "event_camera_py/test_events_2/test_events_2_0.mcap", "rb") as f:
        for schema, _, message in make_reader(f).iter_messages():
            msg = store.deserialize_cdr(message.data, schema.name)
            bases.append(msg.time_base)
            batches.append(dec.decode(msg)[0])
    batch = EventBatch.concatenate(batches)
    assert (batch.num_off, batch.num_on) == (360223, 211043)
    assert batch.width == 346 and batch.height == 260
    # first sensor time upstream reports for this bag (µs) is the first time_base
    assert bases[0] // 1000 == 1744227144732712
    assert all(int(b.t.min()) >= base for b, base in zip(batches, bases) if len(b))


def test_evt3_state_carries_across_packets(bags):
    """Splitting a stream at any word boundary must not change the result."""
    msgs = _read_msgs(bags / "event_camera_codecs/test_data_evt3_trigger")[:20]
    stream = np.concatenate([m.events for _, m in msgs])
    whole, _ = make_decoder("event_camera_msgs/msg/EventPacket").decode_packet(
        "evt3", stream, 0, 1280, 720)
    dec = make_decoder("event_camera_msgs/msg/EventPacket")
    cuts = np.arange(0, len(stream), 2 * 37)  # odd-sized pieces, cut mid-row
    pieces = [dec.decode_packet("evt3", stream[a:a + 74], 0, 1280, 720)[0] for a in cuts]
    joined = EventBatch.concatenate(pieces)
    np.testing.assert_array_equal(joined.t, whole.t)
    np.testing.assert_array_equal(joined.x, whole.x)
    np.testing.assert_array_equal(joined.y, whole.y)


def test_evt3_vectors_and_rollover_hand_built():
    words = np.array([
        0x8000 | 0xFFF, 0x6000 | 5,          # time high 4095, low 5 -> t = 4095<<12 | 5 µs
        0x0000 | 7,                          # y = 7
        0x3000 | (1 << 11) | 100,            # vector base x = 100, ON
        0x4000 | 0b1000_0000_0101,           # VECT_12: x = 100, 102, 111; base -> 112
        0x5000 | 0b1000_0001,                # VECT_8: x = 112, 119; base -> 120
        0x2000 | 3,                          # ADDR_X x=3 OFF
        0x8000 | 0x001, 0x6000 | 1,          # high wraps 4095 -> 1: rollover (+2^24 µs)
        0x2000 | (1 << 11) | 9,              # ADDR_X x=9 ON
        0xA000 | (3 << 8) | 1,               # trigger id 3, edge 1
    ], dtype="<u2")
    batch, trig = make_decoder("event_camera_msgs/msg/EventPacket").decode_packet(
        "evt3", words.view(np.uint8), 0, 1280, 720)
    t0 = ((0xFFF << 12) | 5) * 1000
    t1 = ((1 << 24) | (1 << 12) | 1) * 1000
    assert batch.x.tolist() == [100, 102, 111, 112, 119, 3, 9]
    assert batch.y.tolist() == [7] * 7
    assert batch.p.tolist() == [1, 1, 1, 1, 1, -1, 1]
    assert batch.t.tolist() == [t0] * 6 + [t1]
    assert trig.t.tolist() == [t1] and trig.id.tolist() == [3] and trig.polarity.tolist() == [1]


def test_events_before_first_time_are_skipped_and_small_backsteps_ignored():
    words = np.array([0x2000 | 1, 0x6000 | 2, 0x8000 | 20, 0x2000 | 2, 0x6000 | 3, 0x2000 | 4,
                      0x8000 | 15, 0x6000 | 4, 0x2000 | 5], dtype="<u2")
    batch, _ = make_decoder("event_camera_msgs/msg/EventPacket").decode_packet(
        "evt3", words.view(np.uint8), 0, 640, 480)
    assert batch.x.tolist() == [4, 5]  # x=1, x=2 precede the first TIME_HIGH + TIME_LOW
    # 20 -> 15 is a back step of 5 < 10: no rollover
    assert batch.t.tolist() == [((20 << 12) | 3) * 1000, ((15 << 12) | 4) * 1000]


def test_out_of_bounds_events_dropped_counted_and_logged(caplog):
    words = np.array([0x8000, 0x6000, 0x0000 | 479, 0x2000 | 639, 0x2000 | 640,
                      0x0000 | 480, 0x2000 | 1], dtype="<u2")
    dec = make_decoder("event_camera_msgs/msg/EventPacket", topic="/cam/events")
    with caplog.at_level(logging.WARNING):
        batch, _ = dec.decode_packet("evt3", words.view(np.uint8), 0, 640, 480, stamp_ns=77)
    assert batch.x.tolist() == [639] and batch.y.tolist() == [479]
    assert dec.dropped_out_of_bounds == 2
    assert "/cam/events" in caplog.text and "77" in caplog.text


def test_bad_input_raises_decode_error():
    dec = make_decoder("event_camera_msgs/msg/EventPacket")
    with pytest.raises(DecodeError, match="unsupported event encoding"):
        dec.decode_packet("evt4", b"\0" * 8, 0, 640, 480)
    with pytest.raises(DecodeError, match="undefined word code"):
        dec.decode_packet("evt3", np.array([0xB000], "<u2").view(np.uint8), 0, 640, 480)
    with pytest.raises(DecodeError):
        make_decoder("sensor_msgs/msg/Image")
    with pytest.raises(DecodeError):
        dec.decode_serialized(b"\x00\x01\x00\x00garbage")


def test_decode_many_equals_one_by_one_and_skips_bad(bags):
    msgs = [m for _, m in _read_msgs(bags / "event_camera_py/test_events_1")]
    one = make_decoder(EVENT_PACKET_T)
    ref = EventBatch.concatenate([one.decode(m)[0] for m in msgs])
    bad = copy.copy(msgs[40])
    bad.events = np.array([0x00, 0xB0], dtype=np.uint8)  # undefined code 11
    many = make_decoder(EVENT_PACKET_T)
    batch, trig = many.decode_many(msgs[:40] + [bad] + msgs[40:])
    np.testing.assert_array_equal(batch.t, ref.t)
    np.testing.assert_array_equal(batch.x, ref.x)
    assert len(trig) == 4157 and many.num_skipped == 1
    assert many.num_messages == len(msgs)


def test_evt3_valid_time_pair_split_across_internal_blocks():
    from slam_nodes.events.base import BLOCK_WORDS
    words = np.full(BLOCK_WORDS + 4, 0x2000 | 5, dtype="<u2")  # ADDR_X before any time
    words[BLOCK_WORDS - 1] = 0x8000 | 3  # TIME_HIGH ends the first block
    words[BLOCK_WORDS:BLOCK_WORDS + 3] = [0x6000 | 9, 0x0000 | 4, 0x2000 | 6]
    batch, _ = make_decoder(EVENT_PACKET_T).decode_packet("evt3", words.view(np.uint8), 0,
                                                          640, 480)
    assert batch.x.tolist() == [6, 5] and batch.y.tolist() == [4, 4]
    assert batch.t.tolist() == [((3 << 12) | 9) * 1000] * 2


def test_trigger_and_libcaer_hand_built():
    dec = make_decoder(EVENT_PACKET_T)
    rec = np.array([5 | (3 << 48) | (1 << 63), 9 | (2 << 48)], dtype="<u8")
    batch, trig = dec.decode_packet("trigger", rec.view(np.uint8), 1000, 640, 480)
    assert len(batch) == 0
    assert trig.t.tolist() == [1005, 1009] and trig.id.tolist() == [3, 2]
    assert trig.polarity.tolist() == [1, 0]
    # libcaer: {data: x<<17 | y<<2 | p<<1 | valid, int32 µs}; 2^31-1 -> 5 is a rollover
    data = np.array([(10 << 17) | (20 << 2) | 2 | 1, (11 << 17) | (21 << 2) | 1], dtype="<u4")
    ts = np.array([2**31 - 1, 5], dtype="<i4")
    rec = np.stack([data, ts.view("<u4")], axis=1).reshape(-1)
    batch, _ = dec.decode_packet("libcaer", rec.view(np.uint8), 7_000, 640, 480)
    assert batch.x.tolist() == [10, 11] and batch.y.tolist() == [20, 21]
    assert batch.p.tolist() == [1, -1]
    assert batch.t.tolist() == [7_000 + (2**31 - 1) * 1000, 7_000 + (2**31 + 5) * 1000]


def test_header_time_reference_keeps_sensor_intervals(bags):
    msgs = [m for _, m in _read_msgs(bags / "event_camera_codecs/test_data_evt3_trigger")]
    sensor = make_decoder(EVENT_PACKET_T)
    header = make_decoder(EVENT_PACKET_T, time_reference="header")
    a = EventBatch.concatenate([sensor.decode(m)[0] for m in msgs])
    per_packet = [header.decode(m)[0] for m in msgs]
    b = EventBatch.concatenate(per_packet)
    stamps = [m.header.stamp.sec * 10**9 + m.header.stamp.nanosec for m in msgs]
    assert int(b.t[0]) == stamps[0]
    np.testing.assert_array_equal(b.t - a.t, np.full(len(a), header.clock_offset_ns))
    # with one fixed offset, every packet's first event stays within 20 ms of its stamp
    drift = [abs(int(e.t[0]) - s) for e, s in zip(per_packet, stamps) if len(e)]
    assert max(drift) < 20_000_000
