#include "vad_kernels.h"
void vad_conv2d_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out) { vad_conv2d_s8_ref(p, in, out); }
void vad_dwconv2d_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out) { vad_dwconv2d_s8_ref(p, in, out); }
