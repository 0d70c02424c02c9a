"""A non-square run (3:1 bars, 48x144 input) through the real commands: render and build for
qemu-an386, HELLO reports the shape, bench --emulate with every output equal to TFLM's, and
the device runner refuses images of the transposed shape (same byte count)."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from vadtool.device.emulator import start_emulator
from vadtool.device.runner import DeviceRunner
from vadtool.errors import DeviceError
from vadtool.rundir import Run

from .conftest import needs_qemu

VADTOOL = [sys.executable, "-m", "vadtool.cli", "-q"]


def vadtool(*args):
    done = subprocess.run(VADTOOL + [str(a) for a in args], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return done


@needs_qemu
def test_non_square_run_on_emulated_board(tmp_path, bar_run):
    project = tmp_path / "fw"
    vadtool("render", bar_run, "--board", "qemu-an386", "--out", project)
    header = (project / "vad_model.h").read_text()
    assert "#define VAD_INPUT_H 48" in header and "#define VAD_INPUT_W 144" in header
    vadtool("build", project)
    bench = json.loads(vadtool("bench", bar_run, "--project", project, "--emulate", "--limit", 4,
                               "--json").stdout)
    assert bench["mismatches"] == 0 and bench["n_images"] == 4 and bench["board"] == "qemu-an386"
    assert bench["pixel_auroc"] is not None and bench["instructions_per_inference"] > 1_000_000
    with start_emulator(project / "build" / "firmware.elf", "qemu-an386") as emu:
        from vadtool.models.int_head import IntHead
        run = Run.open(bar_run)
        runner = DeviceRunner(run.file("model_int8.tflite"), emu.url, head=IntHead.load(run.file("head_int.npz")))
        try:
            assert runner.info.input_shape == (48, 144, 3)
            with pytest.raises(DeviceError, match=r"images are 144x48x3 \(HxWxC\) but the device .* takes 48x144x3"):
                runner.run_int8(np.zeros((1, 144, 48, 3), np.int8))
        finally:
            runner.close()
