"""One writer at a time per run directory or firmware project.

A command that writes a run or project (train's --out, quantize, the evaluations that
evaluate and bench keep, render's --out, build) holds an exclusive lock on it while it
works; a second command that wants to write the same folder fails at once with one line:

    busy: another vadtool command (quantize, pid 4242) is writing runs/parts; ...

The lock is an flock(2) on a small file beside the folder (`.NAME.vadtool-lock`, beside
rather than inside because train and render create their folder by renaming a staged one
onto it). The kernel drops an flock when its holder dies, so a lock left by a killed
command is stale by construction: the next command takes it, whatever pid the file names.
The file is removed on release.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from .errors import BusyError

try:
    import fcntl
except ImportError:  # Windows: no flock; commands are not guarded against each other there
    fcntl = None


def lock_path(folder: Path) -> Path:
    folder = Path(os.path.abspath(folder))
    return folder.parent / f".{folder.name}.vadtool-lock"


def _holder(fd: int) -> str:
    """'quantize, pid 4242' from a held lock's file (empty while its holder is writing it)."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").split()
    except OSError:
        text = []
    if len(text) >= 2 and text[0].isdigit():
        return f"{' '.join(text[1:])}, pid {text[0]}"
    return "pid unknown"


def _acquire(path: Path, folder: Path, command: str) -> int:
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise BusyError(f"busy: another vadtool command ({holder}) is writing {folder}; "
                            "wait for it to finish, then run this again") from None
        except BaseException:
            os.close(fd)
            raise
        try:  # a releaser unlinks the file: the one we locked must still be the one at path
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
            return fd
        os.close(fd)


_held: dict[Path, int] = {}  # lock files this process holds -> nesting depth


@contextmanager
def writing(folder: str | Path, command: str):
    """Hold the write lock of folder (a run directory or project, existing or about to be
    created) for the block; BusyError at once if another command holds it. Re-entrant: the
    CLI takes it before the heavy imports, the stage function again inside."""
    if fcntl is None:
        yield
        return
    folder = Path(folder)
    path = lock_path(folder)
    if path in _held:
        _held[path] += 1
        try:
            yield
        finally:
            _held[path] -= 1
        return
    created = [p for p in path.parents if not p.exists()]  # for the lock only: removed again
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = _acquire(path, folder, command)
    except BaseException:
        _remove_empty(created)
        raise
    _held[path] = 1
    try:
        yield
    finally:
        del _held[path]
        try:
            os.unlink(path)  # while still holding it: a waiter then re-checks and retries
        except FileNotFoundError:
            pass
        os.close(fd)
        _remove_empty(created)


def _remove_empty(folders: list[Path]) -> None:
    for p in folders:  # deepest first
        try:
            p.rmdir()
        except OSError:  # the command put something there (its output): keep it
            break
