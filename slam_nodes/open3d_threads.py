"""Run an Open3D call on one CPU thread, so that its result does not change from run to run.

Open3D (0.19+) parallelises its CPU kernels with oneTBB. Its RGB-D odometry and frame-to-model
ICP sum their normal equations with `tbb::parallel_reduce`, whose float partial sums are combined
in an order that depends on work stealing: with more than one thread the same input gives pose
increments that differ by ~1e-7 m between runs (OMP_NUM_THREADS has no effect), and a tracker
near a failure (a singular system, a fitness threshold) can then take a different branch and end
centimetres or metres apart. One thread reduces in a fixed order, so replays are bit-identical.
TSDF integration and ray casting are not repeatable on several threads either (the Open3D
dense-SLAM baseline, which tracks against a ray cast of its TSDF, scored 1.771-1.774 cm over four
runs of one sequence), so that baseline runs whole on one thread; the icp engine, whose tracking
never reads its map, limits only its odometry call.
The limit is process-wide: other Open3D work in the process runs on one thread meanwhile.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def open3d_single_thread() -> Iterator[None]:
    """Limit Open3D to one CPU thread inside the block, restoring the previous limit after."""
    from open3d.utility import get_max_threads, set_max_threads  # open3d >= 0.20 (setup.cfg)

    previous = get_max_threads()
    set_max_threads(1)
    try:
        yield
    finally:
        set_max_threads(previous)
