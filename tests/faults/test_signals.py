"""SIGTERM (a plain `kill`) and SIGHUP stop a command as Ctrl-C does: exit 130, one line,
children gone, no staging folder left."""

from __future__ import annotations

import shutil

import psutil
import pytest

from .harness import assert_error, snapshot, vadtool


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
