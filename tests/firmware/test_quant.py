"""TFLite's quantization-parameter arithmetic, reproduced exactly."""

import math

import numpy as np
import pytest

from vadtool.native import quant


@pytest.mark.parametrize("m", [0.5, 0.75, 0.999999999, 1e-3, 3.0757405e-05, 1.7, 2**-40, 0.0])
def test_quantize_multiplier_reconstructs(m):
    q, shift = quant.quantize_multiplier(m)
    if m == 0.0 or m < 2**-32:
        assert (q, shift) == (0, 0)
        return
    assert 2**30 <= q < 2**31
    assert math.isclose(q * 2.0 ** (shift - 31), m, rel_tol=2**-30)


def test_quantize_multiplier_rounds_up_to_next_power():
    # q rounds to 2^31 -> halved, shift incremented (TFLite's special case)
    q, shift = quant.quantize_multiplier(1.0 - 2**-40)
    assert (q, shift) == (2**30, 1)


def test_round_half_away_from_zero():
    assert [quant.tflite_round(v) for v in (0.5, 1.5, 2.5, -0.5, -2.5)] == [1, 2, 3, -1, -3]


def test_activation_ranges():
    assert quant.activation_range(0, 0.1, 3) == (-128, 127)
    assert quant.activation_range(1, 0.1, -5) == (-5, 127)
    assert quant.activation_range(3, 6 / 255, -128) == (-128, 127)
    assert quant.activation_range(3, 0.05, -128) == (-128, -8)


def test_padding_matches_tflite():
    # SAME, stride 2, 3x3 on 96: out 48, total pad 1 -> top/left 0
    assert quant.out_size(0, 96, 3, 2) == 48
    assert quant.compute_padding(2, 1, 96, 3, 48) == 0
    assert quant.compute_padding(1, 1, 12, 3, 12) == 1
    assert quant.out_size(1, 10, 3, 1) == 8


def test_mean_multiplier_folds_the_count():
    m, s = quant.mean_multiplier(0.02, 0.02, 9)
    assert math.isclose(m * 2.0 ** (s - 31), 1 / 9, rel_tol=1e-8)


def test_softmax_params():
    mult, left, diff_min = quant.softmax_params(1.0, 0.1)
    assert left >= 0 and diff_min < 0
    assert math.isclose(mult * 2.0 ** (left - 31), np.float32(0.1) * 2**26, rel_tol=1e-8)
