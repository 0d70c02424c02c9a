/* Minimal Cortex-M4 startup for the native-runtime benchmark under QEMU (mps2-an386),
 * semihosting for I/O (link with --specs=rdimon.specs -nostartfiles). */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t _sbss, _ebss, _estack;
extern int main(void);
extern void initialise_monitor_handles(void);
void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)

static volatile uint32_t systick_wraps;

void SysTick_Handler(void) { systick_wraps++; }

/* SysTick free-running at the core clock, its wraps counted: under -icount shift=0 a tick is
 * a fixed number of instructions (QEMU's DWT reads 0). The harnesses' mains call these. */
void vad_bench_timer_start(void);
uint64_t vad_bench_ticks(void);

void vad_bench_timer_start(void)
{
    SYST_RVR = 0xFFFFFFu;
    SYST_CVR = 0;
    SYST_CSR = 7u;
}

uint64_t vad_bench_ticks(void)
{
    uint32_t w, v;
    do {
        w = systick_wraps;
        v = SYST_CVR;
    } while (w != systick_wraps);
    return ((uint64_t)w << 24) + ((0x1000000u - v) & 0xFFFFFFu);
}

void Default_Handler(void)
{
    for (;;) {
    }
}

__attribute__((section(".isr_vector"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(&_estack), Reset_Handler, Default_Handler, Default_Handler,
    Default_Handler, Default_Handler, Default_Handler, 0, 0, 0, 0,
    Default_Handler, Default_Handler, 0, Default_Handler, SysTick_Handler,
};

void Reset_Handler(void)
{
    uint32_t *p;
    /* full access to CP10/CP11 (FPU) */
    *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
    __asm volatile("dsb\n isb");
    for (p = &_sbss; p < &_ebss; ++p) {
        *p = 0;
    }
    initialise_monitor_handles();
    exit(main());
}
