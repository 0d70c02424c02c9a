/* vad_head.h: TEST FIXTURE, a fake integer head with the interface vadtool.head_c renders
 * (Contract B): it reads the fake model's output as a VAD_FAKE_GRID x VAD_FAKE_GRID grid of
 * cells and scores cell k as sum_c (c + 1) * feature[k][c] - 64 * k; the image score is the
 * highest cell score. tests/device/conftest.py: fake_head() computes the same. */
#ifndef VAD_HEAD_H
#define VAD_HEAD_H

#include <stdint.h>

#include "protocol.h"
#include "vad_model.h"

#ifndef VAD_FAKE_GRID
#define VAD_FAKE_GRID 4
#endif
#define VAD_HEAD_KIND VAD_HEAD_KIND_GAUSSIAN
#define VAD_HEAD_GRID_H VAD_FAKE_GRID
#define VAD_HEAD_GRID_W VAD_FAKE_GRID
#define VAD_HEAD_CELLS (VAD_HEAD_GRID_H * VAD_HEAD_GRID_W)
#define VAD_HEAD_CHANNELS (VAD_OUTPUT_BYTES / VAD_HEAD_CELLS)
#define VAD_HEAD_SCORE_FRAC_BITS 6
#ifndef VAD_FAKE_THRESHOLD
#define VAD_FAKE_THRESHOLD 1800
#endif
#define VAD_HEAD_THRESHOLD VAD_FAKE_THRESHOLD

int32_t vad_head_score(const int8_t *features, int32_t *cell_scores);

#endif
