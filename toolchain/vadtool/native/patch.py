"""Patch-based execution of a model's first layers (MCUNetV2's idea, in horizontal bands).

The first layers of a MobileNet work at high resolution: their tensors are the largest of the
model. Run instead, band by band, the chain of operators from the input up to a split
operator: for each band of the split operator's output rows, every operator before it
computes only the rows the band needs (walked back through the receptive fields: the rows
shared with the next band, the halo, are computed again), into small per-band buffers, and the
split operator writes the band's rows of its full output. The bytes are the plain schedule's:
each band step is the operator's own kernel on a row range, its parameters describing the
range (rows in, rows out, padding left only at the true image border), as vad_stream.c does
for one row.

apply() unrolls the chain into band steps; codegen.build_plan plans the unrolled schedule with
its usual machinery (streaming a band's convolution into its depthwise layer, in place) and
keeps a patch only where the arena falls below the best plan without one (options()).

The split output may also lie over the model input, written only over input rows no later
band reads (input_overlap): the input is the largest tensor left alive during the bands.

Covered: chains of CONV_2D, DEPTHWISE_CONV_2D (no dilation), ADD and MUL (computed operands of
the output's shape, constant operands the same on every row: a network's input scaling)
starting at the model input, every tensor of the chain but the split operator's output read
inside the chain only. Bands are horizontal (full width).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from .lower import Step
from .tflite_reader import Graph

BAND_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "MUL")
BINARY = ("ADD", "MUL")
BAND_COUNTS = (2, 3, 4, 6, 8)  # options() tries these
VIRTUAL = 1 << 24  # band buffers: VIRTUAL * (band + 1) + tensor index


@dataclass(frozen=True)
class Patched:
    """An unrolled schedule: steps (band steps first, then the rest), the band buffers' sizes,
    and what the patch costs."""
    steps: list[Step]
    sizes: dict[int, int]  # band buffer id -> bytes
    split_op: int  # op index of the split operator
    bands: int
    ops: list[int]  # op indices run in bands
    extra_macs: int  # MACs computed again (halo rows)


def _rows4(g: Graph, t: int) -> tuple[int, int] | None:
    """(rows, bytes per row) of a 4-D batch-1 tensor, else None."""
    shape = g.tensors[t].shape
    if len(shape) != 4 or shape[0] != 1:
        return None
    return int(shape[1]), int(shape[2]) * int(shape[3])


def _acts(s: Step, g: Graph) -> list[int]:
    """The tensors a step reads that are computed (not the constant operand of an ADD or MUL)."""
    return [t for t in s.act_inputs if not g.tensors[t].is_const]


def _bandable(s: Step, g: Graph) -> bool:
    if s.alias or s.op.name not in BAND_OPS or s.stream is not None or s.streamed_into is not None:
        return False
    if any(_rows4(g, t) is None for t in _acts(s, g) + s.act_outputs) or not _acts(s, g):
        return False
    if s.op.name in BINARY:  # computed operands of the output's shape; constants the same on every row
        y = tuple(g.tensors[s.act_outputs[0]].shape)
        consts = [g.tensors[t].shape for t in s.act_inputs if g.tensors[t].is_const]
        return (all(tuple(g.tensors[t].shape) == y for t in _acts(s, g))
                and all(len(c) < 3 or c[-3] == 1 for c in consts))
    return dict(s.params)["dil_h"] == 1


def splits(steps: list[Step], g: Graph, in_root: int, out_root: int,
           find: Callable[[int], int]) -> list[int]:
    """Step indices k where steps[0 .. k] can run in bands with k the split operator: each is
    a band operator reading the model input or earlier outputs of the chain, and every output
    of the chain but steps[k]'s is read inside the chain only (and is not the model output)."""
    readers: dict[int, list[int]] = {}
    for i, s in enumerate(steps):
        for t in s.act_inputs:
            readers.setdefault(find(t), []).append(i)
    made: list[int] = []
    found = []
    for k, s in enumerate(steps):
        if not _bandable(s, g) or any(find(t) not in (in_root, *made) for t in _acts(s, g)):
            break
        y = find(s.act_outputs[0])
        if y != s.act_outputs[0] or y == in_root:
            break
        made.append(y)
        inner = made[:-1]
        if all(t != out_root and max(readers.get(t, [0])) <= k for t in inner) and _rows4(g, y)[0] >= 2:
            found.append(k)
    return found


def _need(s: Step, lo: int, hi: int) -> tuple[int, int]:
    """Input rows [lo, hi) an operator's output rows [lo, hi) read (the first input's; an ADD
    reads the same rows of both)."""
    p = dict(s.params)
    if s.op.name in BINARY:
        return lo, hi
    top = lo * p["stride_h"] - p["pad_h"]
    return max(0, top), min(p["in_h"], (hi - 1) * p["stride_h"] - p["pad_h"] + p["k_h"])


def band_rows(rows: int, bands: int) -> list[tuple[int, int]]:
    return [(rows * b // bands, rows * (b + 1) // bands) for b in range(bands)]


def apply(steps: list[Step], g: Graph, k: int, bands: int) -> Patched:
    """steps with steps[0 .. k] replaced by their band steps (band after band, each in the
    chain's order): Step.band = (band, bands), Step.views = {tensor id: byte offset of the
    pointer the step gets}, Step.band_rows = (tensor, first row, end row) it writes."""
    split_t = steps[k].act_outputs[0]
    rows_k = _rows4(g, split_t)[0]
    out: list[Step] = []
    sizes: dict[int, int] = {}
    extra = 0
    made = {s.act_outputs[0] for s in steps[: k + 1]}
    for b, (lo, hi) in enumerate(band_rows(rows_k, bands)):
        need = {split_t: (lo, hi)}
        for s in reversed(steps[: k + 1]):
            y = s.act_outputs[0]
            if y not in need:
                continue
            a, e = _need(s, *need[y])
            for x in _acts(s, g):
                old = need.get(x, (a, e))
                need[x] = (min(old[0], a), max(old[1], e))

        def vid(t: int) -> int:
            return t if t == split_t or t not in made else VIRTUAL * (b + 1) + t

        def base(t: int) -> int:  # the first row of the memory the step's pointer is in
            return need[t][0] if vid(t) != t else 0

        for s in steps[: k + 1]:
            y = s.act_outputs[0]
            if y not in need:
                continue
            ylo, yhi = need[y]
            a, e = _need(s, ylo, yhi)
            p = dict(s.params)
            views = {}
            for x in _acts(s, g):
                views[vid(x)] = (a - base(x)) * _rows4(g, x)[1]
            views[vid(y)] = (ylo - base(y)) * _rows4(g, y)[1]
            if s.op.name in BINARY:
                _, w, c = g.tensors[y].shape[1:]
                params = [(f, "{1, %d, %d, %d}" % (yhi - ylo, w, c) if f == "shape" else v)
                          for f, v in s.params]
            else:
                new = {"in_h": e - a, "out_h": yhi - ylo,
                       "pad_h": a - (ylo * p["stride_h"] - p["pad_h"])}
                params = [(f, new.get(f, v)) for f, v in s.params]
            macs = s.macs * (yhi - ylo) // _rows4(g, y)[0]
            extra += macs
            if vid(y) != y:
                sizes[vid(y)] = (yhi - ylo) * _rows4(g, y)[1]
            out.append(replace(s, params=params, act_inputs=[vid(x) for x in s.act_inputs],
                               act_outputs=[vid(y)], macs=macs, band=(b, bands), views=views,
                               band_rows=(y, ylo, yhi)))
    extra -= sum(s.macs for s in steps[: k + 1])
    rest = [replace(s, params=list(s.params)) for s in steps[k + 1 :]]
    return Patched(out + rest, sizes, steps[k].op.index, bands,
                   [s.op.index for s in steps[: k + 1]], extra)


def options(steps: list[Step], g: Graph, in_root: int, out_root: int,
            find: Callable[[int], int]) -> list[tuple[int, int]]:
    """(split step, bands) the planner tries: every split of the chain whose output is at
    most 1/4 of the input's height (the high-resolution layers end before it; splitting
    earlier leaves their full tensors), and each band count of BAND_COUNTS up to half its rows."""
    h_in = _rows4(g, in_root)
    found = []
    for k in splits(steps, g, in_root, out_root, find):
        rows = _rows4(g, steps[k].act_outputs[0])[0]
        if h_in is not None and 4 * rows > h_in[0]:
            continue
        found += [(k, n) for n in BAND_COUNTS if 2 * n <= rows]
    return found


def input_overlap(steps: list[Step], g: Graph, in_root: int) -> int | None:
    """How far above the model input's start the split output may start, in bytes, with each
    band's rows of it written only over input rows no later band reads (the planner's
    overlap, as stream.overlap_limit): delta + end row of band b * its row <= first input row
    of band b + 1 * input row. None if something after the bands reads the input."""
    if any(in_root in s.act_inputs for s in steps if s.band is None):
        return None
    split = next(s for s in steps if s.band is not None and s.band_rows[0] == s.act_outputs[0])
    t = split.act_outputs[0]
    in_row, out_row = _rows4(g, in_root)[1], _rows4(g, t)[1]
    first = {}  # band -> first input row it reads
    for s in steps:
        if s.band is not None and in_root in s.act_inputs:
            b = s.band[0]
            first[b] = min(first.get(b, 1 << 30), s.views[in_root] // in_row)
    ends = {s.band[0]: s.band_rows[2] for s in steps if s.band is not None and s.band_rows[0] == t}
    limits = [first[b + 1] * in_row - ends[b] * out_row for b in range(split.band[1] - 1) if b + 1 in first]
    return min(limits) if limits else _rows4(g, in_root)[0] * in_row
