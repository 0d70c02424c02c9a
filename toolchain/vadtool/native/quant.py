"""TFLite's quantization-parameter arithmetic, reproduced in Python.

These functions compute, from the float scales stored in the model, the integer
multipliers, shifts and clamps that TFLite Micro computes in each kernel's Prepare().
They follow tensorflow/lite/kernels/internal/quantization_util.cc and kernel_util.cc,
including which products are taken in float32 and which in float64.
"""

from __future__ import annotations

import math

import numpy as np


def tflite_round(x: float) -> int:
    """std::round: half away from zero."""
    return int(math.copysign(math.floor(abs(x) + 0.5), x))


def quantize_multiplier(m: float) -> tuple[int, int]:
    """QuantizeMultiplier(double): (q31 multiplier, shift), shift > 0 is a left shift."""
    if m == 0.0:
        return 0, 0
    q, shift = math.frexp(m)
    q_fixed = tflite_round(q * (1 << 31))
    assert q_fixed <= (1 << 31)
    if q_fixed == (1 << 31):
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    return int(q_fixed), int(shift)


def f32(x) -> float:
    return float(np.float32(x))


def activation_range(act: int, scale: float, zero_point: int) -> tuple[int, int]:
    """CalculateActivationRangeQuantized for int8 outputs (act: ActivationFunctionType)."""
    qmin, qmax = -128, 127
    s = np.float32(scale)

    def q(f: float) -> int:
        return int(zero_point) + tflite_round(float(np.float32(f) / s))

    if act == 0:  # NONE
        return qmin, qmax
    if act == 1:  # RELU
        return max(qmin, q(0.0)), qmax
    if act == 3:  # RELU6
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == 2:  # RELU_N1_TO_1
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    raise ValueError(act)


def conv_multipliers(input_scale, filter_scales, output_scale, channels: int):
    """PopulateConvolutionQuantizationParams: per-channel (double products)."""
    mult, shift = [], []
    fs = np.asarray(filter_scales, np.float32)
    for c in range(channels):
        s = fs[c] if fs.size > 1 else fs[0]
        eff = float(np.float32(input_scale)) * float(s) / float(np.float32(output_scale))
        m, sh = quantize_multiplier(eff)
        mult.append(m)
        shift.append(sh)
    return mult, shift


def fc_per_tensor_multiplier(input_scale, filter_scale, output_scale):
    """GetQuantizedConvolutionMultipler: the input*filter product is taken in float32."""
    prod = float(np.float32(input_scale) * np.float32(filter_scale))
    return quantize_multiplier(prod / float(np.float32(output_scale)))


def add_params(s1, s2, so, left_shift: int = 20):
    s1, s2, so = f32(s1), f32(s2), f32(so)
    twice_max = 2.0 * max(s1, s2)
    m1 = quantize_multiplier(s1 / twice_max)
    m2 = quantize_multiplier(s2 / twice_max)
    mo = quantize_multiplier(twice_max / ((1 << left_shift) * so))
    return m1, m2, mo


def mul_multiplier(s1, s2, so):
    return quantize_multiplier(f32(s1) * f32(s2) / f32(so))


def mean_multiplier(input_scale, output_scale, n: int) -> tuple[int, int]:
    """MEAN (int8): QuantizeMultiplier(in/out) with 1/n folded in as QuantizedMeanOrSum does."""
    mult, shift = quantize_multiplier(f32(input_scale) / f32(output_scale))
    s = 63 - (64 - int(n).bit_length())  # 63 - CountLeadingZeros(uint64 n)
    s = min(s, 32, 31 + shift)
    return int((mult << s) // n), shift - s


def softmax_params(beta: float, input_scale: float, single_rounding: bool = False):
    """PreprocessSoftmaxScaling + CalculateInputRadius, kScaledDiffIntegerBits = 5."""
    integer_bits = 5
    max_real = float((1 << 30) - 1) if single_rounding else float((1 << 31) - 1)
    real = min(f32(beta) * f32(input_scale) * float(1 << (31 - integer_bits)), max_real)
    mult, left_shift = quantize_multiplier(real)
    assert left_shift >= 0
    max_input_rescaled = (
        1.0 * ((1 << integer_bits) - 1) * float(1 << (31 - integer_bits)) / float(1 << left_shift)
    )
    diff_min = -int(math.floor(max_input_rescaled))
    return mult, left_shift, diff_min


def compute_padding(stride: int, dilation: int, in_size: int, filter_size: int, out_size: int) -> int:
    """ComputePaddingWithOffset: the leading (top/left) padding."""
    eff = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + eff - in_size
    total = max(total, 0)
    return total // 2


def out_size(padding: int, in_size: int, filter_size: int, stride: int, dilation: int = 1) -> int:
    eff = (filter_size - 1) * dilation + 1
    if padding == 0:  # SAME
        return (in_size + stride - 1) // stride
    return (in_size + stride - eff) // stride


def mbqm(x: int, multiplier: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier (double rounding) on int32 values, as
    vad_mbqm in vad_kernels.c: the left shift wraps like the C one."""
    left, right = max(shift, 0), max(-shift, 0)
    a = ((x << left) + 2**31) % 2**32 - 2**31
    if a == multiplier == -(2**31):
        t = 2**31 - 1
    else:
        ab = a * multiplier
        v = ab + (1 << 30 if ab >= 0 else 1 - (1 << 30))
        t = v // 2**31 if v >= 0 else -((-v) // 2**31)  # truncation toward zero
    mask = (1 << right) - 1
    return (t >> right) + (1 if (t & mask) > (mask >> 1) + (1 if t < 0 else 0) else 0)

