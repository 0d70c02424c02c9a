"""A 1x1 convolution whose output overwrites its own dying input (vad_inplace.c).

A 1x1, stride-1, unpadded CONV_2D run one row at a time (vad_conv2d_rows_s8) reads input row
r and writes output row r in call r: once call r starts, input rows before r are free. Output
row r, at delta + r * out_row .. delta + (r + 1) * out_row from the input's start, must stay
below input row r (being read) for every r, so delta <= r * in_row - (r + 1) * out_row for
r = 0 .. in_h - 1: linear in r, its minimum is at the first or the last row. A layer that
narrows the channels (out_row < in_row) may start its output one output row below its input.
codegen.build_plan offers it to the planner as an overlap and switches the layer to the
row-wise call only where the placement uses it; board_fit estimates with the same rule.
"""

from __future__ import annotations

KERNEL = "vad_conv2d_rows_s8"


def row_conv(params: dict) -> bool:
    """Is this CONV_2D (its parameters) one that runs row by row: 1x1, stride 1, no padding?"""
    return (params["k_h"] == params["k_w"] == 1 and params["stride_h"] == params["stride_w"] == 1
            and params["pad_h"] == params["pad_w"] == 0)


def rows_limit(in_h: int, in_row: int, out_row: int) -> int:
    """How far above its input's start the output may start (bytes; negative: below)."""
    return min(-out_row, (in_h - 1) * in_row - in_h * out_row)
