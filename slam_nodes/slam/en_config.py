"""Typed configuration of the EN-SLAM extension: the core SlamConfig plus `events`, `crf` and
`blur` sections (unknown keys rejected, units in the names), loadable from the same dict/YAML
as the core: those three sections are split off and the rest goes to the core's loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from slam_nodes.config_schema import from_dict, read_config_source
from slam_nodes.slam.config import SlamConfig, load_config


@dataclass
class EventsConfig:
    """Event windows, event loss and the event buffer.

    window_frames: temporal aggregation, windows from each of the last N tracked frames to the
    current one (EN-SLAM's tools aggregate over 5-10 frame intervals; 2-3 suits 30 Hz here);
    trust_lo / trust_hi: frame tracking weighs the event term by how well the map predicts
    events (slam_nodes.slam.events.event_trust), event-only tracking too;
    T_rig_event: 4x4 row-major event-camera -> rig extrinsic (identity: shared pixels);
    reference_weight: weight of the reference-frame term in frame tracking (events predicted
    from the previous frames' measured log image and depth, slam_nodes.slam.en_reference; needs
    a sensor sharing the RGB-D pixels); 0, the default, leaves it out. Anchored at
    tracked poses, it carries their error forward: over the whole 10 s presets at 128x96
    (benchmarks.bench_enslam --start-s 0 --duration 10, code of 5b1aa31) event mode read, with
    weight 20 / with 0 / RGB-D-only, room-blur seeds 0-3 9.31 / 6.94 / 7.11, 9.49 / 7.21 / 7.06,
    9.39 / 7.29 / 6.56, 6.36 / 4.85 / 7.15 cm and room-dark seeds 0-2 8.25 / 6.55 / 6.32,
    8.33 / 5.92 / 6.05, 7.47 / 6.26 / 6.29 cm, while on the 1 s clips it changed little (blur
    seeds 0-11 1.31 vs 1.34 cm, dark seeds 0-5 0.62 vs 0.66, dark+dropout 0.67 vs 0.65);
    event_only_reference_weight: its weight in event-only steps (no usable frame), where it is
    the one event term left while the map does not predict events yet (event trust 0: a young
    or briefly trained map); references are kept when either weight is > 0;
    reference_sigma_px: its Gaussian smoothing;
    reference_max_points: the term uses at most this many pixels of a reference, those with the
    steepest log image (en_reference.make_reference; 0: all). Its cost per tracking iteration
    grew with the image: at 320x240 (room-dark / room-blur seeds 0-1) event mode cost 1.78 /
    1.65x the CPU time per frame of RGB-D-only with every pixel, 1.47 / 1.35x with 8192 and
    1.46 / 1.37x with 4096, at ATE 0.50, 0.75 / 4.42, 4.02 cm (every pixel), 0.47, 0.50 /
    4.76, 4.38 (8192) and 0.61, 0.75 / 5.20, 4.62 (4096);
    map_weight: weight of the event term in mapping (training the radiance on event windows);
    0 keeps the term as a measurement of the map's event fidelity only. At 64x48 with cpu-lite
    mapping, weight 20 made the map worse on all three benchmark clips (single runs, ATE with /
    without, reference term off: blur 30.6 / 16.9 cm, dark 2.53 / 2.13, normal 2.19 / 1.82);
    at 128x96 (code of 1529783, room-blur clips seeds 0-5) 1.80 / 1.08 / 2.25 / 1.28 / 2.54 /
    1.40 cm with weight 20 against 1.38 / 1.32 / 1.24 / 1.08 / 1.14 / 1.28 without (means 1.73
    vs 1.24).
    """

    enabled: bool = True
    window_frames: int = 2
    n_rays: int = 64                      # per window, tracking
    event_share: float = 0.6
    weight: float = 20.0
    huber_delta: float = 0.3
    deadzone: float = 0.5                 # units of C
    no_event_weight: float = 0.5
    init_contrast: float = 0.25
    lr_contrast: float = 1e-2
    map_windows: int = 2
    map_n_rays: int = 128
    map_weight: float = 0.0               # see the class docstring
    edge_px: int = 4
    max_rate_eps: float = 5e6
    max_events: int = 4_000_000
    event_only_min_events: int = 200
    event_only_prior_sigma_rad: float = 0.01  # event-only frames: prior around the motion
    event_only_prior_sigma_m: float = 0.01    # model's prediction (tracker.PosePrior)
    trust_lo: float = 0.3                 # map event fidelity with no trust (events.event_trust)
    trust_hi: float = 0.6                 # ... and with full trust
    T_rig_event: list | None = None
    reference_weight: float = 0.0         # see the class docstring
    event_only_reference_weight: float = 20.0
    reference_sigma_px: float = 1.0
    reference_max_points: int = 8192      # 0 = every pixel; see en_reference.make_reference


@dataclass
class CrfConfig:
    """Learned camera response (see slam_nodes.field.crf)."""

    enabled: bool = True
    n_knots: int = 24
    log_min: float = -9.0
    log_max: float = 1.0
    init_gamma: float = 2.2
    event_eps: float = 1e-3
    lr_curve: float = 5e-3
    lr_exposure: float = 2e-2


@dataclass
class BlurConfig:
    """Blur-aware RGB term; exposure from the frame (RGBDFrame.exposure_s) else exposure_s.

    min_blur_px: the term replaces the plain RGB term only when the constant-velocity model
    predicts at least this much image motion (input pixels) during the exposure; below it one
    render at the stamp is as good and the blur term (n_samples renders per ray) only costs.
    """

    enabled: bool = True
    n_samples: int = 3
    n_rays: int = 64
    exposure_s: float = 0.0
    min_blur_px: float = 1.0


@dataclass
class EnSlamConfig:
    slam: SlamConfig
    events: EventsConfig = field(default_factory=EventsConfig)
    crf: CrfConfig = field(default_factory=CrfConfig)
    blur: BlurConfig = field(default_factory=BlurConfig)


def load_en_slam_config(source: dict | str | Path | None = None, preset: str | None = None
                        ) -> EnSlamConfig:
    """EnSlamConfig from a dict / YAML path / None on top of a core preset."""
    data = read_config_source(source, "slam", "EN-SLAM config")
    sections = {k: data.pop(k) for k in ("events", "crf", "blur") if k in data}
    return EnSlamConfig(
        load_config(data, preset),
        from_dict(EventsConfig, sections.get("events", {}), "config.events"),
        from_dict(CrfConfig, sections.get("crf", {}), "config.crf"),
        from_dict(BlurConfig, sections.get("blur", {}), "config.blur"))
