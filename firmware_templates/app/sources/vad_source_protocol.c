/* vad_source_protocol.c: the image source that takes frames the host pushes with LOAD_INPUT
 * (the protocol server keeps answering every request meanwhile). The source ends when the
 * stream closes (host builds only). */
#include "vad_image_source.h"
#include "vad_protocol.h"

const int8_t *vad_image_source_next(void) {
  const int8_t *input;
  for (;;) {
    if (vad_server_poll() == VAD_SERVER_CLOSED) { return 0; }
    input = vad_server_take_input();
    if (input != 0) { return input; }
  }
}
