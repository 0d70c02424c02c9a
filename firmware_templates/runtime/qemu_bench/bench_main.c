/* Native-runtime benchmark under QEMU with -icount shift=0 (one instruction per virtual ns).
 * Reads inputs.bin (N * VAD_INPUT_BYTES) over semihosting, writes outputs.bin, prints
 * SysTick counts for the whole model and per operator. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "vad_model.h"

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

extern volatile uint32_t vad_systick_wraps;

static int8_t out_buf[VAD_OUTPUT_BYTES];
static uint64_t op_ticks[VAD_NUM_OPS + 1];
static uint64_t op_start;
static const char *op_names[VAD_NUM_OPS + 1];

static uint64_t now(void)
{
    uint32_t w, v;
    do {
        w = vad_systick_wraps;
        v = SYST_CVR;
    } while (w != vad_systick_wraps);
    return ((uint64_t)w << 24) + ((0x1000000u - v) & 0xFFFFFFu);
}

void vad_profile_op(int index, const char *name, int phase);
void vad_profile_op(int index, const char *name, int phase)
{
    if (phase == 0) {
        op_start = now();
    } else if (index >= 0 && index <= VAD_NUM_OPS) {
        op_ticks[index] += now() - op_start;
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
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u;
    while (fread(in_buf, 1, VAD_INPUT_BYTES, fi) == VAD_INPUT_BYTES) {
        memset(op_ticks, 0, sizeof(op_ticks));
        t0 = now();
        if (vad_model_invoke(in_buf, out_buf) != 0) {
            printf("ERROR invoke\n");
            return 1;
        }
        total = now() - t0;
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
