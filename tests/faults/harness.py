"""Drive the real CLI in a subprocess and check the promise kept under faults: the exit code,
exactly one `error:` line on stderr, no traceback, and the file system before and after."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INJECT = Path(__file__).with_name("inject.py")
TIMEOUT_S = 300


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO / "toolchain"), e.get("PYTHONPATH", "")])
    e.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    e.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    return e


def command(*args, fault: tuple[str, str, str] | None = None) -> list[str]:
    """The vadtool command line; with fault (EVENT, PATTERN, ACTION), run under inject.py."""
    if fault is None:
        return [sys.executable, "-m", "vadtool.cli", "-q", *map(str, args)]
    return [sys.executable, str(INJECT), *fault, "--", "-q", *map(str, args)]


def vadtool(*args, fault=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(command(*args, fault=fault), capture_output=True, text=True, env=env(),
                          cwd=cwd, timeout=TIMEOUT_S)


def start(*args, fault=None) -> subprocess.Popen:
    """The command in the background, with the default signal dispositions of a terminal's
    process (a test runner started under nohup would pass its ignored SIGHUP on)."""
    return subprocess.Popen(command(*args, fault=fault), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env(), preexec_fn=_default_signals)


def _default_signals() -> None:
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def assert_error(proc, code: int = 2, *mentions: str) -> str:
    """exit code, one `error:` line that contains every mention, no traceback; the line."""
    stderr = proc.stderr if isinstance(proc.stderr, str) else proc.stderr.read()
    assert proc.returncode == code, f"exit {proc.returncode}, expected {code}\n{stderr}"
    assert "Traceback" not in stderr, stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, stderr
    for m in mentions:
        assert m in lines[0], f"{m!r} not in {lines[0]!r}"
    return lines[0]


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under root (hidden ones too): relative path -> sha256 or "dir"."""
    root = Path(root)
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[str(Path(dirpath, d).relative_to(root))] = "dir"
        for f in filenames:
            p = Path(dirpath, f)
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out
