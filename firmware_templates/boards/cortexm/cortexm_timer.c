/* cortexm_timer.c: board_ticks() and friends for the Cortex-M boards.
 *
 * SysTick runs free at the core clock with a 24-bit reload; its interrupt counts wraps, so
 * cortexm_systick_now() is a 64-bit tick count. Timeouts always use SysTick. Measurements
 * use DWT CYCCNT when it counts (real Cortex-M4/M7 silicon) and SysTick otherwise: QEMU's
 * DWT reads 0, and under -icount shift=0 SysTick advances clock_hz/1e9 ticks per
 * instruction, so ticks * 1e9 / clock_hz is the instruction count.
 */
#include "board_config.h"
#include "cortexm.h"
#include "protocol.h"
#include "vad_board.h"

#define SYST_CSR 0xE000E010u
#define SYST_RVR 0xE000E014u
#define SYST_CVR 0xE000E018u
#define DEMCR 0xE000EDFCu
#define DWT_CTRL 0xE0001000u
#define DWT_CYCCNT 0xE0001004u
#define DWT_LAR 0xE0001FB0u

static volatile uint32_t systick_wraps;
static int use_dwt;

void SysTick_Handler(void);
void SysTick_Handler(void) { systick_wraps++; }

void cortexm_timer_init(void) {
  uint32_t c0, c1;
  volatile int i;
  CM_REG(SYST_RVR) = 0xFFFFFFu;
  CM_REG(SYST_CVR) = 0;
  CM_REG(SYST_CSR) = 7u; /* enable, interrupt on wrap, core clock */
  CM_REG(DEMCR) |= 1u << 24; /* TRCENA */
  CM_REG(DWT_LAR) = 0xC5ACCE55u; /* unlock (Cortex-M7) */
  CM_REG(DWT_CYCCNT) = 0;
  CM_REG(DWT_CTRL) |= 1u;
  c0 = CM_REG(DWT_CYCCNT);
  for (i = 0; i < 16; i++) {
  }
  c1 = CM_REG(DWT_CYCCNT);
  use_dwt = c1 != c0;
}

uint64_t cortexm_systick_now(void) {
  uint32_t w, v;
  do {
    w = systick_wraps;
    v = CM_REG(SYST_CVR);
  } while (w != systick_wraps);
  return ((uint64_t)w << 24) + ((0x1000000u - v) & 0xFFFFFFu);
}

uint32_t board_clock_hz(void) { return BOARD_CLOCK_HZ; }

const char *board_name(void) { return BOARD_NAME; }

uint64_t board_ticks(void) { return use_dwt ? CM_REG(DWT_CYCCNT) : cortexm_systick_now(); }

uint8_t board_timer(void) { return use_dwt ? VAD_TIMER_DWT : VAD_TIMER_SYSTICK; }

void board_timer_restart(void) {
  if (use_dwt) {
    CM_REG(DWT_CYCCNT) = 0;
  } else {
    systick_wraps = 0;
    CM_REG(SYST_CVR) = 0; /* clears the count; reload follows on the next tick */
  }
}

int board_uart_getc(uint32_t timeout_ms) {
  uint64_t start = cortexm_systick_now();
  uint64_t limit = (uint64_t)timeout_ms * (BOARD_CLOCK_HZ / 1000u);
  int c;
  for (;;) {
    c = board_uart_poll();
    if (c >= 0) { return c; }
    if (cortexm_systick_now() - start >= limit) { return BOARD_RX_TIMEOUT; }
  }
}
