"""`vadtool serve` as a child process, for scripts (benchmarks, tests) that talk to it over
HTTP: started on a free port, its address read from the line it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

from ..errors import VadError

ADDRESS = re.compile(r"^serving (http://\S+?)/?$")


class ServiceProcess:
    """A running `vadtool serve ARGS --port 0`; `url` is where it listens. Its output after
    the address line is kept in `log` (read by a thread, so a chatty server never blocks)."""

    def __init__(self, args: list[str], env: dict | None = None, timeout: float = 120.0, cwd: Path | None = None):
        self.proc = subprocess.Popen([sys.executable, "-m", "vadtool.cli", "serve", *map(str, args), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     env={**os.environ, **(env or {})}, cwd=cwd)
        self.log: list[str] = []
        self.url = None
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.log.append(line)
                m = ADDRESS.match(line.strip())
                if m and self.url is None:
                    self.url = m.group(1)
                    found.set()
            found.set()  # the process ended

        self._reader = threading.Thread(target=read, daemon=True)
        self._reader.start()
        if not found.wait(timeout) or self.url is None:
            self.stop()
            raise VadError(f"vadtool serve did not start within {timeout:.0f} s:\n{''.join(self.log)[-3000:]}")

    def stop(self, kill: bool = False) -> int:
        """End it (SIGTERM, a graceful shutdown; kill: SIGKILL) and return its exit code."""
        if self.proc.poll() is None:
            (self.proc.kill if kill else self.proc.terminate)()
        try:
            code = self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        self._reader.join(timeout=5)
        return code

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
