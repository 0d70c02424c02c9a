/* vad_source_semihost.c: the image source that reads raw int8 frames (VAD_INPUT_BYTES each,
 * back to back, as the host's runners feed the model) from the file VAD_FRAMES_FILE, through
 * Arm semihosting: QEMU runs with -semihosting-config enable=on and opens the file relative
 * to its working folder (`vadtool emulate --images` writes it). The source ends at the end of
 * the file, or at once if the file cannot be opened. On the host board the same file is read
 * with stdio. */
#include <stdint.h>

#include "vad_image_source.h"
#include "vad_model.h"

#ifndef VAD_FRAMES_FILE
#define VAD_FRAMES_FILE "vad_frames.bin"
#endif

#if defined(__arm__)
#define SYS_OPEN 0x01
#define SYS_CLOSE 0x02
#define SYS_READ 0x06
#define MODE_RB 1

static int semihost(int op, const void *args) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = args;
  __asm__ volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

static int frames = -2; /* semihosting handle; -2: not opened yet, -1: failed or ended */

const int8_t *vad_image_source_next(void) {
  int8_t *input = vad_model_input_buffer();
  uint32_t args[3];
  if (frames == -2) {
    static const char name[] = VAD_FRAMES_FILE;
    args[0] = (uint32_t)(uintptr_t)name;
    args[1] = MODE_RB;
    args[2] = sizeof name - 1;
    frames = semihost(SYS_OPEN, args);
  }
  if (frames < 0) { return 0; }
  args[0] = (uint32_t)frames;
  args[1] = (uint32_t)(uintptr_t)input;
  args[2] = VAD_INPUT_BYTES;
  if (semihost(SYS_READ, args) != 0) { /* bytes not read: the file ended */
    args[0] = (uint32_t)frames;
    semihost(SYS_CLOSE, args);
    frames = -1;
    return 0;
  }
  return input;
}
#else
#include <stdio.h>

static FILE *frames;
static int opened;

const int8_t *vad_image_source_next(void) {
  int8_t *input = vad_model_input_buffer();
  if (!opened) {
    opened = 1;
    frames = fopen(VAD_FRAMES_FILE, "rb");
  }
  if (frames == NULL) { return 0; }
  if (fread(input, 1, VAD_INPUT_BYTES, frames) != (size_t)VAD_INPUT_BYTES) {
    fclose(frames);
    frames = NULL;
    return 0;
  }
  return input;
}
#endif
