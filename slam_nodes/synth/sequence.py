"""Render a synthetic sequence in time order: camera frames, event packets and LiDAR sweeps.

Timeline (all stamps int64 ns = config.start_ns + time since the start):
- camera frame i is stamped t_i = i / rate; its exposure window is [t_i - e_i/2, t_i + e_i/2]
  (e_i from auto-exposure or fixed) and its RGB image averages `m_i` renders spread over that
  window (m_i grows with the image motion during the exposure: motion blur); its depth image is
  the render at t_i exactly;
- the event simulator consumes renders at every sample time from t_0 on: uniform sub-steps
  between frames, dense enough that the image moves < `px_per_step` pixels between them (from the
  trajectory's angular and linear speed and the nearest scene depth), plus the blur samples;
  events of (t_{i-1}, t_i] are emitted as one packet at t_i;
- LiDAR sweeps start every 1 / lidar rate and are cast independently.
Exposures and sample times are planned up front from a low-resolution preview render of each
frame (mean radiance for auto-exposure, near depth for the motion bound), so the whole plan is
deterministic and known before the expensive renders.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from slam_nodes.synth.camera_sim import auto_exposure, expose_rgb, log_luminance, simulate_depth
from slam_nodes.synth.config import LightingSchedule, SequenceConfig
from slam_nodes.synth.event_sim import EventSimulator
from slam_nodes.synth.imu_sim import ImuReadings, simulate_imu
from slam_nodes.synth.lidar_sim import SimulatedScan, simulate_scan
from slam_nodes.synth.render import Renderer, luminance
from slam_nodes.synth.scenes import Scene, build_scene
from slam_nodes.synth.trajectories import SmoothTrajectory, pose_rates
from slam_nodes.types import EventBatch
from slam_nodes.types.pose import NS_PER_S

NS = NS_PER_S  # short name used throughout the synth package


@dataclass
class SynthFrame:
    """One camera frame with its ground truth.

    rgb uint8 [H,W,3]; depth float32 [H,W] metres (noisy, 0 = hole) or None without a depth
    sensor; depth_true float32 [H,W] exact (0 = no hit); instance uint16 [H,W];
    log_luminance float32 [H,W] noiseless log(Y + eps) at the stamp (what the event sensor saw);
    T_world_cam [4,4] at the stamp; exposure_s, gain, illumination: ground truth photometry;
    blur_samples: renders averaged into rgb.
    """

    index: int
    stamp_ns: int
    rgb: np.ndarray
    depth: np.ndarray | None
    depth_true: np.ndarray
    instance: np.ndarray
    log_luminance: np.ndarray
    T_world_cam: np.ndarray
    exposure_s: float
    gain: float
    illumination: float
    blur_samples: int


@dataclass
class SynthEvents:
    """Events of (t0_ns, t1_ns], time-sorted."""

    events: EventBatch
    t0_ns: int
    t1_ns: int


@dataclass
class SynthScan:
    """One LiDAR sweep with ground truth (see SimulatedScan) and T_world_lidar at its stamp."""

    sim: SimulatedScan
    T_world_lidar: np.ndarray


@dataclass
class SynthImu:
    """IMU readings (see ImuReadings) of one stretch of time, in stamp order."""

    readings: ImuReadings


@dataclass
class Plan:
    """Precomputed timeline. frame_ns [F]; exposure_s [F]; gain [F]; illumination [F];
    sample_ns [S] sorted unique; sample_frame [S] (frame whose exposure window holds the sample,
    -1 if none); scan_ns [K] LiDAR sweep starts; imu_ns [M] IMU sample stamps."""

    frame_ns: np.ndarray
    exposure_s: np.ndarray
    gain: np.ndarray
    illumination: np.ndarray
    sample_ns: np.ndarray
    sample_frame: np.ndarray
    scan_ns: np.ndarray
    imu_ns: np.ndarray


@dataclass
class Sequence:
    """A configured sequence: scene, renderer, trajectory, sensors and the plan."""

    config: SequenceConfig
    scene: Scene
    renderer: Renderer
    trajectory: SmoothTrajectory
    lighting: LightingSchedule
    render_workers: int = 2
    plan: Plan = field(init=False)
    timings_s: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.camera = self.config.camera()
        self.T_base_cam = self.config.mount.T_base_camera()
        self.T_base_lidar = self.config.mount.T_base_lidar()
        self.T_base_imu = self.config.mount.T_base_imu()
        t = time.perf_counter()
        self.plan = self._make_plan()
        self.timings_s["plan"] = time.perf_counter() - t

    # ---------------------------------------------------------------- poses
    def camera_poses(self, stamps_ns: np.ndarray) -> np.ndarray:
        """T_world_cam [N,4,4] (optical frame)."""
        return self.trajectory.poses(stamps_ns) @ self.T_base_cam

    def lidar_poses(self, stamps_ns: np.ndarray) -> np.ndarray:
        """T_world_lidar [N,4,4]."""
        return self.trajectory.poses(stamps_ns) @ self.T_base_lidar

    def imu_poses(self, stamps_ns: np.ndarray) -> np.ndarray:
        """T_world_imu [N,4,4]."""
        return self.trajectory.poses(stamps_ns) @ self.T_base_imu

    def imu_readings(self) -> ImuReadings | None:
        """All IMU readings of the sequence (seeded noise and biases), or None without an IMU."""
        if self.config.imu is None:
            return None
        rng = np.random.default_rng([self.config.seed, 13])
        return simulate_imu(self.imu_poses, self.plan.imu_ns, self.config.imu, rng)

    def illumination_at(self, stamps_ns: np.ndarray) -> np.ndarray:
        return self.lighting((np.asarray(stamps_ns, dtype=np.int64) - self.config.start_ns) / NS)

    # ---------------------------------------------------------------- plan
    def _make_plan(self) -> Plan:
        cfg, rgb = self.config, self.config.rgb
        n_frames = int(np.floor(cfg.duration_s * rgb.rate_hz + 1e-9))
        frame_ns = cfg.start_ns + np.round(np.arange(n_frames) * NS / rgb.rate_hz).astype(np.int64)
        illum = self.illumination_at(frame_ns)
        preview = self.camera.scaled(min(1.0, 40.0 / self.camera.width))
        poses = self.camera_poses(frame_ns)
        mean_rad = np.empty(n_frames)
        z_near = np.empty(n_frames)
        for i in range(n_frames):
            out = self.renderer.render(preview, poses[i], float(illum[i]))
            mean_rad[i] = float(luminance(out.radiance).mean())
            hit = out.depth[out.depth > 0]
            z_near[i] = float(np.percentile(hit, 5)) if len(hit) else 5.0
        exposure, gain = auto_exposure(mean_rad, rgb)
        # image motion bound (pixels per second) at 4 points of each frame interval
        f_px = self.camera.fx
        sub = 4
        probe = frame_ns[0] + np.round(np.arange((n_frames - 1) * sub + 1) * NS / (rgb.rate_hz * sub)).astype(np.int64)
        ang, lin = pose_rates(self.camera_poses, probe)
        z_probe = np.interp(np.arange(len(probe)) / sub, np.arange(n_frames), np.maximum(z_near, 0.3))
        # bound on any pixel's speed (px/s): a rotation moves a pixel at normalised radius r by
        # up to f * omega * (1 + r^2) (largest at the image corners), a translation by
        # f * v * sqrt(1 + r^2) / z; z is the 5th-percentile depth of the preview.
        cam = self.camera
        r2 = ((cam.width / 2) / cam.fx) ** 2 + ((cam.height / 2) / cam.fy) ** 2
        flow = f_px * (ang * (1 + r2) + lin * np.sqrt(1 + r2) / z_probe)
        times = [frame_ns]
        owner = [np.arange(n_frames)]
        # blur samples inside each exposure window
        for i in range(n_frames):
            flow_i = flow[min(i * sub, len(flow) - 1)]
            m = int(np.ceil(flow_i * exposure[i] / rgb.blur_px_per_sample))
            m = min(max(m, 1), rgb.max_blur_samples)
            m += (m + 1) % 2  # odd: the middle sample is the stamp itself
            if m > 1:
                offs = np.round(np.linspace(-exposure[i] / 2, exposure[i] / 2, m) * NS).astype(np.int64)
                times.append(frame_ns[i] + offs)
                owner.append(np.full(m, i))
        # event sub-steps between frames
        if cfg.events is not None:
            for i in range(1, n_frames):
                peak = flow[(i - 1) * sub:i * sub + 1].max()
                dt = frame_ns[i] - frame_ns[i - 1]
                n = int(np.ceil(peak * dt / NS / cfg.events.px_per_step))
                n = min(max(n, 1), cfg.events.max_steps_per_frame)
                k = np.arange(1, n)
                times.append(frame_ns[i - 1] + (k * dt) // n)
                owner.append(np.full(len(k), -1))
        all_t = np.concatenate(times)
        all_owner = np.concatenate(owner)
        sample_ns, first = np.unique(all_t, return_index=True)
        # a time that is both a sub-step and in an exposure window belongs to the frame
        sample_frame = np.full(len(sample_ns), -1)
        pos = np.searchsorted(sample_ns, all_t)
        has_owner = all_owner >= 0
        sample_frame[pos[has_owner]] = all_owner[has_owner]
        scan_ns = np.zeros(0, dtype=np.int64)
        if cfg.lidar is not None:
            period = NS / cfg.lidar.rate_hz
            n_scans = int(np.floor(cfg.duration_s * cfg.lidar.rate_hz + 1e-9))
            scan_ns = cfg.start_ns + np.round(np.arange(n_scans) * period).astype(np.int64)
        imu_ns = np.zeros(0, dtype=np.int64)
        if cfg.imu is not None:
            n_imu = int(np.floor(cfg.duration_s * cfg.imu.rate_hz + 1e-9))
            imu_ns = cfg.start_ns + np.round(np.arange(n_imu) * NS / cfg.imu.rate_hz).astype(np.int64)
        return Plan(frame_ns, exposure, gain, illum, sample_ns, sample_frame, scan_ns, imu_ns)

    # ---------------------------------------------------------------- rendering
    def _tick(self, key: str, t0: float) -> float:
        now = time.perf_counter()
        self.timings_s[key] = self.timings_s.get(key, 0.0) + now - t0
        return now

    def _scan(self, k: int) -> SynthScan:
        cfg = self.config
        t0 = time.perf_counter()
        start = int(self.plan.scan_ns[k])
        rng = np.random.default_rng([cfg.seed, 12, k])
        sim = simulate_scan(self.renderer, self.lidar_poses, start, cfg.lidar, rng,
                            float(self.illumination_at(np.array([start]))[0]))
        self._tick("lidar", t0)
        return SynthScan(sim, self.lidar_poses(np.array([start]))[0])

    def _renders(self, poses: np.ndarray, illum: np.ndarray, log_eps: float) -> Iterator[tuple]:
        """(RenderOutput, log luminance) of every sample, in order. Renders are independent,
        so `render_workers` threads compute them ahead (a bounded window); Open3D and most
        numpy kernels release the GIL. Results do not depend on the worker count."""
        cam = self.camera

        def work(j: int) -> tuple:
            out = self.renderer.render(cam, poses[j], float(illum[j]))
            return out, log_luminance(out.radiance, log_eps)

        n = len(poses)
        if self.render_workers <= 1:
            for j in range(n):
                yield work(j)
            return
        window = 2 * self.render_workers
        with ThreadPoolExecutor(max_workers=self.render_workers) as pool:
            futures = deque(pool.submit(work, j) for j in range(min(window, n)))
            nxt = len(futures)
            while futures:
                result = futures.popleft().result()
                if nxt < n:
                    futures.append(pool.submit(work, nxt))
                    nxt += 1
                yield result

    def items(self, progress: Callable[[int], None] | None = None
              ) -> Iterator[SynthFrame | SynthEvents | SynthScan | SynthImu]:
        """Yield frames, event packets, scans and IMU chunks in (approximately) time order.
        `progress(n)` is called after each of the plan's sample renders."""
        cfg, plan = self.config, self.plan
        cam = self.camera
        events_cfg = cfg.events
        sim = EventSimulator(cam.width, cam.height, events_cfg, cfg.seed) if events_cfg else None
        pending: list[EventBatch] = []
        last_flush = int(plan.frame_ns[0])
        acc: dict[int, np.ndarray] = {}
        count: dict[int, int] = {}
        centre: dict[int, tuple] = {}
        window_end = {}
        for s, f in zip(plan.sample_ns, plan.sample_frame):
            if f >= 0:
                window_end[int(f)] = int(s)
        next_scan = 0
        poses = self.camera_poses(plan.sample_ns)
        illum = self.illumination_at(plan.sample_ns)
        frame_index = {int(t): i for i, t in enumerate(plan.frame_ns)}
        imu = self.imu_readings()
        imu_done = 0
        renders = self._renders(poses, illum, events_cfg.log_eps if events_cfg else 1e-3)
        for j, s in enumerate(plan.sample_ns):
            s = int(s)
            while next_scan < len(plan.scan_ns) and plan.scan_ns[next_scan] <= s:
                yield self._scan(next_scan)
                next_scan += 1
            t0 = time.perf_counter()
            out, log_l = next(renders)  # main-thread time spent waiting for renders
            t0 = self._tick("render", t0)
            if sim is not None and s >= plan.frame_ns[0]:
                if s == plan.frame_ns[0]:
                    sim.reset(log_l, s)
                else:
                    pending.append(sim.step(log_l, s))
                t0 = self._tick("events", t0)
            f = int(plan.sample_frame[j])
            if f >= 0:
                acc[f] = acc[f] + out.radiance if f in acc else out.radiance.astype(np.float32).copy()
                count[f] = count.get(f, 0) + 1
            fi = frame_index.get(s)
            if fi is not None and imu is not None:
                end = int(np.searchsorted(imu.stamps_ns, s, side="right"))
                if end > imu_done:
                    yield SynthImu(_slice_imu(imu, imu_done, end))
                    imu_done = end
            if fi is not None:
                centre[fi] = (out, log_l, poses[j])
                if sim is not None and fi > 0:
                    t0 = time.perf_counter()
                    batch = EventBatch.concatenate(pending) if pending else EventBatch.empty(cam.width, cam.height)
                    batch.width, batch.height = cam.width, cam.height
                    self._tick("events", t0)
                    yield SynthEvents(batch, last_flush, s)
                    pending, last_flush = [], s
            if f >= 0 and window_end[f] == s:
                t0 = time.perf_counter()
                frame = self._frame(f, acc.pop(f) / np.float32(count.pop(f)), centre.pop(f))
                self._tick("camera", t0)
                yield frame
            if progress is not None:
                progress(1)
        while next_scan < len(plan.scan_ns):
            yield self._scan(next_scan)
            next_scan += 1
        if imu is not None and imu_done < len(imu.stamps_ns):
            yield SynthImu(_slice_imu(imu, imu_done, len(imu.stamps_ns)))

    def _frame(self, f: int, radiance: np.ndarray, centre: tuple) -> SynthFrame:
        cfg, plan = self.config, self.plan
        out, log_l, T = centre
        rng = np.random.default_rng([cfg.seed, 10, f])
        rgb = expose_rgb(radiance, float(plan.exposure_s[f]), float(plan.gain[f]), cfg.rgb, rng)
        depth = None
        if cfg.depth is not None:
            depth = simulate_depth(out.depth, out.albedo, out.normal_cos, cfg.depth,
                                   np.random.default_rng([cfg.seed, 11, f]))
        n_blur = int(np.count_nonzero(plan.sample_frame == f))
        return SynthFrame(f, int(plan.frame_ns[f]), rgb, depth, out.depth, out.instance, log_l,
                          T, float(plan.exposure_s[f]), float(plan.gain[f]),
                          float(plan.illumination[f]), n_blur)


def _slice_imu(r: ImuReadings, a: int, b: int) -> ImuReadings:
    return ImuReadings(r.stamps_ns[a:b], r.gyro[a:b], r.accel[a:b], r.gyro_true[a:b],
                       r.accel_true[a:b], r.gyro_bias[a:b], r.accel_bias[a:b])


def build_sequence(config: SequenceConfig, nthreads: int = 0, workers: int = 2) -> Sequence:
    """Scene, renderer, trajectory and plan for `config` (no full-resolution rendering yet).

    workers: render threads (renders run ahead of the sensor simulation); nthreads: Open3D
    ray-casting threads per render (0: all cores when workers == 1, else 1 each)."""
    t = time.perf_counter()
    scene = build_scene(config.scene, config.seed)
    if nthreads == 0 and workers > 1:
        nthreads = 1
    renderer = Renderer(scene, nthreads=nthreads)
    trajectory = SmoothTrajectory(scene.nav, config.trajectory, config.duration_s, config.seed,
                                  start_ns=config.start_ns)
    lighting = LightingSchedule(config.lighting, config.duration_s, config.seed)
    seq = Sequence(config, scene, renderer, trajectory, lighting, render_workers=max(1, int(workers)))
    seq.timings_s["scene"] = time.perf_counter() - t - seq.timings_s["plan"]
    return seq


def render_sequence(config: SequenceConfig, nthreads: int = 0, workers: int = 2,
                    progress: Callable[[int], None] | None = None) -> Iterator[SynthFrame | SynthEvents | SynthScan]:
    """In-memory iterator over a sequence's frames, event packets and LiDAR sweeps."""
    return build_sequence(config, nthreads, workers).items(progress)
