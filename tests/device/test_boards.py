"""Board budgets: what a model may cost on each board (boards.fits, for the search and
train --board) and what `vadtool boards` shows."""

import subprocess
import sys

import pytest

from vadtool import boards
from vadtool.boards import BOARDS, KB, MARGIN, budget, fits, io_bytes


def test_budget_keeps_the_margin():
    b = budget(BOARDS["stm32f405"])
    assert b.flash_bytes == int(1024 * KB * (1 - MARGIN)) and b.ram_bytes == int(128 * KB * (1 - MARGIN))
    assert b.ccm_bytes == int(64 * KB * (1 - MARGIN))
    assert budget(BOARDS["nano33ble"]).ccm_bytes == 0 and budget(BOARDS["host"]).flash_bytes is None


def test_fits_counts_ccm_apart_on_stm32f405():
    """With stack and I/O in CCM the arena may fill the main RAM's budget, to the byte."""
    room = budget(BOARDS["stm32f405"])
    arena = room.ram_bytes - boards.STATIC_RAM_BYTES
    io = io_bytes(output_bytes=6 * 6 * 96, cells=36)
    assert fits("stm32f405", weights_bytes=400 * KB, arena_bytes=arena, io_bytes=io) is None
    over = fits("stm32f405", weights_bytes=400 * KB, arena_bytes=arena + 1, io_bytes=io)
    assert over == (f"needs {-(-(arena + 1 + boards.STATIC_RAM_BYTES) // KB)} KB of RAM (arena "
                    f"{-(-(arena + 1) // KB)} KB + head 0 KB + data 1 KB), stm32f405 has 115 KB after the "
                    "10% margin")
    assert fits("stm32f405", weights_bytes=0, arena_bytes=arena - 100, head_ram_bytes=101).startswith(
        "needs 116 KB of RAM")  # the head's working memory is in the main RAM
    big_io = room.ccm_bytes - BOARDS["stm32f405"].stack_bytes + 1
    assert fits("stm32f405", weights_bytes=0, arena_bytes=0, io_bytes=big_io).startswith("needs 58 KB of CCM")


def test_fits_without_ccm_adds_stack_and_io_to_ram():
    nano = BOARDS["nano33ble"]
    room = budget(nano)
    io = io_bytes(1000, 16)
    arena = room.ram_bytes - boards.STATIC_RAM_BYTES - nano.stack_bytes - io
    assert fits(nano, weights_bytes=0, arena_bytes=arena, io_bytes=io) is None
    reason = fits(nano, weights_bytes=0, arena_bytes=arena + 1, io_bytes=io)
    assert reason.startswith("needs 231 KB of RAM (arena ") and "stack 16 KB" in reason
    assert reason.endswith("nano33ble has 230 KB after the 10% margin")


def test_fits_flash_names_weights_head_and_code():
    reason = fits("stm32f405", weights_bytes=890 * KB, head_bytes=12 * KB, arena_bytes=0)
    assert reason == (f"needs {890 + 12 + boards.CODE_BYTES // KB} KB of flash (weights 890 KB + head 12 KB + "
                      f"code {boards.CODE_BYTES // KB} KB), stm32f405 has 921 KB after the 10% margin")
    assert fits("host", weights_bytes=10**9, arena_bytes=10**9) is None
    assert fits("qemu-an386", weights_bytes=885 * KB, arena_bytes=522 * KB, io_bytes=io_bytes(12288, 16)) is None


def test_issue_numbers_default_model_misses_the_small_boards():
    """The issue's default (885 KB weights, 522 KB arena) fits only the QEMU boards."""
    verdicts = {b: fits(b, weights_bytes=885 * KB, arena_bytes=522 * KB, io_bytes=io_bytes(12288, 16))
                for b in ("qemu-an386", "qemu-an500", "stm32f405", "nano33ble")}
    assert verdicts["qemu-an386"] is None and verdicts["qemu-an500"] is None
    assert verdicts["stm32f405"].startswith("needs 523 KB of RAM")
    assert verdicts["nano33ble"].startswith(f"needs {885 + boards.CODE_BYTES // KB} KB of flash")  # bootloader


def test_boards_command_shows_each_budget():
    out = subprocess.run([sys.executable, "-m", "vadtool.cli", "boards"], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[0].split()[:4] == ["board", "clock", "flash", "RAM"]
    rows = {line.split()[0]: line for line in out[1:]}
    assert set(rows) == set(BOARDS)
    assert "128 + CCM 64 KB" in rows["stm32f405"] and "RAM 115 + CCM 57 KB" in rows["stm32f405"]
    assert "168 MHz" in rows["stm32f405"] and "QEMU netduinoplus2" in rows["stm32f405"]
    assert "flash 864 KB, RAM 230 KB" in rows["nano33ble"] and "P0.13" in rows["nano33ble"]


@pytest.mark.parametrize("name", list(BOARDS))
def test_every_board_has_an_led(name):
    assert BOARDS[name].led and BOARDS[name].led != "none"
