"""Sensor containers: dtypes, validation and the event-slicing helpers."""

from __future__ import annotations

import numpy as np
import pytest

from slam_nodes.types import CameraModel, EventBatch, LidarScan, RGBDFrame


def test_lidar_scan_dtypes_and_lengths():
    scan = LidarScan(5, [[1, 2, 3], [4, 5, 6]], intensity=[1, 2], ring=[0, 3], time_ns=[5, 9])
    assert scan.xyz.dtype == np.float32 and scan.intensity.dtype == np.float32
    assert scan.ring.dtype == np.uint16 and scan.time_ns.dtype == np.int64
    np.testing.assert_array_equal(scan.time_ns, [5, 9])
    with pytest.raises(ValueError, match="ring has 1 values for 2 points"):
        LidarScan(5, np.zeros((2, 3)), ring=[1])


def test_event_batch_sort_slice_concat():
    ev = EventBatch(t=[30, 10, 20, 10], x=[1, 2, 3, 4], y=[5, 6, 7, 8], p=[1, -1, 1, 1],
                    width=4, height=8)
    s = ev.sorted()
    np.testing.assert_array_equal(s.t, [10, 10, 20, 30])
    np.testing.assert_array_equal(s.x, [2, 4, 3, 1])  # stable: equal stamps keep their order
    part = s.time_slice(10, 30)
    np.testing.assert_array_equal(part.t, [10, 10, 20])
    assert (ev.num_on, ev.num_off) == (3, 1)
    np.testing.assert_array_equal(ev.in_bounds(), [True, True, True, False])
    both = EventBatch.concatenate([part, EventBatch.empty(2, 2)])
    assert len(both) == 3 and (both.width, both.height) == (4, 8)
    with pytest.raises(ValueError, match="same length"):
        EventBatch(t=[1, 2], x=[1], y=[1, 2], p=[1, 1])


def test_rgbd_frame_checks_sizes():
    cam = CameraModel.pinhole(4, 3, 10, 10, 1.5, 1)
    RGBDFrame(0, cam, np.zeros((3, 4, 3), np.uint8), np.zeros((3, 4), np.float32))
    with pytest.raises(ValueError, match="depth is"):
        RGBDFrame(0, cam, depth=np.zeros((4, 3), np.float32))
