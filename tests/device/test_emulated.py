"""Firmware built with arm-none-eabi-gcc around the fake model, run in QEMU, driven over
socket:// through pyserial: HELLO, inference, exact and repeatable instruction counts."""

import numpy as np
import pytest

from vadtool.device import protocol as P
from vadtool.device.client import DeviceClient, DeviceRefused, Timeouts
from vadtool.device.emulator import qemu_command, start_emulator
from vadtool.boards import BOARDS
from vadtool.errors import DeviceError, DeviceTimeout

from .conftest import FAKE_HASH, HAVE_QEMU, fake_model, make_project, needs_qemu, test_input

# 48x16x3 input: three LOAD_INPUT chunks; 200 output bytes: inline in the INFER reply
CFLAGS = "-DVAD_FAKE_INPUT_H=48 -DVAD_FAKE_OUTPUT_BYTES=200"
CLOCKS = {"qemu-an386": 25_000_000, "qemu-an500": 25_000_000, "stm32f405": 168_000_000}


@pytest.fixture(scope="module", params=list(CLOCKS))
def firmware(request, tmp_path_factory):
    board = request.param
    if not HAVE_QEMU:
        pytest.skip("qemu-system-arm or arm-none-eabi-gcc not installed")
    return board, make_project(tmp_path_factory.mktemp(board), board, CFLAGS, keep_input=True).emulator_elf


def measure(board, elf, x):
    with start_emulator(elf, board) as emu, DeviceClient.open(emu.url, timeouts=Timeouts(hello=20)) as dev:
        info = dev.hello()
        dev.load_input(x)
        res = dev.infer(warmup=1, runs=3)
        again = dev.infer(runs=2)
        return info, res, again


@needs_qemu
def test_hello_and_infer_in_qemu(firmware):
    board, elf = firmware
    x = test_input(48 * 16 * 3, seed=2)
    info, res, again = measure(board, elf, x)
    assert (info.board, info.model_hash, info.clock_hz) == (board, FAKE_HASH, CLOCKS[board])
    assert info.timer == "systick"  # QEMU's DWT does not count
    assert np.array_equal(res.output, fake_model(x, 200))
    assert res.timer == "systick" and res.cycles > 0
    assert len(set(res.ticks + again.ticks)) == 1, "SysTick counts under -icount must not vary"
    assert res.instructions_under_icount() > 1000


@needs_qemu
def test_input_in_arena_firmware_in_qemu(tmp_path):
    elf = make_project(tmp_path, "qemu-an386", CFLAGS).elf
    x = test_input(48 * 16 * 3, seed=6)
    with start_emulator(elf, "qemu-an386") as emu, DeviceClient.open(emu.url, timeouts=Timeouts(hello=20)) as dev:
        assert not dev.hello().input_kept
        first = dev.run(x)
        second = dev.run(x)
    assert np.array_equal(first[0], fake_model(x, 200))
    assert first[1] == second[1] > 0


@needs_qemu
def test_counts_repeat_across_emulator_runs(firmware):
    board, elf = firmware
    x = test_input(48 * 16 * 3, seed=4)
    first = measure(board, elf, x)[1]
    second = measure(board, elf, x)[1]
    assert first.ticks == second.ticks and first.cycles > 0


@needs_qemu
def test_errors_and_recovery_in_qemu(firmware):
    board, elf = firmware
    with start_emulator(elf, board) as emu, DeviceClient.open(emu.url, timeouts=Timeouts(hello=20)) as dev:
        dev.hello()
        with pytest.raises(DeviceRefused, match="INPUT_INCOMPLETE"):
            dev.infer()
        dev.transport.write(b"\x00garbage\xa5\x5a\x02\x01\xff\x7f" + P.encode_frame(1, 0xEE)[:5])
        assert dev.hello().model_hash == FAKE_HASH


def test_qemu_command_line():
    cmd = qemu_command("fw.elf", BOARDS["qemu-an386"], 4321)
    assert cmd[:3] == ["qemu-system-arm", "-M", "mps2-an386"]
    assert "shift=0" in cmd and "tcp:127.0.0.1:4321,server=on,wait=off,nodelay=on" in cmd


def test_emulator_refuses_what_it_cannot_run(tmp_path):
    with pytest.raises(DeviceError, match="board nano33ble has no emulator"):
        start_emulator(tmp_path / "fw.elf", "nano33ble")  # the message lists qemu-an386, ...
    if HAVE_QEMU:
        with pytest.raises(DeviceError, match="does not exist: build the firmware first"):
            start_emulator(tmp_path / "fw.elf", "qemu-an386")
        (tmp_path / "fw.elf").write_bytes(bytes(5_000_000))  # larger than the board's memory
        with pytest.raises(DeviceError, match="QEMU mps2-an386 exited with code 1 running .*"
                                              "Could not load kernel"):
            start_emulator(tmp_path / "fw.elf", "qemu-an386")


@needs_qemu
def test_startup_timeout_is_named(firmware):
    board, elf = firmware
    with pytest.raises(DeviceTimeout, match="did not open its serial port .* within the startup "
                                            "timeout of 0 s"):
        start_emulator(elf, board, startup_timeout=0)
