"""DDS runtime benchmark: 640x480 rgb8 sensor_msgs/Image at 30 Hz over loopback to a separate
reader process; drops and latency (p50/p99) for our path (rosbags CDR handed to ddspy_write) vs
the baseline (cyclonedds' own Python serializer, DataWriter.write), measured in the same run.

    .venv/bin/python -m benchmarks.bench_dds [--seconds 5] [--rate 30]

Latency = reader's receive clock - the image's header stamp (set to the send time; both
processes read the same host clock). The reader takes raw samples and decodes them with rosbags
in both cases, so only the write path differs. Target (issue 7): no drops at 30 Hz, p99 < 33 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TOPIC = "rt/bench/image"
TYPENAME = "sensor_msgs/msg/Image"


def reader_main(domain: int, count: int, timeout_s: float, out: str) -> None:
    """Separate process: take raw samples, decode with rosbags, record stamp and latency."""
    from cyclonedds._clayer import ddspy_take
    from cyclonedds.core import InstanceState, ReadCondition, SampleState, ViewState, WaitSet
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from slam_nodes.msgs.stamps import stamp_to_ns
    from slam_nodes.msgs.typestore import get_typestore
    from slam_nodes.runtime.dds import dds_qos
    from slam_nodes.runtime.dds_types import idl_type
    from slam_nodes.runtime.interface import DEFAULT_QOS

    store = get_typestore()
    dp = DomainParticipant(domain)
    reader = DataReader(dp, Topic(dp, TOPIC, idl_type(TYPENAME)), qos=dds_qos(DEFAULT_QOS))
    mask = SampleState.Any | ViewState.Any | InstanceState.Any
    ws = WaitSet(dp)
    ws.attach(ReadCondition(reader, mask))
    print("ready", flush=True)
    rows = []
    end = time.monotonic() + timeout_s
    while len(rows) < count and time.monotonic() < end:
        ws.wait(50_000_000)
        got = ddspy_take(reader._ref, mask, 64)
        if isinstance(got, int):
            continue
        for data, info in got:
            if info.valid_data:
                msg = store.deserialize_cdr(bytes(data), TYPENAME)
                now = time.time_ns()
                rows.append((stamp_to_ns(msg.header.stamp), now - stamp_to_ns(msg.header.stamp)))
    Path(out).write_text(json.dumps(rows))


def run_case(name: str, seconds: float, rate: float) -> dict:
    from cyclonedds._clayer import ddspy_write
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.pub import DataWriter
    from cyclonedds.topic import Topic

    from slam_nodes.msgs.image import rgb_to_msg
    from slam_nodes.runtime.dds import dds_qos
    from slam_nodes.runtime.dds_types import cdr_bytes, idl_type
    from slam_nodes.runtime.interface import DEFAULT_QOS

    domain = random.randint(100, 200)
    count = int(seconds * rate)
    out = Path(tempfile.mkdtemp()) / "rows.json"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.bench_dds", "--reader",
                             str(domain), str(count), str(seconds + 20), str(out)],
                            stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "ready"
    dp = DomainParticipant(domain)
    writer = DataWriter(dp, Topic(dp, TOPIC, idl_type(TYPENAME)), qos=dds_qos(DEFAULT_QOS))
    Image_ = idl_type(TYPENAME)
    rgb = np.random.default_rng(0).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    time.sleep(1.5)  # discovery
    period = 1.0 / rate
    t_next = time.monotonic()
    serialise_ms = []
    late = 0
    for _ in range(count):
        msg = rgb_to_msg(rgb, time.time_ns(), "cam")
        t0 = time.perf_counter()
        if name == "ours":
            ddspy_write(writer._ref, cdr_bytes(msg, TYPENAME))
        else:  # baseline: cyclonedds' own serializer
            writer.write(Image_(header=msg.header, height=msg.height, width=msg.width,
                                encoding=msg.encoding, is_bigendian=msg.is_bigendian,
                                step=msg.step, data=bytes(msg.data)))
        serialise_ms.append((time.perf_counter() - t0) * 1e3)
        t_next += period
        wait = t_next - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        else:
            late += 1
    proc.wait(timeout=seconds + 30)
    rows = json.loads(out.read_text()) if out.exists() else []
    lat = np.asarray([r[1] for r in rows], dtype=np.float64) / 1e6
    return {"case": name, "sent": count, "received": len(rows), "drops": count - len(rows),
            "late_sends": late, "write_ms_mean": float(np.mean(serialise_ms)),
            "latency_p50_ms": float(np.percentile(lat, 50)) if len(lat) else float("nan"),
            "latency_p99_ms": float(np.percentile(lat, 99)) if len(lat) else float("nan")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--reader", nargs=4, metavar=("DOMAIN", "COUNT", "TIMEOUT", "OUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader:
        domain, count, timeout, out = args.reader
        reader_main(int(domain), int(count), float(timeout), out)
        return 0
    from slam_nodes.runtime.dds import loopback_config

    os.environ.setdefault("CYCLONEDDS_URI", loopback_config())
    results = [run_case("ours", args.seconds, args.rate),
               run_case("baseline", args.seconds, args.rate)]
    print(f"640x480 rgb8 Image at {args.rate:g} Hz for {args.seconds:g} s over loopback "
          "(separate reader process)")
    print(f"{'metric':<18}{'ours (rosbags CDR)':>20}{'baseline (cyclone ser.)':>25}{'target':>10}")
    targets = {"drops": "0", "latency_p99_ms": "< 33", "latency_p50_ms": "", "write_ms_mean": "",
               "late_sends": "0"}
    for key in ("drops", "late_sends", "write_ms_mean", "latency_p50_ms", "latency_p99_ms"):
        a, b = results[0][key], results[1][key]
        fmt = (lambda v: f"{v:.2f}") if isinstance(a, float) else str
        print(f"{key:<18}{fmt(a):>20}{fmt(b):>25}{targets[key]:>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
