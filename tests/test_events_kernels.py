"""Compiled numba kernels against the numpy reference decoders (EVT3, EVT2, libcaer_cmp).

Both implementations must give bit-identical events (t, x, y, p and their dtypes), triggers,
errors and carried state after every packet (and the EVT3 kernel the true largest x and y),
on the real recordings in ../shared/data and on random word streams (hypothesis) cut into
random packets.
"""

from __future__ import annotations

import logging
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rosbags.highlevel import AnyReader

import slam_nodes.events
from slam_nodes.errors import ConfigError, DecodeError
from slam_nodes.events import backend, make_decoder, read_raw
from slam_nodes.events.evt2 import Evt2Codec
from slam_nodes.events.evt3 import Evt3Codec
from slam_nodes.events.packed import LibcaerCmpCodec
from slam_nodes.events.raw import parse_raw_header
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.optional import has_module

pytestmark = pytest.mark.skipif(not has_module("numba"),
                                reason="numba is not installed")
PACKET = "event_camera_msgs/msg/EventPacket"
FIELDS = ("t", "x", "y", "p", "trig_t", "trig_edge", "trig_id")
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _decode(codec, buf, time_base):
    try:
        return codec.decode(buf, time_base)
    except DecodeError as err:
        return err


def _compare(cls, packets, time_base: int = 0) -> tuple[int, int]:
    """Decode packets with both implementations; assert identical outputs and state after
    each packet. Returns (events, triggers) decoded."""
    ref, fast = cls("numpy"), cls("numba")
    assert (ref.implementation, fast.implementation) == ("numpy", "numba")
    n_ev = n_trig = 0
    for i, buf in enumerate(packets):
        a, b = _decode(ref, buf, time_base), _decode(fast, buf, time_base)
        if isinstance(a, DecodeError):
            assert isinstance(b, DecodeError) and str(b) == str(a), f"packet {i}"
        else:
            for f in FIELDS:
                fa, fb = getattr(a, f), getattr(b, f)
                assert fa.dtype == fb.dtype, (i, f, fa.dtype, fb.dtype)
                np.testing.assert_array_equal(fb, fa, err_msg=f"packet {i} field {f}")
            if b.xy_max is not None:  # found in passing by the EVT3 kernel
                assert b.xy_max == ((int(a.x.max()), int(a.y.max())) if len(a.x) else (0, 0))
            n_ev += len(a.t)
            n_trig += len(a.trig_t)
        assert fast.state() == ref.state(), f"state after packet {i}"
    return n_ev, n_trig


def _split(buf: np.ndarray, word: int, rng: np.random.Generator, n_cuts: int) -> list:
    """buf cut at n_cuts random word boundaries (empty packets included)."""
    n = len(buf) // word
    cuts = np.sort(rng.integers(0, n + 1, n_cuts)) * word
    edges = np.concatenate([[0], cuts, [len(buf)]])
    return [buf[a:b] for a, b in zip(edges[:-1], edges[1:])]


# ------------------------------------------------------------------ real recordings
def _bag_packets(path) -> list[np.ndarray]:
    with AnyReader([path], default_typestore=get_typestore()) as reader:
        return [np.asarray(reader.deserialize(raw, con.msgtype).events)
                for con, _, raw in reader.messages()]


def _raw_body(path) -> np.ndarray:
    data = path.read_bytes()
    return np.frombuffer(data, dtype=np.uint8)[parse_raw_header(data)[1]:]


def test_evt3_trigger_bag_identical(shared_data):
    packets = _bag_packets(shared_data / "event_camera_bags/event_camera_codecs/"
                                         "test_data_evt3_trigger")
    assert _compare(Evt3Codec, packets) == (82469, 2)


def test_evt3_event_camera_py_bag_identical(shared_data):
    packets = _bag_packets(shared_data / "event_camera_bags/event_camera_py/test_events_1")
    assert _compare(Evt3Codec, packets) == (218291 + 125183, 2078 + 2079)


def test_evt3_raw_identical_whole_and_in_odd_chunks(shared_data):
    body = _raw_body(shared_data / "event_files/prophesee_raw/evt3_sample.raw")
    assert _compare(Evt3Codec, [body]) == (219596, 0)
    chunks = _split(body, 2, np.random.default_rng(1), 150)
    assert _compare(Evt3Codec, chunks) == (219596, 0)


def test_evt2_raw_identical_whole_and_in_odd_chunks(shared_data):
    body = _raw_body(shared_data / "event_files/prophesee_raw/evt2_sample.raw")
    assert _compare(Evt2Codec, [body]) == (171626 + 367855, 0)
    chunks = _split(body, 4, np.random.default_rng(2), 150)
    assert _compare(Evt2Codec, chunks) == (171626 + 367855, 0)
    fast, _, _ = read_raw(shared_data / "event_files/prophesee_raw/evt2_sample.raw")
    ref, _, _ = read_raw(shared_data / "event_files/prophesee_raw/evt2_sample.raw",
                         implementation="numpy")
    for f in ("t", "x", "y", "p"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(ref, f))


def test_libcaer_cmp_mcap_identical(shared_data):
    from mcap.reader import make_reader
    store = get_typestore()
    packets, bases = [], []
    with open(shared_data / "event_camera_bags/event_camera_py/test_events_2/"
                            "test_events_2_0.mcap", "rb") as f:
        for schema, _, message in make_reader(f).iter_messages():
            msg = store.deserialize_cdr(message.data, schema.name)
            packets.append(np.asarray(msg.events))
            bases.append(int(msg.time_base))
    ref, fast = LibcaerCmpCodec("numpy"), LibcaerCmpCodec("numba")
    n = 0
    for buf, base in zip(packets, bases):
        a, b = ref.decode(buf, base), fast.decode(buf, base)
        for f in FIELDS:
            np.testing.assert_array_equal(getattr(b, f), getattr(a, f))
            assert getattr(b, f).dtype == getattr(a, f).dtype
        assert fast.state() == ref.state()
        n += len(a.t)
    assert n >= 360223 + 211043  # in-bounds counts of test_events_libcaer_cmp_counts_from_mcap


# ------------------------------------------------------------------ random streams
# word codes with weights: common event/time words, rare triggers, ignored and undefined ones
_EVT3_CODES = np.array([0, 2, 3, 4, 5, 6, 8, 10, 7, 9, 14, 15, 1, 11, 12, 13])
_EVT3_W = np.array([10, 30, 6, 8, 6, 10, 4, 2, 1, 1, 1, 1, 0, 0, 0, 0], dtype=float)


def _evt3_words(rng, n: int, vectors: bool, undefined: bool) -> np.ndarray:
    w = _EVT3_W.copy()
    if vectors:  # mostly full vectors: many events per word, outputs must grow
        w[[3, 4, 5]] = [4, 60, 30]
    if undefined:
        w[12:] = 0.05
    code = rng.choice(_EVT3_CODES, n, p=w / w.sum())
    payload = rng.integers(0, 4096, n)
    if vectors:
        payload = np.where(rng.random(n) < 0.7, 0xFFF, payload)
    # TIME_HIGH: mostly steps of -12..+12 from the previous one (backsteps of 11 and 12 are
    # rollovers, up to 10 are not), sometimes wild
    is_high = np.flatnonzero(code == 8)
    high = np.cumsum(rng.integers(-12, 13, len(is_high))) % 4096
    payload[is_high] = np.where(rng.random(len(is_high)) < 0.8, high, payload[is_high])
    return ((code << 12) | payload).astype("<u2")


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 4000), st.integers(0, 12), st.booleans(),
       st.booleans())
def test_evt3_random_streams_identical(seed, n, n_cuts, vectors, undefined):
    rng = np.random.default_rng(seed)
    buf = _evt3_words(rng, n, vectors, undefined).view(np.uint8)
    _compare(Evt3Codec, _split(buf, 2, rng, n_cuts))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(1, 4000), st.integers(1, 12), st.booleans())
def test_evt3_split_equals_whole_once_time_is_valid(seed, n, n_cuts, vectors):
    """After a valid time, cutting the stream anywhere changes nothing (numba alone)."""
    rng = np.random.default_rng(seed)
    buf = _evt3_words(rng, n, vectors, False).view(np.uint8)
    start = np.array([0x8000 | 7, 0x6000 | 9], "<u2").view(np.uint8)
    whole, parts = Evt3Codec("numba"), Evt3Codec("numba")
    whole.decode(start)
    parts.decode(start)
    a = whole.decode(buf)
    pieces = [parts.decode(b) for b in _split(buf, 2, rng, n_cuts)]
    for f in FIELDS:
        np.testing.assert_array_equal(np.concatenate([getattr(p, f) for p in pieces]),
                                      getattr(a, f))
    assert whole.state() == parts.state()


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 4000), st.integers(0, 12), st.booleans())
def test_evt2_random_streams_identical(seed, n, n_cuts, undefined):
    rng = np.random.default_rng(seed)
    types = np.array([0, 1, 8, 10, 14, 15, 2, 9, 12])
    w = np.array([40, 40, 6, 3, 1, 1, 0.05, 0.05, 0.05]) if undefined else \
        np.array([40, 40, 6, 3, 1, 1, 0, 0, 0])
    kind = rng.choice(types, n, p=w / w.sum()).astype(np.uint32)
    payload = rng.integers(0, 1 << 28, n).astype(np.uint32)
    high = (np.cumsum(rng.integers(-2, 50, n)) % (1 << 28)).astype(np.uint32)
    payload = np.where((kind == 8) & (rng.random(n) < 0.8), high, payload)
    buf = ((kind << 28) | payload).astype("<u4").view(np.uint8)
    _compare(Evt2Codec, _split(buf, 4, rng, n_cuts))


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.integers(0, 3000), st.integers(0, 12),
       st.integers(0, 2**62))
def test_libcaer_cmp_random_streams_identical(seed, n, n_cuts, time_base):
    rng = np.random.default_rng(seed)
    w = np.array([5, 5, 8, 30, 6, 20, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1], dtype=float)
    code = rng.choice(16, n, p=w / w.sum())
    payload = np.where(rng.random(n) < 0.5, 0xFF, rng.integers(0, 4096, n))
    buf = ((code << 12) | payload).astype("<u2").view(np.uint8)
    _compare(LibcaerCmpCodec, _split(buf, 2, rng, n_cuts), time_base)


def test_vector_base_wraps_at_16_bits_identical():
    """6000 full VECT_12 words after one base: 72000 events (outputs grow), base wraps."""
    evt3 = np.concatenate([[0x8000, 0x6000, 0x0000 | 3, 0x3000 | 0x800 | 2000],
                           np.full(6000, 0x4FFF), [0x5000 | 0x81]]).astype("<u2")
    assert _compare(Evt3Codec, [evt3.view(np.uint8)]) == (72002, 0)
    cmp = np.concatenate([[0x2000 | 5, 0x4000 | 2000], np.full(6000, 0x50FF)]).astype("<u2")
    _compare(LibcaerCmpCodec, [cmp.view(np.uint8)], 10)
    fast = LibcaerCmpCodec("numba")
    out = fast.decode(cmp.view(np.uint8), 10)
    assert len(out.t) == 48000 and fast.state() == (5, (2000 + 48000) & 0xFFFF, 0)


def test_odd_byte_counts_and_read_only_buffers_identical():
    words = np.array([0x8000 | 3, 0x6000 | 1, 0x0000 | 5, 0x2000 | 9, 0x4FFF], "<u2")
    data = words.tobytes() + b"\x07"  # trailing partial word: dropped with a warning
    raw = np.frombuffer(data, np.uint8)
    for buf in (raw, raw.copy(), np.frombuffer(b"\0" + data, np.uint8)[1:],
                np.repeat(raw, 2)[::2]):  # read-only, writable, unaligned, strided
        assert _compare(Evt3Codec, [buf]) == (13, 0)


# ------------------------------------------------------------------ implementation choice
def test_numba_is_the_default_and_names_are_checked():
    dec = make_decoder(PACKET)
    assert dec.implementation == "numba"
    dec.decode_packet("evt3", np.array([0x8000, 0x6000], "<u2").view(np.uint8), 0, 64, 64)
    assert dec._codecs["evt3"].implementation == "numba"
    assert make_decoder(PACKET, implementation="numpy").implementation == "numpy"
    assert Evt2Codec().implementation == "numba" and LibcaerCmpCodec().implementation == "numba"
    with pytest.raises(ConfigError, match="implementation"):
        make_decoder(PACKET, implementation="cuda")


def test_fallback_without_numba_warns_once_and_numba_request_fails(monkeypatch, caplog):
    """A real failed import of numba (sys.modules entry None), not a stand-in."""
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.delitem(sys.modules, "slam_nodes.events._kernels")
    monkeypatch.delattr(slam_nodes.events, "_kernels")
    monkeypatch.setattr(backend, "_state", {"warned": False, "kernels": None,
                                            "import_error": None})
    with caplog.at_level(logging.WARNING, logger="slam_nodes.events.backend"):
        assert make_decoder(PACKET).implementation == "numpy"
        assert Evt3Codec().implementation == "numpy"
    assert len([r for r in caplog.records if "numba" in r.getMessage()]) == 1
    with pytest.raises(ImportError, match="pip install numba"):
        Evt3Codec("numba")
    batch, _ = make_decoder(PACKET).decode_packet(
        "evt3", np.array([0x8000, 0x6000 | 2, 0x2000 | 4], "<u2").view(np.uint8), 0, 64, 64)
    assert batch.x.tolist() == [4] and batch.t.tolist() == [2000]
