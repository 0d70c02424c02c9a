"""Fit native/costs.py's PER_UNIT table: instructions per MAC and per output element of each
operator kind, least squares over every operator of the given int8 models, measured on
Cortex-M4 in QEMU (bench/native_ops.py: mps2-an386, -icount shift=0, DSP fast paths on).

    .venv/bin/python bench/op_costs.py MODEL.tflite [MODEL.tflite ...]

Prints the table to paste into toolchain/vadtool/native/costs.py, and how far the fitted
estimate is from each model's measured total. Operators are timed in the plain schedule;
"stream" is what the planner's streamed pairs (and rows run in place) add to it, per output
element of a streamed convolution (a board whose RAM needs them pays it).
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import native_ops  # noqa: E402
from vadtool.native import build_plan  # noqa: E402


def kind_of(step) -> str | None:
    p = dict(step.params)
    if step.op.name == "CONV_2D":
        return "conv_1x1" if p["k_h"] == p["k_w"] == 1 else "conv_first" if p["in_c"] <= 4 else "conv"
    if step.op.name == "DEPTHWISE_CONV_2D":
        return "depthwise"
    return {"AVERAGE_POOL_2D": "avg_pool", "ADD": "elementwise", "MUL": "elementwise",
            "CONCATENATION": "elementwise"}.get(step.op.name)


def measure_streaming(model: Path) -> tuple[int, int]:
    """(instructions the planner's streaming and in-place rows add to the plain schedule,
    output elements of the convolutions it streams) for costs.PER_UNIT "stream"."""
    plan = build_plan(model, streaming="auto")
    g = plan.graph
    elements = sum(int(np.prod(g.tensors[g.operators[conv].outputs[0]].shape)) for conv, _ in plan.info.streamed)
    x = np.zeros((1,) + tuple(plan.info.input_shape[1:]), np.int8)
    totals = []
    for streaming in ("auto", "off"):
        out = Path(tempfile.mkdtemp(prefix="vad_costs_"))
        elf = native_ops.build(model, out, streaming=streaming)
        totals.append(native_ops.run(elf, x)[1][-1] * native_ops.INSTR_PER_TICK)
    return int(totals[0] - totals[1]), elements


def measure(model: Path):
    """(kind, instructions, MACs, output elements, window) per profiled operator, and the total."""
    # streamed pairs are one call; unstreamed, each operator is timed alone (streaming adds
    # about 0.7 % where the planner chooses it)
    plan = build_plan(model, streaming="off")
    out = Path(tempfile.mkdtemp(prefix="vad_costs_"))
    elf = native_ops.build(model, out, streaming="off")
    x = np.zeros((1,) + tuple(plan.info.input_shape[1:]), np.int8)
    _, runs, ops = native_ops.run(elf, x)
    rows = []
    for s in plan.steps:
        kind = kind_of(s)
        if kind is None or s.op.index not in ops:
            continue
        t = plan.graph.tensors[s.op.outputs[0]]
        outs = int(np.prod(t.shape))
        p = dict(s.params)
        window = int(p.get("filter_h", p.get("k_h", 1))) * int(p.get("filter_w", p.get("k_w", 1)))
        rows.append((kind, ops[s.op.index][1] * native_ops.INSTR_PER_TICK, s.macs, outs, window))
    return rows, runs[-1] * native_ops.INSTR_PER_TICK


CONVS = ("conv_1x1", "conv_first", "conv", "depthwise")


def units(kind: str, macs: int, outs: int, window: int) -> dict[str, int]:
    """The row's work in costs.py's units (what board_fit counts from the Keras graph)."""
    if kind in CONVS:
        return {kind: macs, kind + "_out": outs}
    return {kind: outs * window} if kind == "avg_pool" else {kind: outs}


def fit(rows) -> dict[str, float]:
    by = defaultdict(list)
    for kind, instr, macs, outs, window in rows:
        by[kind].append((instr, *units(kind, macs, outs, window).values()))
    table = {}
    for kind, rs in by.items():
        a = np.array(rs, float)
        if kind in CONVS:
            coef, *_ = np.linalg.lstsq(a[:, 1:], a[:, 0], rcond=None)
            if (coef < 0).any():  # too few shapes to split them: all per MAC
                coef = np.array([a[:, 0].sum() / a[:, 1].sum(), 0.0])
            table[kind], table[kind + "_out"] = coef
        else:
            table[kind] = a[:, 0].sum() / a[:, 1].sum()
    return table


def main(argv) -> int:
    measured = {m: measure(Path(m)) for m in argv}  # by path: two runs both hold model_int8.tflite
    table = fit([r for rows, _ in measured.values() for r in rows])
    # streaming: one number per streamed element, least squares through 0 over the models
    streamed = {m: measure_streaming(Path(m)) for m in argv}
    extra = np.array([v for v in streamed.values() if v[1]], float).reshape(-1, 2)
    table["stream"] = float(extra[:, 0] @ extra[:, 1] / (extra[:, 1] @ extra[:, 1])) if len(extra) else 0.0
    print("PER_UNIT (paste into toolchain/vadtool/native/costs.py; keep 'head' and the knn rows):")
    for k, v in table.items():
        print(f'    "{k}": {v:.2f},')
    for name, (added, elements) in streamed.items():
        print(f"{name}: streaming adds {added / 1e6:.3f} M over {elements:,} streamed elements "
              f"({added / max(elements, 1):.1f} each; estimated {table['stream'] * elements / 1e6:.3f} M)")
    for name, (rows, total) in measured.items():
        est = sum(table[k] * n for r in rows for k, n in units(r[0], *r[2:]).items())
        print(f"{name}: measured {total / 1e6:.2f} M in all, its profiled operators estimated {est / 1e6:.2f} M")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
