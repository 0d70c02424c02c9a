"""The C protocol server, compiled for the host with the fake model, driven by the client
over a pipe (host:) and over TCP (--tcp). Every bad request ends in a named error and the
server keeps serving: a HELLO succeeds after each."""

import re
import struct
import subprocess
import time

import numpy as np
import pytest

from vadtool.device import protocol as P
from vadtool.device.client import DeviceClient, DeviceRefused, Timeouts
from vadtool.errors import DeviceError

from .conftest import FAKE_HASH, fake_head, fake_model, test_input


@pytest.fixture
def dev(host_fw):
    with DeviceClient.open(f"host:{host_fw}", timeouts=Timeouts(hello=5, frame=5, infer=10)) as client:
        yield client


def raw_reply(client, data: bytes, timeout: float = 3.0):
    """Write raw bytes; return the first frame that comes back, or None after timeout."""
    client.transport.reset_input()
    client.transport.write(data)
    dec = P.FrameDecoder()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frame = dec.next_frame()
        if frame:
            return frame
        dec.feed(client.transport.read(4096, 0.1))
    return None


def error_of(frame):
    assert frame is not None and frame.type == P.FRAME["ERROR"], frame
    err = P.LAYOUT["ERROR"].unpack(frame.payload)
    return P.ERROR_BY_VALUE[err["code"]].name, err["detail"]


def test_hello(dev):
    info = dev.hello()
    assert info.board == "host" and info.model_hash == FAKE_HASH
    assert info.input_shape == (16, 16, 3) and info.input_bytes == 768
    assert (info.output_bytes, info.arena_bytes, info.clock_hz) == (144, 4096, 10**9)
    assert info.timer == "host_ns" and info.protocol_version == P.VERSION
    assert info.input_zero_point == -128 and info.output_scale == 0.5


def test_load_and_infer_gives_the_fake_models_output(dev):
    x = test_input(768)
    out, cycles = dev.run(x)
    assert out.dtype == np.int8 and np.array_equal(out, fake_model(x, 144))
    assert cycles > 0 and not dev.info.input_kept
    with pytest.raises(DeviceRefused, match="INPUT_INCOMPLETE"):  # inference used the input up
        dev.infer()
    with pytest.raises(DeviceError, match="one run, no warm-up; build it with keep_input=True"):
        dev.run(x, runs=2)
    with pytest.raises(DeviceRefused, match="BAD_ARGUMENT"):  # the device says so too
        dev.load_input(x)
        dev.request(P.FRAME["INFER"], struct.pack("<HH", 1, 1), "infer")
    assert np.array_equal(dev.run(x)[0], out)


def test_kept_input_allows_warmup_and_repeated_runs(host_fw_kept):
    with DeviceClient.open(f"host:{host_fw_kept}") as dev:
        assert dev.hello().input_kept
        x = test_input(768, seed=8)
        out, cycles = dev.run(x, warmup=2, runs=3)
        assert np.array_equal(out, fake_model(x, 144)) and cycles > 0
        res = dev.infer(runs=2)  # the input stays loaded
        assert len(res.ticks) == 2 and np.array_equal(res.output, out)


def test_chunked_input_and_output_read_back(host_fw_big):
    with DeviceClient.open(f"host:{host_fw_big}") as dev:
        x = test_input(48 * 16 * 3, seed=1)
        out, _ = dev.run(x)
        assert out.size == 3000 and np.array_equal(out, fake_model(x, 3000))


def test_garbage_is_skipped(dev):
    noise = bytes(np.random.default_rng(3).integers(0, 0xA4, 500, dtype=np.uint8))  # no sync byte
    assert raw_reply(dev, noise, timeout=0.5) is None
    assert dev.hello().board == "host"


@pytest.mark.parametrize("mangle, code", [
    (lambda f: f[:-1] + bytes([f[-1] ^ 0xFF]), "BAD_CRC"),
    (lambda f: f[:4] + struct.pack("<H", 5000) + f[6:], "BAD_LENGTH"),
    (lambda f: f[:12], "FRAME_TIMEOUT"),  # truncated, then silence
])
def test_broken_frames_get_named_errors(dev, mangle, code):
    frame = P.encode_frame(P.FRAME["LOAD_INPUT"], 42, struct.pack("<I", 0) + bytes(100))
    assert error_of(raw_reply(dev, mangle(frame)))[0] == code
    assert dev.hello().board == "host"


def test_frame_hidden_in_truncated_frame_is_served(dev):
    truncated = P.encode_frame(P.FRAME["LOAD_INPUT"], 7, bytes(300))[:20]
    dev.transport.write(truncated)
    assert dev.hello().model_hash == FAKE_HASH  # found after the device's idle timeout


@pytest.mark.parametrize("offset, size", [(768, 1), (700, 100), (0xFFFFFFFF, 2), (10, 5)])
def test_bad_offsets(dev, offset, size):
    if offset == 10:
        dev.request(P.FRAME["LOAD_INPUT"], struct.pack("<I", 0) + bytes(5), "frame")  # gap 5..10
    with pytest.raises(DeviceRefused, match=r"refused LOAD_INPUT: BAD_OFFSET \(chunk outside") as exc:
        dev.request(P.FRAME["LOAD_INPUT"], struct.pack("<I", offset) + bytes(size), "frame")
    assert exc.value.code_name == "BAD_OFFSET" and exc.value.detail == offset
    assert dev.hello().board == "host"


def test_requests_out_of_order_or_malformed(dev):
    def refused(ftype, payload, code):
        with pytest.raises(DeviceRefused, match=code):
            dev.request(ftype, payload, "frame")
    refused(P.FRAME["READ_OUTPUT"], struct.pack("<IH", 0, 10), "OUTPUT_NOT_READY")
    dev.request(P.FRAME["LOAD_INPUT"], struct.pack("<I", 0) + bytes(100), "frame")
    refused(P.FRAME["INFER"], struct.pack("<HH", 0, 1), "INPUT_INCOMPLETE")
    refused(P.FRAME["INFER"], struct.pack("<HH", 0, 0), "BAD_ARGUMENT")
    refused(P.FRAME["INFER"], b"\x01", "BAD_LENGTH")
    refused(P.FRAME["HELLO"], b"\x01", "BAD_LENGTH")
    refused(0x55, b"", "UNKNOWN_TYPE")
    dev.run(test_input(768))
    refused(P.FRAME["READ_OUTPUT"], struct.pack("<IH", 100, 100), "BAD_OFFSET")
    refused(P.FRAME["READ_OUTPUT"], struct.pack("<IH", 0, 1021), "BAD_LENGTH")
    assert dev.hello().board == "host"


def test_model_failure_is_named(dev):
    x = test_input(768)
    x[0] = -128
    with pytest.raises(DeviceRefused, match=r"refused INFER: MODEL_FAILED \(.*detail 7\)"):
        dev.run(x)
    x[0] = 0
    assert np.array_equal(dev.run(x)[0], fake_model(x, 144))


def test_wrong_input_size_is_refused_on_the_host(dev):
    with pytest.raises(DeviceError, match="input has 10 bytes; the model .* takes 768 \\(16x16x3\\)"):
        dev.run(bytes(10))


def test_tcp_mode(host_fw):
    proc = subprocess.Popen([str(host_fw), "--tcp", "0"], stderr=subprocess.PIPE, text=True)
    try:
        port = int(re.match(r"listening on (\d+)", proc.stderr.readline()).group(1))
        for _ in range(2):  # one connection after another
            with DeviceClient.open(f"socket://127.0.0.1:{port}") as dev:
                x = test_input(768, seed=5)
                assert np.array_equal(dev.run(x)[0], fake_model(x, 144))
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_run_batch(dev):
    xs = np.stack([test_input(768, seed=s).reshape(16, 16, 3) for s in range(3)])
    outs, ticks = dev.run_batch(xs)
    assert outs.shape == (3, 144) and ticks.shape == (3,) and (ticks > 0).all()
    for x, out in zip(xs, outs):
        assert np.array_equal(out, fake_model(x, 144))
    assert dev.run_batch(xs[:0])[0].shape == (0, 144)


# -- protocol v2: the head on the device -------------------------------------------------------

def test_headless_firmware_says_so_and_has_no_cells(dev):
    info = dev.hello()
    assert (info.head_kind, info.grid, info.has_head, info.standalone) == ("NONE", (0, 0), False, False)
    x = test_input(768, seed=12)
    out, _ = dev.run(x)
    res = dev.infer_result
    assert (res.decision, res.image_score, res.cells) == ("NONE", 0, None)
    dev.load_input(x)
    dev.infer(cells=False)
    with pytest.raises(DeviceRefused, match="READ_CELLS: NOT_SUPPORTED"):
        dev.request(P.FRAME["READ_CELLS"], P.LAYOUT["READ_CELLS"].pack(first=0, count=1), "frame")
    with pytest.raises(DeviceError, match="has no standalone loop; render it with --mode both"):
        dev.standalone()
    with pytest.raises(DeviceRefused, match="STANDALONE: NOT_SUPPORTED"):  # the device says so too
        dev.request(P.FRAME["STANDALONE"], b"", "frame")


def test_head_scores_decides_and_returns_cells(host_fw_head):
    with DeviceClient.open(f"host:{host_fw_head}") as dev:
        info = dev.hello()
        assert (info.head_kind, info.grid, info.score_frac_bits, info.threshold) == ("GAUSSIAN", (4, 4), 6, 1800)
        decisions = set()
        for seed in range(8):
            x = test_input(768, seed=seed)
            x[0] = 0
            features = fake_model(x, 144)
            cells, image, decision = fake_head(features)
            dev.run(x)
            res = dev.infer_result
            assert np.array_equal(res.output, features)
            assert res.cells.dtype == np.int32 and np.array_equal(res.cells, cells)
            assert (res.image_score, res.decision) == (image, decision)
            assert 0 < res.head_ticks < res.ticks[0]
            decisions.add(decision)
        assert decisions == {"NORMAL", "ANOMALY"}  # the seeds give both


@pytest.mark.parametrize("first, count, code", [
    (0, 17, "BAD_OFFSET"), (16, 1, "BAD_OFFSET"), (15, 2, "BAD_OFFSET"), (2**32 - 1, 2, "BAD_OFFSET"),
    (0, P.MAX_CELLS_PER_READ + 1, "BAD_LENGTH"), (0, 2**16 - 1, "BAD_LENGTH")])
def test_read_cells_checks_every_range(host_fw_head, first, count, code):
    with DeviceClient.open(f"host:{host_fw_head}") as dev:
        with pytest.raises(DeviceRefused, match="READ_CELLS: OUTPUT_NOT_READY"):
            dev.read_cells()
        x = test_input(768, seed=3)
        x[0] = 1
        dev.run(x)
        with pytest.raises(DeviceRefused, match=f"READ_CELLS: {code}"):
            dev.request(P.FRAME["READ_CELLS"], P.LAYOUT["READ_CELLS"].pack(first=first, count=count), "frame")
        with pytest.raises(DeviceRefused, match="READ_CELLS: BAD_LENGTH"):
            dev.request(P.FRAME["READ_CELLS"], b"\0" * 5, "frame")
        reply = dev.request(P.FRAME["READ_CELLS"], P.LAYOUT["READ_CELLS"].pack(first=15, count=1), "frame")
        assert struct.unpack_from("<i", reply.payload, 6)[0] == fake_head(fake_model(x, 144))[0][3, 3]
        assert np.array_equal(dev.read_cells(), fake_head(fake_model(x, 144))[0])


def test_device_head_must_be_the_runs(host_fw_head, host_fw):
    from types import SimpleNamespace

    from vadtool.device.runner import check_device_head
    run_head = SimpleNamespace(kind="gaussian", grid=(4, 4), frac_bits=6, threshold=1800)
    with DeviceClient.open(f"host:{host_fw_head}") as dev:
        info = dev.hello()
    check_device_head(info, run_head, "port")  # the same head: fine
    for change, shown in ((dict(threshold=1801), "threshold 1801/2^6"), (dict(kind="knn"), "head KNN 4x4"),
                          (dict(grid=(5, 4)), "5x4"), (dict(frac_bits=7), "1800/2^7")):
        other = SimpleNamespace(**{**vars(run_head), **change})
        with pytest.raises(DeviceError, match=f"runs head GAUSSIAN 4x4, threshold 1800/2\\^6, the run has .*{re.escape(shown)}"):
            check_device_head(info, other, "port")
    with pytest.raises(DeviceError, match="runs head GAUSSIAN .* the run has no head"):
        check_device_head(info, None, "port")
    with DeviceClient.open(f"host:{host_fw}") as dev:
        headless = dev.hello()
    check_device_head(headless, None, "port")
    with pytest.raises(DeviceError, match="runs no head, the run has head GAUSSIAN"):
        check_device_head(headless, run_head, "port")
