/*
 * vadtool native int8 runtime: a CONV_2D streamed into the DEPTHWISE_CONV_2D that reads it.
 *
 * The convolution's output (often the largest tensor of a MobileNet: a 1x1 expansion at high
 * resolution) is never stored whole: the depthwise layer's window of rows lives in a small
 * ring in the arena, each row computed once, when the window first reaches it. Both layers
 * run their own kernels (fast or reference, as built) on one row at a time, through copies of
 * their parameters that describe the row: the results are the plain schedule's, byte for byte.
 */
#include "vad_kernels.h"

#include <stdint.h>
#include <string.h>

/* Row r of the convolution's output into dst: the convolution restricted to one output row,
 * its window shifted by the padding (1x1 stride-1 layers: the input row itself, so the
 * direct fast path still applies). */
static void conv_row(const vad_conv_params_t *c, vad_conv_params_t *row, const int8_t *in,
                     int32_t r, int8_t *dst)
{
    if (c->k_h == 1 && c->stride_h == 1 && c->pad_h == 0) {
        row->in_h = 1;
        vad_conv2d_s8(row, in + r * c->in_w * c->in_c, dst);
    } else {
        row->pad_h = c->pad_h - r * c->stride_h;
        if (c->fast == VAD_CONV_FIRST) {
            vad_conv_first_s8(row, in, dst);
        } else {
            vad_conv2d_s8(row, in, dst);
        }
    }
}

/* memmove(dst, src, n) for dst < src (the ring's rows slid to its front): on Thumb-2 with both
 * word-aligned, 32 bytes a step by LDM/STM (4 instructions where newlib's memmove spends ~20:
 * it was a fifth of VWW's streaming overhead; r7 left out, the Thumb frame pointer at -O0). Forward copies are exact for dst < src: each
 * step reads its 32 bytes before writing any, and writes below what later steps read. */
static void ring_slide(int8_t *dst, const int8_t *src, int32_t n)
{
#if defined(__GNUC__) && defined(__thumb2__)
    if ((((uintptr_t)dst | (uintptr_t)src) & 3u) == 0 && n >= 32) {
        int32_t steps = n >> 5;
        __asm volatile("1:\n\t"
                       "ldmia %[s]!, {r4-r6, r8-r12}\n\t"
                       "stmia %[d]!, {r4-r6, r8-r12}\n\t"
                       "subs %[k], %[k], #1\n\t"
                       "bne 1b\n\t"
                       : [s] "+r"(src), [d] "+r"(dst), [k] "+r"(steps)
                       :
                       : "r4", "r5", "r6", "r8", "r9", "r10", "r11", "r12", "cc", "memory");
        n &= 31;
    }
#endif
    memmove(dst, src, (size_t)n);
}

void vad_conv_dw_s8(const vad_conv_dw_params_t *p, const int8_t *in, int8_t *out)
{
    const vad_conv_params_t *const c = p->conv;
    const vad_dwconv_params_t *const d = p->dw;
    const int32_t span = (d->k_h - 1) * d->dil_h + 1; /* rows of one window */
    const int32_t cap = p->ring_rows > span ? p->ring_rows : span;
    const int32_t per = (cap - span) / d->stride_h + 1; /* output rows a call of dw */
    const int32_t row_bytes = d->in_w * d->in_c;
    const int32_t out_row = d->out_w * d->out_c;
    vad_conv_params_t crow = *c;
    vad_dwconv_params_t drow = *d;
    int32_t lo = 0, n = 0, oy, m; /* the ring holds conv rows lo .. lo + n - 1, in order */
    crow.out_h = 1;
    for (oy = 0; oy < d->out_h; oy += m) {
        const int32_t top = oy * d->stride_h - d->pad_h;
        const int32_t first = top < 0 ? 0 : top;
        int32_t end, drop;
        m = d->out_h - oy < per ? d->out_h - oy : per;
        end = top + (m - 1) * d->stride_h + span; /* the window of output rows oy .. oy + m - 1 */
        end = end < d->in_h ? end : d->in_h;
        drop = first - lo < n ? first - lo : n;
        if (drop > 0) { /* rows above the window: slide the rest to the front */
            ring_slide(p->ring, p->ring + drop * row_bytes, (n - drop) * row_bytes);
            n -= drop;
            lo += drop;
        }
        if (n == 0) {
            lo = first;
        }
        for (; lo + n < end; ++n) {
            conv_row(c, &crow, in, lo + n, p->ring + n * row_bytes);
        }
        /* the depthwise layer on the ring: rows above the image are padding */
        drow.in_h = n;
        drow.pad_h = first - top;
        drow.out_h = m;
        vad_dwconv2d_s8(&drow, p->ring, out + oy * out_row);
    }
}
