/*
 * vadtool native int8 runtime: reference kernels.
 *
 * Each function mirrors the TFLite Micro reference int8 kernel of the same operator
 * (tensorflow/lite/kernels/internal/reference/...), with the quantization parameters
 * precomputed by the generator exactly as TFLM's Prepare() computes them.
 * The optimised paths live in vad_kernels_fast.c and vad_conv_fast.c and fall back to these.
 */
#include "vad_kernels.h"

#include <string.h>

#define VAD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define VAD_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------------- */
/* Fixed-point arithmetic (gemmlowp / TFLite common.h)                        */
/* ------------------------------------------------------------------------- */

int32_t vad_srdhm(int32_t a, int32_t b)
{
    int64_t ab, v;
    int32_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (1 << 30) : (1 - (1 << 30));
    v = ab + nudge;
    /* division by 2^31 truncating toward zero, without a 64-bit divide */
    if (v < 0) {
        v += ((int64_t)1 << 31) - 1;
    }
    return (int32_t)(v >> 31);
}

int32_t vad_rdbpot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)(((int64_t)1 << exponent) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

int32_t vad_mbqm(int32_t x, int32_t multiplier, int shift)
{
#if VAD_SINGLE_ROUNDING
    const int total_shift = 31 - shift;
    const int64_t round = (int64_t)1 << (total_shift - 1);
    int64_t result = (int64_t)x * (int64_t)multiplier + round;
    return (int32_t)(result >> total_shift);
#else
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    const int32_t shifted = (int32_t)((uint32_t)x << left_shift);
    return vad_rdbpot(vad_srdhm(shifted, multiplier), right_shift);
#endif
}

static int32_t clamp_i32(int32_t v, int32_t lo, int32_t hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* ------------------------------------------------------------------------- */
/* CONV_2D                                                                    */
/* ------------------------------------------------------------------------- */

void vad_conv2d_s8_ref(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, oc, ky, kx, ic;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            for (oc = 0; oc < p->out_c; ++oc) {
                int32_t acc = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + p->dil_h * ky;
                    if (iy < 0 || iy >= p->in_h) {
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + p->dil_w * kx;
                        const int8_t *ip;
                        const int8_t *fp;
                        if (ix < 0 || ix >= p->in_w) {
                            continue;
                        }
                        ip = in + (iy * p->in_w + ix) * p->in_c;
                        fp = p->filter + ((oc * p->k_h + ky) * p->k_w + kx) * p->in_c;
                        for (ic = 0; ic < p->in_c; ++ic) {
                            acc += (int32_t)fp[ic] * ((int32_t)ip[ic] + p->in_offset);
                        }
                    }
                }
                if (p->bias) {
                    acc += p->bias[oc];
                }
                acc = vad_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                o[oc] = (int8_t)clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* DEPTHWISE_CONV_2D                                                          */
/* ------------------------------------------------------------------------- */

void vad_dwconv2d_s8_ref(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, ic, m, ky, kx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + (oy * p->out_w + ox) * p->out_c;
            for (ic = 0; ic < p->in_c; ++ic) {
                for (m = 0; m < p->depth_mult; ++m) {
                    const int32_t oc = ic * p->depth_mult + m;
                    int32_t acc = 0;
                    for (ky = 0; ky < p->k_h; ++ky) {
                        const int32_t iy = iy0 + p->dil_h * ky;
                        if (iy < 0 || iy >= p->in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p->k_w; ++kx) {
                            const int32_t ix = ix0 + p->dil_w * kx;
                            if (ix < 0 || ix >= p->in_w) {
                                continue;
                            }
                            acc += (int32_t)p->filter[(ky * p->k_w + kx) * p->out_c + oc] *
                                   ((int32_t)in[(iy * p->in_w + ix) * p->in_c + ic] + p->in_offset);
                        }
                    }
                    if (p->bias) {
                        acc += p->bias[oc];
                    }
                    acc = vad_mbqm(acc, p->mult[oc], p->shift[oc]) + p->out_offset;
                    o[oc] = (int8_t)clamp_i32(acc, p->act_min, p->act_max);
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* FULLY_CONNECTED                                                            */
/* ------------------------------------------------------------------------- */

void vad_fully_connected_s8(const vad_fc_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t b, o, d;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *x = in + b * p->in_depth;
        for (o = 0; o < p->out_depth; ++o) {
            const int8_t *w = p->filter + o * p->in_depth;
            const int32_t ch = p->per_channel ? o : 0;
            int32_t acc = 0;
            for (d = 0; d < p->in_depth; ++d) {
                acc += ((int32_t)w[d] + p->filter_offset) * ((int32_t)x[d] + p->in_offset);
            }
            if (p->bias) {
                acc += p->bias[o];
            }
            acc = vad_mbqm(acc, p->mult[ch], p->shift[ch]) + p->out_offset;
            out[b * p->out_depth + o] = (int8_t)clamp_i32(acc, p->act_min, p->act_max);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* ADD / MUL                                                                  */
/* ------------------------------------------------------------------------- */

static int32_t add_one(const vad_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t v1 = p->in1_offset + a;
    const int32_t v2 = p->in2_offset + b;
    const int32_t s1 = (int32_t)((uint32_t)v1 << p->left_shift);
    const int32_t s2 = (int32_t)((uint32_t)v2 << p->left_shift);
    const int32_t c1 = vad_mbqm(s1, p->in1_mult, p->in1_shift);
    const int32_t c2 = vad_mbqm(s2, p->in2_mult, p->in2_shift);
    const int32_t raw = vad_mbqm(c1 + c2, p->out_mult, p->out_shift) + p->out_offset;
    return clamp_i32(raw, p->act_min, p->act_max);
}

static int32_t mul_one(const vad_binary_params_t *p, int32_t a, int32_t b)
{
    const int32_t v1 = p->in1_offset + a;
    const int32_t v2 = p->in2_offset + b;
    const int32_t raw = p->out_offset + vad_mbqm(v1 * v2, p->out_mult, p->out_shift);
    return clamp_i32(raw, p->act_min, p->act_max);
}

static void binary_loop(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2,
                        int8_t *out, int is_add)
{
    int32_t i0, i1, i2, i3;
    int8_t *o = out;
    for (i0 = 0; i0 < p->shape[0]; ++i0) {
        for (i1 = 0; i1 < p->shape[1]; ++i1) {
            for (i2 = 0; i2 < p->shape[2]; ++i2) {
                const int8_t *a = in1 + i0 * p->stride1[0] + i1 * p->stride1[1] + i2 * p->stride1[2];
                const int8_t *b = in2 + i0 * p->stride2[0] + i1 * p->stride2[1] + i2 * p->stride2[2];
                const int32_t sa = p->stride1[3];
                const int32_t sb = p->stride2[3];
                if (is_add) {
                    for (i3 = 0; i3 < p->shape[3]; ++i3) {
                        *o++ = (int8_t)add_one(p, a[i3 * sa], b[i3 * sb]);
                    }
                } else {
                    for (i3 = 0; i3 < p->shape[3]; ++i3) {
                        *o++ = (int8_t)mul_one(p, a[i3 * sa], b[i3 * sb]);
                    }
                }
            }
        }
    }
}

void vad_add_s8_ref(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    binary_loop(p, in1, in2, out, 1);
}

void vad_mul_s8_ref(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
    binary_loop(p, in1, in2, out, 0);
}

/* ------------------------------------------------------------------------- */
/* AVERAGE_POOL_2D                                                            */
/* ------------------------------------------------------------------------- */

void vad_avgpool_s8_ref(const vad_pool_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = VAD_MAX(0, -iy0);
        const int32_t fy1 = VAD_MIN(p->k_h, p->in_h - iy0);
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = VAD_MAX(0, -ix0);
            const int32_t fx1 = VAD_MIN(p->k_w, p->in_w - ix0);
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            for (c = 0; c < p->c; ++c) {
                int32_t acc = 0;
                for (fy = fy0; fy < fy1; ++fy) {
                    for (fx = fx0; fx < fx1; ++fx) {
                        acc += in[((iy0 + fy) * p->in_w + (ix0 + fx)) * p->c + c];
                    }
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                out[(oy * p->out_w + ox) * p->c + c] = (int8_t)clamp_i32(acc, p->act_min, p->act_max);
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* MEAN over H, W                                                             */
/* ------------------------------------------------------------------------- */

void vad_mean_hw_s8(const vad_mean_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t n = p->h * p->w;
    int32_t c, i;
    for (c = 0; c < p->c; ++c) {
        int32_t sum = 0;
        for (i = 0; i < n; ++i) {
            sum += in[i * p->c + c];
        }
        sum = vad_mbqm(sum + p->sum_offset, p->mult, p->shift) + p->out_zp;
        out[c] = (int8_t)clamp_i32(sum, -128, 127);
    }
}

/* ------------------------------------------------------------------------- */
/* SOFTMAX (gemmlowp fixed point, as reference_ops::Softmax for int8)          */
/* ------------------------------------------------------------------------- */

/* SaturatingRoundingMultiplyByPOT with a positive exponent */
static int32_t sat_shl(int32_t x, int e)
{
    const int32_t threshold = (int32_t)((1u << (31 - e)) - 1u);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << e);
}

/* exp(a) for a in [-1/4, 0), Q0.31 in and out */
static int32_t exp_quarter(int32_t a)
{
    const int32_t constant_term = 1895147668;
    const int32_t constant_1_over_3 = 715827883;
    const int32_t x = a + (1 << 28);
    const int32_t x2 = vad_srdhm(x, x);
    const int32_t x3 = vad_srdhm(x2, x);
    const int32_t x4 = vad_srdhm(x2, x2);
    const int32_t x4_over_4 = vad_rdbpot(x4, 2);
    const int32_t poly = vad_rdbpot(vad_srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1);
    return constant_term + vad_srdhm(constant_term, x + poly);
}

/* exp(a) for a <= 0, a in Q5.26, result Q0.31 */
static int32_t exp_on_negative_values_q5(int32_t a)
{
    enum { kIntegerBits = 5, kFractionalBits = 26 };
    const int32_t one_quarter = 1 << (kFractionalBits - 2);
    const int32_t mask = one_quarter - 1;
    const int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result = exp_quarter(sat_shl(a_mod_quarter_minus_one_quarter, kIntegerBits));
    const int32_t remainder = a_mod_quarter_minus_one_quarter - a;
#define VAD_EXP_BARREL(exponent, multiplier)                                         \
    if (kIntegerBits > (exponent)) {                                                 \
        if (remainder & (1 << (kFractionalBits + (exponent)))) {                     \
            result = vad_srdhm(result, (multiplier));                                \
        }                                                                            \
    }
    VAD_EXP_BARREL(-2, 1672461947)
    VAD_EXP_BARREL(-1, 1302514674)
    VAD_EXP_BARREL(0, 790015084)
    VAD_EXP_BARREL(1, 290630308)
    VAD_EXP_BARREL(2, 39332535)
    VAD_EXP_BARREL(3, 720401)
    VAD_EXP_BARREL(4, 242)
#undef VAD_EXP_BARREL
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

/* 1 / (1 + x) for x in [0, 1), Q0.31 in and out */
static int32_t one_over_one_plus_x(int32_t a)
{
    int64_t sum = (int64_t)a + (int64_t)INT32_MAX;
    const int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    const int32_t c48_17 = 1515870810;
    const int32_t cneg32_17 = -1010580540;
    int32_t x = c48_17 + vad_srdhm(half_denominator, cneg32_17);
    int i;
    for (i = 0; i < 3; ++i) {
        const int32_t hdx = vad_srdhm(half_denominator, x);
        const int32_t one_minus = (1 << 29) - hdx;
        x = x + sat_shl(vad_srdhm(x, one_minus), 2);
    }
    return sat_shl(x, 1);
}

static int count_leading_zeros(uint32_t x)
{
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while (!(x & 0x80000000u)) {
        x <<= 1;
        ++n;
    }
    return n;
}

void vad_softmax_s8(const vad_softmax_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t i, c;
    for (i = 0; i < p->outer; ++i) {
        const int8_t *x = in + i * p->depth;
        int8_t *y = out + i * p->depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0; /* Q12.19 */
        int headroom_plus_one, num_bits_over_unit;
        int32_t shifted_scale;
        for (c = 0; c < p->depth; ++c) {
            max_in_row = VAD_MAX(max_in_row, (int32_t)x[c]);
        }
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled =
                    vad_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                sum_of_exps += vad_rdbpot(exp_on_negative_values_q5(rescaled), 12);
            }
        }
        headroom_plus_one = count_leading_zeros((uint32_t)sum_of_exps);
        num_bits_over_unit = 12 - headroom_plus_one;
        shifted_scale = one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - (1u << 31)));
        for (c = 0; c < p->depth; ++c) {
            const int32_t diff = (int32_t)x[c] - max_in_row;
            if (diff >= p->diff_min) {
                const int32_t rescaled =
                    vad_srdhm((int32_t)((uint32_t)diff << p->input_left_shift), p->input_multiplier);
                const int32_t e = exp_on_negative_values_q5(rescaled);
                const int32_t unsat =
                    vad_rdbpot(vad_srdhm(shifted_scale, e), num_bits_over_unit + 31 - 8);
                y[c] = (int8_t)clamp_i32(unsat - 128, -128, 127);
            } else {
                y[c] = -128;
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* PAD, QUANTIZE, CONCATENATION, copies                                      */
/* ------------------------------------------------------------------------- */

void vad_pad_s8(const vad_pad_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t i0, i1, i2, i3;
    int8_t *o = out;
    for (i0 = 0; i0 < p->out_shape[0]; ++i0) {
        const int32_t j0 = i0 - p->before[0];
        for (i1 = 0; i1 < p->out_shape[1]; ++i1) {
            const int32_t j1 = i1 - p->before[1];
            for (i2 = 0; i2 < p->out_shape[2]; ++i2) {
                const int32_t j2 = i2 - p->before[2];
                const int inside = j0 >= 0 && j0 < p->in_shape[0] && j1 >= 0 && j1 < p->in_shape[1] &&
                                   j2 >= 0 && j2 < p->in_shape[2];
                for (i3 = 0; i3 < p->out_shape[3]; ++i3) {
                    const int32_t j3 = i3 - p->before[3];
                    if (inside && j3 >= 0 && j3 < p->in_shape[3]) {
                        *o++ = in[((j0 * p->in_shape[1] + j1) * p->in_shape[2] + j2) * p->in_shape[3] + j3];
                    } else {
                        *o++ = (int8_t)p->pad_value;
                    }
                }
            }
        }
    }
}

void vad_requantize_s8(const vad_requant_params_t *p, const int8_t *in, int8_t *out)
{
    int32_t i;
    for (i = 0; i < p->size; ++i) {
        const int32_t v = vad_mbqm((int32_t)in[i] - p->in_zp, p->mult, p->shift) + p->out_zp;
        out[i] = (int8_t)clamp_i32(v, -128, 127);
    }
}

/* TFLM reference_ops::Concatenation: for each outer index, each input's contiguous slice
 * in input order. int8 inputs are copied unchanged (the generator checks that they share
 * the output's quantization). */
void vad_concat_s8(const vad_concat_params_t *p, const int8_t *const *in, int8_t *out)
{
    int32_t k, i;
    for (k = 0; k < p->outer; ++k) {
        for (i = 0; i < p->num_inputs; ++i) {
            const int32_t n = p->copy_size[i];
            memcpy(out, in[i] + k * n, (size_t)n);
            out += n;
        }
    }
}

void vad_copy_s8(const int8_t *in, int8_t *out, int32_t size)
{
    if (in != out) {
        memmove(out, in, (size_t)size);
    }
}
