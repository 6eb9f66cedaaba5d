"""Motion compensation (de-skewing) of a LiDAR sweep under a constant-velocity model.

A spinning LiDAR fires its columns over the sweep, and drivers give each point in the sensor
frame at its own time (`LidarScan.time_ns`). `deskew_scan` expresses every point in the sensor
frame at the scan stamp instead, assuming the sensor moves with constant twist: over `dt_ns`
it moves by `T_prev_cur` (sensor frame at the earlier time -> at the later time, i.e.
T_{s(t)}_{s(t + dt)}), so a point fired at t_i = stamp + s * dt is moved by T(s) with rotation
vector s * r and translation s * t (r, t of T_prev_cur; the first-order split of the SE(3)
exponential KISS-ICP also uses, exact for pure rotation or pure translation).
"""

from __future__ import annotations

import numpy as np

from slam_nodes.types import LidarScan


def deskew_scan(scan: LidarScan, T_prev_cur: np.ndarray, dt_ns: int) -> LidarScan:
    """`scan` with xyz [N,3] (metres, sensor frame) moved to the sensor frame at `scan.stamp_ns`.

    T_prev_cur: [4,4] sensor motion over `dt_ns` (> 0) nanoseconds, e.g. between the last two
    tracked sweeps. Returns `scan` itself when it has no per-point times; the result keeps the
    times, intensity and ring (de-skewing twice would apply the motion twice).
    """
    from scipy.spatial.transform import Rotation

    if scan.time_ns is None or len(scan) == 0:
        return scan
    if dt_ns <= 0:
        raise ValueError(f"deskew: dt_ns must be > 0, got {dt_ns}")
    s = ((scan.time_ns - scan.stamp_ns) / float(dt_ns))[:, None]  # [N,1] fraction of dt
    rotvec = Rotation.from_matrix(T_prev_cur[:3, :3]).as_rotvec()
    R = Rotation.from_rotvec(s * rotvec[None, :])  # N rotations
    xyz = R.apply(scan.xyz.astype(np.float64)) + s * T_prev_cur[:3, 3][None, :]
    return LidarScan(scan.stamp_ns, xyz.astype(np.float32), scan.intensity, scan.ring,
                     scan.time_ns, scan.frame_id)
