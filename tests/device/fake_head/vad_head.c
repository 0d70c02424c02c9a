/* vad_head.c: TEST FIXTURE, the fake head of vad_head.h. */
#include "vad_head.h"

int32_t vad_head_score(const int8_t *features, int32_t *cell_scores) {
  int32_t best = INT32_MIN;
  int k, c;
  for (k = 0; k < VAD_HEAD_CELLS; k++) {
    int32_t s = -64 * k;
    for (c = 0; c < VAD_HEAD_CHANNELS; c++) { s += (c + 1) * features[k * VAD_HEAD_CHANNELS + c]; }
    cell_scores[k] = s;
    if (s > best) { best = s; }
  }
  return best;
}
