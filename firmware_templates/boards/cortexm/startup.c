/* startup.c: Cortex-M reset and vector table, shared by the Cortex-M boards.
 * Points VTOR at this table (a bootloader may have left it elsewhere), enables the FPU
 * (when built for one), copies .data, zeroes .bss and .ccm, calls main(). */
#include <stdint.h>

#include "cortexm.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _sccm, _eccm, _estack;
extern int main(void);
typedef void (*vector_t)(void);
extern const vector_t vad_vectors[16];

void Reset_Handler(void);
void Default_Handler(void);
void SysTick_Handler(void);

void Default_Handler(void) {
  for (;;) {
  }
}

void Reset_Handler(void) {
  uint32_t *src = &_sidata;
  uint32_t *dst;
  CM_REG(0xE000ED08u) = (uint32_t)(uintptr_t)vad_vectors; /* VTOR */
#if defined(__ARM_FP)
  CM_REG(0xE000ED88u) |= 0xFu << 20; /* CPACR: full access to CP10 and CP11 */
  __asm volatile("dsb\n isb" ::: "memory");
#endif
  for (dst = &_sdata; dst < &_edata;) { *dst++ = *src++; }
  for (dst = &_sbss; dst < &_ebss;) { *dst++ = 0; }
  for (dst = &_sccm; dst < &_eccm;) { *dst++ = 0; }
  main();
  for (;;) {
  }
}

__attribute__((section(".isr_vector"), used)) const vector_t vad_vectors[16] = {
    (vector_t)(uintptr_t)&_estack, /* initial stack pointer */
    Reset_Handler,   Default_Handler, /* NMI */ Default_Handler, /* HardFault */
    Default_Handler, /* MemManage */ Default_Handler, /* BusFault */
    Default_Handler, /* UsageFault */ 0, 0, 0, 0,
    Default_Handler, /* SVCall */ Default_Handler, /* DebugMon */ 0,
    Default_Handler, /* PendSV */ SysTick_Handler,
};
