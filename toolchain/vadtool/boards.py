"""Board profiles: the one table of targets the firmware builds for.

A profile names the CPU and FPU flags, the core clock, where and how much flash and RAM the
firmware may use (rendered into the project's linker script, and used by the fit check),
the board's source folders under ``firmware_templates/boards/`` (start-up, UART driver,
timer), the flasher for real hardware, and the QEMU machine when it can be emulated.
"""

from __future__ import annotations

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
_MPS2_MEM = "4 MB SSRAM1 at 0 holds the code, 4 MB SSRAM2/3 at 0x20000000 the data."

BOARDS: dict[str, Board] = {b.name: b for b in (
    Board("qemu-an386", "Arm MPS2 AN386 (Cortex-M4F, 25 MHz), emulated by QEMU mps2-an386",
          "arm-none-eabi-gcc", _M4F, _HARD_SP, 25_000_000, 0x0, 4096 * KB, 0x20000000,
          4096 * KB, 16 * KB, _MPS2_MEM, ("cortexm", "mps2"), _MPS2_UART, None, "mps2-an386"),
    Board("qemu-an500", "Arm MPS2 AN500 (Cortex-M7, 25 MHz), emulated by QEMU mps2-an500",
          "arm-none-eabi-gcc", ("-mcpu=cortex-m7", "-mthumb"),
          ("-mfpu=fpv5-d16", "-mfloat-abi=hard"), 25_000_000, 0x0, 4096 * KB, 0x20000000,
          4096 * KB, 16 * KB, _MPS2_MEM, ("cortexm", "mps2"), _MPS2_UART, None, "mps2-an500"),
    Board("stm32f405", "STM32F405 (Cortex-M4F, 168 MHz; Netduino Plus 2, pyboard); "
          "emulated by QEMU netduinoplus2", "arm-none-eabi-gcc", _M4F, _HARD_SP, 168_000_000,
          0x08000000, 1024 * KB, 0x20000000, 128 * KB, 8 * KB,
          "1 MB flash at 0x08000000; 128 KB SRAM at 0x20000000 (the 64 KB CCM is not used).",
          ("cortexm", "stm32f405"), "USART1 at 0x40011000 (PA9 TX, PA10 RX; QEMU's first -serial)",
          "openocd", "netduinoplus2"),
    Board("nano33ble", "Arduino Nano 33 BLE (nRF52840, Cortex-M4F, 64 MHz)", "arm-none-eabi-gcc",
          _M4F, _HARD_SP, 64_000_000, 0x10000, 1024 * KB - 64 * KB, 0x20000000, 256 * KB, 16 * KB,
          "1 MB flash less the 64 KB Arduino bootloader below 0x10000; 256 KB RAM.",
          ("cortexm", "nrf52840"),
          "UARTE0 in legacy UART mode, TX P1.03 (D1), RX P1.10 (D0): needs a 3.3 V USB-serial "
          "adapter; the USB socket is the nRF52840's own USB and would need a CDC stack",
          "bossac", None),
    Board("host", "this computer: the protocol on stdin/stdout, or on a TCP port (--tcp PORT)",
          "cc", (), (), 1_000_000_000, 0, None, 0, None, 0, "", ("host",),
          "stdin/stdout or TCP", None, None),
)}


def get_board(name: str) -> Board:
    """The profile called name; BuildError listing the known boards otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise BuildError(f"unknown board {name!r}; known boards: {', '.join(BOARDS)}") from None
