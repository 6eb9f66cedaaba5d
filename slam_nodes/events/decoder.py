"""EventDecoder: one per topic, turns event messages into (EventBatch, TriggerEvents).

Supported message types (make_decoder(typename)):
- event_camera_msgs/msg/EventPacket and its legacy name event_array_msgs/msg/EventArray,
  encodings 'evt3', 'mono', 'trigger', 'libcaer', 'libcaer_cmp' (one stateful codec per
  encoding, like event_camera_codecs' DecoderFactory);
- dvs_msgs/msg/EventArray.

Which clock the times are on follows event_camera_codecs (see each codec): evt3 gives the
camera's sensor time (µs since camera start, in ns), mono/trigger give time_base + offset,
libcaer and libcaer_cmp give host epoch time; dvs gives each event's own stamp. Mapping sensor
time to the header clock is the time-sync layer's job.

The stateful word decoders (evt3, libcaer_cmp) run compiled numba kernels by default and the
pure-numpy reference otherwise (implementation "auto" | "numpy" | "numba", see backend.py);
both give identical results.

Events outside the message's width x height are dropped and counted (`dropped_out_of_bounds`),
with a warning naming the topic and stamp. A packet that cannot be decoded raises DecodeError
(the caller logs and skips it); the codec state is left as it was before that packet.
"""

from __future__ import annotations

import logging

import numpy as np

from slam_nodes.errors import DecodeError
from slam_nodes.events.backend import resolve_implementation
from slam_nodes.events.base import RawEvents, as_uint8, to_batch
from slam_nodes.events.dvs import (DVS_EVENT_ARRAY, decode_dvs_cdr, decode_dvs_msg,
                                   decode_dvs_ros1)
from slam_nodes.events.evt3 import Evt3Codec
from slam_nodes.events.packed import LibcaerCmpCodec, LibcaerCodec, MonoCodec, TriggerCodec
from slam_nodes.msgs.stamps import stamp_to_ns
from slam_nodes.msgs.typestore import get_typestore
from slam_nodes.types import EventBatch, TriggerEvents

logger = logging.getLogger(__name__)

EVENT_PACKET = "event_camera_msgs/msg/EventPacket"
LEGACY_EVENT_ARRAY = "event_array_msgs/msg/EventArray"
CODECS = {c.encoding: c for c in (Evt3Codec, MonoCodec, TriggerCodec, LibcaerCodec,
                                  LibcaerCmpCodec)}
SUPPORTED_TYPES = (EVENT_PACKET, LEGACY_EVENT_ARRAY, DVS_EVENT_ARRAY)
# codecs with a compiled twin take the implementation name
_COMPILED = (Evt3Codec, LibcaerCmpCodec)


def _normalise_typename(typename: str) -> str:
    """Accept 'pkg/msg/Name', 'pkg/Name' and ROS 1 style names."""
    parts = typename.replace("::", "/").split("/")
    if len(parts) == 2:
        parts = [parts[0], "msg", parts[1]]
    return "/".join(parts)


class EventDecoder:
    """Stateful decoder of one topic's event messages.

    typename: message type ('event_camera_msgs/msg/EventPacket', ...); topic: used in logs.
    time_reference: 'sensor' (default) reports times exactly as event_camera_codecs does;
    'header' moves encodings whose clock is not epoch time (evt3, mono, trigger) onto the
    header clock with one fixed offset, header stamp of the first decoded packet minus its
    first event time, so intervals stay the sensor's exact ones (libcaer, libcaer_cmp and
    dvs are epoch time already and are left as they are).
    implementation: "auto" (compiled numba kernels when numba imports, else numpy with one
    warning), "numpy" (the reference) or "numba" (ImportError without numba); ConfigError for
    other names. The resolved name is in .implementation.
    Counters: num_messages, num_events, num_triggers, num_skipped (decode_many),
    dropped_out_of_bounds.
    """

    def __init__(self, typename: str, topic: str = "", time_reference: str = "sensor",
                 implementation: str = "auto") -> None:
        self.implementation = resolve_implementation(implementation)
        if time_reference not in ("sensor", "header"):
            raise ValueError(f"time_reference must be 'sensor' or 'header', not "
                             f"{time_reference!r}")
        self.time_reference = time_reference
        self.clock_offset_ns: int | None = None  # set by the first packet in 'header' mode
        self.typename = _normalise_typename(typename)
        if self.typename not in SUPPORTED_TYPES:
            raise DecodeError(f"no event decoder for message type {typename!r}; supported: "
                              f"{', '.join(SUPPORTED_TYPES)}")
        self.topic = topic or "<events>"
        self._codecs: dict = {}
        self.num_messages = 0
        self.num_events = 0
        self.num_triggers = 0
        self.num_skipped = 0
        self.dropped_out_of_bounds = 0

    def reset(self) -> None:
        """Forget codec state and the header clock offset (e.g. after a seek in a bag)."""
        self._codecs.clear()
        self.clock_offset_ns = None

    # ------------------------------------------------------------------ public entry points
    def decode(self, msg) -> tuple[EventBatch, TriggerEvents]:
        """Decode a deserialised message (rosbags dataclass or anything with its fields)."""
        stamp = self._stamp(msg)
        if self.typename == DVS_EVENT_ARRAY:
            try:
                batch = decode_dvs_msg(msg)
            except (AttributeError, TypeError, ValueError, OverflowError) as err:
                raise DecodeError(f"{self.topic} @ {stamp}: bad dvs EventArray: {err}") from err
            return self._finish(batch, TriggerEvents.empty(), stamp)
        return self.decode_packet(msg.encoding, msg.events, int(msg.time_base),
                                  int(msg.width), int(msg.height), stamp)

    def decode_many(self, msgs) -> tuple[EventBatch, TriggerEvents]:
        """Decode a sequence of messages into one batch (in message order).

        Runs of 'evt3' packets with the same geometry are joined and decoded in one call once
        the decoder has a valid time (EVT3 is one stream, so the result equals decoding them
        one by one); this removes the per-message overhead, which dominates for small
        packets. A message that fails to decode is logged and skipped (num_skipped)."""
        batches: list[EventBatch] = []
        trigs: list[TriggerEvents] = []
        run: list = []

        def flush() -> None:
            if not run:
                return
            codec = self._codecs.get("evt3")
            joined = len(run) > 1 and codec is not None and codec.has_time and all(
                len(m.events) % 2 == 0 for m in run)
            if joined:
                events = np.concatenate([as_uint8(m.events) for m in run])
                try:
                    b, t = self.decode_packet("evt3", events, 0, int(run[0].width),
                                              int(run[0].height), self._stamp(run[0]))
                    self.num_messages += len(run) - 1
                    batches.append(b)
                    trigs.append(t)
                    run.clear()
                    return
                except DecodeError:
                    pass  # state unchanged: find the bad packet one by one
            for m in run:
                self._decode_or_skip(m, batches, trigs)
            run.clear()

        for msg in msgs:
            if (self.typename != DVS_EVENT_ARRAY and msg.encoding == "evt3"
                    and (not run or (msg.width, msg.height) == (run[0].width, run[0].height))):
                run.append(msg)
                if "evt3" not in self._codecs or not self._codecs["evt3"].has_time:
                    flush()  # decode one by one until the stream has a valid time
                continue
            flush()
            self._decode_or_skip(msg, batches, trigs)
        flush()
        batch = EventBatch.concatenate(batches) if batches else EventBatch.empty()
        trig = TriggerEvents(np.concatenate([t.t for t in trigs] or [np.zeros(0)]),
                             np.concatenate([t.polarity for t in trigs] or [np.zeros(0)]),
                             np.concatenate([t.id for t in trigs] or [np.zeros(0)]))
        return batch, trig

    def _decode_or_skip(self, msg, batches: list, trigs: list) -> None:
        try:
            b, t = self.decode(msg)
        except DecodeError as err:
            self.num_skipped += 1
            logger.warning("skipping event message: %s", err)
            return
        batches.append(b)
        trigs.append(t)

    def decode_serialized(self, raw, ros1: bool = False) -> tuple[EventBatch, TriggerEvents]:
        """Decode serialised bytes (CDR, or ROS 1 when ros1) of this decoder's type.

        For dvs_msgs/EventArray this reads the event structs directly (fast path)."""
        if self.typename == DVS_EVENT_ARRAY:
            batch, stamp = (decode_dvs_ros1 if ros1 else decode_dvs_cdr)(raw)
            return self._finish(batch, TriggerEvents.empty(), stamp)
        store = get_typestore()
        try:
            msg = (store.deserialize_ros1(raw, self.typename) if ros1
                   else store.deserialize_cdr(raw, self.typename))
        except Exception as err:  # rosbags raises several types on corrupt bytes
            raise DecodeError(f"{self.topic}: cannot deserialise {self.typename}: {err}"
                              ) from err
        return self.decode(msg)

    def decode_packet(self, encoding: str, events, time_base: int, width: int, height: int,
                      stamp_ns: int | None = None) -> tuple[EventBatch, TriggerEvents]:
        """Decode the fields of an EventPacket (events: bytes or uint8 array)."""
        codec = self._codec(encoding, stamp_ns)
        buf = as_uint8(events)
        try:
            raw = codec.decode(buf, time_base)
            if self.time_reference == "header" and not codec.epoch_time:
                self._to_header_clock(raw, stamp_ns)
        except DecodeError as err:
            raise DecodeError(f"{self.topic} @ {stamp_ns}: {err}") from err
        except (ValueError, IndexError, OverflowError) as err:
            raise DecodeError(f"{self.topic} @ {stamp_ns}: corrupt {encoding} packet: {err}"
                              ) from err
        return self._finish_raw(raw, width, height, stamp_ns)

    # ------------------------------------------------------------------ helpers
    def _codec(self, encoding: str, stamp_ns):
        codec = self._codecs.get(encoding)
        if codec is None:
            cls = CODECS.get(encoding)
            if cls is None:
                raise DecodeError(f"{self.topic} @ {stamp_ns}: unsupported event encoding "
                                  f"{encoding!r} (supported: {', '.join(CODECS)})")
            codec = self._codecs[encoding] = (cls(self.implementation) if cls in _COMPILED
                                              else cls())
        return codec

    def _to_header_clock(self, raw: RawEvents, stamp_ns) -> None:
        if self.clock_offset_ns is None:
            first = [int(a[0]) for a in (raw.t, raw.trig_t) if len(a)]
            if stamp_ns is None or not first:
                return  # nothing to anchor on yet
            self.clock_offset_ns = int(stamp_ns) - min(first)
        raw.t = raw.t + self.clock_offset_ns
        raw.trig_t = raw.trig_t + self.clock_offset_ns

    @staticmethod
    def _stamp(msg) -> int | None:
        try:
            return stamp_to_ns(msg.header.stamp)
        except AttributeError:
            return None

    def _finish_raw(self, raw: RawEvents, width: int, height: int, stamp_ns
                    ) -> tuple[EventBatch, TriggerEvents]:
        batch, trig, dropped = to_batch(raw, width, height)
        if dropped:
            self._count_dropped(dropped, width, height, stamp_ns)
        return self._finish(batch, trig, stamp_ns)

    def _finish(self, batch: EventBatch, trig: TriggerEvents, stamp_ns
                ) -> tuple[EventBatch, TriggerEvents]:
        if self.typename == DVS_EVENT_ARRAY and batch.width > 0 and batch.height > 0:
            keep = batch.in_bounds()
            if not keep.all():
                self._count_dropped(int(len(keep) - np.count_nonzero(keep)), batch.width,
                                    batch.height, stamp_ns)
                batch = batch.select(keep)
        self.num_messages += 1
        self.num_events += len(batch)
        self.num_triggers += len(trig)
        return batch, trig

    def _count_dropped(self, n: int, width: int, height: int, stamp_ns) -> None:
        before = self.dropped_out_of_bounds
        self.dropped_out_of_bounds += n
        # warn at the first drop and each time the total passes a power of ten
        if before == 0 or len(str(before)) != len(str(self.dropped_out_of_bounds)):
            logger.warning("%s @ %s: dropped %d events outside %dx%d (total %d)", self.topic,
                           stamp_ns, n, width, height, self.dropped_out_of_bounds)


def make_decoder(typename: str, topic: str = "", time_reference: str = "sensor",
                 implementation: str = "auto") -> EventDecoder:
    """An EventDecoder for a message type name; DecodeError for unsupported types.

    implementation: "auto" | "numpy" | "numba" (see EventDecoder)."""
    return EventDecoder(typename, topic, time_reference, implementation)
