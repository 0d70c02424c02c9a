/* fuzz_server.c: libFuzzer harness for the firmware's protocol server (vad_protocol.c).
 *
 * Each input is a byte stream from the host: every byte goes to vad_server_feed(), then
 * RX timeouts flush whatever frame is left half-open. The server's state is reset before
 * each input (vad_protocol.c is included here for its statics), so a finding replays alone.
 *
 * Oracle, beside ASan and UBSan: every write the server makes is exactly one well-formed
 * reply frame: sync bytes, a reply type (or ERROR), a length within VAD_MAX_PAYLOAD that
 * fits the type's layout, and a correct CRC. Anything else aborts with the reason.
 *
 * Built twice by tests/fuzz/fuzz.py: fuzz_server_bytes mutates plain bytes; with
 * -DVAD_FUZZ_FRAMES, fuzz_server_frames also has a structure-aware mutator that edits one
 * frame's type, sequence number, or payload (or inserts a request aimed at a buffer's
 * edges) and re-encodes length and CRC, so mutations get past the CRC check.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../firmware_templates/protocol/vad_protocol.c" /* the server itself, statics and all */

/* ---- the board: replies are checked, not sent ----------------------------------------- */
static uint64_t fake_ticks;

void board_init(int argc, char **argv) { (void)argc; (void)argv; }
const char *board_name(void) { return "fuzz"; }
uint32_t board_clock_hz(void) { return 1000000000u; }
int board_uart_getc(uint32_t timeout_ms) { (void)timeout_ms; return BOARD_RX_CLOSED; }
uint64_t board_ticks(void) { return fake_ticks += 1000; }
uint8_t board_timer(void) { return VAD_TIMER_HOST_NS; }
void board_timer_restart(void) {}
void board_led_set(int on) { (void)on; }

static void fail(const char *why, const uint8_t *data, size_t n) {
  size_t i;
  fprintf(stderr, "fuzz_server oracle: %s; reply of %zu bytes:", why, n);
  for (i = 0; i < n && i < 32; i++) { fprintf(stderr, " %02x", data[i]); }
  fprintf(stderr, "\n");
  abort();
}

/* The expected payload length of a reply type, or -1: any length within the maximum. */
static int payload_ok(uint8_t type, const uint8_t *p, size_t len) {
  switch (type) {
    case VAD_FRAME_HELLO_REPLY: return len == VAD_HELLO_REPLY_SIZE;
    case VAD_FRAME_LOAD_INPUT_REPLY: return len == VAD_LOAD_INPUT_REPLY_SIZE
                                            && get_u32(p) <= (uint32_t)VAD_INPUT_BYTES;
    case VAD_FRAME_INFER_REPLY:
      return len >= VAD_INFER_REPLY_SIZE && p[VAD_INFER_REPLY_RUNS] >= 1 && p[VAD_INFER_REPLY_RUNS] <= VAD_MAX_RUNS
             && len == VAD_INFER_REPLY_SIZE + 8u * p[VAD_INFER_REPLY_RUNS] + get_u16(p + VAD_INFER_REPLY_INLINE_BYTES);
    case VAD_FRAME_READ_OUTPUT_REPLY: return len >= VAD_READ_OUTPUT_REPLY_SIZE
                                             && get_u32(p) + (len - VAD_READ_OUTPUT_REPLY_SIZE) <= (uint32_t)VAD_OUTPUT_BYTES;
    case VAD_FRAME_READ_CELLS_REPLY:
      return len >= VAD_READ_CELLS_REPLY_SIZE
             && len == VAD_READ_CELLS_REPLY_SIZE + (size_t)VAD_CELL_BYTES * get_u16(p + VAD_READ_CELLS_REPLY_COUNT);
    case VAD_FRAME_STANDALONE_REPLY: return len == 0;
    case VAD_FRAME_ERROR: return len == VAD_ERROR_SIZE && p[0] >= 1 && p[0] <= VAD_FUZZ_MAX_ERROR_CODE;
    default: return 0;
  }
}

void board_uart_write(const uint8_t *data, size_t n) {
  size_t len;
  if (n < VAD_HEADER_BYTES + VAD_CRC_BYTES) { fail("shorter than a frame", data, n); }
  if (data[0] != VAD_SYNC0 || data[1] != VAD_SYNC1) { fail("no sync bytes", data, n); }
  len = get_u16(data + 4);
  if (len > VAD_MAX_PAYLOAD) { fail("payload above VAD_MAX_PAYLOAD", data, n); }
  if (n != VAD_HEADER_BYTES + len + VAD_CRC_BYTES) { fail("not exactly one frame", data, n); }
  if (vad_crc16(data + 2, 4 + len) != get_u16(data + VAD_HEADER_BYTES + len)) { fail("bad CRC", data, n); }
  if (!payload_ok(data[2], data + VAD_HEADER_BYTES, len)) { fail("type or payload layout wrong", data, n); }
}

/* ---- one input ----------------------------------------------------------------------- */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t i;
  rx_len = 0;
  input_loaded = 0;
  output_ready = 0;
  leave_for = 0;
  for (i = 0; i < size; i++) {
    vad_server_feed(data[i]);
    leave_for = 0; /* after STANDALONE the host build would run the loop; keep serving */
  }
  for (i = 0; i < VAD_FRAME_MAX_BYTES && rx_len > 0; i++) { vad_server_feed(BOARD_RX_TIMEOUT); }
  if (rx_len != 0) { fail("silence did not empty the receive buffer", rx, rx_len); }
  return 0;
}

#ifdef VAD_FUZZ_FRAMES
/* ---- structure-aware mutation ----------------------------------------------------------- */
size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

static const uint8_t requests[] = {VAD_FRAME_HELLO, VAD_FRAME_LOAD_INPUT, VAD_FRAME_INFER,
                                   VAD_FRAME_READ_OUTPUT, VAD_FRAME_READ_CELLS, VAD_FRAME_STANDALONE};
static const uint32_t edges[] = {0, 1, VAD_INPUT_BYTES - 1, VAD_INPUT_BYTES, VAD_INPUT_BYTES + 1,
                                 VAD_OUTPUT_BYTES - 1, VAD_OUTPUT_BYTES, VAD_HEAD_CELLS, VAD_MAX_CELLS_PER_READ,
                                 VAD_MAX_CELLS_PER_READ + 1, VAD_MAX_PAYLOAD, 0x7FFFFFFFu, 0xFFFFFFFFu};

static size_t put_frame(uint8_t *out, size_t room, uint8_t type, uint8_t seq, const uint8_t *p, size_t len) {
  if (len > VAD_MAX_PAYLOAD || VAD_HEADER_BYTES + len + VAD_CRC_BYTES > room) { return 0; }
  out[0] = VAD_SYNC0;
  out[1] = VAD_SYNC1;
  out[2] = type;
  out[3] = seq;
  put_u16(out + 4, (uint32_t)len);
  if (len) { memmove(out + VAD_HEADER_BYTES, p, len); }
  put_u16(out + VAD_HEADER_BYTES + len, vad_crc16(out + 2, 4 + len));
  return VAD_HEADER_BYTES + len + VAD_CRC_BYTES;
}

/* A request aimed at an edge: LOAD_INPUT / READ_OUTPUT / READ_CELLS / INFER with counts and
 * offsets from edges[], or a whole input (so that INFER and the reads have something). */
static size_t make_request(uint8_t *out, size_t room, unsigned r) {
  static uint8_t p[VAD_MAX_PAYLOAD];
  uint8_t type = requests[r % sizeof requests];
  uint32_t a = edges[(r >> 3) % (sizeof edges / sizeof edges[0])];
  uint32_t b = edges[(r >> 7) % (sizeof edges / sizeof edges[0])];
  size_t len = 0;
  switch (type) {
    case VAD_FRAME_LOAD_INPUT:
      len = (r & 0x800) ? VAD_LOAD_INPUT_SIZE + VAD_INPUT_BYTES : VAD_LOAD_INPUT_SIZE + (b % (VAD_MAX_PAYLOAD - 3));
      if (len > VAD_MAX_PAYLOAD) { len = VAD_MAX_PAYLOAD; }
      memset(p, (int)(r >> 12), len);
      put_u32(p, (r & 0x800) ? 0 : a);
      break;
    case VAD_FRAME_INFER: put_u16(p, a & 3); put_u16(p + 2, b & 0xFFFF); len = VAD_INFER_SIZE; break;
    case VAD_FRAME_READ_OUTPUT: put_u32(p, a); put_u16(p + 4, b & 0xFFFF); len = VAD_READ_OUTPUT_SIZE; break;
    case VAD_FRAME_READ_CELLS: put_u32(p, a); put_u16(p + 4, b & 0xFFFF); len = VAD_READ_CELLS_SIZE; break;
    default: len = (r & 0x1000) ? 1 : 0; p[0] = 0; break;
  }
  return put_frame(out, room, type, (uint8_t)(r >> 16), p, len);
}

/* Frame boundaries: offsets of sync pairs that start a frame fitting in the input. */
static size_t frames(const uint8_t *d, size_t n, size_t *at, size_t max) {
  size_t i, k = 0, len;
  for (i = 0; i + VAD_HEADER_BYTES + VAD_CRC_BYTES <= n && k < max; i++) {
    if (d[i] != VAD_SYNC0 || d[i + 1] != VAD_SYNC1) { continue; }
    len = get_u16(d + i + 4);
    if (len > VAD_MAX_PAYLOAD || i + VAD_HEADER_BYTES + len + VAD_CRC_BYTES > n) { continue; }
    at[k++] = i;
    i += VAD_HEADER_BYTES + len + VAD_CRC_BYTES - 1;
  }
  return k;
}

size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
  static uint8_t payload[VAD_MAX_PAYLOAD + 64];
  size_t at[64], n, start, len, plen, tail, made;
  unsigned r = seed * 2654435761u;
  n = frames(data, size, at, 64);
  switch (n ? r % 5 : 4) {
    case 0:  /* mutate one frame's payload with libFuzzer's own mutations, re-frame it */
    case 1: {
      start = at[(r >> 8) % n];
      len = get_u16(data + start + 4);
      memcpy(payload, data + start + VAD_HEADER_BYTES, len);
      plen = LLVMFuzzerMutate(payload, len, VAD_MAX_PAYLOAD);
      tail = size - (start + VAD_HEADER_BYTES + len + VAD_CRC_BYTES);
      if (start + VAD_HEADER_BYTES + plen + VAD_CRC_BYTES + tail > max_size) { return size; }
      memmove(data + start + VAD_HEADER_BYTES + plen + VAD_CRC_BYTES,
              data + start + VAD_HEADER_BYTES + len + VAD_CRC_BYTES, tail);
      put_frame(data + start, VAD_HEADER_BYTES + plen + VAD_CRC_BYTES, data[start + 2], data[start + 3],
                payload, plen);
      return start + VAD_HEADER_BYTES + plen + VAD_CRC_BYTES + tail;
    }
    case 2: {  /* another type or sequence number, valid CRC */
      start = at[(r >> 8) % n];
      len = get_u16(data + start + 4);
      if (r & 0x10000) { data[start + 2] = (r & 0x20000) ? requests[(r >> 20) % sizeof requests] : (uint8_t)(r >> 20); }
      else { data[start + 3] = (uint8_t)(r >> 20); }
      put_u16(data + start + VAD_HEADER_BYTES + len, vad_crc16(data + start + 2, 4 + len));
      return size;
    }
    case 3:  /* plain byte mutations: bad CRCs, broken syncs, garbage between frames */
      return LLVMFuzzerMutate(data, size, max_size);
    default: {  /* insert a request aimed at an edge, at a frame boundary or the end */
      start = n ? at[(r >> 8) % n] : size;
      made = make_request(payload, sizeof payload, r >> 4);
      if (!made || size + made > max_size) { return LLVMFuzzerMutate(data, size, max_size); }
      memmove(data + start + made, data + start, size - start);
      memcpy(data + start, payload, made);
      return size + made;
    }
  }
}
#endif
