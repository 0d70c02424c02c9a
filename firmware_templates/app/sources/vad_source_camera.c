/* vad_source_camera.c: the image source for a board's camera.
 *
 * Implement, in a .c file of your own beside this one (the Makefile builds every .c file):
 *
 *     int vad_camera_capture(uint8_t *rgb);
 *
 * It captures the next frame and writes it at the model's input size, VAD_INPUT_H rows of
 * VAD_INPUT_W pixels of 3 bytes R, G, B (vad_model.h), resized the way the run was trained
 * (vadtool.json "input": squash, fit or crop); it returns 1 for a frame, 0 to end the loop.
 * The frame is written in place into the model's input buffer and turned into the int8
 * input (pixel - 128, what the host's runners feed the model), so it costs no extra RAM.
 * Without an implementation the weak one below ends the loop at once. */
#include <stdint.h>

#include "vad_image_source.h"
#include "vad_model.h"

int vad_camera_capture(uint8_t *rgb);

__attribute__((weak)) int vad_camera_capture(uint8_t *rgb) {
  (void)rgb;
  return 0;
}

const int8_t *vad_image_source_next(void) {
  int8_t *input = vad_model_input_buffer();
  uint8_t *pixels = (uint8_t *)input;
  uint32_t i;
  if (!vad_camera_capture(pixels)) { return 0; }
  for (i = 0; i < (uint32_t)VAD_INPUT_BYTES; i++) {
    input[i] = (int8_t)((int32_t)pixels[i] + (int32_t)(VAD_INPUT_ZERO_POINT));
  }
  return input;
}
