"""Event-camera decoding, encoding, file readers and representations.

Public API:
- make_decoder(typename, topic="", time_reference="sensor", implementation="auto") ->
  EventDecoder; EventDecoder.decode(msg) -> (EventBatch, TriggerEvents), .decode_many(msgs),
  .decode_serialized(raw, ros1=False)
- encode_evt3(batch, ...) / encode_mono(batch, time_base) -> bytes
- event_packet_msg(batch, encoding, stamp_ns, frame_id), dvs_event_array_msg(batch, stamp_ns,
  frame_id), dvs_event_array_cdr(batch, stamp_ns, frame_id)
- read_raw(path, chunk_bytes, implementation="auto") -> (EventBatch, TriggerEvents, header
  dict), iter_raw(path, chunk_bytes, implementation="auto")
- read_aedat4(path) -> (EventBatch, TriggerEvents, info dict)
- representations.accumulate_polarity(batch, width, height, t0_ns, t1_ns), time_surface(...)

The stateful word formats (EVT3, EVT2, libcaer_cmp) have two implementations giving identical
results: compiled numba kernels (_kernels.py, the default) and the vectorised numpy reference
(evt3.py, evt2.py, packed.py); implementation="auto" | "numpy" | "numba" picks one (backend.py).
The other formats are vectorised numpy only.
"""

from slam_nodes.events.aedat4 import read_aedat4
from slam_nodes.events.decoder import EventDecoder, make_decoder
from slam_nodes.events.dvs import dvs_event_array_cdr, dvs_event_array_msg
from slam_nodes.events.encoders import encode_evt3, encode_mono, event_packet_msg
from slam_nodes.events.raw import iter_raw, read_raw

__all__ = ["EventDecoder", "dvs_event_array_cdr", "dvs_event_array_msg", "encode_evt3",
           "encode_mono", "event_packet_msg", "iter_raw", "make_decoder", "read_aedat4",
           "read_raw"]
