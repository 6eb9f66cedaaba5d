"""Event decoding throughput: numba kernels vs the numpy reference vs a plain numpy pass.

    .venv/bin/python -m benchmarks.bench_events [--events 2000000] [--repeats 5] [--wall]
                                                [--no-cold-compile]

Every row decodes the same bytes three ways, in this process: through the public
EventDecoder / codec with implementation="numba" (the default) and "numpy" (the reference),
and with a "plain pass" that decodes nothing: np.frombuffer + the shifts/masks that extract
code, x and polarity from every word (mono: t, x, y, p; dvs: the struct fields).
ratio = default implementation time / plain pass time (how much slower than just touching
every word with numpy). Targets (issue 2): evt3 >= 30 M events/s on one core, ratio <= 5.
Rows (decoder rows include bounds checks and EventBatch building):
- evt3 ADDR_X:   synthetic sensor stream made by encode_evt3 (one ADDR_X per event, TIME_LOW and
                 ADDR_Y words where time/row change), decoded in 1 MiB packets;
- evt3 vectors:  the real Gen4.1 recording ../shared/data/event_files/prophesee_raw/evt3_sample.raw
                 (VECT_12/VECT_8 words), tiled, decoded in 1 MiB packets (skipped without data);
- evt3 bag:      the real event_camera_py test_events_1 bag (517 messages, ~660 events each),
                 decoded per message (per-message overhead included) and with decode_many;
- evt2 RAW:      ../shared/data/event_files/prophesee_raw/evt2_sample.raw tiled, 1 MiB chunks;
- libcaer_cmp:   the real event_camera_py test_events_2 MCAP (DAVIS346), per message;
- mono, dvs CDR: synthetic, 1 MiB-ish packets (no compiled kernel: numpy is their default).
Times are the best of --repeats runs, measured as this process's CPU time (time.process_time:
on a shared machine wall time mostly measures the other processes; --wall for wall time).
Kernels are warmed up before timing; the one-time JIT compile is reported separately: the
first call in this process (a load from numba's on-disk cache when warm) and, unless
--no-cold-compile, a cold compile in a subprocess with an empty NUMBA_CACHE_DIR.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from slam_nodes.events import dvs_event_array_cdr, encode_evt3, encode_mono, make_decoder
from slam_nodes.events.evt2 import Evt2Codec
from slam_nodes.events.base import to_batch
from slam_nodes.events.raw import parse_raw_header
from slam_nodes.types import EventBatch

PACKET = "event_camera_msgs/msg/EventPacket"
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CHUNK = 1 << 20
_CLOCK = {"fn": time.process_time}
# a tiny packet of every compiled format, to warm up / time the compile
_WARMUP = ("import numpy as np\n"
           "from slam_nodes.events import _kernels as K\n"
           "b = np.array([0x8000, 0x6000, 0x2000, 0x4FFF, 0xA001], '<u2').view(np.uint8)\n"
           "b.flags.writeable = False\n"  # the codecs pass read-only views (kernel_bytes)
           "K.decode_evt3(b, np.zeros(6, np.int64))\n"
           "K.decode_evt2(b, np.zeros(1, np.int64))\n"
           "K.decode_libcaer_cmp(b, np.int64(0), np.zeros(3, np.int64))\n")


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = _CLOCK["fn"]()
        fn()
        best = min(best, _CLOCK["fn"]() - t0)
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


def _words_plain(chunks):
    for c in chunks:
        w = c.view("<u2")
        _ = (w >> 12, w & 0x7FF, (w >> 11) & 1)


def _evt2_plain(chunks):
    for c in chunks:
        w = c.view("<u4")
        _ = (w >> 28, (w >> 11) & 0x7FF, w & 0x7FF)


def _packets(encoding, chunks, impl, width=1280, height=720, time_bases=None):
    dec = make_decoder(PACKET, implementation=impl)
    bases = time_bases or [0] * len(chunks)
    return sum(len(dec.decode_packet(encoding, c, b, width, height)[0])
               for c, b in zip(chunks, bases))


def _evt2(chunks, impl, width=640, height=480):
    codec = Evt2Codec(impl)
    return sum(len(to_batch(codec.decode(c), width, height)[0]) for c in chunks)


def _mono_plain(chunks):
    for c in chunks:
        w = c.view("<u8")
        _ = (w & np.uint64(0xFFFFFFFF), (w >> np.uint64(32)) & np.uint64(0xFFFF),
             (w >> np.uint64(48)) & np.uint64(0x7FFF), w >> np.uint64(63))


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


def _row(name, run, plain, repeats, target=None, compiled=True) -> tuple:
    """(name, events, numba s or None, numpy s, plain s, target); run(impl) -> events."""
    n_ev = run("numpy")
    fast = None
    if compiled:
        if run("numba") != n_ev:
            raise RuntimeError(f"{name}: numba and numpy decoded different event counts")
        fast = _best(lambda: run("numba"), repeats)
    return (name, n_ev, fast, _best(lambda: run("numpy"), repeats), _best(plain, repeats),
            target)


def _bag_msgs(path):
    from rosbags.highlevel import AnyReader

    from slam_nodes.msgs.typestore import get_typestore
    with AnyReader([path], default_typestore=get_typestore()) as reader:
        return [reader.deserialize(raw, con.msgtype) for con, _, raw in reader.messages()]


def _rows(n: int, repeats: int) -> list[tuple]:
    rows = []
    batch = _synthetic(n)
    chunks = _chunks(encode_evt3(batch), 2)
    rows.append(_row("evt3 ADDR_X", lambda i: _packets("evt3", chunks, i),
                     lambda: _words_plain(chunks), repeats, 30.0))
    raw_dir = DATA / "event_files" / "prophesee_raw"
    if (raw_dir / "evt3_sample.raw").exists():
        data = (raw_dir / "evt3_sample.raw").read_bytes()
        body = data[parse_raw_header(data)[1]:]
        c3 = _chunks(body * max(1, n // 220_000), 2)
        rows.append(_row("evt3 vectors (Gen4 RAW)", lambda i: _packets("evt3", c3, i),
                         lambda: _words_plain(c3), repeats, 30.0))
    bag = DATA / "event_camera_bags" / "event_camera_py" / "test_events_1"
    if bag.exists():
        msgs = _bag_msgs(bag)
        packets = [m.events for m in msgs]
        rows.append(_row("evt3 bag, per message", lambda i: _packets("evt3", packets, i, 640, 480),
                         lambda: _words_plain(packets), repeats, 30.0))
        rows.append(_row("evt3 bag, decode_many",
                         lambda i: len(make_decoder(PACKET, implementation=i).decode_many(msgs)[0]),
                         lambda: _words_plain(packets), repeats, 30.0))
    if (raw_dir / "evt2_sample.raw").exists():
        data = (raw_dir / "evt2_sample.raw").read_bytes()
        body = data[parse_raw_header(data)[1]:]
        c2 = _chunks(body * max(1, n // 540_000), 4)
        rows.append(_row("evt2 (RAW)", lambda i: _evt2(c2, i), lambda: _evt2_plain(c2), repeats))
    mcap = DATA / "event_camera_bags" / "event_camera_py" / "test_events_2" / \
        "test_events_2_0.mcap"
    if mcap.exists():
        from mcap.reader import make_reader

        from slam_nodes.msgs.typestore import get_typestore
        store = get_typestore()
        with open(mcap, "rb") as f:
            cmsgs = [store.deserialize_cdr(m.data, s.name)
                     for s, _, m in make_reader(f).iter_messages()]
        cpk = [m.events for m in cmsgs]
        bases = [int(m.time_base) for m in cmsgs]
        rows.append(_row("libcaer_cmp (MCAP), per msg",
                         lambda i: _packets("libcaer_cmp", cpk, i, 346, 260, bases),
                         lambda: _words_plain(cpk), repeats))
    mono_batch = EventBatch(batch.t[:n] // 4, batch.x, batch.y, batch.p, 1280, 720)
    cm = _chunks(encode_mono(mono_batch, 0), 8)
    rows.append(_row("mono", lambda i: _packets("mono", cm, i), lambda: _mono_plain(cm),
                     repeats, compiled=False))
    per_msg = CHUNK // 16
    dmsgs = [dvs_event_array_cdr(batch.select(slice(i, i + per_msg)), int(batch.t[i]), "dvs")
             for i in range(0, min(n, 1_000_000), per_msg)]
    rows.append(_row("dvs EventArray CDR", lambda i: _dvs_ours(dmsgs), lambda: _dvs_plain(dmsgs),
                     repeats, compiled=False))
    return rows


def _first_call_s() -> float:
    """Wall seconds of the first kernel calls in this process (compile or cache load)."""
    t0 = time.perf_counter()
    exec(_WARMUP, {})  # noqa: S102 - our own constant code
    return time.perf_counter() - t0


def _cold_compile_s() -> float:
    """Wall seconds to compile every kernel in a fresh process with an empty numba cache."""
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        code = "import time; t0 = time.perf_counter()\n" + _WARMUP + \
            "print(time.perf_counter() - t0)"
        out = subprocess.run([sys.executable, "-c", code], env=env, check=True,
                             capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1])
    return float(out.stdout.split()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--wall", action="store_true", help="wall time instead of CPU time")
    parser.add_argument("--no-cold-compile", action="store_true",
                        help="skip the cold-compile subprocess")
    args = parser.parse_args(argv)
    _CLOCK["fn"] = time.perf_counter if args.wall else time.process_time
    first = _first_call_s()
    cold = None if args.no_cold_compile else _cold_compile_s()
    rows = _rows(args.events, args.repeats)
    head = (f"{'format':28s} {'events':>9s} {'numba M ev/s':>12s} {'numpy-ref M ev/s':>16s} "
            f"{'target':>7s} {'plain pass M ev/s':>17s} {'ratio':>6s} {'ratio target':>12s}")
    print(head)
    print("-" * len(head))
    for name, n_ev, fast, ref, plain, target in rows:
        tgt = f">= {target:.0f}" if target else "-"
        default = fast if fast is not None else ref
        fast_s = f"{n_ev / fast / 1e6:12.1f}" if fast is not None else f"{'-':>12s}"
        print(f"{name:28s} {n_ev:9d} {fast_s} {n_ev / ref / 1e6:16.1f} {tgt:>7s} "
              f"{n_ev / plain / 1e6:17.1f} {default / plain:6.1f} {'<= 5' if target else '-':>12s}")
    clock = "wall" if args.wall else "CPU (process)"
    print(f"\ntimes: best of {args.repeats}, {clock} time, one core; ratio = default "
          f"implementation (numba where a kernel exists) / plain pass")
    print(f"JIT, excluded above: first kernel calls in this process {first:.2f} s "
          f"(loads numba's on-disk cache when warm)"
          + ("" if cold is None else f"; cold compile of all kernels {cold:.1f} s"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
