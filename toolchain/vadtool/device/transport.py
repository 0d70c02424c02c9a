"""Byte streams to a device: a serial port or pyserial URL, or a host program's stdin/stdout.

``open_transport(port)`` understands:

* ``/dev/ttyACM0``, ``COM3``: a serial port (pyserial)
* ``socket://127.0.0.1:4321``: a TCP socket, e.g. QEMU's ``-serial tcp:...,server=on``
* ``loop://`` and any other pyserial URL (``serial.serial_for_url``)
* ``host:/path/to/firmware [args]``: start the host build of the firmware and speak the
  protocol over its stdin/stdout

Every transport has ``url``, ``write(data)``, ``read(n, timeout) -> bytes`` (up to n bytes;
fewer, or b"", when the timeout passes first), ``reset_input()`` and ``close()``; tests may
pass any object with these.
"""

from __future__ import annotations

import os
import select
import shlex
import subprocess
import time
from typing import Protocol

from ..errors import DeviceError


class Transport(Protocol):
    url: str

    def write(self, data: bytes) -> None: ...

    def read(self, n: int, timeout: float) -> bytes: ...

    def reset_input(self) -> None: ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port or URL."""

    def __init__(self, ser, url: str) -> None:
        self.ser = ser
        self.url = url

    def write(self, data: bytes) -> None:
        try:
            self.ser.write(data)
            self.ser.flush()
        except Exception as exc:  # serial.SerialException, OSError
            raise DeviceError(f"cannot write to {self.url}: {exc}") from exc

    def _timeout(self, seconds: float) -> None:
        if self.ser.timeout != seconds:  # a change reconfigures a real port: avoid repeats
            self.ser.timeout = seconds

    def read(self, n: int, timeout: float) -> bytes:
        try:
            self._timeout(max(timeout, 0.0))
            first = self.ser.read(1)
            if not first or n == 1:
                return first
            if self.url.startswith("socket://"):  # in_waiting only says 0 or 1 here
                self._timeout(0)
                return first + self.ser.read(n - 1)
            waiting = min(self.ser.in_waiting, n - 1)
            return first + (self.ser.read(waiting) if waiting else b"")
        except Exception as exc:
            raise DeviceError(f"cannot read from {self.url}: {exc}") from exc

    def reset_input(self) -> None:
        try:
            self.ser.reset_input_buffer()
        except Exception as exc:
            raise DeviceError(f"cannot read from {self.url}: {exc}") from exc

    def close(self) -> None:
        self.ser.close()


class SubprocessTransport:
    """A program (the host build of the firmware) that speaks the protocol on stdin/stdout."""

    def __init__(self, argv: list[str]) -> None:
        self.url = "host:" + shlex.join(argv)
        try:
            self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, bufsize=0)
        except OSError as exc:
            raise DeviceError(f"cannot start {argv[0]}: {exc.strerror}; build the firmware for "
                              "board 'host' first") from exc
        self._fd = self.proc.stdout.fileno()

    def _exited(self) -> DeviceError:
        code = self.proc.wait(timeout=5)
        return DeviceError(f"the host firmware {self.url} exited with code {code}")

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self._exited() from None

    def read(self, n: int, timeout: float) -> bytes:
        ready, _, _ = select.select([self._fd], [], [], max(timeout, 0.0))
        if not ready:
            return b""
        data = os.read(self._fd, n)
        if not data:
            raise self._exited()
        return data

    def reset_input(self) -> None:
        while select.select([self._fd], [], [], 0)[0]:
            if not os.read(self._fd, 65536):
                raise self._exited()

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=2)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                try:
                    self.proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.proc.stdout.close()


def open_transport(port: str, baudrate: int = 115200, *, connect_timeout: float = 5.0) -> Transport:
    """Open port (see the module docstring); DeviceError naming the port when it cannot.
    A socket:// port is retried until connect_timeout passes, for an emulator still starting."""
    if port.startswith("host:"):
        argv = shlex.split(port[len("host:"):])
        if not argv:
            raise DeviceError("host: needs the path of the host firmware, e.g. host:build/firmware")
        return SubprocessTransport(argv)
    import serial

    deadline = time.monotonic() + connect_timeout
    while True:
        try:
            ser = serial.serial_for_url(port, baudrate=baudrate, timeout=0.1, write_timeout=30)
            return SerialTransport(ser, port)
        except (serial.SerialException, ValueError, OSError) as exc:
            if port.startswith("socket://") and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            raise DeviceError(f"cannot open {port}: {exc}; is the board plugged in "
                              "(or the emulator running) and the port right?") from exc
