/* host_board.c: the "host" board: the protocol on stdin/stdout, or on a TCP port.
 *
 *   ./firmware              serve on stdin/stdout until stdin closes
 *   ./firmware --tcp PORT   listen on 127.0.0.1:PORT, serve one connection after another
 *                           (PORT 0 picks a free port; "listening on PORT" goes to stderr)
 * Ticks are CLOCK_MONOTONIC nanoseconds. The LED is a line "LED on" / "LED off" on stderr
 * whenever it changes.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "protocol.h"
#include "vad_board.h"

static int in_fd = 0;
static int out_fd = 1;
static int listen_fd = -1;

static void accept_client(void) {
  int fd;
  do { fd = accept(listen_fd, NULL, NULL); } while (fd < 0 && errno == EINTR);
  if (fd < 0) { perror("accept"); exit(1); }
  in_fd = fd;
  out_fd = fd;
}

void board_init(int argc, char **argv) {
  struct sockaddr_in addr;
  socklen_t alen = sizeof addr;
  int one = 1;
  signal(SIGPIPE, SIG_IGN);  /* a reader that left is noticed by the next read */
  if (argc == 3 && strcmp(argv[1], "--tcp") == 0) {
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons((uint16_t)atoi(argv[2]));
    listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (listen_fd < 0) { perror("socket"); exit(1); }
    setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listen_fd, 1) != 0) {
      perror("bind/listen");
      exit(1);
    }
    getsockname(listen_fd, (struct sockaddr *)&addr, &alen);
    fprintf(stderr, "listening on %u\n", (unsigned)ntohs(addr.sin_port));
    fflush(stderr);
    accept_client();
  } else if (argc != 1) {
    fprintf(stderr, "usage: %s [--tcp PORT]\n", argv[0]);
    exit(2);
  }
}

const char *board_name(void) { return "host"; }

uint32_t board_clock_hz(void) { return 1000000000u; }

int board_uart_getc(uint32_t timeout_ms) {
  struct pollfd pfd;
  unsigned char c;
  ssize_t n;
  int r;
  for (;;) {
    pfd.fd = in_fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    r = poll(&pfd, 1, (int)timeout_ms);
    if (r < 0 && errno == EINTR) { continue; }
    if (r == 0) { return BOARD_RX_TIMEOUT; }
    n = read(in_fd, &c, 1);
    if (n == 1) { return c; }
    if (n < 0 && errno == EINTR) { continue; }
    if (listen_fd < 0) { return BOARD_RX_CLOSED; }
    close(in_fd);  /* TCP client left: wait for the next one */
    accept_client();
  }
}

void board_uart_write(const uint8_t *data, size_t n) {
  ssize_t w;
  while (n > 0) {
    w = write(out_fd, data, n);
    if (w < 0 && errno == EINTR) { continue; }
    if (w <= 0) { return; }  /* reader gone; the next read notices */
    data += w;
    n -= (size_t)w;
  }
}

uint64_t board_ticks(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint8_t board_timer(void) { return VAD_TIMER_HOST_NS; }

void board_timer_restart(void) {}

void board_led_set(int on) {
  static int state;
  if (on != state) {
    state = on;
    fprintf(stderr, "LED %s\n", on ? "on" : "off");
    fflush(stderr);
  }
}
