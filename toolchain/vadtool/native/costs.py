"""What the native runtime's kernels cost on a Cortex-M4, per unit of work, for estimates made
before anything is converted or built (board_fit: a board's latency budget).

Measured with ``bench/native_ops.py`` (QEMU mps2-an386, -icount shift=0, DSP fast paths on)
on the FOMO-AD backbones the board ladder trains; see MEASURED_ON. A kernel change that moves
these numbers must re-measure them: tests/device/test_board_default.py compares the estimate
with the instructions the board default really takes in QEMU (ESTIMATE_TOLERANCE).
"""

from __future__ import annotations

MEASURED_ON = "fomo_ad_mnv2_035_96_int8.tflite (../shared/models), 19.40 M instructions"
# Instructions per unit of work: a MAC for convolutions and the head, an output element times
# the window for average pooling, an output element for adds, concatenations and the input
# scaling.
PER_UNIT: dict[str, float] = {
    "conv_1x1": 2.9,
    "conv_first": 3.1,  # the first 3x3 convolution, on 1-4 input channels
    "conv": 3.1,
    "depthwise": 5.3,
    "avg_pool": 2.2,
    "elementwise": 50.0,  # an int8 ADD rescales both inputs and its output
    "head": 2.0,
}
WORK_KINDS = tuple(PER_UNIT)
# How far the estimate may be from a real count (the test's bound; the kernels' cost per MAC
# moves with the shapes, which one number per kind cannot follow).
ESTIMATE_TOLERANCE = 0.2


def instructions(work: dict[str, int]) -> int:
    """Estimated instructions for ``work`` ({kind: MACs or elements})."""
    unknown = set(work) - set(PER_UNIT)
    if unknown:
        raise ValueError(f"no cost for {sorted(unknown)}; known: {WORK_KINDS}")
    return int(round(sum(PER_UNIT[k] * n for k, n in work.items())))
