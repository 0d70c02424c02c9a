/*
 * vadtool native int8 runtime: operator kernels.
 *
 * C99, no heap, no mutable globals. Every kernel reproduces the arithmetic of
 * TensorFlow Lite Micro's reference int8 kernels bit for bit (per-channel
 * fixed-point requantization, saturation, fused activation clamps).
 * Layout is NHWC with batch 1 unless a kernel says otherwise.
 *
 * Build switches:
 *   VAD_SINGLE_ROUNDING  1 = TFLite's single-rounding MultiplyByQuantizedMultiplier,
 *                        0 = the gemmlowp double rounding (default, what TFLM uses).
 *   VAD_NO_FAST_PATHS    define to use only the generic reference loops.
 *   __ARM_FEATURE_DSP    (set by the compiler) enables SMLAD inner loops.
 */
#ifndef VAD_KERNELS_H
#define VAD_KERNELS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef VAD_SINGLE_ROUNDING
#define VAD_SINGLE_ROUNDING 0
#endif

#if defined(__GNUC__) || defined(__clang__)
#define VAD_ALIGNED(n) __attribute__((aligned(n)))
#else
#define VAD_ALIGNED(n)
#endif

/* ---- fixed-point helpers (exact TFLite / gemmlowp semantics) ---- */
int32_t vad_srdhm(int32_t a, int32_t b);              /* SaturatingRoundingDoublingHighMul */
int32_t vad_rdbpot(int32_t x, int exponent);           /* RoundingDivideByPOT */
int32_t vad_mbqm(int32_t x, int32_t multiplier, int shift); /* MultiplyByQuantizedMultiplier */

/* ---- CONV_2D (per-channel int8) ---- */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t in_offset;   /* -input zero point */
    int32_t out_offset;  /* output zero point */
    int32_t act_min, act_max;
    const int8_t *filter;  /* [out_c][k_h][k_w][in_c]; on fast layers 0 unless built with
                              VAD_NO_FAST_PATHS (the reference loops are its only reader) */
    const int32_t *bias;   /* [out_c] or NULL; like mult, 0 on fast layers of fast builds */
    const int32_t *mult;   /* [out_c] */
    const int32_t *shift;  /* [out_c] */
    /* fast path (0 = reference loops only; VAD_CONV_FIRST: vad_conv_first_s8's layout),
     * prepared by the generator */
    int32_t fast;
    int32_t kpad;               /* k_h*k_w*in_c rounded up to a multiple of 4 */
    /* the filter laid out by the generator for gemm_2cols(): per pair of output channels, per
     * group of 4 values k..k+3 of a row (zero padded to kpad); an odd last channel alone.
     * wfast16 = 1: int16 pairs w0(k,k+2) w0(k+1,k+3) w1(k,k+2) w1(k+1,k+3) (twice the flash,
     * fewest instructions); 0: int8 words w0(k..k+3) w1(k..k+3), widened as they are read. */
    int32_t wfast16;
    const void *wfast;
    const int32_t *rq;          /* per output channel: bias + in_offset * sum(filter[oc]),
                                   mult, right shift e >= 1 (or 0: vad_mbqm with shift[oc]),
                                   2^(e-1); fast == 3: e = 0 is TFLM shift 0 and bit 31 of
                                   e marks e >= 1 (rq_fast in vad_conv_fast.c) */
    int8_t *scratch;            /* 4 * kpad bytes (two int16 columns) for direct 1x1 layers
                                   (stride 1, no padding, kpad == in_c), 6 * kpad (plus two int8
                                   im2col columns) for the others; in the arena, sized and placed
                                   by the generator. A layer without scratch uses the reference
                                   loops. */
    int32_t blocks4;            /* 1: the scratch holds 8 * kpad bytes (four int16 columns; 12 *
                                   kpad with four int8 im2col columns after them unless direct)
                                   and the layer runs in blocks of 4 pixels */
    int32_t blocks6;            /* 1 (direct full-range 1x1 layers with blocks4): the scratch
                                   holds 12 * kpad bytes (six int16 columns) and the layer runs
                                   in blocks of 6 pixels x 1 channel, the last 1-5 pixels as
                                   blocks4 says */
    int32_t px1;                /* 1: a direct full-range 1x1 layer on 8 or 16 input channels
                                   computed a pixel at a time, the widened pixel in registers
                                   (no scratch); wfast holds a record per channel (lower.py
                                   _conv_px1_records), rq is unused */
} vad_conv_params_t;

void vad_conv2d_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out);
/* A first 3x3 convolution on 1 to 3 channels (vad_conv_first.c): layers the generator gave
 * fast == VAD_CONV_FIRST (wfast then holds that kernel's filter layout, and there is no
 * scratch); any other layer goes to vad_conv2d_s8. */
#define VAD_CONV_FIRST 4
void vad_conv_first_s8(const vad_conv_params_t *p, const int8_t *in, int8_t *out);
void vad_conv2d_s8_ref(const vad_conv_params_t *p, const int8_t *in, int8_t *out);

/* ---- DEPTHWISE_CONV_2D (per-channel int8) ---- */
typedef struct {
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_h, pad_w;
    int32_t depth_mult;
    int32_t in_offset, out_offset, act_min, act_max;
    const int8_t *filter;  /* [1][k_h][k_w][out_c] */
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
    /* fast path (0 = reference loops only), prepared by the generator */
    int32_t fast;
    const int32_t *wpk;     /* [k_h*k_w][out_c/2]: int16 pairs (c, c+2), (c+1, c+3) per 4 channels */
    const int32_t *fbias;   /* bias + in_offset * sum over taps of filter[c] */
    const int32_t *rq_shift;
    const int32_t *rq_add;
    /* 3x3, stride 1 or 2, depth multiplier 1 (vad_dw3_fast.c), 0 = not that path: per channel
     * VAD_DW3_REC words laid out by the generator (the other fast arrays are then 0) */
    const int32_t *dw3;
} vad_dwconv_params_t;

#define VAD_DW3_REC 9
/* Rows of the 3x3 path: VAD_DW3_MAX_WORDS words: up to 130 output pixels a row at stride 1,
 * 65 at stride 2; wider layers take the other paths. Its stack: 10 such rows (2,640 bytes; 6
 * widened rows of a channel pair, or four channels of the strip layout, vad_dw3_fast.c). */
#define VAD_DW3_MAX_WORDS 66
#define VAD_DW3_ROW1 264 /* bytes from a widened row to the next: 4 * VAD_DW3_MAX_WORDS */
#define VAD_DW3_ROW2 528
#define VAD_DW3_ROW1P8 272
#define VAD_DW3_ROW2P8 536
#define VAD_DW3_ROW3 792
#define VAD_DW3_RECB 36 /* bytes of a record: 4 * VAD_DW3_REC */
/* rows of at most 32 words: blocks of rows of a channel pair or four channels in the same
 * buffer, rows 8, 16 or 32 words apart (pairs: 24, 12 or 6 rows a channel; fours: 20, 10 or 5) */
#define VAD_DW3_STRIP 32

void vad_dwconv2d_s8(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out);
void vad_dwconv2d_s8_ref(const vad_dwconv_params_t *p, const int8_t *in, int8_t *out);

/* ---- CONV_2D streamed into the DEPTHWISE_CONV_2D that alone reads its output ---- */
typedef struct {
    const vad_conv_params_t *conv;
    const vad_dwconv_params_t *dw;  /* its input is conv's output */
    int8_t *ring;  /* ring_rows rows of conv's output, in the arena */
    /* at least one window of dw, (k_h - 1) * dil_h + 1 rows; each stride_h rows more let one
     * call of dw make one more output row (codegen grows the ring where the arena has room) */
    int32_t ring_rows;
} vad_conv_dw_params_t;

/* in: conv's input, out: dw's output; the same bytes as the two kernels one after the other */
void vad_conv_dw_s8(const vad_conv_dw_params_t *p, const int8_t *in, int8_t *out);

/* Limits of the fast paths. CONV_2D has none and no stack buffer: its columns live in
 * p->scratch, sized from the model and counted in the arena. DEPTHWISE_CONV_2D keeps on the
 * stack a row of DW_C zero points and two tables of TAPS entries (DW_C + 8 * TAPS bytes on a
 * 32-bit core); larger layers use the reference loops. Define a smaller DW_C to save stack. */
#ifndef VAD_FAST_MAX_DW_C
#define VAD_FAST_MAX_DW_C 1024
#endif
#define VAD_FAST_MAX_TAPS 25

/* ---- FULLY_CONNECTED ---- */
typedef struct {
    int32_t batches, in_depth, out_depth;
    int32_t in_offset, filter_offset, out_offset, act_min, act_max;
    int32_t per_channel;   /* 1: mult/shift have out_depth entries, 0: one entry */
    const int8_t *filter;  /* [out_depth][in_depth] */
    const int32_t *bias;
    const int32_t *mult;
    const int32_t *shift;
} vad_fc_params_t;

void vad_fully_connected_s8(const vad_fc_params_t *p, const int8_t *in, int8_t *out);

/* ---- ADD / MUL with 4-D broadcasting (stride 0 on broadcast dims) ---- */
typedef struct {
    int32_t shape[4];          /* output shape */
    int32_t stride1[4];        /* element strides of input 1 per output dim */
    int32_t stride2[4];
    int32_t in1_offset, in2_offset, out_offset;
    int32_t left_shift;                     /* ADD only */
    int32_t in1_mult, in1_shift, in2_mult, in2_shift; /* ADD only */
    int32_t out_mult, out_shift;
    int32_t act_min, act_max;
} vad_binary_params_t;

void vad_add_s8(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void vad_mul_s8(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void vad_add_s8_ref(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void vad_mul_s8_ref(const vad_binary_params_t *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* ---- AVERAGE_POOL_2D ---- */
typedef struct {
    int32_t in_h, in_w, c, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, pad_h, pad_w;
    int32_t act_min, act_max;
} vad_pool_params_t;

void vad_avgpool_s8(const vad_pool_params_t *p, const int8_t *in, int8_t *out);
void vad_avgpool_s8_ref(const vad_pool_params_t *p, const int8_t *in, int8_t *out);

/* ---- MEAN over H and W of NHWC (TFLM reference_ops::QuantizedMeanOrSum) ---- */
typedef struct {
    int32_t h, w, c;
    int32_t sum_offset;    /* -input_zp * h * w */
    int32_t mult, shift;   /* input/output scale with 1/(h*w) folded in, as TFLM */
    int32_t out_zp;
} vad_mean_params_t;

void vad_mean_hw_s8(const vad_mean_params_t *p, const int8_t *in, int8_t *out);

/* ---- SOFTMAX int8 -> int8 (gemmlowp fixed-point exp, TFLM reference) ---- */
typedef struct {
    int32_t outer, depth;
    int32_t input_multiplier, input_left_shift, diff_min;
} vad_softmax_params_t;

void vad_softmax_s8(const vad_softmax_params_t *p, const int8_t *in, int8_t *out);

/* ---- PAD (4-D, constant = output zero point) ---- */
typedef struct {
    int32_t in_shape[4], out_shape[4], before[4];
    int32_t pad_value;
} vad_pad_params_t;

void vad_pad_s8(const vad_pad_params_t *p, const int8_t *in, int8_t *out);

/* ---- QUANTIZE int8 -> int8 (requantize) ---- */
typedef struct {
    int32_t size, in_zp, out_zp, mult, shift;
} vad_requant_params_t;

void vad_requantize_s8(const vad_requant_params_t *p, const int8_t *in, int8_t *out);

/* ---- CONCATENATION (any axis; inputs have the output's scale and zero point) ---- */
#define VAD_CONCAT_MAX_INPUTS 10 /* TFLM's limit */
typedef struct {
    int32_t num_inputs;
    int32_t outer;                            /* product of the dimensions before the axis */
    int32_t copy_size[VAD_CONCAT_MAX_INPUTS]; /* per input: its axis size x inner size */
} vad_concat_params_t;

/* in[i] points to input i; out must not overlap any input */
void vad_concat_s8(const vad_concat_params_t *p, const int8_t *const *in, int8_t *out);

/* ---- RESHAPE / copies ---- */
void vad_copy_s8(const int8_t *in, int8_t *out, int32_t size);

#ifdef __cplusplus
}
#endif

#endif /* VAD_KERNELS_H */
