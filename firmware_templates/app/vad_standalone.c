/* vad_standalone.c: the standalone loop (see vad_standalone.h). Scores are printed from
 * the head's integer score, score / 2^VAD_HEAD_SCORE_FRAC_BITS rounded to two decimals
 * (half away from zero), without printf, which would pull in newlib's float formatting. */
#include "vad_standalone.h"

#include <stdint.h>

#include "vad_board.h"
#include "vad_detector.h"
#include "vad_image_source.h"

#if !VAD_HAS_HEAD
#error "the standalone loop needs a head on the device (vadtool render refuses head-less runs)"
#endif

static char line[48];
static uint32_t line_len;

static void flush(void) {
  board_uart_write((const uint8_t *)line, line_len);
  line_len = 0;
}

static void put_char(char c) {
  if (line_len == sizeof line) { flush(); }
  line[line_len++] = c;
}

static void put_text(const char *s) {
  while (*s) { put_char(*s++); }
}

static void put_uint(uint64_t v) {
  char digits[20];
  int n = 0;
  do {
    digits[n++] = (char)('0' + (int)(v % 10u));
    v /= 10u;
  } while (v);
  while (n) { put_char(digits[--n]); }
}

/* score / 2^frac_bits with two decimals */
static void put_score(int32_t score) {
  uint64_t mag = score < 0 ? (uint64_t)(-(int64_t)score) : (uint64_t)score;
  uint64_t hundredths = VAD_HEAD_SCORE_FRAC_BITS > 0
      ? (mag * 100u + (1ull << (VAD_HEAD_SCORE_FRAC_BITS - 1))) >> VAD_HEAD_SCORE_FRAC_BITS
      : mag * 100u;
  if (score < 0 && hundredths > 0) { put_char('-'); }
  put_uint(hundredths / 100u);
  put_char('.');
  put_char((char)('0' + (int)(hundredths / 10u % 10u)));
  put_char((char)('0' + (int)(hundredths % 10u)));
}

void vad_standalone_run(void) {
  const int8_t *input;
  const int32_t *cells = vad_detect_cells();
  vad_result result;
  uint64_t images = 0;
  int rc, row, col, listed;
  while ((input = vad_image_source_next()) != 0) {
    rc = vad_detect(input, &result);
    images++;
    if (rc != 0) {
      put_text("ERROR model ");
      put_uint((uint64_t)(uint32_t)rc);
      put_char('\n');
      flush();
      continue;
    }
    put_text(result.decision == VAD_DECISION_ANOMALY ? "ANOMALY " : "OK ");
    put_score(result.image_score);
    listed = 0;
    for (row = 0; row < VAD_HEAD_GRID_H && result.decision == VAD_DECISION_ANOMALY; row++) {
      for (col = 0; col < VAD_HEAD_GRID_W; col++) {
        if (cells[row * VAD_HEAD_GRID_W + col] > (int32_t)(VAD_HEAD_THRESHOLD)) {
          put_text(listed++ ? " " : " cells ");
          put_uint((uint64_t)row);
          put_char(',');
          put_uint((uint64_t)col);
        }
      }
    }
    put_char('\n');
    flush();
    board_led_set(result.decision == VAD_DECISION_ANOMALY);
  }
  put_text("END ");
  put_uint(images);
  put_text(" images\n");
  flush();
}
