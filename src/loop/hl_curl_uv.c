#include "loop/hl_curl_uv.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "loop/hl_curl_host.h"

#include <stdbool.h>
#include <string.h>
#include <unistd.h>

/* One of these per fd curl has asked us to watch, indexed by fd in
 * c->socks and reused by whichever socket curl opens on that fd next (in
 * whichever shard). Freed in its close callback, at hl_curl_uv_close.
 *
 * libuv re-registers an fd with epoll on every uv_poll_start (DEL, then
 * ADD) and deregisters it on uv_poll_stop, which made three epoll_ctl calls
 * per transfer on a kept-alive connection. So the poll is only restarted
 * when the mask changes, and a connection curl stops watching (REMOVE: it
 * went back to curl's cache) stays registered for readability, "idle": a
 * readable idle socket (the partner closed it) is stopped then, and curl's
 * close of such a socket goes through close_socket, which stops the poll
 * first. A stopped one has no epoll registration.
 *
 * Not every socket curl closes goes through close_socket, though: libcurl
 * 7.88 closes the socket of a connection whose connect never completed (a
 * connect timeout, a transfer removed while connecting) with a plain
 * close(), and only then sends REMOVE for it; its threaded resolver closes
 * its socketpair right after REMOVE. libuv must never have a started poll
 * on a closed fd: it registers a started poll with epoll on its next turn
 * and aborts on the EBADF. So REMOVE never starts a poll, and keeps one
 * registered only for a socket curl will close through close_socket: one
 * curl opened as a connection (conn, marked by sockopt) and read from last
 * (the connect was made: a socket still connecting is only polled for
 * writing). Any other REMOVEd socket is stopped at once, which is safe also
 * after the close (libuv ignores the failing epoll DEL then, and drops a
 * registration not yet made). */
typedef struct {
  uv_poll_t poll;
  curl_socket_t fd;
  hl_curl_uv *owner;
  hl_curl_shard *shard; /* the multi handle that watches it now */
  int events;           /* UV_READABLE/UV_WRITABLE polled now; 0: stopped */
  bool idle;            /* curl does not watch it: events are not passed on */
  bool conn;            /* a connection socket curl opened (not its resolver's) */
} curl_sock;

static void check_multi_info(hl_curl_shard *sh, int budget);

static void closed_one(hl_curl_uv *c) {
  if (--c->closing_handles > 0) return;
  /* The shards embed the timers just closed. */
  hl_free(c->shards);
  c->shards = NULL;
  c->nshards = 0;
  if (c->close_cb) c->close_cb(c->close_data);
}

static void on_handle_closed(uv_handle_t *h) { closed_one(h->data); }

static void on_sock_closed(uv_handle_t *h) {
  curl_sock *s = hl_container_of((uv_poll_t *)h, curl_sock, poll);
  hl_curl_uv *c = s->owner;
  hl_free(s);
  closed_one(c);
}

static void action(hl_curl_shard *sh, curl_socket_t fd, int mask) {
  int running = 0;
  CURLMcode rc = curl_multi_socket_action(sh->multi, fd, mask, &running);
  if (rc != CURLM_OK)
    hl_log_error("curl_multi_socket_action failed", "\"error\":\"%s\"", curl_multi_strerror(rc));
  /* Always drain, also when nothing is running any more: the last
   * transfer's result is queued exactly then. */
  check_multi_info(sh, HL_CURL_UV_DRAIN_MAX);
}

static void sock_poll(curl_sock *s, int events);

static void on_poll(uv_poll_t *p, int status, int events) {
  curl_sock *s = hl_container_of(p, curl_sock, poll);
  if (s->idle) {
    /* An idle kept-alive connection became readable or failed: the partner
     * closed it (or sent what it should not). curl finds it dead when it
     * next looks; until then it is not polled, so it cannot spin. */
    sock_poll(s, 0);
    return;
  }
  int mask = 0;
  if (status < 0) {
    /* The socket failed (EPOLLERR: a reset, a refused connect). libuv has
     * stopped the handle; curl re-arms it if it still wants the socket.
     * curl is told the socket is ready, not that it failed: it then reads
     * or writes and meets the error itself ("Connection reset by peer",
     * with its errno), where CURL_CSELECT_ERR would end the transfer as a
     * bare "select/poll returned error". */
    s->events = 0;
    mask = CURL_CSELECT_IN | CURL_CSELECT_OUT;
  }
  if (events & UV_READABLE) mask |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) mask |= CURL_CSELECT_OUT;
  action(s->shard, s->fd, mask);
}

static void on_timer(uv_timer_t *t) {
  hl_curl_shard *sh = hl_container_of(t, hl_curl_shard, timer);
  action(sh, CURL_SOCKET_TIMEOUT, 0);
}

/* Continues drains cut off at HL_CURL_UV_DRAIN_MAX, one budget per turn for
 * all shards together. */
static void on_drain(uv_idle_t *i) {
  hl_curl_uv *c = hl_container_of(i, hl_curl_uv, drain);
  uv_idle_stop(&c->drain);
  for (size_t k = 0; k < c->nshards; k++)
    if (c->shards[k].multi) check_multi_info(&c->shards[k], HL_CURL_UV_DRAIN_MAX);
}

/* CURLMOPT_TIMERFUNCTION. Never calls back into libcurl from here: a 0 ms
 * timeout becomes a timer that fires on the next loop turn. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  hl_curl_shard *sh = userp;
  (void)multi;
  if (timeout_ms < 0) uv_timer_stop(&sh->timer);
  else uv_timer_start(&sh->timer, on_timer, (uint64_t)timeout_ms, 0);
  return 0;
}

/* The kept poll handle for fd, created (stopped) on first use; NULL when
 * libuv refuses the fd. */
static curl_sock *sock_for(hl_curl_uv *c, curl_socket_t fd) {
  size_t i = (size_t)fd;
  if (i >= c->nsocks) {
    size_t n = c->nsocks ? c->nsocks : 64;
    while (n <= i) n *= 2;
    c->socks = hl_realloc(c->socks, n * sizeof *c->socks);
    memset(c->socks + c->nsocks, 0, (n - c->nsocks) * sizeof *c->socks);
    c->nsocks = n;
  }
  curl_sock *s = c->socks[i];
  if (s == NULL) {
    s = hl_calloc(1, sizeof *s);
    s->fd = fd;
    s->owner = c;
    int rc = uv_poll_init_socket(c->loop, &s->poll, fd);
    if (rc != 0) {
      hl_log_error("uv_poll_init_socket failed", "\"error\":\"%s\"", uv_strerror(rc));
      hl_free(s);
      return NULL;
    }
    c->socks[i] = s;
  }
  return s;
}

/* Polls s for events (0: stops it), touching epoll only on a change. */
static void sock_poll(curl_sock *s, int events) {
  if (events == s->events) return;
  if (events == 0) uv_poll_stop(&s->poll);
  else uv_poll_start(&s->poll, events, on_poll);
  s->events = events;
}

/* CURLOPT_CLOSESOCKETFUNCTION, set by hl_curl_uv_add on every transfer (a
 * connection keeps the function of the transfer that opened it): the fd
 * leaves epoll before it is closed, so a new socket on the same fd number
 * is registered afresh. */
static int close_socket(void *clientp, curl_socket_t fd) {
  hl_curl_uv *c = clientp;
  if (fd >= 0 && (size_t)fd < c->nsocks && c->socks[fd]) {
    curl_sock *s = c->socks[fd];
    sock_poll(s, 0);
    s->idle = false;
    s->conn = false;
  }
  return close(fd);
}

/* CURLOPT_SOCKOPTFUNCTION, set by hl_curl_uv_add on every transfer: curl
 * opened fd for a connection. Whatever poll the fd number still has
 * belonged to a socket closed without close_socket (see curl_sock): it is
 * stopped before the new socket can be registered on it. */
static int sock_opened(void *clientp, curl_socket_t fd, curlsocktype purpose) {
  hl_curl_uv *c = clientp;
  if (purpose != CURLSOCKTYPE_IPCXN) return CURL_SOCKOPT_OK;
  curl_sock *s = sock_for(c, fd);
  if (s) {
    sock_poll(s, 0);
    s->idle = false;
    s->conn = true;
  }
  return CURL_SOCKOPT_OK;
}

/* CURLMOPT_SOCKETFUNCTION. REMOVE leaves the socket registered, idle (see
 * curl_sock); the handle stays for the fd's next socket. curl sockets are
 * non-blocking already, so a reused handle needs no re-initialisation. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  hl_curl_shard *sh = userp;
  curl_sock *s = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      if (s->conn && s->events == UV_READABLE) {
        s->idle = true; /* a connection back in curl's cache */
      } else {
        /* Maybe closed already, by curl itself (see curl_sock). */
        sock_poll(s, 0);
        s->idle = false;
        s->conn = false;
      }
      uv_unref((uv_handle_t *)&s->poll); /* an idle connection keeps no loop alive */
      curl_multi_assign(sh->multi, fd, NULL);
    }
    return 0;
  }
  if (s == NULL) {
    s = sock_for(sh->owner, fd);
    if (s == NULL) return -1;
    s->shard = sh;
    s->idle = false;
    uv_ref((uv_handle_t *)&s->poll);
    curl_multi_assign(sh->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  sock_poll(s, events);
  return 0;
}

static void check_multi_info(hl_curl_shard *sh, int budget) {
  hl_curl_uv *c = sh->owner;
  CURLMsg *msg;
  int left = 0;
  for (int n = 0; n < budget; n++) {
    msg = curl_multi_info_read(sh->multi, &left);
    if (msg == NULL) return;
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    hl_curl_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(sh->multi, easy);
    sh->running--;
    c->running--;
    if (x && x->done) {
      x->easy = NULL;
      x->shard = NULL;
      x->done(x, result);
    }
  }
  /* More results than one turn may handle: continue on the next turn. */
  if (left > 0 && !uv_is_active((uv_handle_t *)&c->drain)) uv_idle_start(&c->drain, on_drain);
}

/* Makes shard sh's multi handle, on first use: a multi handle holds two
 * fds (curl's wakeup pair) and ~6 KB, and light traffic never leaves
 * shard 0. */
static int shard_open(hl_curl_uv *c, hl_curl_shard *sh) {
  sh->multi = curl_multi_init();
  if (sh->multi == NULL) return HL_ENOMEM;
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(sh->multi, CURLMOPT_SOCKETDATA, sh);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(sh->multi, CURLMOPT_TIMERDATA, sh);
  /* HTTP/2 streams share a connection (libcurl's default since 7.62, said
   * here because the senders' CURLOPT_PIPEWAIT relies on it). */
  curl_multi_setopt(sh->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
  if (c->shard_room > 0) {
    curl_multi_setopt(sh->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)c->shard_room);
    /* The connection cache must hold every connection we allow, or
     * keep-alive connections are closed and reopened under load. */
    curl_multi_setopt(sh->multi, CURLMOPT_MAXCONNECTS, (long)c->shard_room);
  }
  return 0;
}

int hl_curl_uv_init(hl_curl_uv *c, uv_loop_t *loop, long max_total_conns) {
  *c = (hl_curl_uv){.loop = loop};
  size_t n = 1, per = 0;
  if (max_total_conns > 0) {
    n = ((size_t)max_total_conns + HL_CURL_UV_SHARD_CONNS - 1) / HL_CURL_UV_SHARD_CONNS;
    if (n > HL_CURL_UV_SHARDS_MAX) n = HL_CURL_UV_SHARDS_MAX;
    per = ((size_t)max_total_conns + n - 1) / n;
  }
  c->shards = hl_calloc(n, sizeof *c->shards);
  c->shard_room = per;
  for (size_t k = 0; k < n; k++) c->shards[k].owner = c;
  /* Shard 0 now, so that a loop that cannot have curl fails here. */
  if (shard_open(c, &c->shards[0]) != 0) {
    hl_free(c->shards);
    c->shards = NULL;
    return HL_ENOMEM;
  }
  for (size_t k = 0; k < n; k++) {
    hl_curl_shard *sh = &c->shards[k];
    uv_timer_init(loop, &sh->timer);
    sh->timer.data = c;
  }
  c->nshards = n;
  uv_idle_init(loop, &c->drain);
  c->drain.data = c;
  return 0;
}

/* The first shard with room: light traffic stays on shard 0 and finds its
 * kept-alive connections there; the least busy one when all are full (the
 * caller's own limits make that rare). A shard first used gets its multi
 * handle now; if curl cannot make one, the busiest shard made so far takes
 * the transfer. */
static hl_curl_shard *pick_shard(hl_curl_uv *c) {
  hl_curl_shard *best = &c->shards[0];
  for (size_t k = 0; k < c->nshards; k++) {
    hl_curl_shard *sh = &c->shards[k];
    if (c->shard_room == 0 || sh->running < c->shard_room) {
      if (sh->multi || shard_open(c, sh) == 0) return sh;
      break;
    }
    if (sh->running < best->running) best = sh;
  }
  return best;
}

int hl_curl_uv_add(hl_curl_uv *c, hl_curl_xfer *x, CURL *easy, hl_curl_done_cb done) {
  hl_curl_shard *sh = pick_shard(c);
  x->easy = easy;
  x->done = done;
  x->shard = sh;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
  curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, c);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, sock_opened);
  curl_easy_setopt(easy, CURLOPT_SOCKOPTDATA, c);
  CURLMcode rc = curl_multi_add_handle(sh->multi, easy);
  if (rc != CURLM_OK) {
    x->easy = NULL;
    x->shard = NULL;
    hl_log_error("curl_multi_add_handle failed", "\"error\":\"%s\"", curl_multi_strerror(rc));
    return rc == CURLM_OUT_OF_MEMORY ? HL_ENOMEM : HL_EINTERNAL;
  }
  sh->running++;
  c->running++;
  return 0;
}

void hl_curl_uv_cancel(hl_curl_uv *c, hl_curl_xfer *x) {
  if (x->easy == NULL || x->shard == NULL) return;
  curl_multi_remove_handle(x->shard->multi, x->easy);
  x->shard->running--;
  x->easy = NULL;
  x->shard = NULL;
  c->running--;
}

size_t hl_curl_uv_running(const hl_curl_uv *c) { return c->running; }

void hl_curl_uv_close(hl_curl_uv *c, void (*cb)(void *data), void *data) {
  /* Cleanup first: it may still call socket_cb with REMOVE for open sockets. */
  for (size_t k = 0; k < c->nshards; k++) {
    if (c->shards[k].multi) curl_multi_cleanup(c->shards[k].multi);
    c->shards[k].multi = NULL;
  }
  c->close_cb = cb;
  c->close_data = data;
  c->closing_handles = (int)c->nshards + 1;
  for (size_t i = 0; i < c->nsocks; i++)
    if (c->socks[i]) c->closing_handles++;
  for (size_t i = 0; i < c->nsocks; i++)
    if (c->socks[i]) uv_close((uv_handle_t *)&((curl_sock *)c->socks[i])->poll, on_sock_closed);
  hl_free(c->socks);
  c->socks = NULL;
  c->nsocks = 0;
  for (size_t k = 0; k < c->nshards; k++) uv_close((uv_handle_t *)&c->shards[k].timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->drain, on_handle_closed);
}

CURL *hl_curl_api_easy(const char *url, long timeout_ms, long connect_timeout_ms, curl_write_callback on_body,
                       curl_write_callback on_header, void *data) {
  CURL *e = curl_easy_init();
  if (!e) return NULL;
  hl_curl_set_url(e, url); /* an internationalized host in its ASCII form: loop/hl_curl_host.h */
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout_ms);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, data);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, data);
  return e;
}

int hl_curl_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : HL_EINTERNAL;
}

void hl_curl_global_cleanup(void) { curl_global_cleanup(); }

size_t hl_curl_capped_append(hl_buf *out, size_t max, bool *too_big, const char *ptr, size_t len) {
  if (out->len + len > max) {
    *too_big = true;
    return 0;
  }
  hl_buf_append(out, ptr, len);
  return len;
}

void hl_curl_uv_end_run(hl_curl_uv *c, uv_loop_t *loop) {
  hl_curl_uv_close(c, NULL, NULL);
  uv_run(loop, UV_RUN_DEFAULT);
  uv_loop_close(loop);
  hl_curl_global_cleanup();
}
