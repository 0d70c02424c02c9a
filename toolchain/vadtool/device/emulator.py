"""QEMU for the emulated boards: start the firmware, hand back its serial port as a URL.

    with start_emulator("build/firmware.elf", "qemu-an386") as emu:
        client = DeviceClient.open(emu.url)      # socket://127.0.0.1:PORT

QEMU runs with ``-icount shift=0``: one instruction per virtual nanosecond, so SysTick
counts are exact and repeatable (see InferResult.instructions_under_icount).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..boards import BOARDS, Board, get_board
from ..errors import DeviceError, DeviceTimeout

STARTUP_TIMEOUT_S = 10.0
LOAD_GRACE_S = 0.3  # QEMU still alive this long after opening its port: the ELF loaded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def qemu_command(elf: str | Path, board: Board, port: int | None, semihosting: bool = False) -> list[str]:
    """The qemu-system-arm command line that runs elf on board with its UART on a TCP port
    (port None: on QEMU's stdin/stdout), and semihosting on for the standalone firmware's
    file image source."""
    serial = "stdio" if port is None else f"tcp:127.0.0.1:{port},server=on,wait=off,nodelay=on"
    return ["qemu-system-arm", "-M", board.qemu_machine, "-nographic", "-monitor", "none",
            "-icount", "shift=0", "-kernel", str(Path(elf).resolve()), "-serial", serial] + (
            ["-semihosting-config", "enable=on,target=native"] if semihosting else [])


@dataclass
class Emulator:
    """A running QEMU; url is its UART. stop() (or leaving the with block) ends it."""

    proc: subprocess.Popen
    url: str
    board: str
    elf: Path
    log: Path = field(repr=False)

    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        """Terminate QEMU, kill it if it has not gone within 5 s; remove its log."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.unlink(missing_ok=True)

    def __enter__(self) -> Emulator:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _log_tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1] if lines else ""


def emulator_board(elf: str | Path, board: str) -> Board:
    """The board's profile, once QEMU, the board's emulation and the ELF are all there."""
    profile = get_board(board)
    if not profile.emulated:
        emulated = ", ".join(b.name for b in BOARDS.values() if b.emulated)
        raise DeviceError(f"board {board} has no emulator; emulated boards: {emulated}")
    if shutil.which("qemu-system-arm") is None:
        raise DeviceError("qemu-system-arm not found: install it (apt install qemu-system-arm)")
    if not Path(elf).is_file():
        raise DeviceError(f"{elf} does not exist: build the firmware first")
    return profile


def start_emulator(elf: str | Path, board: str, port: int = 0, *,
                   startup_timeout: float = STARTUP_TIMEOUT_S) -> Emulator:
    """Start QEMU running elf for board; port 0 picks a free TCP port. Returns once the
    serial port accepts connections: DeviceTimeout after startup_timeout, DeviceError if
    QEMU is missing, the board is not emulated, or QEMU exits."""
    profile = emulator_board(elf, board)
    elf = Path(elf)
    for attempt in range(3):
        tcp_port = port or _free_port()
        log = Path(tempfile.mkstemp(prefix="vadtool-qemu-", suffix=".log")[1])
        with log.open("wb") as out:
            proc = subprocess.Popen(qemu_command(elf, profile, tcp_port), stdin=subprocess.DEVNULL,
                                    stdout=out, stderr=subprocess.STDOUT)
        emu = Emulator(proc, f"socket://127.0.0.1:{tcp_port}", board, elf, log)
        try:
            started = _wait_started(emu, tcp_port, startup_timeout)
        except BaseException:  # a stop signal while QEMU starts: QEMU goes too
            emu.stop()
            raise
        if started:
            return emu
        if proc.poll() is None:
            tail = _log_tail(log)
            emu.stop()
            raise DeviceTimeout(f"QEMU {profile.qemu_machine} did not open its serial port "
                                f"127.0.0.1:{tcp_port} within the startup timeout of "
                                f"{startup_timeout:g} s{': ' + tail if tail else ''}")
        tail = _log_tail(log)
        emu.stop()
        if "Address already in use" in tail and not port and attempt < 2:
            continue  # another program took the free port first
        raise DeviceError(f"QEMU {profile.qemu_machine} exited with code {proc.returncode} "
                          f"running {elf}: {tail or 'no output'}")
    raise AssertionError("unreachable")


def _wait_started(emu: Emulator, tcp_port: int, startup_timeout: float) -> bool:
    """True once QEMU serves its port with the ELF loaded; False if it exited or timed out."""
    proc = emu.proc
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", tcp_port), timeout=0.5).close()
        except OSError:
            time.sleep(0.05)
            continue
        try:  # QEMU opens the port before loading the ELF: give a failed load time to show
            proc.wait(timeout=LOAD_GRACE_S)
        except subprocess.TimeoutExpired:
            return True
        return False
    return False
