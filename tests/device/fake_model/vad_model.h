/* vad_model.h: TEST FIXTURE, a fake model with the interface vadtool.native generates.
 * Output byte i = (sum of input bytes at positions j with j % VAD_OUTPUT_BYTES == i,
 * plus 3 * i) mod 256, as int8. -DVAD_FAKE_INPUT_H / -DVAD_FAKE_OUTPUT_BYTES resize it;
 * -DVAD_FAKE_BIG_BYTES / -DVAD_FAKE_BIG_RAM_BYTES add flash / RAM to make it too big.
 * -DVAD_FAKE_FAIL makes invoke return 7 when input[0] == -128. */
#ifndef VAD_MODEL_H
#define VAD_MODEL_H

#include <stdint.h>

#ifndef VAD_FAKE_INPUT_H
#define VAD_FAKE_INPUT_H 16
#endif
#define VAD_INPUT_H VAD_FAKE_INPUT_H
#define VAD_INPUT_W 16
#define VAD_INPUT_C 3
#define VAD_INPUT_BYTES (VAD_INPUT_H * VAD_INPUT_W * VAD_INPUT_C)
#ifndef VAD_FAKE_OUTPUT_BYTES
#define VAD_FAKE_OUTPUT_BYTES 144
#endif
#define VAD_OUTPUT_BYTES VAD_FAKE_OUTPUT_BYTES
#define VAD_ARENA_BYTES 4096
#define VAD_MODEL_HASH "f00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dfacef00dface"
#define VAD_INPUT_SCALE 0.00392156862745098f
#define VAD_INPUT_ZERO_POINT (-128)
#define VAD_OUTPUT_SCALE 0.5f
#define VAD_OUTPUT_ZERO_POINT 3

/* Copies input into the arena unless it is vad_model_input_buffer(); overwrites the arena's
 * input, as a real model's later layers do. */
int vad_model_invoke(const int8_t *input, int8_t *output);

/* Where the input lives in the arena. */
int8_t *vad_model_input_buffer(void);

#endif /* VAD_MODEL_H */
