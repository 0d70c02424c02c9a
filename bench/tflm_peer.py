"""The peer of bench/native_ops.py: a raw .tflite on TensorFlow Lite Micro, in QEMU.

    build(model, work, kernels="cmsis_nn", machine="an386", tflm_dir=None) -> ELF
    run(elf, x, machine) -> TflmRun (outputs, ticks per run, ticks per operator, arena used)

The model goes into the firmware as an aligned C array, with an op resolver holding exactly
its operators (firmware_templates/tflm/vad_op_resolver.h.j2, as `vadtool render --runtime tflm`
writes it) and the semihosting harness firmware_templates/runtime/qemu_bench/tflm_bench_main.cc
(TFLM's profiler interface times each operator). TFLM itself is what `vadtool build` links
for a TFLM project: only the sources the model's operators need, compiled once into
~/.cache/vadtool/tflm (vadtool.tflm_build), with CMSIS-NN or the reference kernels.
bench/device_bench.py puts the rows beside the native runtime's.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import jinja2
import numpy as np

import native_ops as nops  # bench/ is on sys.path (device_bench.py, the tests)
from vadtool.boards import FIRMWARE_TEMPLATES, Board, get_board
from vadtool.export import c_array_sources
from vadtool.tflm_build import build_library, tflm_root
from vadtool.tflm_project import MODEL_SYMBOL, model_operators, resolver_entries

QEMU_BENCH = FIRMWARE_TEMPLATES / "runtime" / "qemu_bench"
HARNESS = "tflm_bench_main.cc"
# what the harness must compile with to match the library's structures (TFLM's Makefile
# defines it for every file; vadtool's TFLM project Makefile does the same)
DEFINES = ("-DTF_LITE_STATIC_MEMORY",)
CXXFLAGS = ("-std=c++17", "-O2", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics",
            "-ffunction-sections", "-fdata-sections", "-Wall", "-Wextra", "-Wno-unused-parameter")


def board_for(machine: str) -> Board:
    """The board profile whose flags TFLM is compiled with for this QEMU machine: vadtool's
    own (qemu-an386, qemu-an500: the same cache as `vadtool build`), and for mps2-an505,
    which vadtool has no firmware board for, the Cortex-M33 flags of bench/native_ops.py."""
    if machine != "an505":
        return get_board(f"qemu-{machine}")
    mcpu = [f for f in nops.MACHINES[machine].cpu_flags if f.startswith("-mcpu=")]
    # in the order of vadtool's boards (-mfpu, then -mfloat-abi): the cache is keyed by the flags
    fpu = tuple(sorted((f for f in nops.MACHINES[machine].cpu_flags if not f.startswith("-mcpu=")),
                       reverse=True))
    return dataclasses.replace(get_board("qemu-an386"), name="mps2-an505 (bench)",
                               description="Cortex-M33 with DSP, QEMU mps2-an505 (benchmark only)",
                               cpu_flags=(*mcpu, "-mthumb"), fpu_flags=fpu, clock_hz=nops.MACHINES[machine].clock_hz,
                               qemu_machine="mps2-an505")


def _op_resolver_header(ops: list[dict], banner: str) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(FIRMWARE_TEMPLATES / "tflm")),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template("vad_op_resolver.h.j2").render(ops=ops, banner=banner)


def build(model: Path, work: Path, kernels: str = "cmsis_nn", machine: str = "an386",
          tflm_dir: str | Path | None = None, arena_bytes: int = 1024 * 1024) -> Path:
    """The harness ELF for this model, TFLM kernel set and machine, built in work/."""
    root = tflm_root(tflm_dir)
    board = board_for(machine)
    ops = resolver_entries(model_operators(model))
    lib, _ = build_library(root, [e["name"] for e in ops], kernels, board)
    work.mkdir(parents=True, exist_ok=True)
    banner = f"TFLM benchmark of {model.name} ({kernels}) for {machine}"
    header, source = c_array_sources(model.read_bytes(), MODEL_SYMBOL, "vad_model_data.h", banner)
    (work / "vad_model_data.h").write_text(header)
    (work / "vad_model_data.c").write_text(source)
    (work / "vad_op_resolver.h").write_text(_op_resolver_header(ops, banner))
    m = nops.MACHINES[machine]
    for name in ("startup_m4.c", HARNESS, m.ld):
        shutil.copy(QEMU_BENCH / name, work / name)
    cc = "arm-none-eabi-gcc"
    cxx = "arm-none-eabi-g++"
    dl = root / "tensorflow/lite/micro/tools/make/downloads"
    includes = [f"-I{p}" for p in (work, root, dl / "flatbuffers" / "include", dl / "gemmlowp", dl / "ruy")]
    arch = [*board.cflags]
    objs = []
    for src in ("startup_m4.c", "vad_model_data.c"):
        obj = work / (src + ".o")
        subprocess.run([cc, *arch, "-std=c99", "-O2", "-Wall", "-Wextra", "-ffunction-sections",
                        "-fdata-sections", "-c", str(work / src), "-o", str(obj)], check=True)
        objs.append(obj)
    obj = work / (HARNESS + ".o")
    subprocess.run([cxx, *arch, *CXXFLAGS, *DEFINES, f"-DVAD_BENCH_ARENA_BYTES={arena_bytes}", *includes,
                    "-c", str(work / HARNESS), "-o", str(obj)], check=True)
    objs.append(obj)
    elf = work / "tflm_bench.elf"
    subprocess.run([cxx, *arch, *map(str, objs), str(lib), "-T", str(work / m.ld), "--specs=rdimon.specs",
                    "-nostartfiles", "-Wl,--gc-sections", "-o", str(elf), "-lm"], check=True)
    return elf


class TflmRun(NamedTuple):
    outputs: np.ndarray           # (N, output bytes) int8
    runs: list[int]               # SysTick ticks of each Invoke()
    ops: dict[int, tuple[str, int]]  # operator index -> (TFLM's name, ticks of the last run)
    arena_used: int               # MicroInterpreter::arena_used_bytes()


def run(elf: Path, x: np.ndarray, machine: str = "an386", timeout: float = 1200) -> TflmRun:
    text = nops.run_qemu(elf, x, timeout, machine)
    y, runs, ops = nops.parse_run(text, elf.parent, len(x))
    arena = [int(line.split()[1]) for line in text.splitlines() if line.startswith("ARENA ")]
    if len(runs) != len(x) or len(arena) != 1:
        raise RuntimeError(f"TFLM harness: {len(runs)} runs of {len(x)}, arena lines {arena}: {text[-2000:]}")
    return TflmRun(y, runs, ops, arena[0])
