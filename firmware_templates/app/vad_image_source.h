/* vad_image_source.h: where the standalone loop's images come from. One source is rendered
 * into a project (vadtool render --source):
 *   protocol     the host pushes frames with LOAD_INPUT (sources/vad_source_protocol.c)
 *   semihosting  raw int8 frames read from a file by semihosting, on QEMU (vad_source_semihost.c)
 *   camera       a camera driver fills RGB frames (vad_source_camera.c: implement
 *                vad_camera_capture() for the board's camera) */
#ifndef VAD_IMAGE_SOURCE_H
#define VAD_IMAGE_SOURCE_H

#include <stdint.h>

/* The next image as the model's int8 input (VAD_INPUT_BYTES, HWC, pixel - 128), or NULL
 * when the source has no more. The pointer stays valid until the next call. */
const int8_t *vad_image_source_next(void);

#endif /* VAD_IMAGE_SOURCE_H */
