/* Host debug program: runs one input (stdin) and writes every operator's output tensor to
 * stdout as records [int32 op index][int32 size][size bytes]; a band step of a patched
 * schedule (its rows of the operator's output) as [int32 -1 - op index][int32 size]
 * [int32 byte offset in the tensor][size bytes]. */
#include <stdint.h>
#include <stdio.h>

#include "vad_model.h"

static int8_t in_buf[VAD_INPUT_BYTES];
static int8_t out_buf[VAD_OUTPUT_BYTES];

void vad_debug_tensor(int index, const int8_t *data, int32_t size);
void vad_debug_tensor(int index, const int8_t *data, int32_t size)
{
    int32_t head[2];
    head[0] = index;
    head[1] = size;
    fwrite(head, sizeof(head), 1, stdout);
    fwrite(data, 1, (size_t)size, stdout);
}

void vad_debug_part(int index, const int8_t *data, int32_t offset, int32_t size);
void vad_debug_part(int index, const int8_t *data, int32_t offset, int32_t size)
{
    int32_t head[3];
    head[0] = -1 - index;
    head[1] = size;
    head[2] = offset;
    fwrite(head, sizeof(head), 1, stdout);
    fwrite(data, 1, (size_t)size, stdout);
}

int main(void)
{
    if (fread(in_buf, 1, sizeof(in_buf), stdin) != sizeof(in_buf)) {
        return 1;
    }
    return vad_model_invoke(in_buf, out_buf) == 0 ? 0 : 2;
}
