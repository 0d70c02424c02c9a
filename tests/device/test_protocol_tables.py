"""The protocol module: CRC, framing round trips, resynchronisation, the rendered header."""

import re

import pytest

from vadtool.device import protocol as P
from vadtool.errors import ProtocolError


def test_crc16_check_value():
    assert P.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize("payload", [b"", b"\x00", bytes(range(256)) * 4])
def test_encode_decode_round_trip(payload):
    dec = P.FrameDecoder()
    dec.feed(P.encode_frame(P.FRAME["LOAD_INPUT"], 200, payload))
    frame = dec.next_frame()
    assert (frame.type, frame.seq, frame.payload) == (P.FRAME["LOAD_INPUT"], 200, payload)
    assert frame.type_name == "LOAD_INPUT"
    assert dec.next_frame() is None


def test_decoder_byte_by_byte_and_garbage_between_frames():
    stream = b"\x00\xa5garbage\x5a" + P.encode_frame(1, 1) + b"\xa5" + P.encode_frame(2, 2, b"xy")
    dec = P.FrameDecoder()
    frames = []
    for b in stream:
        dec.feed(bytes([b]))
        f = dec.next_frame()
        if f:
            frames.append(f)
    assert [(f.type, f.seq, f.payload) for f in frames] == [(1, 1, b""), (2, 2, b"xy")]
    assert dec.skipped == 11


def test_bad_crc_raises_then_resyncs_to_frame_inside():
    inner = P.encode_frame(1, 9)
    bad = bytearray(P.encode_frame(2, 3, inner))
    bad[-1] ^= 0xFF
    dec = P.FrameDecoder()
    dec.feed(bytes(bad))
    with pytest.raises(ProtocolError, match="CRC"):
        dec.next_frame()
    assert dec.next_frame() == P.Frame(1, 9, b"")


def test_oversized_length_raises():
    dec = P.FrameDecoder()
    dec.feed(b"\xa5\x5a\x01\x00\x00\x10" + bytes(10))
    with pytest.raises(ProtocolError, match="4096 payload bytes"):
        dec.next_frame()


def test_encode_refuses_oversized_payload():
    with pytest.raises(ProtocolError, match="maximum of 1024"):
        P.encode_frame(2, 0, bytes(P.MAX_PAYLOAD + 1))


def test_layout_pack_unpack_round_trip():
    lay = P.LAYOUT["READ_OUTPUT"]
    assert lay.size == 6
    assert lay.unpack(lay.pack(offset=70000, length=1000)) == {"offset": 70000, "length": 1000}
    with pytest.raises(ProtocolError):
        lay.unpack(b"\x00")


def test_header_is_rendered_from_the_tables():
    h = P.render_header()
    for e in P.FRAME_TYPES:
        assert re.search(rf"#define VAD_FRAME_{e.name} 0x{e.value:02X}u /\* {re.escape(e.description)}", h)
    for e in P.ERROR_CODES:
        assert f"#define VAD_ERR_{e.name} {e.value}u" in h
    for lay in P.PAYLOADS:
        assert f"#define VAD_{lay.name}_SIZE {lay.size}u" in h
        for field, off in lay.offsets():
            assert f"#define VAD_{lay.name}_{field.upper()} {off}u" in h
    assert f"#define VAD_MAX_PAYLOAD {P.MAX_PAYLOAD}u" in h


def test_tables_have_unique_names_and_values():
    for table in (P.FRAME_TYPES, P.ERROR_CODES, P.TIMERS):
        assert len({e.name for e in table}) == len(table) == len({e.value for e in table})
    for e in P.FRAME_TYPES:  # every request's reply is its type | 0x80
        if e.value < 0x7F:
            assert e.value | 0x80 in P.FRAME_NAMES


def test_head_kinds_are_the_ones_the_c_head_renders():
    """vad_head.h's VAD_HEAD_KIND (head_c.KIND_CODES) is a HEAD_KINDS value, named alike."""
    from vadtool.head_c import KIND_CODES
    for kind, code in KIND_CODES.items():
        assert P.head_kind_code(kind) == code and P.HEAD_KIND_NAMES[code] == kind.upper().replace("-", "_")
    assert P.head_kind_code(None) == 0 == P.HEAD_KINDS[0].value
    with pytest.raises(ProtocolError, match="no HEAD_KINDS entry for density 'svm'"):
        P.head_kind_code("svm")


def test_v2_layouts():
    """HELLO_REPLY keeps version 1's fields where they were and adds the head's after them;
    a READ_CELLS_REPLY of the most cells fits one frame."""
    hello = dict(P.LAYOUT["HELLO_REPLY"].offsets())
    assert hello["protocol_version"] == 0 and hello["board"] == 112 and hello["head_kind"] == 144
    assert P.LAYOUT["READ_CELLS_REPLY"].size + P.CELL_BYTES * P.MAX_CELLS_PER_READ <= P.MAX_PAYLOAD
    assert P.LAYOUT["READ_CELLS_REPLY"].size + P.CELL_BYTES * (P.MAX_CELLS_PER_READ + 1) > P.MAX_PAYLOAD
    assert {e.name for e in P.DECISIONS} == {"NONE", "NORMAL", "ANOMALY"}
