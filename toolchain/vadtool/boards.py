"""Board profiles: the one table of targets the firmware builds for.

A profile names the CPU and FPU flags, the core clock, where and how much flash and RAM the
firmware may use (rendered into the project's linker script, and used by the fit check),
the board's source folders under ``firmware_templates/boards/`` (start-up, UART driver,
timer, LED), the flasher for real hardware, and the QEMU machine when it can be emulated.

:func:`fits` answers, before anything is built, whether a model of given costs fits a
board with the stated margin (the search and ``train --board`` use it); ``build`` checks the
linked image itself against the whole memory.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import BuildError

FIRMWARE_TEMPLATES = Path(os.environ.get(
    "VADTOOL_FIRMWARE_TEMPLATES", Path(__file__).resolve().parents[2] / "firmware_templates"))

KB = 1024


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cc: str                      # C compiler: arm-none-eabi-gcc, or cc for the host
    cpu_flags: tuple[str, ...]   # -mcpu/-mthumb
    fpu_flags: tuple[str, ...]   # -mfpu/-mfloat-abi
    clock_hz: int                # core clock the firmware runs at (and SysTick counts at)
    flash_origin: int            # where the application's code goes
    flash_bytes: int | None      # what the application may use; None = no limit (host)
    ram_origin: int
    ram_bytes: int | None        # includes the stack
    stack_bytes: int
    memory_note: str             # where the numbers come from, for the generated linker script
    source_dirs: tuple[str, ...]  # folders under firmware_templates/boards/, copied to board/
    uart: str                    # which UART the protocol runs on
    flasher: str | None          # "openocd", "bossac", ... or None
    qemu_machine: str | None     # qemu-system-arm -M value, or None if not emulated
    led: str = "none"            # what board_led_set() drives (standalone: on for ANOMALY)
    ccm_origin: int = 0          # core-coupled RAM (CPU only, no DMA): stack and small buffers
    ccm_bytes: int = 0           # 0: none; the stack and small buffers share RAM
    # QEMU's machine may lack the CCM: where its emulated ELF puts the CCM sections instead
    # (netduinoplus2 in QEMU 7.2 maps 192 KB of SRAM from 0x20000000 and nothing at 0x10000000)
    qemu_ccm_origin: int = 0
    # What one image may cost, in Cortex-M4 instructions of the network and head: the board
    # default's latency budget (train --max-instructions overrides it); None: no limit (the
    # host). 25 M is about 150 ms at 168 MHz. It admits the 1.0 backbone at 64 px (the network
    # 17.3 M in the plain schedule, 19.3 M streamed, with the native kernels) with a head
    # (README, "On the device").
    max_instructions: int | None = 25_000_000

    @property
    def hosted(self) -> bool:
        return self.cc == "cc"

    @property
    def emulated(self) -> bool:
        return self.qemu_machine is not None

    @property
    def cflags(self) -> tuple[str, ...]:
        return self.cpu_flags + self.fpu_flags


_M4F = ("-mcpu=cortex-m4", "-mthumb")
_HARD_SP = ("-mfpu=fpv4-sp-d16", "-mfloat-abi=hard")
_MPS2_UART = "CMSDK APB UART0 at 0x40004000"
_MPS2_LED = "FPGA I/O LED0 (register 0x40028000 bit 0)"
_MPS2_MEM = "4 MB SSRAM1 at 0 holds the code, 4 MB SSRAM2/3 at 0x20000000 the data."

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("qemu-an386", "Arm MPS2 AN386 (Cortex-M4F, 25 MHz), emulated by QEMU mps2-an386",
          "arm-none-eabi-gcc", _M4F, _HARD_SP, 25_000_000, 0x0, 4096 * KB, 0x20000000,
          4096 * KB, 16 * KB, _MPS2_MEM, ("cortexm", "mps2"), _MPS2_UART, None, "mps2-an386", led=_MPS2_LED),
    Board("qemu-an500", "Arm MPS2 AN500 (Cortex-M7, 25 MHz), emulated by QEMU mps2-an500",
          "arm-none-eabi-gcc", ("-mcpu=cortex-m7", "-mthumb"),
          ("-mfpu=fpv5-d16", "-mfloat-abi=hard"), 25_000_000, 0x0, 4096 * KB, 0x20000000,
          4096 * KB, 16 * KB, _MPS2_MEM, ("cortexm", "mps2"), _MPS2_UART, None, "mps2-an500",
          led=_MPS2_LED),
    Board("stm32f405", "STM32F405 (Cortex-M4F, 168 MHz; Netduino Plus 2, pyboard); "
          "emulated by QEMU netduinoplus2", "arm-none-eabi-gcc", _M4F, _HARD_SP, 168_000_000,
          0x08000000, 1024 * KB, 0x20000000, 128 * KB, 16 * KB,
          "1 MB flash at 0x08000000; 128 KB SRAM at 0x20000000 (model arena, data); 64 KB CCM "
          "at 0x10000000 (stack, protocol frames, features, cell scores).",
          ("cortexm", "stm32f405"), "USART1 at 0x40011000 (PA9 TX, PA10 RX; QEMU's first -serial)",
          "openocd", "netduinoplus2", led="PB4 (pyboard LED4, blue)", ccm_origin=0x10000000,
          ccm_bytes=64 * KB, qemu_ccm_origin=0x20020000),
    Board("nano33ble", "Arduino Nano 33 BLE (nRF52840, Cortex-M4F, 64 MHz)", "arm-none-eabi-gcc",
          _M4F, _HARD_SP, 64_000_000, 0x10000, 1024 * KB - 64 * KB, 0x20000000, 256 * KB, 16 * KB,
          "1 MB flash less the 64 KB Arduino bootloader below 0x10000; 256 KB RAM.",
          ("cortexm", "nrf52840"),
          "UARTE0 in legacy UART mode, TX P1.03 (D1), RX P1.10 (D0): needs a 3.3 V USB-serial "
          "adapter; the USB socket is the nRF52840's own USB and would need a CDC stack",
          "bossac", None, led="P0.13 (the orange LED \"L\", LED_BUILTIN)"),
    Board("host", "this computer: the protocol on stdin/stdout, or on a TCP port (--tcp PORT)",
          "cc", (), (), 1_000_000_000, 0, None, 0, None, 0, "", ("host",),
          "stdin/stdout or TCP", None, None, led="a line \"LED on\" / \"LED off\" on stderr",
          max_instructions=None),
)}


def get_board(name: str) -> Board:
    """The profile called name; BuildError listing the known boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise BuildError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None


# -- budgets: what a model may cost on a board ----------------------------------------------
MARGIN = 0.10  # share of each memory kept free for what the estimate does not see
# Firmware besides the model's weights and the head's tables: the native runtime's kernels,
# the protocol server, the standalone loop, board start-up and libc (measured with
# `vadtool build` of fomo-ad-tiny: 25.4 KB on qemu-an386 and stm32f405, more operators cost more).
CODE_BYTES = 28 * KB
FRAME_BYTES = 2 * (6 + 1024 + 2)  # the protocol server's receive and send frames
STATIC_RAM_BYTES = 1 * KB  # the runtime's and the board's own variables
MAIN_RAM_RESERVE = 4 * KB  # main RAM a split arena leaves for data, the head's buffers and libc


def arena_limit(board: Board) -> int | None:
    """On a board with core-coupled RAM, the part of the model's arena that goes to the main
    RAM (the rest goes to CCM, beside the stack); None elsewhere: the arena is one block."""
    return board.ram_bytes - MAIN_RAM_RESERVE if board.ccm_bytes else None


def io_bytes(output_bytes: int, cells: int = 0, input_copy_bytes: int = 0) -> int:
    """RAM the firmware needs beside the arena: the network's output (features), the head's
    int32 cell scores, the protocol frames and (keep_input) the server's copy of the input."""
    return output_bytes + 4 * cells + FRAME_BYTES + input_copy_bytes


@dataclass(frozen=True)
class Budget:
    """What a model may use on a board after the margin: flash for weights, head and code;
    RAM for the arena (and, without CCM, the stack and I/O buffers); CCM for stack and I/O."""

    flash_bytes: int | None
    ram_bytes: int | None
    ccm_bytes: int

    def describe(self) -> str:
        if self.flash_bytes is None:
            return "host memory"
        ccm = f" + CCM {self.ccm_bytes // KB}" if self.ccm_bytes else ""
        return f"flash {self.flash_bytes // KB} KB, RAM {self.ram_bytes // KB}{ccm} KB"


def budget(board: Board) -> Budget:
    """The board's memories less MARGIN (None: no limit, the host)."""
    def usable(n):
        return None if n is None else int(n * (1 - MARGIN))
    return Budget(usable(board.flash_bytes), usable(board.ram_bytes), usable(board.ccm_bytes) or 0)


def arena_room(board: Board | str, *, head_ram_bytes: int = 0, io_bytes: int = 0) -> int | None:
    """The largest activation arena fits() accepts on the board beside the head's working
    memory and these I/O buffers, with MARGIN to spare (main RAM and, where the board has it,
    the CCM the stack and I/O leave); None: no limit (the host). The memory planner's budget
    when render patches only to fit (native.build_plan, patching "fit")."""
    board = get_board(board) if isinstance(board, str) else board
    room = budget(board)
    if room.flash_bytes is None or room.ram_bytes is None:
        return None
    small = board.stack_bytes + io_bytes
    if room.ccm_bytes:
        if small > room.ccm_bytes:  # nothing fits (fits() says why)
            return 0
        return room.ram_bytes - head_ram_bytes - STATIC_RAM_BYTES + room.ccm_bytes - small
    return room.ram_bytes - head_ram_bytes - small - STATIC_RAM_BYTES


def fits(board: Board | str, *, weights_bytes: int, arena_bytes: int, head_bytes: int = 0,
         head_ram_bytes: int = 0, io_bytes: int = 0) -> str | None:
    """None when a model of these costs fits the board with MARGIN to spare; else the reason
    in one line, in kilobytes ("needs 503 KB of RAM (arena 480 KB + I/O 15 KB + stack 8 KB +
    data 1 KB), nano33ble has 230 KB after the 10% margin").

    weights_bytes: the network's constants (native.write_model_sources' weights_bytes);
    arena_bytes: its activation arena; head_bytes / head_ram_bytes: the integer head's tables
    (IntHead.flash_bytes) and working memory (IntHead.ram_bytes); io_bytes: see io_bytes().
    On a board with core-coupled RAM the stack and I/O buffers go there, the arena and the
    head's working memory to the main RAM, and what of the arena does not fit there to the CCM
    too (arena_limit(); the build then checks the real split, which tensor sizes can make a
    little larger)."""
    board = get_board(board) if isinstance(board, str) else board
    room = budget(board)
    if room.flash_bytes is None:
        return None

    def kb(n: int) -> str:
        return f"{math.ceil(n / KB)} KB"

    def short(what: str, need: int, parts: str, have: int) -> str:
        return (f"needs {kb(need)} of {what} ({parts}), {board.name} has {have // KB} KB after "
                f"the {MARGIN:.0%} margin")

    flash = weights_bytes + head_bytes + CODE_BYTES
    if flash > room.flash_bytes:
        return short("flash", flash, f"weights {kb(weights_bytes)} + head {kb(head_bytes)} + "
                     f"code {kb(CODE_BYTES)}", room.flash_bytes)
    small = board.stack_bytes + io_bytes
    if room.ccm_bytes:
        main_room = room.ram_bytes - head_ram_bytes - STATIC_RAM_BYTES
        spill = max(0, arena_bytes - main_room)
        if small + spill > room.ccm_bytes:
            return (f"needs {kb(arena_bytes + head_ram_bytes + STATIC_RAM_BYTES + small)} of RAM and CCM "
                    f"(arena {kb(arena_bytes)} + head {kb(head_ram_bytes)} + data {kb(STATIC_RAM_BYTES)} + "
                    f"stack {kb(board.stack_bytes)} + I/O {kb(io_bytes)}), {board.name} has "
                    f"{room.ram_bytes // KB} + {room.ccm_bytes // KB} KB after the {MARGIN:.0%} margin")
        return None
    ram = arena_bytes + head_ram_bytes + small + STATIC_RAM_BYTES
    if ram > room.ram_bytes:
        return short("RAM", ram, f"arena {kb(arena_bytes)} + head {kb(head_ram_bytes)} + I/O "
                     f"{kb(io_bytes)} + stack {kb(board.stack_bytes)} + data {kb(STATIC_RAM_BYTES)}",
                     room.ram_bytes)
    return None
