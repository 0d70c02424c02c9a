"""Progress as a user sees it: a small program using Reporter runs under a pseudo-terminal
(bars with counts and time left, redrawn in place), through a pipe (plain "what: done/total"
lines, as in CI logs) and quiet (nothing). stdout stays clean in every mode."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

from vadtool.progress import Reporter

STEPS, STEP_S = 10, 0.3

PROGRAM = """
import sys, time
from vadtool.progress import Reporter
mode = sys.argv[1]
r = Reporter(None if mode == "auto" else mode)
steps, step_s = int(sys.argv[2]), float(sys.argv[3])
for i in range(1, steps + 1):
    time.sleep(step_s)  # the work for item i, then its report, as the stages do
    r("load images", i, steps)
print("RESULT", flush=True)
"""


def _program(tmp_path: Path, body: str = PROGRAM) -> Path:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(body))
    return path


def run_in_pty(args: list[str], cols: int = 100, timeout: float = 60, returncode: int = 0) -> str:
    """Run a command with stdin, stdout and stderr on a pseudo-terminal; its output."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, cols, 0, 0))
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
        proc.wait(timeout=10)
    assert proc.returncode == returncode, b"".join(chunks).decode(errors="replace")
    return b"".join(chunks).decode()


def run_in_pipe(args: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_bar_on_a_terminal(tmp_path):
    out = run_in_pty([sys.executable, str(_program(tmp_path)), "auto", str(STEPS), str(STEP_S)])
    assert "\r" in out  # redrawn in place
    frames = re.findall(r"load images:\s+(\d+)%\|[^|]*\|\s*(\d+)/(\d+) \[(\d\d):(\d\d)<(\d\d):(\d\d)", out)
    counts = {int(done) for _, done, total, *_ in frames if int(total) == STEPS}
    # the first report has no rate yet, so its time left is "?"; every later count has one
    assert re.search(rf"load images:\s+\d+%\|[^|]*\|\s*1/{STEPS} \[00:00<\?", out), out
    assert counts >= set(range(2, STEPS + 1)), out
    assert any(int(p) == 100 for p, *_ in frames)
    # time left: seconds after "<"; early on, with most of the work ahead, it is at least 1 s
    left = {int(done): 60 * int(m) + int(s) for _, done, _, _, _, m, s in frames}
    assert max(left[d] for d in (2, 3, 4)) >= 1, out
    assert left[STEPS] == 0
    assert not re.search(r"load images: \d+/\d+", out)  # no log lines on a terminal
    assert re.search(r"(^|\n)RESULT\r?\n", out), out  # stdout on its own line after the bar


def test_lines_through_a_pipe(tmp_path):
    proc = run_in_pipe([sys.executable, str(_program(tmp_path)), "auto", "4", "0.1"])
    assert proc.stdout == "RESULT\n"  # progress never goes to stdout
    lines = proc.stderr.splitlines()
    assert "\r" not in proc.stderr and "%|" not in proc.stderr  # no bar in logs
    for line in lines[1:]:
        assert re.fullmatch(r"load images: \d+/4, (\d+ s left|\d+\.\d s)", line), line
    assert lines[0] == "load images: 1/4"  # the first report: no rate measured yet, no estimate
    assert re.fullmatch(r"load images: 4/4, \d+\.\d s", lines[-1])  # always the last


class FakeClock:
    """A clock the test moves: which lines appear depends on the order of events, not on how
    busy the machine is."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _lines(reports, line_every_s=5.0):
    """Lines-mode output for [(seconds since the previous report, what, done, total)]."""
    import io
    clock, stream = FakeClock(), io.StringIO()
    r = Reporter("lines", stream=stream, clock=clock)
    r.LINE_EVERY_S = line_every_s
    for wait, what, done, total in reports:
        clock.now += wait
        r(what, done, total)
    return stream.getvalue().splitlines()


def test_lines_first_and_last_with_the_elapsed_time():
    # 4 items of 1 s: the first report and the end; the rate is measured from the first
    # report (3 items in 3 s) and the end counts the item before it too: 4.0 s
    lines = _lines([(1.0, "load images", i, 4) for i in range(1, 5)])
    assert lines == ["load images: 1/4", "load images: 4/4, 4.0 s"]


def test_lines_are_throttled_not_lost():
    """A slow stage still logs a line every LINE_EVERY_S seconds, never more often."""
    lines = _lines([(1.0, "load images", i, 8) for i in range(1, 9)], line_every_s=2.5)
    # reports at 1..8 s: the first (1 s), then 2.5 s or more after the last line (4 s, 7 s), the end
    assert [line.split(",")[0] for line in lines] == [f"load images: {i}/8" for i in (1, 4, 7, 8)]
    assert lines[1] == "load images: 4/8, 4 s left"  # 3 items in 3 s since the first, 4 to go


@pytest.mark.parametrize("where", ["terminal", "pipe"])
def test_quiet_says_nothing(tmp_path, where):
    args = [sys.executable, str(_program(tmp_path)), "quiet", "3", "0.01"]
    if where == "terminal":
        assert run_in_pty(args).replace("\r\n", "\n") == "RESULT\n"
    else:
        proc = run_in_pipe(args)
        assert proc.stderr == "" and proc.stdout == "RESULT\n"


def test_terminal_defaults_to_bar_pipe_to_lines(tmp_path):
    probe = _program(tmp_path, "from vadtool.progress import Reporter\nprint(Reporter().mode)\n")
    assert run_in_pty([sys.executable, str(probe)]).strip() == "bar"
    assert run_in_pipe([sys.executable, str(probe)]).stdout.strip() == "lines"


def test_no_estimate_before_anything_is_done(tmp_path):
    """A report of 0 done (evaluate starts with one) makes no estimate from nothing."""
    body = """
    from vadtool.progress import Reporter
    r = Reporter("lines")
    r("evaluate (float)", 0, 36)
    """
    first = run_in_pipe([sys.executable, str(_program(tmp_path, body))]).stderr.splitlines()[0]
    assert first == "evaluate (float): 0/36", first


# ---------------------------------------------------------------- clocks and errors

def test_first_estimate_counts_the_work_before_the_first_report(tmp_path):
    proc = run_in_pipe([sys.executable, str(_program(tmp_path)), "auto", "4", "0.4"])
    first = proc.stderr.splitlines()[0]
    # after 1 of 4 items of 0.4 s, about 1.2 s are left; claiming 0 s is wrong
    assert not first.endswith(", 0 s left"), first


def test_a_repeated_stage_starts_a_new_clock():
    stage = [(5.0, "evaluate (float)", 0, 3)] + [(1.0, "evaluate (float)", i, 3) for i in range(1, 4)]
    lines = _lines(stage + stage)  # 5 s idle before each stage: not counted in it
    finals = [line for line in lines if "3/3" in line]
    assert finals == ["evaluate (float): 3/3, 3.0 s"] * 2, lines


def test_an_error_after_an_unfinished_bar_gets_its_own_line(tmp_path):
    body = """
    import click
    from vadtool.cli import VadGroup, reporter
    from vadtool.errors import VadError

    @click.group(cls=VadGroup)
    @click.pass_context
    def group(ctx):
        ctx.ensure_object(dict)

    @group.command()
    @click.pass_context
    def work(ctx):
        reporter(ctx)("load images", 2, 5)  # a bar left unfinished by the error
        raise VadError("boom")

    group(["work"])
    """
    out = run_in_pty([sys.executable, str(_program(tmp_path, body))], returncode=2)
    assert re.search(r"(^|\n)error: boom", out), repr(out)
    assert "load images" not in out.split("error: boom")[1], repr(out)


def test_a_long_step_in_a_log_says_it_is_still_working():
    """One step that takes minutes (the int8 conversion reports 0/1, then 1/1) still puts a
    line in a CI log every LINE_EVERY_S: the heartbeat, not the caller, writes it."""
    import io
    import threading

    from vadtool.progress import Reporter

    class Log(io.StringIO):
        def __init__(self):
            super().__init__()
            self.beats = threading.Semaphore(0)

        def write(self, text):
            if "so far" in text:
                self.beats.release()
            return super().write(text)

    log = Log()
    r = Reporter("lines", stream=log)
    r.LINE_EVERY_S = 0.05
    r("convert to int8", 0, 1)
    for _ in range(2):  # the step is "running" until the heartbeat has spoken twice
        assert log.beats.acquire(timeout=60), log.getvalue()
    r("convert to int8", 1, 1)
    lines = log.getvalue().splitlines()
    assert lines[0] == "convert to int8: 0/1"
    assert all(re.fullmatch(r"convert to int8: 0/1, \d+ s so far", line) for line in lines[1:-1]), lines
    assert len(lines) >= 4 and lines[-1].startswith("convert to int8: 1/1, ")
