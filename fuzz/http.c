/* fuzz_http: the HTTP/1.1 server above http-parser (src/loop/hl_http_server).
 *
 * The input is what a client sends on one connection. The target hands the
 * server one end of a socketpair (hl_http_server_adopt), writes the input
 * into the other end, shuts its writing side and runs the loop until the
 * server closed the connection, reading the answers as they come.
 *
 * The handler reads every part of each request and answers it: at once
 * (echoing the body), later (from a timer, as asynchronous handlers do),
 * with an error, or by closing (paths /later, /err, /close); /small and
 * /nobody have body limits of 16 and 0 bytes. Properties: no crash, leak
 * or hang whatever the bytes; the answers are well-formed HTTP/1.1
 * responses, none cut short (the answer to a HEAD, which has no body, is
 * known from the input's own requests); one final answer per handed request, plus at
 * most one the server gives itself (400/413/431/505) before closing; and once
 * the client has finished sending, the server closes the connection —
 * it never sits on it (issue 13, item 1). */
#include "fuzz_util.h"
#include "common/hl_common.h"
#include "loop/hl_http_server.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <sys/socket.h>
#include <unistd.h>

static uv_loop_t loop;
static hl_http_server *srv;
static size_t handled;     /* requests handed to the handler, this input */
static size_t abandoned;   /* of those, answered after their connection closed */
static bool closed_by_handler;

typedef struct {
  uv_timer_t t;
  hl_http_req *req;
} later;

static bool has_prefix(const hl_http_req *r, const char *p) {
  size_t n = strlen(p);
  return r->path_len >= n && memcmp(r->path, p, n) == 0;
}

static size_t body_limit(const char *method, const char *path, size_t path_len, void *data) {
  (void)method; (void)data;
  if (path_len >= 6 && memcmp(path, "/small", 6) == 0) return 16;
  if (path_len >= 7 && memcmp(path, "/nobody", 7) == 0) return 0;
  return 1u << 20;
}

static void on_later_closed(uv_handle_t *h) { hl_free(h->data); }

static void answer(hl_http_req *r) {
  hl_http_header h = {"x-path-len", 10, "1", 1};
  hl_http_respond(r, 200, &h, 1, r->body, r->body_len);
}

static void on_later(uv_timer_t *t) {
  later *l = t->data;
  /* The client's EOF came while it waited (the request was handed late in
   * a loop turn, after the connection's share of one): abandoned. */
  if (hl_http_req_is_aborted(l->req)) abandoned++;
  answer(l->req);
  uv_close((uv_handle_t *)&l->t, on_later_closed);
}

static void on_request(hl_http_req *r, void *data) {
  (void)data;
  handled++;
  FUZZ_CHECK(r->method && r->path && r->query && r->body);
  FUZZ_CHECK(strlen(r->path) == r->path_len && strlen(r->query) == r->query_len);
  FUZZ_CHECK(r->body[r->body_len] == '\0');
  for (size_t i = 0; i < r->nheaders; i++) {
    const hl_http_header *h = &r->headers[i];
    FUZZ_CHECK(h->name[h->name_len] == '\0' && h->value[h->value_len] == '\0');
    for (size_t k = 0; k < h->name_len; k++) FUZZ_CHECK(!isupper((unsigned char)h->name[k]));
    size_t vl = 0;
    FUZZ_CHECK(hl_http_req_header(r, h->name, &vl) != NULL);
  }
  FUZZ_CHECK(!hl_http_req_is_aborted(r));
  if (has_prefix(r, "/later")) {
    later *l = hl_calloc(1, sizeof *l);
    l->req = r;
    uv_timer_init(&loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, on_later, 0, 0);
  } else if (has_prefix(r, "/err")) {
    hl_http_respond_error(r, 404, "not_found", "no such thing");
  } else if (has_prefix(r, "/close")) {
    closed_by_handler = true;
    hl_http_respond_close(r);
  } else {
    answer(r);
  }
}

/* The client's view: the responses, parsed as they arrive. */
typedef struct {
  http_parser p;
  size_t finals;           /* complete responses with a status >= 200 */
  size_t heads_seen;       /* final responses whose head was read */
  int last_status;
  bool broken;
} client;

/* Which of the input's requests are HEADs, in order, as the server's
 * http-parser reads the same bytes: the answer to a HEAD has its
 * Content-Length and no body, which a response parser cannot know alone. */
static bool *is_head_req;
static size_t nreqs;

static int on_req_begin(http_parser *p) {
  (void)p;
  is_head_req[nreqs++] = false;
  return 0;
}

/* The server knows a HEAD from its URL on: its answers to it, errors
 * included, have no body from there. */
static int on_req_url(http_parser *p, const char *at, size_t n) {
  (void)at, (void)n;
  is_head_req[nreqs - 1] = p->method == HTTP_HEAD;
  return 0;
}

static void read_methods(const uint8_t *data, size_t size) {
  static const http_parser_settings req_settings = {.on_message_begin = on_req_begin, .on_url = on_req_url};
  http_parser p;
  http_parser_init(&p, HTTP_REQUEST);
  is_head_req = hl_calloc(size / 2 + 2, sizeof *is_head_req); /* no request is shorter than 2 bytes */
  nreqs = 0;
  /* http-parser stops after a request that asks for an Upgrade (the rest
   * would be another protocol); the server does not upgrade, and reads on
   * as HTTP/1.1 (RFC 9110 §7.8 lets it ignore the field): so do these. */
  for (size_t off = 0; off < size;) {
    size_t used = http_parser_execute(&p, &req_settings, (const char *)data + off, size - off);
    off += used;
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used == 0) break;
  }
}

/* The n-th final answer answers the n-th request: its body is skipped
 * when that one was a HEAD (1 tells the parser so). */
static int on_resp_headers(http_parser *p) {
  client *c = p->data;
  if (p->status_code < 200) return 0;
  size_t k = c->heads_seen++;
  return k < nreqs && is_head_req[k] ? 1 : 0;
}

static int on_resp_complete(http_parser *p) {
  client *c = p->data;
  if (p->status_code >= 200) {
    c->finals++;
    c->last_status = (int)p->status_code;
  }
  return 0;
}

static http_parser_settings resp_settings = {.on_headers_complete = on_resp_headers,
                                             .on_message_complete = on_resp_complete};

static void feed(client *c, const char *b, size_t n) {
  if (c->broken) return;
  size_t used = http_parser_execute(&c->p, &resp_settings, b, n);
  if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK || used != n) c->broken = true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc; (void)argv;
  fuzz_quiet();
  uv_loop_init(&loop);
  hl_http_server_config cfg = {.on_request = on_request, .body_limit = body_limit};
  if (hl_http_server_create(&loop, "127.0.0.1:0", &cfg, &srv) != 0) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) abort();
  fcntl(sv[1], F_SETFL, O_NONBLOCK);
  handled = 0;
  abandoned = 0;
  closed_by_handler = false;
  FUZZ_CHECK(hl_http_server_adopt(srv, sv[0]) == 0);
  read_methods(data, size);
  client c = {.last_status = 0};
  http_parser_init(&c.p, HTTP_RESPONSE);
  c.p.data = &c;
  size_t sent = 0;
  bool eof = false;
  char buf[65536];
  if (size == 0) shutdown(sv[1], SHUT_WR);
  for (;;) {
    if (sent < size) {
      ssize_t n = write(sv[1], data + sent, size - sent);
      if (n > 0) sent += (size_t)n;
      else if (n < 0 && errno != EAGAIN) sent = size; /* the server closed: stop sending */
      if (sent == size) shutdown(sv[1], SHUT_WR);
    }
    bool alive = uv_run(&loop, UV_RUN_NOWAIT) != 0;
    ssize_t n;
    while ((n = read(sv[1], buf, sizeof buf)) > 0) feed(&c, buf, (size_t)n);
    if (n == 0 || (n < 0 && errno != EAGAIN)) { eof = true; break; }
    /* Nothing left to run on the server's side, and the connection is
     * still open: it was left hanging. */
    if (!alive && sent == size) break;
  }
  /* Let the server finish closing its side. */
  while (uv_run(&loop, UV_RUN_NOWAIT) != 0) {}
  close(sv[1]);
  FUZZ_CHECK(eof);                       /* the server closed the connection */
  FUZZ_CHECK(hl_http_server_pending(srv) == 0);
  FUZZ_CHECK(!c.broken);                 /* well-formed answers */
  feed(&c, NULL, 0);                     /* EOF: none cut short */
  FUZZ_CHECK(!c.broken);
  /* A request with its handler when the server reads the client's EOF is
   * abandoned (/later answers from a 0 ms timer, which runs before the
   * loop polls again, unless the request was handed in that turn). */
  size_t answered = handled - abandoned - (closed_by_handler ? 1 : 0);
  FUZZ_CHECK(c.finals == answered ||
             (c.finals == answered + 1 && (c.last_status == 400 || c.last_status == 413 || c.last_status == 431 || c.last_status == 505)));
  hl_free(is_head_req);
  return 0;
}
