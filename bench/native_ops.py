"""Instruction counts of the native runtime on Cortex-M4 (QEMU mps2-an386, -icount shift=0).

    .venv/bin/python bench/native_ops.py MODEL.tflite [--n 3] [--no-fast] [--wide] [--check]
        [--streaming auto|off|all] [--patching off|auto|OP:BANDS]

Renders the model, links it with a semihosting harness (firmware_templates/runtime/qemu_bench),
runs it in qemu-system-arm, checks the outputs against TFLite Micro bit for bit (--check) and
prints instructions in total, per operator and per MAC by operator type. SysTick runs at the
25 MHz core clock and QEMU executes one instruction per virtual ns, so 1 tick = 40 instructions.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from dataclasses import replace
from typing import NamedTuple

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "toolchain"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from vadtool.native import build_plan, write_model_sources  # noqa: E402
from vadtool.native.codegen import runtime_dir  # noqa: E402



class Machine(NamedTuple):
    """A QEMU machine the harness runs on: its CPU flags, link map and SysTick clock."""
    qemu: str
    cpu_flags: tuple[str, ...]
    ld: str  # link map in firmware_templates/runtime/qemu_bench
    clock_hz: int  # SysTick counts at the core clock; QEMU runs one instruction per virtual ns

    @property
    def instr_per_tick(self) -> float:
        return 1e9 / self.clock_hz


# The MPS2 images QEMU emulates (the clocks are QEMU's: AN386/AN500 25 MHz, AN505 20 MHz).
# AN505 runs in the Cortex-M33's secure state, from the secure aliases of its SRAMs.
MACHINES = {
    "an386": Machine("mps2-an386", ("-mcpu=cortex-m4", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
                     "mps2_an386.ld", 25_000_000),
    "an500": Machine("mps2-an500", ("-mcpu=cortex-m7", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
                     "mps2_an386.ld", 25_000_000),
    "an505": Machine("mps2-an505", ("-mcpu=cortex-m33", "-mfloat-abi=hard", "-mfpu=fpv5-sp-d16"),
                     "mps2_an505.ld", 20_000_000),
}
INSTR_PER_TICK = MACHINES["an386"].instr_per_tick
CFLAGS = ["-mthumb", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O2", "-ffunction-sections",
          "-fdata-sections"] + os.environ.get("VAD_BENCH_CFLAGS", "").split()


def build(model: Path, out: Path, fast: bool = True, opt: str = "-O2", wide: bool = False,
          machine: str = "an386", streaming: str = "auto", in_place: bool = True,
          patching="off", patch_macs: float | None = None, arena_budget: int | None = None) -> Path:
    m = MACHINES[machine]
    write_model_sources(model, out, version="bench", wide_weights=wide, streaming=streaming,
                        in_place=in_place, patching=patching, patch_macs=patch_macs,
                        arena_budget=arena_budget)
    qb = runtime_dir() / "qemu_bench"
    for f in ("startup_m4.c", "bench_main.c", m.ld):
        shutil.copy(qb / f, out / f)
    flags = [*m.cpu_flags] + [f if f != "-O2" else opt for f in CFLAGS] + ["-DVAD_PROFILE"]
    if not fast:
        flags.append("-DVAD_NO_FAST_PATHS")
    elf = out / "bench.elf"
    cmd = ["arm-none-eabi-gcc", *flags, "-I", str(out), *map(str, sorted(out.glob("*.c"))),
           "-T", str(out / m.ld), "--specs=rdimon.specs", "-nostartfiles",
           "-Wl,--gc-sections", "-o", str(elf), "-lm"]
    subprocess.run(cmd, check=True)
    return elf


def run_qemu(elf: Path, x: np.ndarray, timeout: float = 600, machine: str = "an386") -> str:
    """Run a harness (this one's or bench/tflm_peer.py's) on inputs x in the ELF's folder under
    -icount shift=0; its printed lines (RUN/OP/... then DONE). outputs.bin is left beside it."""
    work = elf.parent
    (work / "inputs.bin").write_bytes(np.ascontiguousarray(x).tobytes())
    proc = subprocess.run(
        ["qemu-system-arm", "-M", MACHINES[machine].qemu, "-nographic", "-semihosting", "-icount",
         "shift=0", "-monitor", "none", "-serial", "none", "-kernel", str(elf)],
        cwd=work, capture_output=True, text=True, timeout=timeout,
    )
    if "DONE" not in proc.stdout:
        raise RuntimeError(f"qemu run failed: {proc.stdout[-2000:]} {proc.stderr[-2000:]}")
    return proc.stdout


def parse_run(text: str, work: Path, n: int) -> tuple[np.ndarray, list[int], dict]:
    """Outputs, SysTick ticks per run, {op index: (name, ticks of the last run)}."""
    runs = [int(m) for m in re.findall(r"RUN \d+ ticks (\d+)", text)]
    ops = {int(i): (name, int(t)) for i, name, t in re.findall(r"OP (\d+) (\S+) (\d+)", text)}
    y = np.frombuffer((work / "outputs.bin").read_bytes(), np.int8)
    return y.reshape(n, -1), runs, ops


def run(elf: Path, x: np.ndarray, timeout: float = 600,
        machine: str = "an386") -> tuple[np.ndarray, list[int], dict]:
    """Outputs, SysTick ticks per run, {op index: (name, ticks of the last run)}."""
    return parse_run(run_qemu(elf, x, timeout, machine), elf.parent, len(x))


def op_type(step) -> str:
    """The row a step is counted in: convolutions by kernel size (and stride for depthwise)."""
    p = dict(step.params)
    if step.stream is not None or step.streamed_into is not None:
        return "CONV_2D+DEPTHWISE streamed"  # one call: its instructions cover both layers
    if step.op.name == "CONV_2D":
        return "CONV_2D 1x1" if p["k_h"] == 1 and p["k_w"] == 1 else f"CONV_2D {p['k_h']}x{p['k_w']}"
    if step.op.name == "DEPTHWISE_CONV_2D":
        return f"DEPTHWISE {p['k_h']}x{p['k_w']} s{p['stride_h']}"
    return step.op.name


def tflm(model: Path, x: np.ndarray) -> np.ndarray:
    from vadtool.runners import TFLMRunner

    return TFLMRunner(model, arena_size=16 * 1024 * 1024).run_int8(x).reshape(len(x), -1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--n", type=int, default=2)
    ap.add_argument("--no-fast", action="store_true")
    ap.add_argument("--wide", action="store_true", help="CONV_2D filters as int16 (twice their flash)")
    ap.add_argument("--streaming", default="auto", choices=["auto", "off", "all"],
                    help="stream convolutions into depthwise layers (auto: where the arena shrinks)")
    ap.add_argument("--patching", default="off",
                    help="auto: the first layers in bands where the arena shrinks; off; or OP:BANDS "
                         "(that split operator in that many bands, whatever it costs)")
    ap.add_argument("--patch-macs", type=float, default=None,
                    help="with --patching auto: the most extra MACs (halo rows) a patch may add, "
                         "as a fraction of the model's")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--opt", default="-O2")
    ap.add_argument("--keep", default=None)
    a = ap.parse_args(argv)
    model = Path(a.model)
    plan = build_plan(model, wide_weights=a.wide, streaming=a.streaming, patching=a.patching,
                      patch_macs=a.patch_macs)
    info = plan.info
    out = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="vad_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    elf = build(model, out, fast=not a.no_fast, opt=a.opt, wide=a.wide, streaming=a.streaming,
                patching=a.patching, patch_macs=a.patch_macs)
    size = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True).stdout
    rng = np.random.default_rng(0)
    x = rng.integers(-128, 128, (a.n,) + tuple(info.input_shape[1:]), dtype=np.int8)
    x[-1] = -128
    y, runs, ops = run(elf, x)
    instr = [r * INSTR_PER_TICK for r in runs]
    print(f"model {model.name}: {info.macs / 1e6:.3f} M MACs, arena {info.arena_bytes} B, "
          f"weights {info.weights_bytes} B, streamed {info.streamed or 'none'}, fast paths {'off' if a.no_fast else 'on'}"
          f"{', wide weights' if a.wide else ''}")
    if info.patch:
        pt = info.patch
        print(f"patched: ops {pt['ops'][0]}-{pt['ops'][-1]} in {pt['bands']} bands of op {pt['split_op']}'s "
              f"rows, {pt['extra_macs']} extra MACs (halo, {100 * pt['extra_macs'] / info.macs:.0f} %), arena {info.arena_bytes} B against "
              f"{pt['arena_unpatched']} B without bands")
    else:
        best = min(info.patch_options, key=lambda o: o[2], default=None)
        print("patched: no" + (f" (best option op {best[0]} in {best[1]} bands: {best[2]} B)" if best else ""))
    print(size.strip())
    print(f"instructions per inference: {', '.join(f'{i / 1e6:.3f} M' for i in instr)} "
          f"({instr[0] / info.macs:.2f} per MAC)")
    by_type = defaultdict(lambda: [0.0, 0])
    print(f"{'op':>3} {'type':<18} {'M instr':>9} {'MACs':>9} {'instr/MAC':>9}  shape")
    seen = set()
    for s in plan.steps:
        i = s.op.index
        if i not in ops or i in seen:  # a patched operator: its bands' instructions, once
            continue
        seen.add(i)
        s = replace(s, macs=info.macs_per_op[i])
        n_instr = ops[i][1] * INSTR_PER_TICK  # counts of the last run
        key = op_type(s)
        p = dict(s.params)
        if s.band is not None:  # a band step's rows: the whole output's height
            p["out_h"] = plan.graph.tensors[s.band_rows[0]].shape[1]
        if s.op.name == "CONV_2D":
            shape = f"{p['in_c']}->{p['out_c']} @{p['out_h']}x{p['out_w']}"
        elif s.op.name == "DEPTHWISE_CONV_2D":
            shape = f"{p['out_c']} @{p['out_h']}x{p['out_w']}"
        else:
            shape = ""
        by_type[key][0] += n_instr
        by_type[key][1] += s.macs
        per = f"{n_instr / s.macs:9.2f}" if s.macs else " " * 9
        if s.band is not None:
            shape += f" in {s.band[1]} bands"
        print(f"{i:>3} {s.op.name:<18} {n_instr / 1e6:9.3f} {s.macs:9d} {per}  {shape}")
    total = sum(v[0] for v in by_type.values())
    print("by type:")
    for k, (n_instr, macs) in sorted(by_type.items(), key=lambda kv: -kv[1][0]):
        per = f"{n_instr / macs:.2f}/MAC" if macs else ""
        print(f"  {k:<22} {n_instr / 1e6:8.3f} M  {100 * n_instr / total:5.1f} %  {per}")
    if a.check:
        want = tflm(model, x)
        bad = int((want != y).sum())
        print(f"bit-exact vs TFLM on {len(x)} inputs: {'yes' if bad == 0 else f'NO ({bad} elements differ)'}")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
