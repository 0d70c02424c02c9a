"""Property-based fuzzing (Hypothesis) of the host side's wire input: the frame decoder on
any bytes in any chunking, frames hidden among garbage, and any HELLO payload.
VADTOOL_FUZZ_EXAMPLES sets the examples per property (CI: 1500; `make fuzz`: 100,000)."""

from __future__ import annotations

import math
import os

from hypothesis import HealthCheck, given, settings, strategies as st

from vadtool.device import protocol as P
from vadtool.device.hello import MIN_DEVICE_PAYLOAD, parse_hello
from vadtool.errors import DeviceError, ProtocolError

EXAMPLES = int(os.environ.get("VADTOOL_FUZZ_EXAMPLES", "1500"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                derandomize="VADTOOL_FUZZ_EXAMPLES" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def decode_all(chunks):
    """Every frame the decoder gives for the chunks fed one by one, and the errors it raised."""
    dec, frames, errors = P.FrameDecoder(), [], 0
    for chunk in chunks:
        dec.feed(chunk)
        while True:
            try:
                frame = dec.next_frame()
            except ProtocolError:
                errors += 1
                continue
            if frame is None:
                break
            frames.append(frame)
    return dec, frames, errors


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:])]


frame_specs = st.tuples(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=P.MAX_PAYLOAD))


@FUZZ
@given(st.binary(max_size=4096), st.lists(st.integers(0, 4096), max_size=8))
def test_any_bytes_in_any_chunks(data, cuts):
    dec, frames, errors = decode_all(chunked(data, cuts))
    encoded = [P.encode_frame(f.type, f.seq, f.payload) for f in frames]
    assert all(e in data for e in encoded)  # every frame it returns was sent whole
    # every byte is accounted for: in a frame, skipped (garbage or a dropped bad start), or waiting
    assert dec.skipped + sum(map(len, encoded)) + len(dec.buf) == len(data)
    assert len(dec.buf) < P.HEADER_BYTES + P.MAX_PAYLOAD + P.CRC_BYTES


@FUZZ
@given(st.lists(st.tuples(st.binary(max_size=40).map(lambda g: g.replace(b"\xa5", b"")), frame_specs),
                max_size=6),
       st.binary(max_size=40).map(lambda g: g.replace(b"\xa5", b"")),
       st.lists(st.integers(0, 8000), max_size=10))
def test_frames_among_garbage_are_all_found(pieces, tail, cuts):
    sent = [(t, s, p) for _, (t, s, p) in pieces]
    stream = b"".join(g + P.encode_frame(t, s, p) for g, (t, s, p) in pieces) + tail
    _, frames, errors = decode_all(chunked(stream, cuts))
    assert [(f.type, f.seq, f.payload) for f in frames] == sent
    assert errors == 0


hello_fields = st.fixed_dictionaries({
    f: (st.binary(min_size=int(k[1:]), max_size=int(k[1:])) if k.startswith("c") else
        st.floats(width=32, allow_nan=True) if k == "f32" else
        st.integers(-2**31, 2**31 - 1) if k == "i32" else
        st.integers(0, 2**(8 * {"u8": 1, "u16": 2, "u32": 4, "u64": 8}[k]) - 1))
    for f, k in P.LAYOUT["HELLO_REPLY"].fields})


@FUZZ
@given(st.one_of(hello_fields.map(lambda f: P.LAYOUT["HELLO_REPLY"].pack(**{**f, "protocol_version": P.VERSION})),
                 st.binary(max_size=300)))
def test_any_hello_is_a_device_error_or_a_sane_device(payload):
    try:
        info = parse_hello(payload, "test://fuzz")
    except DeviceError:
        return
    assert MIN_DEVICE_PAYLOAD <= info.max_payload <= P.MAX_PAYLOAD and info.clock_hz > 0
    assert info.input_bytes == math.prod(info.input_shape) > 0 and info.output_bytes > 0
    assert math.isfinite(info.input_scale) and info.input_scale > 0 and info.output_scale > 0
    assert info.has_head == (info.grid[0] * info.grid[1] > 0)
