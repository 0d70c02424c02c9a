/*
 * vadtool native int8 runtime: im2col columns of the CONV_2D fast path (vad_conv_fast.c) with
 * word copies, for windows larger than 1x1 without dilation (a network's first 3x3 convolution
 * on 1 to 3 channels, above all).
 *
 * Inside the image a window row is k_w * in_c contiguous input bytes, so the column of an
 * interior pixel is k_h copies of that many bytes: 9 for a 3x3 window on RGB (two unaligned
 * words and a byte), 3 on grayscale (a halfword and a byte), a memcpy otherwise, instead of
 * bounds checks and copies per tap. Pixels whose window crosses the border return 0 and take
 * the generic im2col. The column's bytes are the same either way.
 */
#include "vad_fast_common.h"

#ifndef VAD_NO_FAST_PATHS

/* The column of one interior window whose first row starts at src (rows step bytes apart): k_h
 * window rows of n bytes, then zeros up to kpad (K rounded up to 4). */
VAD_INLINE void window_column(const int8_t *src, int32_t step, int32_t k_h, int32_t n,
                              int32_t kpad, int8_t *col)
{
    int32_t ky, k;
    int8_t *c = col;
    if (n == 9) { /* 3x3 on RGB */
        for (ky = 0; ky < k_h; ++ky, src += step, c += 9) {
            const uint32_t w0 = rd32(src), w1 = rd32(src + 4);
            memcpy(c, &w0, 4);
            memcpy(c + 4, &w1, 4);
            c[8] = src[8];
        }
    } else if (n == 3) { /* 3x3 on grayscale */
        for (ky = 0; ky < k_h; ++ky, src += step, c += 3) {
            uint16_t h;
            memcpy(&h, src, 2);
            memcpy(c, &h, 2);
            c[2] = src[2];
        }
    } else {
        for (ky = 0; ky < k_h; ++ky, src += step, c += n) {
            memcpy(c, src, (size_t)n);
        }
    }
    for (k = k_h * n; k < kpad; ++k) {
        col[k] = 0;
    }
}

int vad_im2col_rows(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t step = p->in_w * p->in_c;
    if (p->dil_h != 1 || p->dil_w != 1 || p->k_h * p->k_w == 1 || iy0 < 0 || ix0 < 0 ||
        iy0 + p->k_h > p->in_h || ix0 + p->k_w > p->in_w) {
        return 0;
    }
    window_column(in + iy0 * step + ix0 * p->in_c, step, p->k_h, p->k_w * p->in_c, p->kpad, col);
    return 1;
}

/* The columns of output pixels pix .. pix + 3 (kpad bytes apart) when the four lie in one
 * output row and their windows inside the image: one division and bounds test for the four. */
int vad_im2col4_rows(const vad_conv_params_t *p, const int8_t *in, int32_t pix, int8_t *col)
{
    const int32_t oy = pix / p->out_w, ox = pix - oy * p->out_w;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t step = p->in_w * p->in_c, sx = p->stride_w * p->in_c;
    const int8_t *src;
    int32_t j;
    if (p->dil_h != 1 || p->dil_w != 1 || p->k_h * p->k_w == 1 || ox + 4 > p->out_w || iy0 < 0 ||
        ix0 < 0 || iy0 + p->k_h > p->in_h || ix0 + 3 * p->stride_w + p->k_w > p->in_w) {
        return 0;
    }
    src = in + iy0 * step + ix0 * p->in_c; /* formed only once the window is known inside */
    for (j = 0; j < 4; ++j, src += sx, col += p->kpad) {
        window_column(src, step, p->k_h, p->k_w * p->in_c, p->kpad, col);
    }
    return 1;
}

/*
 * The first 3x3 convolution itself (vad_conv_params_t.fast == VAD_CONV_FIRST: 3x3, stride 1 or
 * 2, no dilation, 1 to 3 input channels, every channel on the fast requantization), without
 * im2col. Per output row and chunk of up to VAD_CF_PX output pixels, the three input rows the
 * windows cover are widened once to int16, consecutive values in one word (zero point outside
 * the image: it contributes exactly 0 with the folded bias). A pixel's window row is then
 * VAD_CF_NW(in_c) words read in place (in_c = 3: 5 words, the 10th value weighted 0), and the
 * generator lays out the filter to match (wfast, doubled int16 pairs: per pair of output
 * channels, per window row, per word, the two channels' words; an odd last channel alone).
 * Blocks of 4 pixels x 2 channels: per word 1 LDRD of the filter, 4 LDR and 8 SMLAD; the
 * doubled sums go straight to SMMLAR. Windows starting at an odd value are read unaligned
 * (LDR allows it on Cortex-M3 and up; memcpy elsewhere).
 */
#define VAD_CF_PX 24 /* output pixels a chunk (a multiple of 4) */
/* int16 values of a widened row: the pixels of a chunk's windows at stride <= 2 (rounded up
 * to whole blocks of 4), 3 channels, the 10th value of the last window, even */
#define VAD_CF_ROWE (((VAD_CF_PX - 1) * 2 + 3) * 3 + 5)

#if defined(__ARM_FEATURE_DSP)
VAD_INLINE int32_t cf_smmlar(int32_t a, int32_t b, int32_t c)
{
    int32_t t;
    __asm("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(a), "r"(b), "r"(c));
    return t;
}
#else
VAD_INLINE int32_t cf_smmlar(int32_t a, int32_t b, int32_t c)
{
    return c + (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
#endif

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define CF_ASM 1
/* A whole block of 4 pixels x 2 channels, written out per (values between pixels' windows ps,
 * words a window row nw): x: pixel 0's window in the widened rows, w: the pair's filter
 * words, r: their two records, o: pixel 0's output at the first channel, out_c: the pixel
 * stride. The 8 sums from the doubled biases; per word 1 LDRD of the two filter words, 4 LDR
 * (unaligned where a window starts at an odd value) and 8 SMLAD; then per sum SMMLAR (rounding
 * and output offset), the sign, ASR, SSAT, and per pixel one halfword store of its two
 * channels. GCC's version of it spills (14 registers are live). */
typedef void (*cf_4x2_fn)(const int16_t *x, const uint32_t *w, const int32_t *r, int8_t *o,
                          int32_t out_c);
#define CF_DECL(name) \
    void name(const int16_t *x, const uint32_t *w, const int32_t *r, int8_t *o, int32_t out_c);
CF_DECL(vad_cf_4x2_p1_n2)
CF_DECL(vad_cf_4x2_p2_n3)
CF_DECL(vad_cf_4x2_p3_n5)
CF_DECL(vad_cf_4x2_p2_n2)
CF_DECL(vad_cf_4x2_p4_n3)
CF_DECL(vad_cf_4x2_p6_n5)
#define CF_STR(x) #x
#define CF_XSTR(x) CF_STR(x)
#define CF_ROWB "(2 * " CF_XSTR(VAD_CF_ROWE) ")"
__asm(".syntax unified\n"
      ".macro CF_WORD ky, i, ps\n\t"
      "ldrd r12, lr, [r1], #8\n\t"
      "ldr r11, [r0, #(\\ky * " CF_ROWB " + \\i * 4)]\n\t"
      "smlad r3, r11, r12, r3\n\t"
      "smlad r7, r11, lr, r7\n\t"
      "ldr r11, [r0, #(\\ky * " CF_ROWB " + \\ps * 2 + \\i * 4)]\n\t"
      "smlad r4, r11, r12, r4\n\t"
      "smlad r8, r11, lr, r8\n\t"
      "ldr r11, [r0, #(\\ky * " CF_ROWB " + \\ps * 4 + \\i * 4)]\n\t"
      "smlad r5, r11, r12, r5\n\t"
      "smlad r9, r11, lr, r9\n\t"
      "ldr r11, [r0, #(\\ky * " CF_ROWB " + \\ps * 6 + \\i * 4)]\n\t"
      "smlad r6, r11, r12, r6\n\t"
      "smlad r10, r11, lr, r10\n"
      ".endm\n"
      ".macro CF_ROW ky, ps, nw\n\t"
      "CF_WORD \\ky, 0, \\ps\n\t"
      "CF_WORD \\ky, 1, \\ps\n\t"
      ".if \\nw > 2\n\t"
      "CF_WORD \\ky, 2, \\ps\n\t"
      ".endif\n\t"
      ".if \\nw > 3\n\t"
      "CF_WORD \\ky, 3, \\ps\n\t"
      "CF_WORD \\ky, 4, \\ps\n\t"
      ".endif\n"
      ".endm\n"
      /* one sum: SMMLAR with the rounding term and offset (r12), the sign, ASR e (lr), SSAT */
      ".macro CF_RQ acc\n\t"
      "smmlar r2, \\acc, r11, r12\n\t"
      "add \\acc, r2, \\acc, asr #31\n\t"
      "asr \\acc, \\acc, lr\n\t"
      "ssat \\acc, #8, \\acc\n"
      ".endm\n"
      ".macro CF_FN name, ps, nw\n\t"
      ".section .text.\\name,\"ax\",%progbits\n\t"
      ".global \\name\n\t"
      ".type \\name, %function\n\t"
      ".thumb\n\t"
      ".thumb_func\n\t"
      ".align 2\n"
      "\\name:\n\t"
      "push {r4-r11, lr}\n\t"
      "strd r2, r3, [sp, #-8]!\n\t" /* r, o; out_c at [sp, #44] */
      "ldr r3, [r2]\n\t"
      "ldr r7, [r2, #16]\n\t"
      "mov r4, r3\n\t"
      "mov r5, r3\n\t"
      "mov r6, r3\n\t"
      "mov r8, r7\n\t"
      "mov r9, r7\n\t"
      "mov r10, r7\n\t"
      "CF_ROW 0, \\ps, \\nw\n\t"
      "CF_ROW 1, \\ps, \\nw\n\t"
      "CF_ROW 2, \\ps, \\nw\n\t"
      "ldrd r0, r1, [sp], #8\n\t"
      "ldrd r11, r12, [r0, #4]\n\t"
      "ldr lr, [r0, #12]\n\t"
      "CF_RQ r3\n\t"
      "CF_RQ r4\n\t"
      "CF_RQ r5\n\t"
      "CF_RQ r6\n\t"
      "ldrd r11, r12, [r0, #20]\n\t"
      "ldr lr, [r0, #28]\n\t"
      "CF_RQ r7\n\t"
      "CF_RQ r8\n\t"
      "CF_RQ r9\n\t"
      "CF_RQ r10\n\t"
      "ldr r2, [sp, #36]\n\t"
      "bfi r3, r7, #8, #8\n\t"
      "strh r3, [r1]\n\t"
      "bfi r4, r8, #8, #8\n\t"
      "strh r4, [r1, r2]\n\t"
      "add r1, r1, r2, lsl #1\n\t"
      "bfi r5, r9, #8, #8\n\t"
      "strh r5, [r1]\n\t"
      "bfi r6, r10, #8, #8\n\t"
      "strh r6, [r1, r2]\n\t"
      "pop {r4-r11, pc}\n\t"
      ".size \\name, .-\\name\n"
      ".endm\n\t"
      "CF_FN vad_cf_4x2_p1_n2, 1, 2\n\t"
      "CF_FN vad_cf_4x2_p2_n3, 2, 3\n\t"
      "CF_FN vad_cf_4x2_p3_n5, 3, 5\n\t"
      "CF_FN vad_cf_4x2_p2_n2, 2, 2\n\t"
      "CF_FN vad_cf_4x2_p4_n3, 4, 3\n\t"
      "CF_FN vad_cf_4x2_p6_n5, 6, 5\n\t"
      ".purgem CF_FN\n\t"
      ".purgem CF_RQ\n\t"
      ".purgem CF_ROW\n\t"
      ".purgem CF_WORD\n\t"
      ".text\n");
#endif

VAD_INLINE uint32_t cf_rd(const int16_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Values ix0 * in_c .. of a row (pixels ix0 .. ix0 + np - 1 and the value after them) widened
 * into dst, the zero point zp outside the image (row 0: above or below it). */
static void cf_widen(const int8_t *row, int32_t ix0, int32_t np, int32_t in_w, int32_t in_c,
                     int16_t zp, int16_t *dst)
{
    const int32_t n = np * in_c + 1;
    int32_t e = 0, a, b;
    if (row) {
        a = ix0 < 0 ? -ix0 : 0;
        a = a < np ? a : np;
        b = in_w - ix0;
        b = b < 0 ? 0 : b > np ? np : b;
        a *= in_c;
        b *= in_c;
        for (; e < a; ++e) {
            dst[e] = zp;
        }
        if (e < b) {
            const int8_t *src = row + (ix0 * in_c + e);
            int16_t *d = dst + e;
            for (; e + 8 <= b; e += 8, src += 8, d += 8) {
                const uint32_t x = rd32(src), y = rd32(src + 4);
                const uint32_t s0 = VAD_SXTB16(x), s1 = VAD_SXTB16_ROR8(x); /* (0,2), (1,3) */
                const uint32_t t0 = VAD_SXTB16(y), t1 = VAD_SXTB16_ROR8(y);
                const uint32_t w0 = vad_pk_lo2(s0, s1), w1 = vad_pk_hi2(s0, s1);
                const uint32_t w2 = vad_pk_lo2(t0, t1), w3 = vad_pk_hi2(t0, t1);
                memcpy(d, &w0, 4);
                memcpy(d + 2, &w1, 4);
                memcpy(d + 4, &w2, 4);
                memcpy(d + 6, &w3, 4);
            }
            for (; e + 4 <= b; e += 4, src += 4, d += 4) {
                const uint32_t x = rd32(src);
                const uint32_t s0 = VAD_SXTB16(x), s1 = VAD_SXTB16_ROR8(x);
                const uint32_t w0 = vad_pk_lo2(s0, s1), w1 = vad_pk_hi2(s0, s1);
                memcpy(d, &w0, 4);
                memcpy(d + 2, &w1, 4);
            }
            for (; e < b; ++e) {
                dst[e] = *src++;
            }
        }
    }
    for (; e < n; ++e) {
        dst[e] = zp;
    }
}

/* One output from its doubled sum: SMMLAR adds the rounding term and output offset rz. */
VAD_INLINE int8_t cf_out(int32_t acc2, int32_t mult, int32_t rz, int32_t e, const int32_t lo,
                         const int32_t hi)
{
    int32_t v = (cf_smmlar(acc2, mult, rz) + (acc2 >> 31)) >> e;
#if defined(__ARM_FEATURE_DSP)
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(v, 8);
    }
#endif
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* 4 pixels (their windows ps values apart in the widened rows x, rows VAD_CF_ROWE apart) x
 * 1 or 2 channels (two) of nw words a window row; n <= 4 of the pixels stored, out_c apart.
 * r: the channels' records (doubled bias, mult, rounding term + output offset 2^e, e). */
VAD_INLINE void cf_block(const int16_t *x, const int32_t ps, const int32_t nw,
                         const uint32_t *w, const int32_t *r, int8_t *o, int32_t out_c,
                         int32_t n, const int two, const int32_t lo, const int32_t hi)
{
    int32_t a0, a1, a2, a3, c0 = 0, c1 = 0, c2 = 0, c3 = 0, ky, i;
#ifdef CF_ASM
    if (two && n == 4 && lo == -128 && hi == 127) {
        const cf_4x2_fn fn = ps == 1   ? vad_cf_4x2_p1_n2
                             : ps == 3 ? vad_cf_4x2_p3_n5
                             : ps == 4 ? vad_cf_4x2_p4_n3
                             : ps == 6 ? vad_cf_4x2_p6_n5
                             : nw == 3 ? vad_cf_4x2_p2_n3
                                       : vad_cf_4x2_p2_n2;
        fn(x, w, r, o, out_c);
        return;
    }
#endif
    a0 = a1 = a2 = a3 = r[0];
    if (two) {
        c0 = c1 = c2 = c3 = r[4];
    }
    for (ky = 0; ky < 3; ++ky, x += VAD_CF_ROWE) {
        for (i = 0; i < nw; ++i) {
            const uint32_t w0 = w[0], w1 = two ? w[1] : 0u;
            uint32_t v;
            w += two ? 2 : 1;
            v = cf_rd(x + 2 * i);
            a0 = VAD_SMLAD(v, w0, a0);
            if (two) {
                c0 = VAD_SMLAD(v, w1, c0);
            }
            v = cf_rd(x + ps + 2 * i);
            a1 = VAD_SMLAD(v, w0, a1);
            if (two) {
                c1 = VAD_SMLAD(v, w1, c1);
            }
            v = cf_rd(x + 2 * ps + 2 * i);
            a2 = VAD_SMLAD(v, w0, a2);
            if (two) {
                c2 = VAD_SMLAD(v, w1, c2);
            }
            v = cf_rd(x + 3 * ps + 2 * i);
            a3 = VAD_SMLAD(v, w0, a3);
            if (two) {
                c3 = VAD_SMLAD(v, w1, c3);
            }
        }
    }
    {
        const int32_t m = r[1], rz = r[2], e = r[3];
        const int8_t q0 = cf_out(a0, m, rz, e, lo, hi), q1 = cf_out(a1, m, rz, e, lo, hi);
        const int8_t q2 = cf_out(a2, m, rz, e, lo, hi), q3 = cf_out(a3, m, rz, e, lo, hi);
        o[0] = q0;
        if (n > 1) {
            o[out_c] = q1;
        }
        if (n > 2) {
            o[2 * out_c] = q2;
        }
        if (n > 3) {
            o[3 * out_c] = q3;
        }
    }
    if (two) {
        const int32_t m = r[5], rz = r[6], e = r[7];
        const int8_t q0 = cf_out(c0, m, rz, e, lo, hi), q1 = cf_out(c1, m, rz, e, lo, hi);
        const int8_t q2 = cf_out(c2, m, rz, e, lo, hi), q3 = cf_out(c3, m, rz, e, lo, hi);
        o[1] = q0;
        if (n > 1) {
            o[out_c + 1] = q1;
        }
        if (n > 2) {
            o[2 * out_c + 1] = q2;
        }
        if (n > 3) {
            o[3 * out_c + 1] = q3;
        }
    }
}

/* s: stride, ic: input channels (constants in each instance) */
VAD_INLINE void cf_body(const vad_conv_params_t *p, const int8_t *in, int8_t *out, const int32_t s,
                        const int32_t ic, const int32_t lo, const int32_t hi)
{
    int16_t VAD_ALIGNED(4) buf[3][VAD_CF_ROWE];
    const int32_t nw = (3 * ic + 1) / 2, ps = s * ic, out_c = p->out_c;
    const int16_t zp = (int16_t)(-p->in_offset);
    const uint32_t *const wf = (const uint32_t *)p->wfast;
    int32_t oy, x0, ky;
    for (oy = 0; oy < p->out_h; ++oy) {
        const int32_t iy0 = oy * p->stride_h - p->pad_h;
        int8_t *orow = out + oy * p->out_w * out_c;
        for (x0 = 0; x0 < p->out_w; x0 += VAD_CF_PX) {
            const int32_t n = p->out_w - x0 < VAD_CF_PX ? p->out_w - x0 : VAD_CF_PX;
            const int32_t np = (((n + 3) & ~3) - 1) * s + 3; /* input pixels of whole blocks */
            const int32_t ix0 = x0 * s - p->pad_w;
            int32_t j, c;
            for (ky = 0; ky < 3; ++ky) {
                const int32_t iy = iy0 + ky;
                cf_widen(iy >= 0 && iy < p->in_h ? in + iy * p->in_w * ic : 0, ix0, np, p->in_w,
                         ic, zp, buf[ky]);
            }
            for (j = 0; j < n; j += 4) {
                const uint32_t *w = wf;
                const int32_t *r = p->rq;
                int8_t *o = orow + (x0 + j) * out_c;
                const int32_t left = n - j < 4 ? n - j : 4;
                for (c = 0; c + 1 < out_c; c += 2, w += 6 * nw, r += 8) {
                    cf_block(&buf[0][j * ps], ps, nw, w, r, o + c, out_c, left, 1, lo, hi);
                }
                if (c < out_c) {
                    cf_block(&buf[0][j * ps], ps, nw, w, r, o + c, out_c, left, 0, lo, hi);
                }
            }
        }
    }
}

#define CF_CASE(s, ic)                                                                   \
    if (full) {                                                                          \
        cf_body(p, in, out, s, ic, -128, 127);                                           \
    } else {                                                                             \
        cf_body(p, in, out, s, ic, p->act_min, p->act_max);                              \
    }                                                                                    \
    return

void vad_conv_first_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    const int full = p->act_min == -128 && p->act_max == 127;
    if (p->fast == VAD_CONV_FIRST && p->k_h == 3 && p->k_w == 3 && p->dil_h == 1 &&
        p->dil_w == 1 && p->stride_h == p->stride_w && p->in_c >= 1 && p->in_c <= 3) {
        const int32_t key = p->stride_w * 4 + p->in_c;
        switch (key) {
        case 5:
            CF_CASE(1, 1);
        case 6:
            CF_CASE(1, 2);
        case 7:
            CF_CASE(1, 3);
        case 9:
            CF_CASE(2, 1);
        case 10:
            CF_CASE(2, 2);
        case 11:
            CF_CASE(2, 3);
        default:
            break;
        }
    }
    vad_conv2d_s8(p, in, out);
}

#else /* VAD_NO_FAST_PATHS: the filter, bias and multipliers are there for the reference loops */

void vad_conv_first_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    vad_conv2d_s8_ref(p, in, out);
}

#endif /* VAD_NO_FAST_PATHS */
