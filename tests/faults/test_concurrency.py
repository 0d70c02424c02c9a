"""Two commands writing one run: the second says busy, names the first, changes nothing; a
lock whose holder died is taken over."""

from __future__ import annotations

import os
import signal
import subprocess
import time

from vadtool.locking import lock_path

from .harness import assert_error, snapshot, start, vadtool


def wait_for_lock(proc: subprocess.Popen, lock) -> None:
    """Until proc holds the lock (its pid in the lock file) or has exited."""
    while proc.poll() is None:
        try:
            if lock.read_text().split()[:1] == [str(proc.pid)]:
                return
        except (FileNotFoundError, IndexError):
            pass
        time.sleep(0.01)  # polls a condition; the order comes from SIGSTOP, not from the sleep
    raise AssertionError(f"quantize exited ({proc.returncode}) before taking the lock: {proc.stderr.read()}")


def test_second_quantize_is_busy_and_sighup_stops_the_first(run_copy, trained_run):
    run = run_copy(trained_run)
    before = snapshot(run.parent)
    first = start("quantize", run)
    try:
        wait_for_lock(first, lock_path(run))
        os.kill(first.pid, signal.SIGSTOP)  # holds the lock for as long as the test needs
        second = vadtool("quantize", run)
        assert_error(second, 2, "busy", f"quantize, pid {first.pid}", str(run))
        os.kill(first.pid, signal.SIGHUP)  # a closed terminal: stops it like Ctrl-C
        os.kill(first.pid, signal.SIGCONT)
        first.wait(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert_error(first, 130, "interrupted (SIGHUP)")
    assert snapshot(run.parent) == before  # nothing written, no staging file, no lock left


def test_lock_of_a_dead_command_is_taken_over(quantized_run, tmp_path):
    dead = subprocess.Popen(["true"])
    dead.wait()
    out = tmp_path / "fw"
    lock = lock_path(out)
    lock.write_text(f"{dead.pid} render\n")  # what a killed render leaves
    proc = vadtool("render", quantized_run, "--board", "no-such-board", "--out", out)
    assert_error(proc, 2, "no-such-board")  # got past the lock to the next check
    assert not lock.exists() and not out.exists()
