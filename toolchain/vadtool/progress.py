"""Progress for long work: bars with counts and time left on a terminal, plain lines in logs.

The core reports progress through a plain callable (what, done, total); this module turns
those calls into output on stderr, so stdout stays clean for --json.
"""

from __future__ import annotations

import sys
import time
from typing import Callable

Progress = Callable[[str, int, int], None]  # what the core calls: (what, done, total)


def quiet(what: str, done: int, total: int) -> None:
    """The default progress: say nothing."""


class Reporter:
    """Callable (what, done, total). mode: "bar" (terminal), "lines" (pipe) or "quiet"."""

    LINE_EVERY_S = 5.0  # in lines mode, at most one line per stage every few seconds

    def __init__(self, mode: str | None = None, stream=None):
        self.stream = stream or sys.stderr
        if mode is None:
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode
        self._bar = None
        self._what = None
        self._started = 0.0
        self._last_line = 0.0

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.mode == "quiet":
            return
        if what != self._what:
            self.close()
            self._what, self._started, self._last_line = what, time.monotonic(), 0.0
            if self.mode == "bar":
                from tqdm import tqdm
                self._bar = tqdm(total=total, desc=what, file=self.stream, unit="it",
                                 leave=True, dynamic_ncols=True)
        if self._bar is not None:
            self._bar.total = total
            self._bar.n = done
            self._bar.refresh()
            if done >= total:
                self.close()
            return
        now = time.monotonic()
        if done == 0:
            print(f"{what}: 0/{total}", file=self.stream, flush=True)
            self._last_line = now
        elif done >= total or now - self._last_line >= self.LINE_EVERY_S:
            self._last_line = now
            elapsed = now - self._started
            left = elapsed / done * (total - done) if done else 0.0
            tail = f", {left:.0f} s left" if done < total else f", {elapsed:.1f} s"
            print(f"{what}: {done}/{total}{tail}", file=self.stream, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._what = None
