"""SIGTERM (a plain `kill`) and SIGHUP stop a command as Ctrl-C does: exit 130, one line,
children gone, no staging folder left."""

from __future__ import annotations

import os
import shutil
import signal
import time

import psutil
import pytest

from .harness import assert_error, snapshot, start, vadtool


def test_sigterm_while_train_writes_its_staged_run(tiny_data, tmp_path, weights):
    out = tmp_path / "runs" / "r"
    (tmp_path / "runs").mkdir()
    proc = vadtool("train", "classifier", tiny_data, "--out", out, "--size", "32", "--alpha", "0.25",
                   "--arch", "mobilenet_v1", fault=("open", "*/.r.*.tmp/*model.keras*", "SIGTERM"))
    assert_error(proc, 130, "interrupted (SIGTERM)")
    assert snapshot(tmp_path / "runs") == {}  # no run, no hidden .r.*.tmp, no lock


@pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                    reason="qemu-system-arm or arm-none-eabi-gcc not installed")
def test_sigterm_stops_bench_emulate_and_its_qemu(quantized_run, tmp_path):
    from device.conftest import make_project
    project = tmp_path / "fw"
    make_project(project, "qemu-an386")
    # SIGTERM once bench's first connection to QEMU's serial port opens: QEMU is running
    proc = vadtool("bench", quantized_run, "--project", project, "--emulate",
                   fault=("socket.connect", "127.0.0.1:*", "SIGTERM"))
    assert_error(proc, 130, "interrupted (SIGTERM)")
    left = [p for p in psutil.process_iter(["cmdline"])
            if str(project.resolve()) in " ".join(p.info["cmdline"] or [])]
    assert not left, f"QEMU left running: {[p.pid for p in left]}"


def test_sigterm_during_build_stops_make_and_its_compilers(quantized_run, tmp_path):
    project = tmp_path / "fw"
    rendered = vadtool("render", quantized_run, "--board", "host", "--out", project)
    assert rendered.returncode == 0, rendered.stderr
    build = start("build", project)
    make = None
    while make is None and build.poll() is None:  # until make runs (the model's C takes seconds)
        make = next((c for c in psutil.Process(build.pid).children() if c.name() == "make"), None)
        time.sleep(0.01)
    assert make is not None, f"build ended before make was seen: {build.stderr.read()}"
    os.kill(build.pid, signal.SIGTERM)
    build.wait(timeout=60)
    assert_error(build, 130, "interrupted (SIGTERM)")
    left = [p for p in [make, *_in_session(make.pid)] if _alive(p)]
    assert not left, f"make or its compilers left running: {left}"


def _in_session(sid: int) -> list[psutil.Process]:
    """run_child starts make as a session leader: its compilers share its session id."""
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid:
                out.append(p)
        except OSError:
            pass
    return out


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
