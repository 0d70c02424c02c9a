"""Progress for long work: bars with counts and time left on a terminal, plain lines in logs.

The core reports progress through a plain callable (what, done, total); this module turns
those calls into output on stderr, so stdout stays clean for --json.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable

Progress = Callable[[str, int, int], None]  # what the core calls: (what, done, total)


def quiet(what: str, done: int, total: int) -> None:
    """The default progress: say nothing."""


class Reporter:
    """Callable (what, done, total). mode: "bar" (terminal), "lines" (pipe) or "quiet"."""

    LINE_EVERY_S = 5.0  # in lines mode, at most one line per stage every few seconds, and at
    # least one: a stage that reports nothing for that long (one long step: the int8
    # conversion, a density fit) gets a "still working" line from a heartbeat thread, so a CI
    # log shows progress instead of minutes of silence

    def __init__(self, mode: str | None = None, stream=None, clock: Callable[[], float] = time.monotonic):
        self.stream = stream or sys.stderr
        self.clock = clock  # seconds; tests pass their own to order events without sleeping
        if mode is None:
            mode = "bar" if self.stream.isatty() else "lines"
        self.mode = mode
        self._bar = None
        self._what = None
        self._first_at = 0.0  # when the stage first reported, and how far it was then:
        self._first_done = 0  # the rate is measured from there, not guessed from nothing
        self._last_line = 0.0
        self._last_call = 0.0
        self._done = self._total = 0
        self._lock = threading.RLock()  # the heartbeat and the caller both print
        self._heartbeat: threading.Thread | None = None
        self._stop = threading.Event()

    def __call__(self, what: str, done: int, total: int) -> None:
        if self.mode == "quiet":
            return
        with self._lock:
            self._report(what, done, total)

    def _report(self, what: str, done: int, total: int) -> None:
        now = self.clock()
        self._last_call, self._done, self._total = now, done, total
        if what != self._what:
            self._end_stage()
            self._what, self._first_at, self._first_done, self._last_line = what, now, done, 0.0
            if self.mode == "lines" and done < total:
                self._start_heartbeat()
            if self.mode == "bar":
                from tqdm import tqdm
                self._bar = tqdm(total=total, initial=done, desc=what, file=self.stream,
                                 unit="it", leave=True, dynamic_ncols=True)
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)
            if done >= total:
                self._end_stage()
            return
        if done >= total or done == self._first_done or now - self._last_line >= self.LINE_EVERY_S:
            self._last_line = now
            print(f"{what}: {done}/{total}{self._timing(now, done, total)}", file=self.stream, flush=True)
            if done >= total:
                self._end_stage()

    def _start_heartbeat(self) -> None:
        self._stop = threading.Event()
        self._heartbeat = threading.Thread(target=self._beat, args=(self._stop,), daemon=True,
                                           name="vadtool-progress")
        self._heartbeat.start()

    def _beat(self, stop: threading.Event) -> None:
        while not stop.wait(self.LINE_EVERY_S / 4):
            with self._lock:
                now = self.clock()
                if stop.is_set() or self._what is None:
                    return
                if now - self._last_call >= self.LINE_EVERY_S and now - self._last_line >= self.LINE_EVERY_S:
                    self._last_line = now
                    print(f"{self._what}: {self._done}/{self._total}, {now - self._first_at:.0f} s so far",
                          file=self.stream, flush=True)

    def _timing(self, now: float, done: int, total: int) -> str:
        measured = done - self._first_done
        if measured <= 0:
            return ""
        per_item = (now - self._first_at) / measured
        if done < total:
            return f", {per_item * (total - done):.0f} s left"
        return f", {per_item * (total - self._first_done + min(self._first_done, 1)):.1f} s"

    def close(self) -> None:
        """End the current stage (an unfinished bar gets its line ended, so what follows
        starts on a line of its own; the heartbeat stops)."""
        with self._lock:
            self._end_stage()

    def _end_stage(self) -> None:
        self._stop.set()
        self._heartbeat = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        self._what = None
