/* Test harness for the rendered head: reads features.bin (images of VAD_HEAD_CELLS x
 * VAD_HEAD_CHANNELS int8), writes scores.bin (per image the int32 cell scores, then the image
 * score). Runs on the host and, through semihosting, in QEMU (with HEAD_TICKS: SysTick
 * counts per image, 40 instructions a tick on mps2-an386 with -icount shift=0). */
#include <stdint.h>
#include <stdio.h>

#include "vad_head.h"

#ifdef HEAD_TICKS
void vad_bench_timer_start(void); /* startup_m4.c */
uint64_t vad_bench_ticks(void);
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
    vad_bench_timer_start();
#endif
    while (fread(features, 1, sizeof features, fi) == sizeof features) {
#ifdef HEAD_TICKS
        const uint64_t t0 = vad_bench_ticks();
#endif
        scores[VAD_HEAD_CELLS] = vad_head_score(features, scores);
#ifdef HEAD_TICKS
        printf("RUN %d ticks %lu\n", n, (unsigned long)(vad_bench_ticks() - t0));
#endif
        fwrite(scores, sizeof scores[0], VAD_HEAD_CELLS + 1, fo);
        n++;
    }
    fclose(fo);
    fclose(fi);
    printf("DONE %d threshold %ld frac %d\n", n, (long)VAD_HEAD_THRESHOLD, VAD_HEAD_SCORE_FRAC_BITS);
    return 0;
}
