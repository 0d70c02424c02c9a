/* nrf52840_board.c: Arduino Nano 33 BLE (nRF52840, 64 MHz HFINT).
 * UART: the UARTE0 instance in legacy (non-DMA) UART mode at 0x40002000, TX on P1.03 (D1),
 * RX on P1.10 (D0), 115200 8N1: connect a 3.3 V USB-serial adapter to those pins. The
 * board's USB socket is the chip's own USB device and would need a USB CDC stack.
 * LED: P0.13, the orange LED "L" (LED_BUILTIN), high = on. */
#include "board_config.h"
#include "cortexm.h"
#include "vad_board.h"

#define UART0 0x40002000u
#define UART_STARTRX (UART0 + 0x000u)
#define UART_STARTTX (UART0 + 0x008u)
#define UART_RXDRDY (UART0 + 0x108u)
#define UART_TXDRDY (UART0 + 0x11Cu)
#define UART_ENABLE (UART0 + 0x500u)
#define UART_PSEL_TXD (UART0 + 0x50Cu)
#define UART_PSEL_RXD (UART0 + 0x514u)
#define UART_RXD (UART0 + 0x518u)
#define UART_TXD (UART0 + 0x51Cu)
#define UART_BAUDRATE (UART0 + 0x524u)
#define PIN(port, n) ((port) * 32u + (n))
#define P0 0x50000000u
#define P0_OUTSET (P0 + 0x508u)
#define P0_OUTCLR (P0 + 0x50Cu)
#define P0_DIRSET (P0 + 0x518u)
#define LED_PIN 13u

void board_init(int argc, char **argv) {
  (void)argc;
  (void)argv;
  CM_REG(UART_PSEL_TXD) = PIN(1u, 3u);
  CM_REG(UART_PSEL_RXD) = PIN(1u, 10u);
  CM_REG(UART_BAUDRATE) = 0x01D7E000u; /* 115200 */
  CM_REG(UART_ENABLE) = 4u;            /* legacy UART */
  CM_REG(UART_STARTRX) = 1u;
  CM_REG(UART_STARTTX) = 1u;
  CM_REG(P0_DIRSET) = 1u << LED_PIN;
  board_led_set(0);
  cortexm_timer_init();
}

void board_led_set(int on) {
  CM_REG(on ? P0_OUTSET : P0_OUTCLR) = 1u << LED_PIN;
}

int board_uart_poll(void) {
  if (CM_REG(UART_RXDRDY)) {
    CM_REG(UART_RXDRDY) = 0;
    return (int)(CM_REG(UART_RXD) & 0xFFu);
  }
  return -1;
}

void board_uart_write(const uint8_t *data, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    CM_REG(UART_TXDRDY) = 0;
    CM_REG(UART_TXD) = data[i];
    while (!CM_REG(UART_TXDRDY)) {
    }
  }
}
