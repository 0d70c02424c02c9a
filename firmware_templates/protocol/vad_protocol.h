/* vad_protocol.h: the protocol server's entry points (vad_protocol.c). */
#ifndef VAD_PROTOCOL_SERVER_H
#define VAD_PROTOCOL_SERVER_H

#include <stddef.h>
#include <stdint.h>

/* Serve frames from board_uart_getc() until the stream closes (never, on a board). */
void vad_server_run(void);

/* Feed one byte (0..255), or BOARD_RX_TIMEOUT after a silence, to the frame parser. */
void vad_server_feed(int c);

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF. */
uint16_t vad_crc16(const uint8_t *p, size_t n);

#endif /* VAD_PROTOCOL_SERVER_H */
