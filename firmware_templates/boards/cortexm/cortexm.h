/* cortexm.h: register access and the shared SysTick/DWT timer of the Cortex-M boards. */
#ifndef VAD_CORTEXM_H
#define VAD_CORTEXM_H

#include <stdint.h>

#define CM_REG(addr) (*(volatile uint32_t *)(uintptr_t)(addr))

/* Start SysTick free-running at the core clock (and DWT CYCCNT when the core counts). */
void cortexm_timer_init(void);

/* SysTick ticks since start, 64 bits wide. */
uint64_t cortexm_systick_now(void);

/* The board's UART driver: one received byte (0..255), or -1 when none is waiting. */
int board_uart_poll(void);

#endif /* VAD_CORTEXM_H */
