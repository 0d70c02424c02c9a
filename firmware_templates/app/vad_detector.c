/* vad_detector.c: network, head, decision (see vad_detector.h). */
#include "vad_detector.h"

#include "vad_board.h"

#define CELL_SLOTS (VAD_HEAD_CELLS > 0 ? VAD_HEAD_CELLS : 1)

static VAD_SMALL_RAM int8_t features[VAD_OUTPUT_BYTES];
static VAD_SMALL_RAM int32_t cells[CELL_SLOTS];

int vad_detect(const int8_t *input, vad_result *result) {
  uint64_t t0, t1;
  int rc;
  board_timer_restart();
  t0 = board_ticks();
  rc = vad_model_invoke(input, features);
  t1 = board_ticks();
  result->image_score = 0;
  result->decision = VAD_DECISION_NONE;
  result->head_ticks = 0;
  if (rc != 0) {
    result->ticks = t1 - t0;
    return rc;
  }
#if VAD_HAS_HEAD
  result->image_score = vad_head_score(features, cells);
  result->decision = result->image_score > (int32_t)(VAD_HEAD_THRESHOLD) ? VAD_DECISION_ANOMALY
                                                                         : VAD_DECISION_NORMAL;
#endif
  result->ticks = board_ticks() - t0;
  result->head_ticks = result->ticks - (t1 - t0);
  return 0;
}

const int8_t *vad_detect_features(void) { return features; }

const int32_t *vad_detect_cells(void) { return cells; }
