#include "loop/hl_curl_uv.h"
#include "common/hl_common.h"
#include "common/hl_log.h"

#include <string.h>

/* One of these per fd curl has asked us to watch, indexed by fd in
 * c->socks and reused by whichever socket curl opens on that fd next; a
 * stopped one has no epoll registration. Freed in its close callback, at
 * hl_curl_uv_close. */
typedef struct {
  uv_poll_t poll;
  curl_socket_t fd;
  hl_curl_uv *owner;
} curl_sock;

static void check_multi_info(hl_curl_uv *c);

static void on_handle_closed(uv_handle_t *h) {
  hl_curl_uv *c = h->data;
  if (--c->closing_handles == 0 && c->close_cb) c->close_cb(c->close_data);
}

static void on_sock_closed(uv_handle_t *h) {
  curl_sock *s = hl_container_of((uv_poll_t *)h, curl_sock, poll);
  hl_curl_uv *c = s->owner;
  hl_free(s);
  if (--c->closing_handles == 0 && c->close_cb) c->close_cb(c->close_data);
}

static void action(hl_curl_uv *c, curl_socket_t fd, int mask) {
  int running = 0;
  CURLMcode rc = curl_multi_socket_action(c->multi, fd, mask, &running);
  if (rc != CURLM_OK)
    hl_log_error("curl_multi_socket_action failed", "\"error\":\"%s\"", curl_multi_strerror(rc));
  /* Always drain, also when nothing is running any more: the last
   * transfer's result is queued exactly then. */
  check_multi_info(c);
}

static void on_poll(uv_poll_t *p, int status, int events) {
  curl_sock *s = hl_container_of(p, curl_sock, poll);
  int mask = 0;
  if (status < 0) mask = CURL_CSELECT_ERR;
  if (events & UV_READABLE) mask |= CURL_CSELECT_IN;
  if (events & UV_WRITABLE) mask |= CURL_CSELECT_OUT;
  action(s->owner, s->fd, mask);
}

static void on_timer(uv_timer_t *t) {
  hl_curl_uv *c = hl_container_of(t, hl_curl_uv, timer);
  action(c, CURL_SOCKET_TIMEOUT, 0);
}

static void on_drain(uv_idle_t *i) {
  hl_curl_uv *c = hl_container_of(i, hl_curl_uv, drain);
  uv_idle_stop(&c->drain);
  check_multi_info(c);
}

/* CURLMOPT_TIMERFUNCTION. Never calls back into libcurl from here: a 0 ms
 * timeout becomes a timer that fires on the next loop turn. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  hl_curl_uv *c = userp;
  (void)multi;
  if (timeout_ms < 0) uv_timer_stop(&c->timer);
  else uv_timer_start(&c->timer, on_timer, (uint64_t)timeout_ms, 0);
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

/* CURLMOPT_SOCKETFUNCTION. REMOVE only stops the poll (removing the fd from
 * epoll before curl may close it); the handle stays for the fd's next
 * socket. curl sockets are non-blocking already, so a reused handle needs
 * no re-initialisation for a new socket on the same fd. */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp) {
  hl_curl_uv *c = userp;
  curl_sock *s = socketp;
  (void)easy;
  if (what == CURL_POLL_REMOVE) {
    if (s) {
      uv_poll_stop(&s->poll);
      curl_multi_assign(c->multi, fd, NULL);
    }
    return 0;
  }
  if (s == NULL) {
    s = sock_for(c, fd);
    if (s == NULL) return -1;
    curl_multi_assign(c->multi, fd, s);
  }
  int events = 0;
  if (what == CURL_POLL_IN || what == CURL_POLL_INOUT) events |= UV_READABLE;
  if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT) events |= UV_WRITABLE;
  uv_poll_start(&s->poll, events, on_poll);
  return 0;
}

static void check_multi_info(hl_curl_uv *c) {
  CURLMsg *msg;
  int left = 0;
  for (int n = 0; n < HL_CURL_UV_DRAIN_MAX; n++) {
    msg = curl_multi_info_read(c->multi, &left);
    if (msg == NULL) return;
    if (msg->msg != CURLMSG_DONE) continue;
    CURL *easy = msg->easy_handle;
    CURLcode result = msg->data.result;
    hl_curl_xfer *x = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
    curl_multi_remove_handle(c->multi, easy);
    c->running--;
    if (x && x->done) {
      x->easy = NULL;
      x->done(x, result);
    }
  }
  /* More results than one turn may handle: continue on the next turn. */
  if (left > 0 && !uv_is_active((uv_handle_t *)&c->drain)) uv_idle_start(&c->drain, on_drain);
}

int hl_curl_uv_init(hl_curl_uv *c, uv_loop_t *loop, long max_total_conns) {
  *c = (hl_curl_uv){.loop = loop};
  c->multi = curl_multi_init();
  if (c->multi == NULL) return HL_ENOMEM;
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
  if (max_total_conns > 0) {
    curl_multi_setopt(c->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, max_total_conns);
    /* The connection cache must hold every connection we allow, or keep-alive
     * connections are closed and reopened under load. */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, max_total_conns);
  }
  uv_timer_init(loop, &c->timer);
  uv_idle_init(loop, &c->drain);
  c->timer.data = c;
  c->drain.data = c;
  return 0;
}

int hl_curl_uv_add(hl_curl_uv *c, hl_curl_xfer *x, CURL *easy, hl_curl_done_cb done) {
  x->easy = easy;
  x->done = done;
  curl_easy_setopt(easy, CURLOPT_PRIVATE, (char *)x);
  CURLMcode rc = curl_multi_add_handle(c->multi, easy);
  if (rc != CURLM_OK) {
    x->easy = NULL;
    hl_log_error("curl_multi_add_handle failed", "\"error\":\"%s\"", curl_multi_strerror(rc));
    return rc == CURLM_OUT_OF_MEMORY ? HL_ENOMEM : HL_EINTERNAL;
  }
  c->running++;
  return 0;
}

void hl_curl_uv_cancel(hl_curl_uv *c, hl_curl_xfer *x) {
  if (x->easy == NULL) return;
  curl_multi_remove_handle(c->multi, x->easy);
  x->easy = NULL;
  c->running--;
}

size_t hl_curl_uv_running(const hl_curl_uv *c) { return c->running; }

void hl_curl_uv_close(hl_curl_uv *c, void (*cb)(void *data), void *data) {
  /* Cleanup first: it may still call socket_cb with REMOVE for open sockets. */
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  c->close_cb = cb;
  c->close_data = data;
  c->closing_handles = 2;
  for (size_t i = 0; i < c->nsocks; i++)
    if (c->socks[i]) c->closing_handles++;
  for (size_t i = 0; i < c->nsocks; i++)
    if (c->socks[i]) uv_close((uv_handle_t *)&((curl_sock *)c->socks[i])->poll, on_sock_closed);
  hl_free(c->socks);
  c->socks = NULL;
  c->nsocks = 0;
  uv_close((uv_handle_t *)&c->timer, on_handle_closed);
  uv_close((uv_handle_t *)&c->drain, on_handle_closed);
}

int hl_curl_global_init(void) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : HL_EINTERNAL;
}

void hl_curl_global_cleanup(void) { curl_global_cleanup(); }
