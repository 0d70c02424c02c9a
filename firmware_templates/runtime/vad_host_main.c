/*
 * vadtool native runtime: host batch tool.
 * Reads raw int8 inputs (VAD_INPUT_BYTES each) from stdin until EOF and writes one raw
 * int8 output (VAD_OUTPUT_BYTES) per input to stdout; built with VAD_HOST_HEAD, the rendered
 * head (vad_head.h) scores that output and its int32 cell scores and image score follow it
 * (host byte order). Exit code 0 on success, 1 on a truncated input, 2 on an inference or
 * I/O error.
 */
#include <stdio.h>
#include <stdint.h>

#include "vad_model.h"
#ifdef VAD_HOST_HEAD
#include "vad_head.h"
static int32_t scores[VAD_HEAD_CELLS + 1];
/* the head scores exactly the model's output */
typedef char vad_head_matches_output[VAD_HEAD_CELLS * VAD_HEAD_CHANNELS == VAD_OUTPUT_BYTES ? 1 : -1];
#endif

static int8_t in_buf[VAD_INPUT_BYTES];
static int8_t out_buf[VAD_OUTPUT_BYTES];

int main(void)
{
    for (;;) {
        size_t got = fread(in_buf, 1, sizeof(in_buf), stdin);
        if (got == 0 && feof(stdin)) {
            break;
        }
        if (got != sizeof(in_buf)) {
            fprintf(stderr, "vad_host: truncated input (%lu of %lu bytes)\n",
                    (unsigned long)got, (unsigned long)sizeof(in_buf));
            return 1;
        }
        if (vad_model_invoke(in_buf, out_buf) != 0) {
            fprintf(stderr, "vad_host: vad_model_invoke failed\n");
            return 2;
        }
        if (fwrite(out_buf, 1, sizeof(out_buf), stdout) != sizeof(out_buf)) {
            fprintf(stderr, "vad_host: write failed\n");
            return 2;
        }
#ifdef VAD_HOST_HEAD
        scores[VAD_HEAD_CELLS] = vad_head_score(out_buf, scores);
        if (fwrite(scores, sizeof(scores[0]), VAD_HEAD_CELLS + 1, stdout) != VAD_HEAD_CELLS + 1) {
            fprintf(stderr, "vad_host: write failed\n");
            return 2;
        }
#endif
    }
    return fflush(stdout) == 0 ? 0 : 2;
}
