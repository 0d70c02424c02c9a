"""Random frames against the host build of the protocol server compiled with AddressSanitizer
and UBSan: every length and offset is bound-checked, so nothing may crash, and the server
still answers HELLO afterwards."""

import struct
import subprocess
import threading

import numpy as np
import pytest

from vadtool.device import protocol as P
from vadtool.device.client import DeviceClient, DeviceRefused

from .conftest import fake_head, fake_model, make_project, test_input

SANITIZE = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"


@pytest.fixture(scope="module", params=[(False, False), (True, True)],
                ids=["input-in-arena-no-head", "input-kept-head"])
def asan_fw(request, tmp_path_factory):
    probe = subprocess.run(["cc", *SANITIZE.split(), "-x", "c", "-", "-o", "/dev/null"],
                           input="int main(void){return 0;}", capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("the C compiler cannot build with sanitizers here")
    keep_input, head = request.param
    return make_project(tmp_path_factory.mktemp("asan"), "host", SANITIZE, SANITIZE,
                        keep_input=keep_input, head=head).elf


def random_request(rng) -> bytes:
    """One random request; sequence numbers 201-208 keep their replies apart from the client's."""
    kind = rng.integers(9)
    if kind == 7:  # READ_CELLS anywhere, any count, any length
        if rng.random() < .2:
            return P.encode_frame(P.FRAME["READ_CELLS"], 207, rng.bytes(int(rng.integers(0, 12))))
        first = int(rng.choice([0, 1, 15, 16, 17, 2**31, 2**32 - 1, rng.integers(2**32)]))
        count = int(rng.choice([0, 1, 16, 17, P.MAX_CELLS_PER_READ, P.MAX_CELLS_PER_READ + 1,
                                rng.integers(2**16)]))
        return P.encode_frame(P.FRAME["READ_CELLS"], 207, P.LAYOUT["READ_CELLS"].pack(first=first, count=count))
    if kind == 8:  # STANDALONE with a payload: refused (a serve-mode firmware refuses it anyway)
        return P.encode_frame(P.FRAME["STANDALONE"], 208, rng.bytes(int(rng.integers(0, 3))))
    if kind == 6:  # a whole input and an inference, so that READ_OUTPUT has output to read
        return (P.encode_frame(P.FRAME["LOAD_INPUT"], 206, struct.pack("<I", 0) + bytes(768))
                + P.encode_frame(P.FRAME["INFER"], 206, struct.pack("<HH", 0, 1)))
    if kind == 0:  # LOAD_INPUT anywhere, any size
        off = int(rng.choice([0, 1, 700, 767, 768, 769, 2**31, 2**32 - 1, rng.integers(2**32)]))
        payload = struct.pack("<I", off) + bytes(int(rng.integers(0, 1021)))
        return P.encode_frame(P.FRAME["LOAD_INPUT"], 201, payload)
    if kind == 1:  # READ_OUTPUT anywhere
        payload = struct.pack("<IH", int(rng.integers(2**32)) if rng.random() < .5 else
                              int(rng.integers(200)), int(rng.integers(2**16)))
        return P.encode_frame(P.FRAME["READ_OUTPUT"], 202, payload)
    if kind == 2:  # INFER with any counts (warm-up kept small)
        return P.encode_frame(P.FRAME["INFER"], 203, struct.pack("<HH", int(rng.integers(3)),
                                                               int(rng.integers(2**16))))
    if kind == 3:  # any type, any payload
        n = int(rng.integers(0, 64))
        return P.encode_frame(int(rng.integers(256)), 204, rng.bytes(n))
    if kind == 4:  # a valid frame with one byte flipped
        frame = bytearray(P.encode_frame(P.FRAME["LOAD_INPUT"], 205, bytes(20)))
        frame[int(rng.integers(len(frame)))] ^= 1 << int(rng.integers(8))
        return bytes(frame)
    return rng.bytes(int(rng.integers(1, 40)))  # noise


def test_random_frames_do_not_break_the_server(asan_fw):
    rng = np.random.default_rng(11)
    with DeviceClient.open(f"host:{asan_fw}") as dev:
        stop = threading.Event()
        drain = threading.Thread(target=lambda: [dev.transport.read(65536, 0.05)
                                                 for _ in iter(stop.is_set, True)])
        drain.start()  # read the replies as they come, or both pipes fill and block
        try:
            for _ in range(3000):
                dev.transport.write(random_request(rng))
        finally:
            stop.set()
            drain.join()
        dev.transport.write(bytes(1100))  # flush any frame the noise left half-open
        assert dev.hello().board == "host"
        x = test_input(768, seed=9)
        x[0] = 1
        assert np.array_equal(dev.run(x)[0], fake_model(x, 144))
        if dev.info.has_head:
            assert np.array_equal(dev.infer_result.cells, fake_head(fake_model(x, 144))[0])
        with pytest.raises(DeviceRefused, match="BAD_OFFSET"):
            dev.request(P.FRAME["LOAD_INPUT"], struct.pack("<I", 2**32 - 1) + b"\x01", "frame")
        assert dev.transport.proc.poll() is None
