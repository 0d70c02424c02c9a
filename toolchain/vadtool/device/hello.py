"""What a device says it is (HELLO_REPLY), checked like any input from the wire.

The host sizes its chunks by max_payload, divides by clock_hz, reshapes by the input shape
and grid: a field a lying or broken device sends must fail here, with one DeviceError
naming the field, its value and what is allowed, not later as a ZeroDivisionError or a
request the device then refuses.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from ..errors import DeviceError
from . import protocol as P

_HELLO = P.LAYOUT["HELLO_REPLY"]
# The smallest max_payload the host can work with: the device sent a HELLO_REPLY, and it
# must be able to send an INFER_REPLY with the most timed runs, and at least one byte or
# cell score per chunk.
MIN_DEVICE_PAYLOAD = max(_HELLO.size, P.LAYOUT["INFER_REPLY"].size + 8 * P.MAX_RUNS,
                         P.LAYOUT["READ_CELLS_REPLY"].size + P.CELL_BYTES)
MAX_CELLS = 0xFFFF  # INFER_REPLY counts cells in a u16
_HASH = re.compile(r"[0-9a-f]{64}")
_BOARD = re.compile(r"[\x21-\x7e]{1,32}")


class BadHello(DeviceError):
    """The device's HELLO_REPLY holds a value no vadtool firmware sends."""


@dataclass(frozen=True)
class DeviceInfo:
    """The device's answer to HELLO."""

    board: str
    model_hash: str
    input_shape: tuple[int, int, int]  # H, W, C
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    clock_hz: int
    timer: str                         # "systick", "dwt" or "host_ns"
    protocol_version: int
    max_payload: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    input_kept: bool  # warm-up and repeated runs allowed (firmware keeps a copy of the input)
    head_kind: str = "NONE"          # HEAD_KINDS name of the head the device runs after the network
    score_frac_bits: int = 0         # score = int score / 2**score_frac_bits
    grid: tuple[int, int] = (0, 0)   # cell grid the head scores (0, 0 without a head)
    threshold: int = 0               # int score above it: ANOMALY
    standalone: bool = False         # STANDALONE switches the device to its standalone loop

    @property
    def has_head(self) -> bool:
        return self.head_kind != "NONE"



def parse_hello(payload: bytes, url: str) -> DeviceInfo:
    """The DeviceInfo in a HELLO_REPLY payload; BadHello naming the first field out of range."""
    def bad(field: str, value, allowed: str) -> BadHello:
        return BadHello(f"device at {url} sent HELLO with {field} {value!r}; {allowed}: a broken or "
                        "non-vadtool firmware? render, build and flash it again")

    # the version comes first in every version's HELLO_REPLY; the rest of the layout may differ
    version = int.from_bytes(payload[:2].ljust(2, b"\0"), "little")
    if version != P.VERSION:
        raise DeviceError(f"device at {url} speaks protocol version {version}, "
                          f"vadtool speaks {P.VERSION}: render, build and flash the firmware again")
    if len(payload) != _HELLO.size:
        raise bad("a payload of", len(payload), f"protocol {P.VERSION} has {_HELLO.size} bytes")
    f = _HELLO.unpack(payload)
    if not MIN_DEVICE_PAYLOAD <= f["max_payload"] <= P.MAX_PAYLOAD:
        raise bad("max_payload", f["max_payload"], f"allowed {MIN_DEVICE_PAYLOAD}..{P.MAX_PAYLOAD} bytes")
    if f["clock_hz"] == 0:
        raise bad("clock_hz", 0, "a clock must tick (at least 1 Hz)")
    if f["timer"] not in P.TIMER_NAMES:
        raise bad("timer", f["timer"], f"known timers are {sorted(P.TIMER_NAMES)}")
    shape = (f["input_h"], f["input_w"], f["input_c"])
    if 0 in shape:
        raise bad("input shape", "x".join(map(str, shape)), "every side must be at least 1")
    if f["input_bytes"] != math.prod(shape):
        raise bad("input_bytes", f["input_bytes"], f"an int8 {'x'.join(map(str, shape))} input "
                  f"has {math.prod(shape)} bytes")
    if f["output_bytes"] == 0:
        raise bad("output_bytes", 0, "a model has at least one output byte")
    for side in ("input", "output"):
        scale, zero = f[f"{side}_scale"], f[f"{side}_zero_point"]
        if not (math.isfinite(scale) and scale > 0):
            raise bad(f"{side}_scale", scale, "an int8 scale is finite and above 0")
        if not -128 <= zero <= 127:
            raise bad(f"{side}_zero_point", zero, "an int8 zero point is within -128..127")
    known = 0
    for e in P.HELLO_FLAGS:
        known |= e.value
    if f["flags"] & ~known:
        raise bad("flags", hex(f["flags"]), f"known flag bits are {hex(known)}")
    board = f["board"][:f["board_len"]].decode("latin-1")
    if f["board_len"] > 32 or not _BOARD.fullmatch(board):
        raise bad("board", board, "a board name is 1..32 printable ASCII characters")
    model_hash = f["model_hash"].rstrip(b"\0").decode("latin-1")
    if not _HASH.fullmatch(model_hash):
        raise bad("model_hash", model_hash, "a model hash is 64 lower-case hex digits (sha256)")
    if f["head_kind"] not in P.HEAD_KIND_NAMES:
        raise bad("head_kind", f["head_kind"], f"known heads are {sorted(P.HEAD_KIND_NAMES)}")
    head = P.HEAD_KIND_NAMES[f["head_kind"]]
    grid = (f["grid_h"], f["grid_w"])
    if head == "NONE" and grid != (0, 0):
        raise bad("grid", grid, "a firmware without a head has no cell grid (0, 0)")
    if head != "NONE" and (0 in grid or grid[0] * grid[1] > MAX_CELLS):
        raise bad("grid", grid, f"a head scores 1..{MAX_CELLS} cells")
    if f["score_frac_bits"] > 31:
        raise bad("score_frac_bits", f["score_frac_bits"], "an int32 score has at most 31 fraction bits")
    return DeviceInfo(
        board=board, model_hash=model_hash, input_shape=shape,
        input_bytes=f["input_bytes"], output_bytes=f["output_bytes"], arena_bytes=f["arena_bytes"],
        clock_hz=f["clock_hz"], timer=P.TIMER_NAMES[f["timer"]], protocol_version=version,
        max_payload=f["max_payload"], input_scale=f["input_scale"],
        input_zero_point=f["input_zero_point"], output_scale=f["output_scale"],
        output_zero_point=f["output_zero_point"],
        input_kept=bool(f["flags"] & P.HELLO_FLAG["INPUT_KEPT"]), head_kind=head,
        score_frac_bits=f["score_frac_bits"], grid=grid, threshold=f["threshold"],
        standalone=bool(f["flags"] & P.HELLO_FLAG["STANDALONE"]))
