"""A device whose HELLO lies: every field is checked like input from the wire, and `bench
--port` fails in one line naming the field, before it sends the device anything else."""

from __future__ import annotations

import json
import socket
import threading

import pytest

from vadtool.device import protocol as P
from vadtool.device.hello import BadHello, parse_hello

from .harness import assert_error, vadtool


class LyingDevice:
    """A TCP 'device' that answers HELLO with the given payload and refuses everything else."""

    def __init__(self, hello: bytes):
        self.hello, self.requests = hello, []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            dec = P.FrameDecoder()
            with conn:
                while data := conn.recv(4096):
                    dec.feed(data)
                    while (frame := self._next(dec)) is not None:
                        self.requests.append(frame.type_name)
                        if frame.type == P.FRAME["HELLO"]:
                            conn.sendall(P.encode_frame(P.FRAME["HELLO_REPLY"], frame.seq, self.hello))
                        else:
                            conn.sendall(P.encode_frame(P.FRAME["ERROR"], frame.seq, P.LAYOUT["ERROR"].pack(
                                code=P.ERROR["BAD_ARGUMENT"], request_type=frame.type, reserved=0, detail=0)))

    @staticmethod
    def _next(dec):
        try:
            return dec.next_frame()
        except Exception:
            return None

    def close(self):
        self.server.close()


def hello_for(run, **lies) -> bytes:
    """The HELLO a correct firmware of run would send (classifier: no head), then the lies."""
    manifest = json.loads((run / "vadtool.json").read_text())
    q = manifest["quantization"]
    h, w = manifest["input"]["height"], manifest["input"]["width"]
    fields = dict(protocol_version=P.VERSION, max_payload=P.MAX_PAYLOAD, clock_hz=25_000_000,
                  input_bytes=h * w * 3, output_bytes=2, arena_bytes=4096, input_h=h, input_w=w, input_c=3,
                  timer=1, board_len=10, input_scale=q["input_scale"], input_zero_point=q["input_zero_point"],
                  output_scale=q["output_scale"], output_zero_point=q["output_zero_point"], flags=0,
                  model_hash=manifest["files"]["model_int8.tflite"].encode(), board=b"qemu-an386",
                  head_kind=0, score_frac_bits=0, grid_h=0, grid_w=0, reserved=0, threshold=0)
    fields.update(lies)
    return P.LAYOUT["HELLO_REPLY"].pack(**fields)


THROUGH_THE_CLI = {  # what the issue found: a range() traceback, a blamed device, a ZeroDivisionError
    "max_payload 4": ({"max_payload": 4}, "max_payload 4"),
    "max_payload 2": ({"max_payload": 2}, "max_payload 2"),
    "clock_hz 0": ({"clock_hz": 0}, "clock_hz 0"),
}
MORE_LIES = {  # the same check in process (each CLI run costs seconds)
    "max_payload above the protocol's": ({"max_payload": P.MAX_PAYLOAD + 1}, "max_payload 1025"),
    "input_bytes": ({"input_bytes": 7}, "input_bytes 7"),
    "input side 0": ({"input_h": 0, "input_bytes": 0}, "input shape '0x32x3'"),
    "output_bytes 0": ({"output_bytes": 0}, "output_bytes 0"),
    "input_scale nan": ({"input_scale": float("nan")}, "input_scale nan"),
    "output_scale 0": ({"output_scale": 0.0}, "output_scale 0.0"),
    "zero point out of int8": ({"output_zero_point": 300}, "output_zero_point 300"),
    "unknown timer": ({"timer": 9}, "timer 9"),
    "unknown flags": ({"flags": 0x80}, "flags '0x80'"),
    "unknown head": ({"head_kind": 77}, "head_kind 77"),
    "grid without head": ({"grid_h": 4, "grid_w": 4}, "grid (4, 4)"),
    "head without grid": ({"head_kind": 1}, "grid (0, 0)"),
    "score_frac_bits 40": ({"score_frac_bits": 40}, "score_frac_bits 40"),
    "board_len 200": ({"board_len": 200}, "board 'qemu-an386"),
    "board not text": ({"board": b"\x00\x01" * 5}, "board"),
    "model hash not hex": ({"model_hash": b"z" * 64}, "model_hash 'zzz"),
}


@pytest.mark.parametrize("lie", sorted(THROUGH_THE_CLI))
def test_lying_hello_is_one_named_error(quantized_run, lie):
    fields, mention = THROUGH_THE_CLI[lie]
    device = LyingDevice(hello_for(quantized_run, **fields))
    try:
        proc = vadtool("bench", quantized_run, "--port", device.url, "--limit", "2")
    finally:
        device.close()
    assert_error(proc, 2, "HELLO", mention, device.url)
    assert set(device.requests) == {"HELLO"}  # nothing sent to a device that lied


@pytest.mark.parametrize("lie", sorted(MORE_LIES))
def test_every_hello_field_is_checked(quantized_run, lie):
    fields, mention = MORE_LIES[lie]
    parse_hello(hello_for(quantized_run), "socket://x")  # the truthful one passes
    with pytest.raises(BadHello) as err:
        parse_hello(hello_for(quantized_run, **fields), "socket://x")
    assert mention in str(err.value)
