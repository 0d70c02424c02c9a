"""Put a built firmware project on its board, then check the board runs that model.

``flash(project_dir, port)`` runs the board's flasher (or the one named by ``tool``) on
``build/firmware.elf`` / ``build/firmware.bin``, then asks the device HELLO over ``port``
and compares its model hash with the project's VAD_MODEL_HASH. For an emulator
(``socket://``) or the host build (``host:``) there is nothing to write: the emulator was
started with the ELF, so only the hash is checked.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from ..build import project_board
from ..errors import DeviceError
from .client import DeviceClient, DeviceInfo, Timeouts


@dataclass(frozen=True)
class Flasher:
    tool: str
    apt: str
    argv: tuple[str, ...]  # {elf}, {bin}, {port}, {port_name}, {origin} are filled in
    needs_port: bool


FLASHERS = {f.tool: f for f in (
    Flasher("openocd", "openocd", ("openocd", "-f", "interface/stlink.cfg", "-f",
            "target/stm32f4x.cfg", "-c", "program {elf} verify reset exit"), False),
    Flasher("pyocd", "pip install pyocd", ("pyocd", "flash", "--target", "stm32f405rg", "{elf}"), False),
    Flasher("dfu-util", "dfu-util", ("dfu-util", "-a", "0", "-s", "{origin}:leave", "-D", "{bin}"), False),
    Flasher("stm32flash", "stm32flash", ("stm32flash", "-w", "{bin}", "-v", "-g", "{origin}", "{port}"), True),
    Flasher("bossac", "bossa-cli", ("bossac", "-d", "--port={port_name}", "-U", "-i", "-e", "-w",
            "--offset={origin}", "{bin}", "-R"), True),
)}

_HASH = re.compile(r'#define\s+VAD_MODEL_HASH\s+"([0-9a-fA-F]+)"')


def project_model_hash(project_dir: str | Path) -> str:
    """VAD_MODEL_HASH from the project's vad_model.h (a TFLite Micro project's
    src/vad_model_settings.h)."""
    header = Path(project_dir) / "vad_model.h"
    if not header.is_file() and (Path(project_dir) / "src" / "vad_model_settings.h").is_file():
        header = Path(project_dir) / "src" / "vad_model_settings.h"
    match = _HASH.search(header.read_text()) if header.is_file() else None
    if not match:
        raise DeviceError(f"{header} is missing or defines no VAD_MODEL_HASH: render the model first")
    return match.group(1).lower()


def _touch_1200(port: str) -> None:
    """Open and close port at 1200 baud: Arduino boards then restart into their bootloader."""
    import serial

    try:
        serial.Serial(port, 1200).close()
    except (serial.SerialException, OSError):
        pass  # already in the bootloader, or bossac will say what is wrong
    time.sleep(1.5)


def run_flasher(project_dir: str | Path, *, tool: str | None = None,
                flash_port: str | None = None, timeout_s: float = 300) -> None:
    """Write the project's build/firmware.* to its board with tool (default: the board's)."""
    root = Path(project_dir)
    board = project_board(root)
    tool = tool or board.flasher
    if tool not in FLASHERS:
        raise DeviceError(f"board {board.name} has no flasher here; known flashers: {', '.join(FLASHERS)}")
    flasher = FLASHERS[tool]
    elf, binary = root / "build" / "firmware.elf", root / "build" / "firmware.bin"
    if not elf.is_file() or not binary.is_file():
        raise DeviceError(f"{binary} does not exist: build the firmware first")
    if shutil.which(tool) is None:
        raise DeviceError(f"{tool} not found: install it (apt install {flasher.apt}) or flash "
                          f"{binary} by hand")
    if flasher.needs_port and not flash_port:
        raise DeviceError(f"{tool} needs the board's port (e.g. /dev/ttyACM0)")
    if tool == "bossac":
        _touch_1200(flash_port)
    fill = {"elf": str(elf), "bin": str(binary), "port": flash_port or "",
            "port_name": Path(flash_port or "").name, "origin": f"0x{board.flash_origin:08x}"}
    argv = [a.format(**fill) for a in flasher.argv]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise DeviceError(f"{tool} did not finish within {timeout_s:g} s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        raise DeviceError(f"{tool} failed (exit {proc.returncode}): {lines[-1] if lines else 'no output'}; "
                          f"is the {board.name} connected and powered?")


def flash(project_dir: str | Path, port: str, *, tool: str | None = None,
          flash_port: str | None = None, timeouts: Timeouts = Timeouts(hello=10.0)) -> DeviceInfo:
    """Flash the project (unless port is socket:// or host:) and check, over port, that the
    device runs the project's model: DeviceError on a missing tool, a failed flash, a silent
    device or a model hash mismatch. flash_port is where the flasher talks (default port)."""
    root = Path(project_dir)
    board = project_board(root)
    want = project_model_hash(root)
    if not port.startswith(("socket://", "host:", "loop://")):
        run_flasher(root, tool=tool, flash_port=flash_port or port)
    with DeviceClient.open(port, timeouts=timeouts) as client:
        info = client.hello()
    if info.model_hash.lower() != want:
        raise DeviceError(f"device at {port} runs model {info.model_hash[:12]}…, the project in "
                          f"{root} has {want[:12]}…: flash it again (or start the emulator with "
                          "this project's ELF)")
    if info.board != board.name:
        raise DeviceError(f"device at {port} is a {info.board}, the project is built for {board.name}")
    return info
