"""Signals that stop a command: Ctrl-C (SIGINT), `kill` (SIGTERM) and a closed terminal
(SIGHUP) all end a vadtool command the same way.

Each becomes a KeyboardInterrupt in the main thread, so the cleanup every command already
has for Ctrl-C runs for all three: `finally` blocks remove staging folders, context managers
stop QEMU, subprocess.run kills its child. The CLI's error boundary then prints one line and
exits with code 130 whichever signal it was (the shell's code for an interrupt; a script
tells an interrupted vadtool from a failed one, exit 2, by that code alone).
"""

from __future__ import annotations

import signal
import threading

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP")
EXIT_CODE = 130


class Interrupted(KeyboardInterrupt):
    """A stop signal arrived; signame says which."""

    def __init__(self, signame: str) -> None:
        super().__init__(signame)
        self.signame = signame


def _handler(signum, frame):
    # Later signals while the cleanup runs are ignored: a second Ctrl-C must not abort the
    # removal of a staging folder half-way.
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    raise Interrupted(signal.Signals(signum).name)


def install() -> dict:
    """Route SIGINT, SIGTERM and SIGHUP to Interrupted (main thread only; a SIGHUP that is
    ignored, as under nohup, stays ignored). A background job starts with SIGINT ignored,
    and a plain `kill` sends SIGTERM: both must still stop the command and its children.
    Returns the previous handlers, for restore()."""
    previous = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for name in STOP_SIGNALS:
        sig = getattr(signal, name, None)
        if sig is None:  # Windows has no SIGHUP
            continue
        if name == "SIGHUP" and signal.getsignal(sig) == signal.SIG_IGN:
            continue
        previous[sig] = signal.signal(sig, _handler)
    return previous


def restore(previous: dict) -> None:
    """Put back what install() replaced (a command run in-process, as by tests, ends there)."""
    for sig, handler in previous.items():
        signal.signal(sig, handler if handler is not None else signal.SIG_DFL)


class deferred:
    """Hold the stop signals for a few renames that must all happen or none (a stage's
    commit); a signal that came meanwhile is acted on when the block ends."""

    def __enter__(self):
        self._blocked = threading.current_thread() is threading.main_thread() and hasattr(signal, "pthread_sigmask")
        if self._blocked:
            sigs = {getattr(signal, n) for n in STOP_SIGNALS if hasattr(signal, n)}
            self._old = signal.pthread_sigmask(signal.SIG_BLOCK, sigs)
        return self

    def __exit__(self, *exc):
        if self._blocked:
            signal.pthread_sigmask(signal.SIG_SETMASK, self._old)
        return False


def run_child(cmd: list[str], timeout: float, **popen_args):
    """subprocess.run(cmd, capture_output=True, text=True, timeout=timeout) in a process
    group of its own, killed whole when the command stops (a signal, the timeout): make's
    compilers go with make instead of running on orphaned."""
    import os
    import subprocess
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen_args)
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.communicate()
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)
