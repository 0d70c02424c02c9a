"""Native runtime on the emulated Cortex-M boards, one table: `make bench-device`.

    .venv/bin/python bench/device_bench.py MODEL.tflite [MODEL ...] [--machines an386,an500,an505]
        [--wide] [--streaming auto|off|all] [--n 2] [--markdown FILE]

For every model and QEMU machine (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps2-an505
Cortex-M33 with DSP; -icount shift=0, so SysTick counts instructions) it builds the model with
the native runtime (bench/native_ops.py's harness), runs N inputs, checks the outputs against
TensorFlow Lite Micro bit for bit, and prints instructions, instructions per MAC per operator
type, arena, flash and bit-exactness. --wide adds rows with the CONV_2D filters as int16.

Peers: PEERS is the slot for other runtimes measured the same way (TFLM with and without
CMSIS-NN built from ../shared/tflm). Each entry is a function (model, machine, x) -> Row or
None; none is wired in here yet, and the table says so.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _native_ops():
    spec = importlib.util.spec_from_file_location("native_ops", HERE / "native_ops.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


nops = _native_ops()

# operator types shown as columns (instructions per MAC); the rest count in the total only
TYPE_COLUMNS = ("CONV_2D 1x1", "CONV_2D 3x3", "DEPTHWISE 3x3 s1", "DEPTHWISE 3x3 s2",
                "CONV_2D+DEPTHWISE streamed")


@dataclass
class Row:
    machine: str
    model: str
    runtime: str
    instructions: float
    macs: int
    per_type: dict[str, float] = field(default_factory=dict)  # type -> instructions per MAC
    arena: int = 0
    flash: int = 0  # text + data of the image (harness and C library included)
    weights: int = 0
    exact: bool | None = None


# Other runtimes, each a function (model path, machine name, inputs) -> Row or None. The TFLM
# peer (with and without CMSIS-NN, from ../shared/tflm) is wired in here.
PEERS: list[Callable[[Path, str, np.ndarray], Row | None]] = []


def _flash(elf: Path) -> int:
    out = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                         check=True).stdout.splitlines()[1].split()
    return int(out[0]) + int(out[1])


def native_row(model: Path, machine: str, x: np.ndarray, want: np.ndarray, wide: bool,
               work: Path, streaming: str = "auto") -> Row:
    plan = nops.build_plan(model, wide_weights=wide, streaming=streaming)
    elf = nops.build(model, work, wide=wide, machine=machine, streaming=streaming)
    y, runs, ops = nops.run(elf, x, machine=machine)
    per_tick = nops.MACHINES[machine].instr_per_tick
    by_type: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for s in plan.steps:
        if s.op.index in ops:
            by_type[nops.op_type(s)][0] += ops[s.op.index][1] * per_tick
        by_type[nops.op_type(s)][1] += s.macs  # a streamed convolution's MACs count in its pair
    by_type = {k: v for k, v in by_type.items() if v[1]}
    return Row(machine, model.name, "native" + (" int16 filters" if wide else ""),
               runs[-1] * per_tick, plan.info.macs,
               {k: v[0] / v[1] for k, v in by_type.items()}, plan.info.arena_bytes, _flash(elf),
               plan.info.weights_bytes, bool((y == want).all()))


def markdown(rows: list[Row]) -> str:
    head = ["machine", "model", "runtime", "M instr", "instr/MAC", *TYPE_COLUMNS, "arena B",
            "weights B", "image flash B", "bit-exact"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [r.machine, r.model, r.runtime, f"{r.instructions / 1e6:.2f}",
                 f"{r.instructions / r.macs:.2f}",
                 *(f"{r.per_type[t]:.2f}" if t in r.per_type else "" for t in TYPE_COLUMNS),
                 str(r.arena), str(r.weights), str(r.flash),
                 {True: "yes", False: "NO", None: "n/a"}[r.exact]]
        lines.append("| " + " | ".join(cells) + " |")
    if not PEERS:
        lines.append("")
        lines.append("Peers: none wired in (bench/device_bench.py PEERS is the slot for TFLM "
                     "with and without CMSIS-NN).")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--machines", default="an386,an500,an505")
    ap.add_argument("--wide", action="store_true", help="also the CONV_2D filters as int16")
    ap.add_argument("--streaming", default="auto", choices=["auto", "off", "all"],
                    help="convolutions streamed into depthwise layers (auto: where the arena shrinks)")
    ap.add_argument("--n", type=int, default=2, help="inputs per run (random, the last all -128)")
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    a = ap.parse_args(argv)
    machines = a.machines.split(",")
    for m in machines:
        if m not in nops.MACHINES:
            print(f"error: --machines: unknown machine {m!r}; known: {', '.join(nops.MACHINES)}",
                  file=sys.stderr)
            return 2
    for model in a.models:
        if not model.is_file():
            print(f"error: model {model} not found; pass .tflite files", file=sys.stderr)
            return 2
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="vad_device_bench_") as tmp:
        for model in a.models:
            plan = nops.build_plan(model)
            rng = np.random.default_rng(0)
            x = rng.integers(-128, 128, (a.n,) + tuple(plan.info.input_shape[1:]), dtype=np.int8)
            x[-1] = -128
            want = nops.tflm(model, x)
            for machine in machines:
                for wide in (False, True) if a.wide else (False,):
                    work = Path(tmp) / f"{model.stem}_{machine}_{int(wide)}"
                    work.mkdir()
                    rows.append(native_row(model, machine, x, want, wide, work, a.streaming))
                    print(markdown(rows[-1:]).splitlines()[2], flush=True)
                for peer in PEERS:
                    row = peer(model, machine, x)
                    if row is not None:
                        rows.append(row)
    table = markdown(rows)
    print()
    print(table)
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(table)
    return 0 if all(r.exact is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
