"""Damaged bags (copies in tmp_path): truncated and byte-flipped sqlite3, MCAP and ROS 1 files
give a clear BagError, a partial read of what is intact, or logged skips; the CLI never shows
a traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from slam_nodes.cli import main
from slam_nodes.errors import BagError
from slam_nodes.io.bag import open_bag
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.msgs.stamps import make_header
from slam_nodes.msgs.typestore import get_typestore, msg_class

T0 = 1_600_000_000_000_000_000


def truncated_copy(src, dst, fraction: float):
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])
    return dst


def copy_bag_folder(src, dst):
    shutil.copytree(src, dst)
    for p in [dst, *dst.iterdir()]:
        p.chmod(0o755 if p.is_dir() else 0o644)  # the shared data is read-only
    return dst


def write_image_bag(path, n: int = 40, compression=None):
    """A bag with n 64 KiB images (several 1 MiB MCAP chunks) plus a String topic."""
    with BagWriter(path, compression=compression) as bag:
        for i in range(n):
            pixels = np.random.default_rng(i).integers(0, 256, 128 * 128 * 4, dtype=np.uint8)
            bag.write("/img", T0 + i * 10**7, msg_class("sensor_msgs/msg/Image")(
                header=make_header(T0 + i * 10**7, "cam"), height=128, width=128,
                encoding="rgba8", is_bigendian=0, step=512, data=pixels))
            bag.write("/s", T0 + i * 10**7 + 1, msg_class("std_msgs/msg/String")(data=f"m{i:03d}"))
    return path


def test_truncated_sqlite3_raises_clear_bag_error(shared_data, tmp_path):
    bag = copy_bag_folder(shared_data / "evo_testdata/tf_example", tmp_path / "tf")
    truncated_copy(bag / "tf_example.db3", bag / "tf_example.db3", 0.5)
    with pytest.raises(BagError, match="truncated or corrupt"):
        open_bag(bag)


def test_truncated_ros1_bag_raises_clear_bag_error(shared_data, tmp_path):
    src = shared_data / "evo_testdata/tf_example.bag"
    with pytest.raises(BagError, match="tf.bag: cannot open bag"):
        open_bag(truncated_copy(src, tmp_path / "tf.bag", 0.9))


def test_truncated_mcap_is_read_partially(tmp_path):
    full = write_image_bag(tmp_path / "full")
    with open_bag(full) as bag:
        original = [(m.topic, m.log_time_ns, m.data) for m in bag.raw_messages()]
    cut = tmp_path / "cut"
    cut.mkdir()
    shutil.copy(full / "metadata.yaml", cut / "metadata.yaml")
    truncated_copy(full / "full.mcap", cut / "full.mcap", 0.6)
    with open_bag(cut) as bag:
        assert bag.partial
        assert any("cut-off" in note for note in bag.damage)
        salvaged = [(m.topic, m.log_time_ns, m.data) for m in bag.raw_messages()]
        strings = [m.msg.data for m in bag.messages(["/s"])]
    # whole chunks before the cut survive, nothing after it, every byte as written
    assert 0.3 * len(original) < len(salvaged) < 0.6 * len(original)
    assert salvaged == original[: len(salvaged)]
    assert strings == [f"m{i:03d}" for i in range(len(strings))]


def test_mcap_cut_before_any_message_raises(tmp_path):
    full = write_image_bag(tmp_path / "full", n=2)
    with pytest.raises(BagError, match="no intact message"):
        open_bag(truncated_copy(full / "full.mcap", tmp_path / "stub.mcap", 0.05))


def test_undecodable_message_is_skipped_and_counted(tmp_path, caplog):
    path = write_image_bag(tmp_path / "bag", n=5)
    storage = path / "bag.mcap"
    data = bytearray(storage.read_bytes())
    payload = bytes(get_typestore().serialize_cdr(msg_class("std_msgs/msg/String")(data="m002"),
                                                  "std_msgs/msg/String"))
    at = data.find(payload)
    assert at > 0 and data.count(payload) == 1
    data[at + 4: at + 8] = b"\xff\xff\xff\x7f"  # string length far beyond the message
    storage.write_bytes(bytes(data))
    with caplog.at_level("WARNING"), open_bag(path) as bag:
        strings = [m.msg.data for m in bag.messages(["/s"])]
        images = sum(1 for _ in bag.messages(["/img"]))
    assert strings == ["m000", "m001", "m003", "m004"]
    assert images == 5
    assert bag.skipped == {"/s": 1}
    assert f"/s at log time {T0 + 2 * 10**7 + 1} ns" in caplog.text


def test_byte_flips_in_real_sqlite3_bag_skip_only_the_damaged_message(shared_data, tmp_path):
    bag = copy_bag_folder(shared_data / "evo_testdata/tf_example", tmp_path / "tf")
    db = bag / "tf_example.db3"
    data = bytearray(db.read_bytes())
    at = int(len(data) * 0.3)
    data[at: at + 64] = bytes(b ^ 0xFF for b in data[at: at + 64])
    db.write_bytes(bytes(data))
    with open_bag(bag) as reader:
        n = sum(1 for _ in reader.messages())
    assert n + sum(reader.skipped.values()) == 518
    assert set(reader.skipped) == {"/tf"} and reader.skipped["/tf"] >= 1


def test_corrupt_compressed_chunk_is_skipped_and_reading_goes_on(tmp_path):
    path = write_image_bag(tmp_path / "bag", n=40, compression="zstd")
    with open_bag(path) as bag:
        original = [(m.topic, m.log_time_ns, m.data) for m in bag.raw_messages()]
    storage = path / "bag.mcap"
    data = bytearray(storage.read_bytes())
    zstd_magic = b"\x28\xb5\x2f\xfd"
    second_chunk = data.find(zstd_magic, data.find(zstd_magic) + 1)
    assert second_chunk > 0
    data[second_chunk: second_chunk + 64] = bytes(64)  # frame header and first block gone
    storage.write_bytes(bytes(data))
    with open_bag(path) as bag:
        assert not bag.partial  # the index is intact: damage is only found while reading
        got = [(m.topic, m.log_time_ns, m.data) for m in bag.raw_messages()]
        assert bag.partial and any("corrupt chunk" in note for note in bag.damage)
    # one ~1 MiB chunk (about 15 image + string pairs) lost, everything else exact and in order
    assert 0.4 * len(original) < len(got) < len(original) - 10
    assert [g[1] for g in got] == sorted(g[1] for g in got)
    assert set(got) < set(original)
    assert got[0] == original[0] and got[-1] == original[-1]


def test_sqlite3_damage_while_reading_names_the_last_good_stamp(shared_data, tmp_path):
    bag = copy_bag_folder(shared_data / "evo_testdata/tf_example", tmp_path / "tf")
    truncated_copy(bag / "tf_example.db3", bag / "tf_example.db3", 0.99)
    with open_bag(bag) as reader:
        count = 0
        with pytest.raises(BagError, match=r"corrupt, reading stopped after log time \d+ ns"):
            for _ in reader.messages():
                count += 1
    assert 0 < count < 518


def test_cli_info_on_bag_damaged_mid_scan_prints_summary_then_error(shared_data, tmp_path,
                                                                    capsys):
    import json

    bag = copy_bag_folder(shared_data / "evo_testdata/tf_example", tmp_path / "tf")
    truncated_copy(bag / "tf_example.db3", bag / "tf_example.db3", 0.99)
    assert main(["info", str(bag), "--json"]) == 2
    captured = capsys.readouterr()
    summary = json.loads(captured.out)  # the part read before the damage
    assert summary["error"] and "reading stopped after log time" in summary["error"]
    tf = next(t for t in summary["topics"] if t["name"] == "/tf")
    assert tf["count"] == 517 and 0 < tf["read"] < 517
    (line,) = captured.err.strip().splitlines()
    assert line.startswith("error: ") and "reading stopped" in line


def test_cli_info_on_damaged_bags_reports_without_traceback(shared_data, tmp_path, capsys):
    broken_db = copy_bag_folder(shared_data / "evo_testdata/tf_example", tmp_path / "tf")
    truncated_copy(broken_db / "tf_example.db3", broken_db / "tf_example.db3", 0.5)
    broken_ros1 = truncated_copy(shared_data / "evo_testdata/tf_example.bag",
                                 tmp_path / "tf.bag", 0.5)
    full = write_image_bag(tmp_path / "full", n=40)
    cut_mcap = truncated_copy(full / "full.mcap", tmp_path / "cut.mcap", 0.6)
    assert main(["info", str(broken_db)]) == 2
    assert main(["info", str(broken_ros1)]) == 2
    assert "error:" in capsys.readouterr().err
    assert main(["info", str(cut_mcap)]) == 0  # salvaged: printed with a PARTIAL note
    assert "PARTIAL" in capsys.readouterr().out
    cli = "import sys; from slam_nodes.cli import main; sys.exit(main())"
    proc = subprocess.run([sys.executable, "-c", cli, "info", str(broken_ros1)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "error:" in proc.stderr
