"""A full disk during train, quantize and render: one line naming the file, exit 2, nothing
half-written. On a real small tmpfs when the tests run as root, else an injected ENOSPC at
the first write of the artifact."""

from __future__ import annotations

import os
import shutil
import subprocess
from contextlib import contextmanager
from pathlib import Path

import pytest

from .harness import assert_error, snapshot, vadtool

ROOT = os.geteuid() == 0 and shutil.which("mount") is not None


@contextmanager
def small_disk(where: Path, size_kb: int):
    """A tmpfs of size_kb at where (root), else just the folder (the ENOSPC is injected)."""
    where.mkdir(parents=True)
    mounted = ROOT and subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
                                      capture_output=True).returncode == 0
    try:
        yield mounted
    finally:
        if mounted:
            subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave_kb: int) -> None:
    """Fill disk until about leave_kb are free."""
    free = shutil.disk_usage(disk).free
    (disk / "filler").write_bytes(bytes(max(0, free - leave_kb * 1024)))


def test_train_onto_a_full_disk(tiny_data, tmp_path, weights):
    with small_disk(tmp_path / "disk", 2048) as real:
        disk = tmp_path / "disk"
        if real:
            fill(disk, 300)  # model.keras is about 1.2 MB
        before = snapshot(disk)
        proc = vadtool("train", "classifier", tiny_data, "--out", disk / "r", "--size", "32", "--alpha", "0.25",
                       "--arch", "mobilenet_v1", fault=None if real else ("open", "*model.keras*", "ENOSPC"))
        assert_error(proc, 2, "no space left on the device", str(disk / "r"))
        assert snapshot(disk) == before  # no run, no staged folder, no lock


def test_quantize_on_a_full_disk(trained_run, tmp_path):
    with small_disk(tmp_path / "disk", 4096) as real:
        run = tmp_path / "disk" / "run"
        shutil.copytree(trained_run, run)
        if real:
            fill(run.parent, 100)  # model_int8.tflite is about 300 KB
        before = snapshot(run.parent)
        proc = vadtool("quantize", run, fault=None if real else ("open", "*model_int8*", "ENOSPC"))
        assert_error(proc, 2, "no space left on the device", "model_int8.tflite")
        assert snapshot(run.parent) == before  # the run as it was: no truncated staging file


def test_render_onto_a_full_disk(quantized_run, tmp_path):
    with small_disk(tmp_path / "disk", 1024) as real:
        disk = tmp_path / "disk"
        if real:
            fill(disk, 64)  # the model's weights as C alone are about 1 MB of text
        before = snapshot(disk)
        proc = vadtool("render", quantized_run, "--board", "host", "--out", disk / "fw",
                       fault=None if real else ("open", "*vad_model.c*", "ENOSPC"))
        assert_error(proc, 2, "no space left on the device", str(disk / "fw"))
        assert snapshot(disk) == before
