/* bare_curl — the ceiling for hookloop's Kafka drain: a bare libcurl multi
 * loop on libuv (curl_multi_socket_action driven by uv_poll and one
 * uv_timer), POSTing each Kafka record's value to one URL with N requests
 * in flight. No signing, no store, no retries, no offsets committed: the
 * least a dispatcher built on the same libraries can do per record.
 *
 *   bare_curl --bootstrap HOST:PORT --topic T --url URL --count N
 *             [--concurrency 256] [--preload] [--max-seconds 120] [--ca FILE] [--h2]
 *
 * --ca: the PEM CA an https:// partner's certificate is verified with.
 * --h2: CURLOPT_PIPEWAIT, so the requests started together wait for the
 * first connection's TLS handshake and, when it negotiates HTTP/2 (ALPN),
 * share it (CURLMOPT_MAX_CONCURRENT_STREAMS, 100, per connection) instead
 * of opening one each. HTTP/2 itself is libcurl's default over TLS.
 *
 * consume+POST (default): records are read from the topic with librdkafka
 * (every partition assigned from the beginning, no group) while they are
 * POSTed; the clock starts at the first record read. The consumer's
 * threads share the core with the loop, as in hookloop.
 * --preload (POST only): all N records are read into memory first, then
 * the clock starts and they are POSTed: the consumer's cost is excluded.
 *
 * Easy handles are made once (URL, headers, callbacks set once) and reused,
 * so connections are kept alive; per request only the body changes.
 * The socket plumbing is curl's multi-uv pattern with one refinement that
 * hookloop has too (src/loop/hl_curl_uv.c), so the ceiling does not pay
 * what hookloop does not: libuv's uv_poll_start deregisters and registers
 * the fd again (two epoll_ctl), so a socket's poll is kept for the socket's
 * life and restarted only when curl's mask changes; a kept-alive connection
 * that curl stops watching between requests stays registered for reading
 * (idle), and is taken out of epoll in CURLOPT_CLOSESOCKETFUNCTION before
 * curl closes it. The
 * clock stops at the N-th answer. Prints one JSON line
 * {"mode","deliveries","errors","seconds","rate"} and exits 0 if all N got
 * a 2xx before --max-seconds, 1 otherwise (the line then says how far it got).
 *
 * Loopback only; a bench program, not part of hookloop. */
#include <curl/curl.h>
#include <librdkafka/rdkafka.h>
#include <uv.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct slot {
  CURL *easy;
  rd_kafka_message_t *msg; /* owned while the request runs (consume+POST) */
  struct slot *next_free;
} slot;

typedef struct {
  uv_poll_t poll;
  curl_socket_t fd;
  int events; /* the UV_ mask the poll runs with */
  bool idle;  /* curl does not watch it (REMOVE): events are not passed on */
} sock_ctx;

static struct {
  uv_loop_t *loop;
  CURLM *multi;
  uv_timer_t curl_timer, deadline, starve;
  uv_poll_t wake; /* librdkafka writes to wake_fd[1] when the queue gets a record */
  int wake_fd[2];
  rd_kafka_t *rk;
  rd_kafka_queue_t *q;
  slot *slots, *free_slots;
  sock_ctx **by_fd; /* every socket curl opened and has not closed, by fd */
  size_t nby_fd;
  struct curl_slist *headers;
  struct rec {
    char *data;
    size_t len;
  } *preloaded; /* --preload: copies of the records; the consumer is gone before the clock starts */
  long count, started, answered, ok, errors;
  int concurrency;
  bool preload, timed_out;
  uint64_t t0, t1;
} B;

static void die(const char *what) {
  fprintf(stderr, "bare_curl: %s\n", what);
  exit(2);
}

static void *xcalloc(size_t n, size_t sz) {
  void *p = calloc(n, sz);
  if (!p) die("out of memory");
  return p;
}

static size_t discard(char *ptr, size_t size, size_t n, void *ud) {
  (void)ptr;
  (void)ud;
  return size * n;
}

/* The next record from the consumer, or NULL if none is ready yet. */
static rd_kafka_message_t *next_record(void) {
  for (;;) {
    rd_kafka_message_t *m = rd_kafka_consume_queue(B.q, 0);
    if (!m) return NULL;
    if (!m->err) {
      if (!B.t0) B.t0 = uv_hrtime();
      return m;
    }
    if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
      fprintf(stderr, "bare_curl: consume: %s\n", rd_kafka_message_errstr(m));
    rd_kafka_message_destroy(m);
  }
}

static void refill(void);
static void on_starve(uv_timer_t *t) {
  (void)t;
  refill();
}

/* Starts requests until N are in flight, the count is reached or no
 * record is ready (then the wake fd or the starvation timer calls again). */
static void refill(void) {
  while (B.free_slots && B.started < B.count) {
    const void *body;
    size_t len;
    rd_kafka_message_t *m = NULL;
    if (B.preload) {
      body = B.preloaded[B.started].data;
      len = B.preloaded[B.started].len;
    } else {
      m = next_record();
      if (!m) {
        uv_timer_start(&B.starve, on_starve, 1, 0);
        return;
      }
      body = m->payload;
      len = m->len;
    }
    slot *s = B.free_slots;
    B.free_slots = s->next_free;
    s->msg = m;
    B.started++;
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long)len);
    curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
    CURLMcode rc = curl_multi_add_handle(B.multi, s->easy);
    if (rc != CURLM_OK) die(curl_multi_strerror(rc));
  }
}

static void finish(void) {
  B.t1 = uv_hrtime();
  uv_stop(B.loop);
}

static void check_done(void) {
  CURLMsg *msg;
  int left;
  while ((msg = curl_multi_info_read(B.multi, &left))) {
    if (msg->msg != CURLMSG_DONE) continue;
    slot *s;
    long code = 0;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
    curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &code);
    if (msg->data.result == CURLE_OK && code >= 200 && code < 300) B.ok++;
    else B.errors++;
    B.answered++;
    curl_multi_remove_handle(B.multi, msg->easy_handle);
    if (s->msg) rd_kafka_message_destroy(s->msg);
    s->msg = NULL;
    s->next_free = B.free_slots;
    B.free_slots = s;
  }
  if (B.answered >= B.count) finish();
  else refill();
}

static void on_poll(uv_poll_t *h, int status, int events) {
  sock_ctx *c = h->data;
  if (c->idle) { /* readable while idle: the partner closed it; curl finds out on reuse */
    uv_poll_stop(&c->poll);
    c->events = 0;
    return;
  }
  int flags = 0;
  if (status < 0) flags = CURL_CSELECT_ERR;
  if (events & UV_READABLE) flags |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) flags |= CURL_CSELECT_OUT;
  int running;
  curl_multi_socket_action(B.multi, c->fd, flags, &running);
  check_done();
}

static void on_close_free(uv_handle_t *h) { free(h->data); }

static void poll_set(sock_ctx *c, int events) {
  if (events == c->events) return; /* no epoll_ctl pair for nothing */
  c->events = events;
  if (events) uv_poll_start(&c->poll, events, on_poll);
  else uv_poll_stop(&c->poll);
}

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *sockp) {
  (void)e;
  (void)userp;
  (void)sockp;
  if (fd < 0) return 0;
  if ((size_t)fd >= B.nby_fd) {
    size_t n = B.nby_fd ? B.nby_fd : 1024;
    while (n <= (size_t)fd) n *= 2;
    B.by_fd = realloc(B.by_fd, n * sizeof *B.by_fd);
    if (!B.by_fd) die("out of memory");
    memset(B.by_fd + B.nby_fd, 0, (n - B.nby_fd) * sizeof *B.by_fd);
    B.nby_fd = n;
  }
  sock_ctx *c = B.by_fd[fd];
  if (!c) {
    c = xcalloc(1, sizeof *c);
    c->fd = fd;
    if (uv_poll_init_socket(B.loop, &c->poll, fd) != 0) die("uv_poll_init_socket");
    c->poll.data = c;
    B.by_fd[fd] = c;
  }
  if (what == CURL_POLL_REMOVE) { /* back in curl's cache: keep watching for a close */
    c->idle = true;
    poll_set(c, UV_READABLE);
    return 0;
  }
  c->idle = false;
  int ev = 0;
  if (what & CURL_POLL_IN) ev |= UV_READABLE;
  if (what & CURL_POLL_OUT) ev |= UV_WRITABLE;
  poll_set(c, ev);
  return 0;
}

/* Out of epoll before the fd is closed (and its number reused). */
static int on_close_socket(void *ud, curl_socket_t fd) {
  (void)ud;
  if (fd >= 0 && (size_t)fd < B.nby_fd && B.by_fd[fd]) {
    uv_close((uv_handle_t *)&B.by_fd[fd]->poll, on_close_free);
    B.by_fd[fd] = NULL;
  }
  return close(fd);
}

static void on_curl_timer(uv_timer_t *t) {
  (void)t;
  int running;
  curl_multi_socket_action(B.multi, CURL_SOCKET_TIMEOUT, 0, &running);
  check_done();
}

static int on_timer_change(CURLM *m, long timeout_ms, void *userp) {
  (void)m;
  (void)userp;
  if (timeout_ms < 0) uv_timer_stop(&B.curl_timer);
  else uv_timer_start(&B.curl_timer, on_curl_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* librdkafka signals through the pipe when a record arrives on an empty
 * queue; the starvation timer is a bounded fallback so a missed signal
 * costs a millisecond, not the run. */
static void on_wake(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)status;
  (void)events;
  char buf[64];
  while (read(B.wake_fd[0], buf, sizeof buf) > 0) {
  }
  refill();
}


static void on_deadline(uv_timer_t *t) {
  (void)t;
  B.timed_out = true;
  finish();
}

static void kafka_start(const char *bootstrap, const char *topic) {
  char err[512];
  char group[64];
  snprintf(group, sizeof group, "bare-curl-%ld", (long)getpid());
  rd_kafka_conf_t *conf = rd_kafka_conf_new();
  const char *kv[][2] = {{"bootstrap.servers", bootstrap}, {"group.id", group}, {"enable.auto.commit", "false"},
                         {"enable.partition.eof", "false"}, {"log_level", "3"}};
  for (size_t i = 0; i < sizeof kv / sizeof kv[0]; i++)
    if (rd_kafka_conf_set(conf, kv[i][0], kv[i][1], err, sizeof err) != RD_KAFKA_CONF_OK) die(err);
  B.rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
  if (!B.rk) die(err);
  rd_kafka_poll_set_consumer(B.rk);
  /* Every partition from the beginning, without a group: no join to wait for. */
  rd_kafka_topic_t *rkt = rd_kafka_topic_new(B.rk, topic, NULL);
  const struct rd_kafka_metadata *md = NULL;
  rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
  for (int tries = 0; tries < 50; tries++) { /* up to ~10 s for the broker to answer */
    e = rd_kafka_metadata(B.rk, 0, rkt, &md, 200);
    if (!e && md->topic_cnt == 1 && !md->topics[0].err && md->topics[0].partition_cnt > 0) break;
    if (md) rd_kafka_metadata_destroy(md);
    md = NULL;
  }
  if (!md) die("no metadata for the topic");
  rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(md->topics[0].partition_cnt);
  for (int i = 0; i < md->topics[0].partition_cnt; i++)
    rd_kafka_topic_partition_list_add(parts, topic, md->topics[0].partitions[i].id)->offset =
        RD_KAFKA_OFFSET_BEGINNING;
  rd_kafka_metadata_destroy(md);
  rd_kafka_topic_destroy(rkt);
  e = rd_kafka_assign(B.rk, parts);
  rd_kafka_topic_partition_list_destroy(parts);
  if (e) die(rd_kafka_err2str(e));
  B.q = rd_kafka_queue_get_consumer(B.rk);
}

static void usage(void) {
  fprintf(stderr, "usage: bare_curl --bootstrap HOST:PORT --topic T --url URL --count N [--concurrency 256] "
                  "[--preload] [--max-seconds 120] [--ca FILE] [--h2]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *bootstrap = NULL, *topic = NULL, *url = NULL, *ca = NULL;
  double max_seconds = 120;
  bool h2 = false;
  B.concurrency = 256;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--preload") == 0) {
      B.preload = true;
      continue;
    }
    if (strcmp(a, "--h2") == 0) {
      h2 = true;
      continue;
    }
    if (!v) usage();
    i++;
    if (strcmp(a, "--bootstrap") == 0) bootstrap = v;
    else if (strcmp(a, "--topic") == 0) topic = v;
    else if (strcmp(a, "--url") == 0) url = v;
    else if (strcmp(a, "--count") == 0) B.count = atol(v);
    else if (strcmp(a, "--concurrency") == 0) B.concurrency = atoi(v);
    else if (strcmp(a, "--max-seconds") == 0) max_seconds = atof(v);
    else if (strcmp(a, "--ca") == 0) ca = v;
    else usage();
  }
  if (!bootstrap || !topic || !url || B.count <= 0 || B.concurrency <= 0 || max_seconds <= 0) usage();

  B.loop = uv_default_loop();
  curl_global_init(CURL_GLOBAL_DEFAULT);
  B.multi = curl_multi_init();
  curl_multi_setopt(B.multi, CURLMOPT_SOCKETFUNCTION, on_socket);
  curl_multi_setopt(B.multi, CURLMOPT_TIMERFUNCTION, on_timer_change);
  curl_multi_setopt(B.multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)B.concurrency);
  curl_multi_setopt(B.multi, CURLMOPT_MAXCONNECTS, (long)B.concurrency);
  uv_timer_init(B.loop, &B.curl_timer);
  uv_timer_init(B.loop, &B.deadline);
  uv_timer_init(B.loop, &B.starve);

  B.headers = curl_slist_append(NULL, "content-type: application/json");
  B.headers = curl_slist_append(B.headers, "expect:"); /* no 100-continue round trip */
  B.slots = xcalloc((size_t)B.concurrency, sizeof *B.slots);
  for (int i = B.concurrency - 1; i >= 0; i--) {
    slot *s = &B.slots[i];
    s->easy = curl_easy_init();
    if (!s->easy) die("curl_easy_init");
    curl_easy_setopt(s->easy, CURLOPT_URL, url);
    curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, B.headers);
    curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
    curl_easy_setopt(s->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(s->easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(s->easy, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    curl_easy_setopt(s->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    if (h2) curl_easy_setopt(s->easy, CURLOPT_PIPEWAIT, 1L);
    if (ca) curl_easy_setopt(s->easy, CURLOPT_CAINFO, ca);
    s->next_free = B.free_slots;
    B.free_slots = s;
  }

  kafka_start(bootstrap, topic);
  uv_timer_start(&B.deadline, on_deadline, (uint64_t)(max_seconds * 1000), 0);
  if (B.preload) {
    /* Read all N before the clock starts, bounded by the same deadline,
     * then close the consumer so its threads cost nothing while timed. */
    B.preloaded = xcalloc((size_t)B.count, sizeof *B.preloaded);
    uint64_t end = uv_hrtime() + (uint64_t)(max_seconds * 1e9);
    long n = 0;
    while (n < B.count && uv_hrtime() < end) {
      rd_kafka_message_t *m = rd_kafka_consume_queue(B.q, 100);
      if (!m) continue;
      if (!m->err) {
        B.preloaded[n].data = malloc(m->len ? m->len : 1);
        if (!B.preloaded[n].data) die("out of memory");
        memcpy(B.preloaded[n].data, m->payload, m->len);
        B.preloaded[n++].len = m->len;
      }
      rd_kafka_message_destroy(m);
    }
    rd_kafka_queue_destroy(B.q);
    B.q = NULL;
    rd_kafka_consumer_close(B.rk);
    rd_kafka_destroy(B.rk);
    B.rk = NULL;
    if (n < B.count) {
      printf("{\"mode\":\"post-only\",\"deliveries\":0,\"errors\":0,\"seconds\":0,\"rate\":0,"
             "\"error\":\"read %ld of %ld records before the deadline\"}\n", n, B.count);
      return 1;
    }
    B.t0 = uv_hrtime();
  } else {
    if (pipe2(B.wake_fd, O_NONBLOCK | O_CLOEXEC) != 0) die(strerror(errno));
    rd_kafka_queue_io_event_enable(B.q, B.wake_fd[1], "1", 1);
    uv_poll_init(B.loop, &B.wake, B.wake_fd[0]);
    uv_poll_start(&B.wake, UV_READABLE, on_wake);
  }
  refill();
  uv_run(B.loop, UV_RUN_DEFAULT);

  double secs = B.t0 ? (double)((B.t1 ? B.t1 : uv_hrtime()) - B.t0) / 1e9 : 0;
  const char *mode = B.preload ? "post-only" : "consume+post";
  bool complete = !B.timed_out && B.ok == B.count;
  printf("{\"mode\":\"%s\",\"deliveries\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.1f%s}\n", mode, B.ok,
         B.errors, secs, secs > 0 ? (double)B.ok / secs : 0.0,
         B.timed_out ? ",\"error\":\"deadline\"" : (complete ? "" : ",\"error\":\"some requests failed\""));
  fflush(stdout);
  /* Bounded exit: librdkafka's close could wait on an unanswering broker. */
  _exit(complete ? 0 : 1);
}
