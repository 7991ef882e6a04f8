// netload: a C load generator and server for the data-plane benchmarks (bench/proxy.ts,
// bench/userspace.ts), so that what they measure is the path (kernel, NAT, relay) and
// not a JavaScript client or server saturating its core. Built by the benchmarks
// themselves with `cc -O2` into a temporary directory.
//
//   netload server ADDR SINK SOURCE SHORT   (comma-separated ports; 0 = role not served) → prints "ready"
//     SINK:   reads until EOF, answers the byte count in decimal, closes (bulk, client → server)
//     SOURCE: reads an 8-byte big-endian count N, sends N bytes, closes (bulk, server → client)
//     SHORT:  reads a request (REQ bytes), answers REQ bytes, closes (one short connection)
//   netload client                          → reads commands on stdin, one JSON line per command:
//     send HOST PORT BYTES                   one connection sends BYTES, half-closes, reads the count
//     recv HOST PORT BYTES STREAMS           STREAMS connections each receive BYTES/STREAMS
//     conn HOST PORT COUNT CONC              COUNT request/answer connections, CONC at a time
//   Each answer: {"ns":wall,"cpuNs":this process's CPU time,"bytes":…,"conns":…,"errors":…}
//
// Single-threaded, epoll, non-blocking; the CPU time is CLOCK_PROCESS_CPUTIME_ID (ns).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)
#define REQ 32

static char buf[BUF];

static long long clock_ns(clockid_t c) {
  struct timespec t;
  clock_gettime(c, &t);
  return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

static struct sockaddr_in addr_of(const char *host, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "netload: bad address %s\n", host);
    exit(1);
  }
  return a;
}

// ------------------------------------------------------------------ server

enum role { SINK = 1, SOURCE, SHORT, LISTENER };

struct conn {
  int fd;
  int role;          // for a listener: the role of what it accepts
  int listener;      // 1: a listening socket
  long long n;       // SINK: bytes read; SOURCE: bytes left to send (-1: count not read yet); SHORT: request bytes read
  int hdr;           // SOURCE: bytes of the count read so far
  unsigned char cnt[8];
};

static int ep;

static void watch(struct conn *c, uint32_t events, int op) {
  struct epoll_event e = {.events = events, .data.ptr = c};
  if (epoll_ctl(ep, op, c->fd, &e) < 0) die("epoll_ctl");
}

static void finish(struct conn *c) {
  close(c->fd);
  free(c);
}

static void listen_one(const char *host, int port, int role) {
  if (!port) return;
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = addr_of(host, port);
  if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0) die("bind");
  if (listen(fd, 4096) < 0) die("listen");
  nonblock(fd);
  struct conn *c = calloc(1, sizeof *c);
  c->fd = fd;
  c->role = role;
  c->listener = 1;
  watch(c, EPOLLIN, EPOLL_CTL_ADD);
}

/** `ports`: a comma-separated list (0: none). */
static void listen_on(const char *host, const char *ports, int role) {
  char list[256];
  snprintf(list, sizeof list, "%s", ports);
  for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) listen_one(host, atoi(p), role);
}

static void source_send(struct conn *c) {
  while (c->n > 0) {
    ssize_t w = write(c->fd, buf, c->n < BUF ? (size_t)c->n : BUF);
    if (w < 0) {
      if (errno == EAGAIN) return;  // EPOLLOUT is watched
      finish(c);
      return;
    }
    c->n -= w;
  }
  finish(c);  // everything queued: close sends the FIN after it
}

static void serve_event(struct conn *c, uint32_t ev) {
  if (c->listener) {
    for (;;) {
      int fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK);
      if (fd < 0) return;
      struct conn *n = calloc(1, sizeof *n);
      n->fd = fd;
      n->role = c->role;
      n->n = c->role == SOURCE ? -1 : 0;
      watch(n, EPOLLIN, EPOLL_CTL_ADD);
    }
  }
  if (c->role == SOURCE && c->n >= 0) {
    if (ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)) source_send(c);
    return;
  }
  for (;;) {
    ssize_t r = read(c->fd, buf, BUF);
    if (r < 0) {
      if (errno == EAGAIN) return;
      finish(c);
      return;
    }
    if (r == 0) {
      if (c->role == SINK) {
        char ans[32];
        int len = snprintf(ans, sizeof ans, "%lld", c->n);
        if (write(c->fd, ans, len) < 0) { /* the client sees a short answer */ }
      }
      finish(c);
      return;
    }
    if (c->role == SINK) {
      c->n += r;
    } else if (c->role == SHORT) {
      c->n += r;
      if (c->n >= REQ) {
        if (write(c->fd, buf, REQ) < 0) { /* the client sees a short answer */ }
        finish(c);
        return;
      }
    } else {  // SOURCE: the 8-byte count
      for (ssize_t i = 0; i < r && c->hdr < 8; i++) c->cnt[c->hdr++] = (unsigned char)buf[i];
      if (c->hdr == 8) {
        long long n = 0;
        for (int i = 0; i < 8; i++) n = (n << 8) | c->cnt[i];
        c->n = n;
        watch(c, EPOLLOUT, EPOLL_CTL_MOD);
        source_send(c);
        return;
      }
    }
  }
}

static int server(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: netload server ADDR SINK SOURCE SHORT\n");
    return 2;
  }
  memset(buf, 'x', sizeof buf);
  ep = epoll_create1(0);
  listen_on(argv[2], argv[3], SINK);
  listen_on(argv[2], argv[4], SOURCE);
  listen_on(argv[2], argv[5], SHORT);
  printf("ready\n");
  fflush(stdout);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    if (n < 0 && errno != EINTR) die("epoll_wait");
    for (int i = 0; i < n; i++) serve_event(evs[i].data.ptr, evs[i].events);
  }
}

// ------------------------------------------------------------------ client

static int connect_to(struct sockaddr_in *a, int blocking) {
  int fd = socket(AF_INET, SOCK_STREAM | (blocking ? 0 : SOCK_NONBLOCK), 0);
  if (fd < 0) die("socket");
  if (connect(fd, (struct sockaddr *)a, sizeof *a) < 0 && errno != EINPROGRESS) {
    close(fd);
    return -1;
  }
  return fd;
}

struct result {
  long long bytes, conns, errors;
};

// One connection sends `bytes`, half-closes, and reads the sink's count.
static void cmd_send(struct sockaddr_in *a, long long bytes, struct result *res) {
  int fd = connect_to(a, 1);
  if (fd < 0) {
    res->errors++;
    return;
  }
  long long left = bytes;
  while (left > 0) {
    ssize_t w = write(fd, buf, left < BUF ? (size_t)left : BUF);
    if (w <= 0) {
      res->errors++;
      close(fd);
      return;
    }
    left -= w;
  }
  shutdown(fd, SHUT_WR);
  char ans[64];
  size_t got = 0;
  ssize_t r;
  while ((r = read(fd, ans + got, sizeof ans - 1 - got)) > 0) got += (size_t)r;
  ans[got] = 0;
  close(fd);
  if (atoll(ans) != bytes) res->errors++;
  res->bytes += atoll(ans);
  res->conns++;
}

// `streams` connections each ask the source for bytes/streams and read them.
static void cmd_recv(struct sockaddr_in *a, long long bytes, int streams, struct result *res) {
  long long per = bytes / streams;
  int open = 0;
  long long *got = calloc((size_t)streams, sizeof *got);
  int *fds = calloc((size_t)streams, sizeof *fds);
  int e = epoll_create1(0);
  for (int i = 0; i < streams; i++) {
    fds[i] = connect_to(a, 1);
    if (fds[i] < 0) {
      res->errors++;
      continue;
    }
    unsigned char cnt[8];
    for (int k = 0; k < 8; k++) cnt[k] = (unsigned char)(per >> (56 - 8 * k));
    if (write(fds[i], cnt, 8) != 8) res->errors++;
    nonblock(fds[i]);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    epoll_ctl(e, EPOLL_CTL_ADD, fds[i], &ev);
    open++;
  }
  struct epoll_event evs[64];
  while (open > 0) {
    int n = epoll_wait(e, evs, 64, 10000);
    if (n <= 0) {
      res->errors += open;
      break;
    }
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      for (;;) {
        ssize_t r = read(fds[i], buf, BUF);
        if (r > 0) {
          got[i] += r;
          continue;
        }
        if (r < 0 && errno == EAGAIN) break;
        close(fds[i]);
        open--;
        if (got[i] != per) res->errors++;
        res->bytes += got[i];
        res->conns++;
        break;
      }
    }
  }
  close(e);
  free(got);
  free(fds);
}

// `count` connections, `conc` at a time: connect, send a REQ-byte request, read the
// REQ-byte answer and the server's FIN, close.
struct slot {
  int fd;
  int state;  // 0 connecting, 1 reading
  int got;
};

static void cmd_conn(struct sockaddr_in *a, long long count, int conc, struct result *res) {
  int e = epoll_create1(0);
  struct slot *s = calloc((size_t)conc, sizeof *s);
  long long started = 0, active = 0;
  char req[REQ];
  memset(req, 'q', sizeof req);
  // Starts the next connection in slot i (or leaves it empty when all are started).
  #define START(i) do { \
    s[i].fd = -1; \
    while (started < count) { \
      started++; \
      int fd_ = connect_to(a, 0); \
      if (fd_ < 0) { res->errors++; continue; } \
      s[i].fd = fd_; s[i].state = 0; s[i].got = 0; active++; \
      struct epoll_event ev_ = {.events = EPOLLOUT, .data.u32 = (uint32_t)(i)}; \
      epoll_ctl(e, EPOLL_CTL_ADD, fd_, &ev_); \
      break; \
    } \
  } while (0)
  for (int i = 0; i < conc; i++) START(i);
  struct epoll_event evs[256];
  while (active > 0) {
    int n = epoll_wait(e, evs, 256, 10000);
    if (n <= 0) {
      res->errors += active;
      for (int i = 0; i < conc; i++) if (s[i].fd >= 0) close(s[i].fd);
      break;
    }
    for (int k = 0; k < n; k++) {
      int i = (int)evs[k].data.u32;
      struct slot *c = &s[i];
      int ok = -1;  // -1 going on, 0 failed, 1 done
      if (c->state == 0) {
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err || write(c->fd, req, REQ) != REQ) {
          ok = 0;
        } else {
          c->state = 1;
          struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
          epoll_ctl(e, EPOLL_CTL_MOD, c->fd, &ev);
        }
      } else {
        for (;;) {
          ssize_t r = read(c->fd, buf, BUF);
          if (r > 0) {
            c->got += (int)r;
            continue;
          }
          if (r < 0 && errno == EAGAIN) break;
          ok = r == 0 && c->got == REQ;
          break;
        }
      }
      if (ok >= 0) {
        close(c->fd);
        active--;
        if (ok) {
          res->conns++;
          res->bytes += c->got;
        } else {
          res->errors++;
        }
        START(i);
      }
    }
  }
  #undef START
  free(s);
  close(e);
}

static int client(void) {
  memset(buf, 'x', sizeof buf);
  char line[512];
  while (fgets(line, sizeof line, stdin)) {
    char cmd[16], host[64];
    int port = 0;
    long long n = 0, m = 0;
    if (sscanf(line, "%15s %63s %d %lld %lld", cmd, host, &port, &n, &m) < 4) {
      fprintf(stderr, "netload: bad command: %s", line);
      return 2;
    }
    struct sockaddr_in a = addr_of(host, port);
    struct result res = {0, 0, 0};
    long long c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID), t0 = clock_ns(CLOCK_MONOTONIC);
    if (!strcmp(cmd, "send")) cmd_send(&a, n, &res);
    else if (!strcmp(cmd, "recv")) cmd_recv(&a, n, m > 0 ? (int)m : 1, &res);
    else if (!strcmp(cmd, "conn")) cmd_conn(&a, n, m > 0 ? (int)m : 1, &res);
    else {
      fprintf(stderr, "netload: unknown command %s\n", cmd);
      return 2;
    }
    long long t1 = clock_ns(CLOCK_MONOTONIC), c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    printf("{\"ns\":%lld,\"cpuNs\":%lld,\"bytes\":%lld,\"conns\":%lld,\"errors\":%lld}\n", t1 - t0, c1 - c0, res.bytes, res.conns, res.errors);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc >= 2 && !strcmp(argv[1], "server")) return server(argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "client")) return client();
  fprintf(stderr, "usage: netload server ADDR SINK SOURCE SHORT | netload client\n");
  return 2;
}
