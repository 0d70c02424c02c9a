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

volatile uint32_t vad_systick_wraps;

void SysTick_Handler(void) { vad_systick_wraps++; }

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
