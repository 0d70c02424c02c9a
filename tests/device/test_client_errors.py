"""The client against devices that answer garbage, corrupt frames, or nothing."""

import socket
import threading

import pytest

from vadtool.device import protocol as P
from vadtool.device.client import DeviceClient, Timeouts
from vadtool.device.transport import open_transport
from vadtool.errors import DeviceError, DeviceTimeout, ProtocolError


class ScriptedTransport:
    """A device that answers every write with reply(request_bytes)."""

    url = "test://scripted"

    def __init__(self, reply):
        self.reply, self.pending = reply, b""

    def write(self, data):
        self.pending += self.reply(data)

    def read(self, n, timeout):
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def reset_input(self):
        self.pending = b""

    def close(self):
        pass


FAST = Timeouts(hello=0.3, frame=0.3, infer=0.3)


def client(reply):
    return DeviceClient(ScriptedTransport(reply), FAST)


def test_silence_is_a_named_timeout():
    with pytest.raises(DeviceTimeout, match=r"no answer to HELLO within 0.3 s from test://scripted; "
                                            r".*Timeouts.hello"):
        client(lambda req: b"").hello()


def test_infer_timeout_names_infer_and_port():
    dev = client(lambda req: b"")
    with pytest.raises(DeviceTimeout, match="no answer to INFER within 0.3 s .*Timeouts.infer"):
        dev.request(P.FRAME["INFER"], b"\0\0\1\0", "infer")


def test_garbage_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="sent 300 bytes but no complete frame answering HELLO"):
        client(lambda req: b"\x00\x13" * 150).hello()


def test_corrupt_reply_is_a_protocol_error():
    def corrupt(req):
        frame = bytearray(P.encode_frame(0x81, req[3], bytes(P.LAYOUT["HELLO_REPLY"].size)))
        frame[10] ^= 1
        return bytes(frame)
    with pytest.raises(ProtocolError, match="HELLO_REPLY frame failed its CRC check"):
        client(corrupt).hello()


def test_wrong_reply_type_is_a_protocol_error():
    with pytest.raises(ProtocolError, match="answered HELLO with INFER_REPLY"):
        client(lambda req: P.encode_frame(0x83, req[3], b"")).hello()


def hello_payload(**changes) -> bytes:
    fields = dict(
        protocol_version=P.VERSION, max_payload=1024, clock_hz=1, input_bytes=1, output_bytes=1,
        arena_bytes=0, input_h=1, input_w=1, input_c=1, timer=1, board_len=1, input_scale=1.0,
        input_zero_point=0, output_scale=1.0, output_zero_point=0, flags=0, model_hash=b"ab" * 32,
        board=b"x", head_kind=P.HEAD_KINDS[2].value, score_frac_bits=12, grid_h=3, grid_w=5,
        reserved=0, threshold=-7)
    fields.update(changes)
    return P.LAYOUT["HELLO_REPLY"].pack(**fields)


def test_stale_replies_are_skipped():
    info = client(lambda req: P.encode_frame(0x81, req[3] - 1, b"old")
                  + P.encode_frame(0x81, req[3], hello_payload())).hello()
    assert info.board == "x" and info.timer == "systick"
    assert (info.head_kind, info.score_frac_bits, info.grid, info.threshold) == ("GMM", 12, (3, 5), -7)
    assert info.has_head and not info.standalone


def test_protocol_version_mismatch():
    with pytest.raises(DeviceError, match="protocol version 99, vadtool speaks 2"):
        client(lambda req: P.encode_frame(0x81, req[3], hello_payload(protocol_version=99))).hello()
    # a version-1 device's reply is shorter than version 2's: the version is still what is named
    v1 = hello_payload(protocol_version=1)[:144]
    with pytest.raises(DeviceError, match="protocol version 1, vadtool speaks 2: render, build"):
        client(lambda req: P.encode_frame(0x81, req[3], v1)).hello()


def test_infer_reply_that_contradicts_hello_is_a_protocol_error():
    """A head-less HELLO but a decision in the reply, or a cell count that is not the grid's."""
    def device(head_kind, decision, cells):
        def reply(req):
            if req[2] == P.FRAME["HELLO"]:
                grid = (3, 5) if head_kind else (0, 0)  # a head-less HELLO has no grid
                return P.encode_frame(0x81, req[3], hello_payload(head_kind=head_kind, grid_h=grid[0],
                                                                  grid_w=grid[1]))
            head = P.LAYOUT["INFER_REPLY"].pack(timer=1, runs=1, inline_bytes=1, output_bytes=1,
                                                image_score=5, decision=decision, reserved=0,
                                                cells=cells, head_ticks=0)
            return P.encode_frame(0x83, req[3], head + bytes(8) + b"\x01")
        return reply
    for kind, decision, cells in ((0, P.DECISION["ANOMALY"], 0), (2, P.DECISION["NORMAL"], 14),
                                  (2, P.DECISION["NONE"], 15), (2, 9, 15)):
        with pytest.raises(ProtocolError, match="malformed INFER reply"):
            client(device(kind, decision, cells)).infer(cells=False)
    result = client(device(2, P.DECISION["ANOMALY"], 15)).infer(cells=False)
    assert (result.image_score, result.decision, result.cells) == (5, "ANOMALY", None)


def test_silent_program_over_a_pipe():
    with DeviceClient(open_transport("host:sleep 30"), FAST) as dev:
        with pytest.raises(DeviceTimeout, match="no answer to HELLO within 0.3 s from host:sleep 30"):
            dev.hello()


def test_program_that_exits():
    with DeviceClient(open_transport("host:true"), FAST) as dev:
        with pytest.raises(DeviceError, match="exited with code 0"):
            dev.hello()


def test_missing_program_and_port():
    with pytest.raises(DeviceError, match="cannot start /nonexistent/firmware"):
        open_transport("host:/nonexistent/firmware")
    with pytest.raises(DeviceError, match="cannot open /dev/ttyNOPE"):
        open_transport("/dev/ttyNOPE")


def test_silent_tcp_device():
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    threading.Thread(target=lambda: conns.append(srv.accept()), daemon=True).start()
    try:
        url = f"socket://127.0.0.1:{srv.getsockname()[1]}"
        with DeviceClient.open(url, timeouts=FAST) as dev:
            with pytest.raises(DeviceTimeout, match=f"no answer to HELLO within 0.3 s from {url}"):
                dev.hello()
    finally:
        srv.close()


def test_loop_url_echo_is_not_an_answer():
    # loop:// echoes the request itself: a HELLO frame is not a HELLO_REPLY
    with DeviceClient.open("loop://", timeouts=FAST) as dev:
        with pytest.raises(ProtocolError, match="answered HELLO with HELLO"):
            dev.hello()
