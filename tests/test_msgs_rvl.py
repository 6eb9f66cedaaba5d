"""RVL depth codec: a known answer worked by hand from rvl_codec.cpp, round trips, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.errors import ConversionError
from slam_nodes.msgs.rvl import rvl_decode, rvl_encode


def test_known_answer_from_the_cpp_algorithm():
    # pixels 0 0 5 5 0: zeros=2 -> nibble 2; nonzeros=2 -> 2; delta 5 -> zigzag 10 -> 0xA, 0x1;
    # delta 0 -> 0; zeros=1 -> 1; nonzeros=0 -> 0. Nibbles 2 2 A 1 0 1 0 (+ one pad nibble)
    # fill one word MSB first: 0x22A10100, stored little endian.
    payload = rvl_encode(np.array([[0, 0, 5, 5, 0]], np.uint16))
    assert payload == bytes([5, 0, 0, 0, 1, 0, 0, 0, 0x00, 0x01, 0xA1, 0x22])
    np.testing.assert_array_equal(rvl_decode(payload), [[0, 0, 5, 5, 0]])


@pytest.mark.parametrize("shape,zero_fraction", [((1, 1), 0.0), ((3, 5), 0.5), ((48, 64), 0.3),
                                                 ((16, 16), 1.0), ((7, 9), 0.0)])
def test_round_trip_with_large_deltas(shape, zero_fraction):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 65536, shape).astype(np.uint16)  # deltas up to +-65535
    img[rng.random(shape) < zero_fraction] = 0
    np.testing.assert_array_equal(rvl_decode(rvl_encode(img)), img)


def test_smooth_depth_compresses():
    v, u = np.mgrid[0:120, 0:160]
    img = (1000 + 3 * u + 2 * v).astype(np.uint16)
    img[:, :20] = 0
    payload = rvl_encode(img)
    assert len(payload) < img.nbytes / 3  # small deltas take one or two nibbles
    np.testing.assert_array_equal(rvl_decode(payload), img)


def test_bad_payloads_raise():
    with pytest.raises(ConversionError, match="8-byte header"):
        rvl_decode(b"\x01\x00")
    with pytest.raises(ConversionError, match="size 0x"):
        rvl_decode(np.zeros(12, np.uint8))
    good = rvl_encode(np.arange(1, 101, dtype=np.uint16).reshape(10, 10))
    with pytest.raises(ConversionError, match="ends after"):
        rvl_decode(good[:20])
    huge = np.array([1 << 15, 1 << 15], "<u4").tobytes() + good[8:]
    with pytest.raises(ConversionError, match="size 32768x32768"):
        rvl_decode(huge)
    with pytest.raises(ConversionError, match="uint16"):
        rvl_encode(np.zeros((2, 2), np.float32))
