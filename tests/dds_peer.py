"""A separate-process DDS peer for tests/test_runtime_dds.py, declared as ROS 2 on Cyclone DDS
declares it (topic rt/<name>, type pkg::msg::dds_::Name_, rclpy-equivalent QoS), decoding with
cyclonedds' own deserializer (independent of the rosbags CDR the runtime writes).

usage: python dds_peer.py DOMAIN TOPIC TYPENAME RELIABILITY DURABILITY DEPTH WANT TIMEOUT_S OUT
Prints 'ready' once its reader exists; writes a JSON list of message summaries to OUT when it
has WANT messages or TIMEOUT_S passed (bounded: it always stops by itself).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time


def summary(sample) -> dict:
    out = {"type": type(sample).__name__}
    header = getattr(sample, "header", None)
    if header is not None:
        out["stamp_ns"] = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec
        out["frame_id"] = header.frame_id
    if hasattr(sample, "data"):
        out["sha"] = hashlib.sha256(bytes(sample.data)).hexdigest()
        out["encoding"] = getattr(sample, "encoding", "")
        out["size"] = [getattr(sample, "width", 0), getattr(sample, "height", 0)]
    if hasattr(sample, "poses"):
        out["num_poses"] = len(sample.poses)
        out["last_x"] = sample.poses[-1].pose.position.x if sample.poses else None
    return out


def main(argv: list[str]) -> int:
    from cyclonedds.domain import DomainParticipant
    from cyclonedds.sub import DataReader
    from cyclonedds.topic import Topic

    from slam_nodes.runtime.dds import dds_qos
    from slam_nodes.runtime.dds_types import idl_type
    from slam_nodes.runtime.interface import Durability, QoSProfile, Reliability

    domain, topic, typename, rel, dur, depth, want, timeout, out = argv
    dp = DomainParticipant(int(domain))
    qos = dds_qos(QoSProfile(Reliability(rel), Durability(dur), int(depth)))
    reader = DataReader(dp, Topic(dp, topic, idl_type(typename)), qos=qos)
    print("ready", flush=True)
    got: list[dict] = []
    end = time.monotonic() + float(timeout)
    while time.monotonic() < end and len(got) < int(want):
        for sample in reader.take(16):
            got.append(summary(sample))
        time.sleep(0.005)
    with open(out, "w") as f:
        json.dump(got, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
