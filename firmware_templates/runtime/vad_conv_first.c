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

#endif /* VAD_NO_FAST_PATHS */
