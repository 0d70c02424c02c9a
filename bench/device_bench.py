"""The native runtime and its peers on the emulated Cortex-M boards, one table: `make bench-device`.

    .venv/bin/python bench/device_bench.py MODEL.tflite [MODEL ...] [--machines an386,an500,an505]
        [--board-defaults CALIB_DIR] [--peers tflm-cmsis_nn,tflm-reference|none] [--tflm-dir DIR]
        [--wide] [--streaming auto|off|all] [--n 2] [--markdown FILE]

For every model and QEMU machine (mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps2-an505
Cortex-M33 with DSP; -icount shift=0, so SysTick counts instructions) it builds the model with
the native runtime (bench/native_ops.py's harness) and with each peer, runs the same N inputs,
checks every runtime's outputs against the host's TensorFlow Lite Micro interpreter bit for
bit, and prints instructions, instructions per MAC per operator type, arena, flash and
bit-exactness. --wide adds rows with the native CONV_2D filters as int16. --board-defaults
adds the networks of the boards' default detectors (bench/board_default_net.py: built from the
pretrained weights, VADTOOL_WEIGHTS, calibrated on the images of CALIB_DIR).

Peers (PEERS): TensorFlow Lite Micro with CMSIS-NN and with its reference kernels
(bench/tflm_peer.py), compiled from --tflm-dir, else $TFLM_DIR, else the snapshot
../shared/tflm/tflite-micro-90b983c.tar.xz unpacked into ~/.cache/vadtool/tflm/src (the
objects are cached there too: the first run per CPU compiles for some minutes). TFLM's arena
is what its interpreter reports (arena_used_bytes); its per-type counts come from TFLM's
profiler, one event per operator.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


sys.path.insert(0, str(HERE))
import native_ops as nops  # noqa: E402  (puts toolchain/ on sys.path)
import tflm_peer  # noqa: E402
from board_default_net import board_default_models  # noqa: E402

TFLM_SNAPSHOT = HERE.parents[1] / "shared" / "tflm" / "tflite-micro-90b983c.tar.xz"

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


Peer = Callable[[Path, str, np.ndarray, np.ndarray, Path, Path], Row]


def tflm_peer_row(kernels: str) -> Peer:
    """TFLM with this kernel set as a peer: (model, machine, x, want, work, tflm_dir) -> Row."""
    def row(model: Path, machine: str, x: np.ndarray, want: np.ndarray, work: Path, tflm_dir: Path) -> Row:
        elf = tflm_peer.build(model, work, kernels=kernels, machine=machine, tflm_dir=tflm_dir)
        got = tflm_peer.run(elf, x, machine=machine)
        per_tick = nops.MACHINES[machine].instr_per_tick
        plain = nops.build_plan(model, streaming="off")  # one step per operator, for MACs and types
        by_type: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
        for s in plain.steps:
            if s.op.index in got.ops:  # TFLM's events are the operators in execution order
                by_type[nops.op_type(s)][0] += got.ops[s.op.index][1] * per_tick
            by_type[nops.op_type(s)][1] += s.macs
        return Row(machine, model.name, f"tflm {kernels}", got.runs[-1] * per_tick, plain.info.macs,
                   {k: v[0] / v[1] for k, v in by_type.items() if v[1]}, got.arena_used, _flash(elf),
                   model.stat().st_size, bool((got.outputs == want).all()))
    row.__name__ = f"tflm_{kernels}"
    return row


# Other runtimes measured the same way, by name (--peers).
PEERS: dict[str, Peer] = {f"tflm-{k}": tflm_peer_row(k) for k in ("cmsis_nn", "reference")}


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


def markdown(rows: list[Row], notes: tuple[str, ...] = ()) -> str:
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
    if any(r.runtime.startswith("tflm") for r in rows):
        lines.append("")
        lines.append("TFLM rows: arena = the interpreter's arena_used_bytes; weights = the .tflite "
                     "flatbuffer (TFLM reads it in place); image flash = text + data of the harness "
                     "ELF, both runtimes with the same start-up and newlib.")
    if notes:
        lines += [""] + list(notes)
    return "\n".join(lines) + "\n"


def find_tflm(option: Path | None) -> Path | None:
    """--tflm-dir, else $TFLM_DIR, else ../shared/tflm's snapshot unpacked into the cache; None
    when there is none (the peers are skipped, saying so)."""
    from vadtool.tflm_build import tflm_root, unpack_snapshot
    if option or os.environ.get("TFLM_DIR"):
        return tflm_root(option)
    return unpack_snapshot(TFLM_SNAPSHOT) if TFLM_SNAPSHOT.is_file() else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--machines", default="an386,an500,an505")
    ap.add_argument("--wide", action="store_true", help="also the CONV_2D filters as int16")
    ap.add_argument("--streaming", default="auto", choices=["auto", "off", "all"],
                    help="convolutions streamed into depthwise layers (auto: where the arena shrinks)")
    ap.add_argument("--board-defaults", type=Path, metavar="CALIB_DIR",
                    help="also the boards' default detector networks, calibrated on these images")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help=f"comma-separated peers to run beside the native runtime ({', '.join(PEERS)}), or none")
    ap.add_argument("--tflm-dir", type=Path, help="tflite-micro checkout for the TFLM peers "
                    "(default $TFLM_DIR, else ../shared/tflm's snapshot)")
    ap.add_argument("--n", type=int, default=2, help="inputs per run (random, the last all -128)")
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    a = ap.parse_args(argv)
    machines = a.machines.split(",")
    for m in machines:
        if m not in nops.MACHINES:
            print(f"error: --machines: unknown machine {m!r}; known: {', '.join(nops.MACHINES)}",
                  file=sys.stderr)
            return 2
    peers = [] if a.peers == "none" else a.peers.split(",")
    for p in peers:
        if p not in PEERS:
            print(f"error: --peers: unknown peer {p!r}; known: {', '.join(PEERS)} or none", file=sys.stderr)
            return 2
    tflm_dir = None
    if peers:
        from vadtool.errors import VadError
        try:
            tflm_dir = find_tflm(a.tflm_dir)
        except VadError as exc:
            print(f"error: --tflm-dir: {exc}", file=sys.stderr)
            return 2
        if tflm_dir is None:
            print(f"no TFLM checkout (--tflm-dir, TFLM_DIR or {TFLM_SNAPSHOT}): peers skipped", file=sys.stderr)
            peers = []
    if a.board_defaults and not a.board_defaults.is_dir():
        print(f"error: --board-defaults: {a.board_defaults} is not a folder of calibration images", file=sys.stderr)
        return 2
    for model in a.models:
        if not model.is_file():
            print(f"error: model {model} not found; pass .tflite files", file=sys.stderr)
            return 2
    rows: list[Row] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vad_device_bench_") as tmp:
        models = list(a.models)
        if a.board_defaults:
            for path, boards in board_default_models(Path(tmp), a.board_defaults):
                models.append(path)
                notes.append(f"{path.name}: the network of the default detector of {', '.join(boards)} "
                             "(train fomo-ad --board B on square images; the head is not included)")
        for model in models:
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
                for name in peers:
                    work = Path(tmp) / f"{model.stem}_{machine}_{name}"
                    rows.append(PEERS[name](model, machine, x, want, work, tflm_dir))
                    print(markdown(rows[-1:]).splitlines()[2], flush=True)
    table = markdown(rows, tuple(notes))
    print()
    print(table)
    if a.markdown:
        a.markdown.parent.mkdir(parents=True, exist_ok=True)
        a.markdown.write_text(table)
    return 0 if all(r.exact is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
