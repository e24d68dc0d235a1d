#include "loop/hl_http_server.h"
#include "common/hl_buf.h"
#include "common/hl_common.h"
#include "common/hl_http_time.h"
#include "common/hl_log.h"
#include "common/hl_sm.h"
#include "json/hl_json.h"

#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADER_BYTES (16 * 1024)
#define MAX_HEADERS 100
/* Back-pressure: what one connection may hold beyond the request it is
 * receiving. While a request is with its handler, what the client sends next
 * is buffered up to MAX_PIPELINED_BYTES, then reading stops until the answer
 * is out; while answers the client has not taken are queued past
 * MAX_QUEUED_ANSWER_BYTES, buffered requests wait and reading stops. A client
 * that pipelines without end or never reads fills its socket buffers and
 * blocks, instead of filling the server's memory (which grew with every
 * pipelined byte while a request waited for its handler). */
#define MAX_PIPELINED_BYTES (64 * 1024)
#define MAX_QUEUED_ANSWER_BYTES (1024 * 1024)
/* Fairness: the requests one connection has handled before it gives the
 * loop a turn. Requests answered at once (/healthz, /metrics, most of
 * /admin) are handled back to back from the buffer, and one read of 64 KiB
 * holds ~2,000 of them; without a bound, a client that pipelines and reads
 * its answers held every other connection and every timer for seconds. Past
 * it the connection stops reading and goes on from its resume handle (an
 * idle handle: the loop polls without waiting while it runs) on the next
 * turn, after the other connections' I/O and the timers. */
#define TURN_REQUESTS 32
/* An idle keep-alive connection keeps its body buffer's memory for the next
 * request up to this; a bigger one (a bulk body's 10 MiB) goes back to the
 * allocator once the request is answered. */
#define KEPT_BODY_CAPACITY (64 * 1024)

typedef enum {
  C_IDLE,       /* keep-alive, waiting for the next request */
  C_HEADERS,    /* receiving a request line and headers */
  C_BODY,       /* receiving the body */
  C_HANDLING,   /* the request is with its handler */
  C_LINGERING,  /* the last answer is queued and the write side shut after it;
                   what the client still sends is discarded until it closes */
  C_CLOSING     /* the handles are closing */
} conn_state;

static const char *const conn_state_name[] = {"IDLE", "HEADERS", "BODY", "HANDLING", "LINGERING", "CLOSING"};

typedef struct conn conn;

struct hl_http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  hl_http_server_config cfg;
  int port;
  conn *conns;            /* doubly linked */
  size_t nconns;
  size_t pending;         /* requests with their handlers */
  size_t body_bytes;      /* request bodies held, counted as conn.body_counted says */
  bool stopping, destroying;
  bool draining; /* hl_http_server_drain: every answer ends its connection */
  int closing_handles;    /* handles of the server itself still closing */
  void (*destroy_cb)(void *data);
  void *destroy_data;
};

struct conn {
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_idle_t resume;       /* runs while yielded: the rest of the buffer on the next turn */
  uv_shutdown_t shutdown; /* LINGERING: the write side, shut once the answer is out */
  hl_http_server *srv;
  conn *prev, *next;
  conn_state state;
  http_parser parser;
  hl_buf in;              /* bytes read and not yet parsed */
  size_t in_off;
  hl_buf url;
  hl_buf hdr;             /* header names and values, NUL-separated */
  size_t hdr_offsets[MAX_HEADERS][4]; /* name off, name len, value off, value len */
  size_t nhdr;
  bool last_was_value;
  bool in_trailers;       /* past the head: a chunked body's trailer fields, counted and dropped */
  size_t header_bytes;
  hl_buf body;
  size_t body_limit;
  /* What this request's body adds to srv->body_bytes from its head on: its
   * declared Content-Length, or for a chunked body its limit (what it may
   * grow to); taken back once the request is answered or the connection
   * goes. */
  size_t body_counted;
  int error_status;       /* set by a callback to answer an error and close */
  bool keep_alive;
  bool message_done;
  int handles_open;       /* tcp + timer + resume */
  uint64_t linger_deadline; /* LINGERING: loop time at which the connection closes anyway */
  size_t discarded;       /* LINGERING: bytes read and dropped */
  bool req_out;           /* a request is with its handler */
  bool dead;              /* the connection closed while req_out */
  bool peer_done;         /* the client shut its side: close once the answers queued are out */
  bool shut_done;         /* LINGERING: our side is shut, so the answer is out */
  bool read_paused;       /* reading stopped by back-pressure (flow) */
  /* parse_more is running: an answer given from inside the handler asks it
   * to go on (reparse) instead of parsing from inside that answer. */
  bool parsing, reparse;
  /* Requests handed out since the connection last gave the loop a turn
   * (TURN_REQUESTS); yielded: it is waiting for that turn, reading stopped. */
  unsigned served;
  bool yielded;
  hl_http_refusal refusal; /* the admit callback's, while error_status is its status */
  bool is_head;            /* the request being answered is a HEAD: its answer has no body */
  hl_http_req req;
  hl_http_header headers[MAX_HEADERS];
};

typedef struct {
  uv_write_t w;
  conn *c;
  size_t len;
  char data[];            /* head + body */
} write_req;

static http_parser_settings settings;
static void conn_close(conn *c);
static void parse_more(conn *c);
static void start_reading(conn *c);
static void flow(conn *c);

/* --- timers -------------------------------------------------------------------------- */

/* A client that shut its sending side (peer_done) has every answer it
 * asked for queued, none to come (no request with its handler, none
 * buffered for the next turn): the connection closes once they are out. */
static void close_if_peer_served(conn *c) {
  if (c->peer_done && c->state != C_LINGERING && c->state != C_HANDLING && c->state != C_CLOSING && !c->yielded &&
      uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) == 0)
    conn_close(c);
}

static void on_resume(uv_idle_t *h) {
  conn *c = h->data;
  uv_idle_stop(h);
  c->yielded = false;
  c->served = 0;
  parse_more(c);
  flow(c);
  close_if_peer_served(c);
}

static void on_timeout(uv_timer_t *t) {
  conn *c = t->data;
  if (c->state == C_HANDLING) return;
  conn_close(c);
}

static void arm(conn *c, uint64_t ms) { uv_timer_start(&c->timer, on_timeout, ms, 0); }

/* LINGERING: the next wait is the silence allowed, cut at the deadline. */
static void arm_linger(conn *c) {
  uint64_t now = uv_now(c->srv->loop);
  uint64_t left = c->linger_deadline > now ? c->linger_deadline - now : 0;
  arm(c, HL_MIN(left, (uint64_t)c->srv->cfg.linger_timeout_ms));
}

/* The one place a connection changes state; illegal moves are bugs. */
static void transition(conn *c, conn_state to) {
  static const unsigned allowed[] = {
    [C_IDLE] = HL_SM_TO(C_HEADERS) | HL_SM_TO(C_LINGERING) | HL_SM_TO(C_CLOSING),
    [C_HEADERS] = HL_SM_TO(C_BODY) | HL_SM_TO(C_LINGERING) | HL_SM_TO(C_CLOSING),
    [C_BODY] = HL_SM_TO(C_HANDLING) | HL_SM_TO(C_LINGERING) | HL_SM_TO(C_CLOSING),
    [C_HANDLING] = HL_SM_TO(C_IDLE) | HL_SM_TO(C_LINGERING) | HL_SM_TO(C_CLOSING),
    [C_LINGERING] = HL_SM_TO(C_CLOSING),
    [C_CLOSING] = 0,
  };
  hl_sm_check("http connection", allowed, conn_state_name, c->state, to);
  hl_http_server *s = c->srv;
  c->state = to;
  switch (to) {
  case C_IDLE: arm(c, s->cfg.idle_timeout_ms); break;
  case C_HEADERS: arm(c, s->cfg.header_timeout_ms); break;
  case C_BODY: arm(c, s->cfg.body_timeout_ms); break;
  case C_HANDLING: uv_timer_stop(&c->timer); break;
  case C_LINGERING:
    c->linger_deadline = uv_now(s->loop) + s->cfg.linger_time_ms;
    c->discarded = 0;
    arm_linger(c);
    break;
  case C_CLOSING: uv_timer_stop(&c->timer); break;
  }
}

/* --- writing --------------------------------------------------------------------------- */

const char *hl_http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Payload Too Large";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static const char *http_date(void) {
  static __thread char buf[HL_HTTP_DATE_LEN + 1];
  static __thread time_t last;
  time_t now = time(NULL);
  if (now != last && hl_http_date_format(now, buf) == 0) last = now;
  return buf;
}

static void on_written(uv_write_t *w, int status) {
  write_req *wr = hl_container_of(w, write_req, w);
  conn *c = wr->c;
  hl_free(wr);
  if (status < 0) {
    conn_close(c); /* a no-op when the write was cancelled by closing */
    return;
  }
  /* Requests that waited for the queued answers to go out go on now. */
  parse_more(c);
  flow(c);
  close_if_peer_served(c);
}

/* Queues head + body as one write. close_after: the answer says
 * "Connection: close" (the caller then lingers). Returns false when the
 * connection is closed instead. */
static bool send_response(conn *c, int status, const hl_http_header *h, size_t nh, const char *body,
                          size_t body_len, bool close_after) {
  hl_buf head = HL_BUF_INIT;
  bool has_ct = false;
  /* RFC 9110 §8.6, §9.3.2: a 204 (or 304) has no body and no
   * Content-Length; a HEAD's answer has the length the GET's body would
   * have, and no body. */
  bool no_body = status == 204 || status == 304;
  if (no_body) body_len = 0;
  hl_buf_printf(&head, "HTTP/1.1 %d %s\r\nDate: %s\r\n", status, hl_http_reason(status), http_date());
  if (!no_body) hl_buf_printf(&head, "Content-Length: %zu\r\n", body_len);
  hl_buf_printf(&head, "Connection: %s\r\n", close_after ? "close" : "keep-alive");
  for (size_t i = 0; i < nh; i++) {
    if (h[i].name_len == 12 && strncasecmp(h[i].name, "content-type", 12) == 0) has_ct = true;
    hl_buf_append(&head, h[i].name, h[i].name_len);
    hl_buf_append(&head, ": ", 2);
    hl_buf_append(&head, h[i].value, h[i].value_len);
    hl_buf_append(&head, "\r\n", 2);
  }
  if (body_len > 0 && !has_ct) hl_buf_puts(&head, "Content-Type: application/json\r\n");
  hl_buf_append(&head, "\r\n", 2);
  if (c->is_head) body_len = 0;
  /* This answers the HEAD; an error for what follows it (bytes that never
   * begin a request) has its body: without it, its Content-Length left
   * the client waiting for bytes that never came. */
  c->is_head = false;
  write_req *wr = hl_malloc(sizeof *wr + head.len + body_len);
  wr->c = c;
  wr->len = head.len + body_len;
  memcpy(wr->data, head.data, head.len);
  if (body_len) memcpy(wr->data + head.len, body, body_len);
  hl_buf_dispose(&head);
  uv_buf_t buf = uv_buf_init(wr->data, (unsigned)wr->len);
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
    hl_free(wr);
    conn_close(c);
    return false;
  }
  return true;
}

/* The body is no longer needed (the request is answered, or refused while
 * being received): its bytes leave the server's count. */
static void body_release(conn *c) {
  c->srv->body_bytes -= c->body_counted;
  c->body_counted = 0;
  if (c->body.cap > KEPT_BODY_CAPACITY) hl_buf_dispose(&c->body);
  else hl_buf_reset(&c->body);
}

static void on_shutdown(uv_shutdown_t *req, int status) {
  conn *c = req->data;
  c->shut_done = true;
  if (status < 0 || c->peer_done) conn_close(c); /* a no-op when cancelled by closing */
}

/* After an answer that says "Connection: close" (nginx's lingering close):
 * the write side is shut once the answer is flushed, so the client reads the
 * answer and then EOF; what it still sends (a body refused with 413, pipelined
 * requests) is read and discarded until it closes too, or linger_max_bytes,
 * linger_timeout_ms of silence or linger_time_ms in all. Closing at once
 * instead would make the kernel answer unread bytes with a reset, which can
 * destroy the answer before the client reads it; not reading at all would
 * leave a client blocked in its write and the socket in CLOSE-WAIT. */
static void linger(conn *c) {
  transition(c, C_LINGERING);
  c->in.len = c->in_off = 0; /* buffered requests are never answered */
  body_release(c);
  c->shutdown.data = c;
  if (uv_shutdown(&c->shutdown, (uv_stream_t *)&c->tcp, on_shutdown) != 0) conn_close(c);
  else flow(c); /* what the client still sends is read (and discarded) */
}

static void linger_discard(conn *c, size_t n) {
  c->in.len = 0;
  c->discarded += n;
  if (c->discarded > c->srv->cfg.linger_max_bytes || uv_now(c->srv->loop) >= c->linger_deadline) conn_close(c);
  else arm_linger(c);
}

static void send_error_h(conn *c, int status, const char *code, const char *message, const hl_http_header *h) {
  hl_buf b = HL_BUF_INIT;
  hl_json_error_body(&b, code, message, NULL, 0);
  if (send_response(c, status, h, h ? 1 : 0, b.data, b.len, true)) linger(c);
  hl_buf_dispose(&b);
}

static void send_error(conn *c, int status, const char *code, const char *message) {
  send_error_h(c, status, code, message, NULL);
}

/* --- life cycle of a connection ----------------------------------------------------------- */

static void conn_free(conn *c) {
  hl_buf_dispose(&c->in);
  hl_buf_dispose(&c->url);
  hl_buf_dispose(&c->hdr);
  hl_buf_dispose(&c->body);
  hl_free(c);
}

static void maybe_server_done(hl_http_server *s);

static void on_conn_handle_closed(uv_handle_t *h) {
  conn *c = h->data;
  if (--c->handles_open > 0) return;
  hl_http_server *s = c->srv;
  if (c->prev) c->prev->next = c->next;
  else s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  s->nconns--;
  /* A request still with its handler keeps its body until answered; the
   * count goes with the connection, as the server may go before it. */
  s->body_bytes -= c->body_counted;
  c->body_counted = 0;
  c->srv = NULL;
  if (c->req_out) { /* freed by hl_http_respond, which no longer counts it */
    c->dead = true;
    s->pending--;
  } else {
    conn_free(c);
  }
  maybe_server_done(s);
}

static void conn_close(conn *c) {
  if (c->handles_open == 0 || uv_is_closing((uv_handle_t *)&c->tcp)) return;
  transition(c, C_CLOSING);
  uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->resume, on_conn_handle_closed);
  uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf) {
  conn *c = h->data;
  (void)suggested;
  hl_buf_reserve(&c->in, 65536);
  buf->base = c->in.data + c->in.len;
  buf->len = c->in.cap - c->in.len - 1;
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf) {
  conn *c = stream->data;
  (void)buf;
  if (n < 0) {
    /* A client that shut its sending side may still be reading: answers
     * still queued (pipelined ones, the closing one while lingering) go out
     * first, then the connection closes (on_written, on_shutdown; the
     * state's timer still bounds the wait). A request with its handler is
     * abandoned, as when the client resets: EOF does not tell a half close
     * from a client gone, and a held request (a long poll) must not wait
     * for an answer nobody reads. */
    bool queued = c->state == C_LINGERING ? !c->shut_done : uv_stream_get_write_queue_size(stream) > 0;
    if (n == UV_EOF && queued && c->state != C_HANDLING) {
      c->peer_done = true;
      uv_read_stop(stream);
      return;
    }
    conn_close(c);
    return;
  }
  if (n == 0) return;
  if (c->state == C_LINGERING) {
    linger_discard(c, (size_t)n);
    return;
  }
  c->in.len += (size_t)n;
  c->in.data[c->in.len] = '\0';
  if (c->state == C_IDLE) transition(c, C_HEADERS);
  parse_more(c);
  flow(c);
}

static void start_reading(conn *c) {
  uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read);
}

static bool answers_backed_up(conn *c) {
  return uv_stream_get_write_queue_size((uv_stream_t *)&c->tcp) >= MAX_QUEUED_ANSWER_BYTES;
}

/* Stops or starts reading as the back-pressure bounds say (see
 * MAX_PIPELINED_BYTES). Lingering always reads: it discards. */
static void flow(conn *c) {
  if (c->state == C_CLOSING || c->peer_done) return;
  bool hold = c->state != C_LINGERING &&
              (c->yielded || answers_backed_up(c) ||
               (c->state == C_HANDLING && c->in.len - c->in_off >= MAX_PIPELINED_BYTES));
  if (hold == c->read_paused) return;
  c->read_paused = hold;
  if (hold) uv_read_stop((uv_stream_t *)&c->tcp);
  else start_reading(c);
}

/* The request's headers as pointers into c->hdr. */
static void point_headers(conn *c) {
  for (size_t i = 0; i < c->nhdr; i++) {
    c->headers[i] = (hl_http_header){c->hdr.data + c->hdr_offsets[i][0], c->hdr_offsets[i][1],
                                     c->hdr.data + c->hdr_offsets[i][2], c->hdr_offsets[i][3]};
  }
  c->req.headers = c->headers;
  c->req.nheaders = c->nhdr;
}

/* The request's head, once its headers are complete: what admit sees and
 * what the handler gets with the body. */
static void fill_head(conn *c) {
  hl_http_req *r = &c->req;
  memset(r, 0, sizeof *r);
  c->is_head = c->parser.method == HTTP_HEAD;
  r->method = http_method_str((enum http_method)c->parser.method);
  /* url: "path?query" -> split in place (NUL at '?'). */
  hl_buf_putc(&c->url, '\0');
  c->url.len--;
  char *u = c->url.data ? c->url.data : (char *)"";
  char *q = strchr(u, '?');
  if (q) {
    *q = '\0';
    r->query = q + 1;
    r->query_len = strlen(q + 1);
  } else {
    r->query = "";
  }
  r->path = u;
  r->path_len = strlen(u);
  point_headers(c);
  r->body = "";
}

/* Hands the completed request to the handler. */
static void dispatch(conn *c) {
  hl_http_server *s = c->srv;
  hl_http_req *r = &c->req;
  hl_buf_putc(&c->body, '\0');
  c->body.len--;
  r->body = c->body.data ? c->body.data : "";
  r->body_len = c->body.len;
  c->keep_alive = http_should_keep_alive(&c->parser) && !s->stopping && !s->draining;
  c->req_out = true;
  c->served++;
  s->pending++;
  transition(c, C_HANDLING);
  s->cfg.on_request(r, s->cfg.data);
}

void hl_http_too_large_message(size_t limit, char *out, size_t n) {
  if (limit == 0) snprintf(out, n, "this endpoint takes no request body");
  else if (limit % (1u << 20) == 0)
    snprintf(out, n, "the request body is over this endpoint's limit of %zu bytes (%zu MiB)", limit, limit >> 20);
  else snprintf(out, n, "the request body is over this endpoint's limit of %zu bytes", limit);
}

/* Parses what is buffered; stops after one complete request, and while the
 * answers queued are over their bound. */
static void parse_some(conn *c) {
  while ((c->state == C_IDLE || c->state == C_HEADERS || c->state == C_BODY) && c->in_off < c->in.len &&
         !answers_backed_up(c)) {
    c->message_done = false;
    size_t avail = c->in.len - c->in_off;
    size_t used = http_parser_execute(&c->parser, &settings, c->in.data + c->in_off, avail);
    c->in_off += used;
    enum http_errno e = HTTP_PARSER_ERRNO(&c->parser);
    if (c->error_status && c->refusal.status) {
      hl_http_refusal *f = &c->refusal;
      send_error_h(c, f->status, f->code, f->message, f->header.name ? &f->header : NULL);
      return;
    }
    if (c->error_status) {
      int st = c->error_status;
      char too_large[128];
      hl_http_too_large_message(c->body_limit, too_large, sizeof too_large);
      /* A 431 is either limit's: the bytes, or the count of fields. */
      const char *headers_why = c->header_bytes > MAX_HEADER_BYTES ? "the request headers are over 16 KiB"
                                                                   : "the request has more than 100 header fields";
      send_error(c, st,
                 st == 413   ? "payload_too_large"
                 : st == 431 ? "headers_too_large"
                 : st == 505 ? "http_version_not_supported"
                             : "bad_request",
                 st == 413   ? too_large
                 : st == 431 ? headers_why
                 : st == 505 ? "only HTTP/1.0 and HTTP/1.1 are served"
                             : "the request is not valid HTTP/1.1");
      return;
    }
    if (e == HPE_PAUSED) {
      http_parser_pause(&c->parser, 0);
    } else if (e != HPE_OK) {
      send_error(c, 400, "bad_request", http_errno_description(e));
      return;
    }
    if (c->message_done) {
      dispatch(c);
      break;
    }
    if (used == 0) break;
  }
  /* Compact the input buffer when everything was consumed. */
  if (c->in_off == c->in.len) {
    c->in.len = 0;
    c->in_off = 0;
  } else if (c->in_off > 65536) {
    hl_buf_consume(&c->in, c->in_off);
    c->in_off = 0;
  }
}

/* Parses what is buffered, one request at a time. A handler that answers
 * at once (hl_http_respond from inside dispatch) comes back here for the
 * next pipelined request: that is a loop, not a call from inside the
 * answer, so a client's thousands of pipelined requests in one read do
 * not nest their handling thousands deep on the stack. */
static void parse_more(conn *c) {
  if (c->parsing) {
    c->reparse = true;
    return;
  }
  if (c->yielded) return; /* on_resume goes on */
  c->parsing = true;
  do {
    c->reparse = false;
    if (c->served >= TURN_REQUESTS && c->in_off < c->in.len &&
        (c->state == C_IDLE || c->state == C_HEADERS || c->state == C_BODY)) {
      /* Another request is buffered and this connection had its share of
       * the turn: the rest waits for the next one (flow stops reading). */
      c->yielded = true;
      uv_idle_start(&c->resume, on_resume);
      break;
    }
    parse_some(c);
  } while (c->reparse);
  c->parsing = false;
}

/* --- http-parser callbacks ----------------------------------------------------------------- */

static int cb_message_begin(http_parser *p) {
  conn *c = p->data;
  hl_buf_reset(&c->url);
  hl_buf_reset(&c->hdr);
  hl_buf_reset(&c->body);
  c->nhdr = 0;
  c->last_was_value = false;
  c->in_trailers = false;
  c->header_bytes = 0;
  c->body_limit = 0;
  c->is_head = false;
  if (c->state == C_IDLE) transition(c, C_HEADERS);
  return 0;
}

static int too_big(conn *c, size_t n) {
  c->header_bytes += n;
  if (c->header_bytes > MAX_HEADER_BYTES) {
    c->error_status = 431;
    return 1;
  }
  return 0;
}

static int cb_url(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  /* Known from here on: an error for this request (431, 505, 400) answers
   * a HEAD too, without a body (RFC 9110 section 9.3.2). */
  c->is_head = p->method == HTTP_HEAD;
  if (too_big(c, n)) return 1;
  hl_buf_append(&c->url, at, n);
  return 0;
}

/* A chunked body's trailer fields count toward the head's limit and are
 * dropped: none is merged into the headers the handler reads (RFC 9110
 * section 6.5.1), so an Idempotency-Key or Content-Type sent after the
 * body, past what admit checked, means nothing. */
static int cb_header_field(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (too_big(c, n)) return 1;
  if (c->in_trailers) return 0;
  if (c->nhdr == 0 || c->last_was_value) {
    if (c->nhdr == MAX_HEADERS) { c->error_status = 431; return 1; }
    if (c->nhdr > 0) hl_buf_putc(&c->hdr, '\0'); /* end the previous value */
    c->hdr_offsets[c->nhdr][0] = c->hdr.len;
    c->hdr_offsets[c->nhdr][1] = 0;
    c->hdr_offsets[c->nhdr][3] = 0;
    c->nhdr++;
    c->last_was_value = false;
  }
  size_t start = c->hdr.len;
  hl_buf_append(&c->hdr, at, n);
  for (size_t i = start; i < c->hdr.len; i++) c->hdr.data[i] = (char)tolower((unsigned char)c->hdr.data[i]);
  c->hdr_offsets[c->nhdr - 1][1] += n;
  return 0;
}

static int cb_header_value(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (too_big(c, n)) return 1;
  if (c->in_trailers) return 0;
  if (!c->last_was_value) {
    hl_buf_putc(&c->hdr, '\0'); /* end the name */
    c->hdr_offsets[c->nhdr - 1][2] = c->hdr.len;
    c->last_was_value = true;
  }
  hl_buf_append(&c->hdr, at, n);
  c->hdr_offsets[c->nhdr - 1][3] += n;
  return 0;
}

static int cb_headers_complete(http_parser *p) {
  conn *c = p->data;
  hl_http_server *s = c->srv;
  c->in_trailers = true;
  if (c->nhdr > 0 && c->last_was_value) hl_buf_putc(&c->hdr, '\0');
  else if (c->nhdr > 0) { /* a name without value */
    hl_buf_putc(&c->hdr, '\0');
    c->hdr_offsets[c->nhdr - 1][2] = c->hdr.len;
    hl_buf_putc(&c->hdr, '\0');
  }
  /* HTTP/1.0 and 1.1 (and 1.x, which a 1.1 server reads as 1.1, RFC 9112
   * 2.6); any other major version speaks another protocol on the wire. */
  if (p->http_major != 1) {
    c->error_status = 505;
    return 2;
  }
  fill_head(c);
  if (s->cfg.admit) {
    /* Refused on its head: answered without reading the body (an
     * unauthenticated client cannot make the server buffer megabytes). */
    c->refusal = (hl_http_refusal){0};
    s->cfg.admit(&c->req, s->cfg.data, &c->refusal);
    if (c->refusal.status) {
      c->error_status = c->refusal.status;
      return 2;
    }
  }
  const hl_http_req *r = &c->req;
  c->body_limit = s->cfg.body_limit ? s->cfg.body_limit(r->method, r->path, r->path_len, s->cfg.data) : (1u << 20);
  if ((p->flags & F_CONTENTLENGTH) && p->content_length > c->body_limit) {
    c->error_status = 413;
    return 2; /* stop: answered without reading the body */
  }
  /* Memory: every connection may hold a body up to its limit (10 MiB for
   * bulk) for the body timeout, so slow uploaders on 10,000 connections
   * could hold ~100 GB; the count of bodies held bounds them together. It
   * is taken on the head, before any of the body is read, so a chunked body
   * counts as its limit: counted as it arrived, thousands admitted at once
   * could each grow to it. A body is taken while none is held, whatever its
   * size (within its limit), so no bound can refuse a request for ever. */
  size_t declared = (p->flags & F_CHUNKED)          ? c->body_limit
                    : (p->flags & F_CONTENTLENGTH) ? (size_t)p->content_length
                                                   : 0;
  size_t room = s->cfg.max_buffered_body_bytes - HL_MIN(s->body_bytes, s->cfg.max_buffered_body_bytes);
  if (declared > 0 && s->body_bytes > 0 && declared > room) {
    c->refusal = (hl_http_refusal){503, "busy",
                                   "the server holds as many request bodies as it may; send the request again after "
                                   "Retry-After seconds",
                                   {"retry-after", 11, "1", 1}};
    c->error_status = 503;
    return 2;
  }
  c->body_counted = declared;
  s->body_bytes += declared;
  for (size_t i = 0; i < c->nhdr; i++) {
    const char *name = c->hdr.data + c->hdr_offsets[i][0];
    const char *value = c->hdr.data + c->hdr_offsets[i][2];
    if (strcmp(name, "expect") == 0 && strncasecmp(value, "100-continue", 12) == 0) {
      static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
      write_req *wr = hl_malloc(sizeof *wr + sizeof cont);
      wr->c = c;
      memcpy(wr->data, cont, sizeof cont - 1);
      uv_buf_t buf = uv_buf_init(wr->data, sizeof cont - 1);
      if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) hl_free(wr);
    }
  }
  transition(c, C_BODY);
  return 0;
}

static int cb_body(http_parser *p, const char *at, size_t n) {
  conn *c = p->data;
  if (c->body.len + n > c->body_limit) {
    c->error_status = 413;
    return 1;
  }
  hl_buf_append(&c->body, at, n);
  return 0;
}

static int cb_message_complete(http_parser *p) {
  conn *c = p->data;
  c->message_done = true;
  http_parser_pause(p, 1); /* one request at a time: the rest waits in the buffer */
  return 0;
}

/* --- accepting ------------------------------------------------------------------------------ */

/* A new connection, linked into s; its socket is attached by the caller. */
static conn *conn_new(hl_http_server *s) {
  conn *c = hl_calloc(1, sizeof *c);
  c->srv = s;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  uv_idle_init(s->loop, &c->resume);
  c->tcp.data = c->timer.data = c->resume.data = c;
  c->handles_open = 3;
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  return c;
}

/* Serves c once its socket is attached (attach_rc 0), unless over capacity. */
static int conn_begin(conn *c, int attach_rc) {
  hl_http_server *s = c->srv;
  if (attach_rc != 0 || s->stopping || s->nconns > s->cfg.max_connections) {
    conn_close(c);
    return attach_rc != 0 ? HL_EIO : HL_EBUSY;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
  c->state = C_IDLE; /* calloc'd so already; the first wait is the idle one */
  arm(c, s->cfg.idle_timeout_ms);
  start_reading(c);
  return 0;
}

static void on_connection(uv_stream_t *listener, int status) {
  hl_http_server *s = listener->data;
  if (status < 0) return;
  conn *c = conn_new(s);
  conn_begin(c, uv_accept(listener, (uv_stream_t *)&c->tcp));
}

int hl_http_server_adopt(hl_http_server *s, uv_os_sock_t fd) {
  conn *c = conn_new(s);
  int rc = conn_begin(c, uv_tcp_open(&c->tcp, fd));
  if (rc == HL_EIO) close(fd); /* not attached: conn_close did not take it */
  return rc;
}

/* --- public API ---------------------------------------------------------------------------- */

int hl_http_server_addr_parse(const char *addr, struct sockaddr_storage *ss) {
  char host[256];
  const char *colon = strrchr(addr, ':');
  if (!colon) return HL_EINVAL;
  /* Decimal digits only: atoi read "8x" as port 8 and "abc" as 0, a
   * free port, where the user meant something else. */
  const char *p = colon + 1;
  size_t nd = strlen(p);
  if (nd == 0 || nd > 5 || strspn(p, "0123456789") != nd) return HL_EINVAL;
  int port = 0;
  for (size_t i = 0; i < nd; i++) port = port * 10 + (p[i] - '0');
  size_t hl = (size_t)(colon - addr);
  if (hl == 0 || hl >= sizeof host || port > 65535) return HL_EINVAL;
  memcpy(host, addr, hl);
  host[hl] = '\0';
  if (hl >= 2 && host[0] == '[' && host[hl - 1] == ']') {
    host[hl - 1] = '\0';
    return uv_ip6_addr(host + 1, port, (struct sockaddr_in6 *)ss) == 0 ? 0 : HL_EINVAL;
  }
  if (strcmp(host, "localhost") == 0) snprintf(host, sizeof host, "127.0.0.1");
  return uv_ip4_addr(host, port, (struct sockaddr_in *)ss) == 0 ? 0 : HL_EINVAL;
}

int hl_http_server_create(uv_loop_t *loop, const char *addr, const hl_http_server_config *cfg,
                          hl_http_server **out) {
  static bool settings_ready;
  if (!settings_ready) {
    settings.on_message_begin = cb_message_begin;
    settings.on_url = cb_url;
    settings.on_header_field = cb_header_field;
    settings.on_header_value = cb_header_value;
    settings.on_headers_complete = cb_headers_complete;
    settings.on_body = cb_body;
    settings.on_message_complete = cb_message_complete;
    settings_ready = true;
  }
  struct sockaddr_storage ss;
  memset(&ss, 0, sizeof ss);
  if (hl_http_server_addr_parse(addr, &ss) != 0) return HL_EINVAL;
  hl_http_server *s = hl_calloc(1, sizeof *s);
  s->loop = loop;
  s->cfg = *cfg;
  if (!s->cfg.header_timeout_ms) s->cfg.header_timeout_ms = 10000;
  if (!s->cfg.body_timeout_ms) s->cfg.body_timeout_ms = 30000;
  if (!s->cfg.idle_timeout_ms) s->cfg.idle_timeout_ms = 60000;
  if (!s->cfg.max_connections) s->cfg.max_connections = 10000;
  if (!s->cfg.linger_timeout_ms) s->cfg.linger_timeout_ms = 5000;
  if (!s->cfg.linger_time_ms) s->cfg.linger_time_ms = 30000;
  if (!s->cfg.linger_max_bytes) s->cfg.linger_max_bytes = (size_t)16 << 20;
  if (!s->cfg.max_buffered_body_bytes) s->cfg.max_buffered_body_bytes = (size_t)256 << 20;
  uv_tcp_init(loop, &s->listener);
  s->listener.data = s;
  int rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&ss, 0);
  if (rc == 0) {
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &len);
    s->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
  }
  *out = s;
  if (rc != 0) {
    hl_log_error("cannot bind", "\"addr\":\"%s\",\"error\":\"%s\"", hl_log_esc(addr, (size_t)-1), uv_strerror(rc));
    return rc == UV_EADDRINUSE ? HL_EEXISTS : HL_EIO;
  }
  return 0;
}

int hl_http_server_start(hl_http_server *s) {
  int rc = uv_listen((uv_stream_t *)&s->listener, 1024, on_connection);
  if (rc != 0) {
    hl_log_error("cannot listen", "\"port\":%d,\"error\":\"%s\"", s->port, uv_strerror(rc));
    return rc == UV_EADDRINUSE ? HL_EEXISTS : HL_EIO;
  }
  return 0;
}

int hl_http_server_port(const hl_http_server *s) { return s->port; }

size_t hl_http_server_pending(const hl_http_server *s) { return s->pending; }

static void on_listener_closed(uv_handle_t *h) {
  hl_http_server *s = h->data;
  s->closing_handles--;
  maybe_server_done(s);
}

void hl_http_server_drain(hl_http_server *s) { s->draining = true; }

void hl_http_server_stop(hl_http_server *s) {
  if (s->stopping) return;
  s->stopping = true;
  s->closing_handles++;
  uv_close((uv_handle_t *)&s->listener, on_listener_closed);
  /* Idle connections go now; busy ones close after their answer. */
  for (conn *c = s->conns; c;) {
    conn *next = c->next;
    if (c->state == C_IDLE) conn_close(c);
    c = next;
  }
}

static void maybe_server_done(hl_http_server *s) {
  if (!s->destroying || s->nconns > 0 || s->closing_handles > 0) return;
  hl_free_then_call(s, s->destroy_cb, s->destroy_data);
}

void hl_http_server_destroy(hl_http_server *s, void (*cb)(void *data), void *data) {
  hl_http_server_stop(s);
  s->destroying = true;
  s->destroy_cb = cb;
  s->destroy_data = data;
  for (conn *c = s->conns; c;) {
    conn *next = c->next;
    conn_close(c);
    c = next;
  }
  maybe_server_done(s);
}

const char *hl_http_req_header(const hl_http_req *req, const char *lname, size_t *value_len) {
  for (size_t i = 0; i < req->nheaders; i++)
    if (strcmp(req->headers[i].name, lname) == 0) {
      if (value_len) *value_len = req->headers[i].value_len;
      return req->headers[i].value;
    }
  return NULL;
}

typedef struct {
  hl_http_req req;
  hl_http_detached_cb cb;
  void *data;
  char *method, *path, *query, *body;
  hl_http_header *headers;
  size_t nheaders;
} detached;

hl_http_req *hl_http_req_detached(const char *method, const char *path, const char *query,
                                  const hl_http_header *headers, size_t nheaders, const char *body,
                                  size_t body_len, hl_http_detached_cb cb, void *data) {
  detached *d = hl_calloc(1, sizeof *d);
  d->cb = cb;
  d->data = data;
  d->method = hl_strdup(method);
  d->path = hl_strdup(path);
  d->query = hl_strdup(query ? query : "");
  d->body = hl_malloc(body_len + 1);
  if (body_len) memcpy(d->body, body, body_len);
  d->body[body_len] = '\0';
  d->headers = hl_calloc(nheaders ? nheaders : 1, sizeof *d->headers);
  for (size_t i = 0; i < nheaders; i++) {
    char *name = hl_strndup(headers[i].name, headers[i].name_len);
    for (char *c = name; *c; c++) *c = (char)tolower((unsigned char)*c);
    d->headers[i] = (hl_http_header){name, headers[i].name_len, hl_strndup(headers[i].value, headers[i].value_len),
                                     headers[i].value_len};
  }
  d->nheaders = nheaders;
  d->req = (hl_http_req){.method = d->method, .path = d->path, .path_len = strlen(d->path), .query = d->query,
                         .query_len = strlen(d->query), .headers = d->headers, .nheaders = nheaders,
                         .body = d->body, .body_len = body_len, .detached_ = d};
  return &d->req;
}

static void detached_respond(hl_http_req *req, int status, const hl_http_header *headers, size_t nheaders,
                             const char *body, size_t body_len) {
  detached *d = req->detached_;
  if (d->cb) d->cb(d->data, status, headers, nheaders, body, body_len);
  for (size_t i = 0; i < d->nheaders; i++) {
    hl_free((char *)d->headers[i].name);
    hl_free((char *)d->headers[i].value);
  }
  hl_free(d->headers);
  hl_free(d->method); hl_free(d->path); hl_free(d->query); hl_free(d->body);
  hl_free(d);
}

bool hl_http_req_is_aborted(const hl_http_req *req) {
  if (req->detached_) return false;
  const conn *c = hl_container_of(req, conn, req);
  return c->dead || c->state == C_CLOSING;
}

void hl_http_respond(hl_http_req *req, int status, const hl_http_header *headers, size_t nheaders,
                     const char *body, size_t body_len) {
  if (req->detached_) {
    detached_respond(req, status, headers, nheaders, body, body_len);
    return;
  }
  conn *c = hl_container_of(req, conn, req);
  c->req_out = false;
  if (c->dead) { /* the client went away; the server may be gone too */
    conn_free(c);
    return;
  }
  hl_http_server *s = c->srv;
  s->pending--;
  if (c->state == C_CLOSING) return;
  bool keep = c->keep_alive && !s->stopping && !s->draining;
  if (!send_response(c, status, headers, nheaders, body, body_len, !keep)) return;
  if (!keep) {
    linger(c);
    return;
  }
  transition(c, C_IDLE);
  body_release(c);
  /* Pipelined requests already buffered are handled now (unless the answers
   * queued are over their bound: then once they go out, in on_written). */
  parse_more(c);
  flow(c);
}

void hl_http_respond_close(hl_http_req *req) {
  if (req->detached_) {
    detached_respond(req, 502, NULL, 0, NULL, 0);
    return;
  }
  conn *c = hl_container_of(req, conn, req);
  c->req_out = false;
  if (c->dead) {
    conn_free(c);
    return;
  }
  c->srv->pending--;
  if (c->state == C_CLOSING) return;
  /* As after a "Connection: close" answer, with none for this request:
   * answers queued for the requests before it (pipelined) go out first,
   * then the write side is shut. Closing at once cancelled them, and reset
   * a client whose further requests were still unread. */
  linger(c);
}

void hl_http_respond_error(hl_http_req *req, int status, const char *code, const char *message) {
  hl_buf b = HL_BUF_INIT;
  hl_json_error_body(&b, code, message, NULL, 0);
  hl_http_respond(req, status, NULL, 0, b.data, b.len);
  hl_buf_dispose(&b);
}
