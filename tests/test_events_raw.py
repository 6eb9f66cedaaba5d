"""Prophesee RAW reader against real EVT2/EVT3 recordings (../shared/data/event_files)."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.errors import DecodeError
from slam_nodes.events import iter_raw, read_aedat4, read_raw
from slam_nodes.events.raw import parse_raw_header


@pytest.fixture(scope="module")
def raw_dir(shared_data):
    return shared_data / "event_files" / "prophesee_raw"


def test_evt3_raw_matches_reference_xyp(raw_dir):
    batch, trig, header = read_raw(raw_dir / "evt3_sample.raw")
    assert header["format"] == "EVT3" and header["plugin_name"] == "hal_plugin_gen41_evk3"
    assert (header["width"], header["height"]) == (1280, 720)
    assert len(batch) == 219596 and len(trig) == 0
    ref = np.load(raw_dir / "evt3_sample.npy")
    np.testing.assert_array_equal(batch.x, ref["x"])
    np.testing.assert_array_equal(batch.y, ref["y"])
    np.testing.assert_array_equal(batch.p, np.where(ref["p"] > 0, 1, -1))
    # ~8.8 ms of data, in time order (the reference's t column is known to be off; see README)
    span_ms = (batch.t[-1] - batch.t[0]) / 1e6
    assert 8.7 < span_ms < 8.9 and np.all(np.diff(batch.t) >= 0)


def test_evt2_raw_counts(raw_dir):
    batch, _, header = read_raw(raw_dir / "evt2_sample.raw")
    assert header["format"] == "EVT2" and (header["width"], header["height"]) == (640, 480)
    assert (batch.num_off, batch.num_on) == (171626, 367855)
    assert int(batch.x.max()) == 599 and int(batch.y.max()) == 475
    assert np.all(np.diff(batch.t) >= 0)


@pytest.mark.parametrize("name", ["evt2_sample.raw", "evt3_sample.raw"])
def test_chunked_reading_equals_whole(raw_dir, name):
    whole, _, _ = read_raw(raw_dir / name)
    parts = [b for b, _ in iter_raw(raw_dir / name, chunk_bytes=4096 + 4)]
    assert len(parts) > 10
    np.testing.assert_array_equal(np.concatenate([p.t for p in parts]), whole.t)
    np.testing.assert_array_equal(np.concatenate([p.x for p in parts]), whole.x)


def test_header_parsing_and_errors(tmp_path):
    header, pos = parse_raw_header(b"% geometry 320x240\n% format EVT3;height=9;width=9\n"
                                   b"% end\n\x01\x02")
    assert (header["width"], header["height"], header["format"], pos) == (320, 240, "EVT3", 56)
    path = tmp_path / "x.raw"
    path.write_bytes(b"% evt 2.1\n\0\0\0\0")
    with pytest.raises(DecodeError, match="not supported"):
        read_raw(path)
    path.write_bytes(b"% evt 2.0\n" + np.array([0x5000_0000], "<u4").tobytes())
    with pytest.raises(DecodeError, match="byte 10"):
        read_raw(path)


def test_aedat4_events_match_the_files_own_data_table(shared_data, tmp_path):
    path = shared_data / "event_files" / "davis_aedat4" / "sample.aedat4"
    batch, trig, info = read_aedat4(path)
    # tonic's "118651" counts 8-byte records of the whole file (an AEDAT2/3 reader applied to
    # an AEDAT4 file); the recorder's own data table lists the true number of events
    assert len(batch) == info["table_counts"][0] == 111954
    assert (batch.num_on, batch.num_off) == (55023, 56931)
    assert (batch.width, batch.height) == (320, 240)
    assert int(batch.x.max()) == 319 and int(batch.y.max()) == 239
    assert np.all(np.diff(batch.t) >= 0) and 0.58 < (batch.t[-1] - batch.t[0]) / 1e9 < 0.6
    assert batch.t[0] // 1000 >= 1605507430438338  # after the stream's tsOffset (µs)
    assert len(trig) == 0
    bad = tmp_path / "cut.aedat4"
    bad.write_bytes(path.read_bytes()[:20000])
    with pytest.raises(DecodeError):
        read_aedat4(bad)
