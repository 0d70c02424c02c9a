"""bench-device's peers: a raw .tflite built with TensorFlow Lite Micro (CMSIS-NN and reference
kernels, from the pinned snapshot or $TFLM_DIR) runs in QEMU and answers bit-exactly like the
host's TFLM interpreter; the benchmark's row carries its counts, per-type split and arena."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import tflm_outputs

from vadtool.native import build_plan

ROOT = Path(__file__).resolve().parents[2]
QEMU = shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-g++")


def _device_bench():
    spec = importlib.util.spec_from_file_location("device_bench", ROOT / "bench" / "device_bench.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["device_bench"] = mod  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.skipif(not QEMU, reason="qemu-system-arm or arm-none-eabi-g++ not installed")
@pytest.mark.parametrize("kernels", ["cmsis_nn", "reference"])
def test_tflm_peer_in_qemu_bit_exact_with_the_host_interpreter(kernels, build_model, tflm_dir, tmp_path):
    bench = _device_bench()
    model = build_model("convpaths3", 19)  # CONV_2D only: the TFLM objects test_tflm_on_device builds too
    rng = np.random.default_rng(4)
    x = rng.integers(-128, 128, (3, 19, 19, 3), dtype=np.int8)
    x[1], x[2] = -128, 127  # the extremes saturate every requantization
    want = tflm_outputs(model, x).reshape(len(x), -1)
    row = bench.PEERS[f"tflm-{kernels}"](model, "an386", x, want, tmp_path, tflm_dir)
    got = np.frombuffer((tmp_path / "outputs.bin").read_bytes(), np.int8).reshape(want.shape)
    assert (got == want).all(), f"{int((got != want).sum())} elements differ from the host's TFLM"
    assert row.exact is True and row.runtime == f"tflm {kernels}"
    plan = build_plan(model, streaming="off")
    # every operator was timed (TFLM's profiler), and its MACs counted in a type column
    assert row.macs == plan.info.macs and set(row.per_type) == {"CONV_2D 1x1", "CONV_2D 3x3"}
    timed = sum(row.per_type[t] * m for t, m in _macs_by_type(bench, plan).items())
    assert 0.9 * row.instructions < timed <= row.instructions
    io_bytes = x[0].size + want.shape[1]
    assert io_bytes < row.arena < 64 * 1024 and row.flash > row.weights == model.stat().st_size


def _macs_by_type(bench, plan) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in plan.steps:
        out[bench.nops.op_type(s)] = out.get(bench.nops.op_type(s), 0) + s.macs
    return out
