"""The host side of the device protocol: ask who the device is, load an input, infer.

    with DeviceClient.open("socket://127.0.0.1:4321") as dev:
        info = dev.hello()                   # info.head_kind: the head the device runs
        output, cycles = dev.run(input_int8)
        result = dev.infer_result            # image score, decision, cell scores (with a head)

Every wait has a named timeout (Timeouts.hello / .frame / .infer); a silent device raises
DeviceTimeout naming the request, the time and the port; bytes that form no valid frame
raise ProtocolError; an error frame from the device raises DeviceRefused naming its code.
"""

from __future__ import annotations

import statistics
import struct
import time
from dataclasses import dataclass

import numpy as np

from ..errors import DeviceError, DeviceTimeout, ProtocolError
from . import protocol as P
from .hello import DeviceInfo, parse_hello  # noqa: F401 (DeviceInfo: part of this module's API)
from .transport import Transport, open_transport


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for: the reply to HELLO, the reply to a load/read chunk, an INFER."""

    hello: float = 5.0
    frame: float = 5.0
    infer: float = 30.0


@dataclass(frozen=True)
class InferResult:
    """Output of the last timed run and the timer ticks of each timed run.

    ``timer`` says what a tick is: "dwt" core cycles, "systick" ticks at clock_hz (core
    cycles on silicon; under QEMU -icount shift=0, clock_hz/1e9 per instruction), or
    "host_ns" nanoseconds."""

    output: np.ndarray
    ticks: tuple[int, ...]
    timer: str
    clock_hz: int
    image_score: int = 0            # the device head's image score (int; 0 without a head)
    decision: str = "NONE"          # DECISIONS name: NORMAL, ANOMALY, or NONE without a head
    cells: np.ndarray | None = None  # int32 (grid_h, grid_w) cell scores, when read
    head_ticks: int = 0             # ticks of the head alone in the last timed run (in ticks)

    @property
    def cycles(self) -> int:
        """Median ticks of the timed runs."""
        return int(statistics.median_low(self.ticks))

    def instructions_under_icount(self) -> int:
        """Instructions per run when the device ran in QEMU with -icount shift=0 (one
        instruction per virtual ns): median ticks * 1e9 / clock_hz. Exact to one tick."""
        return round(self.cycles * 1_000_000_000 / self.clock_hz)


class DeviceRefused(DeviceError):
    """The device answered a request with an error frame."""

    def __init__(self, url: str, request: str, code: int, detail: int) -> None:
        entry = P.ERROR_BY_VALUE.get(code)
        self.code_name = entry.name if entry else f"code {code}"
        self.request, self.detail = request, detail
        what = entry.description if entry else "unknown error code"
        super().__init__(f"device at {url} refused {request}: {self.code_name} "
                         f"({what}; detail {detail})")


class DeviceClient:
    def __init__(self, transport: Transport, timeouts: Timeouts = Timeouts()) -> None:
        self.transport = transport
        self.timeouts = timeouts
        self.info: DeviceInfo | None = None
        self._decoder = P.FrameDecoder()
        self._seq = 0
        self.infer_result: InferResult | None = None  # the last infer()'s

    @classmethod
    def open(cls, port: str, baudrate: int = 115200, timeouts: Timeouts = Timeouts()) -> DeviceClient:
        return cls(open_transport(port, baudrate), timeouts)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> DeviceClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- one request, one reply ------------------------------------------------------------
    def request(self, ftype: int, payload: bytes, timeout_name: str, resend_s: float = 0) -> P.Frame:
        """Send one frame and return the reply with its sequence number; with resend_s, send
        the frame again every resend_s seconds until the timeout (for a device still booting)."""
        self._seq = (self._seq + 1) & 0xFF
        name = P.FRAME_NAMES.get(ftype, f"frame 0x{ftype:02X}")
        self.transport.reset_input()
        self._decoder.clear()
        frame_bytes = P.encode_frame(ftype, self._seq, payload)
        self.transport.write(frame_bytes)
        resend = (lambda: self.transport.write(frame_bytes)) if resend_s else None
        frame = self._await(self._seq, name, timeout_name, resend, resend_s)
        if frame.type == P.FRAME["ERROR"]:
            err = P.LAYOUT["ERROR"].unpack(frame.payload)
            raise DeviceRefused(self.transport.url, name, err["code"], err["detail"])
        if frame.type != ftype | 0x80:
            raise ProtocolError(f"device at {self.transport.url} answered {name} with {frame.type_name}")
        return frame

    def _await(self, seq: int, name: str, timeout_name: str, resend=None, resend_s: float = 0) -> P.Frame:
        timeout = getattr(self.timeouts, timeout_name)
        deadline = time.monotonic() + timeout
        next_send = time.monotonic() + resend_s
        while True:
            if resend is not None and time.monotonic() >= next_send and not self._decoder.buf:
                resend()
                next_send = time.monotonic() + resend_s
            frame = self._decoder.next_frame()  # ProtocolError on a bad frame
            if frame is not None:
                if frame.seq == seq:
                    return frame
                continue  # a late answer to an earlier request
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._decoder.feed(self.transport.read(4096, min(left, resend_s or 0.5)))  # steady slices
        url = self.transport.url
        if self._decoder.skipped or self._decoder.buf:
            raise ProtocolError(
                f"device at {url} sent {self._decoder.skipped + len(self._decoder.buf)} bytes but "
                f"no complete frame answering {name} within {timeout:g} s: wrong baud rate, or "
                "not vadtool firmware?")
        raise DeviceTimeout(
            f"no answer to {name} within {timeout:g} s from {url}; is the firmware running and "
            f"the port right? (a slow device needs a longer Timeouts.{timeout_name})")

    # -- commands --------------------------------------------------------------------------
    def hello(self) -> DeviceInfo:
        """Ask who the device is (again every 0.5 s until Timeouts.hello, as a device may still
        be booting); the answer is kept in self.info."""
        reply = self.request(P.FRAME["HELLO"], b"", "hello", resend_s=0.5)
        self.info = parse_hello(reply.payload, self.transport.url)
        return self.info

    def load_input(self, data: bytes | np.ndarray) -> None:
        """Send the whole int8 input in chunks (its size must be the model's input size)."""
        info = self.info or self.hello()
        if isinstance(data, np.ndarray):
            if data.dtype != np.int8:
                raise TypeError(f"device input must be int8, got {data.dtype}")
            data = data.tobytes()
        data = bytes(data)
        if len(data) != info.input_bytes:
            raise DeviceError(f"input has {len(data)} bytes; the model on {self.transport.url} takes "
                              f"{info.input_bytes} ({'x'.join(map(str, info.input_shape))})")
        step = min(info.max_payload, P.MAX_PAYLOAD) - P.LAYOUT["LOAD_INPUT"].size
        for off in range(0, len(data), step):
            chunk = data[off:off + step]
            reply = self.request(P.FRAME["LOAD_INPUT"], P.LAYOUT["LOAD_INPUT"].pack(offset=off) + chunk,
                                 "frame")
            loaded = P.LAYOUT["LOAD_INPUT_REPLY"].unpack(reply.payload)["loaded"]
            if loaded != off + len(chunk):
                raise ProtocolError(f"device at {self.transport.url} reports {loaded} input bytes "
                                    f"loaded after a chunk ending at {off + len(chunk)}")

    def infer(self, warmup: int = 0, runs: int = 1, cells: bool = True) -> InferResult:
        """Run warmup untimed and runs timed inferences on the loaded input. Unless the
        firmware keeps its input (DeviceInfo.input_kept) that is one run, no warm-up, and the
        input must be loaded again before the next inference. With a head on the device the
        result has its image score and decision, and (cells=True) the cell scores."""
        info = self.info or self.hello()
        if not 1 <= runs <= P.MAX_RUNS or not 0 <= warmup <= P.MAX_WARMUP:
            raise DeviceError(f"runs must be 1..{P.MAX_RUNS} and warm-up 0..{P.MAX_WARMUP}")
        if (runs > 1 or warmup > 0) and not info.input_kept:
            raise DeviceError(f"the firmware at {self.transport.url} loads the input into the model's "
                              "arena, which inference overwrites: one run, no warm-up; build it with "
                              "keep_input=True for warm-up and repeated runs")
        reply = self.request(P.FRAME["INFER"], P.LAYOUT["INFER"].pack(warmup=warmup, runs=runs), "infer")
        layout = P.LAYOUT["INFER_REPLY"]
        head = layout.unpack(reply.payload)
        n, inline = head["runs"], head["inline_bytes"]
        body = reply.payload[layout.size:]
        want_cells = info.grid[0] * info.grid[1]
        decision = P.DECISION_NAMES.get(head["decision"])
        if (n != runs or len(body) != 8 * n + inline or head["output_bytes"] != info.output_bytes
                or head["cells"] != want_cells or decision is None
                or (decision == "NONE") != (not info.has_head)):
            raise ProtocolError(f"malformed INFER reply from {self.transport.url}")
        ticks = struct.unpack_from(f"<{n}Q", body)
        out = bytearray(body[8 * n:])
        step = min(info.max_payload, P.MAX_PAYLOAD) - P.LAYOUT["READ_OUTPUT_REPLY"].size
        while len(out) < info.output_bytes:
            want = min(step, info.output_bytes - len(out))
            reply = self.request(P.FRAME["READ_OUTPUT"],
                                 P.LAYOUT["READ_OUTPUT"].pack(offset=len(out), length=want), "frame")
            if P.LAYOUT["READ_OUTPUT_REPLY"].unpack(reply.payload)["offset"] != len(out) \
                    or len(reply.payload) != 4 + want:
                raise ProtocolError(f"malformed READ_OUTPUT reply from {self.transport.url}")
            out += reply.payload[4:]
        result = InferResult(np.frombuffer(bytes(out), dtype=np.int8), tuple(ticks),
                             P.TIMER_NAMES.get(head["timer"], str(head["timer"])), info.clock_hz,
                             image_score=head["image_score"], decision=decision,
                             cells=self.read_cells() if cells and info.has_head else None,
                             head_ticks=head["head_ticks"])
        self.infer_result = result
        return result

    def read_cells(self) -> np.ndarray:
        """The int32 cell scores of the last inference, (grid_h, grid_w)."""
        info = self.info or self.hello()
        total = info.grid[0] * info.grid[1]
        values: list[int] = []
        while len(values) < total:
            want = min(P.MAX_CELLS_PER_READ, total - len(values))
            reply = self.request(P.FRAME["READ_CELLS"],
                                 P.LAYOUT["READ_CELLS"].pack(first=len(values), count=want), "frame")
            layout = P.LAYOUT["READ_CELLS_REPLY"]
            got = layout.unpack(reply.payload)
            if (got["first"] != len(values) or got["count"] != want
                    or len(reply.payload) != layout.size + P.CELL_BYTES * want):
                raise ProtocolError(f"malformed READ_CELLS reply from {self.transport.url}")
            values.extend(struct.unpack_from(f"<{want}i", reply.payload, layout.size))
        return np.asarray(values, dtype=np.int32).reshape(info.grid)

    def standalone(self) -> None:
        """Switch the device to its standalone loop (firmware rendered with --mode both): it
        stops answering frames and prints one line per image from its image source."""
        info = self.info or self.hello()
        if not info.standalone:
            raise DeviceError(f"the firmware at {self.transport.url} has no standalone loop; "
                              "render it with --mode both")
        self.request(P.FRAME["STANDALONE"], b"", "frame")

    def run(self, input_int8: bytes | np.ndarray, warmup: int = 0, runs: int = 1) -> tuple[np.ndarray, int]:
        """Load the input, infer, return (int8 output, median ticks per timed run); see
        InferResult for what a tick is, and infer() for the per-run counts."""
        self.load_input(input_int8)
        result = self.infer(warmup=warmup, runs=runs)
        return result.output, result.cycles

    def run_batch(self, inputs: np.ndarray, warmup: int = 0, runs: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """run() on each int8 input along the first axis: (outputs [N, output_bytes] int8,
        median ticks [N]). The output keeps the device's flat layout; reshape it as needed."""
        inputs = np.asarray(inputs)
        outputs, ticks = [], []
        for x in inputs:
            out, t = self.run(np.ascontiguousarray(x), warmup=warmup, runs=runs)
            outputs.append(out)
            ticks.append(t)
        info = self.info or self.hello()
        return (np.stack(outputs) if outputs else np.zeros((0, info.output_bytes), np.int8),
                np.asarray(ticks, dtype=np.int64))
