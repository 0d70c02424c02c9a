/* vad_protocol.h: the protocol server's entry points (vad_protocol.c). */
#ifndef VAD_PROTOCOL_SERVER_H
#define VAD_PROTOCOL_SERVER_H

#include <stddef.h>
#include <stdint.h>

#define VAD_SERVER_CLOSED 1     /* the stream ended (host builds only) */
#define VAD_SERVER_STANDALONE 2 /* the host sent STANDALONE: run the standalone loop */

/* Serve frames from board_uart_getc() until the stream closes or the host asks for the
 * standalone loop; returns VAD_SERVER_CLOSED or VAD_SERVER_STANDALONE. */
int vad_server_run(void);

/* Wait up to VAD_RX_IDLE_MS for one byte and serve it; returns 0, or the reason to stop
 * serving (VAD_SERVER_*). */
int vad_server_poll(void);

/* Feed one byte (0..255), or BOARD_RX_TIMEOUT after a silence, to the frame parser. */
void vad_server_feed(int c);

/* The whole input, once LOAD_INPUT has loaded all of it (then it counts as used: the next
 * image starts at offset 0); NULL before. The protocol image source reads frames with it. */
const int8_t *vad_server_take_input(void);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF. */
uint16_t vad_crc16(const uint8_t *p, size_t n);

#endif /* VAD_PROTOCOL_SERVER_H */
