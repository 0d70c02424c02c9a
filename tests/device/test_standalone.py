"""The standalone firmware (render --mode standalone|both): image source -> network -> head ->
one UART line per image and the LED. Built around the fake model and fake head, on the host
(file, camera and protocol sources) and in QEMU (frames read by semihosting); every line is
checked against what the host computes."""

from __future__ import annotations

import subprocess
import time

import numpy as np
import pytest

from vadtool.build import write_project_files
from vadtool.device import protocol as P
from vadtool.device import standalone as S
from vadtool.device.client import DeviceClient
from vadtool.errors import DeviceError, RenderError

from .conftest import fake_head, fake_model, make_project, needs_qemu, test_input

FRAC_BITS, THRESHOLD = 6, 1800  # tests/device/fake_head/vad_head.h


def expected(inputs: np.ndarray, grid: int = 4, output_bytes: int = 144) -> list[str]:
    lines = []
    for x in inputs:
        cells, image, _ = fake_head(fake_model(x, output_bytes), grid)
        lines.append(S.expected_line(image, cells, THRESHOLD, FRAC_BITS))
    return lines


def frames(n: int, nbytes: int = 768, seed: int = 20) -> np.ndarray:
    return np.stack([test_input(nbytes, seed=seed + i) for i in range(n)])


def test_score_text_rounds_like_the_firmware():
    assert S.score_text(53, 6) == "0.83" and S.score_text(91, 6) == "1.42"
    assert S.score_text(-53, 6) == "-0.83" and S.score_text(0, 6) == "0.00"
    assert S.score_text(1, 8) == "0.00" and S.score_text(-1, 8) == "0.00"  # no "-0.00"
    assert S.score_text(7, 0) == "7.00" and S.score_text(2**31 - 1, 16) == "32768.00"
    assert S.expected_line(91, np.array([[0, 99], [92, 1]]), 90, 6) == "ANOMALY 1.42 cells 0,1 1,0"
    assert S.expected_line(90, np.array([[0, 99]]), 90, 6) == "OK 1.41"
    assert S.parse_line("ANOMALY 1.42 cells 0,1 1,0").cells == ((0, 1), (1, 0))
    with pytest.raises(DeviceError, match="not OK/ANOMALY"):
        S.parse_line("ANOMALY x")


def test_file_source_on_the_host(tmp_path):
    elf = make_project(tmp_path / "fw", "host", head=True, mode="standalone", source="semihosting").elf
    xs = frames(6)
    S.write_frames(xs, tmp_path / S.FRAMES_FILE)
    done = subprocess.run([str(elf)], cwd=tmp_path, capture_output=True, text=True, timeout=30)
    lines = done.stdout.splitlines()
    assert lines[:-1] == expected(xs) and lines[-1] == "END 6 images"
    assert {ln.split()[0] for ln in lines[:-1]} == {"OK", "ANOMALY"}  # both decisions seen
    led = [ln for ln in done.stderr.splitlines() if ln.startswith("LED")]  # the host board's LED
    want, state = [], False
    for line in lines[:-1]:
        if line.startswith("ANOMALY") != state:
            state = not state
            want.append("LED on" if state else "LED off")
    assert led == want and led


def test_camera_source_hook_on_the_host(tmp_path):
    """A camera driver of the user's (vad_camera_capture) fills RGB pixels; the source makes
    the int8 input from them as the host does (pixel - 128)."""
    root = tmp_path / "fw"
    write_project_files(root, "host", has_head=True, mode="standalone", source="camera")
    (root / "my_camera.c").write_text(
        '#include <stdint.h>\n#include "vad_model.h"\n'
        "int vad_camera_capture(uint8_t *rgb);\n"
        "int vad_camera_capture(uint8_t *rgb) {\n"
        "  static int frame;\n  int i;\n  if (frame == 3) { return 0; }\n"
        "  for (i = 0; i < VAD_INPUT_BYTES; i++) { rgb[i] = (uint8_t)(i * 7 + frame * 13); }\n"
        "  frame++;\n  return 1;\n}\n")
    elf = make_project(root, "host", head=True, mode="standalone", source="camera").elf
    pixels = np.stack([(np.arange(768) * 7 + f * 13) % 256 for f in range(3)]).astype(np.uint8)
    xs = (pixels.astype(np.int16) - 128).astype(np.int8)
    out = subprocess.run([str(elf)], capture_output=True, text=True, timeout=30).stdout.splitlines()
    assert out == expected(xs) + ["END 3 images"]


def test_camera_source_without_a_driver_ends_at_once(tmp_path):
    elf = make_project(tmp_path, "host", head=True, mode="standalone", source="camera").elf
    assert subprocess.run([str(elf)], capture_output=True, text=True, timeout=30).stdout == "END 0 images\n"


def test_both_modes_serve_then_switch_to_standalone(tmp_path):
    elf = make_project(tmp_path, "host", head=True, mode="both", source="protocol").elf
    xs = frames(4, seed=40)
    with DeviceClient.open(f"host:{elf}") as dev:
        info = dev.hello()
        assert info.standalone and info.has_head
        dev.run(xs[0])  # serving first
        assert dev.infer_result.image_score == fake_head(fake_model(xs[0], 144))[1]
        with pytest.raises(DeviceError, match="one run, no warm-up"):
            dev.run(xs[1], runs=2)  # loads xs[1], then the client refuses to infer
        dev.standalone()  # the loop's first image: the input already loaded
        for x in xs[2:]:  # then the frames pushed with LOAD_INPUT
            for off in range(0, 768, 500):
                chunk = x.tobytes()[off:off + 500]
                dev.transport.write(P.encode_frame(P.FRAME["LOAD_INPUT"], 9,
                                                   P.LAYOUT["LOAD_INPUT"].pack(offset=off) + chunk))
        lines = _lines(dev.transport, len(xs) - 1)
    assert lines == expected(xs[1:])


def _lines(transport, n: int, timeout_s: float = 10) -> list[str]:
    """n text lines from a stream that also carries protocol frames (LOAD_INPUT replies)."""
    stream, deadline = b"", time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stream += transport.read(4096, 0.1)
        text = _strip_frames(stream)
        lines = [ln for ln in text.split("\n")[:-1] if ln]
        if len(lines) >= n:
            return lines
    raise AssertionError(f"got {stream!r}")


def _strip_frames(stream: bytes) -> str:
    out, i = bytearray(), 0
    while i < len(stream):
        if stream[i:i + 2] == P.SYNC and len(stream) >= i + P.HEADER_BYTES:
            n = int.from_bytes(stream[i + 4:i + 6], "little")
            i += P.HEADER_BYTES + n + P.CRC_BYTES
            continue
        out.append(stream[i])
        i += 1
    return out.decode("ascii", "replace")


def test_standalone_needs_a_head_and_known_choices(tmp_path):
    with pytest.raises(RenderError, match="--mode standalone needs a head that runs on the device"):
        write_project_files(tmp_path, "host", mode="standalone")
    with pytest.raises(RenderError, match="unknown --mode 'solo'; choose serve, standalone, both"):
        write_project_files(tmp_path, "host", mode="solo", has_head=True)
    with pytest.raises(RenderError, match="unknown --source 'usb'; choose protocol, semihosting, camera"):
        write_project_files(tmp_path, "host", mode="both", source="usb", has_head=True)


@needs_qemu
@pytest.mark.parametrize("board", ["qemu-an386", "stm32f405"])
def test_semihosting_source_in_qemu(tmp_path, board):
    # 200 output bytes: a 5x5 grid of 8 channels
    elf = make_project(tmp_path, board, "-DVAD_FAKE_OUTPUT_BYTES=200 -DVAD_FAKE_GRID=5", head=True,
                       mode="standalone", source="semihosting").emulator_elf
    xs = frames(5, seed=60)
    lines = S.run_emulated(elf, board, xs, timeout_s=60)
    assert lines == expected(xs, grid=5, output_bytes=200)
    assert any(ln.startswith("ANOMALY") and " cells " in ln for ln in lines)


@needs_qemu
def test_led_follows_the_decisions_in_qemu(tmp_path):
    """mps2-an386's LED0 (FPGA I/O register) is written after each line: 1 for ANOMALY, 0 for
    OK; QEMU's trace of the register shows it."""
    from vadtool.boards import BOARDS
    from vadtool.device.emulator import qemu_command
    elf = make_project(tmp_path / "fw", "qemu-an386", head=True, mode="standalone",
                       source="semihosting").emulator_elf
    xs = frames(6, seed=80)
    S.write_frames(xs, tmp_path / S.FRAMES_FILE)
    cmd = qemu_command(elf, BOARDS["qemu-an386"], None, semihosting=True) + ["-trace", "mps2_fpgaio_write"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    events = []
    try:
        for line in proc.stdout:
            if line.startswith(("OK", "ANOMALY")):
                events.append(line.split()[0])
            elif "mps2_fpgaio_write" in line and "offset 0x0 " in line:
                events.append("LED " + line.split("data ")[1].split()[0])
            elif line.startswith("END"):
                break
    finally:
        proc.kill()
        proc.wait()
    want = []
    for line in expected(xs):
        want += [line.split()[0], "LED 0x1" if line.startswith("ANOMALY") else "LED 0x0"]
    assert events == want and "LED 0x1" in want and "LED 0x0" in want
