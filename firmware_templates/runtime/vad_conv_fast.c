/*
 * vadtool native int8 runtime: the CONV_2D fast path.
 *
 * Two output pixels at a time: their columns (the input pixels of a direct 1x1 layer, else
 * im2col) widened once to int16 pairs, then a block of 2 pixels x 2 output channels per
 * SMLAD loop over the filter as the generator laid it out (vad_conv_params_t.wfast), and the
 * requantization after the sum. Bit-exact with vad_conv2d_s8_ref for the reasons given in
 * vad_kernels_fast.c. Define VAD_NO_FAST_PATHS to use only the reference loops.
 */
#include "vad_fast_common.h"

#ifndef VAD_NO_FAST_PATHS

/* Column of one output pixel (k_h*k_w*in_c values, zero point outside the image). */
static void im2col(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t oy = pix / p->out_w, ox = pix % p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int8_t zp = (int8_t)(-p->in_offset);
    const int32_t row = p->k_w * p->in_c;
    int32_t ky, kx, k = 0;
    if (vad_im2col_rows(p, in, pix, col)) { /* interior pixel: word copies (vad_conv_first.c) */
        return;
    }
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
VAD_INLINE void dot_2x2(const uint32_t *xp, const uint32_t **pw, int32_t kq, int32_t *pa0,
                        int32_t *pa1, int32_t *pb0, int32_t *pb1)
{
    int32_t a0 = *pa0, a1 = *pa1, b0 = *pb0, b1 = *pb1;
    const uint32_t *w = *pw;
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
    *pw = w;
}

/* dot_2x2 on int8 filter words (wfast16 = 0): each word widened with SXTB16 and SXTB16 ROR #8
 * as it is read, in the order of the columns (2 LDRD, 2 LDR, 4 SXTB16, 8 SMLAD per 16 MACs on
 * the DSP cores). */
VAD_INLINE void dot_2x2_s8(const uint32_t *xp, const uint32_t **pw, int32_t kq, int32_t *pa0,
                           int32_t *pa1, int32_t *pb0, int32_t *pb1)
{
    int32_t a0 = *pa0, a1 = *pa1, b0 = *pb0, b1 = *pb1;
    const uint32_t *w = *pw;
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
    *pw = w;
}

/* Widen four columns (the input pixels of a direct layer) to int16 pairs, per group of 4
 * values: p0(0,2) p0(1,3) p1(0,2) p1(1,3) p2(0,2) p2(1,3) p3(0,2) p3(1,3) (dot_4x2). */
VAD_INLINE void widen4(const int8_t *a, int32_t step, uint32_t *dst, int32_t kpad)
{
    int32_t k;
    for (k = 0; k < kpad; k += 4, a += 4, dst += 8) {
        const uint32_t x0 = rd32(a), x1 = rd32(a + step), x2 = rd32(a + 2 * step),
                       x3 = rd32(a + 3 * step);
        dst[0] = VAD_SXTB16(x0);
        dst[1] = VAD_SXTB16_ROR8(x0);
        dst[2] = VAD_SXTB16(x1);
        dst[3] = VAD_SXTB16_ROR8(x1);
        dst[4] = VAD_SXTB16(x2);
        dst[5] = VAD_SXTB16_ROR8(x2);
        dst[6] = VAD_SXTB16(x3);
        dst[7] = VAD_SXTB16_ROR8(x3);
    }
}

/* A block of 4 pixels x 2 channels: per group of 4 values, each channel's filter word (int8,
 * widened by SXTB16 and SXTB16 ROR #8 as read; or the two int16 pair words, w16) against the 4
 * widened columns (widen4): per 32 MACs 8 LDRD of the columns, 16 SMLAD and 2 LDR + 4 SXTB16
 * (int8) or 2 LDRD (int16). The 8 sums, 4 operands and 2 pointers take 14 registers, so the
 * loop ends on the filter pointer against its end in memory (3 instructions per 2 groups).
 * It needs r7 (the Thumb frame pointer) free: at -O0, and in builds with
 * -fno-omit-frame-pointer (define VAD_NO_ASM_4X2 there), the C loop runs instead. kq >= 1. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(VAD_NO_ASM_4X2)
#define VAD_ASM_4X2 1
#define VAD_4X2_W8 "ldr %[wh], [%[wp]], #4\n\tsxtb16 %[wl], %[wh]\n\tsxtb16 %[wh], %[wh], ror #8\n\t"
#define VAD_4X2_W16 "ldrd %[wl], %[wh], [%[wp]], #8\n\t"
#define VAD_4X2_PX(acc, off)                                                                      \
    "ldrd %[xl], %[xh], [%[xp], #" off "]\n\t"                                                   \
    "smlad %[" acc "], %[xl], %[wl], %[" acc "]\n\t"                                              \
    "smlad %[" acc "], %[xh], %[wh], %[" acc "]\n\t"
#define VAD_4X2_GROUP(W)                                                                          \
    W VAD_4X2_PX("a0", "0") VAD_4X2_PX("a1", "8") VAD_4X2_PX("a2", "16") VAD_4X2_PX("a3", "24") \
    W VAD_4X2_PX("c0", "0") VAD_4X2_PX("c1", "8") VAD_4X2_PX("c2", "16")                        \
    VAD_4X2_PX("c3", "24") "add %[xp], %[xp], #32\n\t"
#define VAD_4X2_OPS                                                                               \
    [a0] "+r"(a[0]), [a1] "+r"(a[1]), [a2] "+r"(a[2]), [a3] "+r"(a[3]), [c0] "+r"(c[0]),       \
        [c1] "+r"(c[1]), [c2] "+r"(c[2]), [c3] "+r"(c[3]), [xp] "+r"(xp), [wp] "+r"(w),          \
        [xl] "=&r"(xl), [xh] "=&r"(xh), [wl] "=&r"(wl), [wh] "=&r"(wh)
#endif

/* The next 4 filter values as two int16-pair words: read as laid out (int16 filters, w16) or
 * widened from one int8 word by SXTB16 and SXTB16 ROR #8. Returns the advanced pointer. */
VAD_INLINE const uint32_t *next_wpair(const uint32_t *w, const int w16, uint32_t *wl, uint32_t *wh)
{
    if (w16) {
        *wl = w[0];
        *wh = w[1];
        return w + 2;
    }
    *wl = VAD_SXTB16(w[0]);
    *wh = VAD_SXTB16_ROR8(w[0]);
    return w + 1;
}

VAD_INLINE void dot_4x2(const uint32_t *xp, const uint32_t **pw, int32_t kq, int32_t *a,
                        int32_t *c, const int w16)
{
    const uint32_t *w = *pw;
#ifdef VAD_ASM_4X2
    const uint32_t *const wend = w + (w16 ? 4 : 2) * kq;
    uint32_t xl, xh, wl, wh;
    if (kq & 1) {
        if (w16) {
            __asm volatile(VAD_4X2_GROUP(VAD_4X2_W16) : VAD_4X2_OPS : : "memory");
        } else {
            __asm volatile(VAD_4X2_GROUP(VAD_4X2_W8) : VAD_4X2_OPS : : "memory");
        }
    }
    if (kq > 1) {
        if (w16) {
            __asm volatile("1:\n\t" VAD_4X2_GROUP(VAD_4X2_W16) VAD_4X2_GROUP(VAD_4X2_W16)
                           "ldr %[xl], %[end]\n\t"
                           "cmp %[wp], %[xl]\n\t"
                           "bne 1b\n\t"
                           : VAD_4X2_OPS
                           : [end] "m"(wend)
                           : "cc", "memory");
        } else {
            __asm volatile("1:\n\t" VAD_4X2_GROUP(VAD_4X2_W8) VAD_4X2_GROUP(VAD_4X2_W8)
                           "ldr %[xl], %[end]\n\t"
                           "cmp %[wp], %[xl]\n\t"
                           "bne 1b\n\t"
                           : VAD_4X2_OPS
                           : [end] "m"(wend)
                           : "cc", "memory");
        }
    }
#else
    int32_t k, j;
    for (k = 0; k < kq; ++k, xp += 8) {
        for (j = 0; j < 2; ++j) {
            uint32_t wl, wh;
            int32_t *acc = j ? c : a;
            w = next_wpair(w, w16, &wl, &wh);
            acc[0] = VAD_SMLAD(xp[0], wl, VAD_SMLAD(xp[1], wh, acc[0]));
            acc[1] = VAD_SMLAD(xp[2], wl, VAD_SMLAD(xp[3], wh, acc[1]));
            acc[2] = VAD_SMLAD(xp[4], wl, VAD_SMLAD(xp[5], wh, acc[2]));
            acc[3] = VAD_SMLAD(xp[6], wl, VAD_SMLAD(xp[7], wh, acc[3]));
        }
    }
#endif
    *pw = w;
}

/* The columns of the blocks of 6 pixels (widen6): with the asm blocks (VAD_ASM_4X2) the
 * widened values are doubled (SADD16; int8 doubled fits int16): pairs_6x1_full's sums are then
 * 2 acc from a doubled bias, what SMMLAR takes, and need no shift each. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__) && !defined(VAD_NO_ASM_4X2)
#define VAD_X8(v) ((uint32_t)__sadd16((int32_t)(v), (int32_t)(v)))
#define VAD_X8_SHIFT 1 /* the sums of widen6's columns are acc << 1 */
#else
#define VAD_X8(v) (v)
#define VAD_X8_SHIFT 0
#endif
#if VAD_X8_SHIFT
/* Two pixels' words (at q and q + step) widened, doubled and stored at dst + off, off + 8. */
#define VAD_W8_TWO(off)                                                                           \
    "ldr %[t0], [%[q]]\n\t"                                                                       \
    "ldr %[t1], [%[q], %[st]]\n\t"                                                                \
    "sxtb16 %[t2], %[t0]\n\t"                                                                    \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                             \
    "sadd16 %[t2], %[t2], %[t2]\n\t"                                                              \
    "sadd16 %[t0], %[t0], %[t0]\n\t"                                                              \
    "strd %[t2], %[t0], [%[d], #" off "]\n\t"                                                     \
    "sxtb16 %[t2], %[t1]\n\t"                                                                    \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                             \
    "sadd16 %[t2], %[t2], %[t2]\n\t"                                                              \
    "sadd16 %[t1], %[t1], %[t1]\n\t"                                                              \
    "strd %[t2], %[t1], [%[d], #" off " + 8]\n\t"
/* the same not doubled (the int16 records of rec6 hold the filter doubled instead) */
#define VAD_W8_TWO_PLAIN(off)                                                                     \
    "ldr %[t0], [%[q]]\n\t"                                                                       \
    "ldr %[t1], [%[q], %[st]]\n\t"                                                                \
    "sxtb16 %[t2], %[t0]\n\t"                                                                    \
    "sxtb16 %[t0], %[t0], ror #8\n\t"                                                             \
    "strd %[t2], %[t0], [%[d], #" off "]\n\t"                                                     \
    "sxtb16 %[t2], %[t1]\n\t"                                                                    \
    "sxtb16 %[t1], %[t1], ror #8\n\t"                                                             \
    "strd %[t2], %[t1], [%[d], #" off " + 8]\n\t"
#endif


/* Requantization of the fast channels (fast == 1 and 3 layers), without the output offset:
 * vad_mbqm(acc, mult, -e) when |acc| < 2^30 (checked by the generator), as
 *   SMMLAR(2 acc, mult, rnd) = SaturatingRoundingDoublingHighMul(acc, mult) + 2^(e-1) = t + rnd
 *   RoundingDivideByPOT(t, e) = (t + rnd - (t < 0)) >> e, and (t < 0) may be (acc < 0):
 *   mult >= 0, so they differ only when t = 0, where (rnd - 1) >> e = rnd >> e = 0 for e >= 1.
 * ew is e in its low byte (the register shift reads no more). fast == 3 layers also have
 * channels with e = 0 (TFLM shift 0: the result is t itself): there bit 31 of ew is set on the
 * channels with e >= 1 only, and the sign correction is (ew & (acc >> 31)) >> 31 (zs = 1).
 * fast == 1 layers have e >= 1 everywhere and take the sign from acc alone (zs = 0). */
VAD_INLINE int32_t rq_fast(int32_t acc, int32_t mult, int32_t rnd, int32_t ew, const int zs)
{
    int32_t t;
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
    __asm("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(acc * 2), "r"(mult), "r"(rnd));
    if (zs) {
        t -= (int32_t)(((uint32_t)ew & (uint32_t)(acc >> 31)) >> 31);
    } else {
        t += acc >> 31;
    }
    __asm("asr %0, %1, %2" : "=r"(t) : "r"(t), "r"(ew));
#else
    t = (int32_t)(((int64_t)acc * mult + ((int64_t)1 << 30)) >> 31) + rnd;
    t -= zs ? (int32_t)(((uint32_t)ew >> 31) & (uint32_t)(acc < 0)) : (int32_t)(acc < 0);
    t >>= (ew & 31);
#endif
    return t;
}

/* rq_fast plus the output offset on sums held in registers, as asm text for blocks of them
 * (the channel's constants m, rnd, e and the offset z loaded once): VAD_RQ1 then VAD_RQ_SIGN
 * (zs = 0) or VAD_RQ_ZS (zs = 1, clobbers the sum) then VAD_RQ_END, per sum; t a temporary. */
#define VAD_RQ1(x) "lsl %[t], %[" x "], #1\n\tsmmlar %[t], %[t], %[m], %[rnd]\n\t"
#define VAD_RQ_SIGN(x) "add %[t], %[t], %[" x "], asr #31\n\t"
#define VAD_RQ_ZS(x) "and %[" x "], %[e], %[" x "], asr #31\n\tsub %[t], %[t], %[" x "], lsr #31\n\t"
#define VAD_RQ_END(x) "asr %[t], %[t], %[e]\n\tadd %[" x "], %[t], %[z]\n\t"

/* Output offset and clamp (one SSAT for the full int8 range, a constant in the callers). */
VAD_INLINE int8_t clamp_out(int32_t v, int32_t act_min, int32_t act_max)
{
#if defined(__ARM_FEATURE_DSP)
    if (act_min == -128 && act_max == 127) {
        return (int8_t)__ssat(v, 8);
    }
#endif
    v = v < act_min ? act_min : v;
    v = v > act_max ? act_max : v;
    return (int8_t)v;
}

/* One channel of both pixels (a, b): the channel's constants are read once. mode 1 and 3: the
 * fast requantization (rq_fast, zs = mode == 3); mode 2: finish(), vad_mbqm on e = 0. */
VAD_INLINE void store_ch(int32_t a, int32_t b, const int32_t *r, int8_t *oa, int8_t *ob,
                         int32_t out_offset, int32_t act_min, int32_t act_max, const int mode,
                         const int32_t *shift)
{
    if (mode == 2) {
        *oa = finish(a, r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
        *ob = finish(b, r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
        return;
    }
    {
        const int32_t mult = r[1], ew = r[2], rnd = r[3];
        *oa = clamp_out(rq_fast(a, mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
        *ob = clamp_out(rq_fast(b, mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
    }
}

/* Two widened columns (x: kpad/4 groups of 4 words, see widen2) times all output channels, a
 * block of 2 pixels x 2 channels at a time (dot_2x2). Requantization after the sum. ob may
 * equal oa (a lone last pixel: both columns are the same pixel, so are the bytes). */
VAD_INLINE void gemm_2cols(const vad_conv_params_t *p, const uint32_t *x, int8_t *oa, int8_t *ob,
                           const int32_t act_min, const int32_t act_max, const int mode,
                           const int w16)
{
    const int32_t kq = p->kpad >> 2, out_c = p->out_c;
    const int32_t out_offset = p->out_offset;
    const uint32_t *w = (const uint32_t *)p->wfast; /* each block advances it (dot_2x2) */
    const int32_t *r = p->rq;
    const int32_t *sh = p->shift;
    int32_t n;
    for (n = out_c >> 1; n > 0; --n, r += 8, oa += 2, ob += 2, sh += 2) {
        int32_t a0 = r[0], a1 = r[4];
        int32_t b0 = a0, b1 = a1;
        if (w16) {
            dot_2x2(x, &w, kq, &a0, &a1, &b0, &b1);
        } else {
            dot_2x2_s8(x, &w, kq, &a0, &a1, &b0, &b1);
        }
        store_ch(a0, b0, r, oa, ob, out_offset, act_min, act_max, mode, sh);
        store_ch(a1, b1, r + 4, oa + 1, ob + 1, out_offset, act_min, act_max, mode, sh + 1);
    }
    if (out_c & 1) { /* odd channel count: the last channel alone */
        const uint32_t *xp = x;
        int32_t a0 = r[0], b0 = a0, k;
        for (k = kq; k > 0; --k, xp += 4) {
            uint32_t wl, wh;
            w = next_wpair(w, w16, &wl, &wh);
            a0 = VAD_SMLAD(xp[0], wl, a0);
            a0 = VAD_SMLAD(xp[1], wh, a0);
            b0 = VAD_SMLAD(xp[2], wl, b0);
            b0 = VAD_SMLAD(xp[3], wh, b0);
        }
        store_ch(a0, b0, r, oa, ob, out_offset, act_min, act_max, mode, sh);
    }
}

/* One channel of four pixels (at o, o + step, ...): its constants read once, the four bytes
 * stored after all four are computed (an int8 store may alias the constants). */
VAD_INLINE void store_ch4(const int32_t *v, const int32_t *r, int8_t *o, int32_t step,
                          int32_t out_offset, int32_t act_min, int32_t act_max, const int mode,
                          const int32_t *shift)
{
    int8_t q0, q1, q2, q3;
    if (mode == 2) {
        q0 = finish(v[0], r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
        q1 = finish(v[1], r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
        q2 = finish(v[2], r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
        q3 = finish(v[3], r[1], r[2], r[3], out_offset, act_min, act_max, 1, shift);
    } else {
        const int32_t mult = r[1], ew = r[2], rnd = r[3];
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && defined(__OPTIMIZE__)
        /* rq_fast on the four sums in one block: the channel's constants stay in registers
         * (at -O0 GCC finds no registers for it: the C below) */
        int32_t v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3], t;
        if (mode == 3) {
            __asm(VAD_RQ1("v0") VAD_RQ_ZS("v0") VAD_RQ_END("v0") VAD_RQ1("v1") VAD_RQ_ZS("v1")
                      VAD_RQ_END("v1") VAD_RQ1("v2") VAD_RQ_ZS("v2") VAD_RQ_END("v2") VAD_RQ1("v3")
                          VAD_RQ_ZS("v3") VAD_RQ_END("v3")
                  : [v0] "+r"(v0), [v1] "+r"(v1), [v2] "+r"(v2), [v3] "+r"(v3), [t] "=&r"(t)
                  : [m] "r"(mult), [rnd] "r"(rnd), [e] "r"(ew), [z] "r"(out_offset));
        } else {
            __asm(VAD_RQ1("v0") VAD_RQ_SIGN("v0") VAD_RQ_END("v0") VAD_RQ1("v1") VAD_RQ_SIGN("v1")
                      VAD_RQ_END("v1") VAD_RQ1("v2") VAD_RQ_SIGN("v2") VAD_RQ_END("v2")
                          VAD_RQ1("v3") VAD_RQ_SIGN("v3") VAD_RQ_END("v3")
                  : [v0] "+r"(v0), [v1] "+r"(v1), [v2] "+r"(v2), [v3] "+r"(v3), [t] "=&r"(t)
                  : [m] "r"(mult), [rnd] "r"(rnd), [e] "r"(ew), [z] "r"(out_offset));
        }
        q0 = clamp_out(v0, act_min, act_max);
        q1 = clamp_out(v1, act_min, act_max);
        q2 = clamp_out(v2, act_min, act_max);
        q3 = clamp_out(v3, act_min, act_max);
#else
        q0 = clamp_out(rq_fast(v[0], mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
        q1 = clamp_out(rq_fast(v[1], mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
        q2 = clamp_out(rq_fast(v[2], mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
        q3 = clamp_out(rq_fast(v[3], mult, rnd, ew, mode == 3) + out_offset, act_min, act_max);
#endif
    }
    o[0] = q0;
    o[step] = q1;
    o[2 * step] = q2;
    o[3 * step] = q3;
}

#ifdef VAD_ASM_4X2
/* The 8 sums of a 4 x 2 block (fast == 1, full int8 range) requantized in one asm statement
 * (rq_fast, offset, SSAT), each pixel's two channels stored as one halfword (BFI, STRH: the
 * Cortex-M's unaligned stores): 8 instructions per output. The sums and 5 temporaries take
 * 13 registers; the constants' and output pointers, offset and step come from memory. */
VAD_INLINE void store_2x4_full(int32_t *a, int32_t *c, const int32_t *r, int8_t *o, int32_t step,
                               int32_t out_offset)
{
    int32_t a0 = a[0], a1 = a[1], a2 = a[2], a3 = a[3], c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    int32_t m, rnd, e, t, z;
#define VAD_RQ8(x) VAD_RQ1(x) VAD_RQ_SIGN(x) VAD_RQ_END(x) "ssat %[" x "], #8, %[" x "]\n\t"
#define VAD_PAIR(x, y) "bfi %[" x "], %[" y "], #8, #8\n\t"
    __asm volatile("ldr %[z], %[zp]\n\t"
                   "ldr %[t], %[rp]\n\t"
                   "ldrd %[m], %[e], [%[t], #4]\n\t"
                   "ldr %[rnd], [%[t], #12]\n\t" VAD_RQ8("a0") VAD_RQ8("a1") VAD_RQ8("a2")
                       VAD_RQ8("a3")
                   "ldr %[t], %[rp]\n\t"
                   "ldrd %[m], %[e], [%[t], #20]\n\t"
                   "ldr %[rnd], [%[t], #28]\n\t" VAD_RQ8("c0") VAD_RQ8("c1") VAD_RQ8("c2")
                       VAD_RQ8("c3") VAD_PAIR("a0", "c0") VAD_PAIR("a1", "c1") VAD_PAIR("a2", "c2")
                           VAD_PAIR("a3", "c3")
                   "ldr %[m], %[op]\n\t"
                   "ldr %[e], %[st]\n\t"
                   "strh %[a0], [%[m]]\n\t"
                   "strh %[a1], [%[m], %[e]]\n\t"
                   "add %[t], %[m], %[e], lsl #1\n\t"
                   "strh %[a2], [%[t]]\n\t"
                   "strh %[a3], [%[t], %[e]]\n\t"
                   : [a0] "+r"(a0), [a1] "+r"(a1), [a2] "+r"(a2), [a3] "+r"(a3), [c0] "+r"(c0),
                     [c1] "+r"(c1), [c2] "+r"(c2), [c3] "+r"(c3), [m] "=&r"(m), [rnd] "=&r"(rnd),
                     [e] "=&r"(e), [t] "=&r"(t), [z] "=&r"(z)
                   : [rp] "m"(r), [zp] "m"(out_offset), [op] "m"(o), [st] "m"(step)
                   : "memory");
}
#endif

/* Four widened columns (widen4) times all output channels, 4 pixels x 2 channels at a time
 * (dot_4x2); the four output pixels at o, o + out_c, o + 2 out_c, o + 3 out_c. */
VAD_INLINE void gemm_4cols(const vad_conv_params_t *p, const uint32_t *x, int8_t *o,
                           const int32_t act_min, const int32_t act_max, const int mode,
                           const int w16)
{
    const int32_t kq = p->kpad >> 2, out_c = p->out_c;
    const int32_t out_offset = p->out_offset;
    const uint32_t *w = (const uint32_t *)p->wfast; /* each block advances it (dot_4x2) */
    const int32_t *r = p->rq;
    const int32_t *sh = p->shift;
    int32_t n;
    for (n = out_c >> 1; n > 0; --n, r += 8, o += 2, sh += 2) {
        int32_t a[4], c[4];
        a[0] = a[1] = a[2] = a[3] = r[0];
        c[0] = c[1] = c[2] = c[3] = r[4];
        dot_4x2(x, &w, kq, a, c, w16);
#ifdef VAD_ASM_4X2
        if (mode == 1 && act_min == -128 && act_max == 127) {
            store_2x4_full(a, c, r, o, out_c, out_offset);
            continue;
        }
#endif
        store_ch4(a, r, o, out_c, out_offset, act_min, act_max, mode, sh);
        store_ch4(c, r + 4, o + 1, out_c, out_offset, act_min, act_max, mode, sh + 1);
    }
    if (out_c & 1) { /* odd channel count: the last channel alone */
        const uint32_t *xp = x;
        int32_t a[4], k;
        a[0] = a[1] = a[2] = a[3] = r[0];
        for (k = kq; k > 0; --k, xp += 8) {
            uint32_t wl, wh;
            w = next_wpair(w, w16, &wl, &wh);
            a[0] = VAD_SMLAD(xp[1], wh, VAD_SMLAD(xp[0], wl, a[0]));
            a[1] = VAD_SMLAD(xp[3], wh, VAD_SMLAD(xp[2], wl, a[1]));
            a[2] = VAD_SMLAD(xp[5], wh, VAD_SMLAD(xp[4], wl, a[2]));
            a[3] = VAD_SMLAD(xp[7], wh, VAD_SMLAD(xp[6], wl, a[3]));
        }
        store_ch4(a, r, o, out_c, out_offset, act_min, act_max, mode, sh);
    }
}


/* Widen six columns (the input pixels of a direct layer, step bytes apart) to int16 pairs, per
 * group of 4 values: p0(0,2) p0(1,3) p1(0,2) ... p5(1,3), doubled (VAD_X8). */
VAD_INLINE void widen6(const int8_t *a, int32_t step, uint32_t *dst, int32_t kpad, const int dbl)
{
    int32_t k, j;
#if VAD_X8_SHIFT
    const int8_t *const end = a + kpad;
    const int8_t *q;
    uint32_t t0, t1, t2;
    (void)k;
    (void)j;
#define VAD_WIDEN6(TWO)                                                                           \
    __asm volatile("1:\n\t"                                                                        \
                   "mov %[q], %[a]\n\t" TWO("0")                                                  \
                   "add %[q], %[q], %[st], lsl #1\n\t" TWO("16")                                  \
                   "add %[q], %[q], %[st], lsl #1\n\t" TWO("32")                                  \
                   "adds %[a], %[a], #4\n\t"                                                      \
                   "adds %[d], %[d], #48\n\t"                                                     \
                   "cmp %[a], %[end]\n\t"                                                         \
                   "bne 1b\n\t"                                                                   \
                   : [a] "+&r"(a), [d] "+&r"(dst), [q] "=&r"(q), [t0] "=&r"(t0), [t1] "=&r"(t1), \
                     [t2] "=&r"(t2)                                                              \
                   : [st] "r"(step), [end] "r"(end)                                              \
                   : "cc", "memory")
    if (dbl) {
        VAD_WIDEN6(VAD_W8_TWO);
    } else {
        VAD_WIDEN6(VAD_W8_TWO_PLAIN);
    }
#undef VAD_WIDEN6
    return;
#endif
    for (k = 0; k < kpad; k += 4, a += 4, dst += 12) {
        for (j = 0; j < 6; ++j) {
            const uint32_t v = rd32(a + j * step);
            const uint32_t lo = VAD_SXTB16(v), hi = VAD_SXTB16_ROR8(v);
            dst[2 * j] = dbl ? VAD_X8(lo) : lo;
            dst[2 * j + 1] = dbl ? VAD_X8(hi) : hi;
        }
    }
}

/* Widen n <= 6 columns (the last pixels of a rec6 layer) as widen6 does: per group of 4
 * values p0(0,2) p0(1,3) ... p(n-1)(1,3), doubled (VAD_X8). */
VAD_INLINE void widen_n(const int8_t *a, int32_t step, uint32_t *dst, int32_t kpad, int32_t n,
                        const int dbl)
{
    int32_t k, j;
    for (k = 0; k < kpad; k += 4, a += 4, dst += 2 * n) {
        for (j = 0; j < n; ++j) {
            const uint32_t v = rd32(a + j * step);
            const uint32_t lo = VAD_SXTB16(v), hi = VAD_SXTB16_ROR8(v);
            dst[2 * j] = dbl ? VAD_X8(lo) : lo;
            dst[2 * j + 1] = dbl ? VAD_X8(hi) : hi;
        }
    }
}

/* rec6 layers (blocks6: direct full-range 1x1 layers whose offset fold is exact): blocks of n
 * pixels x 1 channel, n = 6 and, for the last 1-5 pixels of the call, n = 1..5, over the
 * generator's records (lower.py _conv_rec6_records: per channel the doubled bias, the filter
 * (int8 words, or int16 pairs: wfast16), mult, e and rnd + z 2^e), read in one pass. On the
 * columns of widen6 / widen_n (doubled: the sum is 2 acc, what SMMLAR takes) per group of 4
 * values: the filter word(s), then the columns 4 words per LDM (pixel pairs) or 2 per LDRD (an
 * odd last pixel), 2 SMLAD per pixel; per channel then one LDM of the requantization constants
 * into the column registers (r1-r3), 4 instructions per output (SMMLAR, the sign, ASR, SSAT),
 * a STRB each, the output pointer in memory. n = 6 on K 4, 8, 16, 24, 32 and 48 with int16
 * filters (the generator's choice up to lower.REC6_WIDE_K and for small filters) and on K 32
 * with int8 filters have the groups written out. */
#ifdef VAD_ASM_4X2
/* Two pixels' 4 words by one LDM (r0-r3: x0..x3), 2 SMLAD each (sums p and q from pin and qin) */
#define VAD_6X1_PP(p, q, pin, qin)                                                                \
    "ldmia %[xp]!, {%[x0], %[x1], %[x2], %[x3]}\n\t"                                              \
    "smlad %[" p "], %[x0], %[wl], %[" pin "]\n\t"                                                \
    "smlad %[" p "], %[x1], %[wh], %[" p "]\n\t"                                                  \
    "smlad %[" q "], %[x2], %[wl], %[" qin "]\n\t"                                                \
    "smlad %[" q "], %[x3], %[wh], %[" q "]\n\t"
/* the first group: every sum starts from the doubled bias, held in a5 (a5 last) */
#define VAD_6X1_FIRST(W) W VAD_6X1_PP("a0", "a1", "a5", "a5") VAD_6X1_PP("a2", "a3", "a5", "a5") \
    VAD_6X1_PP("a4", "a5", "a5", "a5")
/* rq_fast on the doubled sum (widen6 doubles the columns, the bias is doubled: SMMLAR takes
 * 2 acc) with the output offset z folded into the rounding term (rnd + z 2^e: adding a
 * multiple of 2^e before the shift adds z after it; exact while |rnd| + |z| 2^e <= 2^30 - 2,
 * which the generator checks before it sets blocks6: lower.block6_rq_ok), then SSAT: m x1,
 * e x2, rnd + z 2^e x3, temporary x0 (the loop's column registers) */
#define VAD_6X1_RQ(x)                                                                             \
    "smmlar %[x0], %[" x "], %[x1], %[x3]\n\t"                                                    \
    "add %[x0], %[x0], %[" x "], asr #31\n\t"                                                     \
    "asr %[x0], %[x0], %[x2]\n\t"                                                                 \
    "ssat %[" x "], #8, %[x0]\n\t"
#define VAD_R6_W8 "ldr %[wh], [%[wp]], #4\n\tsxtb16 %[wl], %[wh]\n\tsxtb16 %[wh], %[wh], ror #8\n\t"
#define VAD_R6_W16 "ldrd %[wl], %[wh], [%[wp]], #8\n\t"
#define VAD_R6_P1(p, pin)                                                                         \
    "ldrd %[x0], %[x1], [%[xp]], #8\n\t"                                                          \
    "smlad %[" p "], %[x0], %[wl], %[" pin "]\n\t"                                                \
    "smlad %[" p "], %[x1], %[wh], %[" p "]\n\t"
#define VAD_R6_PP(p, q) VAD_6X1_PP(p, q, p, q)
/* per n: the groups after the first (G), the first from the doubled bias held in the last
 * sum (F; the last sum is read before it is written), the bias load (B), the requantization
 * (R) and the stores (S) */
#define VAD_R6_G6(W) W VAD_R6_PP("a0", "a1") VAD_R6_PP("a2", "a3") VAD_R6_PP("a4", "a5")
#define VAD_R6_F6(W) VAD_6X1_FIRST(W)
#define VAD_R6_B6 "ldr %[a5], [%[wp]], #4\n\t"
#define VAD_R6_G5(W) W VAD_R6_PP("a0", "a1") VAD_R6_PP("a2", "a3") VAD_R6_P1("a4", "a4")
#define VAD_R6_F5(W) W VAD_6X1_PP("a0", "a1", "a4", "a4") VAD_6X1_PP("a2", "a3", "a4", "a4") VAD_R6_P1("a4", "a4")
#define VAD_R6_B5 "ldr %[a4], [%[wp]], #4\n\t"
#define VAD_R6_G4(W) W VAD_R6_PP("a0", "a1") VAD_R6_PP("a2", "a3")
#define VAD_R6_F4(W) W VAD_6X1_PP("a0", "a1", "a3", "a3") VAD_6X1_PP("a2", "a3", "a3", "a3")
#define VAD_R6_B4 "ldr %[a3], [%[wp]], #4\n\t"
#define VAD_R6_G3(W) W VAD_R6_PP("a0", "a1") VAD_R6_P1("a2", "a2")
#define VAD_R6_F3(W) W VAD_6X1_PP("a0", "a1", "a2", "a2") VAD_R6_P1("a2", "a2")
#define VAD_R6_B3 "ldr %[a2], [%[wp]], #4\n\t"
#define VAD_R6_G2(W) W VAD_R6_PP("a0", "a1")
#define VAD_R6_F2(W) W VAD_6X1_PP("a0", "a1", "a1", "a1")
#define VAD_R6_B2 "ldr %[a1], [%[wp]], #4\n\t"
#define VAD_R6_G1(W) W VAD_R6_P1("a0", "a0")
#define VAD_R6_F1(W) W VAD_R6_P1("a0", "a0")
#define VAD_R6_B1 "ldr %[a0], [%[wp]], #4\n\t"
/* the requantization of n sums: VAD_6X1_RQ, or (VAD_R6_RQNS) without the sign correction on
 * layers whose output zero point is -128: there a negative sum gives t <= 0, (t + rnd) >> e
 * <= 0 with or without it, and SSAT makes both -128 (exact). */
#define VAD_R6_RQNS(x)                                                                            \
    "smmlar %[x0], %[" x "], %[x1], %[x3]\n\t"                                                    \
    "asr %[x0], %[x0], %[x2]\n\t"                                                                 \
    "ssat %[" x "], #8, %[x0]\n\t"
#define VAD_R6_R1(R) R("a0")
#define VAD_R6_R2(R) VAD_R6_R1(R) R("a1")
#define VAD_R6_R3(R) VAD_R6_R2(R) R("a2")
#define VAD_R6_R4(R) VAD_R6_R3(R) R("a3")
#define VAD_R6_R5(R) VAD_R6_R4(R) R("a4")
#define VAD_R6_R6(R) VAD_R6_R5(R) R("a5")
/* x0 the output pointer, x1 the step (out_c), wl a temporary; pixel 0 last, by a STRB that
 * advances the pointer to the next channel */
#define VAD_R6_S1 ""
#define VAD_R6_S2 "strb %[a1], [%[x0], %[x1]]\n\t"
#define VAD_R6_S3 VAD_R6_S2 "add %[wl], %[x0], %[x1], lsl #1\n\tstrb %[a2], [%[wl]]\n\t"
#define VAD_R6_S4 VAD_R6_S3 "strb %[a3], [%[wl], %[x1]]\n\t"
#define VAD_R6_S5 VAD_R6_S4 "add %[wl], %[wl], %[x1], lsl #1\n\tstrb %[a4], [%[wl]]\n\t"
#define VAD_R6_S6 VAD_R6_S5 "strb %[a5], [%[wl], %[x1]]\n\t"
/* The groups after the first (km = kq - 1 of them, from memory; G the group text): the loop
 * unrolled by 4, entered where a multiple of 4 is left (as VAD_6X1_LOOP); ends at label 9. */
#define VAD_R6_LOOP(G)                                                                            \
    "ldr %[x0], %[km]\n\t"                                                                        \
    "cmp %[x0], #0\n\t"                                                                           \
    "beq 9f\n\t"                                                                                  \
    "lsls %[x0], %[x0], #31\n\t"                                                                  \
    "bcs 6f\n\t"                                                                                  \
    "bmi 4f\n\t"                                                                                  \
    "1:\n\t" G "2:\n\t" G "3:\n\t" G "4:\n\t" G                                                   \
    "ldr %[x0], %[xe]\n\t"                                                                        \
    "cmp %[xp], %[x0]\n\t"                                                                        \
    "bne 1b\n\t"                                                                                  \
    "b 9f\n\t"                                                                                    \
    "6:\n\t"                                                                                      \
    "bmi 2b\n\t"                                                                                  \
    "b 3b\n\t"                                                                                    \
    "9:\n\t"
/* Every channel of the block: n pixels, W the filter words, GROUPS the groups after the first,
 * R the requantization of one sum. The last channel's e has bit 31 set (the generator's end
 * mark: ASR reads the low byte only), which ends the loop. */
#define VAD_R6_BODY(n, W, GROUPS, R)                                                              \
    "5:\n\t"                                                                                      \
    "ldr %[xp], %[xb]\n\t" VAD_R6_B##n VAD_R6_F##n(W) GROUPS                                     \
    "ldmia %[wp]!, {%[x1], %[x2], %[x3]}\n\t" VAD_R6_R##n(R)                                     \
    "ldr %[x0], %[op]\n\t"                                                                        \
    "ldr %[x1], %[st]\n\t" VAD_R6_S##n                                                            \
    "strb %[a0], [%[x0]], #1\n\t"                                                                 \
    "str %[x0], %[op]\n\t"                                                                        \
    "cmp %[x2], #0\n\t"                                                                           \
    "bge 5b\n\t"
#define VAD_R6_ASM(n, W, GROUPS, R)                                                               \
    __asm volatile(VAD_R6_BODY(n, W, GROUPS, R)                                                   \
                   : [a0] "=&r"(a0), [a1] "=&r"(a1), [a2] "=&r"(a2), [a3] "=&r"(a3),             \
                     [a4] "=&r"(a4), [a5] "=&r"(a5), [xp] "=&r"(xp), [wp] "+&r"(w),              \
                     [wl] "=&r"(wl), [wh] "=&r"(wh), [x0] "=&r"(x0), [x1] "=&r"(x1),             \
                     [x2] "=&r"(x2), [x3] "=&r"(x3), [op] "+m"(o)                                 \
                   : [xb] "m"(x), [xe] "m"(xe), [km] "m"(km), [st] "m"(step)                     \
                   : "cc", "memory")
#define VAD_R6_DECLS(n)                                                                           \
    const uint32_t *const xe = x + 2 * (n) * kq;                                                  \
    const int32_t km = kq - 1;                                                                    \
    register uint32_t x0 __asm("r0");                                                             \
    register uint32_t x1 __asm("r1");                                                             \
    register uint32_t x2 __asm("r2");                                                             \
    register uint32_t x3 __asm("r3");                                                             \
    int32_t a0, a1, a2, a3, a4, a5;                                                               \
    uint32_t wl, wh;                                                                              \
    const uint32_t *xp
#define VAD_R6_FN(name, n, W, R)                                                                  \
    static void name(const uint32_t *x, const uint32_t *w, int32_t kq, int8_t *o, int32_t step) \
    {                                                                                             \
        VAD_R6_DECLS(n);                                                                          \
        VAD_R6_ASM(n, W, VAD_R6_LOOP(VAD_R6_G##n(W)), R);                                         \
    }
VAD_R6_FN(r6_n1_w8, 1, VAD_R6_W8, VAD_6X1_RQ)
VAD_R6_FN(r6_n2_w8, 2, VAD_R6_W8, VAD_6X1_RQ)
VAD_R6_FN(r6_n3_w8, 3, VAD_R6_W8, VAD_6X1_RQ)
VAD_R6_FN(r6_n4_w8, 4, VAD_R6_W8, VAD_6X1_RQ)
VAD_R6_FN(r6_n5_w8, 5, VAD_R6_W8, VAD_6X1_RQ)
VAD_R6_FN(r6_n1_w16, 1, VAD_R6_W16, VAD_6X1_RQ)
VAD_R6_FN(r6_n2_w16, 2, VAD_R6_W16, VAD_6X1_RQ)
VAD_R6_FN(r6_n3_w16, 3, VAD_R6_W16, VAD_6X1_RQ)
VAD_R6_FN(r6_n4_w16, 4, VAD_R6_W16, VAD_6X1_RQ)
VAD_R6_FN(r6_n5_w16, 5, VAD_R6_W16, VAD_6X1_RQ)

/* n = 6 on int16 filters: K 4, 8, 16, 24, 32 and 48 written out (no loop entry or end per
 * channel) */
#define VAD_R6_G VAD_R6_G6(VAD_R6_W16)
#define VAD_R6_G5X VAD_R6_G VAD_R6_G VAD_R6_G VAD_R6_G VAD_R6_G
#define VAD_R6_N6_W16(name, R)                                                                    \
    static void name(const uint32_t *x, const uint32_t *w, int32_t kq, int8_t *o, int32_t step) \
    {                                                                                             \
        VAD_R6_DECLS(6);                                                                          \
        if (kq == 1) {                                                                            \
            VAD_R6_ASM(6, VAD_R6_W16, "", R);                                                     \
        } else if (kq == 2) {                                                                     \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_G, R);                                               \
        } else if (kq == 4) {                                                                     \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_G VAD_R6_G VAD_R6_G, R);                             \
        } else if (kq == 6) {                                                                     \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_G5X, R);                                             \
        } else if (kq == 8) {                                                                     \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_G5X VAD_R6_G VAD_R6_G, R);                           \
        } else if (kq == 12) {                                                                    \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_G5X VAD_R6_G5X VAD_R6_G, R);                         \
        } else {                                                                                  \
            VAD_R6_ASM(6, VAD_R6_W16, VAD_R6_LOOP(VAD_R6_G), R);                                  \
        }                                                                                         \
    }
VAD_R6_N6_W16(r6_n6_w16, VAD_6X1_RQ)
VAD_R6_N6_W16(r6_n6_w16_ns, VAD_R6_RQNS)

/* n = 6 on int8 filters: K 32 written out (layers of more than lower.REC6_WIDE_BYTES values on
 * 32 input channels, e.g. MobileNetV2's 32 -> 192) */
#define VAD_R6_G8 VAD_R6_G6(VAD_R6_W8)
#define VAD_R6_N6_W8(name, R)                                                                     \
    static void name(const uint32_t *x, const uint32_t *w, int32_t kq, int8_t *o, int32_t step) \
    {                                                                                             \
        VAD_R6_DECLS(6);                                                                          \
        if (kq == 8) {                                                                            \
            VAD_R6_ASM(6, VAD_R6_W8, VAD_R6_G8 VAD_R6_G8 VAD_R6_G8 VAD_R6_G8 VAD_R6_G8 VAD_R6_G8 VAD_R6_G8, R); \
        } else {                                                                                  \
            VAD_R6_ASM(6, VAD_R6_W8, VAD_R6_LOOP(VAD_R6_G8), R);                                  \
        }                                                                                         \
    }
VAD_R6_N6_W8(r6_n6_w8, VAD_6X1_RQ)
VAD_R6_N6_W8(r6_n6_w8_ns, VAD_R6_RQNS)
#undef VAD_R6_G8
#undef VAD_R6_G
#undef VAD_R6_G5X

typedef void (*vad_r6_fn)(const uint32_t *, const uint32_t *, int32_t, int8_t *, int32_t);
/* [w16][n]; n = 0: the blocks of 6 without the sign correction (output zero point -128) */
static const vad_r6_fn r6_fns[2][7] = {
    {r6_n6_w8_ns, r6_n1_w8, r6_n2_w8, r6_n3_w8, r6_n4_w8, r6_n5_w8, r6_n6_w8},
    {r6_n6_w16_ns, r6_n1_w16, r6_n2_w16, r6_n3_w16, r6_n4_w16, r6_n5_w16, r6_n6_w16},
};
#endif

/* Every channel of n <= 6 widened columns (x) of a rec6 layer, the outputs at o, o + out_c,
 * ...: the asm blocks above on Cortex-M4, else the same arithmetic in C (rq_fast on the sum,
 * the offset in the rounding term). */
static void rec6_block(const uint32_t *x, const uint32_t *w, int32_t kq, int8_t *o, int32_t out_c,
                       int32_t n, const int w16, const int nosign)
{
#ifdef VAD_ASM_4X2
    r6_fns[w16 ? 1 : 0][n == 6 && nosign ? 0 : n](x, w, kq, o, out_c);
#else
    (void)nosign;
    int32_t c, k, j;
    for (c = 0; c < out_c; ++c) {
        int32_t a[6];
        const uint32_t *xp = x;
        /* the sums are doubled (int16 filters: doubled by the generator; int8: the columns
         * doubled where VAD_X8_SHIFT) or not; the bias is doubled */
        const int32_t dbl = w16 ? 1 : VAD_X8_SHIFT;
        const int32_t bias = (int32_t)w[0] >> (1 - dbl);
        ++w;
        for (j = 0; j < n; ++j) {
            a[j] = bias;
        }
        for (k = 0; k < kq; ++k, xp += 2 * n) {
            uint32_t wl, wh;
            w = next_wpair(w, w16, &wl, &wh);
            for (j = 0; j < n; ++j) {
                a[j] = VAD_SMLAD(xp[2 * j], wl, VAD_SMLAD(xp[2 * j + 1], wh, a[j]));
            }
        }
        for (j = 0; j < n; ++j) { /* exact: a doubled sum is even */
            o[j * out_c + c] = clamp_out(
                rq_fast(a[j] >> dbl, (int32_t)w[0], (int32_t)w[2], (int32_t)w[1], 0), -128, 127);
        }
        w += 3;
    }
#endif
}

/* A rec6 layer: blocks of 6 pixels (widen6), then the last 1-5 pixels in one block (widen_n). */
static void conv_rec6(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t npix = p->out_h * p->out_w, kpad = p->kpad, out_c = p->out_c;
    uint32_t *const xw = (uint32_t *)(void *)p->scratch;
    const uint32_t *const w = (const uint32_t *)p->wfast;
    const int w16 = p->wfast16 != 0, nosign = p->out_offset == -128;
    int32_t pix = 0;
    for (; pix + 6 <= npix; pix += 6) {
        widen6(in + pix * p->in_c, p->in_c, xw, kpad, !w16);
        rec6_block(xw, w, kpad >> 2, out + pix * out_c, out_c, 6, w16, nosign);
    }
    if (pix < npix) {
        widen_n(in + pix * p->in_c, p->in_c, xw, kpad, npix - pix, !w16);
        rec6_block(xw, w, kpad >> 2, out + pix * out_c, out_c, npix - pix, w16, nosign);
    }
}

/* Specialised for the full int8 range (the clamp becomes one SSAT), the requantization
 * (p->fast: 1 all channels e >= 1, 3 also e = 0 channels, 2 some channels generic) and the
 * filter layout. */
#define VAD_GEMM_VARIANT(name, lo, hi, mode, w16)                                                 \
    static void name(const vad_conv_params_t *p, const uint32_t *x, int8_t *oa, int8_t *ob)     \
    {                                                                                             \
        if (ob || (mode) != 1) {                                                                  \
            gemm_2cols(p, x, oa, ob, (lo), (hi), (mode), (w16));                                  \
        } else {                                                                                  \
            gemm_4cols(p, x, oa, (lo), (hi), (mode), (w16));                                      \
        }                                                                                         \
    }
VAD_GEMM_VARIANT(gemm_full_w16, -128, 127, 1, 1)
VAD_GEMM_VARIANT(gemm_clamp_w16, p->act_min, p->act_max, 1, 1)
VAD_GEMM_VARIANT(gemm_full_zs_w16, -128, 127, 3, 1)
VAD_GEMM_VARIANT(gemm_clamp_zs_w16, p->act_min, p->act_max, 3, 1)
VAD_GEMM_VARIANT(gemm_generic_w16, p->act_min, p->act_max, 2, 1)
VAD_GEMM_VARIANT(gemm_full_w8, -128, 127, 1, 0)
VAD_GEMM_VARIANT(gemm_clamp_w8, p->act_min, p->act_max, 1, 0)
VAD_GEMM_VARIANT(gemm_full_zs_w8, -128, 127, 3, 0)
VAD_GEMM_VARIANT(gemm_clamp_zs_w8, p->act_min, p->act_max, 3, 0)
VAD_GEMM_VARIANT(gemm_generic_w8, p->act_min, p->act_max, 2, 0)

/* ob == 0: a block of 4 pixels (widen4 columns) at oa, oa + out_c, ... (gemm_4cols; fast == 1
 * layers only: the rarer requantizations keep the 2 x 2 blocks, and the flash they take) */
typedef void (*vad_gemm_fn)(const vad_conv_params_t *, const uint32_t *, int8_t *, int8_t *);


static vad_gemm_fn pick_gemm(const vad_conv_params_t *p)
{
    const int full = p->act_min == -128 && p->act_max == 127;
    if (p->wfast16) {
        return p->fast == 2   ? gemm_generic_w16
               : p->fast == 3 ? (full ? gemm_full_zs_w16 : gemm_clamp_zs_w16)
                              : (full ? gemm_full_w16 : gemm_clamp_w16);
    }
    return p->fast == 2   ? gemm_generic_w8
           : p->fast == 3 ? (full ? gemm_full_zs_w8 : gemm_clamp_zs_w8)
                          : (full ? gemm_full_w8 : gemm_clamp_w8);
}

/* 1x1, stride 1, no padding, in_c a multiple of 4: the input pixels are the columns. */
static int conv_direct(const vad_conv_params_t *p)
{
    return p->k_h == 1 && p->k_w == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_h == 0 &&
           p->pad_w == 0 && p->kpad == p->in_c;
}

/* Direct full-range layers with blocks6 (scratch 12 kpad bytes): six output pixels at a time
 * (widen6, gemm_6cols), the rest as blocks4 says. Layers with blocks4 (their scratch is 8 kpad
 * bytes if direct, 12 kpad if not): four output
 * pixels at a time, their input pixels (or their im2col columns, built in [8 kpad, 12 kpad))
 * widened into the scratch, the last 1-3 pixels in pairs. Others: two output pixels at a time, their
 * columns (im2col into the int8 part of the scratch) widened into the int16 part. Scratch
 * layout: [0, 4 kpad) widened pair, [4 kpad, 6 kpad) int8 columns. Inside one call the
 * order does not matter to the in-place schedule (vad_inplace.c: one row per call). */
static void conv_fast(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t npix = p->out_h * p->out_w, kpad = p->kpad;
    const int direct = conv_direct(p);
    uint32_t *const xw = (uint32_t *)(void *)p->scratch;
    int8_t *const col = p->scratch + 4 * kpad;
    const vad_gemm_fn gemm = pick_gemm(p);
    int32_t pix = 0;
    if (p->blocks4 && p->fast == 1) { /* blocks of 4 pixels, the rest in pairs */
        int8_t *const col4 = p->scratch + 8 * kpad; /* im2col: four int8 columns */
        for (; pix + 4 <= npix; pix += 4) {
            if (direct) {
                widen4(in + pix * p->in_c, p->in_c, xw, kpad);
            } else {
                if (!vad_im2col4_rows(p, in, pix, col4)) {
                    im2col(p, in, pix, col4);
                    im2col(p, in, pix + 1, col4 + kpad);
                    im2col(p, in, pix + 2, col4 + 2 * kpad);
                    im2col(p, in, pix + 3, col4 + 3 * kpad);
                }
                widen4(col4, kpad, xw, kpad);
            }
            gemm(p, xw, out + pix * p->out_c, 0);
        }
    }
    for (; pix < npix; pix += 2) {
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
        gemm(p, xw, out + pix * p->out_c, out + (two ? pix + 1 : pix) * p->out_c);
    }
}

/* px1 layers (direct full-range 1x1 layers on 8 or 16 input channels, lower.PX1_K): a pixel at
 * a time, its kpad values widened once into kpad/2 registers (SXTB16 and SXTB16 ROR #8 of each
 * input word), then every output channel from its record in wfast (lower.py
 * _conv_px1_records: the doubled bias, the doubled filter as int16 pairs in the order of the
 * widened words, mult, e and rnd + z 2^e): the sum is 2 acc, what SMMLAR takes, and the output
 * offset is in the rounding term (as in the blocks of 6). No scratch: the layers the plan has
 * no room for blocks in (VWW's streamed 8 -> 16 and 16 -> 32) took the 2 x 2 blocks. On the DSP
 * cores 20.5 instructions per channel of 16 MACs (K 16: LDR, 4 LDRD, 8 SMLAD, LDM, 4 of
 * requantization, STRB, 3 of loop per 2 channels), 14.5 per 8 MACs (K 8). LDM fills m, e and rnd in
 * register-number order: they are pinned to r8-r10. */
#ifdef VAD_ASM_4X2
#define VAD_PX1_WIDEN(x, y) "sxtb16 %[" y "], %[" x "], ror #8\n\tsxtb16 %[" x "], %[" x "]\n\t"
#define VAD_PX1_G(a, b)                                                                           \
    "ldrd %[m], %[e], [%[wp]], #8\n\t"                                                            \
    "smlad %[acc], %[" a "], %[m], %[acc]\n\t"                                                    \
    "smlad %[acc], %[" b "], %[e], %[acc]\n\t"
/* One channel: its record read and its output stored (op advances by 1). */
#define VAD_PX1_ONE(GROUPS)                                                                       \
    "ldr %[acc], [%[wp]], #4\n\t" GROUPS                                                          \
    "ldmia %[wp]!, {%[m], %[e], %[rnd]}\n\t"                                                      \
    "smmlar %[rnd], %[acc], %[m], %[rnd]\n\t"                                                     \
    "add %[rnd], %[rnd], %[acc], asr #31\n\t"                                                     \
    "asr %[rnd], %[rnd], %[e]\n\t"                                                                \
    "ssat %[acc], #8, %[rnd]\n\t"                                                                 \
    "strb %[acc], [%[op]], #1\n\t"
/* All channels, one or two (even out_c) per test of the loop's end */
#define VAD_PX1_LOOP(BODY)                                                                        \
    "1:\n\t" BODY                                                                                 \
    "ldr %[rnd], %[oe]\n\t"                                                                       \
    "cmp %[op], %[rnd]\n\t"                                                                       \
    "bne 1b\n\t"
#define VAD_PX1_K16                                                                               \
    VAD_PX1_G("x0", "x1") VAD_PX1_G("x2", "x3") VAD_PX1_G("x4", "x5") VAD_PX1_G("x6", "x7")
#define VAD_PX1_K8 VAD_PX1_G("x0", "x1") VAD_PX1_G("x2", "x3")
#define VAD_PX1_TAIL                                                                              \
    [acc] "=&r"(acc), [m] "=&r"(m), [e] "=&r"(e), [rnd] "=&r"(rnd), [wp] "+&r"(w), [op] "+&r"(o)
#define VAD_PX1_INS [ip] "m"(ip), [oe] "m"(oe)

/* One pixel (kpad bytes at ip) of a px1 layer on 16 input channels: its out_c outputs at o
 * (oe = o + out_c; two: out_c is even). */
VAD_INLINE void px1_k16(const uint32_t *w, const int8_t *ip, int8_t *o, int8_t *oe, const int two)
{
    register uint32_t m __asm("r8");
    register uint32_t e __asm("r9");
    register uint32_t rnd __asm("r10");
    uint32_t x0, x1, x2, x3, x4, x5, x6, x7;
    int32_t acc;
#define VAD_PX1_LOAD16                                                                            \
    "ldr %[acc], %[ip]\n\t"                                                                       \
    "ldr %[x0], [%[acc]]\n\t"                                                                     \
    "ldr %[x2], [%[acc], #4]\n\t"                                                                 \
    "ldr %[x4], [%[acc], #8]\n\t"                                                                 \
    "ldr %[x6], [%[acc], #12]\n\t" VAD_PX1_WIDEN("x0", "x1") VAD_PX1_WIDEN("x2", "x3")             \
        VAD_PX1_WIDEN("x4", "x5") VAD_PX1_WIDEN("x6", "x7")
#define VAD_PX1_X16                                                                               \
    [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3), [x4] "=&r"(x4),             \
        [x5] "=&r"(x5), [x6] "=&r"(x6), [x7] "=&r"(x7)
    if (two) {
        __asm volatile(VAD_PX1_LOAD16 VAD_PX1_LOOP(VAD_PX1_ONE(VAD_PX1_K16) VAD_PX1_ONE(VAD_PX1_K16))
                       : VAD_PX1_X16, VAD_PX1_TAIL
                       : VAD_PX1_INS
                       : "cc", "memory");
    } else {
        __asm volatile(VAD_PX1_LOAD16 VAD_PX1_LOOP(VAD_PX1_ONE(VAD_PX1_K16))
                       : VAD_PX1_X16, VAD_PX1_TAIL
                       : VAD_PX1_INS
                       : "cc", "memory");
    }
}

/* The same on 8 input channels. */
VAD_INLINE void px1_k8(const uint32_t *w, const int8_t *ip, int8_t *o, int8_t *oe, const int two)
{
    register uint32_t m __asm("r8");
    register uint32_t e __asm("r9");
    register uint32_t rnd __asm("r10");
    uint32_t x0, x1, x2, x3;
    int32_t acc;
#define VAD_PX1_LOAD8                                                                             \
    "ldr %[acc], %[ip]\n\t"                                                                       \
    "ldr %[x0], [%[acc]]\n\t"                                                                     \
    "ldr %[x2], [%[acc], #4]\n\t" VAD_PX1_WIDEN("x0", "x1") VAD_PX1_WIDEN("x2", "x3")
#define VAD_PX1_X8 [x0] "=&r"(x0), [x1] "=&r"(x1), [x2] "=&r"(x2), [x3] "=&r"(x3)
    if (two) {
        __asm volatile(VAD_PX1_LOAD8 VAD_PX1_LOOP(VAD_PX1_ONE(VAD_PX1_K8) VAD_PX1_ONE(VAD_PX1_K8))
                       : VAD_PX1_X8, VAD_PX1_TAIL
                       : VAD_PX1_INS
                       : "cc", "memory");
    } else {
        __asm volatile(VAD_PX1_LOAD8 VAD_PX1_LOOP(VAD_PX1_ONE(VAD_PX1_K8))
                       : VAD_PX1_X8, VAD_PX1_TAIL
                       : VAD_PX1_INS
                       : "cc", "memory");
    }
}
#endif

static void conv_px1(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t npix = p->out_h * p->out_w, out_c = p->out_c, kpad = p->kpad;
    int32_t pix;
    for (pix = 0; pix < npix; ++pix, in += kpad, out += out_c) {
        const uint32_t *w = (const uint32_t *)p->wfast;
#ifdef VAD_ASM_4X2
        const int two = !(out_c & 1);
        if (kpad == 16) {
            px1_k16(w, in, out, out + out_c, two);
        } else {
            px1_k8(w, in, out, out + out_c, two);
        }
#else
        int32_t c, k;
        for (c = 0; c < out_c; ++c, w += 4 + kpad / 2) {
            int32_t acc = (int32_t)w[0];
            const uint32_t *t = w + 1 + kpad / 2;
            for (k = 0; k < kpad / 4; ++k) {
                const uint32_t v = rd32(in + 4 * k);
                acc = VAD_SMLAD(VAD_SXTB16(v), w[1 + 2 * k], acc);
                acc = VAD_SMLAD(VAD_SXTB16_ROR8(v), w[2 + 2 * k], acc);
            }
            /* the sum is 2 acc (even); the offset is in the rounding term */
            out[c] = clamp_out(rq_fast(acc >> 1, (int32_t)t[0], (int32_t)t[2], (int32_t)t[1], 0),
                               -128, 127);
        }
#endif
    }
}

#endif /* VAD_NO_FAST_PATHS */

void vad_conv2d_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
#ifndef VAD_NO_FAST_PATHS
    if (p->px1) {
        conv_px1(p, in, out);
        return;
    }
    if (p->blocks6) {
        conv_rec6(p, in, out);
        return;
    }
    if (p->fast && p->scratch) {
        conv_fast(p, in, out);
        return;
    }
#endif
    vad_conv2d_s8_ref(p, in, out);
}
