"""Drive the real `vadtool` command in a subprocess and check the promise it makes about
bad input: the expected exit code (2; 130 for an interrupt), exactly one `error:` line that
names the file or option, no traceback, and the file system unchanged around it (nothing
half-written, nothing left behind, the previous good state intact).

Plain functions, so other suites (tests/faults/) can import them:

    from catalogue.harness import refused, snapshot, vadtool
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

VADTOOL = [sys.executable, "-m", "vadtool.cli"]
TOOLCHAIN = Path(__file__).resolve().parents[2] / "toolchain"


def environment(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TOOLCHAIN), env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    env.update(extra or {})
    return env


def vadtool(*args, cwd=None, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run `vadtool ARGS...` and capture its output (text)."""
    return subprocess.run(VADTOOL + [str(a) for a in args], capture_output=True, text=True,
                          cwd=cwd, env=environment(env), timeout=timeout)


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every file, folder and link under roots (hidden ones too) -> (kind, mode, content
    hash): equal snapshots mean nothing was added, removed, changed or left behind."""
    seen: dict[str, tuple] = {}
    for root in map(Path, roots):
        if not root.exists():
            seen[str(root)] = ("absent",)
            continue
        for path in [root, *sorted(root.rglob("*"))]:
            st = path.lstat()
            if path.is_symlink():
                seen[str(path)] = ("link", os.readlink(path))
            elif path.is_dir():
                seen[str(path)] = ("dir", st.st_mode)
            else:
                seen[str(path)] = ("file", st.st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return seen


def describe_change(before: dict, after: dict) -> str:
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return f"added {added}, removed {removed}, changed {changed}"


def error_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("error:")]


def check_refusal(done: subprocess.CompletedProcess, names=(), code: int = 2) -> str:
    """The process kept the promise for bad input; returns its one error line."""
    shown = f"exit {done.returncode}\nstdout: {done.stdout[-2000:]}\nstderr: {done.stderr[-3000:]}"
    assert done.returncode == code, shown
    assert "Traceback" not in done.stderr + done.stdout, shown
    if code == 130:
        assert "interrupted" in done.stderr, shown
        return ""
    errors = error_lines(done)
    assert len(errors) == 1, shown
    for name in [names] if isinstance(names, (str, Path)) else names:
        assert str(name) in errors[0], f"{name!r} not named in {errors[0]!r}"
    return errors[0]


def refused(*args, names=(), watch=(), code: int = 2, env: dict | None = None, cwd=None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run vadtool ARGS, check the refusal (check_refusal) and that nothing under the
    `watch` paths changed; returns the finished process, its error line as .error."""
    watch = [Path(w) for w in watch]
    before = snapshot(*watch)
    done = vadtool(*args, env=env, cwd=cwd, timeout=timeout)
    done.error = check_refusal(done, names, code)
    after = snapshot(*watch)
    assert after == before, f"{' '.join(map(str, args))}: file system changed: {describe_change(before, after)}"
    return done
