"""Event-camera decoding, encoding, file readers and representations (vectorised numpy).

Public API:
- make_decoder(typename, topic="") -> EventDecoder; EventDecoder.decode(msg) ->
  (EventBatch, TriggerEvents), .decode_serialized(raw, ros1=False)
- encode_evt3(batch, ...) / encode_mono(batch, time_base) -> bytes
- event_packet_msg(batch, encoding, stamp_ns, frame_id), dvs_event_array_msg(batch, stamp_ns,
  frame_id), dvs_event_array_cdr(batch, stamp_ns, frame_id)
- read_raw(path) -> (EventBatch, TriggerEvents, header dict), iter_raw(path, chunk_bytes)
- read_aedat4(path) -> (EventBatch, TriggerEvents, info dict)
- representations.accumulate_polarity(batch, width, height, t0_ns, t1_ns), time_surface(...)
"""

from slam_nodes.events.aedat4 import read_aedat4
from slam_nodes.events.decoder import EventDecoder, make_decoder
from slam_nodes.events.dvs import dvs_event_array_cdr, dvs_event_array_msg
from slam_nodes.events.encoders import encode_evt3, encode_mono, event_packet_msg
from slam_nodes.events.raw import iter_raw, read_raw

__all__ = ["EventDecoder", "dvs_event_array_cdr", "dvs_event_array_msg", "encode_evt3",
           "encode_mono", "event_packet_msg", "iter_raw", "make_decoder", "read_aedat4",
           "read_raw"]
