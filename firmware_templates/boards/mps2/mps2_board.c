/* mps2_board.c: Arm MPS2 AN386 / AN500 (and QEMU mps2-an386, mps2-an500).
 * The protocol runs on UART0, a CMSDK APB UART at 0x40004000; the core clock is 25 MHz.
 * The LED is LED0 of the FPGA I/O block (bit 0 of its LED register at 0x40028000). */
#include "board_config.h"
#include "cortexm.h"
#include "vad_board.h"

#define UART0 0x40004000u
#define UART_DATA (UART0 + 0x00u)
#define UART_STATE (UART0 + 0x04u) /* bit 0 TX full, bit 1 RX full */
#define UART_CTRL (UART0 + 0x08u)  /* bit 0 TX enable, bit 1 RX enable */
#define UART_BAUDDIV (UART0 + 0x10u)
#define FPGAIO_LED 0x40028000u

void board_init(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CM_REG(UART_BAUDDIV) = BOARD_CLOCK_HZ / 115200u;
  CM_REG(UART_CTRL) = 3u;
  cortexm_timer_init();
}

int board_uart_poll(void) {
  if (CM_REG(UART_STATE) & 2u) { return (int)(CM_REG(UART_DATA) & 0xFFu); }
  return -1;
}

void board_uart_write(const uint8_t *data, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    while (CM_REG(UART_STATE) & 1u) {
    }
    CM_REG(UART_DATA) = data[i];
  }
}

void board_led_set(int on) {
  CM_REG(FPGAIO_LED) = (CM_REG(FPGAIO_LED) & ~1u) | (on ? 1u : 0u);
}
