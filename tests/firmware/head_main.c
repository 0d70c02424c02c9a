/* Test harness for the rendered head: reads features.bin (images of VAD_HEAD_CELLS x
 * VAD_HEAD_CHANNELS int8), writes scores.bin (per image the int32 cell scores, then the image
 * score). Runs on the host and, through semihosting, in QEMU (with HEAD_TICKS: SysTick
 * counts per image, 40 instructions a tick on mps2-an386 with -icount shift=0). */
#include <stdint.h>
#include <stdio.h>

#include "vad_head.h"

#ifdef HEAD_TICKS
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
extern volatile uint32_t vad_systick_wraps;
static uint64_t now(void)
{
    uint32_t w, v;
    do {
        w = vad_systick_wraps;
        v = SYST_CVR;
    } while (w != vad_systick_wraps);
    return ((uint64_t)w << 24) + ((0x1000000u - v) & 0xFFFFFFu);
}
#endif

static int8_t features[VAD_HEAD_CELLS * VAD_HEAD_CHANNELS];
static int32_t scores[VAD_HEAD_CELLS + 1];

int main(void)
{
    FILE *fi = fopen("features.bin", "rb");
    FILE *fo = fopen("scores.bin", "wb");
    int n = 0;
    if (!fi || !fo) {
        printf("ERROR cannot open files\n");
        return 1;
    }
#ifdef HEAD_TICKS
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u;
#endif
    while (fread(features, 1, sizeof features, fi) == sizeof features) {
#ifdef HEAD_TICKS
        const uint64_t t0 = now();
#endif
        scores[VAD_HEAD_CELLS] = vad_head_score(features, scores);
#ifdef HEAD_TICKS
        printf("RUN %d ticks %lu\n", n, (unsigned long)(now() - t0));
#endif
        fwrite(scores, sizeof scores[0], VAD_HEAD_CELLS + 1, fo);
        n++;
    }
    fclose(fo);
    fclose(fi);
    printf("DONE %d threshold %ld frac %d\n", n, (long)VAD_HEAD_THRESHOLD, VAD_HEAD_SCORE_FRAC_BITS);
    return 0;
}
