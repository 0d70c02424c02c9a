/*
 * vadtool native int8 runtime: DEPTHWISE_CONV_2D 3x3, stride 1 or 2, depth multiplier 1.
 *
 * Per output row and per pair of channels, the three input rows the window covers are
 * widened once into int16 rows of one channel each (zero point outside the image, which
 * contributes exactly 0 with the folded bias), so that neighbouring pixels of a channel sit in
 * one word: then a row of the window is one SMLAD (taps 0 and 1) and one SMLAxy (tap 2), and
 * two output pixels share their words (stride 1: the second pixel's taps 0 and 1 are the
 * halves of two words, packed once and multiplied with SMLADX). Rows of up to VAD_DW3_STRIP
 * words, when more than one output row is asked for, take the strip layout instead: per channel
 * pair, the input rows of a block of output rows are widened once, 8, 16 or 32 words apart (as
 * many rows as the same buffer holds), and one asm call runs a channel's whole block, so an
 * input row is widened once per block, not once per output row that reads it. Output rows are
 * written in order within each channel, every output row only from its own window: what the
 * streamed schedule (vad_stream.c, one output row per call, the per-row layout) relies on.
 *
 * The generator lays out per channel (vad_dwconv_params_t.dw3, VAD_DW3_REC words):
 *   [0] 2 * (bias + in_offset * sum of the filter)
 *   [1..3] per filter row r: int16 pair (2 w[r][0], 2 w[r][1])
 *   [4] int16 pair (2 w[0][2], 2 w[1][2]), [5] e (low half) and 2 w[2][2] (high half): the
 *       asm loops shift by this word (ASR takes its low byte) and read the tap from its top
 *   [6] multiplier, [7] 2^(e-1) + out_offset * 2^e, [8] e (right shift, >= 1)
 * The doubled filter gives twice the accumulator, which SMMULR needs (|acc| < 2^30 is checked
 * by the generator, as for the other fast paths), and the output offset is added before the
 * shift (exact: a multiple of 2^e). Bit-exact with vad_dwconv2d_s8_ref.
 */
#include "vad_fast_common.h"

#ifndef VAD_NO_FAST_PATHS

#if defined(__ARM_FEATURE_DSP)
#define D3_SMLADX(x, y, acc) __smladx((int32_t)(x), (int32_t)(y), (acc))
#define D3_SMLABT(x, y, acc) __smlabt((int32_t)(x), (int32_t)(y), (acc))
#define D3_SMLATB(x, y, acc) __smlatb((int32_t)(x), (int32_t)(y), (acc))
VAD_INLINE int32_t d3_smmulr(int32_t a, int32_t b)
{
    int32_t t;
    __asm("smmulr %0, %1, %2" : "=r"(t) : "r"(a), "r"(b));
    return t;
}
#else
#define D3_LO(x) ((int32_t)(int16_t)((uint32_t)(x) & 0xFFFFu))
#define D3_HI(x) ((int32_t)(int16_t)((uint32_t)(x) >> 16))
#define D3_SMLADX(x, y, acc) ((acc) + D3_LO(x) * D3_HI(y) + D3_HI(x) * D3_LO(y))
#define D3_SMLABT(x, y, acc) ((acc) + D3_LO(x) * D3_HI(y))
#define D3_SMLATB(x, y, acc) ((acc) + D3_HI(x) * D3_LO(y))
VAD_INLINE int32_t d3_smmulr(int32_t a, int32_t b)
{
    return (int32_t)(((int64_t)a * b + ((int64_t)1 << 31)) >> 32);
}
#endif

/* top half of t, bottom half of b (one PKHTB) */
#define D3_PK(t, b) (((t) & 0xFFFF0000u) | ((b) & 0xFFFFu))

#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__)
#define D3_ASM 1
/* The pixel-pair loop of d3_chan for the full int8 range, written out: GCC's version of it
 * spills (14 registers are live). p: the channel's widened row 0 (rows 1, 2 follow at
 * VAD_DW3_MAX_WORDS words), rec: its record, o: output pixel 0, C: pixel stride, n >= 1 pixel
 * pairs. Per pair (18 MACs): 1 LDRD for both accumulators' bias, per filter row 1 LDRD (+1 LDR
 * at stride 2) and 4 multiplies (+1 PKHBT at stride 1), then per pixel SMMLAR (the rounding
 * term and output offset added by it), the sign (t and acc have the same sign, or t is 0 where
 * either gives the same result for e >= 1), ASR, SSAT, STRB. */
/* n pixel pairs per unit, nch units: a unit is a channel (the next one's rows dp bytes on, its
 * record drec bytes on, its output dout bytes on) or an output row of one channel (drec 0). */
typedef void (*d3_pairs_fn)(const uint32_t *p, const int32_t *rec, int8_t *o, int32_t C,
                            int32_t n, int32_t nch, int32_t dp, int32_t drec, int32_t dout);
#define D3_DECL(name) void name(const uint32_t *p, const int32_t *rec, int8_t *o, int32_t C, \
                                int32_t n, int32_t nch, int32_t dp, int32_t drec, int32_t dout);
D3_DECL(vad_dw3_pairs_s1)
D3_DECL(vad_dw3_pairs_s2)
D3_DECL(vad_dw3_pairs_s1_8)
D3_DECL(vad_dw3_pairs_s2_8)
D3_DECL(vad_dw3_pairs_s1_16)
D3_DECL(vad_dw3_pairs_s2_16)
D3_DECL(vad_dw3_pairs_s1_32)
D3_DECL(vad_dw3_pairs_s2_32)
#define D3_STR(x) #x
#define D3_XSTR(x) D3_STR(x)
#define D3_ROW1 D3_XSTR(VAD_DW3_ROW1)
#define D3_ROW2 D3_XSTR(VAD_DW3_ROW2)
#define D3_ROW1P8 D3_XSTR(VAD_DW3_ROW1P8)
#define D3_ROW2P8 D3_XSTR(VAD_DW3_ROW2P8)
/* Frame: [sp] b2 b2, [sp + 8] mult rnd, [sp + 16] e, [sp + 20] p rec, [sp + 28] o, [sp + 32]
 * units left, [sp + 36] pskip oskip; the stack arguments n, nch, dp, drec, dout at [sp + 84] ..
 * [sp + 100]. Per unit: k0..k4 in r4..r8, lr: the end of o; the next unit's rows at p + dp,
 * its record at rec + drec, its output at o + dout (bytes). Units of one record (drec 0: the
 * output rows of a channel) step from where the last one ended, by pskip = dp - (bytes a unit
 * reads: 4 per pair, 8 at stride 2; PSH the shift) and oskip = dout - 2 n C, with k0..k4 and
 * the frame kept: 12 instructions between rows. */
#define D3_PROLOGUE(PSH)                                               \
    "push {r4-r11, lr}\n\t"                                           \
    "sub sp, sp, #48\n\t"                                              \
    "ldr r4, [sp, #88]\n\t"                                            \
    "str r4, [sp, #32]\n\t"                                            \
    "strd r0, r1, [sp, #20]\n\t"                                       \
    "str r2, [sp, #28]\n\t"                                            \
    "ldr r4, [sp, #84]\n\t"                                            \
    "ldr r5, [sp, #92]\n\t"                                            \
    "sub r5, r5, r4, lsl #" PSH "\n\t"                                 \
    "mul r6, r4, r3\n\t"                                               \
    "ldr r7, [sp, #100]\n\t"                                           \
    "sub r6, r7, r6, lsl #1\n\t"                                       \
    "strd r5, r6, [sp, #36]\n"                                         \
    "2:\n\t"                                                           \
    "ldr r4, [r1]\n\t"                                                 \
    "mov r5, r4\n\t"                                                   \
    "strd r4, r5, [sp]\n\t"                                            \
    "ldrd r4, r5, [r1, #24]\n\t"                                       \
    "strd r4, r5, [sp, #8]\n\t"                                        \
    "ldr r4, [r1, #32]\n\t"                                            \
    "str r4, [sp, #16]\n\t"                                            \
    "ldr lr, [sp, #84]\n\t"                                            \
    "mul lr, lr, r3\n\t"                                               \
    "add lr, r2, lr, lsl #1\n\t"                                       \
    "adds r1, r1, #4\n\t"                                              \
    "ldm r1, {r4-r8}\n"
#define D3_EPILOGUE                                                    \
    "ldrd r11, r12, [sp, #8]\n\t"                                      \
    "smmlar r1, r9, r11, r12\n\t"                                      \
    "add r9, r1, r9, asr #31\n\t"                                      \
    "smmlar r1, r10, r11, r12\n\t"                                     \
    "add r10, r1, r10, asr #31\n\t"                                    \
    "asr r9, r9, r8\n\t" /* e: the low byte of k4 */                   \
    "asr r10, r10, r8\n\t"                                             \
    "ssat r9, #8, r9\n\t"                                              \
    "ssat r10, #8, r10\n\t"                                            \
    "strb r9, [r2]\n\t"                                                \
    "strb r10, [r2, r3]\n\t"                                           \
    "add r2, r2, r3, lsl #1\n\t"                                       \
    "cmp r2, lr\n\t"                                                   \
    "bne 1b\n\t"                                                       \
    "ldr r11, [sp, #32]\n\t"                                           \
    "subs r11, r11, #1\n\t"                                            \
    "beq 3f\n\t"                                                       \
    "str r11, [sp, #32]\n\t"                                           \
    "ldr r1, [sp, #96]\n\t"                                            \
    "cbnz r1, 5f\n\t" /* another record: from the frame */             \
    "ldrd r11, r12, [sp, #36]\n\t"                                     \
    "add r0, r0, r11\n\t"                                              \
    "add r2, r2, r12\n\t"                                              \
    "ldr r11, [sp, #100]\n\t"                                          \
    "add lr, lr, r11\n\t"                                              \
    "b 1b\n"                                                           \
    "5:\n\t"                                                           \
    "ldr r11, [sp, #92]\n\t"                                           \
    "ldr r0, [sp, #20]\n\t"                                            \
    "add r0, r0, r11\n\t"                                              \
    "str r0, [sp, #20]\n\t"                                            \
    "ldr r2, [sp, #28]\n\t"                                            \
    "ldr r11, [sp, #100]\n\t"                                          \
    "add r2, r2, r11\n\t"                                              \
    "str r2, [sp, #28]\n\t"                                            \
    "ldr r12, [sp, #24]\n\t"                                           \
    "add r1, r1, r12\n\t"                                              \
    "str r1, [sp, #24]\n\t"                                            \
    "b 2b\n"                                                           \
    "3:\n\t"                                                           \
    "add sp, sp, #48\n\t"                                              \
    "pop {r4-r11, pc}\n\t"
/* One function: name (a string), R1, R2 (bytes from a widened row to the next two; R1P8,
 * R2P8: 8 more) */
#define D3_FN_S1(name, R1, R2) \
    ".section .text." name ",\"ax\",%progbits\n\t" \
    ".global " name "\n\t" \
    ".type " name ", %function\n\t" \
    ".thumb\n\t" \
    ".thumb_func\n\t" \
    ".align 2\n" \
    name ":\n\t" D3_PROLOGUE("2") \
    "1:\n\t" \
    "ldrd r9, r10, [sp]\n\t" \
    "ldrd r11, r12, [r0, #" R1 "]\n\t" \
    "pkhbt r1, r12, r11\n\t" \
    "smlad r9, r11, r5, r9\n\t" \
    "smladx r10, r1, r5, r10\n\t" \
    "smlabt r9, r12, r7, r9\n\t" \
    "smlatt r10, r12, r7, r10\n\t" \
    "ldrd r11, r12, [r0, #" R2 "]\n\t" \
    "pkhbt r1, r12, r11\n\t" \
    "smlad r9, r11, r6, r9\n\t" \
    "smladx r10, r1, r6, r10\n\t" \
    "smlabt r9, r12, r8, r9\n\t" \
    "smlatt r10, r12, r8, r10\n\t" \
    "ldrd r11, r12, [r0], #4\n\t" \
    "pkhbt r1, r12, r11\n\t" \
    "smlad r9, r11, r4, r9\n\t" \
    "smladx r10, r1, r4, r10\n\t" \
    "smlabb r9, r12, r7, r9\n\t" \
    "smlatb r10, r12, r7, r10\n\t" \
    D3_EPILOGUE \
    ".size " name ", .-" name "\n\t"
#define D3_FN_S2(name, R1, R2, R1P8, R2P8) \
    ".section .text." name ",\"ax\",%progbits\n\t" \
    ".global " name "\n\t" \
    ".type " name ", %function\n\t" \
    ".thumb\n\t" \
    ".thumb_func\n\t" \
    ".align 2\n" \
    name ":\n\t" D3_PROLOGUE("3") \
    "1:\n\t" \
    "ldrd r9, r10, [sp]\n\t" \
    "ldrd r11, r12, [r0, #" R1 "]\n\t" \
    "ldr r1, [r0, #" R1P8 "]\n\t" \
    "smlad r9, r11, r5, r9\n\t" \
    "smlad r10, r12, r5, r10\n\t" \
    "smlabt r9, r12, r7, r9\n\t" \
    "smlabt r10, r1, r7, r10\n\t" \
    "ldrd r11, r12, [r0, #" R2 "]\n\t" \
    "ldr r1, [r0, #" R2P8 "]\n\t" \
    "smlad r9, r11, r6, r9\n\t" \
    "smlad r10, r12, r6, r10\n\t" \
    "smlabt r9, r12, r8, r9\n\t" \
    "smlabt r10, r1, r8, r10\n\t" \
    "ldrd r11, r12, [r0], #8\n\t" \
    "ldr r1, [r0]\n\t" \
    "smlad r9, r11, r4, r9\n\t" \
    "smlad r10, r12, r4, r10\n\t" \
    "smlabb r9, r12, r7, r9\n\t" \
    "smlabb r10, r1, r7, r10\n\t" \
    D3_EPILOGUE \
    ".size " name ", .-" name "\n\t"
/* the rows of d3_body's buffer (VAD_DW3_MAX_WORDS words apart), and of its strip layout (8,
 * 16 or 32 words apart: several rows of a channel, d3_strip) */
__asm(".syntax unified\n\t"
      D3_FN_S1("vad_dw3_pairs_s1", D3_ROW1, D3_ROW2)
      D3_FN_S2("vad_dw3_pairs_s2", D3_ROW1, D3_ROW2, D3_ROW1P8, D3_ROW2P8)
      D3_FN_S1("vad_dw3_pairs_s1_8", "32", "64")
      D3_FN_S2("vad_dw3_pairs_s2_8", "32", "64", "40", "72")
      D3_FN_S1("vad_dw3_pairs_s1_16", "64", "128")
      D3_FN_S2("vad_dw3_pairs_s2_16", "64", "128", "72", "136")
      D3_FN_S1("vad_dw3_pairs_s1_32", "128", "256")
      D3_FN_S2("vad_dw3_pairs_s2_32", "128", "256", "136", "264")
      ".text\n");
#endif

/* acc2: twice the accumulator; r: the channel's record */
VAD_INLINE int8_t d3_out(int32_t acc2, const int32_t *r, const int32_t lo, const int32_t hi)
{
    const int32_t t = d3_smmulr(acc2, r[6]);
    int32_t v = (t + r[7] + (t >> 31)) >> r[8];
#if defined(__ARM_FEATURE_DSP)
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(v, 8);
    }
#endif
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* Input pixel ix of a row (channels c, c + 1 as the bytes of a halfword), or the zero point. */
VAD_INLINE uint32_t d3_px(const int8_t *row, int32_t ix, int32_t in_w, int32_t C, const int two,
                          uint32_t zz)
{
    if (ix < 0 || ix >= in_w) {
        return zz;
    }
    row += ix * C;
    return (uint8_t)row[0] | (two ? (uint32_t)(uint8_t)row[1] << 8 : 0u);
}

/* n >= 0 words of a channel pair's row widened from src (pixel pairs 2C bytes apart): channel c
 * into a[0 .. n - 1], c + 1 three buffer rows further (b = a + 3 * VAD_DW3_MAX_WORDS, as in
 * d3_body's buffer) */
#ifdef D3_ASM
/* one word of d3_mid2: channels c and c + 1 of a pixel pair, widened, to a[0] and a[ROW3] */
#define D3_MID2_WORD                                                                        \
    "ldrh %[h0], [%[s]]\n\t"                                                                 \
    "ldrh %[h1], [%[s], %[C]]\n\t"                                                           \
    "add %[s], %[s], %[C], lsl #1\n\t"                                                       \
    "orr %[h0], %[h0], %[h1], lsl #16\n\t"                                                   \
    "sxtb16 %[h1], %[h0], ror #8\n\t"                                                        \
    "sxtb16 %[h0], %[h0]\n\t"                                                                \
    "str %[h1], [%[a], #" D3_XSTR(VAD_DW3_ROW3) "]\n\t"                                      \
    "str %[h0], [%[a]], #4\n\t"
/* two words of d3_mid2 (two pixel pairs), each channel's two words stored by one STRD: 14
 * instructions where two D3_MID2_WORD take 16 */
#define D3_MID2_WORDS2                                                                      \
    "ldrh %[h0], [%[s]]\n\t"                                                                 \
    "ldrh %[h1], [%[s], %[C]]\n\t"                                                           \
    "add %[s], %[s], %[C], lsl #1\n\t"                                                       \
    "ldrh %[h2], [%[s]]\n\t"                                                                 \
    "ldrh %[h3], [%[s], %[C]]\n\t"                                                           \
    "add %[s], %[s], %[C], lsl #1\n\t"                                                       \
    "orr %[h0], %[h0], %[h1], lsl #16\n\t"                                                   \
    "orr %[h2], %[h2], %[h3], lsl #16\n\t"                                                   \
    "sxtb16 %[h1], %[h0], ror #8\n\t"                                                        \
    "sxtb16 %[h0], %[h0]\n\t"                                                                \
    "sxtb16 %[h3], %[h2], ror #8\n\t"                                                        \
    "sxtb16 %[h2], %[h2]\n\t"                                                                \
    "strd %[h1], %[h3], [%[a], #" D3_XSTR(VAD_DW3_ROW3) "]\n\t"                              \
    "strd %[h0], %[h2], [%[a]], #8\n\t"
#endif

VAD_INLINE void d3_mid2(const int8_t *src, uint32_t *a, int32_t n, int32_t C)
{
#ifdef D3_ASM
    if (n > 0) {
        uint32_t *pa = a;
        uint32_t h0, h1, h2, h3;
        __asm volatile(
            "tst %[n], #1\n\t"
            "beq 2f\n\t"
            D3_MID2_WORD
            "2:\n\t"
            "lsrs %[n], %[n], #1\n\t"
            "beq 3f\n"
            "1:\n\t"
            D3_MID2_WORDS2
            "subs %[n], %[n], #1\n\t"
            "bne 1b\n"
            "3:\n\t"
            : [s] "+r"(src), [a] "+r"(pa), [n] "+r"(n), [h0] "=&r"(h0), [h1] "=&r"(h1),
              [h2] "=&r"(h2), [h3] "=&r"(h3)
            : [C] "r"(C)
            : "cc", "memory");
    }
#else
    int32_t j;
    for (j = 0; j < n; ++j, src += 2 * C) {
        uint16_t h0, h1;
        uint32_t h;
        memcpy(&h0, src, 2);
        memcpy(&h1, src + C, 2);
        h = (uint32_t)h0 | ((uint32_t)h1 << 16);
        a[j] = VAD_SXTB16(h);
        a[j + 3 * VAD_DW3_MAX_WORDS] = VAD_SXTB16_ROR8(h);
    }
#endif
}

/* Words 0 .. nw - 1 of one row widened for channel c (a) and c + 1 (b, if two): word j holds
 * the pixels ix = 2j - pad_w and 2j + 1 - pad_w. row: the input row at channel c, or 0 outside
 * the image. */
VAD_INLINE void d3_row_t(const int8_t *row, int32_t in_w, int32_t C, int32_t pad_w, int32_t nw,
                         const int two, uint32_t zz, uint32_t *a, uint32_t *b)
{
    int32_t j = 0, ix = -pad_w;
    if (!row) {
        const uint32_t z = VAD_SXTB16(zz | (zz << 16));
        for (; j < nw; ++j) {
            a[j] = z;
            b[j] = z;
        }
        return;
    }
    for (; ix < 0 && j < nw; ++j, ix += 2) { /* left padding: pixel ix + 1 may be inside */
        const uint32_t h = zz | ((ix + 1 < 0 ? zz : d3_px(row, ix + 1, in_w, C, two, zz)) << 16);
        a[j] = VAD_SXTB16(h);
        b[j] = VAD_SXTB16_ROR8(h);
    }
    {
        const int8_t *src = row + ix * C;
        const int32_t step = 2 * C;
        int32_t je = j + (in_w - ix) / 2; /* words with both pixels inside */
        je = je < nw ? je : nw;
        if (two) {
            d3_mid2(src, a + j, je - j, C);
            j = je > j ? je : j;
            (void)b;
            (void)step;
        } else {
            for (; j < je; ++j, src += step) {
                a[j] = VAD_SXTB16((uint32_t)(uint8_t)src[0] | ((uint32_t)(uint8_t)src[C] << 16));
            }
        }
        ix = 2 * j - pad_w;
    }
    for (; j < nw; ++j, ix += 2) { /* right edge (pixel ix may be inside) and padding */
        const uint32_t h = d3_px(row, ix, in_w, C, two, zz) | (zz << 16);
        a[j] = VAD_SXTB16(h);
        b[j] = VAD_SXTB16_ROR8(h);
    }
}

VAD_INLINE uint32_t d3_ld16(const int8_t *p)
{
    uint16_t h;
    memcpy(&h, p, 2);
    return h;
}

/* One row of a channel pair with pad_w <= 1 (every 3x3 layer's) widened like d3_row_t: one
 * padding word on the left if pad_w, the pixel pairs inside, then a last pixel and padding.
 * zw: the widened zero point. */
VAD_INLINE void d3_row2(const int8_t *row, int32_t in_w, int32_t C, int32_t pad_w, int32_t nw,
                        uint32_t zz, uint32_t zw, uint32_t *a)
{
    uint32_t *const b = a + 3 * VAD_DW3_MAX_WORDS;
    int32_t j = 0, rem = in_w, m;
    if (row) {
        if (pad_w) {
            const uint32_t h = zz | (d3_ld16(row) << 16);
            a[0] = VAD_SXTB16(h);
            b[0] = VAD_SXTB16_ROR8(h);
            j = 1;
            row += C;
            rem -= 1;
        }
        m = rem >> 1;
        m = m < nw - j ? m : nw - j;
        d3_mid2(row, a + j, m, C);
        j += m;
        if (j < nw && (rem & 1)) {
            const uint32_t h = d3_ld16(row + 2 * m * C) | (zz << 16);
            a[j] = VAD_SXTB16(h);
            b[j] = VAD_SXTB16_ROR8(h);
            ++j;
        }
    }
    for (; j < nw; ++j) {
        a[j] = zw;
        b[j] = zw;
    }
}

/* The window's three rows widened for channels c, c + 1 (two) or c alone into buf (rows 0-2
 * of channel c, then rows 0-2 of c + 1), out of line: inlined, GCC spills the caller's loops.
 * rows: the input rows at channel 0, 0 outside the image. */
#if defined(__GNUC__)
#define D3_NOINLINE __attribute__((noinline))
#else
#define D3_NOINLINE
#endif
static D3_NOINLINE void d3_rows2(const int8_t *const *rows, int32_t c, int32_t in_w, int32_t C,
                                 int32_t pad_w, int32_t nw, uint32_t zz,
                                 uint32_t (*buf)[VAD_DW3_MAX_WORDS])
{
    int32_t ky;
    if (pad_w <= 1) {
        const uint32_t zw = VAD_SXTB16(zz | (zz << 16));
        for (ky = 0; ky < 3; ++ky) {
            d3_row2(rows[ky] ? rows[ky] + c : 0, in_w, C, pad_w, nw, zz, zw, buf[ky]);
        }
        return;
    }
    for (ky = 0; ky < 3; ++ky) {
        d3_row_t(rows[ky] ? rows[ky] + c : 0, in_w, C, pad_w, nw, 1, zz, buf[ky], buf[3 + ky]);
    }
}

static D3_NOINLINE void d3_rows1(const int8_t *const *rows, int32_t c, int32_t in_w, int32_t C,
                                 int32_t pad_w, int32_t nw, uint32_t zz,
                                 uint32_t (*buf)[VAD_DW3_MAX_WORDS])
{
    int32_t ky;
    for (ky = 0; ky < 3; ++ky) {
        d3_row_t(rows[ky] ? rows[ky] + c : 0, in_w, C, pad_w, nw, 0, zz, buf[ky], buf[3 + ky]);
    }
}

/* Strip layout: input rows iy0 .. iy0 + nrows - 1 (zero point outside the image) of channel c
 * at flat + r * S words, of channel c + 1 three buffer rows further (where the asm conversion
 * loop puts them). A channel pair with pad_w <= 1 (every 3x3 layer's): each row one padding
 * word on the left if pad_w, the pixel pairs inside, then a last pixel and padding. */
static D3_NOINLINE void d3_strip(const int8_t *in, int32_t c, int32_t in_h, int32_t iy0,
                                 int32_t nrows, int32_t in_w, int32_t C, int32_t pad_w,
                                 int32_t nw, int two, uint32_t zz, uint32_t *flat, int32_t S)
{
    const uint32_t zw = VAD_SXTB16(zz | (zz << 16));
    int32_t r;
    for (r = 0; r < nrows; ++r, flat += S) {
        const int32_t iy = iy0 + r;
        const int8_t *row = (iy >= 0 && iy < in_h) ? in + iy * in_w * C + c : 0;
        if (two && pad_w <= 1) {
            d3_row2(row, in_w, C, pad_w, nw, zz, zw, flat);
        } else if (two) {
            d3_row_t(row, in_w, C, pad_w, nw, 1, zz, flat, flat + 3 * VAD_DW3_MAX_WORDS);
        } else {
            d3_row_t(row, in_w, C, pad_w, nw, 0, zz, flat, flat + 3 * VAD_DW3_MAX_WORDS);
        }
    }
}

/* Words a channel takes in d3_strip4's layout (four channels: 640 words), and d3_body's
 * buffer in rows of VAD_DW3_MAX_WORDS words: 10 (2,640 bytes of stack), the per-row and pairs
 * layouts using the first 6. 5 rows of 32 words a channel let stride 2 take channels in fours
 * on rows of 32 words too (VWW 16 @24x24 s2, FOMO 0.35's 48 @24x24 s2), and rows of 8 and 16
 * words make blocks of 18 and 8 output rows at stride 1 (9 and 4 at stride 2) where a quarter
 * of the 6 rows (99 words) made 10 and 4 (5 and 2). lower.DW3_QUAD_WORDS. */
#define D3_Q4 160
#define D3_BUF_ROWS 10

/* Word 0 of four channels from pixels a (low halves) and b (high halves), each the 4 channel
 * bytes of a pixel: channel k to d[k * D3_Q4]. The bytes are paired first (PKHBT: bytes 0, 1
 * of a and b; PKHTB: bytes 2, 3), then SXTB16 and SXTB16 ROR #8 each give one channel's word:
 * 2 packs and 4 extensions where extending first needs 4 of each. */
VAD_INLINE void d3_quad_word(uint32_t a, uint32_t b, uint32_t *d)
{
    const uint32_t lo = vad_pk_lo2(a, b), hi = vad_pk_hi2(a, b);
    d[0] = VAD_SXTB16(lo);
    d[D3_Q4] = VAD_SXTB16_ROR8(lo);
    d[2 * D3_Q4] = VAD_SXTB16(hi);
    d[3 * D3_Q4] = VAD_SXTB16_ROR8(hi);
}

/* Strip layout for four channels c .. c + 3 (C a multiple of 4, pad_w <= 1): input rows iy0 ..
 * iy0 + nrows - 1 (zero point outside the image) of channel c + k at flat + k * D3_Q4 + r * S
 * words (S 8 or 16), each row like d3_row2's: a padding word on the left if pad_w, the pixel pairs inside,
 * a last pixel and padding (the same words in every row: counted once). One word load per
 * pixel gives the four channels: small maps widen in about 1.6 instructions a value where the
 * per-pair rows spent 5 to 10 on their edges. */
static D3_NOINLINE void d3_strip4(const int8_t *in, int32_t c, int32_t in_h, int32_t iy0,
                                  int32_t nrows, int32_t in_w, int32_t C, int32_t pad_w,
                                  int32_t nw, uint32_t zz, uint32_t *flat, int32_t S)
{
    const uint32_t z4 = zz | (zz << 16);
    const uint32_t zw = VAD_SXTB16(z4);
    const int32_t rem = in_w - pad_w;
    const int32_t mid = (rem >> 1) < nw - pad_w ? rem >> 1 : nw - pad_w; /* pixel pairs */
    const int32_t last = pad_w + mid < nw && (rem & 1);
    const int32_t full = pad_w + mid + last; /* words from the image; the rest padding */
    const int32_t step = 2 * C;
    int32_t r, j;
    for (r = 0; r < nrows; ++r, flat += S) {
        const int32_t iy = iy0 + r;
        uint32_t *d = flat;
        j = 0;
        if (iy >= 0 && iy < in_h) {
            const int8_t *src = in + iy * in_w * C + c;
            if (pad_w) {
                d3_quad_word(z4, rd32(src), d++);
                src += C;
            }
            for (j = mid; j > 0; --j, src += step) {
                d3_quad_word(rd32(src), rd32(src + C), d++);
            }
            if (last) {
                d3_quad_word(rd32(src), z4, d);
            }
            j = full;
        }
        for (; j < nw; ++j) {
            flat[j] = zw;
            flat[D3_Q4 + j] = zw;
            flat[2 * D3_Q4 + j] = zw;
            flat[3 * D3_Q4 + j] = zw;
        }
    }
}

/* One output row of one channel from its three widened rows. o: the output pixel 0 at the
 * channel, C: the pixel stride. */
VAD_INLINE void d3_chan(const uint32_t *r0, const uint32_t *r1, const uint32_t *r2,
                        const int32_t *rec, int8_t *o, int32_t x0, int32_t out_w, int32_t C,
                        const int stride2, const int32_t lo, const int32_t hi)
{
    const int32_t b2 = rec[0];
    const uint32_t k0 = (uint32_t)rec[1], k1 = (uint32_t)rec[2], k2 = (uint32_t)rec[3];
    const uint32_t k3 = (uint32_t)rec[4], k4 = (uint32_t)rec[5];
    int32_t x = x0;
    o += x0 * C;
    for (; x + 1 < out_w; x += 2, o += 2 * C) {
        int32_t a, b;
        if (stride2) {
            /* pixel x: words x (taps 0, 1) and x + 1 (tap 2, low half); pixel x + 1: x + 1, x + 2 */
            uint32_t u0 = r0[x], u1 = r0[x + 1], u2 = r0[x + 2];
            a = VAD_SMLAD(u0, k0, b2);
            a = VAD_SMLABB(u1, k3, a);
            b = VAD_SMLAD(u1, k0, b2);
            b = VAD_SMLABB(u2, k3, b);
            u0 = r1[x];
            u1 = r1[x + 1];
            u2 = r1[x + 2];
            a = VAD_SMLAD(u0, k1, a);
            a = D3_SMLABT(u1, k3, a);
            b = VAD_SMLAD(u1, k1, b);
            b = D3_SMLABT(u2, k3, b);
            u0 = r2[x];
            u1 = r2[x + 1];
            u2 = r2[x + 2];
            a = VAD_SMLAD(u0, k2, a);
            a = D3_SMLABT(u1, k4, a);
            b = VAD_SMLAD(u1, k2, b);
            b = D3_SMLABT(u2, k4, b);
        } else {
            /* pixels x, x + 1 (x even): words w0 = (x, x+1), w1 = (x+2, x+3) and
             * m = (x+2, x+1), whose SMLADX gives the second pixel's taps 0 and 1 */
            const int32_t j = x >> 1;
            uint32_t w0 = r0[j], w1 = r0[j + 1], m = D3_PK(w0, w1);
            a = VAD_SMLAD(w0, k0, b2);
            a = VAD_SMLABB(w1, k3, a);
            b = D3_SMLADX(m, k0, b2);
            b = D3_SMLATB(w1, k3, b);
            w0 = r1[j];
            w1 = r1[j + 1];
            m = D3_PK(w0, w1);
            a = VAD_SMLAD(w0, k1, a);
            a = D3_SMLABT(w1, k3, a);
            b = D3_SMLADX(m, k1, b);
            b = VAD_SMLATT(w1, k3, b);
            w0 = r2[j];
            w1 = r2[j + 1];
            m = D3_PK(w0, w1);
            a = VAD_SMLAD(w0, k2, a);
            a = D3_SMLABT(w1, k4, a);
            b = D3_SMLADX(m, k2, b);
            b = VAD_SMLATT(w1, k4, b);
        }
        o[0] = d3_out(a, rec, lo, hi);
        o[C] = d3_out(b, rec, lo, hi);
    }
    if (x < out_w) { /* odd width: the last pixel alone */
        const int32_t j = stride2 ? x : x >> 1;
        int32_t a = VAD_SMLAD(r0[j], k0, b2);
        a = VAD_SMLABB(r0[j + 1], k3, a);
        a = VAD_SMLAD(r1[j], k1, a);
        a = D3_SMLABT(r1[j + 1], k3, a);
        a = VAD_SMLAD(r2[j], k2, a);
        a = D3_SMLABT(r2[j + 1], k4, a);
        o[0] = d3_out(a, rec, lo, hi);
    }
}

/* Maps 3 pixels wide (lower.DW3_TINY_W: VWW's last two depthwise layers): every input row
 * the layer reads widened once into the strip layout with rows D3_TS words apart (four
 * channels a group, or pairs and a last lone channel), then each channel's rows computed in C
 * with the three pixels of a row written out (stride 1: pixel 1's taps 0 and 1 from one PKHTB
 * and SMLADX, as in d3_chan), no asm call and no per-pixel loop: where the pair loop and an odd
 * last pixel in C cost 6 to 7 instructions a MAC on these maps. 0 if the layer's rows do not
 * fit the buffer (the caller then takes the strip or per-row layout). */
#define D3_TS 4 /* words between rows: a row is 3 words at stride 1, 4 at stride 2 */

/* (low half of b, high half of t): one PKHBT (D3_PK, which GCC builds from 4 instructions) */
#if defined(__ARM_FEATURE_DSP)
VAD_INLINE uint32_t d3_pk(uint32_t t, uint32_t b)
{
    uint32_t r;
    __asm("pkhbt %0, %1, %2" : "=r"(r) : "r"(b), "r"(t));
    return r;
}
/* d3_out with the record's words in registers: t = SMMLAR(acc2, mult, rnd), the sign of acc2
 * for t's (as the asm loops: the same result for e >= 1), ASR by k4 (its low byte is e) */
VAD_INLINE int8_t d3_req(int32_t acc2, int32_t mult, int32_t rnd, uint32_t k4, const int32_t lo,
                         const int32_t hi)
{
    int32_t t, v;
    __asm("smmlar %0, %1, %2, %3" : "=r"(t) : "r"(acc2), "r"(mult), "r"(rnd));
    t += acc2 >> 31;
    __asm("asr %0, %1, %2" : "=r"(v) : "r"(t), "r"(k4));
    if (lo == -128 && hi == 127) {
        return (int8_t)__ssat(v, 8);
    }
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}
#else
#define d3_pk(t, b) D3_PK(t, b)
VAD_INLINE int8_t d3_req(int32_t acc2, int32_t mult, int32_t rnd, uint32_t k4, const int32_t lo,
                         const int32_t hi)
{
    const int32_t t = d3_smmulr(acc2, mult) + rnd + (acc2 >> 31);
    int32_t v = t >> (k4 & 0xFFu);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}
#endif

VAD_INLINE void d3_tiny_chan(const uint32_t *r, const int32_t *rec, int8_t *o, int32_t C,
                             int32_t n, const int stride2, const int32_t lo, const int32_t hi)
{
    /* the record in registers: int8 stores may alias it, so read once */
    const uint32_t k0 = (uint32_t)rec[1], k1 = (uint32_t)rec[2], k2 = (uint32_t)rec[3];
    const uint32_t k3 = (uint32_t)rec[4], k4 = (uint32_t)rec[5];
    const int32_t mult = rec[6], rnd = rec[7];
    int8_t *const end = o + n * 3 * C;
    for (; o != end; r += (stride2 ? 2 : 1) * D3_TS, o += 3 * C) {
        const int32_t b2 = rec[0];
        int32_t a, b, c;
        if (stride2) {
            /* pixel x: words x (taps 0, 1) and x + 1 (tap 2, low half) */
            uint32_t u0 = r[0], u1 = r[1], u2 = r[2], u3 = r[3];
            a = VAD_SMLABB(u1, k3, VAD_SMLAD(u0, k0, b2));
            b = VAD_SMLABB(u2, k3, VAD_SMLAD(u1, k0, b2));
            c = VAD_SMLABB(u3, k3, VAD_SMLAD(u2, k0, b2));
            u0 = r[D3_TS];
            u1 = r[D3_TS + 1];
            u2 = r[D3_TS + 2];
            u3 = r[D3_TS + 3];
            a = D3_SMLABT(u1, k3, VAD_SMLAD(u0, k1, a));
            b = D3_SMLABT(u2, k3, VAD_SMLAD(u1, k1, b));
            c = D3_SMLABT(u3, k3, VAD_SMLAD(u2, k1, c));
            u0 = r[2 * D3_TS];
            u1 = r[2 * D3_TS + 1];
            u2 = r[2 * D3_TS + 2];
            u3 = r[2 * D3_TS + 3];
            a = D3_SMLABT(u1, k4, VAD_SMLAD(u0, k2, a));
            b = D3_SMLABT(u2, k4, VAD_SMLAD(u1, k2, b));
            c = D3_SMLABT(u3, k4, VAD_SMLAD(u2, k2, c));
        } else {
            /* words w0 = (0, 1), w1 = (2, 3), w2 = (4, 5) of the window positions: pixel 0
             * w0 and w1's low half, pixel 1 m = (2, 1) by SMLADX and w1's high half, pixel 2
             * w1 and w2's low half */
            uint32_t w0 = r[0], w1 = r[1], w2 = r[2], m = d3_pk(w0, w1);
            a = VAD_SMLABB(w1, k3, VAD_SMLAD(w0, k0, b2));
            b = D3_SMLATB(w1, k3, D3_SMLADX(m, k0, b2));
            c = VAD_SMLABB(w2, k3, VAD_SMLAD(w1, k0, b2));
            w0 = r[D3_TS];
            w1 = r[D3_TS + 1];
            w2 = r[D3_TS + 2];
            m = d3_pk(w0, w1);
            a = D3_SMLABT(w1, k3, VAD_SMLAD(w0, k1, a));
            b = VAD_SMLATT(w1, k3, D3_SMLADX(m, k1, b));
            c = D3_SMLABT(w2, k3, VAD_SMLAD(w1, k1, c));
            w0 = r[2 * D3_TS];
            w1 = r[2 * D3_TS + 1];
            w2 = r[2 * D3_TS + 2];
            m = d3_pk(w0, w1);
            a = D3_SMLABT(w1, k4, VAD_SMLAD(w0, k2, a));
            b = VAD_SMLATT(w1, k4, D3_SMLADX(m, k2, b));
            c = D3_SMLABT(w2, k4, VAD_SMLAD(w1, k2, c));
        }
        o[0] = d3_req(a, mult, rnd, k4, lo, hi);
        o[C] = d3_req(b, mult, rnd, k4, lo, hi);
        o[2 * C] = d3_req(c, mult, rnd, k4, lo, hi);
    }
}

VAD_INLINE int d3_tiny(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out,
                       uint32_t *flat, const int stride2, const int32_t lo, const int32_t hi)
{
    const int32_t C = p->out_c, s = stride2 ? 2 : 1, pad_w = p->pad_w;
    const int32_t nrows = (p->out_h - 1) * s + 3, nw = stride2 ? 4 : 3;
    const uint32_t zz = (uint8_t)(-p->in_offset) | ((uint32_t)(uint8_t)(-p->in_offset) << 8);
    const int quad = (C & 3) == 0 && pad_w <= 1;
    const int32_t Q = quad ? D3_Q4 : 3 * VAD_DW3_MAX_WORDS; /* words a channel */
    int32_t c, k;
    if (nrows * D3_TS > Q) {
        return 0;
    }
    for (c = 0; c < C; c += quad ? 4 : 2) {
        const int32_t nk = quad ? 4 : c + 1 < C ? 2 : 1;
        if (quad) {
            d3_strip4(in, c, p->in_h, -p->pad_h, nrows, p->in_w, C, pad_w, nw, zz, flat, D3_TS);
        } else {
            d3_strip(in, c, p->in_h, -p->pad_h, nrows, p->in_w, C, pad_w, nw, nk == 2, zz, flat,
                     D3_TS);
        }
        for (k = 0; k < nk; ++k) {
            d3_tiny_chan(flat + k * Q, p->dw3 + (c + k) * VAD_DW3_REC, out + c + k, C, p->out_h,
                         stride2, lo, hi);
        }
    }
    return 1;
}

VAD_INLINE void d3_body(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out,
                        const int stride2, const int32_t lo, const int32_t hi)
{
    uint32_t VAD_ALIGNED(8) buf[D3_BUF_ROWS][VAD_DW3_MAX_WORDS];
    const int32_t C = p->out_c, in_w = p->in_w, in_h = p->in_h, out_w = p->out_w;
    const int32_t s = stride2 ? 2 : 1, pad_w = p->pad_w;
    /* words of a widened row: the last pixel pair reads up to buffer index s * out_w + 1 */
    const int32_t nw = stride2 ? out_w + 1 : (out_w + 3) / 2;
    const uint32_t zz = (uint8_t)(-p->in_offset) | ((uint32_t)(uint8_t)(-p->in_offset) << 8);
    const int32_t *const dw3 = p->dw3;
    int32_t oy, c, ky, x0 = 0;
    if (out_w == 3 && d3_tiny(p, in, out, &buf[0][0], stride2, lo, hi)) {
        return;
    }
#ifdef D3_ASM
    const int use_asm = lo == -128 && hi == 127 && out_w >= 2;
    if (use_asm) {
        x0 = out_w & ~1; /* the pairs in asm, an odd last pixel in C */
    }
#endif
    /* rows of up to VAD_DW3_STRIP words, more than one output row: the input rows of a block
     * of output rows widened once per channel pair, S words apart (3 * VAD_DW3_MAX_WORDS / S
     * rows a channel), each channel's block of output rows one asm call. One output row (the
     * streamed pairs' calls when their ring holds one window) only where channels go in fours:
     * VWW's streamed 32 @24x24 s1 0.969 -> 0.947 M with its convolution, where pairs of
     * channels on 25-word rows (16 @24x24 s2) lose to the per-row layout (0.959 -> 0.994 M). */
    if (nw <= VAD_DW3_STRIP && (p->out_h > 1 || ((C & 3) == 0 && pad_w <= 1))) {
        uint32_t *const flat = &buf[0][0];
        const int32_t S = nw <= 8 ? 8 : nw <= 16 ? 16 : 32;
        /* channels in fours: four channels widened together, each in D3_Q4 words (d3_strip4:
         * one word load a pixel for four channels; on VWW every such layer is faster than in
         * pairs, 16 @24x24 s2 3.65 -> 3.23, 8 @48x48 s1 2.38 -> 2.32); else pairs, each in
         * half of the per-row layout's 6 rows */
        const int quad = (C & 3) == 0 && pad_w <= 1;
        const int32_t Q = quad ? D3_Q4 : 3 * VAD_DW3_MAX_WORDS; /* words a channel */
        const int32_t per = (Q / S - 3) / s + 1; /* output rows a block */
#ifdef D3_ASM
        static const d3_pairs_fn fns[2][3] = {
            {vad_dw3_pairs_s1_8, vad_dw3_pairs_s1_16, vad_dw3_pairs_s1_32},
            {vad_dw3_pairs_s2_8, vad_dw3_pairs_s2_16, vad_dw3_pairs_s2_32}};
        const d3_pairs_fn fn = fns[stride2][S == 8 ? 0 : S == 16 ? 1 : 2];
#endif
        int32_t oy0;
        for (c = 0; c < C; c += quad ? 4 : 2) {
            const int32_t nk = quad ? 4 : c + 1 < C ? 2 : 1;
            int32_t k;
            for (oy0 = 0; oy0 < p->out_h; oy0 += per) {
                const int32_t n = p->out_h - oy0 < per ? p->out_h - oy0 : per;
                if (quad) {
                    d3_strip4(in, c, in_h, oy0 * s - p->pad_h, (n - 1) * s + 3, in_w, C, pad_w,
                              nw, zz, flat, S);
                } else {
                    d3_strip(in, c, in_h, oy0 * s - p->pad_h, (n - 1) * s + 3, in_w, C, pad_w,
                             nw, nk == 2, zz, flat, S);
                }
                for (k = 0; k < nk; ++k) {
                    const int32_t *rec = dw3 + (c + k) * VAD_DW3_REC;
                    const uint32_t *base = flat + k * Q;
                    int8_t *o = out + oy0 * out_w * C + c + k;
#ifdef D3_ASM
                    if (use_asm) {
                        fn(base, rec, o, C, out_w >> 1, n, 4 * s * S, 0, out_w * C);
                    }
#endif
                    if (x0 < out_w) {
                        for (oy = 0; oy < n; ++oy, base += s * S, o += out_w * C) {
                            d3_chan(base, base + S, base + 2 * S, rec, o, x0, out_w, C, stride2,
                                    lo, hi);
                        }
                    }
                }
            }
        }
        return;
    }
    for (oy = 0; oy < p->out_h; ++oy) {
        int8_t *orow = out + oy * out_w * C;
        const int32_t iy0 = oy * s - p->pad_h;
        const int8_t *rows[3];
        for (ky = 0; ky < 3; ++ky) {
            const int32_t iy = iy0 + ky;
            rows[ky] = (iy >= 0 && iy < in_h) ? in + iy * in_w * C : 0;
        }
        for (c = 0; c + 1 < C; c += 2) {
            d3_rows2(rows, c, in_w, C, pad_w, nw, zz, buf);
#ifdef D3_ASM
            if (use_asm) {
                (stride2 ? vad_dw3_pairs_s2 : vad_dw3_pairs_s1)(buf[0], dw3 + c * VAD_DW3_REC,
                                                                orow + c, C, out_w >> 1, 2,
                                                                VAD_DW3_ROW3, VAD_DW3_RECB, 1);
            }
#endif
            if (x0 < out_w) {
                d3_chan(buf[0], buf[1], buf[2], dw3 + c * VAD_DW3_REC, orow + c, x0, out_w, C,
                        stride2, lo, hi);
                d3_chan(buf[3], buf[4], buf[5], dw3 + (c + 1) * VAD_DW3_REC, orow + c + 1, x0,
                        out_w, C, stride2, lo, hi);
            }
        }
        if (c < C) { /* odd channel count: the last channel alone */
            d3_rows1(rows, c, in_w, C, pad_w, nw, zz, buf);
#ifdef D3_ASM
            if (use_asm) {
                (stride2 ? vad_dw3_pairs_s2 : vad_dw3_pairs_s1)(buf[0], dw3 + c * VAD_DW3_REC,
                                                                orow + c, C, out_w >> 1, 1,
                                                                VAD_DW3_ROW3, VAD_DW3_RECB, 1);
            }
#endif
            if (x0 < out_w) {
                d3_chan(buf[0], buf[1], buf[2], dw3 + c * VAD_DW3_REC, orow + c, x0, out_w, C,
                        stride2, lo, hi);
            }
        }
    }
}

int vad_dw3_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out)
{
    const int32_t nw = p->stride_w == 2 ? p->out_w + 1 : (p->out_w + 3) / 2;
    const int full = p->act_min == -128 && p->act_max == 127;
    if (!p->dw3 || p->k_h != 3 || p->k_w != 3 || p->depth_mult != 1 || p->dil_h != 1 ||
        p->dil_w != 1 || p->stride_h != p->stride_w || (p->stride_w != 1 && p->stride_w != 2) ||
        nw > VAD_DW3_MAX_WORDS) {
        return 0;
    }
    if (p->stride_w == 2) {
        if (full) {
            d3_body(p, in, out, 1, -128, 127);
        } else {
            d3_body(p, in, out, 1, p->act_min, p->act_max);
        }
    } else if (full) {
        d3_body(p, in, out, 0, -128, 127);
    } else {
        d3_body(p, in, out, 0, p->act_min, p->act_max);
    }
    return 1;
}

#endif /* VAD_NO_FAST_PATHS */
