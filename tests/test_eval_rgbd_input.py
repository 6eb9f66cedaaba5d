"""RGB-D frames read from a bag: malformed messages are logged skips naming topic and stamp,
reading goes on, and the frames that remain carry the right values."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from slam_nodes.errors import EvalError
from slam_nodes.eval.rgbd_input import camera_from_bag, open_rgbd_input
from slam_nodes.io.bag_writer import BagWriter
from slam_nodes.msgs.camera_info import camera_to_msg
from slam_nodes.msgs.image import depth_to_msg, rgb_to_msg
from slam_nodes.types import CameraModel

T0 = 1_700_000_000_000_000_000
DT = 33_333_333
W, H = 8, 6
DEPTH, RGB, INFO = "/camera/depth/image", "/camera/rgb/image", "/camera/depth/camera_info"


def _depth(i: int) -> np.ndarray:
    return (1.0 + 0.001 * np.arange(W * H).reshape(H, W) + i).astype(np.float32)


def _rgb(i: int) -> np.ndarray:
    return np.random.default_rng(i).integers(0, 256, (H, W, 3), dtype=np.uint8)


def _write_bag(path, camera: CameraModel, with_rgb: bool = True) -> None:
    """Frames 0..5 at 30 Hz; 1: depth data one byte short of step*height; 2: colour in an
    unknown encoding; 3: 32FC1 depth with NaN, +inf and -1; 4: header stamps older than frame
    3's (written later); 5: clean."""
    with BagWriter(path) as bag:
        bag.write(INFO, T0, camera_to_msg(camera, T0))
        for i in range(6):
            stamp = T0 + i * DT if i != 4 else T0 + 2 * DT + DT // 2
            log = T0 + i * DT + 1000
            depth = _depth(i)
            if i == 3:
                depth[0, 0], depth[0, 1], depth[0, 2] = np.nan, np.inf, -1.0
            dmsg = depth_to_msg(depth, stamp, "cam", "32FC1" if i == 3 else "16UC1")
            if i == 1:
                dmsg.data = dmsg.data[:-1]
            cmsg = rgb_to_msg(_rgb(i), stamp, "cam")
            if i == 2:
                cmsg.encoding = "bayer_rggb16"
            bag.write(DEPTH, log, dmsg)
            if with_rgb:
                bag.write(RGB, log + 1, cmsg)


@pytest.fixture
def bad_bag(tmp_path):
    camera = CameraModel.pinhole(W, H, 10.0, 10.0, 3.5, 2.5)
    _write_bag(tmp_path / "bag", camera)
    return tmp_path / "bag", camera


def test_bad_images_are_logged_skips_and_reading_goes_on(bad_bag, caplog):
    path, camera = bad_bag
    src = open_rgbd_input(path)
    np.testing.assert_array_equal(src.camera.K, camera.K)
    with caplog.at_level(logging.INFO, logger="slam_nodes.eval.rgbd_input"):
        frames = list(src.frames())
    assert [f.stamp_ns for f in frames] == [T0, T0 + 3 * DT, T0 + 5 * DT]
    log = caplog.text
    # each bad message is named by topic and header stamp, with the reason
    assert f"{DEPTH} at {T0 + DT} ns: skipped image" in log and "data length" in log
    assert f"{RGB} at {T0 + 2 * DT} ns: skipped image" in log and "bayer_rggb16" in log
    out_of_order = T0 + 2 * DT + DT // 2
    for topic in (DEPTH, RGB):
        assert f"{topic} at {out_of_order} ns: skipped image (out of order)" in log
    # values of the surviving frames: 16UC1 rounded to mm, NaN/inf/negative depth -> 0
    np.testing.assert_allclose(frames[0].depth, np.round(_depth(0) * 1000) / 1000, atol=1e-6)
    np.testing.assert_array_equal(frames[0].rgb, _rgb(0))
    d3 = frames[1].depth
    assert d3[0, :3].tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_array_equal(d3.ravel()[3:], _depth(3).ravel()[3:])
    np.testing.assert_array_equal(frames[2].rgb, _rgb(5))


def test_depth_only_input_skips_unsorted_stamps(tmp_path, caplog):
    _write_bag(tmp_path / "bag", CameraModel.pinhole(W, H, 10.0, 10.0, 3.5, 2.5), with_rgb=False)
    with caplog.at_level(logging.WARNING, logger="slam_nodes.eval.rgbd_input"):
        frames = list(open_rgbd_input(tmp_path / "bag").frames())
    stamps = [f.stamp_ns for f in frames]
    # frame 1 (short data) skipped, frame 4 (older stamp than frame 3) skipped
    assert stamps == [T0, T0 + 2 * DT, T0 + 3 * DT, T0 + 5 * DT]
    assert all(f.rgb is None for f in frames)
    assert f"{DEPTH} at {T0 + 2 * DT + DT // 2} ns: skipped image (stamp not after" in caplog.text


def test_bad_rgbd_input_arguments(bad_bag, tmp_path):
    path, _ = bad_bag
    with pytest.raises(EvalError, match="max_frames"):
        open_rgbd_input(path, max_frames=0)
    with pytest.raises(EvalError, match="scale"):
        open_rgbd_input(path, scale=1.5)
    with pytest.raises(EvalError, match="no depth image topic '/nope'"):
        open_rgbd_input(path, depth_topic="/nope")
    with pytest.raises(EvalError, match="does not exist"):
        open_rgbd_input(tmp_path / "missing")
    assert camera_from_bag(path).width == W
    with pytest.raises(EvalError, match="no camera_info topic"):
        camera_from_bag(path, "/other")
