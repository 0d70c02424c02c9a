/* vad_detector.h: the whole detector on one input: the network, then (when the model has
 * one) the integer head that scores its cells and decides. Used by the protocol server and
 * by the standalone loop, which share its buffers. */
#ifndef VAD_DETECTOR_H
#define VAD_DETECTOR_H

#include <stdint.h>

#include "protocol.h"
#include "vad_config.h"
#include "vad_model.h"

#if VAD_HAS_HEAD
#include "vad_head.h" /* VAD_HEAD_* and vad_head_score(), rendered from the run's integer head */
#else
#define VAD_HEAD_KIND VAD_HEAD_KIND_NONE
#define VAD_HEAD_GRID_H 0
#define VAD_HEAD_GRID_W 0
#define VAD_HEAD_CELLS 0
#define VAD_HEAD_SCORE_FRAC_BITS 0
#define VAD_HEAD_THRESHOLD 0
#endif

typedef struct {
  int32_t image_score; /* the head's image score (score = image_score / 2^VAD_HEAD_SCORE_FRAC_BITS) */
  uint8_t decision;    /* VAD_DECISION_*: NONE without a head */
  uint64_t ticks;      /* board_ticks() for network and head */
  uint64_t head_ticks; /* board_ticks() for the head alone */
} vad_result;

/* Runs the network on input (VAD_INPUT_BYTES int8; vad_model_input_buffer() saves a copy)
 * and the head on its output. Returns the model's status (0: ok); result is then filled. */
int vad_detect(const int8_t *input, vad_result *result);

/* The last run's network output (VAD_OUTPUT_BYTES) and cell scores (VAD_HEAD_CELLS int32,
 * row by row). */
const int8_t *vad_detect_features(void);
const int32_t *vad_detect_cells(void);

#endif /* VAD_DETECTOR_H */
