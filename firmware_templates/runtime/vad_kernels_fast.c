/*
 * vadtool native int8 runtime: fast paths for CONV_2D and DEPTHWISE_CONV_2D.
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
#include "vad_kernels.h"

#include <string.h>

#if defined(__GNUC__) && !defined(__clang__) && defined(__ARM_FEATURE_DSP)
/* GCC's pre-register-allocation scheduler hoists the many independent loads of these loops
 * and then spills them; without it the Cortex-M4 build needs ~6 % fewer instructions. */
#pragma GCC optimize("no-schedule-insns")
#endif

#ifndef VAD_NO_FAST_PATHS

#if defined(__ARM_FEATURE_DSP)
#include <arm_acle.h>
#define VAD_SXTB16(x) ((uint32_t)__sxtb16((int32_t)(x)))
#define VAD_SMLAD(x, y, acc) __smlad((int32_t)(x), (int32_t)(y), (acc))
/* SXTB16 of the word rotated right by 8 (bytes 1 and 3), one instruction */
#define VAD_SMLABB(x, y, acc) __smlabb((int32_t)(x), (int32_t)(y), (acc))
#define VAD_SMLATT(x, y, acc) __smlatt((int32_t)(x), (int32_t)(y), (acc))
static inline __attribute__((always_inline)) uint32_t VAD_SXTB16_ROR8(uint32_t x)
{
    uint32_t r;
    __asm("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
#else
static uint32_t VAD_SXTB16(uint32_t x)
{
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) << 16;
    return lo | hi;
}
static int32_t VAD_SMLAD(uint32_t x, uint32_t y, int32_t acc)
{
    return acc + (int32_t)(int16_t)(x & 0xFFFFu) * (int32_t)(int16_t)(y & 0xFFFFu) +
           (int32_t)(int16_t)(x >> 16) * (int32_t)(int16_t)(y >> 16);
}
#define VAD_SXTB16_ROR8(x) VAD_SXTB16(((x) >> 8) | ((x) << 24))
#define VAD_SMLABB(x, y, acc) \
    ((acc) + (int32_t)(int16_t)((x) & 0xFFFFu) * (int32_t)(int16_t)((y) & 0xFFFFu))
#define VAD_SMLATT(x, y, acc) ((acc) + (int32_t)(int16_t)((x) >> 16) * (int32_t)(int16_t)((y) >> 16))
#endif

#if defined(__GNUC__)
#define VAD_INLINE static inline __attribute__((always_inline))
#else
#define VAD_INLINE static inline
#endif

VAD_INLINE uint32_t rd32(const int8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Requantize, add the output offset and clamp: equal to vad_mbqm(acc, mult, -e) + out_offset
 * when |acc| < 2^30 and e >= 1 (both checked by the generator for every fast layer), with
 * rnd = 2^(e-1). Channels with e = 0 (fast == 2 layers) take vad_mbqm instead:
 *   t = SaturatingRoundingDoublingHighMul(acc, mult) = round((2 acc) * mult / 2^32)
 *   RoundingDivideByPOT(t, e) = (t + rnd - (t < 0)) >> e
 * Scalars only: int8 stores alias everything, so nothing is re-read through a pointer. */
VAD_INLINE int8_t finish(int32_t acc, int32_t mult, int32_t e, int32_t rnd, int32_t out_offset,
                         int32_t act_min, int32_t act_max, const int generic, const int32_t *shift)
{
    int32_t t, v;
    if (generic && e == 0) { /* channel the generator could not prove safe: exact generic path */
        v = vad_mbqm(acc, mult, *shift) + out_offset;
        v = v < act_min ? act_min : v;
        v = v > act_max ? act_max : v;
        return (int8_t)v;
    }
#if VAD_SINGLE_ROUNDING
    v = vad_mbqm(acc, mult, -e) + out_offset;
    (void)rnd;
#else
#if defined(__ARM_FEATURE_DSP)
    __asm("smmulr %0, %1, %2" : "=r"(t) : "r"(acc * 2), "r"(mult));
#else
    t = (int32_t)(((int64_t)acc * mult + ((int64_t)1 << 30)) >> 31);
#endif
    v = ((t + rnd + (t >> 31)) >> e) + out_offset;
#endif
#if defined(__ARM_FEATURE_DSP)
    if (act_min == -128 && act_max == 127) { /* constant in the specialised callers */
        return (int8_t)__ssat(v, 8);
    }
#endif
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* Column of one output pixel (k_h*k_w*in_c values, zero point outside the image). */
static void im2col(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t oy = pix / p->out_w, ox = pix % p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)(-p->in_offset);
    const int32_t row = p->k_w * p->in_c;
    int32_t ky, kx, k = 0;
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + ky * p->dil_h;
        if (iy < 0 || iy >= p->in_h) {
            memset(col + k, zp, (size_t)row);
            k += row;
            continue;
        }
        for (kx = 0; kx < p->k_w; ++kx) {
            const int32_t ix = ix0 + kx * p->dil_w;
            if (ix < 0 || ix >= p->in_w) {
                memset(col + k, zp, (size_t)p->in_c);
            } else if (p->in_c == 3) { /* RGB input layer: no library call per tap */
                const int8_t *src = in + (iy * p->in_w + ix) * 3;
                col[k] = src[0];
                col[k + 1] = src[1];
                col[k + 2] = src[2];
            } else {
                memcpy(col + k, in + (iy * p->in_w + ix) * p->in_c, (size_t)p->in_c);
            }
            k += p->in_c;
        }
    }
    for (; k < p->kpad; ++k) {
        col[k] = 0;
    }
}

/* Widen two columns of kpad int8 values (kpad a multiple of 4) to int16 pairs, interleaved per
 * group of 4 values: a(0,2) a(1,3) b(0,2) b(1,3). SXTB16 and SXTB16 ROR #8 give this order in
 * two instructions; the generator lays the filter rows out in the same order (wfast). */
VAD_INLINE void widen2(const int8_t *a, const int8_t *b, uint32_t *dst, int32_t kpad)
{
    int32_t k;
    for (k = 0; k < kpad; k += 4, dst += 4) {
        const uint32_t xa = rd32(a + k), xb = rd32(b + k);
        dst[0] = VAD_SXTB16(xa);
        dst[1] = VAD_SXTB16_ROR8(xa);
        dst[2] = VAD_SXTB16(xb);
        dst[3] = VAD_SXTB16_ROR8(xb);
    }
}

/* The block's inner loop: per group of 4 values of the two columns (x: xa(0,2) xa(1,3) xb(0,2)
 * xb(1,3)) and of the two filter rows (w: w0(0,2) w0(1,3) w1(0,2) w1(1,3)), 8 SMLADs. On the
 * DSP cores the loop is written out, two groups per iteration (4 LDRD and 8 SMLAD per 16 MACs):
 * the compiler's version split the loads and spent 18 instructions. kq >= 1. */
VAD_INLINE void dot_2x2(const uint32_t *xp, const uint32_t *w, int32_t kq, int32_t *pa0,
                        int32_t *pa1, int32_t *pb0, int32_t *pb1)
{
    int32_t a0 = *pa0, a1 = *pa1, b0 = *pb0, b1 = *pb1;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    uint32_t x0, x1, x2, x3, w0, w1;
    __asm volatile(
        /* odd group count: one group first, then two per iteration */
        "tst %[n], #1\n\t"
        "beq 2f\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a0], %[x0], %[w0], %[a0]\n\t"
        "smlad %[a0], %[x1], %[w1], %[a0]\n\t"
        "smlad %[b0], %[x2], %[w0], %[b0]\n\t"
        "smlad %[b0], %[x3], %[w1], %[b0]\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a1], %[x0], %[w0], %[a1]\n\t"
        "smlad %[a1], %[x1], %[w1], %[a1]\n\t"
        "smlad %[b1], %[x2], %[w0], %[b1]\n\t"
        "smlad %[b1], %[x3], %[w1], %[b1]\n\t"
        "2:\n\t"
        "lsrs %[n], %[n], #1\n\t"
        "beq 3f\n\t"
        "1:\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a0], %[x0], %[w0], %[a0]\n\t"
        "smlad %[a0], %[x1], %[w1], %[a0]\n\t"
        "smlad %[b0], %[x2], %[w0], %[b0]\n\t"
        "smlad %[b0], %[x3], %[w1], %[b0]\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a1], %[x0], %[w0], %[a1]\n\t"
        "smlad %[a1], %[x1], %[w1], %[a1]\n\t"
        "smlad %[b1], %[x2], %[w0], %[b1]\n\t"
        "smlad %[b1], %[x3], %[w1], %[b1]\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a0], %[x0], %[w0], %[a0]\n\t"
        "smlad %[a0], %[x1], %[w1], %[a0]\n\t"
        "smlad %[b0], %[x2], %[w0], %[b0]\n\t"
        "smlad %[b0], %[x3], %[w1], %[b0]\n\t"
        "ldrd %[w0], %[w1], [%[wp]], #8\n\t"
        "smlad %[a1], %[x0], %[w0], %[a1]\n\t"
        "smlad %[a1], %[x1], %[w1], %[a1]\n\t"
        "smlad %[b1], %[x2], %[w0], %[b1]\n\t"
        "smlad %[b1], %[x3], %[w1], %[b1]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "3:\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [xp] "+r"(xp),
          [wp] "+r"(w), [n] "+r"(kq), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),
          [x3] "=&r"(x3), [w0] "=&r"(w0), [w1] "=&r"(w1)
        :
        : "cc", "memory");
#else
    for (; kq > 0; --kq, xp += 4, w += 4) {
        const uint32_t xa0 = xp[0], xa1 = xp[1], xb0 = xp[2], xb1 = xp[3];
        a0 = VAD_SMLAD(xa0, w[0], a0);
        a0 = VAD_SMLAD(xa1, w[1], a0);
        b0 = VAD_SMLAD(xb0, w[0], b0);
        b0 = VAD_SMLAD(xb1, w[1], b0);
        a1 = VAD_SMLAD(xa0, w[2], a1);
        a1 = VAD_SMLAD(xa1, w[3], a1);
        b1 = VAD_SMLAD(xb0, w[2], b1);
        b1 = VAD_SMLAD(xb1, w[3], b1);
    }
#endif
    *pa0 = a0;
    *pa1 = a1;
    *pb0 = b0;
    *pb1 = b1;
}

/* dot_2x2 on int8 filter words (wfast16 = 0): each word widened with SXTB16 and SXTB16 ROR #8
 * as it is read, in the order of the columns (2 LDRD, 2 LDR, 4 SXTB16, 8 SMLAD per 16 MACs on
 * the DSP cores). */
VAD_INLINE void dot_2x2_s8(const uint32_t *xp, const uint32_t *w, int32_t kq, int32_t *pa0,
                           int32_t *pa1, int32_t *pb0, int32_t *pb1)
{
    int32_t a0 = *pa0, a1 = *pa1, b0 = *pb0, b1 = *pb1;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    uint32_t x0, x1, x2, x3, wl, wh;
    __asm volatile(
        /* odd group count: one group first, then two per iteration */
        "tst %[n], #1\n\t"
        "beq 2f\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a0], %[x0], %[wl], %[a0]\n\t"
        "smlad %[a0], %[x1], %[wh], %[a0]\n\t"
        "smlad %[b0], %[x2], %[wl], %[b0]\n\t"
        "smlad %[b0], %[x3], %[wh], %[b0]\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a1], %[x0], %[wl], %[a1]\n\t"
        "smlad %[a1], %[x1], %[wh], %[a1]\n\t"
        "smlad %[b1], %[x2], %[wl], %[b1]\n\t"
        "smlad %[b1], %[x3], %[wh], %[b1]\n\t"
        "2:\n\t"
        "lsrs %[n], %[n], #1\n\t"
        "beq 3f\n\t"
        "1:\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a0], %[x0], %[wl], %[a0]\n\t"
        "smlad %[a0], %[x1], %[wh], %[a0]\n\t"
        "smlad %[b0], %[x2], %[wl], %[b0]\n\t"
        "smlad %[b0], %[x3], %[wh], %[b0]\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a1], %[x0], %[wl], %[a1]\n\t"
        "smlad %[a1], %[x1], %[wh], %[a1]\n\t"
        "smlad %[b1], %[x2], %[wl], %[b1]\n\t"
        "smlad %[b1], %[x3], %[wh], %[b1]\n\t"
        "ldrd %[x2], %[x3], [%[xp], #8]\n\t"
        "ldrd %[x0], %[x1], [%[xp]], #16\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a0], %[x0], %[wl], %[a0]\n\t"
        "smlad %[a0], %[x1], %[wh], %[a0]\n\t"
        "smlad %[b0], %[x2], %[wl], %[b0]\n\t"
        "smlad %[b0], %[x3], %[wh], %[b0]\n\t"
        "ldr %[wl], [%[wp]], #4\n\t"
        "sxtb16 %[wh], %[wl], ror #8\n\t"
        "sxtb16 %[wl], %[wl]\n\t"
        "smlad %[a1], %[x0], %[wl], %[a1]\n\t"
        "smlad %[a1], %[x1], %[wh], %[a1]\n\t"
        "smlad %[b1], %[x2], %[wl], %[b1]\n\t"
        "smlad %[b1], %[x3], %[wh], %[b1]\n\t"
        "subs %[n], %[n], #1\n\t"
        "bne 1b\n\t"
        "3:\n\t"
        : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [xp] "+r"(xp),
          [wp] "+r"(w), [n] "+r"(kq), [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2),
          [x3] "=&r"(x3), [wl] "=&r"(wl), [wh] "=&r"(wh)
        :
        : "cc", "memory");
#else
    for (; kq > 0; --kq, xp += 4, w += 2) {
        const uint32_t xa0 = xp[0], xa1 = xp[1], xb0 = xp[2], xb1 = xp[3];
        const uint32_t w0l = VAD_SXTB16(w[0]), w0h = VAD_SXTB16_ROR8(w[0]);
        const uint32_t w1l = VAD_SXTB16(w[1]), w1h = VAD_SXTB16_ROR8(w[1]);
        a0 = VAD_SMLAD(xa0, w0l, a0);
        a0 = VAD_SMLAD(xa1, w0h, a0);
        b0 = VAD_SMLAD(xb0, w0l, b0);
        b0 = VAD_SMLAD(xb1, w0h, b0);
        a1 = VAD_SMLAD(xa0, w1l, a1);
        a1 = VAD_SMLAD(xa1, w1h, a1);
        b1 = VAD_SMLAD(xb0, w1l, b1);
        b1 = VAD_SMLAD(xb1, w1h, b1);
    }
#endif
    *pa0 = a0;
    *pa1 = a1;
    *pb0 = b0;
    *pb1 = b1;
}

/* Two widened columns (x: kpad/4 groups of 4 words, see widen2) times all output channels, a
 * block of 2 pixels x 2 channels at a time (dot_2x2). Requantization after the sum. */
VAD_INLINE void gemm_2cols(const vad_conv_params_t *p, const uint32_t *x, int8_t *oa, int8_t *ob,
                           const int32_t act_min, const int32_t act_max, const int generic,
                           const int w16)
{
    const int32_t kq = p->kpad >> 2, out_c = p->out_c;
    const int32_t out_offset = p->out_offset;
    const uint32_t *w = (const uint32_t *)p->wfast;
    const int32_t wstep = w16 ? 4 * kq : 2 * kq; /* words per channel pair */
    const int32_t *r = p->rq;
    int32_t oc;
    for (oc = 0; oc + 1 < out_c; oc += 2, r += 8, w += wstep) {
        int32_t a0 = r[0], a1 = r[4];
        int32_t b0 = a0, b1 = a1;
        if (w16) {
            dot_2x2(x, w, kq, &a0, &a1, &b0, &b1);
        } else {
            dot_2x2_s8(x, w, kq, &a0, &a1, &b0, &b1);
        }
        oa[oc] = finish(a0, r[1], r[2], r[3], out_offset, act_min, act_max, generic, p->shift + oc);
        oa[oc + 1] = finish(a1, r[5], r[6], r[7], out_offset, act_min, act_max, generic,
                            p->shift + oc + 1);
        if (ob) {
            ob[oc] = finish(b0, r[1], r[2], r[3], out_offset, act_min, act_max, generic,
                            p->shift + oc);
            ob[oc + 1] = finish(b1, r[5], r[6], r[7], out_offset, act_min, act_max, generic,
                                p->shift + oc + 1);
        }
    }
    if (oc < out_c) { /* odd channel count: the last channel alone */
        const uint32_t *xp = x;
        int32_t a0 = r[0], b0 = a0, k;
        for (k = kq; k > 0; --k, xp += 4) {
            uint32_t wl, wh;
            if (w16) {
                wl = w[0];
                wh = w[1];
                w += 2;
            } else {
                wl = VAD_SXTB16(w[0]);
                wh = VAD_SXTB16_ROR8(w[0]);
                w += 1;
            }
            a0 = VAD_SMLAD(xp[0], wl, a0);
            a0 = VAD_SMLAD(xp[1], wh, a0);
            b0 = VAD_SMLAD(xp[2], wl, b0);
            b0 = VAD_SMLAD(xp[3], wh, b0);
        }
        oa[oc] = finish(a0, r[1], r[2], r[3], out_offset, act_min, act_max, generic, p->shift + oc);
        if (ob) {
            ob[oc] = finish(b0, r[1], r[2], r[3], out_offset, act_min, act_max, generic,
                            p->shift + oc);
        }
    }
}

/* Specialised for the full int8 range (the clamp becomes one SSAT) and the filter layout. */
#define VAD_GEMM_VARIANT(name, lo, hi, generic, w16)                                              \
    static void name(const vad_conv_params_t *p, const uint32_t *x, int8_t *oa, int8_t *ob)     \
    {                                                                                             \
        gemm_2cols(p, x, oa, ob, (lo), (hi), (generic), (w16));                                   \
    }
VAD_GEMM_VARIANT(gemm_full_w16, -128, 127, 0, 1)
VAD_GEMM_VARIANT(gemm_clamp_w16, p->act_min, p->act_max, 0, 1)
VAD_GEMM_VARIANT(gemm_generic_w16, p->act_min, p->act_max, 1, 1)
VAD_GEMM_VARIANT(gemm_full_w8, -128, 127, 0, 0)
VAD_GEMM_VARIANT(gemm_clamp_w8, p->act_min, p->act_max, 0, 0)
VAD_GEMM_VARIANT(gemm_generic_w8, p->act_min, p->act_max, 1, 0)

typedef void (*vad_gemm_fn)(const vad_conv_params_t *, const uint32_t *, int8_t *, int8_t *);

static vad_gemm_fn pick_gemm(const vad_conv_params_t *p)
{
    const int full = p->act_min == -128 && p->act_max == 127;
    if (p->wfast16) {
        return p->fast == 2 ? gemm_generic_w16 : full ? gemm_full_w16 : gemm_clamp_w16;
    }
    return p->fast == 2 ? gemm_generic_w8 : full ? gemm_full_w8 : gemm_clamp_w8;
}

/* 1x1, stride 1, no padding, in_c a multiple of 4: the input pixels are the columns. */
static int conv_direct(const vad_conv_params_t *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
           p->pad_w == 0 && p->kpad == p->in_c;
}

/* Two output pixels at a time: their columns (the input pixels themselves for direct layers,
 * else im2col into the int8 part of the scratch) widened into the int16 part. Scratch layout:
 * [0, 4 kpad) widened pair, [4 kpad, 6 kpad) int8 columns (non-direct layers only). */
static void conv_fast(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t npix = p->out_h * p->out_w, kpad = p->kpad;
    const int direct = conv_direct(p);
    uint32_t *const xw = (uint32_t *)(void *)p->scratch;
    int8_t *const col = p->scratch + 4 * kpad;
    const vad_gemm_fn gemm = pick_gemm(p);
    int32_t pix;
    for (pix = 0; pix < npix; pix += 2) {
        const int two = pix + 1 < npix;
        const int8_t *a, *b;
        if (direct) {
            a = in + pix * p->in_c;
            b = two ? a + p->in_c : a;
        } else {
            im2col(p, in, pix, col);
            a = col;
            b = col;
            if (two) {
                im2col(p, in, pix + 1, col + kpad);
                b = col + kpad;
            }
        }
        widen2(a, b, xw, kpad);
        gemm(p, xw, out + pix * p->out_c, two ? out + (pix + 1) * p->out_c : 0);
    }
}

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

void vad_conv2d_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
#ifndef VAD_NO_FAST_PATHS
    if (p->fast && p->scratch) {
        conv_fast(p, in, out);
        return;
    }
#endif
    vad_conv2d_s8_ref(p, in, out);
}

void vad_dwconv2d_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out)
{
#ifndef VAD_NO_FAST_PATHS
    if (p->fast && p->depth_mult == 1 && (p->out_c & 3) == 0 && p->out_c <= VAD_FAST_MAX_DW_C &&
        p->k_h * p->k_w <= VAD_FAST_MAX_TAPS) {
        dw_fast(p, in, out);
        return;
    }
#endif
    vad_dwconv2d_s8_ref(p, in, out);
}
