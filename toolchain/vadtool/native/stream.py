"""Streaming a CONV_2D into the DEPTHWISE_CONV_2D that alone reads it (vad_stream.c).

The convolution's output is then never stored whole: the depthwise layer's window of rows
lives in a ring of (k_h - 1) * dil_h + 1 rows in the arena, each row computed once. The bytes
are the plain schedule's; what changes is memory: a MobileNet's 1x1 expansion at high
resolution is often the largest tensor of the model. codegen.build_plan streams a pair only
where it lowers the arena.

A streamed pair's output may also overwrite its input where that input dies with it
(overlap_limit): vad_conv_dw_s8 writes its output rows in order and reads the convolution's
input rows in order, so input rows no later convolution row reads are free memory. The
planner takes it where that lowers the arena (codegen.build_plan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from .lower import Step
from .tflite_reader import Graph


def candidates(steps: list[Step], g: Graph) -> list[int]:
    """Indices i where steps[i] (CONV_2D) can stream into steps[i + 1] (DEPTHWISE_CONV_2D):
    the depthwise layer reads the convolution's output, nothing else does, and it is not the
    model's output."""
    readers: dict[int, int] = {}
    for s in steps:
        for t in s.act_inputs:
            readers[t] = readers.get(t, 0) + 1
    found = []
    for i in range(len(steps) - 1):
        conv, dw = steps[i], steps[i + 1]
        if conv.op.name != "CONV_2D" or dw.op.name != "DEPTHWISE_CONV_2D":
            continue
        t = conv.act_outputs[0]
        if dw.act_inputs == [t] and readers.get(t) == 1 and t not in g.outputs:
            found.append(i)
    return found


def choose(candidates: Iterable[int], arena_of: Callable[[set[int]], int]) -> set[int]:
    """The pairs to stream, only where they lower the arena: first every candidate that does
    not raise it (one pair alone rarely lowers a peak that several places share), then each
    pair dropped again if the arena stays as small without it. codegen.build_plan and
    board_fit's estimate decide with this one rule."""
    chosen: set[int] = set()
    best = arena_of(chosen)
    for i in candidates:
        trial = arena_of(chosen | {i})
        if trial <= best:
            chosen.add(i)
            best = trial
    for i in sorted(chosen):
        if arena_of(chosen - {i}) <= best:
            chosen.discard(i)
    return chosen


def ring_rows(k_h: int, dil_h: int) -> int:
    """Rows of the ring: one window of the depthwise layer."""
    return (k_h - 1) * dil_h + 1


def ring_bytes(dw: Step) -> int:
    p = dict(dw.params)
    return ring_rows(p["k_h"], p["dil_h"]) * p["in_w"] * p["in_c"]


def apply(steps: list[Step], chosen: set[int]) -> list[Step]:
    """Copies of steps with each chosen pair streamed: the convolution emits no call and its
    output no longer exists; the depthwise step calls vad_conv_dw_s8 on the convolution's
    input, with one scratch holding the convolution's own scratch and then the ring (one window;
    codegen._grow_rings may lengthen it where the arena has room)."""
    out = [replace(s, params=list(s.params)) for s in steps]
    for i in chosen:
        conv, dw = out[i], out[i + 1]
        p = dict(dw.params)
        out[i] = replace(conv, streamed_into=dw.op.index, scratch=0)
        out[i + 1] = replace(
            dw, act_inputs=list(conv.act_inputs), scratch=conv.scratch + ring_bytes(dw),
            stream=[("conv", f"&op{conv.op.index}_params"), ("dw", f"&op{dw.op.index}_params"),
                    ("ring", "0"), ("ring_rows", ring_rows(p["k_h"], p["dil_h"]))],
            stream_conv_scratch=conv.scratch)
    return out


def dead_input_rows(conv: dict, dw: dict) -> list[int]:
    """For each output row oy of a streamed pair, the input rows of the convolution that no
    later step of vad_conv_dw_s8 reads once it writes row oy: the loop of vad_stream.c run on
    row numbers (conv rows are made when the depthwise window first reaches them; conv row j
    reads input rows from j * stride - pad). A ring longer than a window (codegen._grow_rings)
    makes the rows of a block of output rows before writing any of them: at each write at least
    these rows are dead, so the limit holds for it too."""
    span = ring_rows(dw["k_h"], dw["dil_h"])
    rows_c, rows_in = dw["in_h"], conv["in_h"]
    dead, made = [], 0  # conv rows 0 .. made - 1 exist
    for oy in range(dw["out_h"]):
        top = oy * dw["stride_h"] - dw["pad_h"]
        made = max(made, min(top + span, rows_c))
        if made >= rows_c:
            dead.append(rows_in)
        else:
            dead.append(min(rows_in, max(0, made * conv["stride_h"] - conv["pad_h"])))
    return dead


def overlap_limit(c: dict, d: dict) -> int:
    """How far above its input's start a streamed pair's output may start, in bytes, with the
    output never written over input rows still to be read: the largest delta with
    delta + (oy + 1) * output row <= dead rows(oy) * input row for every row oy written
    while input rows remain to be read (the planner's overlap; very negative when the
    output rows outgrow the input's). c, d: the convolution's and the depthwise layer's
    parameters (Step.params as a dict; board_fit passes the same fields from Keras)."""
    in_row = c["in_w"] * c["in_c"]
    out_row = d["out_w"] * d["out_c"]
    limits = [dead * in_row - (oy + 1) * out_row
              for oy, dead in enumerate(dead_input_rows(c, d)) if dead < c["in_h"]]
    return min(limits) if limits else c["in_h"] * in_row
