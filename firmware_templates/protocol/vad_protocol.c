/* vad_protocol.c: the device side of the vadtool protocol (see protocol.h).
 *
 * Bytes from the UART collect in rx[] until they form a frame. A buffer that does not start
 * with the sync bytes loses its first byte; so does a frame with a bad length or CRC (after
 * an error frame), and a partial frame after VAD_RX_IDLE_MS of silence: scanning then
 * resumes at the next sync, so a frame behind garbage is still served.
 * Every offset and length is checked against its buffer before a byte is written.
 * INFER runs the whole detector (vad_detector.c): the network, then the head when the model
 * has one; the reply carries the image score and decision, READ_CELLS the cell scores.
 *
 * The input is loaded straight into the model's arena (vad_model_input_buffer()), which
 * the inference overwrites: one timed run per load, and INFER then needs a new input.
 * Built with VAD_SERVER_INPUT_COPY=1 the server keeps its own copy (VAD_INPUT_BYTES more
 * RAM) and refills the arena before each run, outside the timed interval: warm-up and
 * repeated runs on one input are then allowed. HELLO tells the host which it is.
 */
#include <string.h>

#include "protocol.h"
#include "vad_board.h"
#include "vad_config.h"
#include "vad_detector.h"
#include "vad_model.h"
#include "vad_protocol.h"

static VAD_SMALL_RAM uint8_t rx[VAD_FRAME_MAX_BYTES];
static size_t rx_len;
static VAD_SMALL_RAM uint8_t tx[VAD_FRAME_MAX_BYTES];
#ifndef VAD_SERVER_INPUT_COPY
#define VAD_SERVER_INPUT_COPY 0
#endif

#if VAD_SERVER_INPUT_COPY
static VAD_SMALL_RAM int8_t input_copy[VAD_INPUT_BYTES];
#define INPUT_DEST() input_copy
#define KEPT_FLAG VAD_HELLO_FLAG_INPUT_KEPT
#else
#define INPUT_DEST() vad_model_input_buffer()
#define KEPT_FLAG 0u
#endif
#define FLAGS (KEPT_FLAG | (VAD_MODE_BOTH ? VAD_HELLO_FLAG_STANDALONE : 0u))
static uint32_t input_loaded;  /* contiguous bytes loaded from offset 0 */
static int output_ready;
static int leave_for;  /* VAD_SERVER_* reason for vad_server_run() to return, 0: keep serving */

uint16_t vad_crc16(const uint8_t *p, size_t n) {
  uint16_t crc = 0xFFFFu;
  size_t i;
  int bit;
  for (i = 0; i < n; i++) {
    crc ^= (uint16_t)((uint16_t)p[i] << 8);
    for (bit = 0; bit < 8; bit++) {
      crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
  }
  return crc;
}

static void put_u16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void put_u32(uint8_t *p, uint32_t v) { put_u16(p, v); put_u16(p + 2, v >> 16); }
static void put_u64(uint8_t *p, uint64_t v) { put_u32(p, (uint32_t)v); put_u32(p + 4, (uint32_t)(v >> 32)); }
static void put_f32(uint8_t *p, float f) { uint32_t v; memcpy(&v, &f, 4); put_u32(p, v); }
static uint32_t get_u16(const uint8_t *p) { return (uint32_t)p[0] | ((uint32_t)p[1] << 8); }
static uint32_t get_u32(const uint8_t *p) { return get_u16(p) | (get_u16(p + 2) << 16); }

/* The payload of the reply being built lives in tx[] after the header. */
#define TX_PAYLOAD (tx + VAD_HEADER_BYTES)

static void send_frame(uint8_t type, uint8_t seq, size_t len) {
  uint16_t crc;
  if (len > VAD_MAX_PAYLOAD) { return; }  /* cannot happen: every caller bounds len */
  tx[0] = VAD_SYNC0;
  tx[1] = VAD_SYNC1;
  tx[2] = type;
  tx[3] = seq;
  put_u16(tx + 4, (uint32_t)len);
  crc = vad_crc16(tx + 2, 4 + len);
  put_u16(tx + VAD_HEADER_BYTES + len, crc);
  board_uart_write(tx, VAD_HEADER_BYTES + len + VAD_CRC_BYTES);
}

static void send_error(uint8_t code, uint8_t request, uint8_t seq, uint32_t detail) {
  memset(TX_PAYLOAD, 0, VAD_ERROR_SIZE);
  TX_PAYLOAD[VAD_ERROR_CODE] = code;
  TX_PAYLOAD[VAD_ERROR_REQUEST_TYPE] = request;
  put_u32(TX_PAYLOAD + VAD_ERROR_DETAIL, detail);
  send_frame(VAD_FRAME_ERROR, seq, VAD_ERROR_SIZE);
}

static void on_hello(uint8_t seq, size_t len) {
  uint8_t *p = TX_PAYLOAD;
  const char *name = board_name();
  size_t name_len = strlen(name);
  const char *hash = VAD_MODEL_HASH;
  size_t hash_len = strlen(hash);
  if (len != 0) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_HELLO, seq, (uint32_t)len); return; }
  if (name_len > 32) { name_len = 32; }
  if (hash_len > 64) { hash_len = 64; }
  memset(p, 0, VAD_HELLO_REPLY_SIZE);
  put_u16(p + VAD_HELLO_REPLY_PROTOCOL_VERSION, VAD_PROTO_VERSION);
  put_u16(p + VAD_HELLO_REPLY_MAX_PAYLOAD, VAD_MAX_PAYLOAD);
  put_u32(p + VAD_HELLO_REPLY_CLOCK_HZ, board_clock_hz());
  put_u32(p + VAD_HELLO_REPLY_INPUT_BYTES, VAD_INPUT_BYTES);
  put_u32(p + VAD_HELLO_REPLY_OUTPUT_BYTES, VAD_OUTPUT_BYTES);
  put_u32(p + VAD_HELLO_REPLY_ARENA_BYTES, VAD_ARENA_BYTES);
  put_u16(p + VAD_HELLO_REPLY_INPUT_H, VAD_INPUT_H);
  put_u16(p + VAD_HELLO_REPLY_INPUT_W, VAD_INPUT_W);
  put_u16(p + VAD_HELLO_REPLY_INPUT_C, VAD_INPUT_C);
  p[VAD_HELLO_REPLY_TIMER] = board_timer();
  p[VAD_HELLO_REPLY_BOARD_LEN] = (uint8_t)name_len;
  put_u32(p + VAD_HELLO_REPLY_FLAGS, FLAGS);
  put_f32(p + VAD_HELLO_REPLY_INPUT_SCALE, (float)(VAD_INPUT_SCALE));
  put_u32(p + VAD_HELLO_REPLY_INPUT_ZERO_POINT, (uint32_t)(int32_t)(VAD_INPUT_ZERO_POINT));
  put_f32(p + VAD_HELLO_REPLY_OUTPUT_SCALE, (float)(VAD_OUTPUT_SCALE));
  put_u32(p + VAD_HELLO_REPLY_OUTPUT_ZERO_POINT, (uint32_t)(int32_t)(VAD_OUTPUT_ZERO_POINT));
  memcpy(p + VAD_HELLO_REPLY_MODEL_HASH, hash, hash_len);
  memcpy(p + VAD_HELLO_REPLY_BOARD, name, name_len);
  p[VAD_HELLO_REPLY_HEAD_KIND] = (uint8_t)(VAD_HEAD_KIND);
  p[VAD_HELLO_REPLY_SCORE_FRAC_BITS] = (uint8_t)(VAD_HEAD_SCORE_FRAC_BITS);
  put_u16(p + VAD_HELLO_REPLY_GRID_H, VAD_HEAD_GRID_H);
  put_u16(p + VAD_HELLO_REPLY_GRID_W, VAD_HEAD_GRID_W);
  put_u32(p + VAD_HELLO_REPLY_THRESHOLD, (uint32_t)(int32_t)(VAD_HEAD_THRESHOLD));
  send_frame(VAD_FRAME_HELLO_REPLY, seq, VAD_HELLO_REPLY_SIZE);
}

static void on_load_input(uint8_t seq, const uint8_t *p, size_t len) {
  uint32_t offset, n;
  if (len < VAD_LOAD_INPUT_SIZE) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_LOAD_INPUT, seq, (uint32_t)len); return; }
  offset = get_u32(p + VAD_LOAD_INPUT_OFFSET);
  n = (uint32_t)(len - VAD_LOAD_INPUT_SIZE);
  if (offset == 0) { input_loaded = 0; }
  /* in bounds (written to avoid overflow), and no gap after the bytes already loaded */
  if (offset > (uint32_t)VAD_INPUT_BYTES || n > (uint32_t)VAD_INPUT_BYTES - offset || offset > input_loaded) {
    send_error(VAD_ERR_BAD_OFFSET, VAD_FRAME_LOAD_INPUT, seq, offset);
    return;
  }
  memcpy(INPUT_DEST() + offset, p + VAD_LOAD_INPUT_SIZE, n);
  if (offset + n > input_loaded) { input_loaded = offset + n; }
  output_ready = 0;
  put_u32(TX_PAYLOAD + VAD_LOAD_INPUT_REPLY_LOADED, input_loaded);
  send_frame(VAD_FRAME_LOAD_INPUT_REPLY, seq, VAD_LOAD_INPUT_REPLY_SIZE);
}

static void on_infer(uint8_t seq, const uint8_t *p, size_t len) {
  uint64_t ticks[VAD_MAX_RUNS];
  vad_result result;
  uint32_t warmup, runs, i, inline_bytes = 0, fixed;
  int rc;
  if (len != VAD_INFER_SIZE) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_INFER, seq, (uint32_t)len); return; }
  warmup = get_u16(p + VAD_INFER_WARMUP);
  runs = get_u16(p + VAD_INFER_RUNS);
  if (runs < 1 || runs > VAD_MAX_RUNS || warmup > VAD_MAX_WARMUP
      || (!VAD_SERVER_INPUT_COPY && (runs > 1 || warmup > 0))) {
    send_error(VAD_ERR_BAD_ARGUMENT, VAD_FRAME_INFER, seq, (warmup << 16) | runs);
    return;
  }
  if (input_loaded != (uint32_t)VAD_INPUT_BYTES) {
    send_error(VAD_ERR_INPUT_INCOMPLETE, VAD_FRAME_INFER, seq, input_loaded);
    return;
  }
  output_ready = 0;
  if (!VAD_SERVER_INPUT_COPY) { input_loaded = 0; }  /* the inference overwrites it */
  for (i = 0; i < warmup + runs; i++) {
#if VAD_SERVER_INPUT_COPY
    memcpy(vad_model_input_buffer(), input_copy, VAD_INPUT_BYTES);
#endif
    rc = vad_detect(vad_model_input_buffer(), &result);
    if (rc != 0) { send_error(VAD_ERR_MODEL_FAILED, VAD_FRAME_INFER, seq, (uint32_t)rc); return; }
    if (i >= warmup) { ticks[i - warmup] = result.ticks; }
  }
  output_ready = 1;
  fixed = VAD_INFER_REPLY_SIZE + 8u * runs;
  if ((uint32_t)VAD_OUTPUT_BYTES <= VAD_MAX_PAYLOAD - fixed) { inline_bytes = VAD_OUTPUT_BYTES; }
  memset(TX_PAYLOAD, 0, VAD_INFER_REPLY_SIZE);
  TX_PAYLOAD[VAD_INFER_REPLY_TIMER] = board_timer();
  TX_PAYLOAD[VAD_INFER_REPLY_RUNS] = (uint8_t)runs;
  put_u16(TX_PAYLOAD + VAD_INFER_REPLY_INLINE_BYTES, inline_bytes);
  put_u32(TX_PAYLOAD + VAD_INFER_REPLY_OUTPUT_BYTES, VAD_OUTPUT_BYTES);
  put_u32(TX_PAYLOAD + VAD_INFER_REPLY_IMAGE_SCORE, (uint32_t)result.image_score);
  TX_PAYLOAD[VAD_INFER_REPLY_DECISION] = result.decision;
  put_u16(TX_PAYLOAD + VAD_INFER_REPLY_CELLS, VAD_HEAD_CELLS);
  put_u32(TX_PAYLOAD + VAD_INFER_REPLY_HEAD_TICKS,
          result.head_ticks > 0xFFFFFFFFu ? 0xFFFFFFFFu : (uint32_t)result.head_ticks);
  for (i = 0; i < runs; i++) { put_u64(TX_PAYLOAD + VAD_INFER_REPLY_SIZE + 8u * i, ticks[i]); }
  memcpy(TX_PAYLOAD + fixed, vad_detect_features(), inline_bytes);
  send_frame(VAD_FRAME_INFER_REPLY, seq, fixed + inline_bytes);
}

static void on_read_output(uint8_t seq, const uint8_t *p, size_t len) {
  uint32_t offset, n;
  if (len != VAD_READ_OUTPUT_SIZE) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_READ_OUTPUT, seq, (uint32_t)len); return; }
  if (!output_ready) { send_error(VAD_ERR_OUTPUT_NOT_READY, VAD_FRAME_READ_OUTPUT, seq, 0); return; }
  offset = get_u32(p + VAD_READ_OUTPUT_OFFSET);
  n = get_u16(p + VAD_READ_OUTPUT_LENGTH);
  if (n > VAD_MAX_PAYLOAD - VAD_READ_OUTPUT_REPLY_SIZE) {
    send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_READ_OUTPUT, seq, n);
    return;
  }
  if (offset > (uint32_t)VAD_OUTPUT_BYTES || n > (uint32_t)VAD_OUTPUT_BYTES - offset) {
    send_error(VAD_ERR_BAD_OFFSET, VAD_FRAME_READ_OUTPUT, seq, offset);
    return;
  }
  put_u32(TX_PAYLOAD + VAD_READ_OUTPUT_REPLY_OFFSET, offset);
  memcpy(TX_PAYLOAD + VAD_READ_OUTPUT_REPLY_SIZE, vad_detect_features() + offset, n);
  send_frame(VAD_FRAME_READ_OUTPUT_REPLY, seq, VAD_READ_OUTPUT_REPLY_SIZE + n);
}

static void on_read_cells(uint8_t seq, const uint8_t *p, size_t len) {
  uint32_t first, n, i;
  const int32_t *cells = vad_detect_cells();
  if (len != VAD_READ_CELLS_SIZE) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_READ_CELLS, seq, (uint32_t)len); return; }
  if (!VAD_HAS_HEAD) { send_error(VAD_ERR_NOT_SUPPORTED, VAD_FRAME_READ_CELLS, seq, 0); return; }
  if (!output_ready) { send_error(VAD_ERR_OUTPUT_NOT_READY, VAD_FRAME_READ_CELLS, seq, 0); return; }
  first = get_u32(p + VAD_READ_CELLS_FIRST);
  n = get_u16(p + VAD_READ_CELLS_COUNT);
  if (n > VAD_MAX_CELLS_PER_READ) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_READ_CELLS, seq, n); return; }
  if (first > (uint32_t)VAD_HEAD_CELLS || n > (uint32_t)VAD_HEAD_CELLS - first) {
    send_error(VAD_ERR_BAD_OFFSET, VAD_FRAME_READ_CELLS, seq, first);
    return;
  }
  put_u32(TX_PAYLOAD + VAD_READ_CELLS_REPLY_FIRST, first);
  put_u16(TX_PAYLOAD + VAD_READ_CELLS_REPLY_COUNT, n);
  for (i = 0; i < n; i++) {
    put_u32(TX_PAYLOAD + VAD_READ_CELLS_REPLY_SIZE + VAD_CELL_BYTES * i, (uint32_t)cells[first + i]);
  }
  send_frame(VAD_FRAME_READ_CELLS_REPLY, seq, VAD_READ_CELLS_REPLY_SIZE + VAD_CELL_BYTES * n);
}

static void on_standalone(uint8_t seq, size_t len) {
  if (len != 0) { send_error(VAD_ERR_BAD_LENGTH, VAD_FRAME_STANDALONE, seq, (uint32_t)len); return; }
  if (!VAD_MODE_BOTH) { send_error(VAD_ERR_NOT_SUPPORTED, VAD_FRAME_STANDALONE, seq, 0); return; }
  send_frame(VAD_FRAME_STANDALONE_REPLY, seq, 0);
  leave_for = VAD_SERVER_STANDALONE;
}

static void handle(uint8_t type, uint8_t seq, const uint8_t *p, size_t len) {
  switch (type) {
    case VAD_FRAME_HELLO: on_hello(seq, len); break;
    case VAD_FRAME_LOAD_INPUT: on_load_input(seq, p, len); break;
    case VAD_FRAME_INFER: on_infer(seq, p, len); break;
    case VAD_FRAME_READ_OUTPUT: on_read_output(seq, p, len); break;
    case VAD_FRAME_READ_CELLS: on_read_cells(seq, p, len); break;
    case VAD_FRAME_STANDALONE: on_standalone(seq, len); break;
    default: send_error(VAD_ERR_UNKNOWN_TYPE, type, seq, type); break;
  }
}

static void drop(size_t n) {
  if (n >= rx_len) { rx_len = 0; return; }
  memmove(rx, rx + n, rx_len - n);
  rx_len -= n;
}

/* Serve every complete frame in rx[]; return when more bytes are needed (or the host asked
 * to leave the protocol). */
static void process(void) {
  size_t len, total;
  while (rx_len > 0 && !leave_for) {
    if (rx[0] != VAD_SYNC0 || (rx_len >= 2 && rx[1] != VAD_SYNC1)) { drop(1); continue; }
    if (rx_len < VAD_HEADER_BYTES) { return; }
    len = get_u16(rx + 4);
    if (len > VAD_MAX_PAYLOAD) {
      send_error(VAD_ERR_BAD_LENGTH, rx[2], rx[3], (uint32_t)len);
      drop(1);
      continue;
    }
    total = VAD_HEADER_BYTES + len + VAD_CRC_BYTES;
    if (rx_len < total) { return; }
    if (vad_crc16(rx + 2, 4 + len) != get_u16(rx + VAD_HEADER_BYTES + len)) {
      send_error(VAD_ERR_BAD_CRC, rx[2], rx[3], (uint32_t)len);
      drop(1);
      continue;
    }
    handle(rx[2], rx[3], rx + VAD_HEADER_BYTES, len);
    drop(total);
  }
}

void vad_server_feed(int c) {
  if (c == BOARD_RX_TIMEOUT) {
    if (rx_len >= VAD_HEADER_BYTES) { send_error(VAD_ERR_FRAME_TIMEOUT, rx[2], rx[3], (uint32_t)rx_len); }
    if (rx_len > 0) { drop(1); process(); }
    return;
  }
  if (rx_len == sizeof rx) { drop(1); }  /* cannot happen: process() bounds every frame */
  rx[rx_len++] = (uint8_t)c;
  process();
}

int vad_server_poll(void) {
  int c = board_uart_getc(VAD_RX_IDLE_MS);
  if (c == BOARD_RX_CLOSED) { return VAD_SERVER_CLOSED; }
  if (c != BOARD_RX_TIMEOUT || rx_len > 0) { vad_server_feed(c); }
  if (leave_for) {
    c = leave_for;
    leave_for = 0;
    return c;
  }
  return 0;
}

int vad_server_run(void) {
  int why;
  do { why = vad_server_poll(); } while (why == 0);
  return why;
}

const int8_t *vad_server_take_input(void) {
  if (input_loaded != (uint32_t)VAD_INPUT_BYTES) { return 0; }
  input_loaded = 0;
  output_ready = 0;
  return INPUT_DEST();
}
