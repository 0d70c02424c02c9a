/*
 * vadtool native int8 runtime: a 1x1 CONV_2D (stride 1, no padding) one row at a time.
 *
 * The planner may place such a layer's output over its input when the input dies with it
 * (native/inplace.py computes how far): each call of the layer's own kernel (fast or
 * reference, as built) covers one row, so whatever order the kernel works in inside a row,
 * output row r is written only once input row r has been read, and input rows after r are
 * read only after it. The bytes are the plain call's (a 1x1 convolution's output row is a
 * function of its input row alone).
 */
#include "vad_inplace.h"

void vad_conv2d_rows_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out)
{
    vad_conv_params_t row = *p;
    const int32_t in_row = p->in_w * p->in_c;
    const int32_t out_row = p->out_w * p->out_c;
    int32_t r;
    row.in_h = 1;
    row.out_h = 1;
    for (r = 0; r < p->out_h; ++r) {
        vad_conv2d_s8(&row, in + r * in_row, out + r * out_row);
    }
}
