"""The device protocol, defined once: frame types, error codes, payload layouts, framing.

Every table here is the only definition. The C header ``protocol.h`` that the firmware's
protocol server includes is rendered from these tables by :func:`render_header`
(template ``firmware_templates/protocol/protocol.h.j2``).

Frame layout (all integers little-endian)::

    offset  size  field
    0       2     sync bytes A5 5A
    2       1     frame type (FRAME_TYPES)
    3       1     sequence number; a reply carries the sequence number of its request
    4       2     payload length, 0 .. MAX_PAYLOAD
    6       n     payload (layouts in PAYLOADS; some carry trailing data bytes)
    6+n     2     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over bytes 2 .. 6+n-1

A receiver that meets a bad length or a bad CRC drops one byte and scans for the next sync,
so a frame hidden behind garbage is still found.

Version 2 runs the head on the device: HELLO_REPLY says which (HEAD_KINDS), on what grid,
with how many fraction bits and what threshold; INFER_REPLY carries the image score and the
decision (DECISIONS); READ_CELLS reads the int32 cell scores in chunks; STANDALONE switches a
firmware rendered with --mode both to its standalone loop. A head-less firmware (classifier)
reports head NONE and answers as version 1 did.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from ..errors import ProtocolError

VERSION = 2
SYNC = b"\xa5\x5a"
HEADER_BYTES = 6
CRC_BYTES = 2
MAX_PAYLOAD = 1024
MAX_RUNS = 16
MAX_WARMUP = 1000
RX_IDLE_MS = 100  # the device drops a partial frame after this long without a byte

_HEADER = struct.Struct("<2sBBH")


@dataclass(frozen=True)
class Entry:
    """One row of a protocol table: a C-style NAME, its wire value and what it means."""

    name: str
    value: int
    description: str


FRAME_TYPES = (
    Entry("HELLO", 0x01, "host asks who the device is; empty payload"),
    Entry("LOAD_INPUT", 0x02, "host writes a chunk of the int8 input at an offset"),
    Entry("INFER", 0x03, "host runs warm-up and timed inferences on the loaded input"),
    Entry("READ_OUTPUT", 0x04, "host reads a chunk of the int8 output of the last inference"),
    Entry("READ_CELLS", 0x05, "host reads a chunk of the int32 cell scores of the last inference"),
    Entry("STANDALONE", 0x06, "host switches the device to its standalone loop (firmware rendered --mode both)"),
    Entry("ERROR", 0x7F, "device reports a failed request: code, request type, detail"),
    Entry("HELLO_REPLY", 0x81, "board, model hash, shapes, arena, clock and the head that runs"),
    Entry("LOAD_INPUT_REPLY", 0x82, "number of contiguous input bytes loaded so far"),
    Entry("INFER_REPLY", 0x83, "image score, decision, timer ticks per timed run, then output bytes if they fit"),
    Entry("READ_OUTPUT_REPLY", 0x84, "offset and bytes of an output chunk"),
    Entry("READ_CELLS_REPLY", 0x85, "first cell and int32 scores of a chunk of cells"),
    Entry("STANDALONE_REPLY", 0x86, "the device leaves the protocol for its standalone loop after this frame"),
)

ERROR_CODES = (
    Entry("BAD_CRC", 1, "the frame's CRC did not match its bytes"),
    Entry("BAD_LENGTH", 2, "payload length above the maximum or wrong for the frame type"),
    Entry("UNKNOWN_TYPE", 3, "the frame type is not a request the device knows"),
    Entry("BAD_OFFSET", 4, "chunk outside the buffer, or leaving a gap after the loaded bytes"),
    Entry("INPUT_INCOMPLETE", 5, "inference asked for before the whole input was loaded"),
    Entry("MODEL_FAILED", 6, "the model returned a non-zero status (detail holds it)"),
    Entry("BAD_ARGUMENT", 7, "run or warm-up count out of range (1 run, no warm-up unless INPUT_KEPT)"),
    Entry("OUTPUT_NOT_READY", 8, "output read before an inference on the current input"),
    Entry("FRAME_TIMEOUT", 9, "bytes stopped arriving in the middle of a frame"),
    Entry("NOT_SUPPORTED", 10, "the firmware was rendered without it: cell scores need a head, "
          "STANDALONE needs --mode both"),
)

TIMERS = (
    Entry("SYSTICK", 1, "SysTick ticks at the core clock (instructions x clock/1e9 under QEMU -icount shift=0)"),
    Entry("DWT", 2, "DWT CYCCNT core clock cycles"),
    Entry("HOST_NS", 3, "host monotonic clock nanoseconds"),
)

HELLO_FLAGS = (
    Entry("INPUT_KEPT", 1, "the input survives an inference: warm-up and repeated runs allowed"),
    Entry("STANDALONE", 2, "the firmware also has the standalone loop (STANDALONE switches to it)"),
)

# Which head runs on the device after the network (a head-less firmware returns features only)
HEAD_KINDS = (
    Entry("NONE", 0, "no head on the device: the host scores the output (classifier, host-only head)"),
    Entry("GAUSSIAN", 1, "one Gaussian shared by all cells"),
    Entry("GMM", 2, "a Gaussian mixture shared by all cells"),
    Entry("PER_POSITION", 3, "one Gaussian per cell position"),
    Entry("KNN", 4, "distance to the nearest cell of an int8 coreset bank"),
)

# The device's decision on the last image
DECISIONS = (
    Entry("NONE", 0, "no head on the device: no decision"),
    Entry("NORMAL", 1, "image score at or below the threshold"),
    Entry("ANOMALY", 2, "image score above the threshold"),
)

_KINDS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "i32": "i", "f32": "f"}


@dataclass(frozen=True)
class Layout:
    """The fixed part of a payload: (field, kind) pairs; kinds are u8..u64, i32, f32, or cN
    for N bytes of text. Trailing data bytes, where a frame has them, follow the fixed part."""

    name: str
    fields: tuple[tuple[str, str], ...]

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(
            f"{k[1:]}s" if k.startswith("c") else _KINDS[k] for _, k in self.fields))

    @property
    def size(self) -> int:
        return self.struct.size

    def offsets(self) -> list[tuple[str, int]]:
        out, pos = [], 0
        for field, kind in self.fields:
            out.append((field, pos))
            pos += int(kind[1:]) if kind.startswith("c") else struct.calcsize("<" + _KINDS[kind])
        return out

    def pack(self, **values) -> bytes:
        return self.struct.pack(*(values[f] for f, _ in self.fields))

    def unpack(self, payload: bytes) -> dict:
        if len(payload) < self.size:
            raise ProtocolError(f"{self.name} payload has {len(payload)} bytes, expected at least {self.size}")
        return dict(zip((f for f, _ in self.fields), self.struct.unpack_from(payload)))


PAYLOADS = (
    Layout("HELLO_REPLY", (
        ("protocol_version", "u16"), ("max_payload", "u16"), ("clock_hz", "u32"),
        ("input_bytes", "u32"), ("output_bytes", "u32"), ("arena_bytes", "u32"),
        ("input_h", "u16"), ("input_w", "u16"), ("input_c", "u16"), ("timer", "u8"),
        ("board_len", "u8"), ("input_scale", "f32"), ("input_zero_point", "i32"),
        ("output_scale", "f32"), ("output_zero_point", "i32"), ("flags", "u32"), ("model_hash", "c64"),
        ("board", "c32"), ("head_kind", "u8"), ("score_frac_bits", "u8"), ("grid_h", "u16"),
        ("grid_w", "u16"), ("reserved", "u16"), ("threshold", "i32"))),
    Layout("LOAD_INPUT", (("offset", "u32"),)),  # then the chunk's bytes
    Layout("LOAD_INPUT_REPLY", (("loaded", "u32"),)),
    Layout("INFER", (("warmup", "u16"), ("runs", "u16"))),
    # ticks count network and head together; head_ticks is the head alone (last timed run)
    Layout("INFER_REPLY", (("timer", "u8"), ("runs", "u8"), ("inline_bytes", "u16"),
                           ("output_bytes", "u32"), ("image_score", "i32"), ("decision", "u8"),
                           ("reserved", "u8"), ("cells", "u16"), ("head_ticks", "u32"))),
    # ... then u64 ticks per run, then output bytes
    Layout("READ_OUTPUT", (("offset", "u32"), ("length", "u16"))),
    Layout("READ_OUTPUT_REPLY", (("offset", "u32"),)),  # then the chunk's bytes
    Layout("READ_CELLS", (("first", "u32"), ("count", "u16"))),
    Layout("READ_CELLS_REPLY", (("first", "u32"), ("count", "u16"))),  # then count int32 scores
    Layout("ERROR", (("code", "u8"), ("request_type", "u8"), ("reserved", "u16"), ("detail", "u32"))),
)

FRAME = {e.name: e.value for e in FRAME_TYPES}
FRAME_NAMES = {e.value: e.name for e in FRAME_TYPES}
ERROR = {e.name: e.value for e in ERROR_CODES}
ERROR_BY_VALUE = {e.value: e for e in ERROR_CODES}
TIMER_NAMES = {e.value: e.name.lower() for e in TIMERS}
HELLO_FLAG = {e.name: e.value for e in HELLO_FLAGS}
HEAD_KIND_NAMES = {e.value: e.name for e in HEAD_KINDS}
DECISION = {e.name: e.value for e in DECISIONS}
DECISION_NAMES = {e.value: e.name for e in DECISIONS}


def head_kind_code(density_kind: str | None) -> int:
    """The HEAD_KINDS value of a density kind ("gaussian", "per-position", ...; None: no head)."""
    name = "NONE" if density_kind is None else density_kind.upper().replace("-", "_")
    for e in HEAD_KINDS:
        if e.name == name:
            return e.value
    raise ProtocolError(f"no HEAD_KINDS entry for density {density_kind!r}")
LAYOUT = {p.name: p for p in PAYLOADS}
CELL_BYTES = 4  # one int32 cell score
MAX_CELLS_PER_READ = (MAX_PAYLOAD - LAYOUT["READ_CELLS_REPLY"].size) // CELL_BYTES  # one reply's worth


def _crc_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection ("123456789" -> 0x29B1)."""
    for byte in data:
        crc = ((crc << 8) & 0xFFFF) ^ _CRC_TABLE[(crc >> 8) ^ byte]
    return crc


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes

    @property
    def type_name(self) -> str:
        return FRAME_NAMES.get(self.type, f"0x{self.type:02X}")


def encode_frame(ftype: int, seq: int, payload: bytes = b"") -> bytes:
    """One complete frame; refuses payloads above MAX_PAYLOAD."""
    if len(payload) > MAX_PAYLOAD:
        raise ProtocolError(f"payload of {len(payload)} bytes exceeds the protocol maximum of {MAX_PAYLOAD}")
    head = _HEADER.pack(SYNC, ftype, seq & 0xFF, len(payload))
    return head + payload + struct.pack("<H", crc16(head[2:] + payload))


class FrameDecoder:
    """Incremental decoder: feed() bytes, next_frame() returns a Frame, None (need more), or
    raises ProtocolError for a bad length or CRC after dropping one byte, so that decoding
    resumes at the next sync. ``skipped`` counts bytes that belonged to no frame."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.skipped = 0

    def feed(self, data: bytes) -> None:
        self.buf += data

    def clear(self) -> None:
        self.buf.clear()
        self.skipped = 0

    def _drop(self, n: int) -> None:
        self.skipped += n
        del self.buf[:n]

    def next_frame(self) -> Frame | None:
        buf = self.buf
        while True:
            start = buf.find(SYNC)
            if start < 0:
                keep = 1 if buf[-1:] == SYNC[:1] else 0
                self._drop(len(buf) - keep)
                return None
            self._drop(start)
            if len(buf) < HEADER_BYTES:
                return None
            _, ftype, seq, length = _HEADER.unpack_from(buf)
            if length > MAX_PAYLOAD:
                self._drop(1)
                raise ProtocolError(f"frame announces {length} payload bytes, above the maximum of {MAX_PAYLOAD}")
            total = HEADER_BYTES + length + CRC_BYTES
            if len(buf) < total:
                return None
            body = bytes(buf[2:HEADER_BYTES + length])
            (got,) = struct.unpack_from("<H", buf, HEADER_BYTES + length)
            if crc16(body) != got:
                self._drop(1)
                raise ProtocolError(f"{FRAME_NAMES.get(ftype, hex(ftype))} frame failed its CRC check")
            del buf[:total]
            return Frame(ftype, seq, body[4:])


def _c_kind(kind: str) -> str:
    return "char" if kind.startswith("c") else kind


def render_header() -> str:
    """The C header protocol.h, generated from the tables above."""
    import jinja2

    from .. import __version__
    from ..boards import FIRMWARE_TEMPLATES

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "protocol")),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.get_template("protocol.h.j2").render(
        vadtool_version=__version__, version=VERSION, sync=SYNC, header_bytes=HEADER_BYTES, crc_bytes=CRC_BYTES,
        max_payload=MAX_PAYLOAD, max_cells_per_read=MAX_CELLS_PER_READ, max_runs=MAX_RUNS, max_warmup=MAX_WARMUP, rx_idle_ms=RX_IDLE_MS,
        frame_types=FRAME_TYPES, error_codes=ERROR_CODES, timers=TIMERS, payloads=PAYLOADS,
        hello_flags=HELLO_FLAGS, head_kinds=HEAD_KINDS, decisions=DECISIONS, cell_bytes=CELL_BYTES,
        c_kind=_c_kind)


def write_header(out_dir: str | Path) -> Path:
    """Write protocol.h into out_dir and return its path."""
    path = Path(out_dir) / "protocol.h"
    path.write_text(render_header())
    return path
