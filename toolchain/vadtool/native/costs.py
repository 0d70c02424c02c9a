"""What the native runtime's kernels cost on a Cortex-M4, per unit of work, for estimates made
before anything is converted or built (board_fit: a board's latency budget).

A convolution costs per MAC (the inner loop) and per output element (requantization, store,
loop overheads), so narrow layers cost more per MAC than wide ones. The numbers are fitted by
``bench/op_costs.py`` (least squares over every operator of the models it is given, measured
with ``bench/native_ops.py`` in QEMU mps2-an386, -icount shift=0, DSP fast paths on); a kernel
change re-runs it. tests/device/test_board_default.py compares the estimate with what the
board default really takes in QEMU (ESTIMATE_TOLERANCE).
"""

from __future__ import annotations

MEASURED_ON = ("fomo_ad_mnv2_035_96_int8.tflite and vww_96_int8.tflite (../shared/models), and "
               "MobileNetV2 1.0 stride-8 FOMO-AD networks at 64x64 and 88x56 (battery_weld's board "
               "default); operators' estimates within 7 % of their totals")
# Instructions per unit: a MAC ("conv_1x1", ...), an output element ("conv_1x1_out", ...), an
# output element times the pooling window ("avg_pool"), an output element of an ADD,
# concatenation or input scaling ("elementwise"), a MAC of the integer head ("head"), an
# output element of a convolution streamed into its depthwise layer ("stream").
PER_UNIT: dict[str, float] = {
    # refitted after the 1x1 blocks of 6 on per-channel records and the depthwise channels in
    # fours (op_costs over the four networks of MEASURED_ON, each operator timed alone in the
    # plain schedule)
    "conv_1x1": 0.78, "conv_1x1_out": 4.55,
    "conv_first": 1.38, "conv_first_out": 0.05,
    "conv": 1.38, "conv_out": 0.05,  # no such layer in the backbones: the first one's numbers
    "depthwise": 2.53, "depthwise_out": 0.28,
    "avg_pool": 11.49,
    "elementwise": 48.23,  # an int8 ADD rescales both inputs and its output
    # what the smallest plan's streamed pairs and rows run in place add to the plain schedule,
    # per element a streamed convolution outputs (render streams only where the board's RAM
    # needs it): 4.8 by least squares over the four networks, whose own figures spread from
    # 0.3 (FOMO 0.35) and 3.3 (VWW) to 6.0-8.3 (the 1.0 networks: 0.3-0.6 M under)
    "stream": 4.78,
    # Gaussian and per-position heads, measured (bench --emulate, head instructions over the
    # head's MACs, 4 board defaults: 3.77-3.81); a knn bank's SMLAD loop costs less
    "head": 3.8,
    # a knn bank: per multiply-add of a cell against a bank row (two cells and two rows a pass,
    # SMLAD on rows widened as read) and per row compared per cell (distance, minimum, loop);
    # least squares over 7 heads (8x8, 4x4 and 12x18 cells, 16-192 channels, 128-2048 rows) in
    # QEMU mps2-an386, within 4.1 % of each
    "knn": 1.31, "knn_row": 10.3,
}
WORK_KINDS = tuple(PER_UNIT)
# How far the estimate may be from a real count (the test's bound).
ESTIMATE_TOLERANCE = 0.15


def instructions(work: dict[str, int]) -> int:
    """Estimated instructions for ``work`` ({kind: MACs or elements})."""
    unknown = set(work) - set(PER_UNIT)
    if unknown:
        raise ValueError(f"no cost for {sorted(unknown)}; known: {WORK_KINDS}")
    return int(round(sum(PER_UNIT[k] * n for k, n in work.items())))
