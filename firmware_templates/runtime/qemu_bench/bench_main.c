/* Native-runtime benchmark under QEMU with -icount shift=0 (one instruction per virtual ns).
 * Reads inputs.bin (N * VAD_INPUT_BYTES) over semihosting, writes outputs.bin, prints
 * SysTick counts for the whole model and per operator. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vad_model.h"

void vad_bench_timer_start(void); /* startup_m4.c */
uint64_t vad_bench_ticks(void);

static int8_t out_buf[VAD_OUTPUT_BYTES];
static uint64_t op_ticks[VAD_NUM_OPS + 1];
static uint64_t op_start;
static const char *op_names[VAD_NUM_OPS + 1];


void vad_profile_op(int index, const char *name, int phase);
void vad_profile_op(int index, const char *name, int phase)
{
    if (phase == 0) {
        op_start = vad_bench_ticks();
    } else if (index >= 0 && index <= VAD_NUM_OPS) {
        op_ticks[index] += vad_bench_ticks() - op_start;
        op_names[index] = name;
    }
}

int main(void)
{
    FILE *fi = fopen("inputs.bin", "rb");
    FILE *fo = fopen("outputs.bin", "wb");
    int8_t *in_buf = vad_model_input_buffer(); /* the image goes straight into the arena */
    int n = 0, i;
    uint64_t t0, total = 0;
    if (!fi || !fo) {
        printf("ERROR cannot open files\n");
        return 1;
    }
    vad_bench_timer_start();
    while (fread(in_buf, 1, VAD_INPUT_BYTES, fi) == VAD_INPUT_BYTES) {
        memset(op_ticks, 0, sizeof(op_ticks));
        t0 = vad_bench_ticks();
        if (vad_model_invoke(in_buf, out_buf) != 0) {
            printf("ERROR invoke\n");
            return 1;
        }
        total = vad_bench_ticks() - t0;
        fwrite(out_buf, 1, sizeof(out_buf), fo);
        printf("RUN %d ticks %lu\n", n, (unsigned long)total);
        ++n;
    }
    for (i = 0; i <= VAD_NUM_OPS; ++i) {
        if (op_names[i]) {
            printf("OP %d %s %lu\n", i, op_names[i], (unsigned long)op_ticks[i]);
        }
    }
    fclose(fo);
    fclose(fi);
    printf("DONE %d\n", n);
    return 0;
}
