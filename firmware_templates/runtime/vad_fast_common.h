/*
 * vadtool native int8 runtime: what the fast paths share (vad_kernels_fast.c,
 * vad_conv_fast.c): the DSP instructions (ACLE intrinsics on cores with the DSP extension,
 * plain C versions of the same instructions elsewhere), unaligned loads and the fast
 * requantization. Internal: included by the runtime's own sources only.
 */
#ifndef VAD_FAST_COMMON_H
#define VAD_FAST_COMMON_H

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
static inline uint32_t VAD_SXTB16(uint32_t x)
{
    const uint32_t lo = (uint32_t)(int32_t)(int8_t)(x & 0xFFu) & 0xFFFFu;
    const uint32_t hi = (uint32_t)(int32_t)(int8_t)((x >> 16) & 0xFFu) << 16;
    return lo | hi;
}
static inline int32_t VAD_SMLAD(uint32_t x, uint32_t y, int32_t acc)
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

/* (low half of lo, low half of hi) and (high half of lo, high half of hi): one PKHBT, one
 * PKHTB (vad_dw3_fast.c, vad_conv_first.c) */
#if defined(__ARM_FEATURE_DSP)
VAD_INLINE uint32_t vad_pk_lo2(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm("pkhbt %0, %1, %2, lsl #16" : "=r"(r) : "r"(lo), "r"(hi));
    return r;
}
VAD_INLINE uint32_t vad_pk_hi2(uint32_t lo, uint32_t hi)
{
    uint32_t r;
    __asm("pkhtb %0, %1, %2, asr #16" : "=r"(r) : "r"(hi), "r"(lo));
    return r;
}
#else
VAD_INLINE uint32_t vad_pk_lo2(uint32_t lo, uint32_t hi)
{
    return (lo & 0xFFFFu) | (hi << 16);
}
VAD_INLINE uint32_t vad_pk_hi2(uint32_t lo, uint32_t hi)
{
    return (hi & 0xFFFF0000u) | (lo >> 16);
}
#endif

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

/* im2col column of an interior pixel of a CONV_2D larger than 1x1 (vad_conv_first.c): 1 if
 * built, 0 if the generic im2col must */
int vad_im2col_rows(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col);
/* the same for the four output pixels pix .. pix + 3, columns kpad bytes apart */
int vad_im2col4_rows(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col);

/* DEPTHWISE_CONV_2D 3x3 (vad_dw3_fast.c): 1 if it ran the layer, 0 if not its shape */
int vad_dw3_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out);

#endif /* VAD_NO_FAST_PATHS */

#endif /* VAD_FAST_COMMON_H */
