"""The TFLite Micro project against real TFLite Micro: `vadtool render --runtime tflm`, then
`vadtool build` against the pinned TFLM snapshot (only the sources the model's operators
need, cached outside the clone), for Cortex-M4 with CMSIS-NN and with the reference kernels;
the firmware runs in QEMU (mps2-an386) and `vadtool bench` checks every answer against the
host's TFLM interpreter and integer head bit for bit. The generated op resolver and arena are
what the real interpreter is set up with: a missing operator or a short arena fails on the
device, not only in the host's checks."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from .conftest import HAVE_ARM, needs_qemu
from .test_cli_firmware import VADTOOL, Emulated, vadtool


def _build(project, kernels, tflm_dir):
    """`vadtool build` with TFLM_DIR set, as a user runs it."""
    done = subprocess.run(VADTOOL + ["build", str(project), "--kernels", kernels], capture_output=True,
                          text=True, timeout=1200, env={**os.environ, "TFLM_DIR": str(tflm_dir)})
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def tflm_project(tiny_runs, tmp_path_factory):
    run = tiny_runs[64]
    project = tmp_path_factory.mktemp("tflm") / "fw"
    vadtool("render", run, "--runtime", "tflm", "--board", "qemu-an386", "--out", project)
    return run, project


@needs_qemu
def test_tflm_project_builds_and_benches_bit_exact_with_both_kernel_sets(tflm_project, tflm_dir):
    run, project = tflm_project
    summary = json.loads((project / "vadtool_tflm.json").read_text())
    counts = {}
    for kernels in ("cmsis_nn", "reference"):
        built = _build(project, kernels, tflm_dir)
        assert f"TFLite Micro, {kernels} kernels" in built.stdout
        sizes = json.loads((project / "build" / "size.json").read_text())
        assert sizes["tflm_kernels"] == kernels and sizes["board"] == "qemu-an386"
        # the arena is in the RAM the build measured; the model array in its flash
        assert sizes["ram_bytes"] > summary["arena"]["bytes"]
        assert sizes["flash_bytes"] > summary["model_bytes"]
        library = json.loads((project / "build" / "tflm_library.json").read_text())
        assert library["kernels"] == kernels and not library["cache"].startswith(str(project))
        if kernels == "cmsis_nn":  # through `vadtool emulate` and the serial port it prints
            emulator = Emulated(project)
            try:
                assert "qemu-an386" in vadtool("flash", project, "--port", emulator.url).stdout  # hash check
                result = vadtool("bench", run, "--port", emulator.url, "--project", project,
                                 "--limit", 2, "--json")
            finally:
                assert emulator.stop() == 0
        else:
            result = vadtool("bench", run, "--project", project, "--emulate", "--limit", 2, "--json")
        bench = json.loads(result.stdout)
        assert bench["board"] == "qemu-an386" and bench["n_images"] == 2
        assert bench["mismatches"] == 0, bench["mismatch_counts"]
        assert bench["head_on_device"] is True
        assert bench["arena_bytes"] == summary["arena"]["bytes"]  # HELLO: the generated arena
        assert bench["flash_bytes"] == sizes["flash_bytes"] and bench["ram_bytes"] == sizes["ram_bytes"]
        counts[kernels] = bench["instructions_per_inference"]
    # CMSIS-NN's kernels really replaced the reference ones (several times fewer instructions)
    assert counts["cmsis_nn"] * 2 < counts["reference"], counts


@needs_qemu
def test_resolver_and_arena_are_what_the_real_interpreter_gets(tflm_project, tflm_dir, tmp_path):
    """A resolver missing one of the model's operators, or an arena 1 KB short of half the
    stated size, fails on the device with the adapter's -4 (AllocateTensors): the bit-exact
    bench above then shows the generated resolver and arena are what the interpreter runs on."""
    import shutil

    import numpy as np

    from vadtool.device.client import DeviceClient, DeviceRefused
    from vadtool.device.emulator import start_emulator
    from vadtool.tflm_build import build_tflm_project
    _, project = tflm_project
    settings = (project / "src" / "vad_model_settings.h").read_text()
    arena = int(re.search(r"#define VAD_ARENA_BYTES (\d+)", settings).group(1))
    for what, edit in (("resolver", lambda p: _drop_first_op(p / "src" / "vad_op_resolver.h")),
                       ("arena", lambda p: _set_arena(p / "src" / "vad_model_settings.h", arena // 2 - 1024))):
        broken = tmp_path / what
        shutil.copytree(project, broken, ignore=shutil.ignore_patterns("build"))
        edit(broken)
        result, _ = build_tflm_project(broken, tflm_dir=tflm_dir, kernels="cmsis_nn")
        with start_emulator(result.elf, "qemu-an386") as emu, DeviceClient.open(emu.url) as dev:
            info = dev.hello()
            with pytest.raises(DeviceRefused, match="MODEL_FAILED") as refused:
                dev.run(np.zeros(info.input_bytes, np.int8))
            assert refused.value.detail == -4 & 0xFFFFFFFF, what  # vad_model_invoke's code


def _drop_first_op(path):
    text = path.read_text()
    first = re.search(r"  if \(resolver\.Add\w+\(\) != kTfLiteOk\) \{ return kTfLiteError; \}\n", text)
    path.write_text(text.replace(first.group(0), "", 1))


def _set_arena(path, nbytes):
    text = path.read_text()
    path.write_text(re.sub(r"#define VAD_ARENA_BYTES \d+", f"#define VAD_ARENA_BYTES {nbytes}", text))


@pytest.mark.skipif(not HAVE_ARM, reason="arm-none-eabi-gcc not installed")
def test_a_tflm_project_too_big_for_its_board_fails_the_build_in_kilobytes(tiny_runs, tflm_dir, tmp_path):
    """The 96 px model's TFLM arena (about 165 KB) is more than the STM32F405's 128 KB of SRAM:
    the same fit check as the native build, one line in kilobytes, exit 2."""
    project = tmp_path / "f405"
    vadtool("render", tiny_runs[96], "--runtime", "tflm", "--board", "stm32f405", "--out", project)
    done = subprocess.run(VADTOOL + ["build", str(project)], capture_output=True, text=True, timeout=1200,
                          env={**os.environ, "TFLM_DIR": str(tflm_dir)})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert re.fullmatch(r"error: needs \d+ KB of RAM, stm32f405 has 128 KB\n", done.stderr), done.stderr
    assert not (project / "build" / "size.json").exists()
