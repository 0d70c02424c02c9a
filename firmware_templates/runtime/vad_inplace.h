/*
 * vadtool native int8 runtime: a 1x1 CONV_2D (stride 1, no padding) one row at a time, for a
 * layer whose output the memory planner places over its own input (native/inplace.py).
 */
#ifndef VAD_INPLACE_H
#define VAD_INPLACE_H

#include "vad_kernels.h"

/* The same bytes as vad_conv2d_s8(p, in, out); row r of the output is written only after
 * rows 0 .. r of the input have been read, and no input row after r is read before it: the
 * output may overwrite the input rows already consumed. */
void vad_conv2d_rows_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out);

#endif /* VAD_INPLACE_H */
