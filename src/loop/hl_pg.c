#include "loop/hl_pg.h"
#include "common/hl_common.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "crypto/hl_crypto.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define HL_PG_MAX_ADDRS 16 /* host/hostaddr entries handed to libpq */

/* --- one connection's life ------------------------------------------------ */

typedef enum { C_DOWN, C_RESOLVING, C_CONNECTING, C_READY, C_CLOSED } cstate;

static const char *const cstate_name[] = {"DOWN", "RESOLVING", "CONNECTING", "READY", "CLOSED"};

/* What is on the wire, in order: a statement, the Prepare sent before a
 * prepared statement's first use on this connection, or a batch's Sync. */
typedef enum { E_QUERY, E_PREPARE, E_SYNC } ekind;

typedef struct {
  ekind kind;
  hl_pg_query *q; /* E_QUERY; E_PREPARE: the statement that needed it */
  int stmt;       /* E_PREPARE */
} entry;

/* A poll handle for one socket of one connection. It is replaced when libpq
 * moves to another socket and closes asynchronously, so it lives on the
 * heap; c is NULL once it is being closed. */
typedef struct {
  uv_poll_t h;
  hl_pg_conn *c;
  int fd;
} conn_poll;

/* A host name lookup on the threadpool. It cannot be taken back once
 * running, so it holds the connection (which outlives it: the pool waits
 * for it to close) and the attempt it was made for. */
typedef struct resolve_req {
  uv_getaddrinfo_t req;
  hl_pg_conn *c;
  unsigned gen;
} resolve_req;

struct hl_pg_prep {
  char *sql;
  int nparams;
  Oid *types;
};

struct hl_pg_conn {
  hl_pg_pool *pool;
  int idx;
  bool listener;       /* LISTENs; takes no statements from the pool */
  cstate state;
  PGconn *pg;
  conn_poll *poll;
  int events;          /* UV_READABLE/UV_WRITABLE polled now */
  uv_timer_t timer;    /* CONNECTING/RESOLVING: connect timeout; DOWN: back-off; READY: answer timeout */
  unsigned gen;        /* attempt number: a lookup of an earlier attempt is stale */
  struct resolve_req *lookup; /* the lookup running for this attempt, if any */
  unsigned attempt;    /* consecutive failed attempts (the back-off step) */
  /* Resolving: the hosts still to look up, and the entries found so far. */
  char **hosts, **ports;
  int nhosts, host_i;
  hl_buf ent_host, ent_addr, ent_port, dns_errors;
  int nents;
  /* Pipeline: entries [head, tail) in order; results go to entries[cursor]. */
  entry *ring;
  size_t cap, head, tail, cursor;
  int unsynced;        /* statements since the last Sync */
  int syncs_out;       /* Syncs sent and not answered */
  bool broken;         /* a send failed: failed at the end of the turn */
  bool flushing;       /* output waits for the socket to be writable */
  uint8_t *prepared;   /* per registered statement: prepared on this connection */
  int nprepared;
  int listens_out;     /* listener: LISTENs of this connection not answered yet */
};

/* An internal statement of the listening connection: a LISTEN, or the probe
 * (a LISTEN again). */
typedef struct {
  hl_pg_query q;
  hl_pg_conn *c;
  unsigned gen;
} internal_q;

static void conn_start(hl_pg_conn *c);
static void conn_fail(hl_pg_conn *c, const char *msg);
static void conn_sync(hl_pg_conn *c);
static void conn_flush(hl_pg_conn *c);
static void listen_probe(hl_pg_conn *c);
static void read_results(hl_pg_conn *c);
static void schedule_turn_end(hl_pg_pool *p);
static void drain_waiting(hl_pg_pool *p);
static void listen_all(hl_pg_conn *c);
static void on_poll(uv_poll_t *h, int status, int events);
static void on_wait_expired(uv_timer_t *t);

const char *hl_pg_status_name(hl_pg_status st) {
  static const char *const names[] = {"OK", "ERROR", "ABORTED", "UNAVAILABLE", "LOST"};
  return (unsigned)st < HL_ARRAY_SIZE(names) ? names[st] : "?";
}

/* The one place a connection changes state; illegal moves are bugs. */
static void transition(hl_pg_conn *c, cstate to) {
  static const unsigned allowed[] = {
    [C_DOWN] = HL_SM_TO(C_RESOLVING) | HL_SM_TO(C_CONNECTING) | HL_SM_TO(C_CLOSED),
    [C_RESOLVING] = HL_SM_TO(C_CONNECTING) | HL_SM_TO(C_DOWN) | HL_SM_TO(C_CLOSED),
    [C_CONNECTING] = HL_SM_TO(C_READY) | HL_SM_TO(C_DOWN) | HL_SM_TO(C_CLOSED),
    [C_READY] = HL_SM_TO(C_DOWN) | HL_SM_TO(C_CLOSED),
    [C_CLOSED] = 0,
  };
  hl_sm_check("postgres connection", allowed, cstate_name, c->state, to);
  hl_pg_pool *p = c->pool;
  if (!c->listener) {
    if (c->state == C_READY) p->st.ready--;
    if (to == C_READY) p->st.ready++;
  } else if (c->state == C_READY) {
    p->st.listening = false;
  }
  hl_log_debug("postgres connection state", "\"conn\":%d,\"from\":\"%s\",\"to\":\"%s\"", c->idx,
               cstate_name[c->state], cstate_name[to]);
  c->state = to;
}

/* --- handler nesting: a close asked for inside a callback waits ----------- */

static void do_close(hl_pg_pool *p);

static void enter(hl_pg_pool *p) { p->depth++; }

static void leave(hl_pg_pool *p) {
  if (--p->depth == 0 && p->close_requested && !p->closing) do_close(p);
}

static void outstanding_done(hl_pg_pool *p);

static void on_handle_closed(uv_handle_t *h) { outstanding_done(h->data); }

static void close_handle(hl_pg_pool *p, uv_handle_t *h) {
  h->data = p;
  p->outstanding++;
  uv_close(h, on_handle_closed);
}

/* --- the socket's poll ---------------------------------------------------- */

static void on_poll_closed(uv_handle_t *h) {
  conn_poll *cp = hl_container_of((uv_poll_t *)h, conn_poll, h);
  hl_pg_pool *p = h->data;
  hl_free(cp);
  outstanding_done(p);
}

/* Stops watching (before libpq closes the socket, or right after it did, in
 * the same callback: nothing else can have taken the fd number meanwhile). */
static void poll_drop(hl_pg_conn *c) {
  conn_poll *cp = c->poll;
  if (!cp) return;
  c->poll = NULL;
  c->events = 0;
  cp->c = NULL;
  uv_poll_stop(&cp->h);
  cp->h.data = c->pool;
  c->pool->outstanding++;
  uv_close((uv_handle_t *)&cp->h, on_poll_closed);
}

/* Polls libpq's socket for events. renew: register it again even if the fd
 * number and the events are the same, because the socket behind the number
 * may be a new one (libpq closes and opens sockets inside PQconnectPoll, and
 * the kernel hands out the lowest free number: usually the one just closed),
 * and epoll forgot the old one when it was closed. uv_poll_start re-adds. */
static int conn_watch(hl_pg_conn *c, int events, bool renew) {
  int fd = PQsocket(c->pg);
  if (c->poll && c->poll->fd != fd) poll_drop(c);
  if (fd < 0) return -1;
  if (!c->poll) {
    conn_poll *cp = hl_calloc(1, sizeof *cp);
    int rc = uv_poll_init_socket(c->pool->loop, &cp->h, fd);
    if (rc != 0) {
      hl_log_error("uv_poll_init_socket failed", "\"conn\":%d,\"error\":\"%s\"", c->idx, uv_strerror(rc));
      hl_free(cp);
      return -1;
    }
    cp->c = c;
    cp->fd = fd;
    c->poll = cp;
    renew = true;
  }
  if (renew || events != c->events) {
    uv_poll_start(&c->poll->h, events, on_poll);
    c->events = events;
  }
  return 0;
}

/* --- the pipeline's entries ----------------------------------------------- */

static void ring_push(hl_pg_conn *c, ekind kind, hl_pg_query *q, int stmt) {
  if (c->tail == c->cap) {
    if (c->head > 0) { /* slide down: the answered ones are gone */
      memmove(c->ring, c->ring + c->head, (c->tail - c->head) * sizeof *c->ring);
      c->tail -= c->head;
      c->cursor -= c->head;
      c->head = 0;
    }
    if (c->tail == c->cap) {
      c->cap = c->cap ? c->cap * 2 : 64;
      c->ring = hl_realloc(c->ring, c->cap * sizeof *c->ring);
    }
  }
  c->ring[c->tail++] = (entry){kind, q, stmt};
}

static void answer(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  q->next = NULL;
  q->res = NULL;
  q->unit = 0;
  q->done(q, st, res, msg ? msg : "");
}

/* Takes every entry off a connection that is going away and answers its
 * statements: LOST when its batch's Sync went out (the server may have
 * committed it), UNAVAILABLE when not (without a Sync nothing commits). */
static void answer_all(hl_pg_conn *c, const char *why) {
  hl_pg_pool *p = c->pool;
  size_t last_sync = c->head;
  bool any_sync = false;
  for (size_t i = c->head; i < c->tail; i++)
    if (c->ring[i].kind == E_SYNC) last_sync = i, any_sync = true;
  hl_pg_query *lost = NULL, **lt = &lost, *unsent = NULL, **ut = &unsent;
  for (size_t i = c->head; i < c->tail; i++) {
    entry *e = &c->ring[i];
    if (e->kind != E_QUERY) continue;
    if (e->q->res) {
      PQclear(e->q->res); /* a partial answer says nothing about the outcome */
      e->q->res = NULL;
    }
    e->q->next = NULL;
    if (any_sync && i < last_sync) *lt = e->q, lt = &e->q->next;
    else *ut = e->q, ut = &e->q->next;
    p->st.in_flight--;
  }
  c->head = c->tail = c->cursor = 0;
  c->unsynced = 0;
  c->syncs_out = 0;
  hl_buf m = HL_BUF_INIT;
  hl_buf_printf(&m, "connection lost before the outcome came back (it may have committed): %s", why);
  for (hl_pg_query *q = lost, *n; q; q = n) n = q->next, answer(q, HL_PG_LOST, NULL, m.data);
  hl_buf_reset(&m);
  hl_buf_printf(&m, "not run: the connection was lost before its batch was sent: %s", why);
  for (hl_pg_query *q = unsent, *n; q; q = n) n = q->next, answer(q, HL_PG_UNAVAILABLE, NULL, m.data);
  hl_buf_dispose(&m);
}

/* --- connecting ----------------------------------------------------------- */

static void on_notice(void *arg, const PGresult *res) {
  hl_pg_conn *c = arg;
  const char *m = PQresultErrorMessage(res);
  hl_log_debug("postgres notice", "\"conn\":%d,\"message\":\"%s\"", c->idx, hl_log_esc(m, strcspn(m, "\n")));
}

static void on_timer(uv_timer_t *t);

/* A comma-separated libpq list split into copies (an empty string gives one
 * empty item, as libpq reads it). */
static char **split_list(const char *s, int *n) {
  int k = 1;
  for (const char *x = s; *x; x++) k += *x == ',';
  char **out = hl_calloc((size_t)k, sizeof *out);
  *n = 0;
  for (const char *x = s;; x++) {
    size_t len = strcspn(x, ",");
    out[(*n)++] = hl_strndup(x, len);
    x += len;
    if (!*x) break;
  }
  return out;
}

static void free_list(char **l, int n) {
  for (int i = 0; i < n; i++) hl_free(l[i]);
  hl_free(l);
}

static void reset_resolution(hl_pg_conn *c) {
  free_list(c->hosts, c->nhosts);
  free_list(c->ports, c->nhosts);
  c->hosts = c->ports = NULL;
  c->nhosts = c->host_i = c->nents = 0;
  hl_buf_reset(&c->ent_host);
  hl_buf_reset(&c->ent_addr);
  hl_buf_reset(&c->ent_port);
  hl_buf_reset(&c->dns_errors);
}

static void add_entry(hl_pg_conn *c, const char *host, const char *addr, const char *port) {
  if (c->nents++) {
    hl_buf_putc(&c->ent_host, ',');
    hl_buf_putc(&c->ent_addr, ',');
    hl_buf_putc(&c->ent_port, ',');
  }
  hl_buf_puts(&c->ent_host, host);
  hl_buf_puts(&c->ent_addr, addr);
  hl_buf_puts(&c->ent_port, port);
}

static bool is_numeric_host(const char *h) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
}

/* Starts libpq on the entries found (or the settings as they are, when no
 * name needed looking up). */
static void connect_now(hl_pg_conn *c, bool resolved) {
  hl_pg_pool *p = c->pool;
  const hl_pg_conf *cf = &p->conf;
  const char **kw = hl_calloc(cf->n + 4, sizeof *kw);
  const char **val = hl_calloc(cf->n + 4, sizeof *val);
  size_t k = 0;
  for (size_t i = 0; i < cf->n; i++) {
    if (resolved && (!strcmp(cf->keywords[i], "host") || !strcmp(cf->keywords[i], "hostaddr") ||
                     !strcmp(cf->keywords[i], "port")))
      continue;
    kw[k] = cf->keywords[i];
    val[k++] = cf->values[i];
  }
  if (resolved) {
    kw[k] = "host", val[k++] = c->ent_host.data ? c->ent_host.data : "";
    kw[k] = "hostaddr", val[k++] = c->ent_addr.data ? c->ent_addr.data : "";
    kw[k] = "port", val[k++] = c->ent_port.data ? c->ent_port.data : "";
  }
  c->pg = PQconnectStartParams(kw, val, 0);
  hl_free(kw);
  hl_free(val);
  if (!c->pg) {
    hl_log_error("PQconnectStartParams: out of memory", "\"conn\":%d", c->idx);
    abort();
  }
  /* Verbose: the SQLSTATE of a refusal lands in the message, which is all
   * libpq 15 tells about a failed connection (hl_pg_conf_blame reads it). */
  PQsetErrorVerbosity(c->pg, PQERRORS_VERBOSE);
  PQsetNoticeReceiver(c->pg, on_notice, c);
  transition(c, C_CONNECTING);
  if (PQstatus(c->pg) == CONNECTION_BAD) {
    conn_fail(c, PQerrorMessage(c->pg));
    return;
  }
  /* libpq's rule: start as if PQconnectPoll had said PGRES_POLLING_WRITING. */
  if (conn_watch(c, UV_WRITABLE, true) != 0) conn_fail(c, "could not poll the connection's socket");
}

static void resolve_next(hl_pg_conn *c);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res) {
  resolve_req *r = hl_container_of(req, resolve_req, req);
  hl_pg_conn *c = r->c;
  hl_pg_pool *p = c->pool;
  bool current = r->gen == c->gen && c->state == C_RESOLVING;
  if (c->lookup == r) c->lookup = NULL;
  hl_free(r);
  if (!current) { /* the attempt timed out, or the pool closes */
    if (res) uv_freeaddrinfo(res);
    outstanding_done(p);
    return;
  }
  enter(p);
  const char *host = c->hosts[c->host_i];
  const char *port = c->ports[c->host_i];
  if (status != 0) {
    /* libpq's own wording, so hl_pg_conf_blame reads it the same way. */
    hl_buf_printf(&c->dns_errors, "could not translate host name \"%s\" to address: %s\n", host,
                  uv_strerror(status));
  }
  for (struct addrinfo *a = res; a && c->nents < HL_PG_MAX_ADDRS; a = a->ai_next) {
    char addr[INET6_ADDRSTRLEN] = "";
    if (a->ai_family == AF_INET) uv_ip4_name((struct sockaddr_in *)a->ai_addr, addr, sizeof addr);
    else if (a->ai_family == AF_INET6) uv_ip6_name((struct sockaddr_in6 *)a->ai_addr, addr, sizeof addr);
    if (!*addr || (c->ent_addr.data && strstr(c->ent_addr.data, addr))) continue;
    add_entry(c, host, addr, port);
  }
  if (res) uv_freeaddrinfo(res);
  outstanding_done(p);
  c->host_i++;
  resolve_next(c);
  leave(p);
}

/* Looks up the next host name on the threadpool; hosts that need no lookup
 * (addresses, socket directories) are taken as they are. libpq is never
 * handed a name without its address: it would resolve it on the loop. */
static void resolve_next(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  for (; c->host_i < c->nhosts; c->host_i++) {
    const char *host = c->hosts[c->host_i], *port = c->ports[c->host_i];
    if (c->nents >= HL_PG_MAX_ADDRS) break;
    if (host[0] == '/' || host[0] == '@' || host[0] == '\0') {
      add_entry(c, host, "", port); /* a Unix socket (or libpq's default one) */
      continue;
    }
    if (is_numeric_host(host)) {
      add_entry(c, host, host, port);
      continue;
    }
    resolve_req *r = hl_calloc(1, sizeof *r);
    r->c = c;
    r->gen = c->gen;
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    int rc = uv_getaddrinfo(p->loop, &r->req, on_resolved, host, NULL, &hints);
    if (rc == 0) {
      p->outstanding++; /* the pool waits for it like for a handle */
      c->lookup = r;
      return;
    }
    hl_free(r);
    hl_buf_printf(&c->dns_errors, "could not translate host name \"%s\" to address: %s\n", host, uv_strerror(rc));
  }
  if (c->nents == 0) {
    conn_fail(c, c->dns_errors.data ? c->dns_errors.data : "no host to connect to");
    return;
  }
  connect_now(c, true);
}

/* Begins an attempt: look the names up, then connect. */
static void conn_start(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  c->gen++;
  uv_timer_start(&c->timer, on_timer, p->opt.connect_timeout_ms, 0);
  const hl_pg_conf *cf = &p->conf;
  if (hl_pg_conf_get(cf, "hostaddr")) { /* the settings give the addresses: nothing to look up */
    connect_now(c, false);
    return;
  }
  reset_resolution(c);
  const char *hosts = hl_pg_conf_get(cf, "host");
  if (!hosts) hosts = getenv("PGHOST"); /* what libpq would use, looked up here instead */
  if (!hosts) hosts = "";
  const char *ports = hl_pg_conf_get(cf, "port");
  if (!ports) ports = getenv("PGPORT");
  if (!ports || !*ports) ports = "5432";
  c->hosts = split_list(hosts, &c->nhosts);
  int np = 0;
  char **pl = split_list(ports, &np);
  if (np != 1 && np != c->nhosts) {
    free_list(pl, np);
    transition(c, C_RESOLVING);
    conn_fail(c, "could not match 1 or one port per host: the port list and the host list differ in length");
    return;
  }
  c->ports = hl_calloc((size_t)c->nhosts, sizeof *c->ports);
  for (int i = 0; i < c->nhosts; i++) c->ports[i] = hl_strdup(*pl[np == 1 ? 0 : i] ? pl[np == 1 ? 0 : i] : "5432");
  free_list(pl, np);
  transition(c, C_RESOLVING);
  resolve_next(c);
}

static void conn_ready(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  if (PQsetnonblocking(c->pg, 1) != 0 || PQenterPipelineMode(c->pg) != 1) {
    conn_fail(c, PQerrorMessage(c->pg));
    return;
  }
  PQsetErrorVerbosity(c->pg, PQERRORS_DEFAULT);
  uv_timer_stop(&c->timer);
  /* The listener's attempt succeeds once it listens (now_listening): a
   * server that takes connections and refuses LISTEN (a standby) is retried
   * with a growing back-off, not in a loop. */
  if (!c->listener) c->attempt = 0;
  c->broken = false;
  c->flushing = false;
  if (c->nprepared) memset(c->prepared, 0, (size_t)c->nprepared); /* a new session has none */
  transition(c, C_READY);
  p->st.connects++;
  const char *addr = PQhostaddr(c->pg);
  hl_log_info("postgres connected", "\"conn\":%d,\"host\":\"%s\",\"addr\":\"%s\",\"port\":\"%s\",\"tls\":%s,"
              "\"listener\":%s,\"backend_pid\":%d",
              c->idx, hl_log_esc(PQhost(c->pg), (size_t)-1), hl_log_esc(addr ? addr : "", (size_t)-1),
              hl_log_esc(PQport(c->pg), (size_t)-1), PQsslInUse(c->pg) ? "true" : "false",
              c->listener ? "true" : "false", PQbackendPID(c->pg));
  if (conn_watch(c, UV_READABLE, true) != 0) {
    conn_fail(c, "could not poll the connection's socket");
    return;
  }
  if (c->listener) listen_all(c);
  else drain_waiting(p);
}

static void connect_step(hl_pg_conn *c) {
  switch (PQconnectPoll(c->pg)) {
  case PGRES_POLLING_READING:
    if (conn_watch(c, UV_READABLE, true) != 0) conn_fail(c, PQerrorMessage(c->pg));
    break;
  case PGRES_POLLING_WRITING:
    if (conn_watch(c, UV_WRITABLE, true) != 0) conn_fail(c, PQerrorMessage(c->pg));
    break;
  case PGRES_POLLING_OK:
    conn_ready(c);
    break;
  default: /* PGRES_POLLING_FAILED */
    conn_fail(c, PQerrorMessage(c->pg));
    break;
  }
}

/* The connection failed to come up or broke: answer what it held, close it,
 * and try again after the back-off (unless the pool closes). */
static void conn_fail(hl_pg_conn *c, const char *msg) {
  hl_pg_pool *p = c->pool;
  bool was_ready = c->state == C_READY;
  bool was_up = was_ready && (!c->listener || p->st.listening);
  hl_buf why = HL_BUF_INIT;
  if (was_ready) {
    hl_buf_puts(&why, "connection lost: ");
    hl_pg_conf_explain(NULL, msg, &why);
  } else {
    hl_pg_conf_explain(&p->conf, msg, &why);
  }
  hl_buf_reset(&p->last_error);
  hl_buf_puts(&p->last_error, why.data);
  hl_log_warn(was_ready ? "postgres connection lost" : "postgres connection failed",
              "\"conn\":%d,\"error\":\"%s\"", c->idx, hl_log_esc(why.data, (size_t)-1));
  poll_drop(c);
  uv_timer_stop(&c->timer);
  if (c->pg) {
    PQfinish(c->pg);
    c->pg = NULL;
  }
  if (p->cur == c) p->cur = NULL;
  c->broken = false;
  c->flushing = false;
  c->listens_out = 0;
  transition(c, C_DOWN);
  if (was_ready) p->st.drops++;
  else p->st.connect_failures++;
  if (was_up) c->attempt = 0;
  else c->attempt++;
  if (!p->closing) {
    uint32_t delay = hl_pg_backoff_ms(p->opt.backoff_base_ms, p->opt.backoff_cap_ms,
                                      c->attempt ? c->attempt - 1 : 0, hl_random_u32());
    uv_timer_start(&c->timer, on_timer, delay, 0);
  }
  /* Last: the callbacks may send (to another connection or the wait list). */
  answer_all(c, why.data);
  hl_buf_dispose(&why);
}

uint32_t hl_pg_backoff_ms(uint32_t base, uint32_t cap, unsigned attempt, uint32_t r) {
  uint64_t d = base;
  for (unsigned i = 0; i < attempt && d < cap; i++) d *= 2;
  if (d > cap) d = cap;
  uint64_t half = d / 2;
  return (uint32_t)(d - (r % (half + 1)));
}

/* --- sending --------------------------------------------------------------- */

/* The values a statement is sent with: the caller's, or its waiting copy. */
typedef struct {
  const char *sql;
  const char *const *values;
  const int *lengths;
  const int *formats;
} qsrc;

static qsrc src_of(const hl_pg_query *q) {
  if (q->held) {
    const qsrc *h = (const qsrc *)q->held;
    return *h;
  }
  return (qsrc){q->sql, q->values, q->lengths, q->formats};
}

/* A libpq call failed on a path that may not answer anyone (inside
 * hl_pg_send): the connection is failed at the end of the turn. */
static void mark_broken(hl_pg_conn *c) {
  c->broken = true;
  schedule_turn_end(c->pool);
}

static void stmt_name(char *buf, size_t n, int stmt) { snprintf(buf, n, "hl_%d", stmt); }

/* Sends q on c now (into libpq's buffer; the Sync follows at the end of the
 * turn). A send that fails marks c broken; q is still added, and is answered
 * with the rest of the batch when c is failed at the end of the turn. */
static void conn_send(hl_pg_conn *c, hl_pg_query *q) {
  hl_pg_pool *p = c->pool;
  qsrc s = src_of(q);
  q->next = NULL;
  q->res = NULL;
  if (!c->broken && !s.sql) {
    if (q->stmt >= c->nprepared) {
      c->prepared = hl_realloc(c->prepared, (size_t)p->npreps);
      memset(c->prepared + c->nprepared, 0, (size_t)(p->npreps - c->nprepared));
      c->nprepared = p->npreps;
    }
    if (!c->prepared[q->stmt]) {
      const struct hl_pg_prep *pr = &p->preps[q->stmt];
      char name[32];
      stmt_name(name, sizeof name, q->stmt);
      if (PQsendPrepare(c->pg, name, pr->sql, pr->nparams, pr->types)) {
        c->prepared[q->stmt] = 1;
        ring_push(c, E_PREPARE, q, q->stmt);
      } else {
        c->broken = true;
      }
    }
  }
  if (!c->broken) {
    int ok;
    if (s.sql) {
      ok = PQsendQueryParams(c->pg, s.sql, q->nparams, NULL, s.values, s.lengths, s.formats, q->result_format);
    } else {
      char name[32];
      stmt_name(name, sizeof name, q->stmt);
      ok = PQsendQueryPrepared(c->pg, name, q->nparams, s.values, s.lengths, s.formats, q->result_format);
    }
    if (!ok) c->broken = true;
    else p->st.statements++;
  }
  if (q->held) {
    hl_free(q->held);
    q->held = NULL;
  }
  ring_push(c, E_QUERY, q, -1);
  c->unsynced++;
  p->st.in_flight++;
  if (c->broken) {
    hl_log_warn("postgres send failed", "\"conn\":%d,\"error\":\"%s\"", c->idx,
                hl_log_esc(PQerrorMessage(c->pg), strcspn(PQerrorMessage(c->pg), "\n")));
  }
  schedule_turn_end(p);
}

/* The pool connection for the next batch: up, not broken, with the fewest
 * batches in flight. */
static hl_pg_conn *pick_conn(hl_pg_pool *p) {
  hl_pg_conn *best = NULL;
  for (int i = 0; i < p->opt.size; i++) {
    hl_pg_conn *c = &p->conns[i];
    if (c->state != C_READY || c->broken) continue;
    if (!best || c->syncs_out < best->syncs_out) best = c;
  }
  return best;
}

/* A connection for a unit of n statements this turn, or NULL. A unit never
 * straddles a Sync: a batch that would grow past max_batch is closed first. */
static hl_pg_conn *conn_for_unit(hl_pg_pool *p, int n) {
  hl_pg_conn *c = p->cur;
  if (c && (c->state != C_READY || c->broken)) c = p->cur = NULL;
  if (c && c->unsynced > 0 && (uint32_t)(c->unsynced + n) > p->opt.max_batch) {
    conn_sync(c);
    c = p->cur = NULL;
  }
  if (!c) c = p->cur = pick_conn(p);
  return c;
}

/* Copies what q's send needs, for the wait. */
static void hold(hl_pg_query *q) {
  const char *sql = q->sql;
  size_t need = sizeof(qsrc) + (size_t)q->nparams * (sizeof(char *) + 2 * sizeof(int)) + (sql ? strlen(sql) + 1 : 0);
  for (int i = 0; i < q->nparams; i++) {
    if (!q->values[i]) continue;
    bool bin = q->formats && q->formats[i];
    need += bin ? (size_t)q->lengths[i] : strlen(q->values[i]) + 1;
  }
  char *blk = hl_malloc(need);
  qsrc *h = (qsrc *)blk;
  char *w = blk + sizeof *h;
  const char **vals = (const char **)w;
  w += (size_t)q->nparams * sizeof(char *);
  int *lens = (int *)w;
  w += (size_t)q->nparams * sizeof(int);
  int *fmts = (int *)w;
  w += (size_t)q->nparams * sizeof(int);
  for (int i = 0; i < q->nparams; i++) {
    bool bin = q->formats && q->formats[i];
    fmts[i] = bin;
    lens[i] = q->lengths ? q->lengths[i] : 0;
    if (!q->values[i]) {
      vals[i] = NULL;
      continue;
    }
    size_t len = bin ? (size_t)q->lengths[i] : strlen(q->values[i]) + 1;
    memcpy(w, q->values[i], len);
    vals[i] = w;
    w += len;
  }
  const char *sqlc = NULL;
  if (sql) {
    memcpy(w, sql, strlen(sql) + 1);
    sqlc = w;
  }
  *h = (qsrc){sqlc, q->nparams ? vals : NULL, q->nparams ? lens : NULL, q->nparams ? fmts : NULL};
  q->held = blk;
}

static void arm_wait_timer(hl_pg_pool *p) {
  if (!p->wait_head) {
    uv_timer_stop(&p->wait_timer);
    return;
  }
  uint64_t now = uv_now(p->loop);
  uint64_t due = p->wait_head->deadline_ms;
  uv_timer_start(&p->wait_timer, on_wait_expired, due > now ? due - now : 0, 0);
}

static void enqueue_waiting(hl_pg_pool *p, hl_pg_query *const *qs, int n) {
  uint64_t deadline = uv_now(p->loop) + p->opt.wait_ms;
  bool was_empty = p->wait_head == NULL;
  for (int i = 0; i < n; i++) {
    hl_pg_query *q = qs[i];
    if (!q->held) hold(q);
    q->deadline_ms = deadline;
    q->next = NULL;
    if (p->wait_tail) p->wait_tail->next = q;
    else p->wait_head = q;
    p->wait_tail = q;
    p->st.waiting++;
  }
  if (was_empty) arm_wait_timer(p);
}

/* Sends waiting statements, in order, unit by unit, while a connection is up. */
static void drain_waiting(hl_pg_pool *p) {
  while (p->wait_head && !p->closing) {
    hl_pg_query *head = p->wait_head;
    int n = head->unit ? (int)head->unit : 1;
    hl_pg_conn *c = conn_for_unit(p, n);
    if (!c) break;
    for (int i = 0; i < n && p->wait_head; i++) {
      hl_pg_query *q = p->wait_head;
      p->wait_head = q->next;
      if (!p->wait_head) p->wait_tail = NULL;
      p->st.waiting--;
      q->unit = 0;
      conn_send(c, q);
    }
  }
  arm_wait_timer(p);
}

static void on_wait_expired(uv_timer_t *t) {
  hl_pg_pool *p = hl_container_of(t, hl_pg_pool, wait_timer);
  enter(p);
  uint64_t now = uv_now(p->loop);
  hl_pg_query *expired = NULL, **tail = &expired;
  while (p->wait_head && p->wait_head->deadline_ms <= now) {
    hl_pg_query *q = p->wait_head;
    p->wait_head = q->next;
    if (!p->wait_head) p->wait_tail = NULL;
    p->st.waiting--;
    q->next = NULL;
    *tail = q;
    tail = &q->next;
  }
  arm_wait_timer(p);
  hl_buf m = HL_BUF_INIT;
  hl_buf_printf(&m, "no PostgreSQL connection within %u ms: %s", p->opt.wait_ms,
                p->last_error.len ? p->last_error.data : "still connecting");
  for (hl_pg_query *q = expired, *n; q; q = n) {
    n = q->next;
    hl_free(q->held);
    q->held = NULL;
    answer(q, HL_PG_UNAVAILABLE, NULL, m.data);
  }
  hl_buf_dispose(&m);
  leave(p);
}

/* --- end of turn: one Sync per connection that took statements ------------ */

static void conn_sync(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  if (c->broken || c->unsynced == 0) return;
  if (!PQpipelineSync(c->pg)) {
    mark_broken(c);
    return;
  }
  ring_push(c, E_SYNC, NULL, -1);
  c->unsynced = 0;
  if (c->syncs_out++ == 0) uv_timer_start(&c->timer, on_timer, p->opt.query_timeout_ms, 0);
  p->st.syncs++;
  conn_flush(c);
}

/* Pushes libpq's output; waits for writability while some is left. */
static void conn_flush(hl_pg_conn *c) {
  int r = PQflush(c->pg);
  if (r < 0) {
    mark_broken(c);
    return;
  }
  if (r == 1 && !c->flushing) c->pool->st.write_waits++;
  c->flushing = r == 1;
  if (conn_watch(c, c->flushing ? UV_READABLE | UV_WRITABLE : UV_READABLE, false) != 0) mark_broken(c);
}

static void on_turn_end(uv_check_t *h) {
  hl_pg_pool *p = hl_container_of(h, hl_pg_pool, turn_end);
  enter(p);
  /* Before the check stops: what it sends restarts nothing. */
  if (p->before_sync && !p->closing) p->before_sync(p->before_sync_data);
  uv_check_stop(&p->turn_end);
  uv_idle_stop(&p->keep_turning);
  p->cur = NULL;
  for (int i = 0; i < p->nconns; i++) {
    hl_pg_conn *c = &p->conns[i];
    if (c->state != C_READY) continue;
    conn_sync(c);
    if (c->broken) conn_fail(c, PQerrorMessage(c->pg));
  }
  leave(p);
}

static void noop_idle(uv_idle_t *h) { (void)h; }

static void schedule_turn_end(hl_pg_pool *p) {
  if (p->closing) return;
  uv_check_start(&p->turn_end, on_turn_end);
  uv_idle_start(&p->keep_turning, noop_idle); /* poll without blocking, so the check comes now */
}

/* --- receiving ------------------------------------------------------------- */

/* The batch ending at the Sync under the cursor is answered: hand every
 * statement its outcome, in order. */
static void finish_batch(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  size_t end = c->cursor;
  hl_pg_query *first = NULL, **tail = &first;
  int n = 0, failed_at = 0;
  bool read_only = false;
  hl_buf first_error = HL_BUF_INIT;
  for (size_t i = c->head; i < end; i++) {
    entry *e = &c->ring[i];
    if (e->kind != E_QUERY) continue;
    n++;
    hl_pg_query *q = e->q;
    q->next = NULL;
    *tail = q;
    tail = &q->next;
    if (!failed_at && q->res && PQresultStatus(q->res) == PGRES_FATAL_ERROR) {
      failed_at = n;
      const char *m = PQresultErrorMessage(q->res);
      hl_buf_append(&first_error, m, strcspn(m, "\n"));
      const char *code = PQresultErrorField(q->res, PG_DIAG_SQLSTATE);
      read_only = code && strcmp(code, "25006") == 0; /* read_only_sql_transaction */
    }
  }
  c->head = c->cursor = end + 1;
  if (c->head == c->tail) c->head = c->tail = c->cursor = 0;
  p->st.in_flight -= (uint64_t)n;
  if (--c->syncs_out > 0) uv_timer_start(&c->timer, on_timer, p->opt.query_timeout_ms, 0);
  else if (c->listener) uv_timer_start(&c->timer, on_timer, p->opt.listen_probe_ms, 0); /* the next probe */
  else uv_timer_stop(&c->timer);
  /* A server that takes no writes: a standby, or a writer a failover
   * demoted, which goes on taking connections and refuses every write on
   * them (we never ask for a read-only transaction). Kept, the connection
   * would fail every write for as long as it lives; dropped, it reconnects
   * (resolving again: the endpoint's new address), and libpq passes over a
   * server that is still read-only (target_session_attrs=read-write,
   * hl_pg_conf). Nothing new goes to it while this batch is answered: what
   * its callbacks send again (the aborted rest) waits for a writable
   * connection instead of failing here too. */
  if (read_only) c->broken = true;
  hl_buf m = HL_BUF_INIT;
  int k = 0;
  for (hl_pg_query *q = first, *nx; q; q = nx) {
    nx = q->next;
    k++;
    PGresult *res = q->res;
    ExecStatusType rs = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    hl_buf_reset(&m);
    hl_pg_status st;
    if (rs == PGRES_FATAL_ERROR) {
      st = HL_PG_ERROR;
      if (res) hl_buf_puts(&m, PQresultErrorMessage(res));
      else hl_buf_puts(&m, "no result");
      while (m.len && (m.data[m.len - 1] == '\n')) m.data[--m.len] = '\0';
    } else if (failed_at) {
      st = HL_PG_ABORTED;
      hl_buf_printf(&m, "%s: statement %d of its batch failed: %s",
                    rs == PGRES_PIPELINE_ABORTED ? "not run" : "rolled back", failed_at, first_error.data);
    } else {
      st = HL_PG_OK;
    }
    answer(q, st, res, m.data ? m.data : "");
  }
  if (read_only && c->state == C_READY) { /* (a listener's LISTEN that failed has dropped it already) */
    hl_buf_reset(&m);
    hl_buf_printf(&m, "the server takes no writes (a standby, or demoted by a failover): %s",
                  first_error.data ? first_error.data : "");
    conn_fail(c, m.data);
  }
  hl_buf_dispose(&m);
  hl_buf_dispose(&first_error);
}

/* Reads what libpq has complete, without blocking: one result (or NULL
 * between statements) at a time while PQisBusy says it would not wait. */
static void read_results(hl_pg_conn *c) {
  while (c->state == C_READY && c->cursor < c->tail && !PQisBusy(c->pg)) {
    PGresult *r = PQgetResult(c->pg);
    entry *e = &c->ring[c->cursor];
    if (!r) { /* the end of one statement's results */
      if (e->kind == E_SYNC) {
        conn_fail(c, "protocol out of step: a statement's end where a Sync was due");
        return;
      }
      c->cursor++;
      continue;
    }
    ExecStatusType rs = PQresultStatus(r);
    if (rs == PGRES_PIPELINE_SYNC) {
      PQclear(r);
      if (e->kind != E_SYNC) {
        conn_fail(c, "protocol out of step: a Sync where a statement's result was due");
        return;
      }
      finish_batch(c); /* callbacks: c may have changed state */
      continue;
    }
    if (e->kind == E_SYNC || rs == PGRES_COPY_IN || rs == PGRES_COPY_OUT || rs == PGRES_COPY_BOTH) {
      PQclear(r);
      conn_fail(c, e->kind == E_SYNC ? "protocol out of step: a result where a Sync was due"
                                     : "COPY is not supported on a pipelined connection");
      return;
    }
    if (e->kind == E_PREPARE && rs == PGRES_FATAL_ERROR) {
      /* Not prepared: try again on next use. Its statement is aborted by the
       * server; the Prepare's error is the one to report. */
      c->prepared[e->stmt] = 0;
    } else if (e->kind == E_PREPARE) {
      /* Skipped with its batch (a statement before it failed): it was never
       * prepared, so the next use prepares it again. */
      if (rs == PGRES_PIPELINE_ABORTED) c->prepared[e->stmt] = 0;
      PQclear(r);
      continue;
    }
    if (!e->q->res) e->q->res = r; /* the first result (or error) wins */
    else PQclear(r);
  }
}

static void on_readable(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  /* On a connection that ended, libpq makes up error results for what is
   * left: nothing more is read, what was in flight is LOST (a batch whose
   * answer came in the same read as the end is LOST too: "may have
   * committed" is still true of it). */
  if (!PQconsumeInput(c->pg) || PQstatus(c->pg) == CONNECTION_BAD) {
    conn_fail(c, PQerrorMessage(c->pg));
    return;
  }
  PGnotify *n;
  while (c->state == C_READY && (n = PQnotifies(c->pg)) != NULL) {
    if (c->listener && p->opt.on_notify && !p->closing) p->opt.on_notify(p->opt.notify_data, n->relname, n->extra, n->be_pid);
    PQfreemem(n);
  }
  if (c->state != C_READY) return;
  read_results(c);
  if (c->state != C_READY) return;
  if (c->flushing) conn_flush(c);
  if (c->broken) conn_fail(c, PQerrorMessage(c->pg));
}

static void on_poll(uv_poll_t *h, int status, int events) {
  conn_poll *cp = hl_container_of(h, conn_poll, h);
  hl_pg_conn *c = cp->c;
  if (!c) return;
  hl_pg_pool *p = c->pool;
  enter(p);
  if (status < 0) events = UV_READABLE | UV_WRITABLE; /* let libpq find out what is wrong */
  if (c->state == C_CONNECTING) {
    connect_step(c);
  } else if (c->state == C_READY) {
    if (events & UV_READABLE) on_readable(c);
    if (c->state == C_READY && (events & UV_WRITABLE) && c->flushing) {
      conn_flush(c);
      if (c->broken) conn_fail(c, PQerrorMessage(c->pg));
    }
  }
  leave(p);
}

static void on_timer(uv_timer_t *t) {
  hl_pg_conn *c = hl_container_of(t, hl_pg_conn, timer);
  hl_pg_pool *p = c->pool;
  enter(p);
  char msg[160];
  switch (c->state) {
  case C_DOWN:
    conn_start(c);
    break;
  case C_RESOLVING:
  case C_CONNECTING:
    snprintf(msg, sizeof msg, "timeout expired after %u ms while connecting", p->opt.connect_timeout_ms);
    conn_fail(c, msg);
    break;
  case C_READY:
    if (c->listener && c->syncs_out == 0) { /* idle: time to probe */
      listen_probe(c);
      break;
    }
    snprintf(msg, sizeof msg, "no answer from the server within %u ms", p->opt.query_timeout_ms);
    conn_fail(c, msg);
    break;
  case C_CLOSED:
    break;
  }
  leave(p);
}

/* --- LISTEN ---------------------------------------------------------------- */

/* Every LISTEN answered: notifications flow from now on, and the owner is
 * told to look at everything (some may have been sent while nobody
 * listened). The listener's connect attempt counts as a success only now. */
static void now_listening(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  p->st.listening = true;
  c->attempt = 0;
  if (p->opt.on_notify) p->opt.on_notify(p->opt.notify_data, NULL, NULL, 0);
}

/* Takes an internal statement's answer; true when it is for the current
 * session of c and the pool still runs (else it is dropped). */
static bool internal_answer(hl_pg_query *q, PGresult *res, hl_pg_conn **out) {
  internal_q *iq = hl_container_of(q, internal_q, q);
  hl_pg_conn *c = iq->c;
  if (res) PQclear(res);
  bool current = iq->gen == c->gen && c->state == C_READY && !c->pool->closing;
  hl_free((char *)iq->q.sql);
  hl_free(iq);
  *out = c;
  return current;
}

/* A listener that does not listen is as good as a broken one: nothing would
 * ever tell it again, so it reconnects (with the back-off) and LISTENs anew. */
static void listener_fail(hl_pg_conn *c, const char *what, const char *msg) {
  hl_buf m = HL_BUF_INIT;
  hl_buf_printf(&m, "%s: %s", what, msg);
  hl_log_error("postgres LISTEN failed", "\"conn\":%d,\"error\":\"%s\"", c->idx, hl_log_esc(m.data, (size_t)-1));
  conn_fail(c, m.data);
  hl_buf_dispose(&m);
}

static void listen_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  hl_pg_conn *c;
  if (!internal_answer(q, res, &c)) return;
  if (st != HL_PG_OK) {
    listener_fail(c, "LISTEN", msg);
    return;
  }
  if (c->listens_out > 0 && --c->listens_out == 0) now_listening(c);
}

static void probe_done(hl_pg_query *q, hl_pg_status st, PGresult *res, const char *msg) {
  hl_pg_conn *c;
  if (!internal_answer(q, res, &c)) return;
  if (st != HL_PG_OK) listener_fail(c, "the listener's probe", msg);
  /* Answered: finish_batch armed the next probe. */
}

/* Sends LISTEN channel on the listener (also the probe: LISTEN on a
 * channel already listened to changes nothing on the server). */
static void listen_send(hl_pg_conn *c, const char *channel, hl_pg_done_cb done) {
  char *id = PQescapeIdentifier(c->pg, channel, strlen(channel));
  if (!id) {
    mark_broken(c);
    return;
  }
  internal_q *iq = hl_calloc(1, sizeof *iq);
  size_t len = strlen(id) + 8;
  char *sql = hl_malloc(len);
  snprintf(sql, len, "LISTEN %s", id);
  PQfreemem(id);
  iq->c = c;
  iq->gen = c->gen;
  iq->q.sql = sql;
  iq->q.done = done;
  conn_send(c, &iq->q);
}

static void listen_one(hl_pg_conn *c, const char *channel) { listen_send(c, channel, listen_done); }

static void listen_all(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  c->listens_out = p->nchannels;
  if (p->nchannels == 0) {
    now_listening(c);
    return;
  }
  for (int i = 0; i < p->nchannels; i++) listen_one(c, p->channels[i]);
}

/* The listener sends nothing of its own, so a server or path that died
 * without a word (no FIN, no RST: a black hole, a hung backend) would go
 * unnoticed for ever, and with it every notification. Every
 * opts.listen_probe_ms of quiet it asks the server something; an answer
 * that does not come within query_timeout_ms drops the connection
 * (on_timer), which reconnects, LISTENs again and wakes the owner. */
static void listen_probe(hl_pg_conn *c) {
  hl_pg_pool *p = c->pool;
  if (p->nchannels == 0 || c->broken) return; /* nothing to hear; a broken one fails at the turn's end */
  listen_send(c, p->channels[0], probe_done);
}

/* --- the pool -------------------------------------------------------------- */

int hl_pg_pool_init(hl_pg_pool *p, uv_loop_t *loop, const hl_pg_opts *o) {
  memset(p, 0, sizeof *p);
  if (!o || !o->conf || o->size < 0 || o->size > 64) return HL_EINVAL;
  p->loop = loop;
  p->opt = *o;
  p->opt.conf = NULL;
  if (!p->opt.size) p->opt.size = 2;
  if (!p->opt.wait_ms) p->opt.wait_ms = 5000;
  if (!p->opt.connect_timeout_ms) p->opt.connect_timeout_ms = 10000;
  if (!p->opt.query_timeout_ms) p->opt.query_timeout_ms = 30000;
  if (!p->opt.listen_probe_ms) p->opt.listen_probe_ms = 10000;
  if (!p->opt.backoff_base_ms) p->opt.backoff_base_ms = 100;
  if (!p->opt.backoff_cap_ms) p->opt.backoff_cap_ms = 10000;
  if (p->opt.backoff_cap_ms < p->opt.backoff_base_ms) p->opt.backoff_cap_ms = p->opt.backoff_base_ms;
  if (!p->opt.max_batch) p->opt.max_batch = 1024;
  if (!p->opt.max_waiting) p->opt.max_waiting = 100000;
  for (size_t i = 0; i < o->conf->n; i++) hl_pg_conf_set(&p->conf, o->conf->keywords[i], o->conf->values[i]);
  p->conf.source = o->conf->source;
  p->conf.port_set = o->conf->port_set;
  hl_buf_init(&p->last_error);
  p->nconns = p->opt.size + (p->opt.on_notify ? 1 : 0);
  p->conns = hl_calloc((size_t)p->nconns, sizeof *p->conns);
  for (int i = 0; i < p->nconns; i++) {
    hl_pg_conn *c = &p->conns[i];
    c->pool = p;
    c->idx = i;
    c->listener = i >= p->opt.size;
    c->state = C_DOWN;
    uv_timer_init(loop, &c->timer);
  }
  uv_check_init(loop, &p->turn_end);
  uv_idle_init(loop, &p->keep_turning);
  uv_timer_init(loop, &p->wait_timer);
  return 0;
}

void hl_pg_pool_start(hl_pg_pool *p) {
  if (p->started || p->closing || p->close_requested) return;
  p->started = true;
  enter(p);
  for (int i = 0; i < p->nconns; i++) conn_start(&p->conns[i]);
  leave(p);
}

int hl_pg_prepare(hl_pg_pool *p, const char *sql, int nparams, const Oid *types) {
  if (!sql || nparams < 0 || nparams > 65535) return HL_EINVAL;
  p->preps = hl_realloc(p->preps, (size_t)(p->npreps + 1) * sizeof *p->preps);
  struct hl_pg_prep *pr = &p->preps[p->npreps];
  pr->sql = hl_strdup(sql);
  pr->nparams = nparams;
  pr->types = NULL;
  if (types && nparams) {
    pr->types = hl_malloc((size_t)nparams * sizeof *types);
    memcpy(pr->types, types, (size_t)nparams * sizeof *types);
  }
  return p->npreps++;
}

int hl_pg_listen(hl_pg_pool *p, const char *channel) {
  if (!p->opt.on_notify || !channel || !*channel || strlen(channel) > 63) return HL_EINVAL;
  if (p->closing || p->close_requested) return HL_ECLOSED;
  p->channels = hl_realloc(p->channels, (size_t)(p->nchannels + 1) * sizeof *p->channels);
  p->channels[p->nchannels++] = hl_strdup(channel);
  hl_pg_conn *l = &p->conns[p->nconns - 1];
  if (l->state == C_READY && !l->broken) {
    l->listens_out++;
    listen_one(l, channel);
  }
  return 0;
}

static bool valid_query(const hl_pg_pool *p, const hl_pg_query *q) {
  if (!q || !q->done || q->nparams < 0 || q->nparams > 65535) return false;
  if (q->nparams && !q->values) return false;
  if (!q->sql && (q->stmt < 0 || q->stmt >= p->npreps)) return false;
  if (!q->sql && q->nparams != p->preps[q->stmt].nparams) return false;
  for (int i = 0; q->formats && i < q->nparams; i++)
    if (q->formats[i] && q->values[i] && (!q->lengths || q->lengths[i] < 0)) return false;
  return true;
}

int hl_pg_send_n(hl_pg_pool *p, hl_pg_query *const *qs, int n) {
  if (n <= 0) return HL_EINVAL;
  for (int i = 0; i < n; i++)
    if (!valid_query(p, qs[i])) return HL_EINVAL;
  if (p->closing || p->close_requested) return HL_ECLOSED;
  for (int i = 0; i < n; i++) {
    qs[i]->unit = i == 0 ? (uint32_t)n : 0;
    qs[i]->held = NULL;
    qs[i]->res = NULL;
    qs[i]->next = NULL;
  }
  /* Behind waiting statements, so order holds. */
  hl_pg_conn *c = p->wait_head ? NULL : conn_for_unit(p, n);
  if (!c) {
    if (p->st.waiting + (uint64_t)n > p->opt.max_waiting) return HL_EBUSY;
    enqueue_waiting(p, qs, n);
    return 0;
  }
  for (int i = 0; i < n; i++) {
    qs[i]->unit = 0;
    conn_send(c, qs[i]);
  }
  return 0;
}

int hl_pg_send(hl_pg_pool *p, hl_pg_query *q) { return hl_pg_send_n(p, &q, 1); }

/* --- array parameters ------------------------------------------------------ */

static void put_be32(hl_buf *b, uint32_t v) {
  unsigned char x[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
  hl_buf_append(b, x, 4);
}

/* array_recv's layout: ndim, has-nulls flag, element type, then per
 * dimension its length and lower bound; then each element as a length
 * (-1 for NULL) and its bytes. */
void hl_pg_array_start(hl_buf *b, Oid elem, int n) {
  put_be32(b, 1);
  put_be32(b, 0);
  put_be32(b, (uint32_t)elem);
  put_be32(b, (uint32_t)n);
  put_be32(b, 1);
}

void hl_pg_array_add(hl_buf *b, const void *v, size_t len) {
  if (!v) {
    b->data[7] = 1; /* the has-nulls flag, big-endian */
    put_be32(b, UINT32_MAX);
    return;
  }
  put_be32(b, (uint32_t)len);
  hl_buf_append(b, v, len);
}

void hl_pg_pool_before_sync(hl_pg_pool *p, void (*cb)(void *data), void *data) {
  p->before_sync = cb;
  p->before_sync_data = data;
}

void hl_pg_pool_want_sync(hl_pg_pool *p) { schedule_turn_end(p); }

void hl_pg_pool_stats(const hl_pg_pool *p, hl_pg_stats *out) { *out = p->st; }

const char *hl_pg_pool_last_error(const hl_pg_pool *p) { return p->last_error.len ? p->last_error.data : ""; }

size_t hl_pg_pool_pending(const hl_pg_pool *p) { return (size_t)(p->st.waiting + p->st.in_flight); }

/* --- closing --------------------------------------------------------------- */

static void finish_close(hl_pg_pool *p) {
  for (int i = 0; i < p->nconns; i++) {
    hl_pg_conn *c = &p->conns[i];
    reset_resolution(c);
    hl_buf_dispose(&c->ent_host);
    hl_buf_dispose(&c->ent_addr);
    hl_buf_dispose(&c->ent_port);
    hl_buf_dispose(&c->dns_errors);
    hl_free(c->ring);
    hl_free(c->prepared);
  }
  hl_free(p->conns);
  p->conns = NULL;
  for (int i = 0; i < p->npreps; i++) {
    hl_free(p->preps[i].sql);
    hl_free(p->preps[i].types);
  }
  hl_free(p->preps);
  p->preps = NULL;
  for (int i = 0; i < p->nchannels; i++) hl_free(p->channels[i]);
  hl_free(p->channels);
  p->channels = NULL;
  hl_pg_conf_dispose(&p->conf);
  hl_buf_dispose(&p->last_error);
  if (p->close_cb) p->close_cb(p->close_data);
}

static void outstanding_done(hl_pg_pool *p) {
  if (--p->outstanding == 0 && p->closing) finish_close(p);
}

static void do_close(hl_pg_pool *p) {
  p->closing = true;
  p->depth++; /* the answers below may call back into the pool */
  p->outstanding++; /* held until every close below is under way */
  hl_pg_query *w = p->wait_head;
  p->wait_head = p->wait_tail = NULL;
  p->st.waiting = 0;
  for (hl_pg_query *n; w; w = n) {
    n = w->next;
    hl_free(w->held);
    w->held = NULL;
    answer(w, HL_PG_UNAVAILABLE, NULL, "not run: the PostgreSQL pool is closing");
  }
  for (int i = 0; i < p->nconns; i++) {
    hl_pg_conn *c = &p->conns[i];
    poll_drop(c);
    if (c->pg) {
      PQfinish(c->pg);
      c->pg = NULL;
    }
    c->gen++; /* a lookup still running is stale now; one not started yet is dropped */
    if (c->lookup) uv_cancel((uv_req_t *)&c->lookup->req);
    transition(c, C_CLOSED);
    answer_all(c, "the pool is closing");
    close_handle(p, (uv_handle_t *)&c->timer);
  }
  close_handle(p, (uv_handle_t *)&p->turn_end);
  close_handle(p, (uv_handle_t *)&p->keep_turning);
  close_handle(p, (uv_handle_t *)&p->wait_timer);
  p->depth--;
  outstanding_done(p);
}

void hl_pg_pool_close(hl_pg_pool *p, void (*cb)(void *data), void *data) {
  if (p->close_requested || p->closing) return;
  p->close_requested = true;
  p->close_cb = cb;
  p->close_data = data;
  if (p->depth == 0) do_close(p);
}
