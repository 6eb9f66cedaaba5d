"""Event decoding throughput: our vectorised decoders vs a plain numpy pass over the same bytes.

    .venv/bin/python -m benchmarks.bench_events [--events 2000000] [--repeats 5]

Rows (all through the public EventDecoder, including bounds checks and EventBatch building):
- evt3 ADDR_X:   synthetic sensor stream made by encode_evt3 (one ADDR_X per event, TIME_LOW and
                 ADDR_Y words where time/row change), decoded in 1 MiB packets;
- evt3 vectors:  the real Gen4.1 recording ../shared/data/event_files/prophesee_raw/evt3_sample.raw
                 (VECT_12/VECT_8 words), tiled, decoded in 1 MiB packets (skipped without data);
- evt3 bag:      the real event_camera_py test_events_1 bag (517 messages, ~660 events each),
                 decoded per message (per-message overhead included) and with decode_many
                 (consecutive packets joined); skipped without data;
- mono, dvs CDR: synthetic, 1 MiB-ish packets.
The "plain pass" decodes nothing: np.frombuffer + the shifts/masks that extract code, x and
polarity from every word (mono: t, x, y, p; dvs: the struct fields). Ratio = ours / plain time.
Targets (issue 2): evt3 >= 30 M events/s on one core, within 5x of the plain pass.
numpy runs these operations on one core. Timings are the best of --repeats runs.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from slam_nodes.events import dvs_event_array_cdr, encode_evt3, encode_mono, make_decoder
from slam_nodes.events.raw import parse_raw_header
from slam_nodes.types import EventBatch

PACKET = "event_camera_msgs/msg/EventPacket"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHUNK = 1 << 20


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _synthetic(n: int, seed: int = 0) -> EventBatch:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 15_000_000, n)) * 1000  # 15 s of sensor time, ~n/15 M ev/s
    return EventBatch(t, rng.integers(0, 1280, n), rng.integers(0, 720, n),
                      rng.choice(np.array([-1, 1], dtype=np.int8), n), 1280, 720)


def _chunks(data: bytes, word: int) -> list[np.ndarray]:
    buf = np.frombuffer(data, dtype=np.uint8)
    step = CHUNK - CHUNK % word
    return [buf[i:i + step] for i in range(0, len(buf), step)]


def _evt3_plain(chunks):
    for c in chunks:
        w = c.view("<u2")
        _ = (w >> 12, w & 0x7FF, (w >> 11) & 1)


def _evt3_ours(chunks, width=1280, height=720):
    dec = make_decoder(PACKET)
    return sum(len(dec.decode_packet("evt3", c, 0, width, height)[0]) for c in chunks)


def _mono_plain(chunks):
    for c in chunks:
        w = c.view("<u8")
        _ = (w & np.uint64(0xFFFFFFFF), (w >> np.uint64(32)) & np.uint64(0xFFFF),
             (w >> np.uint64(48)) & np.uint64(0x7FFF), w >> np.uint64(63))


def _mono_ours(chunks, time_base):
    dec = make_decoder(PACKET)
    return sum(len(dec.decode_packet("mono", c, time_base, 1280, 720)[0]) for c in chunks)


def _dvs_plain(msgs):
    dt = np.dtype({"names": ["x", "y", "sec", "nsec", "p"],
                   "formats": ["<u2", "<u2", "<i4", "<u4", "u1"],
                   "offsets": [0, 2, 6, 10, 14], "itemsize": 16})
    for raw in msgs:
        buf = np.frombuffer(raw, dtype=np.uint8)
        n = (len(buf) - 64) // 16
        ev = buf[64:64 + 16 * n].view(dt)
        _ = (ev["x"].copy(), ev["y"].copy(), ev["sec"].copy(), ev["nsec"].copy(), ev["p"].copy())


def _dvs_ours(msgs):
    dec = make_decoder("dvs_msgs/msg/EventArray")
    return sum(len(dec.decode_serialized(raw)[0]) for raw in msgs)


def _rows(n: int, repeats: int) -> list[tuple]:
    rows = []
    batch = _synthetic(n)
    chunks = _chunks(encode_evt3(batch), 2)
    n_ev = _evt3_ours(chunks)
    rows.append(("evt3 ADDR_X", n_ev, _best(lambda: _evt3_ours(chunks), repeats),
                 _best(lambda: _evt3_plain(chunks), repeats), 30.0))
    raw_path = DATA / "event_files" / "prophesee_raw" / "evt3_sample.raw"
    if raw_path.exists():
        data = raw_path.read_bytes()
        body = data[parse_raw_header(data)[1]:]
        chunks = _chunks(body * max(1, n // 220_000), 2)
        n_ev = _evt3_ours(chunks)
        rows.append(("evt3 vectors (Gen4 RAW)", n_ev,
                     _best(lambda: _evt3_ours(chunks), repeats),
                     _best(lambda: _evt3_plain(chunks), repeats), 30.0))
    bag = DATA / "event_camera_bags" / "event_camera_py" / "test_events_1"
    if bag.exists():
        from rosbags.highlevel import AnyReader

        from slam_nodes.msgs.typestore import get_typestore
        with AnyReader([bag], default_typestore=get_typestore()) as reader:
            bag_msgs = [reader.deserialize(raw, con.msgtype) for con, _, raw in reader.messages()]
        packets = [m.events for m in bag_msgs]
        n_ev = _evt3_ours(packets, 640, 480)
        plain = _best(lambda: _evt3_plain(packets), repeats)
        rows.append(("evt3 bag, per message", n_ev,
                     _best(lambda: _evt3_ours(packets, 640, 480), repeats), plain, 30.0))
        rows.append(("evt3 bag, decode_many", n_ev,
                     _best(lambda: make_decoder(PACKET).decode_many(bag_msgs), repeats), plain,
                     30.0))
    mono_batch = EventBatch(batch.t[:n] // 4, batch.x, batch.y, batch.p, 1280, 720)
    chunks = _chunks(encode_mono(mono_batch, 0), 8)
    n_ev = _mono_ours(chunks, 0)
    rows.append(("mono", n_ev, _best(lambda: _mono_ours(chunks, 0), repeats),
                 _best(lambda: _mono_plain(chunks), repeats), None))
    per_msg = CHUNK // 16
    msgs = [dvs_event_array_cdr(batch.select(slice(i, i + per_msg)), int(batch.t[i]), "dvs")
            for i in range(0, min(n, 1_000_000), per_msg)]
    n_ev = _dvs_ours(msgs)
    rows.append(("dvs EventArray CDR", n_ev, _best(lambda: _dvs_ours(msgs), repeats),
                 _best(lambda: _dvs_plain(msgs), repeats), None))
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    rows = _rows(args.events, args.repeats)
    head = (f"{'format':26s} {'events':>9s} {'M ev/s':>8s} {'target':>8s} "
            f"{'plain pass M ev/s':>18s} {'ratio':>6s} {'ratio target':>12s}")
    print(head)
    print("-" * len(head))
    for name, n_ev, ours, plain, target in rows:
        tgt = f">= {target:.0f}" if target else "-"
        print(f"{name:26s} {n_ev:9d} {n_ev / ours / 1e6:8.1f} {tgt:>8s} "
              f"{n_ev / plain / 1e6:18.1f} {ours / plain:6.1f} {'<= 5':>12s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
