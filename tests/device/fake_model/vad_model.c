/* vad_model.c: TEST FIXTURE, a fake model (see vad_model.h). It also touches a
 * VAD_ARENA_BYTES arena so that it does some memory work, like a real model. */
#include "vad_model.h"

static uint8_t arena[VAD_ARENA_BYTES];
static int8_t input_area[VAD_INPUT_BYTES]; /* stands for the input's place in the arena */

int8_t *vad_model_input_buffer(void) { return input_area; }

#ifdef VAD_FAKE_BIG_BYTES
/* too-big-model fixtures: a const table that lands in flash, a buffer in RAM */
extern const uint8_t vad_fake_big_table[VAD_FAKE_BIG_BYTES];
const uint8_t vad_fake_big_table[VAD_FAKE_BIG_BYTES] = {1};
#endif
#ifdef VAD_FAKE_BIG_RAM_BYTES
volatile uint8_t vad_fake_big_ram[VAD_FAKE_BIG_RAM_BYTES];
#endif

int vad_model_invoke(const int8_t *input, int8_t *output) {
  uint32_t acc[VAD_OUTPUT_BYTES];
  uint32_t i;
#ifdef VAD_FAKE_FAIL
  if (input[0] == -128) { return 7; }
#endif
  if (input != input_area) {
    for (i = 0; i < VAD_INPUT_BYTES; i++) { input_area[i] = input[i]; }
  }
  input = input_area;
  for (i = 0; i < VAD_OUTPUT_BYTES; i++) { acc[i] = 3u * i; }
  for (i = 0; i < VAD_INPUT_BYTES; i++) {
    arena[i % VAD_ARENA_BYTES] = (uint8_t)input[i];
    acc[i % VAD_OUTPUT_BYTES] += arena[i % VAD_ARENA_BYTES];
  }
#ifdef VAD_FAKE_BIG_BYTES
  acc[0] += vad_fake_big_table[input[1] & 0xFF];
#endif
#ifdef VAD_FAKE_BIG_RAM_BYTES
  vad_fake_big_ram[(uint8_t)input[2]] = 1;
  acc[1] += vad_fake_big_ram[0];
#endif
  for (i = 0; i < VAD_OUTPUT_BYTES; i++) { output[i] = (int8_t)(uint8_t)(acc[i] & 0xFFu); }
  for (i = 0; i < VAD_INPUT_BYTES; i++) { input_area[i] = (int8_t)0x55; } /* clobbered */
  return 0;
}
