/*
 * vadtool native int8 runtime: fast paths for DEPTHWISE_CONV_2D, ADD, MUL, AVERAGE_POOL_2D
 * (CONV_2D: vad_conv_fast.c).
 *
 * Same results as the reference kernels, bit for bit:
 *  - the input offset is folded into a per-channel bias (fbias) by the generator; taps
 *    outside the image read the input zero point, which contributes exactly 0;
 *  - accumulators are proven by the generator to stay below 2^30 in magnitude, which makes
 *    the requantization below equal to MultiplyByQuantizedMultiplier (double rounding);
 *  - products use SMLAD on sign-extended int8 pairs (SXTB16). With __ARM_FEATURE_DSP the
 *    ACLE intrinsics are used; otherwise plain C versions of the same instructions, so the
 *    host build runs the same algorithm.
 * Define VAD_NO_FAST_PATHS to use only the reference loops.
 */
#include "vad_fast_common.h"

#ifndef VAD_NO_FAST_PATHS

/* One group of 4 channels of one output pixel: taps given by TAP(j) (a pointer to the
 * pixel's channel 0 for tap j), 4 accumulators with SMLABB/SMLATT on sign-extended pairs
 * (c, c+2) and (c+1, c+3). */
#define VAD_DW_TAP(j)                                                  \
    do {                                                               \
        const uint32_t x_ = rd32(TAP(j) + c);                          \
        const uint32_t xl_ = VAD_SXTB16(x_), xh_ = VAD_SXTB16_ROR8(x_); \
        const uint32_t *w_ = w + (j) * half;                           \
        a0 = VAD_SMLABB(xl_, w_[0], a0);                               \
        a2 = VAD_SMLATT(xl_, w_[0], a2);                               \
        a1 = VAD_SMLABB(xh_, w_[1], a1);                               \
        a3 = VAD_SMLATT(xh_, w_[1], a3);                               \
    } while (0)

#define VAD_DW_GROUPS                                                                        \
    for (c = 0; c < C; c += 4) {                                                             \
        int32_t a0 = fbias[c], a1 = fbias[c + 1];                                            \
        int32_t a2 = fbias[c + 2], a3 = fbias[c + 3];                                        \
        const uint32_t *w = wpk + c / 2;                                                     \
        if (ntaps == 9) {                                                                    \
            VAD_DW_TAP(0); VAD_DW_TAP(1); VAD_DW_TAP(2); VAD_DW_TAP(3); VAD_DW_TAP(4);       \
            VAD_DW_TAP(5); VAD_DW_TAP(6); VAD_DW_TAP(7); VAD_DW_TAP(8);                      \
        } else {                                                                             \
            for (j = 0; j < ntaps; ++j) {                                                    \
                VAD_DW_TAP(j);                                                               \
            }                                                                                \
        }                                                                                    \
        o[c] = finish(a0, mult[c], rq_shift[c], rq_add[c], out_offset, act_min, act_max, generic, shift + c);     \
        o[c + 1] = finish(a1, mult[c + 1], rq_shift[c + 1], rq_add[c + 1], out_offset,       \
                          act_min, act_max, generic, shift + c + 1);                                                 \
        o[c + 2] = finish(a2, mult[c + 2], rq_shift[c + 2], rq_add[c + 2], out_offset,       \
                          act_min, act_max, generic, shift + c + 2);                                                 \
        o[c + 3] = finish(a3, mult[c + 3], rq_shift[c + 3], rq_add[c + 3], out_offset,       \
                          act_min, act_max, generic, shift + c + 3);                                                 \
    }

/* Depth multiplier 1, channels a multiple of 4. Interior pixels address taps as base +
 * offset; border pixels through a pointer table where taps outside the image point to a
 * row of zero points (which contribute exactly 0 with the folded bias). */
VAD_INLINE void dw_body(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out,
                        const int32_t act_min, const int32_t act_max, const int generic)
{
    const int32_t *const shift = p->shift;
    int8_t VAD_ALIGNED(4) zp_row[VAD_FAST_MAX_DW_C];
    const int8_t *tap[VAD_FAST_MAX_TAPS];
    int32_t offs[VAD_FAST_MAX_TAPS];
    const int32_t ntaps = p->k_h * p->k_w;
    const int32_t C = p->out_c;
    const int32_t half = C / 2;
    const int32_t out_offset = p->out_offset;
    const int32_t *const fbias = p->fbias;
    const int32_t *const mult = p->mult;
    const int32_t *const rq_shift = p->rq_shift;
    const int32_t *const rq_add = p->rq_add;
    const uint32_t *const wpk = (const uint32_t *)p->wpk;
    const int32_t eff_h = (p->k_h - 1) * p->dil_h + 1, eff_w = (p->k_w - 1) * p->dil_w + 1;
    const int32_t cstep = p->dil_w * C, rstep = p->dil_h * p->in_w * C;
    int32_t oy, ox, ky, kx, c, j;
    memset(zp_row, (int8_t)(-p->in_offset), (size_t)C);
    for (ky = 0, j = 0; ky < p->k_h; ++ky) {
        for (kx = 0; kx < p->k_w; ++kx) {
            offs[j++] = (ky * p->dil_h * p->in_w + kx * p->dil_w) * C;
        }
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int rows_in = iy0 >= 0 && iy0 + eff_h <= p->in_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            int8_t *o = out + (oy * p->out_w + ox) * C;
            if (rows_in && ix0 >= 0 && ix0 + eff_w <= p->in_w) {
                const int8_t *base = in + (iy0 * p->in_w + ix0) * C;
                if (ntaps == 9 && p->k_w == 3) {
                    /* 3x3 interior: three rows of three taps, row pointer + column step */
                    for (c = 0; c < C; c += 4) {
                        int32_t a0 = fbias[c], a1 = fbias[c + 1];
                        int32_t a2 = fbias[c + 2], a3 = fbias[c + 3];
                        const uint32_t *w = wpk + c / 2;
                        const int8_t *r = base + c;
                        for (ky = 0; ky < 3; ++ky, r += rstep, w += 3 * half) {
                            uint32_t x = rd32(r), xl = VAD_SXTB16(x), xh = VAD_SXTB16_ROR8(x);
                            a0 = VAD_SMLABB(xl, w[0], a0);
                            a2 = VAD_SMLATT(xl, w[0], a2);
                            a1 = VAD_SMLABB(xh, w[1], a1);
                            a3 = VAD_SMLATT(xh, w[1], a3);
                            x = rd32(r + cstep);
                            xl = VAD_SXTB16(x);
                            xh = VAD_SXTB16_ROR8(x);
                            a0 = VAD_SMLABB(xl, w[half], a0);
                            a2 = VAD_SMLATT(xl, w[half], a2);
                            a1 = VAD_SMLABB(xh, w[half + 1], a1);
                            a3 = VAD_SMLATT(xh, w[half + 1], a3);
                            x = rd32(r + 2 * cstep);
                            xl = VAD_SXTB16(x);
                            xh = VAD_SXTB16_ROR8(x);
                            a0 = VAD_SMLABB(xl, w[2 * half], a0);
                            a2 = VAD_SMLATT(xl, w[2 * half], a2);
                            a1 = VAD_SMLABB(xh, w[2 * half + 1], a1);
                            a3 = VAD_SMLATT(xh, w[2 * half + 1], a3);
                        }
                        o[c] = finish(a0, mult[c], rq_shift[c], rq_add[c], out_offset, act_min,
                                      act_max, generic, shift + c);
                        o[c + 1] = finish(a1, mult[c + 1], rq_shift[c + 1], rq_add[c + 1],
                                          out_offset, act_min, act_max, generic, shift + c + 1);
                        o[c + 2] = finish(a2, mult[c + 2], rq_shift[c + 2], rq_add[c + 2],
                                          out_offset, act_min, act_max, generic, shift + c + 2);
                        o[c + 3] = finish(a3, mult[c + 3], rq_shift[c + 3], rq_add[c + 3],
                                          out_offset, act_min, act_max, generic, shift + c + 3);
                    }
                    continue;
                }
#define TAP(j) (base + offs[j])
                VAD_DW_GROUPS
#undef TAP
            } else {
                j = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + ky * p->dil_h;
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + kx * p->dil_w;
                        tap[j++] = (iy < 0 || iy >= p->in_h || ix < 0 || ix >= p->in_w)
                                       ? zp_row
                                       : in + (iy * p->in_w + ix) * C;
                    }
                }
#define TAP(j) (tap[j])
                VAD_DW_GROUPS
#undef TAP
            }
        }
    }
}

static void dw_fast(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out)
{
    if (p->fast == 2) {
        dw_body(p, in, out, p->act_min, p->act_max, 1);
    } else if (p->act_min == -128 && p->act_max == 127) {
        dw_body(p, in, out, -128, 127, 0);
    } else {
        dw_body(p, in, out, p->act_min, p->act_max, 0);
    }
}

/* MultiplyByQuantizedMultiplier(x, mult, -e) for |x| < 2^30, e >= 0 (double rounding). */
VAD_INLINE int32_t rq_small(int32_t x, int32_t mult, int32_t e)
{
    int32_t t;
#if defined(__ARM_FEATURE_DSP)
    __asm("smmulr %0, %1, %2" : "=r"(t) : "r"(x * 2), "r"(mult));
#else
    t = (int32_t)(((int64_t)x * mult + ((int64_t)1 << 30)) >> 31);
#endif
    if (e == 0) {
        return t;
    }
    return (t + (1 << (e - 1)) + (t >> 31)) >> e;
}

/* ADD / MUL over the broadcast loop, with the requantizations inlined. The operands are
 * int8 and left_shift <= 20, so every value requantized stays below 2^30 in magnitude. */
VAD_INLINE void binary_fast(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2,
                            int8_t *out, const int is_add)
{
    const int32_t o1 = p->in1_offset, o2 = p->in2_offset, oo = p->out_offset;
    const int32_t ls = p->left_shift;
    const int32_t m1 = p->in1_mult, e1 = -p->in1_shift, m2 = p->in2_mult, e2 = -p->in2_shift;
    const int32_t mo = p->out_mult, eo = -p->out_shift;
    const int32_t lo = p->act_min, hi = p->act_max;
    const int32_t sa = p->stride1[3], sb = p->stride2[3], n3 = p->shape[3];
    int32_t i0, i1, i2, i3;
    int8_t *o = out;
    for (i0 = 0; i0 < p->shape[0]; ++i0) {
        for (i1 = 0; i1 < p->shape[1]; ++i1) {
            for (i2 = 0; i2 < p->shape[2]; ++i2) {
                const int8_t *a = in1 + i0 * p->stride1[0] + i1 * p->stride1[1] + i2 * p->stride1[2];
                const int8_t *b = in2 + i0 * p->stride2[0] + i1 * p->stride2[1] + i2 * p->stride2[2];
                for (i3 = 0; i3 < n3; ++i3) {
                    const int32_t v1 = o1 + a[i3 * sa], v2 = o2 + b[i3 * sb];
                    int32_t v;
                    if (is_add) {
                        v = rq_small(v1 * (1 << ls), m1, e1) + rq_small(v2 * (1 << ls), m2, e2);
                        v = rq_small(v, mo, eo) + oo;
                    } else {
                        v = rq_small(v1 * v2, mo, eo) + oo;
                    }
                    v = v < lo ? lo : v;
                    v = v > hi ? hi : v;
                    *o++ = (int8_t)v;
                }
            }
        }
    }
}

/* AVERAGE_POOL_2D: the reference arithmetic (sum of the cells inside the image, divided by
 * their count with rounding half away from zero), with the window walked by pointers. */
static void avgpool_fast(const vad_pool_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t C = p->c, in_h = p->in_h, in_w = p->in_w, k_h = p->k_h, k_w = p->k_w;
    const int32_t lo = p->act_min, hi = p->act_max, row = in_w * C;
    int32_t oy, ox, c, fy, fx;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        const int32_t fy0 = iy0 < 0 ? -iy0 : 0;
        const int32_t fy1 = in_h - iy0 < k_h ? in_h - iy0 : k_h;
        for (ox = 0; ox < p->out_w; ++ox) {
            const int32_t ix0 = ox * p->stride_w - p->pad_w;
            const int32_t fx0 = ix0 < 0 ? -ix0 : 0;
            const int32_t fx1 = in_w - ix0 < k_w ? in_w - ix0 : k_w;
            const int32_t count = (fy1 - fy0) * (fx1 - fx0);
            const int8_t *win = in + ((iy0 + fy0) * in_w + (ix0 + fx0)) * C;
            const int32_t nh = fy1 - fy0, nw = fx1 - fx0;
            for (c = 0; c < C; ++c) {
                const int8_t *r = win + c;
                int32_t acc = 0;
                for (fy = 0; fy < nh; ++fy, r += row) {
                    const int8_t *q = r;
                    for (fx = 0; fx < nw; ++fx, q += C) {
                        acc += *q;
                    }
                }
                if (count > 0) {
                    acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                }
                acc = acc < lo ? lo : acc;
                acc = acc > hi ? hi : acc;
                *out++ = (int8_t)acc;
            }
        }
    }
}

#endif /* VAD_NO_FAST_PATHS */

void vad_avgpool_s8(const vad_pool_params_t *p, const int8_t *in, int8_t *out)
{
#ifndef VAD_NO_FAST_PATHS
    avgpool_fast(p, in, out);
#else
    vad_avgpool_s8_ref(p, in, out);
#endif
}

void vad_add_s8(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#if !defined(VAD_NO_FAST_PATHS) && !VAD_SINGLE_ROUNDING
    if (p->in1_shift <= 0 && p->in2_shift <= 0 && p->out_shift <= 0 && p->left_shift <= 20) {
        binary_fast(p, in1, in2, out, 1);
        return;
    }
#endif
    vad_add_s8_ref(p, in1, in2, out);
}

void vad_mul_s8(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out)
{
#if !defined(VAD_NO_FAST_PATHS) && !VAD_SINGLE_ROUNDING
    if (p->out_shift <= 0) {
        binary_fast(p, in1, in2, out, 0);
        return;
    }
#endif
    vad_mul_s8_ref(p, in1, in2, out);
}

void vad_dwconv2d_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out)
{
#ifndef VAD_NO_FAST_PATHS
    if (p->dw3 && vad_dw3_s8(p, in, out)) {
        return;
    }
    if (p->fast && p->depth_mult == 1 && (p->out_c & 3) == 0 && p->out_c <= VAD_FAST_MAX_DW_C &&
        p->k_h * p->k_w <= VAD_FAST_MAX_TAPS) {
        dw_fast(p, in, out);
        return;
    }
#endif
    vad_dwconv2d_s8_ref(p, in, out);
}
