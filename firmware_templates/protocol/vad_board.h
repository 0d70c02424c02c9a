/* vad_board.h: what every board gives the protocol server.
 * Implemented by firmware_templates/boards/<board>/ (cortexm/ holds the shared
 * SysTick/DWT timer and start-up code for the Cortex-M boards). */
#ifndef VAD_BOARD_H
#define VAD_BOARD_H

#include <stddef.h>
#include <stdint.h>

#define BOARD_RX_TIMEOUT (-1) /* board_uart_getc: no byte within the timeout */
#define BOARD_RX_CLOSED (-2)  /* board_uart_getc: the stream ended (host builds only) */

/* Clocks, UART and timer. argc/argv are main()'s on the host, 0/NULL on boards. */
void board_init(int argc, char **argv);

/* Name the device reports in HELLO (the board profile's name). */
const char *board_name(void);

/* Core clock in Hz, and the tick rate of board_ticks(). */
uint32_t board_clock_hz(void);

/* One received byte (0..255), or BOARD_RX_TIMEOUT after timeout_ms without one,
 * or BOARD_RX_CLOSED when the stream has ended. */
int board_uart_getc(uint32_t timeout_ms);

/* Send n bytes; returns when they are handed to the UART. */
void board_uart_write(const uint8_t *data, size_t n);

/* Free-running tick counter: DWT cycles when the core has a working one, else SysTick
 * ticks at board_clock_hz(), else host nanoseconds. board_timer() names which
 * (VAD_TIMER_* from protocol.h). */
uint64_t board_ticks(void);
uint8_t board_timer(void);

/* The board profile's LED (or GPIO pin): on while the last standalone image was an anomaly. */
void board_led_set(int on);

/* Re-phase the tick counter before a measured interval, so that an interval of the same
 * instructions gives the same count every time (QEMU -icount makes this exact). */
void board_timer_restart(void);

#endif /* VAD_BOARD_H */
